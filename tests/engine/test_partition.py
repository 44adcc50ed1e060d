"""The partition stage: event times (RFC 3339 as epoch micros, epoch seconds, epoch millis, arrival time) → epoch
microseconds within the years 0001-9999 → zero-padded UTC partition keys, and the reason when a record gets none."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal, assert_series_equal

from transform_core.engine.partition import (
    epoch_column,
    event_time_micros,
    event_time_reason,
    partition_exprs,
    partition_stamp,
)
from transform_core.schema import rule_id
from transform_core.spec import EventTimeSpec, PartitioningSpec
from transform_core.spec.model import MAX_EPOCH_US, MIN_EPOCH_US

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_KEYS = PartitioningSpec(granularity="day").keys
HOUR_KEYS = PartitioningSpec(granularity="hour").keys
MIN_S, MAX_S = MIN_EPOCH_US // 10**6, (MAX_EPOCH_US + 1) // 10**6  # 0001-01-01T00:00:00Z, 10000-01-01T00:00:00Z
ARRIVAL_MS = 1_795_824_000_000  # 2026-11-28T00:00:00Z


def micros_of(
    values: list[Any],
    fmt: str,
    *,
    present: list[bool] | None = None,
    arrival_ms: list[int | None] | None = None,
    on_missing: str = "reject",
) -> pl.DataFrame:
    """``event_time_micros`` over one column of values (Int64 micros for iso8601, else Float64), as a frame."""
    n = len(values)
    inputs = pl.DataFrame(
        {
            "value": pl.Series(values, dtype=pl.Int64 if fmt == "iso8601" else pl.Float64),
            "present": pl.Series([v is not None for v in values] if present is None else present, dtype=pl.Boolean),
            "arrival": pl.Series([None] * n if arrival_ms is None else arrival_ms, dtype=pl.Int64),
        }
    )
    spec = EventTimeSpec(field="ts", format=fmt, on_missing=on_missing)  # type: ignore[arg-type]
    expr = event_time_micros(pl.col("value"), pl.col("present"), pl.col("arrival"), spec)
    return inputs.select(expr.alias("micros"))


def micros_frame(expected: list[int | None]) -> pl.DataFrame:
    return pl.DataFrame({"micros": expected}, schema={"micros": pl.Int64})


def keys_of(micros: list[int | None], keys: tuple[str, ...]) -> pl.DataFrame:
    frame = pl.DataFrame({"micros": micros}, schema={"micros": pl.Int64})
    stamped = frame.select(partition_stamp(pl.col("micros")).alias("_stamp"))
    return stamped.select(partition_exprs(pl.col("_stamp"), keys))


def utc_keys(micros: int, keys: tuple[str, ...]) -> tuple[str, ...]:
    """The partition keys Python's datetime gives epoch microseconds."""
    utc = EPOCH + timedelta(microseconds=micros)
    return (f"{utc.year:04d}", f"{utc.month:02d}", f"{utc.day:02d}", f"{utc.hour:02d}")[: len(keys)]


# --- the bounds -------------------------------------------------------------------------------------------------------


def test_the_bounds_are_the_first_and_last_microsecond_of_the_years_0001_to_9999() -> None:
    first = datetime(1, 1, 1, tzinfo=UTC)
    last = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert (first - EPOCH) // timedelta(microseconds=1) == MIN_EPOCH_US
    assert (last - EPOCH) // timedelta(microseconds=1) == MAX_EPOCH_US


# --- epoch_column -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([0, 1, -1, 1.5, -0.25], [0.0, 1.0, -1.0, 1.5, -0.25], id="numbers"),
        pytest.param([True, False], [None, None], id="booleans-are-not-numbers"),
        pytest.param(["1", "1e3", ""], [None, None, None], id="numeric-strings"),
        pytest.param([None, [1], {"a": 1}], [None, None, None], id="null-array-object"),
        pytest.param([1_795_824_000, True, "1795824000", 2.5], [1_795_824_000.0, None, None, 2.5], id="mixed"),
        pytest.param([], [], id="empty"),
    ],
)
def test_epoch_column_keeps_numbers_and_nulls_every_other_json_type(values: list[Any], expected: list[float | None]) -> None:
    assert_series_equal(epoch_column(values), pl.Series(expected, dtype=pl.Float64))


