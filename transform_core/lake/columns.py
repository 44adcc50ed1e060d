"""Lake columns: the typed Parquet schema of a pipeline, derived from its JSON Schema.

The mapping is documented in ``docs/lake.md``. A top-level property becomes a typed column when its
subschema says exactly one JSON type all the way down; anything else keeps the value's JSON text. The values
of the typed columns come from Polars' JSON reader (:func:`read_dtype`, :func:`convert`) or, for a record the
reader cannot vouch for, from :func:`exact_value`, which stores each value exactly or refuses the record.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
from polars.datatypes import DataTypeClass

from transform_core.errors import SpecError
from transform_core.schema import format_reason
from transform_core.spec import PipelineSpec

__all__ = [
    "BATCH_ID",
    "EXTRA",
    "INGESTED_AT",
    "LAKE_EXACT",
    "SOURCE_RECORD_ID",
    "LakeColumns",
    "NotExact",
    "convert",
    "exact_row",
    "exact_value",
    "lake_columns",
    "lake_schema",
    "outside_years",
    "parse_exact",
    "read_dtype",
    "table_dtypes",
]

EXTRA = "_extra"
INGESTED_AT = "_ingested_at"
SOURCE_RECORD_ID = "_source_record_id"
BATCH_ID = "_batch_id"
UTC_MICROS = pl.Datetime("us", "UTC")
_MAX_REF_DEPTH = 32  # a recursive schema (a tree of nodes) is stored as JSON text past this depth
_SIMPLE: dict[str, pl.DataType] = {"integer": pl.Int64(), "number": pl.Float64(), "boolean": pl.Boolean()}
_FORMATS: dict[str, pl.DataType] = {"date-time": UTC_MICROS, "date": pl.Date()}
#: The rule of a record the lake refuses: a value it cannot store exactly (``$.seq: ... (lake_exact)``).
LAKE_EXACT = "lake_exact"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT_DIGITS = 4000
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)


@dataclass(frozen=True, kw_only=True)
class LakeColumns:
    """How one pipeline's Ok records become lake rows.

    Attributes:
        dtypes: every column of the lake table in order, the partition columns last (they live in the path).
        parsed: the top-level properties Polars reads from the record's JSON, with their lake dtypes.
        json_text: top-level properties stored as their JSON text as sent.
        known: top-level property names that have a column; any other property goes to ``_extra``.
        enriched: the enrichment fields among them (their values come from the tables, not from what was sent).
        extras_possible: the schema lets a record carry properties it does not declare.
        partition_keys: the Hive partition columns, outermost first.
    """

    dtypes: dict[str, pl.DataType]
    parsed: dict[str, pl.DataType]
    json_text: tuple[str, ...]
    known: frozenset[str]
    enriched: frozenset[str]
    extras_possible: bool
    partition_keys: tuple[str, ...]


def lake_schema(spec: PipelineSpec, enrich_dtypes: Mapping[str, pl.DataType]) -> dict[str, pl.DataType]:
    """The lake table's columns and dtypes for ``spec``.

    Args:
        spec: the pipeline spec; its JSON Schema's top-level ``properties`` give the record columns.
        enrich_dtypes: dtypes of enrichment fields from Parquet/NDJSON tables (CSV fields are always String).

    Raises:
        SpecError: a schema property has the name of a column the lake adds (``_extra``, ``year``, …).
    """
    return lake_columns(spec, enrich_dtypes).dtypes


def lake_columns(spec: PipelineSpec, enrich_dtypes: Mapping[str, pl.DataType]) -> LakeColumns:
    """The full column plan behind :func:`lake_schema` (which columns are parsed, kept as text, or extra)."""
    root = _resolve(spec.schema, spec.schema, 0)
    properties = root.get("properties") if root is not None else None
    properties = properties if isinstance(properties, Mapping) else {}
    keys = spec.partitioning.keys
    record: dict[str, pl.DataType | None] = {name: _dtype(sub, spec.schema, 0) for name, sub in properties.items()}
    for table in spec.enrich:
        for name in table.fields:
            # an enrichment field replaces a same-named property, in place
            record[name] = pl.String() if table.format == "csv" else _enrich_dtype(enrich_dtypes.get(name))
    reserved = (EXTRA, INGESTED_AT, SOURCE_RECORD_ID, BATCH_ID, *keys)
    for i, table in enumerate(spec.enrich):
        for name in table.fields:
            if name in reserved:
                raise SpecError(
                    f"field {name!r} has the name of a column the lake adds ({', '.join(reserved)}): rename the table's "
                    "column, and the field with it",
                    file=spec.spec_file,
                    key=f"enrich[{i}].fields",
                )
    extras_possible = root is None or root.get("additionalProperties", True) is not False or "patternProperties" in root
    for name in record:
        if name in reserved:
            extra = ", or take it out of the schema's properties: the lake then keeps its value in _extra"
            raise SpecError(
                f"property {name!r} has the name of a column the lake adds ({', '.join(reserved)}): rename the property "
                f"(in the schema and in the records){extra if extras_possible else ''}",
                file=spec.schema_file,
                key=f"/properties/{name}",
            )
    dtypes: dict[str, pl.DataType] = {name: dtype or pl.String() for name, dtype in record.items()}
    dtypes.update({EXTRA: pl.String(), INGESTED_AT: UTC_MICROS, SOURCE_RECORD_ID: pl.String(), BATCH_ID: pl.String()})
    dtypes.update({key: pl.String() for key in keys})
    return LakeColumns(
        dtypes=dtypes,
        parsed={name: dtype for name, dtype in record.items() if dtype is not None},
        json_text=tuple(name for name, dtype in record.items() if dtype is None),
        known=frozenset(record),
        enriched=frozenset(name for table in spec.enrich for name in table.fields),
        extras_possible=extras_possible,
        partition_keys=keys,
    )


def table_dtypes(spec: PipelineSpec) -> dict[str, pl.DataType]:
    """The dtypes of the enrichment fields of Parquet and NDJSON tables, read from the table files' schemas."""
    dtypes: dict[str, pl.DataType] = {}
    for table in spec.enrich:
        if table.format == "parquet":
            schema = pl.scan_parquet(table.source).collect_schema()
        elif table.format == "ndjson":
            schema = pl.scan_ndjson(table.source, infer_schema_length=None).collect_schema()
        else:
            continue
        dtypes.update({name: schema[name] for name in table.fields if name in schema})
    return dtypes


