"""The curated table's layout: its Iceberg schema from the lake's columns, its partitioning and its sort order.

The schema is the raw zone's columns (``lake_columns``) without the Hive partition columns, plus ``_event_time`` when
the event time is not a top-level timestamptz column of its own. The table is partitioned with Iceberg's ``day`` or
``hour`` transform of that event time, so one raw partition folder is one Iceberg partition, and sorted by it.
pyiceberg is imported on first use only (:func:`require_lake`): the Lambda handler never pays for it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from polars.datatypes import DataTypeClass

from transform_core.errors import ConfigurationEnvironmentError
from transform_core.lake.columns import UTC_MICROS, LakeColumns, lake_columns, table_dtypes
from transform_core.spec import PipelineSpec

if TYPE_CHECKING:
    from pyiceberg.partitioning import PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.table.sorting import SortOrder
    from pyiceberg.types import IcebergType

__all__ = [
    "DEFAULT_NAMESPACE",
    "EVENT_TIME",
    "CuratedLayout",
    "RawPartition",
    "check_partition_filter",
    "curated_layout",
    "raw_partition",
    "require_lake",
]

DEFAULT_NAMESPACE = "transform_core"
#: The column the table adds when the event time has no top-level timestamptz column of its own.
EVENT_TIME = "_event_time"
_LAKE_EXTRA = "the curated zone needs pyiceberg and pyarrow: pip install 'transform-core[lake]'"


def require_lake() -> None:
    """Import pyiceberg and pyarrow, or say which extra installs them.

    Raises:
        ConfigurationEnvironmentError: the ``lake`` extra is not installed.
    """
    try:
        import pyarrow  # noqa: F401
        import pyiceberg  # noqa: F401
    except ImportError as err:
        raise ConfigurationEnvironmentError(_LAKE_EXTRA) from err


@dataclass(frozen=True, kw_only=True)
class RawPartition:
    """One raw partition folder (``year=2026/month=11/day=24``) and the event-time range it holds, ``[start, end)``."""

    folder: str
    start: datetime
    end: datetime


def raw_partition(folder: str, granularity: Literal["day", "hour"]) -> RawPartition:
    """The event-time range of a raw partition folder.

    Raises:
        ValueError: the folder's values are not a date (and hour) in the years 0001-9999.
    """
    values = [part.partition("=")[2] for part in folder.split("/")]
    try:
        year, month, day, *hour = (int(value) for value in values)
        start = datetime(year, month, day, hour[0] if hour else 0, tzinfo=UTC)
    except (TypeError, ValueError) as err:
        raise ValueError(f"raw partition {folder}: not a UTC {granularity} ({err})") from err
    step = timedelta(days=1) if granularity == "day" else timedelta(hours=1)
    return RawPartition(folder=folder, start=start, end=start + step)


_KEY_FORMS = {"year": "YYYY", "month": "MM", "day": "DD", "hour": "HH"}  # zero-padded, as the lake writer names folders
_KEY_RANGES = {"year": (1, 9999), "month": (1, 12), "day": (1, 31), "hour": (0, 23)}


def check_partition_filter(text: str, keys: tuple[str, ...]) -> str:
    """A ``--partition`` value as compact selects by it (``year=2026/month=11``), checked against the partition keys.

    Args:
        text: the value given; a slash at either end is allowed.
        keys: the spec's partition keys: ``year``, ``month``, ``day`` (and ``hour``).

    Returns:
        the value without the slashes at its ends.

    Raises:
        ValueError: not ``year=YYYY[/month=MM[/day=DD[/hour=HH]]]`` for these keys (zero-padded, in range); the message
            shows the form.
    """
    tail = ""
    for key in reversed(keys[1:]):
        tail = f"[/{key}={_KEY_FORMS[key]}{tail}]"
    expected = f"expected {keys[0]}={_KEY_FORMS[keys[0]]}{tail}, e.g. year=2026/month=11/day=24"
    value = text.strip("/")
    parts = value.split("/")
    if not value or len(parts) > len(keys):
        raise ValueError(f"--partition {text!r}: {expected}")
    for part, key in zip(parts, keys, strict=False):
        name, sep, digits = part.partition("=")
        low, high = _KEY_RANGES[key]
        well_formed = name == key and sep and len(digits) == len(_KEY_FORMS[key]) and digits.isdigit()
        if not well_formed or not low <= int(digits) <= high:
            raise ValueError(f"--partition {text!r}: {part!r} is not {key}={_KEY_FORMS[key]}; {expected}")
    return value


@dataclass(frozen=True, kw_only=True)
class CuratedLayout:
    """How one pipeline's curated table looks.

    Attributes:
        namespace: the catalog namespace (database) holding the table.
        table: the table's name: the spec's name with ``-`` replaced by ``_``.
        raw: the raw zone's column plan (the table's columns come from it).
        columns: the table's columns in order, as Polars dtypes.
        event_time: the timestamptz column the table is partitioned and sorted on.
        granularity: ``day`` or ``hour``: the partition transform, as the raw zone's folders.
        event_time_expr: the event time as epoch microseconds from the raw columns, null where the record has none;
            None when ``event_time`` is a raw column itself.
    """

    namespace: str
    table: str
    raw: LakeColumns
    columns: dict[str, pl.DataType]
    event_time: str
    granularity: Literal["day", "hour"]
    event_time_expr: pl.Expr | None

    @property
    def identifier(self) -> tuple[str, str]:
        """``(namespace, table)`` as the catalog names the table."""
        return (self.namespace, self.table)

    def iceberg_schema(self) -> Schema:
        """The Iceberg schema: every column optional, field ids numbered as a new table numbers them."""
        require_lake()
        from pyiceberg.schema import Schema, assign_fresh_schema_ids
        from pyiceberg.types import NestedField

        ids = itertools.count(1)
        fields = [NestedField(next(ids), name, _iceberg_type(dtype, ids), required=False) for name, dtype in self.columns.items()]
        return assign_fresh_schema_ids(Schema(*fields))  # pre-order ids, as pyiceberg gives a table it creates

    def partition_spec(self, schema: Schema) -> PartitionSpec:
        """``day(event_time)`` or ``hour(event_time)``."""
        from pyiceberg.partitioning import PartitionField, PartitionSpec
        from pyiceberg.transforms import DayTransform, HourTransform

        transform: DayTransform[Any] | HourTransform[Any] = DayTransform() if self.granularity == "day" else HourTransform()
        source = schema.find_field(self.event_time).field_id
        name = f"{self.event_time}_{self.granularity}"
        return PartitionSpec(PartitionField(source_id=source, field_id=1000, transform=transform, name=name))

    def sort_order(self, schema: Schema) -> SortOrder:
        """Ascending event time."""
        from pyiceberg.table.sorting import SortField, SortOrder
        from pyiceberg.transforms import IdentityTransform

        return SortOrder(SortField(source_id=schema.find_field(self.event_time).field_id, transform=IdentityTransform()))


def curated_layout(spec: PipelineSpec, namespace: str | None = None) -> CuratedLayout:
    """The curated table of ``spec``.

    The event time partitions the table on its own column when it is a top-level date-time column that every record
    has (``on_missing: reject``); otherwise on ``_event_time``, computed from the raw columns as the engine computes it.

    Raises:
        SpecError: a schema property named like a lake column.
        ValueError: the raw columns hold no event time the table can use.
    """
    raw = lake_columns(spec, table_dtypes(spec))
    keys = set(raw.partition_keys)
    columns = {name: dtype for name, dtype in raw.dtypes.items() if name not in keys}
    field = spec.event_time.field
    own = (
        field in columns
        and columns[field] == UTC_MICROS
        and spec.event_time.format == "iso8601"
        and spec.event_time.on_missing == "reject"
    )
    expr = None if own else _event_time_micros(spec, raw)
    if not own:
        columns[EVENT_TIME] = UTC_MICROS
    return CuratedLayout(
        namespace=namespace or DEFAULT_NAMESPACE,
        table=spec.name.replace("-", "_"),
        raw=raw,
        columns=columns,
        event_time=field if own else EVENT_TIME,
        granularity=spec.partitioning.granularity,
        event_time_expr=expr,
    )


def _event_time_micros(spec: PipelineSpec, raw: LakeColumns) -> pl.Expr:
    """The spec's event time as the engine reads it, from the lake's columns: epoch µs, null where absent or unreadable."""
    from transform_core.engine.partition import event_time_micros
    from transform_core.engine.rules import date_time_micros

    name, *path = spec.event_time.field.split(".")
    dtype: pl.DataType | DataTypeClass | None = raw.dtypes.get(name)
    if dtype is None or name in raw.partition_keys:
        raise ValueError(f"the event time {spec.event_time.field!r} has no column in the lake")
    expr = pl.col(name)
    if name in raw.json_text:  # the value's JSON text: reach in with a JSON path (strings come back unquoted)
        expr, dtype = expr.str.json_path_match("$" + "".join(f".{part}" for part in path)), pl.String()
        path = []
    for part in path:
        inner = {f.name: f.dtype for f in dtype.fields} if isinstance(dtype, pl.Struct) else {}
        if part not in inner:
            raise ValueError(f"the event time {spec.event_time.field!r} has no column in the lake")
        expr, dtype = expr.struct.field(part), inner[part]
    if spec.event_time.format == "iso8601":
        value = expr.dt.epoch("us") if isinstance(dtype, pl.Datetime) else date_time_micros(expr.cast(pl.String))
    else:
        value = expr.cast(pl.Float64, strict=False)  # the engine reads epoch numbers as floats, too
    return event_time_micros(value, pl.lit(True), pl.lit(None), replace(spec.event_time, on_missing="reject"))


def _iceberg_type(dtype: pl.DataType | DataTypeClass, ids: Any) -> IcebergType:
    """The Iceberg type of a lake column's Polars dtype (``ids`` numbers nested fields)."""
    from pyiceberg.types import (
        BooleanType,
        DateType,
        DoubleType,
        ListType,
        LongType,
        NestedField,
        StringType,
        StructType,
        TimestamptzType,
    )

    if isinstance(dtype, pl.Struct):
        return StructType(*(NestedField(next(ids), f.name, _iceberg_type(f.dtype, ids), required=False) for f in dtype.fields))
    if isinstance(dtype, pl.List):
        return ListType(next(ids), _iceberg_type(dtype.inner, ids), element_required=False)
    simple: dict[Any, IcebergType] = {
        pl.String: StringType(),
        pl.Int64: LongType(),
        pl.Float64: DoubleType(),
        pl.Boolean: BooleanType(),
        pl.Date: DateType(),
    }
    if dtype == UTC_MICROS:
        return TimestamptzType()
    for polars_type, iceberg in simple.items():
        if dtype == polars_type:
            return iceberg
    raise ValueError(f"the lake column type {dtype} has no Iceberg type here")
