"""The raw entry (``Pipeline.process_payloads``: payload bytes, no base64) gives what the base64 entry
(``Pipeline.process`` of a RecordBatch) gives for the same records: the outcome frame, every rule of each rejected
record, and the enrichment misses."""

from __future__ import annotations

import base64

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.helpers.agreement import pipelines
from tests.helpers.specs import SPECS
from tests.helpers.strategies import payload_texts
from transform_core import RecordBatch
from transform_core.demo.generate import iot_payloads
from transform_core.engine import BatchResult, Pipeline
from transform_core.tuning import Tuning

# every threshold at its smallest: the background decode, the split base64, the streaming query and the freeing
# run on a batch of two
EVERY_PATH = Tuning(overlap_from=1, free_in_background_from=1, split_base64_from=2, streaming_from=2)

arrivals = st.one_of(st.none(), st.integers(-62135596800000, 253402300799999))


def both(engine: Pipeline, payloads: list[bytes | None], arrival_ms: list[int | None]) -> tuple[BatchResult, BatchResult]:
    """The base64 entry's result (a null payload sent as empty data) and the raw entry's, for the same records."""
    ids = [f"r{i}" for i in range(len(payloads))]
    batch = RecordBatch(record_ids=ids, data=[base64.b64encode(p or b"").decode() for p in payloads], arrival_ms=arrival_ms)
    return engine.process(batch, respond=False), engine.process_payloads(pl.Series(payloads, dtype=pl.Binary), ids, arrival_ms)


def assert_same(expected: BatchResult, got: BatchResult) -> None:
    assert_frame_equal(got.outcomes, expected.outcomes)
    assert dict(got.failures) == dict(expected.failures)
    assert got.enrich_missed == expected.enrich_missed
    assert (got.ok, got.failed, got.dropped, got.shed) == (expected.ok, expected.failed, expected.dropped, 0)
    assert got.rows_with_extras == expected.rows_with_extras


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=st.lists(st.tuples(st.one_of(payload_texts(), st.none()), arrivals), max_size=40))
def test_raw_entry_equals_base64_entry(name: str, records: list[tuple[bytes | None, int | None]]) -> None:
    engine, _ = pipelines(name)
    assert_same(*both(engine, [p for p, _ in records], [a for _, a in records]))


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=st.lists(st.tuples(payload_texts(), arrivals), min_size=2, max_size=40))
def test_raw_entry_equals_base64_entry_on_every_path(records: list[tuple[bytes, int | None]]) -> None:
    engine, _ = pipelines("iot-example", EVERY_PATH)
    assert_same(*both(engine, [p for p, _ in records], [a for _, a in records]))


@pytest.mark.parametrize("invalid_fraction", [0.0, 0.02, 0.5])
def test_generated_workload(invalid_fraction: float) -> None:
    engine, _ = pipelines("iot-example")
    payloads: list[bytes | None] = [p.data for p in iot_payloads(5000, invalid_fraction, seed=11)]
    expected, got = both(engine, payloads, [1_764_000_000_000 + i for i in range(len(payloads))])
    assert_same(expected, got)
    assert got.ok + got.failed + got.dropped == 5000
    assert (got.failed > 0) == (invalid_fraction > 0)


def test_rejected_and_dropped_records_keep_their_payload_in_base64() -> None:
    engine, _ = pipelines("iot-example")
    payloads: list[bytes | None] = [b'{"device_id": 7}', None, b"\xff{}"]
    got = engine.process_payloads(pl.Series(payloads, dtype=pl.Binary), ["a", "b", "c"], [None] * 3).outcomes
    assert got["result"].to_list() == ["ProcessingFailed"] * 3
    assert got["data"].to_list() == [base64.b64encode(p or b"").decode() for p in payloads]


def test_text_payloads_are_read_as_their_utf8_bytes() -> None:
    engine, _ = pipelines("iot-example")
    texts = [p.data.decode() for p in iot_payloads(200, 0.1, seed=3) if p.data.isascii()]
    expected = both(engine, [t.encode() for t in texts], [None] * len(texts))[0]
    assert_same(expected, engine.process_payloads(pl.Series(texts), [f"r{i}" for i in range(len(texts))], [None] * len(texts)))


@pytest.mark.parametrize(
    ("payloads", "ids", "message"),
    [
        (pl.Series([b"{}"]), ["a", "b"], "one value per record"),
        (pl.Series([1]), ["a"], "payloads must be Binary or String"),
    ],
)
def test_mismatched_arguments_are_refused(payloads: pl.Series, ids: list[str], message: str) -> None:
    engine, _ = pipelines("iot-example")
    with pytest.raises(ValueError, match=message):
        engine.process_payloads(payloads, ids, [None] * len(ids))