# --- event_time_micros: each format ---------------------------------------------------------------------------------

BEFORE_MIN_S = math.nextafter(float(MIN_S), -math.inf)  # the first float second before 0001-01-01
BEFORE_MIN_MS = math.nextafter(float(MIN_S * 1000), -math.inf)

FORMAT_CASES: list[Any] = [
    # iso8601: the value is the date-time already parsed to epoch micros; only the bounds apply
    pytest.param("iso8601", [0, 1_795_824_000_123_456, -1], [0, 1_795_824_000_123_456, -1], id="iso8601"),
    pytest.param("iso8601", [MIN_EPOCH_US, MAX_EPOCH_US], [MIN_EPOCH_US, MAX_EPOCH_US], id="iso8601-at-the-bounds"),
    pytest.param("iso8601", [MIN_EPOCH_US - 1, MAX_EPOCH_US + 1], [None, None], id="iso8601-one-past-the-bounds"),
    pytest.param("iso8601", [None], [None], id="iso8601-unparsed"),
    # epoch seconds: scaled to micros and floored (towards minus infinity, not towards zero)
    pytest.param("epoch_seconds", [1_795_824_000.0, 1.5, -1.5], [1_795_824_000_000_000, 1_500_000, -1_500_000], id="seconds"),
    pytest.param("epoch_seconds", [1.0000005, 1e-7, -1e-7, -0.0000005], [1_000_000, 0, -1, -1], id="seconds-floored"),
    pytest.param("epoch_seconds", [float(MIN_S), float(MAX_S - 1)], [MIN_EPOCH_US, (MAX_S - 1) * 10**6], id="seconds-in-bounds"),
    pytest.param("epoch_seconds", [BEFORE_MIN_S, float(MAX_S)], [None, None], id="seconds-one-past-the-bounds"),
    pytest.param("epoch_seconds", [math.nan, math.inf, -math.inf, 1e308, -1e308], [None] * 5, id="seconds-not-finite-or-huge"),
    pytest.param("epoch_seconds", [None], [None], id="seconds-null"),
    # epoch millis
    pytest.param("epoch_millis", [float(ARRIVAL_MS), 1.5, -0.0005], [ARRIVAL_MS * 1000, 1500, -1], id="millis"),
    # (the last millisecond's micros is not a float: 4 ms earlier, a multiple of 32, is)
    pytest.param(
        "epoch_millis", [float(MIN_S * 1000), float(MAX_S * 1000 - 4)], [MIN_EPOCH_US, MAX_EPOCH_US - 3999], id="millis-in-bounds"
    ),
    pytest.param("epoch_millis", [BEFORE_MIN_MS, float(MAX_S * 1000)], [None, None], id="millis-one-past-the-bounds"),
    pytest.param("epoch_millis", [math.nan, math.inf, 1e300], [None] * 3, id="millis-not-finite-or-huge"),
]


@pytest.mark.parametrize(("fmt", "values", "expected"), FORMAT_CASES)
def test_event_time_micros_of_each_format(fmt: str, values: list[Any], expected: list[int | None]) -> None:
    assert_frame_equal(micros_of(values, fmt), micros_frame(expected))


@pytest.mark.parametrize("fmt", ["iso8601", "epoch_seconds", "epoch_millis"])
def test_a_missing_event_time_with_on_missing_reject_ignores_the_arrival_time(fmt: str) -> None:
    got = micros_of([None], fmt, present=[False], arrival_ms=[ARRIVAL_MS], on_missing="reject")
    assert_frame_equal(got, micros_frame([None]))


# --- event_time_micros: on_missing arrival_time -----------------------------------------------------------------------

