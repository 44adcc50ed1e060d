"""RecordBatch: the read-only view of one invocation's records (ids, data, arrival times) built from a Firehose event,
and the arrival-time readers ``parse_arrival`` and ``plausible_arrival``. ``from_event_bytes`` is held to this path
in test_event_bytes.py."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_series_equal

from tests.helpers.events import load_event
from tests.helpers.not_firehose import REFUSALS, Refusal, firehose_event
from transform_core.firehose.batch import RecordBatch, parse_arrival, plausible_arrival

ARRIVAL_MS = 1_795_824_000_000  # 2026-11-28T00:00:00Z


def batch(**fields: Any) -> RecordBatch:
    values = {"record_ids": ["a"], "data": ["eyJ9"], "arrival_ms": [None]} | fields
    return RecordBatch(**values)


# --- the view ---------------------------------------------------------------------------------------------------------


def test_the_columns_are_named_string_series_in_record_order() -> None:
    view = RecordBatch(record_ids=["b", "a", "é"], data=["eA==", "", "eQ=="], arrival_ms=[1, None, 3])

    assert len(view) == 3
    assert_series_equal(view.id_column(), pl.Series("record_id", ["b", "a", "é"], dtype=pl.String))
    assert_series_equal(view.data_column(), pl.Series("_source", ["eA==", "", "eQ=="], dtype=pl.String))


def test_an_empty_batch_has_empty_string_columns() -> None:
    view = RecordBatch(record_ids=[], data=[], arrival_ms=[])

    assert len(view) == 0
    assert_series_equal(view.id_column(), pl.Series("record_id", [], dtype=pl.String))
    assert_series_equal(view.data_column(), pl.Series("_source", [], dtype=pl.String))


def test_the_view_is_read_only() -> None:
    view = batch()
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.data = ["x"]  # type: ignore[misc]


@pytest.mark.parametrize(
    "bad",
    [None, 5, 1.5, True, b"eyJ9", ["eyJ9"], "\ud800"],
    ids=["null", "integer", "float", "boolean", "bytes", "list", "lone-surrogate"],
)
def test_data_that_is_not_a_utf8_string_becomes_empty_for_that_record_alone(bad: Any) -> None:
    view = batch(record_ids=["a", "b", "c"], data=["eA==", bad, "eQ=="], arrival_ms=[None] * 3)

    assert view.data == ["eA==", "", "eQ=="]
    assert_series_equal(view.data_column(), pl.Series("_source", ["eA==", "", "eQ=="], dtype=pl.String))


@pytest.mark.parametrize(
    ("bad", "shown"),
    [(None, "None"), (7, "7"), (b"a", "b'a'"), ("\ud800", "'\\ud800'")],
    ids=["null", "integer", "bytes", "lone-surrogate"],
)
def test_a_record_id_that_is_not_a_utf8_string_is_a_value_error_naming_the_record(bad: Any, shown: str) -> None:
    with pytest.raises(ValueError, match=rf"^not a Firehose transformation event: record 1 has recordId {re.escape(shown)}; "):
        batch(record_ids=["a", bad, "c"], data=["", "", ""], arrival_ms=[None] * 3)


# --- from_firehose_event ------------------------------------------------------------------------------------------------


def test_a_firehose_event_without_records_is_an_empty_batch() -> None:
    event = load_event("empty.json")
    assert event["records"] == []
    assert RecordBatch.from_firehose_event(event) == RecordBatch(record_ids=[], data=[], arrival_ms=[])
    assert RecordBatch.from_event_bytes(json.dumps(event).encode()) == RecordBatch(record_ids=[], data=[], arrival_ms=[])


@pytest.mark.parametrize("refusal", REFUSALS)
def test_an_event_that_is_not_a_firehose_event_is_refused_alike_from_a_dict_and_from_bytes(refusal: Refusal) -> None:
    """The managed handler's way in and the Runtime API loop's refuse the same events with the same message."""
    with pytest.raises(ValueError) as from_dict:
        RecordBatch.from_firehose_event(refusal.event)
    with pytest.raises(ValueError) as from_bytes:
        RecordBatch.from_event_bytes(refusal.body())
    assert str(from_dict.value) == str(from_bytes.value) == refusal.message


def test_a_record_without_data_gets_empty_data_and_the_others_keep_theirs() -> None:
    records = [
        {"recordId": "a", "data": "eA==", "approximateArrivalTimestamp": 1},
        {"recordId": "b", "approximateArrivalTimestamp": 2},
        {"recordId": "c", "data": "eQ==", "approximateArrivalTimestamp": 3},
    ]
    view = RecordBatch.from_firehose_event(firehose_event(records))
    assert (view.record_ids, view.data, view.arrival_ms) == (["a", "b", "c"], ["eA==", "", "eQ=="], [1, 2, 3])


@pytest.mark.parametrize(
    ("arrival", "expected"),
    [
        pytest.param(10**15, 10**15, id="at-the-plausible-limit"),
        pytest.param(-(10**15), -(10**15), id="at-the-negative-limit"),
        pytest.param(10**15 + 1, None, id="beyond-the-limit"),
        pytest.param(-(10**15) - 1, None, id="beyond-the-negative-limit"),
        pytest.param(2**64, None, id="beyond-64-bits"),
        pytest.param(True, None, id="true-is-not-1"),
        pytest.param(False, None, id="false-is-not-0"),
        pytest.param(None, None, id="null"),
        pytest.param(float(ARRIVAL_MS) + 0.9, ARRIVAL_MS, id="float-truncated"),
        pytest.param(str(ARRIVAL_MS), ARRIVAL_MS, id="digits"),
    ],
)
def test_firehose_arrival_times_beside_ordinary_ones(arrival: Any, expected: int | None) -> None:
    """The odd value is read the same whether its neighbours are plain integers (the fast path) or not."""
    records = [
        {"recordId": "a", "data": "", "approximateArrivalTimestamp": ARRIVAL_MS},
        {"recordId": "b", "data": "", "approximateArrivalTimestamp": arrival},
        {"recordId": "c", "data": "", "approximateArrivalTimestamp": ARRIVAL_MS + 1},
    ]
    assert RecordBatch.from_firehose_event(firehose_event(records)).arrival_ms == [ARRIVAL_MS, expected, ARRIVAL_MS + 1]


ARRIVAL_VALUES = st.one_of(
    st.integers(-(10**15) - 2, 10**15 + 2),
    st.sampled_from([10**15, 10**15 + 1, -(10**15), -(10**15) - 1, 2**63, True, False, None, "", "x", "12", [1], {}]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["2026-11-28T00:00:00Z", "2026-11-28T00:00:00.25+01:00", "2026-11-28T00:00:00", "nan", "inf"]),
)


@st.composite
def firehose_records(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {"recordId": draw(st.text(max_size=3)), "data": draw(st.text("AQw=", max_size=4))}
    if draw(st.booleans()):
        record["approximateArrivalTimestamp"] = draw(ARRIVAL_VALUES)
    if draw(st.booleans()):
        record["kinesisRecordMetadata"] = {"approximateArrivalTimestamp": draw(ARRIVAL_VALUES)}
    return record


@given(records=st.lists(firehose_records(), max_size=8))
def test_each_record_reads_as_it_would_alone(records: list[dict[str, Any]]) -> None:
    """Whichever path a batch takes (all plain integer arrival times or not), no record's view depends on another's."""
    whole = RecordBatch.from_firehose_event(firehose_event(records))
    alone = [RecordBatch.from_firehose_event(firehose_event([r])) for r in records]
    assert whole.record_ids == [r["recordId"] for r in records]
    assert whole.data == [a.data[0] for a in alone]
    assert whole.arrival_ms == [a.arrival_ms[0] for a in alone]
    assert all(ms is None or -(10**15) <= ms <= 10**15 for ms in whole.arrival_ms)


# --- parse_arrival and plausible_arrival -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(ARRIVAL_MS, ARRIVAL_MS, id="integer"),
        pytest.param(1.7e12, 1_700_000_000_000, id="float"),
        pytest.param(-1.5, -1, id="float-truncated-towards-zero"),
        pytest.param(math.nan, None, id="nan"),
        pytest.param(math.inf, None, id="inf"),
        pytest.param(str(ARRIVAL_MS), ARRIVAL_MS, id="digits"),
        pytest.param(" 12 ", 12, id="digits-with-spaces"),
        pytest.param("1.5e3", 1500, id="number-text"),
        pytest.param("inf", None, id="inf-text"),
        pytest.param("1e400", None, id="overflowing-text"),
        pytest.param("2026-11-28T00:00:00Z", ARRIVAL_MS, id="iso-z"),
        pytest.param("2026-11-28t00:00:00z", ARRIVAL_MS, id="iso-lowercase"),
        pytest.param("2026-11-28T00:30:00.250+01:00", ARRIVAL_MS - 1_800_000 + 250, id="iso-offset"),
        pytest.param("2026-11-28T00:00:00", None, id="iso-without-offset"),
        pytest.param("yesterday", None, id="garbage"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="null"),
        pytest.param([ARRIVAL_MS], None, id="list"),
    ],
)
def test_parse_arrival(value: Any, expected: int | None) -> None:
    assert parse_arrival(value) == expected


@pytest.mark.parametrize(
    ("ms", "expected"),
    [(None, None), (0, 0), (10**15, 10**15), (-(10**15), -(10**15)), (10**15 + 1, None), (-(10**15) - 1, None)],
)
def test_plausible_arrival_keeps_times_within_ten_to_the_fifteen_ms(ms: int | None, expected: int | None) -> None:
    assert plausible_arrival(ms) == expected


ARRIVAL_CASES: list[Any] = [
    pytest.param({"approximateArrivalTimestamp": 1795824000000}, 1795824000000, id="firehose-ms"),
    pytest.param({"approximateArrivalTimestamp": 1795824000000.0}, 1795824000000, id="firehose-ms-float"),
    pytest.param({"kinesisRecordMetadata": {"approximateArrivalTimestamp": 1795823999999}}, 1795823999999, id="kinesis-ms"),
    pytest.param(
        {"kinesisRecordMetadata": {"approximateArrivalTimestamp": "2026-11-27T23:59:59.999Z"}}, 1795823999999, id="kinesis-iso-z"
    ),
    pytest.param(
        {"kinesisRecordMetadata": {"approximateArrivalTimestamp": "2026-11-28T00:30:00.250+01:00"}},
        1795822200250,
        id="kinesis-iso-offset",
    ),
    pytest.param(
        {"kinesisRecordMetadata": {"approximateArrivalTimestamp": "2026-11-28T00:00:00Z"}},
        1795824000000,
        id="kinesis-iso-no-fraction",
    ),
    pytest.param(
        {
            "approximateArrivalTimestamp": 1795824000000,
            "kinesisRecordMetadata": {"approximateArrivalTimestamp": "2000-01-01T00:00:00Z"},
        },
        1795824000000,
        id="firehose-field-wins",
    ),
    pytest.param({}, None, id="none"),
    pytest.param({"kinesisRecordMetadata": {"shardId": "shardId-000000000000"}}, None, id="kinesis-without-arrival"),
    pytest.param(
        {"kinesisRecordMetadata": {"approximateArrivalTimestamp": "2026-11-28T00:00:00"}}, None, id="iso-without-offset"
    ),
    pytest.param({"kinesisRecordMetadata": {"approximateArrivalTimestamp": "yesterday"}}, None, id="garbage"),
]


@pytest.mark.parametrize(("fields", "expected"), ARRIVAL_CASES)
def test_arrival_time_from_firehose_or_kinesis_metadata(fields: dict[str, Any], expected: int | None) -> None:
    event = firehose_event([{"recordId": "r", "data": "e30=", **fields}])
    batch = RecordBatch.from_firehose_event(event)
    assert (batch.record_ids, batch.data, batch.arrival_ms) == (["r"], ["e30="], [expected])


def test_kinesis_event_record_view() -> None:
    event = load_event("kinesis_source.json")
    batch = RecordBatch.from_firehose_event(event)
    assert len(batch) == 4
    assert batch.arrival_ms == [1795823999999, 1795824000000, 1795822200250, 1795824001500]


@pytest.mark.parametrize("arrival", ["inf", "1e400", float("nan")], ids=["inf-string", "overflow-string", "nan-number"])
def test_an_unreadable_arrival_timestamp_does_not_fail_the_batch(arrival: Any) -> None:
    event = firehose_event([{"recordId": "r", "data": "e30=", "kinesisRecordMetadata": {"approximateArrivalTimestamp": arrival}}])
    assert RecordBatch.from_firehose_event(event).arrival_ms == [None]
