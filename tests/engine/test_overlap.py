"""The queries overlapped in the background thread give what the same queries give inline.

Batches from ``OVERLAP_FROM`` records on run some Polars queries in the background thread; from 1,000 records the
base64 is decoded in two halves, one there, and the decoded records are freed there during the main query (so the
reasons written after it must read only values extracted before). The Hypothesis batches of the differential tests
are smaller, so here the thresholds are lowered to make them cross all three.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.engine.strategies import batches
from tests.engine.test_differential import SPECS, assert_same_either_way
from transform_core import RecordBatch, background, decode
from transform_core.generate import firehose_event, iot_payloads

_THRESHOLDS = [(background, "OVERLAP_FROM"), (background, "RELEASE_FROM"), (decode, "_SPLIT_BASE64_FROM")]


def _same_inline_and_overlapped(name: str, batch: RecordBatch, monkeypatch: pytest.MonkeyPatch) -> None:
    inline = [(module, attribute, 10**9) for module, attribute in _THRESHOLDS]
    overlapped = [(module, attribute, 1) for module, attribute in _THRESHOLDS]
    assert_same_either_way(name, batch, monkeypatch, inline, overlapped)


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(
    max_examples=30, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
)
@given(batch=batches())
def test_drawn_batches_agree_overlapped(name: str, batch: RecordBatch, monkeypatch: pytest.MonkeyPatch) -> None:
    _same_inline_and_overlapped(name, batch, monkeypatch)


def test_a_generated_batch_agrees_overlapped(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = RecordBatch.from_firehose_event(firehose_event(iot_payloads(600, 0.2, seed=11)))
    _same_inline_and_overlapped("iot-example", batch, monkeypatch)
