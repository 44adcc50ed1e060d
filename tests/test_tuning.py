"""The same batch gives the same result either side of each threshold of :class:`~transform_core.tuning.Tuning`.

- From ``overlap_from`` records some Polars queries run alongside the decode, by Polars' threads; from
  ``split_base64_from`` the base64 is decoded in two halves, one by Polars' threads; from ``free_in_background_from``
  the decoded records are freed by the worker thread during the main query (so the reasons written after it must
  read only values extracted before).
- The text queries' second query (many rows with whitespace) starts when the decode, looking between chunks of
  records, finds the first done, or else when the flags are asked for; with few rows, Python searches instead.
- Below ``streaming_from`` rows the main query runs on Polars' in-memory engine, its expressions one after
  another; from there on the streaming engine splits the frame across the cores.
- Selects with fewer expressions than Polars' pool has threads are padded with constants (``outcome._in_sequence``):
  none with one thread, several with eight.
- From ``framed_response_from`` records the response's entries are computed by the main query (unless the
  reference judged some records) and joined in Polars; below, written by f-strings.

The Hypothesis batches of the differential tests are smaller, so here the thresholds are moved to make them cross.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from polars.testing import assert_frame_equal

from tests.helpers.agreement import assert_agree, pipelines
from tests.helpers.specs import SPECS
from tests.helpers.strategies import batches
from transform_core import Pipeline, RecordBatch
from transform_core.demo.generate import Payload, firehose_event, iot_payloads
from transform_core.engine import BatchResult
from transform_core.firehose.response import build_response
from transform_core.tuning import Tuning

DEFAULT = Tuning()
NEVER = 10**9


class Side(NamedTuple):
    """One side of a threshold: the engine's tuning, and Polars settings patched meanwhile (object, name, value)."""

    tuning: Tuning
    patches: tuple[tuple[object, str, object], ...] = ()


def assert_same_either_way(name: str, batch: RecordBatch, monkeypatch: pytest.MonkeyPatch, one: Side, other: Side) -> None:
    """The engine gives the same body and outcome frame with the tuning ``one`` as with ``other`` (a path taken only
    past some threshold, say), and with ``other`` agrees with the reference."""
    results = []
    for side in (one, other):
        engine, _ = pipelines(name, side.tuning)
        with monkeypatch.context() as patch:
            for target, attribute, value in side.patches:
                patch.setattr(target, attribute, value)
            results.append(engine.process(batch))
            if side is other:
                assert_agree(name, batch, side.tuning)
    assert results[1].body == results[0].body
    assert_frame_equal(results[1].outcomes, results[0].outcomes)
    assert_body_says_what_the_outcomes_say(engine, batch, results[1])


def assert_body_says_what_the_outcomes_say(engine: Pipeline, batch: RecordBatch, result: BatchResult) -> None:
    """The body is the response the general path (every row checked for escaping) writes for the outcome frame."""
    source, keys = pl.Series(batch.data, dtype=pl.String), engine.spec.partitioning.keys
    assert result.body == build_response(result.outcomes, source, keys).body


def test_entries_computed_by_the_query_give_way_to_the_references_verdicts() -> None:
    """A record the reference judges (a duplicate key here: the decode kept the last value and looked Ok) changes
    its entry after the main query computed the entries."""
    payloads = [p.data for p in iot_payloads(6, 0.0, seed=16)]
    first = json.loads(payloads[0])
    payloads[2] = payloads[0][:-1] + b',"device_id":' + json.dumps(first["device_id"]).encode() + b"}"
    batch = RecordBatch.from_firehose_event(firehose_event([Payload(p) for p in payloads]))
    tuning = Tuning(framed_response_from=2)
    engine, _ = pipelines("iot-example", tuning)
    result = engine.process(batch)
    assert result.outcomes["result"][2] == "ProcessingFailed"
    assert_body_says_what_the_outcomes_say(engine, batch, result)
    assert_agree("iot-example", batch, tuning)


# threshold -> (one side, the other)
SIDES: dict[str, tuple[Side, Side]] = {
    "overlap": (
        Side(Tuning(overlap_from=NEVER, free_in_background_from=NEVER, split_base64_from=NEVER)),
        Side(Tuning(overlap_from=1, free_in_background_from=1, split_base64_from=1)),
    ),
    "query engine": (Side(Tuning(streaming_from=NEVER)), Side(Tuning(streaming_from=0))),
    "padding": (Side(DEFAULT, ((pl, "thread_pool_size", lambda: 1),)), Side(DEFAULT, ((pl, "thread_pool_size", lambda: 8),))),
    "text flags": (
        Side(Tuning(overlap_from=1, decode_chunk=NEVER)),  # one chunk: the second query starts when asked for
        Side(Tuning(overlap_from=1, decode_chunk=1, spaced_search_in_polars_above=0)),
    ),
    # entries computed by the streaming query, as for a full buffer (the framing needs two entries or more)
    "response": (Side(Tuning(framed_response_from=NEVER)), Side(Tuning(framed_response_from=2, streaming_from=0))),
    "response in memory": (Side(Tuning(framed_response_from=NEVER)), Side(Tuning(framed_response_from=2))),
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


@pytest.mark.parametrize(("records", "engine"), [(DEFAULT.streaming_from - 1, "in-memory"), (DEFAULT.streaming_from, "auto")])
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


@pytest.mark.parametrize(("field", "value"), [("overlap_from", -1), ("streaming_from", 1.5), ("decode_chunk", 0)])
def test_a_threshold_that_cannot_be_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"Tuning.{field}"):
        Tuning(**{field: value})  # type: ignore[arg-type]


def test_a_pipeline_runs_with_the_tuning_it_was_given() -> None:
    tuning = Tuning(streaming_from=5)
    engine, _ = pipelines("iot-example", tuning)
    assert engine.tuning is tuning
    assert pipelines("iot-example")[0].tuning == DEFAULT
