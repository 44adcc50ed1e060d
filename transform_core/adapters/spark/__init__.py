"""Run transform-core on Spark (AWS Glue, EMR, Databricks): the same engine on every executor, through ``mapInArrow``.

``apply_pipeline`` takes a DataFrame with a column of raw records and returns their outcomes: the valid records as
typed lake rows, the rejected ones with reasons. ``transform_core.adapters.spark.job`` is the ``spark-reprocess``
job built on it. See ``docs/spark.md``. Needs the ``spark`` extra (``pip install 'transform-core[spark]'``); nothing
else in transform-core imports this package or pyspark.
"""

from __future__ import annotations

try:
    import pyarrow  # noqa: F401  (mapInArrow's batches)
    import pyspark  # noqa: F401
except ImportError as err:  # pragma: no cover - the tests run with the extra installed
    from transform_core.errors import ConfigurationEnvironmentError

    raise ConfigurationEnvironmentError(
        f"the Spark adapter needs pyspark and pyarrow ({err.name} is missing): pip install 'transform-core[spark]'"
    ) from err

from transform_core.adapters.spark._apply import SparkOutcomes, apply_pipeline

__all__ = ["SparkOutcomes", "apply_pipeline"]