ARRIVAL_CASES: list[Any] = [
    pytest.param(False, ARRIVAL_MS, ARRIVAL_MS * 1000, id="missing-uses-arrival"),
    pytest.param(False, None, None, id="missing-without-arrival"),
    pytest.param(False, MIN_S * 1000, MIN_EPOCH_US, id="arrival-at-the-lower-bound"),
    pytest.param(False, MIN_S * 1000 - 1, None, id="arrival-before-year-1"),
    pytest.param(False, MAX_S * 1000 - 1, MAX_EPOCH_US - 999, id="arrival-in-the-last-millisecond"),
    pytest.param(False, MAX_S * 1000, None, id="arrival-in-year-10000"),
    pytest.param(False, 10**15, None, id="arrival-at-the-plausible-limit-is-past-9999"),
    pytest.param(True, ARRIVAL_MS, None, id="present-but-unreadable-is-not-replaced"),
]


@pytest.mark.parametrize("fmt", ["iso8601", "epoch_seconds", "epoch_millis"])
@pytest.mark.parametrize(("present", "arrival", "expected"), ARRIVAL_CASES)
def test_arrival_time_stands_in_only_for_a_missing_event_time(
    fmt: str, present: bool, arrival: int | None, expected: int | None
) -> None:
    got = micros_of([None], fmt, present=[present], arrival_ms=[arrival], on_missing="arrival_time")
    assert_frame_equal(got, micros_frame([expected]))


@pytest.mark.parametrize(
    ("fmt", "value", "micros"), [("iso8601", 7, 7), ("epoch_seconds", 7.0, 7_000_000), ("epoch_millis", 7.0, 7000)]
)
def test_a_present_event_time_wins_over_the_arrival_time(fmt: str, value: Any, micros: int) -> None:
    got = micros_of([value], fmt, arrival_ms=[ARRIVAL_MS], on_missing="arrival_time")
    assert_frame_equal(got, micros_frame([micros]))


# --- partition_stamp and partition_exprs ------------------------------------------------------------------------------

