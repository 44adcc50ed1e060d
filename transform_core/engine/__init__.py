"""The vectorized engine: a pipeline spec applied to whole batches (:class:`Pipeline`).

Stages, each its own module: :mod:`~transform_core.engine.decode` (base64, UTF-8, typed records, with
:mod:`~transform_core.engine.text_flags` reading the text meanwhile), :mod:`~transform_core.engine.screen` (the
records the reference judges, those with undeclared properties), :mod:`~transform_core.engine.checks` (format and
pattern rules, drop, event time, enrichment, built from :mod:`~transform_core.engine.rules`,
:mod:`~transform_core.engine.partition` and :mod:`~transform_core.engine.enrich`) and
:mod:`~transform_core.engine.outcome` (the queries that run them). :mod:`~transform_core.engine.overlap` runs work
alongside the Python that follows it; the speed thresholds are one value, :class:`transform_core.tuning.Tuning`.
"""

from transform_core.engine.pipeline import BatchResult, Pipeline, load_pipeline

__all__ = ["BatchResult", "Pipeline", "load_pipeline"]
