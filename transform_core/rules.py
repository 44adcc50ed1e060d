"""Stage: ``format`` rules evaluated over whole columns, named ``$.path|format``.

The formats on the hot path (date-time, date, uuid) are Polars expressions that agree with the
Python checks in :mod:`transform_core.formats`; the rarer ones apply those checks value by value.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from transform_core.decode import extract
from transform_core.formats import DATE_POLARS, DATE_TIME_POLARS, FORMAT_CHECKS, UUID_POLARS
from transform_core.schema import CompiledSchema, FieldInfo, format_reason, show_value

__all__ = ["apply_format_rules", "date_time_micros"]


def date_time_micros(values: pl.Series) -> pl.Series:
    """Epoch microseconds (UTC) of valid RFC 3339 date-times; null for anything else."""
    shaped = values.str.contains(DATE_TIME_POLARS) & ~values.str.starts_with("0000")
    normal = values.str.replace(r"\.[0-9]+", "").str.replace(r"[Zz]$", "+00:00").str.replace(r"^(.{10})t", "${1}T")
    stamps = normal.str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=False, time_unit="us", time_zone="UTC")
    return pl.select(pl.when(shaped).then(stamps.dt.epoch("us"))).to_series()


def _date_ok(values: pl.Series) -> pl.Series:
    dates = values.str.to_date("%Y-%m-%d", strict=False)
    return values.str.contains(DATE_POLARS) & ~values.str.starts_with("0000") & dates.is_not_null()


def _format_ok(values: pl.Series, fmt: str) -> pl.Series:
    """True where the value passes ``fmt`` (null values are not this rule's business)."""
    if fmt == "date-time":
        ok = date_time_micros(values).is_not_null()
    elif fmt == "date":
        ok = _date_ok(values)
    elif fmt == "uuid":
        ok = values.str.contains(UUID_POLARS)
    else:
        check = FORMAT_CHECKS[fmt]
        return pl.Series([check(v) if v is not None else None for v in values.to_list()], dtype=pl.Boolean)
    return pl.select(pl.when(values.is_not_null()).then(ok)).to_series()


def apply_format_rules(records: list[Any], reasons: list[str | None], schema: CompiledSchema) -> None:
    """Reject records whose string fields fail their ``format``; fills ``reasons`` in place."""
    for info in schema.format_fields:
        assert info.format is not None
        values = _strings(extract(records, info.attrs), info)
        failed = (~_format_ok(values, info.format)).fill_null(False)
        for i in failed.arg_true().to_list():
            if reasons[i] is None:
                reasons[i] = format_reason(info.path, f"{show_value(values[i])} is not a valid {info.format}", "format")


def _strings(values: list[Any], info: FieldInfo) -> pl.Series:
    if info.types - {"string", "null"}:  # other types pass a format rule untouched
        values = [v if isinstance(v, str) else None for v in values]
    return pl.Series(values, dtype=pl.String)