def _enrich_dtype(dtype: pl.DataType | None) -> pl.DataType | None:
    """Scalar table columns keep their kind; anything else is stored as the JSON text the record carries."""
    if dtype is None or dtype == pl.String:
        return pl.String()
    if dtype == pl.Boolean:
        return pl.Boolean()
    if dtype.is_integer():
        return pl.Int64()
    if dtype.is_float():
        return pl.Float64()
    return None


def _resolve(node: Any, root: Mapping[str, Any], depth: int) -> Mapping[str, Any] | None:
    """Follow local ``$ref`` pointers; None for a boolean schema, a cycle too deep, or a pointer that misses."""
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        depth += 1
        ref: str = node["$ref"]
        if depth > _MAX_REF_DEPTH or not ref.startswith("#"):
            return None
        node = root
        for part in (p.replace("~1", "/").replace("~0", "~") for p in ref[1:].split("/") if p):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
    return node if isinstance(node, Mapping) else None


def _dtype(node: Any, root: Mapping[str, Any], depth: int) -> pl.DataType | None:
    """The column dtype of a subschema, or None: store the value's JSON text."""
    node = _resolve(node, root, depth)
    if node is None or depth > _MAX_REF_DEPTH:
        return None
    kinds = node.get("type")
    if isinstance(kinds, list):
        kinds = [kind for kind in dict.fromkeys(kinds) if kind != "null"]
        kinds = kinds[0] if len(kinds) == 1 else None
    if kinds == "string":
        return _FORMATS.get(node.get("format", ""), pl.String())
    if kinds in _SIMPLE:
        return _SIMPLE[kinds]
    if kinds == "object":
        properties = node.get("properties")
        if not isinstance(properties, Mapping) or not properties:
            return None
        fields = {name: _dtype(sub, root, depth + 1) for name, sub in properties.items()}
        if any(dtype is None for dtype in fields.values()):
            return None  # Polars renders nested JSON text unfaithfully, so the whole property keeps its text
        return pl.Struct({name: dtype for name, dtype in fields.items() if dtype is not None})
    if kinds == "array":
        inner = _dtype(node.get("items"), root, depth + 1) if isinstance(node.get("items"), Mapping) else None
        return None if inner is None else pl.List(inner)
    return None


