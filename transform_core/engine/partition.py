"""Stage: event time → UTC partition keys (``year``/``month``/``day``[/``hour``], zero-padded).

Same rules as the reference: ISO 8601 means RFC 3339 (offsets honoured, converted to UTC);
epoch seconds/millis are numbers, floored to the microsecond; a time outside the years
0001-9999 in UTC, unparseable, or missing (unless ``on_missing: arrival_time``) is a rejection,
never a garbage partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from transform_core.schema import format_reason, show_value
from transform_core.spec import EventTimeSpec
from transform_core.spec.model import MAX_EPOCH_US, MIN_EPOCH_US

__all__ = ["epoch_column", "event_time_micros", "event_time_reason", "partition_exprs", "partition_stamp"]

_STAMP = "%Y-%m-%d-%H"  # %Y pads to four digits; years are 0001-9999
_SLICES = {"year": (0, 4), "month": (5, 2), "day": (8, 2), "hour": (11, 2)}  # where each key sits in a stamp


def epoch_column(values: list[Any]) -> pl.Series:
    """Epoch event times as floats; any other JSON type becomes null (then a rejection)."""
    return pl.Series([float(v) if type(v) in (int, float) else None for v in values], dtype=pl.Float64)


def event_time_micros(value: pl.Expr, present: pl.Expr, arrival_ms: pl.Expr, spec: EventTimeSpec) -> pl.Expr:
    """Epoch microseconds of each record's event time; null where the record must be rejected.

    For ``iso8601``, ``value`` is the date-time already parsed to epoch microseconds (see
    :func:`transform_core.engine.rules.date_time_micros`), so a field with a format rule is parsed once.
    """
    if spec.format == "iso8601":
        micros = value
    else:
        scaled = (value * (1e6 if spec.format == "epoch_seconds" else 1e3)).floor()
        micros = pl.when((scaled >= MIN_EPOCH_US) & (scaled <= MAX_EPOCH_US)).then(scaled.cast(pl.Int64, strict=False))
    if spec.on_missing == "arrival_time":
        micros = pl.when(present).then(micros).otherwise(arrival_ms * 1000)
    return pl.when((micros >= MIN_EPOCH_US) & (micros <= MAX_EPOCH_US)).then(micros)


def event_time_reason(value: Any, spec: EventTimeSpec, path: str) -> str:
    """Why a record's event time gave no partition (for a record whose micros are null)."""
    if value is not None:
        if spec.format == "iso8601":
            return format_reason(path, f"{show_value(value)} is not an RFC 3339 date-time", "event_time")
        return format_reason(path, f"{show_value(value)} is not an epoch time within the years 0001-9999", "event_time")
    if spec.on_missing == "reject":
        return format_reason(path, "event time is missing", "event_time")
    return format_reason(path, "event time is missing and the record has no arrival time", "event_time")


def partition_stamp(micros: pl.Expr) -> pl.Expr:
    """``YYYY-MM-DD-HH`` (UTC) of epoch microseconds: formatted once, then sliced into keys.

    One ``strftime`` and cheap slices cost a third of one ``strftime`` per key.
    """
    return pl.from_epoch(micros, time_unit="us").dt.strftime(_STAMP)


def partition_exprs(stamp: pl.Expr, keys: Sequence[str]) -> list[pl.Expr]:
    """Zero-padded UTC partition key columns from a :func:`partition_stamp` column."""
    return [stamp.str.slice(*_SLICES[key]).alias(key) for key in keys]
