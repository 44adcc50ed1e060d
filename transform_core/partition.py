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

from transform_core.reference import MAX_EPOCH_US, MIN_EPOCH_US
from transform_core.rules import date_time_micros
from transform_core.schema import format_reason, show_value
from transform_core.spec import EventTimeSpec

__all__ = ["event_time_micros", "partition_columns"]

_STRFTIME = {"year": "%Y", "month": "%m", "day": "%d", "hour": "%H"}


def event_time_micros(
    values: list[Any], arrival_ms: Sequence[int | None], spec: EventTimeSpec, path: str, reasons: list[str | None]
) -> pl.Series:
    """Epoch microseconds of each record's event time; rejections go into ``reasons`` (in place)."""
    present = pl.Series([v is not None for v in values], dtype=pl.Boolean)
    if spec.format == "iso8601":
        micros = date_time_micros(pl.Series([v if isinstance(v, str) else None for v in values], dtype=pl.String))
        invalid = "{} is not an RFC 3339 date-time"
    else:
        numbers = pl.Series([float(v) if type(v) in (int, float) else None for v in values], dtype=pl.Float64)
        scaled = (numbers * (1e6 if spec.format == "epoch_seconds" else 1e3)).floor()
        in_range = (scaled >= MIN_EPOCH_US) & (scaled <= MAX_EPOCH_US)
        micros = pl.select(pl.when(in_range).then(scaled.cast(pl.Int64))).to_series()
        invalid = "{} is not an epoch time within the years 0001-9999"
    if spec.on_missing == "arrival_time":
        arrival = pl.Series(arrival_ms, dtype=pl.Int64) * 1000
        micros = pl.select(pl.when(present).then(micros).otherwise(arrival)).to_series()
    micros = pl.select(pl.when((micros >= MIN_EPOCH_US) & (micros <= MAX_EPOCH_US)).then(micros)).to_series()
    for i in micros.is_null().arg_true().to_list():
        if reasons[i] is not None:
            continue
        if values[i] is not None:
            reasons[i] = format_reason(path, invalid.format(show_value(values[i])), "event_time")
        elif spec.on_missing == "reject":
            reasons[i] = format_reason(path, "event time is missing", "event_time")
        else:
            reasons[i] = format_reason(path, "event time is missing and the record has no arrival time", "event_time")
    return micros


def partition_columns(micros: pl.Series, keys: Sequence[str]) -> list[pl.Series]:
    """Zero-padded UTC partition key columns from epoch microseconds."""
    stamps = pl.from_epoch(micros, time_unit="us")
    return [stamps.dt.strftime(_STRFTIME[key]).alias(key) for key in keys]
