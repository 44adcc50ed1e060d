"""The same batch gives the same result either side of each threshold that changes how the engine runs it.

- From ``OVERLAP_FROM`` records some Polars queries run alongside the decode, by Polars' threads or the worker
  thread; from 1,000 records the base64 is decoded in two halves, one by the worker, and the decoded records are
  freed there during the main query (so the reasons written after it must read only values extracted before).
- The text flags' second query (many rows with whitespace) starts when the decode, polling between chunks of
  records, finds the first done, or else when the flags are asked for.
- Below ``_STREAMING_FROM`` rows the main query runs on Polars' in-memory engine, its expressions one after
  another; from there on the streaming engine splits the frame across the cores.
- Selects with fewer expressions than Polars' pool has threads are padded with constants (``checks._in_sequence``):
  none with one thread, several with eight.
- From ``firehose_response._FRAMED_FROM`` records the response's entries are computed by the main query (unless
  the reference judged some records) and joined in Polars; below, written by f-strings.

The Hypothesis batches of the differential tests are smaller, so here the thresholds are moved to make them cross.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from polars.testing import assert_frame_equal

from tests.helpers.agreement import assert_agree, pipelines
from tests.helpers.specs import SPECS
from tests.helpers.strategies import batches
from transform_core import Pipeline, RecordBatch
from transform_core.demo.generate import Payload, firehose_event, iot_payloads
from transform_core.engine import BatchResult, checks, decode
from transform_core.engine import overlap as background
from transform_core.firehose import response as firehose_response
from transform_core.firehose.response import build_response

Setting = tuple[object, str, object]  # (module, attribute, value)


def assert_same_either_way(
    name: str, batch: RecordBatch, monkeypatch: pytest.MonkeyPatch, one: list[Setting], other: list[Setting]
) -> None:
    """The engine gives the same body and outcome frame with the module settings ``one`` as with ``other`` (a path
    taken only past some threshold, say), and with ``other`` agrees with the reference."""
    engine, _ = pipelines(name)
    results = []
    for settings_ in (one, other):
        with monkeypatch.context() as patch:
            for module, attribute, value in settings_:
                patch.setattr(module, attribute, value)
            results.append(engine.process(batch))
            if settings_ is other:
                assert_agree(name, batch)
    assert results[1].body == results[0].body
    assert_frame_equal(results[1].outcomes, results[0].outcomes)
    assert_body_says_what_the_outcomes_say(engine, batch, results[1])


def assert_body_says_what_the_outcomes_say(engine: Pipeline, batch: RecordBatch, result: BatchResult) -> None:
    """The body is the response the general path (every row checked for escaping) writes for the outcome frame."""
    source, keys = pl.Series(batch.data, dtype=pl.String), engine.spec.partitioning.keys
    assert result.body == build_response(result.outcomes, source, keys).body


def test_entries_computed_by_the_query_give_way_to_the_references_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record the reference judges (a duplicate key here: the decode kept the last value and looked Ok) changes
    its entry after the main query computed the entries."""
    payloads = [p.data for p in iot_payloads(6, 0.0, seed=16)]
    first = json.loads(payloads[0])
    payloads[2] = payloads[0][:-1] + b',"device_id":' + json.dumps(first["device_id"]).encode() + b"}"
    batch = RecordBatch.from_firehose_event(firehose_event([Payload(p) for p in payloads]))
    monkeypatch.setattr(firehose_response, "_FRAMED_FROM", 2)
    engine, _ = pipelines("iot-example")
    result = engine.process(batch)
    assert result.outcomes["result"][2] == "ProcessingFailed"
    assert_body_says_what_the_outcomes_say(engine, batch, result)
    assert_agree("iot-example", batch)


_OVERLAP = [(background, "OVERLAP_FROM"), (background, "RELEASE_FROM"), (decode, "_SPLIT_BASE64_FROM")]
# threshold -> (settings on one side, settings on the other)
SIDES: dict[str, tuple[list[Setting], list[Setting]]] = {
    "overlap": ([(m, a, 10**9) for m, a in _OVERLAP], [(m, a, 1) for m, a in _OVERLAP]),
    "query engine": ([(checks, "_STREAMING_FROM", 10**9)], [(checks, "_STREAMING_FROM", 0)]),
    "padding": ([(pl, "thread_pool_size", lambda: 1)], [(pl, "thread_pool_size", lambda: 8)]),
    "text flags": (
        [(background, "OVERLAP_FROM", 1), (decode._TextFlags, "poll", lambda self: None)],
        [(background, "OVERLAP_FROM", 1), (decode, "_YIELD_EVERY", 1), (decode, "_FEW_BLANK_ROWS", 0)],
    ),
    # entries computed by the streaming query, as for a full buffer (the framing needs two entries or more)
    "response": (
        [(firehose_response, "_FRAMED_FROM", 10**9)],
        [(firehose_response, "_FRAMED_FROM", 2), (checks, "_STREAMING_FROM", 0)],
    ),
    "response in memory": ([(firehose_response, "_FRAMED_FROM", 10**9)], [(firehose_response, "_FRAMED_FROM", 2)]),
}


@pytest.mark.parametrize("threshold", sorted(set(SIDES) - {"response in memory"}))
@pytest.mark.parametrize("name", sorted(SPECS))
@settings(
    max_examples=30, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
)
@given(batch=batches())
def test_drawn_batches_agree_either_side(name: str, threshold: str, batch: RecordBatch, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_same_either_way(name, batch, monkeypatch, *SIDES[threshold])


@pytest.mark.parametrize(
    ("threshold", "seed"), [("overlap", 11), ("query engine", 12), ("response", 14), ("response in memory", 15)]
)
def test_a_generated_batch_agrees_either_side(threshold: str, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = RecordBatch.from_firehose_event(firehose_event(iot_payloads(600, 0.2, seed=seed)))
    assert_same_either_way("iot-example", batch, monkeypatch, *SIDES[threshold])


@pytest.mark.parametrize(("records", "engine"), [(checks._STREAMING_FROM - 1, "in-memory"), (checks._STREAMING_FROM, "auto")])
def test_the_batch_size_picks_the_engine(records: int, engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline, _ = pipelines("iot-example")
    engines: list[str] = []
    collect = pl.LazyFrame.collect

    def spy(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> pl.DataFrame:
        if "result" in self.collect_schema():  # the main query (the text flags and the checks run as well)
            engines.append(kwargs.get("engine", "auto"))
        frame: pl.DataFrame = collect(self, *args, **kwargs)
        return frame

    batch = RecordBatch.from_firehose_event(firehose_event(iot_payloads(records, 0.0, seed=13)))
    monkeypatch.setattr(pl.LazyFrame, "collect", spy)
    pipeline.process(batch)
    assert engines == [engine]
