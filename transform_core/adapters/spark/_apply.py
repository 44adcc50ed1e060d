"""Driver side of the Spark adapter: a pipeline applied to a DataFrame of raw records with ``mapInArrow``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Literal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transform_core.adapters.spark._bundle import bundle_pipeline
from transform_core.adapters.spark._outcomes import (
    ARRIVAL,
    INPUT,
    OUTCOME,
    RAW_DATA,
    REASON,
    REASONS,
    RESULT,
    RULE,
    FramePlan,
    outcome_batches,
    outcome_columns,
)
from transform_core.adapters.spark._types import spark_schema
from transform_core.engine import Pipeline
from transform_core.errors import SpecError
from transform_core.firehose.outcomes import DROPPED, FAILED, OK
from transform_core.lake.columns import SOURCE_RECORD_ID, LakeColumns, lake_columns, table_dtypes

__all__ = ["SparkOutcomes", "apply_pipeline", "column", "outcome_schema"]

_GENERATED_ID = "__transform_core_id"
_INTEGERS = (T.LongType, T.IntegerType, T.ShortType, T.ByteType)


@dataclass(frozen=True)
class SparkOutcomes:
    """What a pipeline made of a DataFrame of records: one row per record in :attr:`frame`, and views of it.

    Each view is a lazy DataFrame over :attr:`frame`; every action on a view runs the pipeline again unless ``frame``
    is persisted first (``outcomes.frame.persist()``), as :func:`~transform_core.adapters.spark.job.spark_reprocess`
    does.

    Attributes:
        frame: the lake columns (filled for Ok records), then ``_result``, ``_reason``, ``_rule``, ``_raw_data``
            (base64 of a rejected record's payload), ``_arrival_ms``, ``_missed``, ``_blank_lines`` and ``_reasons``.
        lake_columns: the lake table's columns, partition keys last (``lake_schema``).
        partition_keys: ``year``, ``month``, ``day``[, ``hour``].
    """

    frame: DataFrame
    lake_columns: tuple[str, ...]
    partition_keys: tuple[str, ...]

    @property
    def valid(self) -> DataFrame:
        """The Ok records as typed lake rows: the schema's properties, enrichment fields, ``_extra``, lineage, partitions."""
        return self.frame.where(F.col(RESULT) == OK).select(*map(column, self.lake_columns))

    @property
    def rejected(self) -> DataFrame:
        """The rejected records: ``record_id``, ``arrival_ms``, ``raw_data`` (base64), ``reason``, ``rule``, ``reasons``
        (every rule the record breaks, ``reason`` first)."""
        return self.frame.where(F.col(RESULT) == FAILED).select(
            column(SOURCE_RECORD_ID).alias("record_id"),
            F.col(ARRIVAL).alias("arrival_ms"),
            F.col(RAW_DATA).alias("raw_data"),
            F.col(REASON).alias("reason"),
            F.col(RULE).alias("rule"),
            F.col(REASONS).alias("reasons"),
        )

    @property
    def dropped(self) -> DataFrame:
        """The ids of the records the spec's drop rule removed."""
        return self.frame.where(F.col(RESULT) == DROPPED).select(column(SOURCE_RECORD_ID).alias("record_id"))


def apply_pipeline(
    records: DataFrame,
    pipeline: Pipeline,
    *,
    data: str = "data",
    record_id: str | None = None,
    arrival: str | None = None,
    encoding: Literal["raw", "base64"] = "raw",
    batch_id: str = "spark",
    ingested_at: datetime | None = None,
) -> SparkOutcomes:
    """Run ``pipeline`` over every row of ``records`` on the executors, one Arrow batch at a time.

    Args:
        records: one record per row.
        pipeline: the loaded pipeline (``load_pipeline``): its spec and reference tables travel to the executors.
        data: the payload column: JSON text (string) or bytes (binary) with ``encoding="raw"``; base64 text with
            ``encoding="base64"`` (as in Firehose backups and error files).
        record_id: a column naming each record (cast to string); default: ``monotonically_increasing_id()``, which is
            stable only while the input's partitioning is.
        arrival: a column of arrival times, epoch milliseconds (integer) or a timestamp; used by
            ``event_time.on_missing: arrival_time`` and kept with rejections.
        encoding: how the payload column is encoded.
        batch_id: the lake's ``_batch_id`` of every row.
        ingested_at: the lake's ``_ingested_at`` of every row; default: now.

    Raises:
        ValueError: a named column is missing or of a type that cannot carry its part.
        SpecError: a schema property has the name of an outcome column (``_result``, ``_reason``, …).
    """
    types = {field.name: field.dataType for field in records.schema.fields}
    payload = _payload(types, data, encoding)
    if record_id is None:
        records, record_id = records.withColumn(_GENERATED_ID, F.monotonically_increasing_id()), _GENERATED_ID
    elif record_id not in types:
        raise ValueError(f"no column {record_id!r} for record ids; the frame has: {', '.join(types)}")
    selected = records.select(
        column(record_id).cast("string").alias(INPUT[0]), payload.alias(INPUT[1]), _arrival(types, arrival).alias(INPUT[2])
    )
    plan = FramePlan(base64=encoding == "base64", batch_id=batch_id, ingested_at=ingested_at or datetime.now(UTC))
    lake, schema = outcome_schema(pipeline)
    frame = selected.mapInArrow(partial(outcome_batches, bundle_pipeline(pipeline), plan), schema)
    return SparkOutcomes(frame=frame, lake_columns=tuple(lake.dtypes), partition_keys=lake.partition_keys)


def outcome_schema(pipeline: Pipeline) -> tuple[LakeColumns, T.StructType]:
    """The pipeline's lake columns and the Spark schema of its outcome rows.

    Raises:
        SpecError: a schema property has the name of an outcome column (``_result``, ``_reason``, …).
    """
    spec = pipeline.spec
    lake = lake_columns(spec, table_dtypes(spec))
    for name in lake.dtypes:
        if name in OUTCOME:
            raise SpecError(
                f"property {name!r} has the name of a column the Spark adapter adds",
                file=spec.schema_file,
                key=f"/properties/{name}",
            )
    return lake, spark_schema(outcome_columns(lake.dtypes))


def column(name: str) -> Column:
    """A column by its exact name (dots and spaces in a property name are not struct paths)."""
    return F.col("`" + name.replace("`", "``") + "`")


def _payload(types: dict[str, T.DataType], name: str, encoding: str) -> Column:
    if name not in types:
        raise ValueError(f"no payload column {name!r}; the frame has: {', '.join(types)}")
    kind = types[name]
    if encoding == "base64" and not isinstance(kind, T.StringType):
        raise ValueError(f"base64 payloads must be a string column; {name!r} is {kind.simpleString()}")
    if encoding not in ("raw", "base64"):
        raise ValueError(f"encoding must be 'raw' or 'base64', got {encoding!r}")
    if not isinstance(kind, T.StringType | T.BinaryType):
        raise ValueError(f"the payload column must be string (JSON text) or binary; {name!r} is {kind.simpleString()}")
    return column(name)


def _arrival(types: dict[str, T.DataType], name: str | None) -> Column:
    if name is None:
        return F.lit(None).cast("long")
    kind = types.get(name)
    if isinstance(kind, _INTEGERS):
        return column(name).cast("long")
    if isinstance(kind, T.TimestampType):
        return F.unix_millis(column(name))
    have = "missing" if kind is None else kind.simpleString()
    raise ValueError(f"the arrival column {name!r} must hold epoch milliseconds or timestamps; it is {have}")
