"""Stage: ``format`` rules over whole columns, named ``$.path|format``.

The formats on the hot path (date-time, date, uuid, ipv4, email) are Polars expressions that agree with the
Python checks in :mod:`transform_core.schema.formats`; the rarer ones apply those checks value by value.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from transform_core.schema.formats import DATE_POLARS, DATE_TIME_POLARS, EMAIL_POLARS, FORMAT_CHECKS, IPV4_POLARS, UUID_POLARS

__all__ = ["VECTORIZED_FORMATS", "date_time_micros", "format_failed", "python_format_failed"]

VECTORIZED_FORMATS = frozenset({"date-time", "date", "uuid", "ipv4", "email"})


def date_time_micros(value: pl.Expr) -> pl.Expr:
    """Epoch microseconds (UTC) of a valid RFC 3339 date-time; null for anything else.

    The regex decides what is well-formed (chrono's ``%+`` is more lenient: leap seconds, year
    0000); ``%+`` then does the calendar check and the offset arithmetic.
    """
    shaped = value.str.contains(DATE_TIME_POLARS) & ~value.str.starts_with("0000")
    stamps = value.str.to_datetime("%+", strict=False, time_unit="us", time_zone="UTC")
    return pl.when(shaped).then(stamps.dt.epoch("us"))


def format_failed(value: pl.Expr, fmt: str) -> pl.Expr:
    """True where a string value fails a vectorized ``fmt``; false for null (not this rule's business)."""
    if fmt == "date-time":
        ok = date_time_micros(value).is_not_null()
    elif fmt == "date":
        ok = value.str.contains(DATE_POLARS) & ~value.str.starts_with("0000")
        ok = ok & value.str.to_date("%Y-%m-%d", strict=False).is_not_null()
    elif fmt == "ipv4":
        ok = value.str.contains(IPV4_POLARS)
    elif fmt == "email":
        ok = value.str.contains(EMAIL_POLARS)
    else:
        ok = value.str.contains(UUID_POLARS)
    return value.is_not_null() & ~ok


def python_format_failed(values: list[Any], fmt: str) -> pl.Series:
    """The same for the formats checked value by value (ipv6, time)."""
    check = FORMAT_CHECKS[fmt]
    return pl.Series([isinstance(v, str) and not check(v) for v in values], dtype=pl.Boolean)
