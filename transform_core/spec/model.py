"""The pipeline spec as frozen, keyword-only dataclasses (read and checked by :mod:`transform_core.spec.reader`).

The YAML/JSON layout is documented in ``docs/spec.md``; its key names are public contract.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from transform_core.errors import SpecError

__all__ = [
    "ICEBERG_OPERATIONS",
    "MAX_EPOCH_US",
    "METRIC_DIMENSIONS",
    "MIN_EPOCH_US",
    "CuratedSpec",
    "DropSpec",
    "EnrichSpec",
    "EventTimeSpec",
    "IcebergSpec",
    "MetricsSpec",
    "OutputSpec",
    "PartitioningSpec",
    "PipelineSpec",
    "glue_name_problem",
]

EventTimeFormat = Literal["iso8601", "epoch_seconds", "epoch_millis"]
TableFormat = Literal["csv", "parquet", "ndjson"]
Delivery = Literal["s3", "iceberg"]
IcebergOperation = Literal["insert", "update", "delete"]
ICEBERG_OPERATIONS: tuple[IcebergOperation, ...] = ("insert", "update", "delete")

METRIC_DIMENSIONS = ("pipeline",)  # the dimension names a metrics spec may use
_GLUE_NAME = re.compile(r"[A-Za-z0-9_]{1,255}")  # a Glue database or table name Athena can query

# An event time outside the years 0001-9999 in UTC rejects its record (a partition key has four digits).
MIN_EPOCH_US = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z
MAX_EPOCH_US = 253_402_300_800_000_000 - 1  # 9999-12-31T23:59:59.999999Z


@dataclass(frozen=True, kw_only=True)
class EventTimeSpec:
    """Where the event time is and how to read it."""

    field: str
    format: EventTimeFormat = "iso8601"
    on_missing: Literal["reject", "arrival_time"] = "reject"


@dataclass(frozen=True, kw_only=True)
class PartitioningSpec:
    """Date partitioning of valid records (UTC)."""

    granularity: Literal["day", "hour"] = "day"

    @property
    def keys(self) -> tuple[str, ...]:
        """The partition key names, outermost first (Hive order)."""
        return ("year", "month", "day", "hour") if self.granularity == "hour" else ("year", "month", "day")


@dataclass(frozen=True, kw_only=True)
class EnrichSpec:
    """One reference table joined onto records by key (a left join that never multiplies)."""

    name: str
    source: Path
    format: TableFormat
    record_key: str
    table_key: str
    fields: tuple[str, ...]
    on_missing: Literal["keep", "reject"] = "keep"


@dataclass(frozen=True, kw_only=True)
class DropSpec:
    """Records whose ``field`` equals one of ``values`` are returned as ``Dropped``."""

    field: str
    values: tuple[Any, ...]


def glue_name_problem(value: object) -> str | None:
    """Why ``value`` cannot name a Glue database or table that Athena queries, or None when it can."""
    if isinstance(value, str) and _GLUE_NAME.fullmatch(value):
        return None
    return f"must be 1-255 letters, digits and underscores (a Glue name Athena can query), got {value!r}"


@dataclass(frozen=True, kw_only=True)
class IcebergSpec:
    """The Apache Iceberg table Firehose delivers each Ok record to (``metadata.otfMetadata`` in the response).

    Attributes:
        database: the Glue database holding the table (the curated table's namespace).
        table: the table's name in that database.
        operation: what Firehose does with each record: ``insert`` it, or ``update`` or ``delete`` the row with the
            same unique keys (configured on the delivery stream).

    Raises:
        ValueError: a name Glue or Athena cannot hold, or another operation (naming the argument).
    """

    database: str
    table: str
    operation: IcebergOperation = "insert"

    def __post_init__(self) -> None:
        for name in ("database", "table"):
            problem = glue_name_problem(getattr(self, name))
            if problem is not None:
                raise ValueError(f"{name} {problem}")
        if self.operation not in ICEBERG_OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(ICEBERG_OPERATIONS)}, got {self.operation!r}")


@dataclass(frozen=True, kw_only=True)
class OutputSpec:
    """Where the records go: direct writes to a lake (the lake writer), and how Firehose delivers Ok records.

    Attributes:
        lake: the root of direct writes: a local folder, or an ``s3://bucket/prefix`` URI (as text).
        delivery: ``s3``: each Ok record's response carries its partition keys (Firehose's dynamic partitioning);
            ``iceberg``: it carries the Iceberg table of ``iceberg`` (Firehose's Iceberg destination).
        iceberg: the table; required with ``delivery="iceberg"``, unused otherwise.

    Raises:
        ValueError: ``delivery="iceberg"`` without ``iceberg``.
    """

    lake: Path | str | None = None
    delivery: Delivery = "s3"
    iceberg: IcebergSpec | None = None

    def __post_init__(self) -> None:
        if self.delivery not in ("s3", "iceberg"):
            raise ValueError(f"delivery must be s3 or iceberg, got {self.delivery!r}")
        if self.delivery == "iceberg" and self.iceberg is None:
            raise ValueError("delivery iceberg needs iceberg (the table's database and name)")

    @property
    def route(self) -> IcebergSpec | None:
        """The Iceberg table each Ok record is delivered to, or None when Firehose partitions records into S3."""
        return self.iceberg if self.delivery == "iceberg" else None


@dataclass(frozen=True, kw_only=True)
class CuratedSpec:
    """Which copy of a record the curated zone keeps (``transform-core compact``).

    Attributes:
        key: the columns naming a record; None: ``event_id``, else ``id``, when the schema declares it, else the
            record's content; ``()``: the record's content (every column but the lineage ones).
        version: a column whose greatest value marks the copy to keep; None: the latest event time decides.
    """

    key: tuple[str, ...] | None = None
    version: str | None = None


@dataclass(frozen=True, kw_only=True)
class MetricsSpec:
    """CloudWatch metrics from the Lambda handler, as Embedded Metric Format in its log line."""

    emf: bool = False
    namespace: str = "TransformCore"
    dimensions: tuple[str, ...] = ("pipeline",)


@dataclass(frozen=True, kw_only=True)
class PipelineSpec:
    """A whole pipeline spec, version 1."""

    version: int
    name: str
    schema: Mapping[str, Any]
    schema_file: str
    event_time: EventTimeSpec
    partitioning: PartitioningSpec
    enrich: tuple[EnrichSpec, ...]
    drop: DropSpec | None
    output: OutputSpec
    spec_file: str
    metrics: MetricsSpec = MetricsSpec()  # frozen, so one shared default is safe
    curated: CuratedSpec = CuratedSpec()

    def lake_root(self, root: str | None, *, needed_by: str) -> str:
        """``root`` if given, else ``output.lake``.

        Raises:
            SpecError: neither is there (``needed_by`` names what needed it).
        """
        if root is not None:
            return root
        if self.output.lake is None:
            raise SpecError(f"{needed_by} needs output.lake, or a lake root passed in", file=self.spec_file, key="output.lake")
        return str(self.output.lake)
