"""The cyclic garbage collector is paused while a batch runs, and left as the caller had it.

A large batch holds lists long enough to set off collections that find nothing; the engine pauses the collector
for the batch instead (its objects are freed by reference counting).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tests.helpers.specs import SPECS
from transform_core import Pipeline, RecordBatch
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.spec import load_spec


@pytest.fixture(scope="module")
def batch() -> RecordBatch:
    return RecordBatch.from_firehose_event(firehose_event(iot_payloads(5000, 0.1, seed=3)))


@pytest.fixture
def engine() -> Pipeline:
    # a fresh pipeline, as in the first batch after a cold start: it has not yet remembered the extra property
    # names it meets (a pipeline that has needs fewer objects for the batch, which may then not collect at all)
    return Pipeline(load_spec(SPECS["iot-example"]))


@pytest.fixture
def collections() -> Iterator[list[int]]:
    started: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(count)
    yield started
    gc.callbacks.remove(count)


def test_a_large_batch_sets_off_no_collection_and_the_collector_runs_again_after(
    engine: Pipeline, batch: RecordBatch, collections: list[int]
) -> None:
    gc.collect()
    collections.clear()
    result = engine.process(batch)
    assert len(result.outcomes) == len(batch)
    assert collections == []
    assert gc.isenabled()


def test_the_same_batch_would_set_off_collections(engine: Pipeline, batch: RecordBatch, collections: list[int]) -> None:
    # the check above can fail: with the collector running, decoding this batch collects
    gc.collect()
    collections.clear()
    engine._process(batch, respond=True)
    assert collections


def test_a_collector_the_caller_disabled_stays_disabled(engine: Pipeline, batch: RecordBatch) -> None:
    gc.disable()
    try:
        engine.process(batch)
        assert not gc.isenabled()
    finally:
        gc.enable()
