"""Amazon QuickSight over the curated table: the dataset's SQL (run by Athena) and its column types.

QuickSight knows strings, integers, decimals, date-times and booleans, and skips a column of any other type
("Supported data types and values", Amazon QuickSight User Guide). The dataset is therefore a custom SQL query that
hands every column of the curated table over in a type QuickSight keeps: ``timestamptz`` as a UTC ``timestamp``,
structs and lists as their JSON text. ``deploy/template.yaml``'s ``QuickSightDataSet`` holds this query and these
columns; ``tests/deploy/test_consumers.py`` checks they are what this module makes of the shipped spec.
"""

from __future__ import annotations

import polars as pl
from polars.datatypes import DataTypeClass

from transform_core.lake.columns import UTC_MICROS
from transform_core.lake.curated.athena import glue_names
from transform_core.lake.curated.schema import curated_layout
from transform_core.spec import PipelineSpec

__all__ = ["quicksight_columns", "quicksight_sql"]

_TYPES: dict[DataTypeClass, str] = {
    pl.String: "STRING",
    pl.Int64: "INTEGER",
    pl.Float64: "DECIMAL",
    pl.Boolean: "BOOLEAN",
    pl.Date: "DATETIME",
}


def quicksight_columns(spec: PipelineSpec) -> list[dict[str, str]]:
    """The dataset's columns (``InputColumn``: ``Name``, ``Type``), one per column of the curated table, in order.

    Names are lowercase, as Athena returns them.
    """
    return [{"Name": name.lower(), "Type": _type(dtype)} for name, dtype in curated_layout(spec).columns.items()]


def quicksight_sql(spec: PipelineSpec, *, database: str, table: str | None = None) -> str:
    """The dataset's query (Athena's SQL): every column of the curated table, in a type QuickSight keeps.

    Args:
        database: the Glue database holding the curated table.
        table: the Glue table name; default: the curated table's own (the spec's name with ``-`` → ``_``).

    Raises:
        ValueError: ``database`` or ``table`` is not a plain name.
    """
    layout = curated_layout(spec)
    db, name = glue_names(layout, database, table)
    columns = [_select(column, dtype) for column, dtype in layout.columns.items()]
    return "\n".join(["SELECT", ",\n".join(f"  {c}" for c in columns), f'FROM "{db}"."{name}"'])


def _select(name: str, dtype: pl.DataType) -> str:
    quoted = f'"{name.lower()}"'
    if dtype == UTC_MICROS:  # timestamp(6) with time zone: the instant as a UTC timestamp
        return f"CAST({quoted} AT TIME ZONE 'UTC' AS timestamp) AS {quoted}"
    if dtype.is_nested():
        return f"json_format(CAST({quoted} AS JSON)) AS {quoted}"
    return quoted


def _type(dtype: pl.DataType) -> str:
    if dtype == UTC_MICROS:
        return "DATETIME"
    if dtype.is_nested():
        return "STRING"
    for polars_type, quicksight in _TYPES.items():
        if dtype == polars_type:
            return quicksight
    raise ValueError(f"the curated column type {dtype} has no QuickSight type here")