STAMP_CASES: list[Any] = [
    pytest.param(MIN_EPOCH_US, ("0001", "01", "01", "00"), id="first-microsecond"),
    pytest.param(MAX_EPOCH_US, ("9999", "12", "31", "23"), id="last-microsecond"),
    pytest.param(0, ("1970", "01", "01", "00"), id="epoch"),
    pytest.param(-1, ("1969", "12", "31", "23"), id="one-microsecond-before-the-epoch"),
    pytest.param(
        (datetime(999, 3, 4, 5, 6, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1), ("0999", "03", "04", "05"), id="year-999"
    ),
    pytest.param(
        (datetime(2024, 2, 29, 9, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1), ("2024", "02", "29", "09"), id="leap-day"
    ),
    pytest.param(ARRIVAL_MS * 1000 - 1, ("2026", "11", "27", "23"), id="last-microsecond-of-a-day"),
]


@pytest.mark.parametrize("keys", [DAY_KEYS, HOUR_KEYS], ids=["day", "hour"])
@pytest.mark.parametrize(("micros", "expected"), STAMP_CASES)
def test_partition_keys_are_zero_padded_utc(micros: int, expected: tuple[str, ...], keys: tuple[str, ...]) -> None:
    want = pl.DataFrame([pl.Series(key, [value], dtype=pl.String) for key, value in zip(keys, expected, strict=False)])
    assert_frame_equal(keys_of([micros], keys), want)


def test_partition_stamp_is_one_utc_text() -> None:
    frame = pl.DataFrame({"micros": [MIN_EPOCH_US, ARRIVAL_MS * 1000 + 3_600_000_000]}, schema={"micros": pl.Int64})
    got = frame.select(partition_stamp(pl.col("micros")).alias("stamp"))
    assert_frame_equal(got, pl.DataFrame({"stamp": ["0001-01-01-00", "2026-11-28-01"]}))


@pytest.mark.parametrize("keys", [DAY_KEYS, HOUR_KEYS], ids=["day", "hour"])
def test_no_event_time_gives_null_keys(keys: tuple[str, ...]) -> None:
    got = keys_of([None, 0], keys)
    expected = pl.DataFrame(
        {key: [None, value] for key, value in zip(keys, ("1970", "01", "01", "00"), strict=False)},
        schema=dict.fromkeys(keys, pl.String),
    )
    assert_frame_equal(got, expected)


@given(
    micros=st.lists(st.integers(MIN_EPOCH_US, MAX_EPOCH_US) | st.sampled_from([MIN_EPOCH_US, MAX_EPOCH_US, 0, -1]), max_size=30),
    keys=st.sampled_from([DAY_KEYS, HOUR_KEYS]),
)
def test_partition_keys_of_any_epoch_micros_are_pythons_datetime_keys(micros: list[int], keys: tuple[str, ...]) -> None:
    expected = pl.DataFrame([utc_keys(m, keys) for m in micros], schema=dict.fromkeys(keys, pl.String), orient="row")
    assert_frame_equal(keys_of(micros, keys), expected)


@given(
    seconds=st.lists(
        st.integers(MIN_S - 10**6, MAX_S + 10**6) | st.sampled_from([MIN_S - 1, MIN_S, MAX_S - 1, MAX_S]), min_size=1, max_size=30
    )
)
def test_integer_epoch_seconds_within_the_years_0001_to_9999_give_datetimes_keys(seconds: list[int]) -> None:
    # integer seconds times 10**6 are exact as floats here (s * 15625 < 2**53, times 2**6), so nothing rounds
    micros = micros_of([float(s) for s in seconds], "epoch_seconds")
    expected = [s * 10**6 if MIN_S <= s < MAX_S else None for s in seconds]
    assert_frame_equal(micros, micros_frame(expected))
    keys = keys_of(micros["micros"].to_list(), HOUR_KEYS)
    want = [utc_keys(m, HOUR_KEYS) if m is not None else (None,) * 4 for m in expected]
    assert_frame_equal(keys, pl.DataFrame(want, schema=dict.fromkeys(HOUR_KEYS, pl.String), orient="row"))


# --- event_time_reason ----------------------------------------------------------------------------------------------

REASON_CASES: list[Any] = [
    pytest.param(
        "2026-13-01T00:00:00Z",
        "iso8601",
        "reject",
        '$.ts: "2026-13-01T00:00:00Z" is not an RFC 3339 date-time (event_time)',
        id="iso",
    ),
    pytest.param(5, "iso8601", "reject", "$.ts: 5 is not an RFC 3339 date-time (event_time)", id="iso-number"),
    pytest.param(
        "x" * 100, "iso8601", "reject", f'$.ts: "{"x" * 56}... is not an RFC 3339 date-time (event_time)', id="iso-long-value-cut"
    ),
    pytest.param(
        1e20, "epoch_seconds", "reject", "$.ts: 1e+20 is not an epoch time within the years 0001-9999 (event_time)", id="seconds"
    ),
    pytest.param(
        "17",
        "epoch_millis",
        "arrival_time",
        '$.ts: "17" is not an epoch time within the years 0001-9999 (event_time)',
        id="millis",
    ),
    pytest.param(None, "iso8601", "reject", "$.ts: event time is missing (event_time)", id="missing"),
    pytest.param(None, "epoch_millis", "reject", "$.ts: event time is missing (event_time)", id="missing-epoch"),
    pytest.param(
        None,
        "iso8601",
        "arrival_time",
        "$.ts: event time is missing and the record has no arrival time (event_time)",
        id="missing-without-arrival",
    ),
]


@pytest.mark.parametrize(("value", "fmt", "on_missing", "expected"), REASON_CASES)
def test_event_time_reason_texts(value: Any, fmt: str, on_missing: str, expected: str) -> None:
    spec = EventTimeSpec(field="ts", format=fmt, on_missing=on_missing)  # type: ignore[arg-type]
    reason = event_time_reason(value, spec, "$.ts")
    assert reason == expected
    assert rule_id(reason) == "$.ts|event_time"  # the metric label


def test_event_time_reason_names_the_path_it_is_given() -> None:
    reason = event_time_reason(None, EventTimeSpec(field="meta.ts"), "$.meta.ts")
    assert reason == "$.meta.ts: event time is missing (event_time)"
