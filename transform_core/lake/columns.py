"""Lake columns: the typed Parquet schema of a pipeline, derived from its JSON Schema.

The mapping is documented in ``docs/lake.md``. A top-level property becomes a typed column when its
subschema says exactly one JSON type all the way down; anything else keeps the value's JSON text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
from polars.datatypes import DataTypeClass

from transform_core.errors import SpecError
from transform_core.spec import PipelineSpec

__all__ = [
    "BATCH_ID",
    "EXTRA",
    "INGESTED_AT",
    "SOURCE_RECORD_ID",
    "LakeColumns",
    "lake_columns",
    "lake_schema",
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


@dataclass(frozen=True, kw_only=True)
class LakeColumns:
    """How one pipeline's Ok records become lake rows.

    Attributes:
        dtypes: every column of the lake table in order, the partition columns last (they live in the path).
        parsed: the top-level properties Polars reads from the record's JSON, with their lake dtypes.
        json_text: top-level properties stored as their JSON text as sent.
        known: top-level property names that have a column; any other property goes to ``_extra``.
        extras_possible: the schema lets a record carry properties it does not declare.
        partition_keys: the Hive partition columns, outermost first.
    """

    dtypes: dict[str, pl.DataType]
    parsed: dict[str, pl.DataType]
    json_text: tuple[str, ...]
    known: frozenset[str]
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
    for name in record:
        if name in reserved:
            raise SpecError(
                f"property {name!r} has the name of a column the lake adds", file=spec.schema_file, key=f"/properties/{name}"
            )
    dtypes: dict[str, pl.DataType] = {name: dtype or pl.String() for name, dtype in record.items()}
    dtypes.update({EXTRA: pl.String(), INGESTED_AT: UTC_MICROS, SOURCE_RECORD_ID: pl.String(), BATCH_ID: pl.String()})
    dtypes.update({key: pl.String() for key in keys})
    extras_possible = root is None or root.get("additionalProperties", True) is not False or "patternProperties" in root
    return LakeColumns(
        dtypes=dtypes,
        parsed={name: dtype for name, dtype in record.items() if dtype is not None},
        json_text=tuple(name for name, dtype in record.items() if dtype is None),
        known=frozenset(record),
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


def read_dtype(dtype: pl.DataType | DataTypeClass) -> pl.DataType:
    """The dtype Polars' JSON reader is given: integers and dates as text, converted by :func:`convert`.

    Integers are read as text because JSON Schema's ``integer`` accepts ``2.0``, which the reader refuses for
    Int64; dates because the reader refuses RFC 3339's lowercase ``t``/``z``.
    """
    if isinstance(dtype, pl.Struct):
        return pl.Struct({field.name: read_dtype(field.dtype) for field in dtype.fields})
    if isinstance(dtype, pl.List):
        return pl.List(read_dtype(dtype.inner))
    if dtype == pl.Int64 or isinstance(dtype, pl.Datetime) or dtype == pl.Date:
        return pl.String()
    return dtype if isinstance(dtype, pl.DataType) else dtype()


def convert(expr: pl.Expr, dtype: pl.DataType | DataTypeClass) -> pl.Expr:
    """Turn a column read with :func:`read_dtype` into its lake dtype."""
    if isinstance(dtype, pl.Datetime):
        text = expr.str.to_uppercase().str.replace("Z", "+00:00", literal=True)
        return text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="us", time_zone="UTC")
    if dtype == pl.Date:
        return expr.str.to_date("%Y-%m-%d")
    if dtype == pl.Int64:
        # "2.0" arrives as "2"; a validated value always fits
        return expr.str.to_integer()
    if isinstance(dtype, pl.Struct) and read_dtype(dtype) != dtype:
        fields = [convert(expr.struct.field(field.name), field.dtype).alias(field.name) for field in dtype.fields]
        return pl.when(expr.is_null()).then(None).otherwise(pl.struct(fields))
    if isinstance(dtype, pl.List) and read_dtype(dtype) != dtype:
        return expr.list.eval(convert(pl.element(), dtype.inner))
    return expr
