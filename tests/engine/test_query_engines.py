"""The main query gives the same frame whichever Polars engine runs it.

Below ``_STREAMING_FROM`` rows the in-memory engine runs the query's expressions one after another; from there on
the streaming engine splits the frame across the cores. The Hypothesis batches are smaller than the threshold, so
here it is moved to make them take both engines.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from tests.engine.strategies import batches
from tests.engine.test_differential import SPECS, assert_same_either_way, pipelines
from transform_core import RecordBatch, checks
from transform_core.generate import firehose_event, iot_payloads


def _same_on_both_engines(name: str, batch: RecordBatch, monkeypatch: pytest.MonkeyPatch) -> None:
    in_memory, streaming = [(checks, "_STREAMING_FROM", 10**9)], [(checks, "_STREAMING_FROM", 0)]
    assert_same_either_way(name, batch, monkeypatch, in_memory, streaming)


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(
    max_examples=30, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
)
@given(batch=batches())
def test_drawn_batches_agree_on_both_engines(name: str, batch: RecordBatch, monkeypatch: pytest.MonkeyPatch) -> None:
    _same_on_both_engines(name, batch, monkeypatch)


def test_a_generated_batch_agrees_on_both_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = RecordBatch.from_firehose_event(firehose_event(iot_payloads(600, 0.2, seed=12)))
    _same_on_both_engines("iot-example", batch, monkeypatch)


@pytest.mark.parametrize(("records", "engine"), [(checks._STREAMING_FROM - 1, "in-memory"), (checks._STREAMING_FROM, "auto")])
def test_the_batch_size_picks_the_engine(records: int, engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline, _ = pipelines("iot-example")
    engines: list[str] = []
    collect = pl.LazyFrame.collect

    def spy(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> pl.DataFrame:
        engines.append(kwargs.get("engine", "auto"))
        frame: pl.DataFrame = collect(self, *args, **kwargs)
        return frame

    batch = RecordBatch.from_firehose_event(firehose_event(iot_payloads(records, 0.0, seed=13)))
    monkeypatch.setattr(pl.LazyFrame, "collect", spy)
    pipeline.process(batch)
    assert engines == [engine]
