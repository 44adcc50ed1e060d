"""Records are decoded a chunk per ``map`` call while they all decode; from the first chunk holding a failure on,
record by record. The differential batches are smaller than a chunk, so here chunks are made small enough for
drawn batches to span several, with failures in any of them.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings

from tests.engine.strategies import batches
from tests.engine.test_differential import SPECS, assert_agree
from transform_core import RecordBatch, decode
from transform_core.generate import iot_payloads


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(
    max_examples=30, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
)
@given(batch=batches())
def test_drawn_batches_agree_in_small_chunks(name: str, batch: RecordBatch, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "_MAPPED_CHUNK", 3)
    assert_agree(name, batch)


@pytest.mark.parametrize("bad", [0, 5, 13, 19])
def test_a_failure_in_any_chunk_is_that_records_alone(bad: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "_MAPPED_CHUNK", 4)
    payloads = [p.data for p in iot_payloads(20, 0.0, seed=5)]
    payloads[bad] = payloads[bad][:-1]  # truncated JSON
    batch = RecordBatch(
        record_ids=[f"r{i}" for i in range(20)],
        data=[base64.b64encode(p).decode() for p in payloads],
        arrival_ms=[1_700_000_000_000] * 20,
    )
    outcomes = assert_agree("iot-example", batch)
    results = outcomes["result"].to_list()
    assert [i for i, r in enumerate(results) if r == "ProcessingFailed"] == [bad]
    assert "json" in outcomes["reason"][bad]
