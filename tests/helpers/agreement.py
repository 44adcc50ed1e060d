"""Helpers for tests that hold the engine to the reference on specs of their own (``assert_agree`` in
``test_differential`` does it for the shared specs)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import polars as pl
from polars.testing import assert_frame_equal

from transform_core import RecordBatch
from transform_core.engine import Pipeline
from transform_core.reference import ReferencePipeline


def batch_of(texts: Sequence[bytes], arrival_ms: Sequence[int | None] | None = None) -> RecordBatch:
    """A batch of the records ``texts`` (JSON text, base64-encoded here), ids ``r0``, ``r1``, …; no arrival times
    unless given."""
    return RecordBatch(
        record_ids=[f"r{i}" for i in range(len(texts))],
        data=[base64.b64encode(text).decode() for text in texts],
        arrival_ms=list(arrival_ms) if arrival_ms is not None else [None] * len(texts),
    )


def agreed_outcomes(engine: Pipeline, reference: ReferencePipeline, batch: RecordBatch) -> pl.DataFrame:
    """The engine's outcome frame for ``batch``, once checked equal to the reference's (reasons aside)."""
    got = engine.process(batch).outcomes
    assert_frame_equal(got.drop("reason"), reference.process(batch).drop("reason"))
    return got
