"""How a query result and a table's columns read as text: full values, structs with their field names, type names.

Polars prints a struct cell as its values only (``{"DE",3}``) and cuts text at 30 characters. :func:`text_table`
prints every value in full (or cut at ``max_width``), and a struct as ``{country: "DE", id: 3}``, nested values
included, keeping Polars' own table layout and its type line.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

import polars as pl

from transform_core.errors import SpecError
from transform_core.spec import PipelineSpec

__all__ = ["athena_types", "dtype_name", "show", "text_table"]

# Polars draws a table at most 65,535 characters wide: past it the layout breaks every cell into narrow columns
_TABLE_CHARS = 65_535


def text_table(frame: pl.DataFrame, *, rows: int, max_width: int | None = None) -> str:
    """The first ``rows`` rows of ``frame`` as a text table: every column, one line a row (a value's own line breaks
    aside), values in full unless ``max_width`` cuts them, structs with their field names; ends with a newline."""
    shown = frame.head(rows)
    nested = [name for name, dtype in shown.schema.items() if _has_struct(dtype)]
    shown = shown.with_columns(
        pl.Series(name, [show(value) for value in shown[name].to_list()], dtype=pl.String) for name in nested
    )
    # the type line comes from the original columns: the shown ones are text
    headers = {name: f"{name}\n---\n{dtype_name(dtype)}" for name, dtype in frame.schema.items()}
    shown = shown.rename(headers)
    config: dict[str, Any] = {
        "tbl_rows": rows,
        "tbl_cols": -1,
        "tbl_width_chars": _TABLE_CHARS,
        "tbl_hide_column_data_types": True,
        "fmt_str_lengths": max_width or _fitting_width(shown),
        "fmt_table_cell_list_len": -1,
    }
    with pl.Config(**config):
        text = str(shown)
    if frame.height > rows:
        text += f"\n{rows} of {frame.height:,} rows shown; --format csv or json gives them all"
    return text + "\n"


def show(value: Any) -> str:
    """A value as the table shows it inside a nested cell: structs as ``{name: value, …}``, text quoted."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{name}: {show(item)}" for name, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(show(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime | date | time | timedelta):
        return str(value)
    return repr(value) if isinstance(value, float) else str(value)


def dtype_name(dtype: pl.DataType) -> str:
    """The short type name Polars prints over a column (``str``, ``i64``, ``struct[2]``, ``datetime[μs, UTC]``)."""
    # Polars' own name for its table header: an internal method, with the class name to fall back on
    short = getattr(dtype, "_string_repr", None)
    return str(short()) if callable(short) else str(dtype)


def athena_types(spec: PipelineSpec) -> dict[str, str]:
    """The Glue/Athena type of each lake column and struct field, by dotted path; empty when the spec's columns
    have no Glue form (``transform-core catalog`` says why)."""
    from transform_core.lake.catalog import glue_columns, glue_partition_keys, glue_struct_fields

    try:
        columns = [*glue_columns(spec), *glue_partition_keys(spec)]
    except SpecError:
        return {}

    def paths(path: str, glue_type: str) -> dict[str, str]:
        """``path`` and the fields of a ``struct<…>`` type under it, each with its type."""
        found = {path: glue_type}
        if glue_type.startswith("struct<") and glue_type.endswith(">"):
            for name, inner in glue_struct_fields(glue_type):
                found |= paths(f"{path}.{name}", inner)
        return found

    types: dict[str, str] = {}
    for column in columns:
        types |= paths(column["Name"], column["Type"])
    return types


def _has_struct(dtype: pl.DataType) -> bool:
    if isinstance(dtype, pl.Struct):
        return True
    inner = getattr(dtype, "inner", None)
    return inner is not None and _has_struct(inner if isinstance(inner, pl.DataType) else inner())


def _fitting_width(frame: pl.DataFrame) -> int:
    """The longest text a cell may show so that the widest row stays within the table's width: every character
    when it fits."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not text or frame.height == 0:
        return _TABLE_CHARS
    longest = frame.select(pl.col(text).str.len_chars().max()).row(0)
    # numbers and dates take about 12 characters; every cell has 3 of padding and border, the table 1 more
    budget = _TABLE_CHARS - 12 * (frame.width - len(text)) - 3 * frame.width - 1
    if sum(n or 0 for n in longest) <= budget:
        return _TABLE_CHARS
    return max(budget // len(text) - 1, 20)  # a cut value ends in "…"
