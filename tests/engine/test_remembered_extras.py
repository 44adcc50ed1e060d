"""A pipeline remembers the extra property names it found plain; the next batches are judged the same.

The differential tests share one pipeline per spec, so most of their batches meet remembered names already; here a
fresh pipeline meets the same batch twice, before and after remembering.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from polars.testing import assert_frame_equal

from tests.helpers.agreement import assert_agree, pipelines
from tests.helpers.specs import SPECS
from tests.helpers.strategies import batches
from transform_core import Pipeline, RecordBatch
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.spec import load_spec


def _twice(name: str, batch: RecordBatch) -> Pipeline:
    fresh = Pipeline(load_spec(SPECS[name]))
    first, second = fresh.process(batch), fresh.process(batch)
    assert second.body == first.body
    assert_frame_equal(second.outcomes, first.outcomes)
    _, reference = pipelines(name)
    assert_frame_equal(first.outcomes.drop("reason"), reference.process(batch).drop("reason"))
    return fresh


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=batches())
def test_drawn_batches_are_judged_alike_before_and_after_remembering(name: str, batch: RecordBatch) -> None:
    _twice(name, batch)


def test_the_generated_extra_property_is_remembered() -> None:
    batch = RecordBatch.from_firehose_event(firehose_event(iot_payloads(300, 0.1, seed=21)))
    fresh = _twice("iot-example", batch)
    assert fresh.decode_state.plain_extras.remembered == ("source",)


@pytest.mark.parametrize(
    "extras",
    [
        b',"source":"a","source":"b"',  # a remembered name twice
        b',"source":{"k":1}',  # a remembered name holding an object
        b',"source":"a","other":1',  # a remembered name and another
        b',"source":"a","device_id":"x"',  # a remembered name and a duplicate of a declared one
    ],
)
def test_a_record_that_only_looks_like_the_remembered_ones_is_judged_by_the_reference(extras: bytes) -> None:
    engine, _ = pipelines("iot-example")
    engine.process(RecordBatch.from_firehose_event(firehose_event(iot_payloads(50, 0.0, seed=22))))  # remembers "source"
    assert "source" in engine.decode_state.plain_extras.remembered
    valid = next(p.data for p in iot_payloads(20, 0.0, seed=23) if b'"source"' not in p.data)
    record = valid[:-1] + extras + b"}"
    batch = RecordBatch(record_ids=["r"], data=[base64.b64encode(record).decode()], arrival_ms=[1_700_000_000_000])
    outcomes = assert_agree("iot-example", batch)
    duplicate = extras.count(b'"source"') > 1 or b"device_id" in extras
    assert outcomes["result"].to_list() == ["ProcessingFailed" if duplicate else "Ok"]  # the schema allows extras
