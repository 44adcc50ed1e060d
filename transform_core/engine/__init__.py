"""The vectorized engine: a pipeline spec applied to whole batches (:class:`Pipeline`).

Stages, each its own module: :mod:`~transform_core.engine.decode` (base64, UTF-8, typed records),
:mod:`~transform_core.engine.screen` (which records the reference judges, which carry undeclared properties),
:mod:`~transform_core.engine.checks` (format and pattern rules, drop, event time, enrichment, as Polars queries),
:mod:`~transform_core.engine.rules`, :mod:`~transform_core.engine.partition` and
:mod:`~transform_core.engine.enrich` (the expressions the checks are built from), :mod:`~transform_core.engine.overlap`
(queries run while Python works) and :mod:`~transform_core.engine.tuning` (the speed thresholds, in one value).
"""

from transform_core.engine.pipeline import BatchResult, Pipeline, load_pipeline

__all__ = ["BatchResult", "Pipeline", "load_pipeline"]