def read_dtype(dtype: pl.DataType | DataTypeClass, *, int_text: bool) -> pl.DataType:
    """The dtype Polars' JSON reader is given: dates as text, integers as text too with ``int_text``.

    :func:`convert` turns the columns read into their lake dtypes. Dates are read as text because the reader refuses
    RFC 3339's lowercase ``t``/``z``. Integers read as Int64 make the reader refuse any number literal that is not a
    plain integer (``2.0``, ``1e2``): a read that succeeds proves every integer exact. Read as text they take such
    literals through a 64-bit float, exact only for the spellings :class:`~transform_core.lake.rows.LakeRows` lets
    through.
    """
    if isinstance(dtype, pl.Struct):
        return pl.Struct({field.name: read_dtype(field.dtype, int_text=int_text) for field in dtype.fields})
    if isinstance(dtype, pl.List):
        return pl.List(read_dtype(dtype.inner, int_text=int_text))
    if (int_text and dtype == pl.Int64) or isinstance(dtype, pl.Datetime) or dtype == pl.Date:
        return pl.String()
    return dtype if isinstance(dtype, pl.DataType) else dtype()


def convert(expr: pl.Expr, dtype: pl.DataType | DataTypeClass, *, int_text: bool) -> pl.Expr:
    """Turn a column read with :func:`read_dtype` (the same ``int_text``) into its lake dtype."""
    if isinstance(dtype, pl.Datetime):
        text = expr.str.to_uppercase().str.replace("Z", "+00:00", literal=True)
        return text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="us", time_zone="UTC")
    if dtype == pl.Date:
        return expr.str.to_date("%Y-%m-%d")
    if dtype == pl.Int64 and int_text:
        return expr.str.to_integer()  # "2.0" arrives as "2"
    if isinstance(dtype, pl.Struct) and read_dtype(dtype, int_text=int_text) != dtype:
        fields = [convert(expr.struct.field(f.name), f.dtype, int_text=int_text).alias(f.name) for f in dtype.fields]
        return pl.when(expr.is_null()).then(None).otherwise(pl.struct(fields))
    if isinstance(dtype, pl.List) and read_dtype(dtype, int_text=int_text) != dtype:
        return expr.list.eval(convert(pl.element(), dtype.inner, int_text=int_text))
    return expr


def outside_years(expr: pl.Expr, dtype: pl.DataType | DataTypeClass) -> pl.Expr | None:
    """True where a converted value holds a date-time outside the years 0001-9999 in UTC; None: the dtype has none.

    RFC 3339 allows ``0001-01-01T00:00:00+01:00``, which is in year 0 in UTC: Polars stores it, but Python, Spark
    and Athena cannot read it back, so such a record is refused (:func:`exact_value`).
    """
    if isinstance(dtype, pl.Datetime):
        return ~expr.dt.year().is_between(1, 9999)
    if isinstance(dtype, pl.Struct):
        checks = [c for f in dtype.fields if (c := outside_years(expr.struct.field(f.name), f.dtype)) is not None]
        return pl.any_horizontal(checks) if checks else None
    if isinstance(dtype, pl.List):
        inner = outside_years(pl.element(), dtype.inner)
        return None if inner is None else expr.list.eval(inner).list.any()
    return None


class NotExact(Exception):
    """A record value the lake cannot store exactly; ``reason`` is the record's rejection reason."""

    def __init__(self, path: str, message: str) -> None:
        self.reason = format_reason(path, message, LAKE_EXACT)
        super().__init__(self.reason)


