"""dedupe against a plain Python oracle: which copy of a record is kept (greatest version, then latest event time, then
lineage; the first among equals), rows with a null key all kept, exact comparison without a key, and the order."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from transform_core.lake.columns import BATCH_ID, INGESTED_AT, SOURCE_RECORD_ID
from transform_core.lake.curated.dedupe import LINEAGE, DedupeRule, dedupe

START = datetime(2026, 11, 24, tzinfo=UTC)
SCHEMA: dict[str, pl.DataType] = {
    "k": pl.String(),
    "k2": pl.Int64(),
    "v": pl.Int64(),
    "ts": pl.Datetime("us", "UTC"),
    "x": pl.Float64(),
    "p": pl.Struct({"y": pl.Float64()}),
    "l": pl.List(pl.Float64()),
    INGESTED_AT: pl.Datetime("us", "UTC"),
    BATCH_ID: pl.String(),
    SOURCE_RECORD_ID: pl.String(),
}
RULES = [
    DedupeRule(key=("k",), version=None, event_time="ts"),
    DedupeRule(key=("k",), version="v", event_time="ts"),
    DedupeRule(key=("k", "k2"), version="v", event_time="ts"),
    DedupeRule(key=(), version=None, event_time="ts"),  # the record as sent
]


def few(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Values from a small pool, null among them: copies and ties are common."""
    return st.one_of(st.none(), values)


floats = st.sampled_from([0.0, -0.0, 1.5, -2.0])
moments = st.integers(0, 3).map(lambda n: START + timedelta(seconds=n))  # copies and ties are common
apart = st.integers(0, 10**12).map(lambda n: START + timedelta(microseconds=n))  # rows one event time each, mostly


def rows_with(times: st.SearchStrategy[datetime]) -> st.SearchStrategy[dict[str, Any]]:
    """Records whose event times are drawn from ``times`` (null among them when it can be)."""
    return st.fixed_dictionaries(
        {
            "k": few(st.sampled_from(["a", "b", "é"])),
            "k2": few(st.integers(0, 1)),
            "v": few(st.integers(0, 2)),
            "ts": times,
            "x": few(floats),
            "p": few(st.fixed_dictionaries({"y": few(floats)})),
            "l": few(st.lists(few(floats), max_size=2)),
            INGESTED_AT: few(moments),
            BATCH_ID: few(st.sampled_from(["b1", "b2"])),
            SOURCE_RECORD_ID: few(st.sampled_from(["r1", "r2"])),
        }
    )


frames = st.sampled_from([moments, few(moments), apart, few(apart)]).flatmap(
    lambda times: st.lists(rows_with(times), max_size=30)
)


def exact(value: Any) -> Any:
    """A value compared exactly: -0.0 apart from 0.0, a null struct apart from a struct of nulls."""
    if isinstance(value, float):
        return (value, value == 0 and math.copysign(1.0, value) < 0)
    if isinstance(value, dict):
        return tuple((name, exact(v)) for name, v in value.items())
    if isinstance(value, list):
        return tuple(exact(v) for v in value)
    return value


def present(value: Any) -> tuple[bool, Any]:
    """Greater for a value than for a null; between values, the value's order."""
    return (value is not None, value)


def last_nulls(value: Any) -> tuple[bool, Any]:
    return (value is None, value if value is not None else 0)


def oracle(records: list[dict[str, Any]], rule: DedupeRule) -> list[int]:
    """The rows kept, in order: per group of copies the greatest (version, event time, lineage), the first of equals."""
    compared = list(rule.key) or [name for name in SCHEMA if name not in LINEAGE]
    groups: dict[Any, list[int]] = {}
    for i, record in enumerate(records):
        values = tuple(exact(record[name]) for name in compared)
        alone = rule.key and any(record[name] is None for name in rule.key)
        groups.setdefault(("alone", i) if alone else values, []).append(i)
    order = [*([rule.version] if rule.version else []), rule.event_time, *LINEAGE]
    kept = [max(group, key=lambda i: (tuple(present(records[i][name]) for name in order), -i)) for group in groups.values()]
    ties = list(rule.key) or [BATCH_ID, SOURCE_RECORD_ID]
    return sorted(kept, key=lambda i: (*(last_nulls(records[i][name]) for name in [rule.event_time, *ties]), i))


@given(records=frames, rule=st.sampled_from(RULES))
def test_the_kept_copies_and_their_order_are_the_oracle_s(records: list[dict[str, Any]], rule: DedupeRule) -> None:
    frame = pl.DataFrame(records, schema=SCHEMA)
    expected = frame[oracle(records, rule)] if records else frame
    assert_frame_equal(dedupe(frame, rule), expected)


@given(records=frames.filter(bool), rule=st.sampled_from(RULES), cut=st.integers(1, 29))
def test_the_frame_s_chunks_change_nothing(records: list[dict[str, Any]], rule: DedupeRule, cut: int) -> None:
    frame = pl.DataFrame(records, schema=SCHEMA)
    chunked = pl.concat([frame.head(cut), frame.slice(cut)], rechunk=False)  # a partition read file by file
    assert_frame_equal(dedupe(chunked, rule), dedupe(frame, rule))


def test_a_frame_without_copies_comes_back_sorted_by_event_time() -> None:
    frame = pl.DataFrame(
        {"k": ["c", "a", "b"], "ts": [START + timedelta(seconds=s) for s in (2, 0, 1)], BATCH_ID: "b", SOURCE_RECORD_ID: "r"},
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    ).with_columns(pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias(INGESTED_AT))
    kept = dedupe(frame, DedupeRule(key=("k",), version=None, event_time="ts"))
    assert kept["k"].to_list() == ["a", "b", "c"]
