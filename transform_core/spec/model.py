"""The pipeline spec as frozen, keyword-only dataclasses (read and checked by :mod:`transform_core.spec.reader`).

The YAML/JSON layout is documented in ``docs/spec.md``; its key names are public contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from transform_core.errors import SpecError

__all__ = [
    "MAX_EPOCH_US",
    "METRIC_DIMENSIONS",
    "MIN_EPOCH_US",
    "CuratedSpec",
    "DropSpec",
    "EnrichSpec",
    "EventTimeSpec",
    "MetricsSpec",
    "OutputSpec",
    "PartitioningSpec",
    "PipelineSpec",
]

EventTimeFormat = Literal["iso8601", "epoch_seconds", "epoch_millis"]
TableFormat = Literal["csv", "parquet", "ndjson"]

METRIC_DIMENSIONS = ("pipeline",)  # the dimension names a metrics spec may use

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


@dataclass(frozen=True, kw_only=True)
class OutputSpec:
    """Where direct writes go (used by the lake writer)."""

    lake: Path | None = None


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