def exact_value(value: Any, dtype: pl.DataType | DataTypeClass, path: str) -> Any:
    """A JSON value as the lake stores it, exactly: the Python twin of :func:`convert`, one record at a time.

    ``value`` comes from :func:`parse_exact` (numbers as ``int`` or :class:`~decimal.Decimal`). An integer column
    takes the integer the number's text denotes; a number column the double nearest to it (what a JSON ``number``
    column means); a date-time its instant in UTC, digits past the microsecond truncated.

    Raises:
        NotExact: the value is not one the column can hold exactly (``2.9999999999999999999`` for an integer, a
            date-time outside the years 0001-9999 in UTC), or not of the column's kind.
    """
    if value is None:
        return None
    if isinstance(dtype, pl.Struct):
        if not isinstance(value, dict):
            raise NotExact(path, f"expected an object, got {_show(value)}")
        return {f.name: exact_value(value.get(f.name), f.dtype, _child(path, f.name)) for f in dtype.fields}
    if isinstance(dtype, pl.List):
        if not isinstance(value, list):
            raise NotExact(path, f"expected an array, got {_show(value)}")
        return [exact_value(item, dtype.inner, f"{path}[{i}]") for i, item in enumerate(value)]
    if dtype == pl.Int64 and isinstance(value, int | Decimal) and not isinstance(value, bool):
        if _INT64_MIN <= value <= _INT64_MAX and (isinstance(value, int) or value == value.to_integral_value()):
            return int(value)
        raise NotExact(path, f"{_show(value)} is not an integer the lake can store exactly")
    if dtype == pl.Float64 and isinstance(value, int | Decimal) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
        raise NotExact(path, f"{_show(value)} does not fit in a 64-bit float")
    if isinstance(value, str) and isinstance(dtype, pl.Datetime):
        return _utc(value, path)
    if isinstance(value, str) and dtype == pl.Date:
        if (m := _DATE.fullmatch(value)) is not None:
            try:
                return date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                pass
        raise NotExact(path, f"{_show(value)} is not a date the lake can store")
    if (dtype == pl.String and isinstance(value, str)) or (dtype == pl.Boolean and isinstance(value, bool)):
        return value
    raise NotExact(path, f"{_show(value)} does not fit the lake's {dtype} column")


def exact_row(record: Any, parsed: Mapping[str, pl.DataType]) -> tuple[Any, ...]:
    """The values of a record's ``parsed`` columns (:attr:`LakeColumns.parsed`), by :func:`exact_value`.

    Raises:
        NotExact: a value cannot be stored exactly, or the record is not an object.
    """
    if not isinstance(record, dict):
        raise NotExact("$", f"expected an object, got {_show(record)}")
    return tuple(exact_value(record.get(name), dtype, _child("$", name)) for name, dtype in parsed.items())


def parse_exact(text: bytes) -> Any:
    """A JSON text's value with every number exact: integers as ``int``, other numbers as :class:`~decimal.Decimal`."""
    return json.loads(text, parse_float=Decimal, parse_int=_integer)


def _integer(text: str) -> int | Decimal:
    # Python refuses to turn more than 4,300 digits into an int; such a literal stays a Decimal
    return int(text) if len(text) <= _INT_DIGITS else Decimal(text)


def _utc(text: str, path: str) -> datetime:
    """An RFC 3339 date-time as a naive UTC datetime, floored to the microsecond."""
    m = _DATE_TIME.fullmatch(text)
    if m is not None:
        year, month, day, hour, minute, second, fraction, sign, off_h, off_m = m.groups()
        micro = int(((fraction or "") + "000000")[:6])
        offset = timedelta() if sign is None else timedelta(hours=int(off_h), minutes=int(off_m))
        try:
            local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro)
        except ValueError:
            pass
        else:
            try:
                return local - offset if sign != "-" else local + offset
            except OverflowError:
                raise NotExact(path, f"{_show(text)} is outside the years 0001-9999 in UTC, which the lake holds") from None
    raise NotExact(path, f"{_show(text)} is not a date-time the lake can store")


def _show(value: Any) -> str:
    """A value as short text for a reason: numbers as their digits, anything else as JSON."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if name.isidentifier() else f'{path}["{name}"]'
