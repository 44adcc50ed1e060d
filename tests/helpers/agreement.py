"""Holding the engine to the reference: on the shared specs (:func:`assert_agree`) or on specs of a test's own
(:func:`agreed_outcomes`)."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

import polars as pl
from polars.testing import assert_frame_equal

from tests.helpers.specs import SPECS
from transform_core import RecordBatch, load_spec
from transform_core.engine import BatchResult, Pipeline
from transform_core.reference import ReferencePipeline
from transform_core.tuning import Tuning

REASON = re.compile(r"^\$\S*: .+ \([A-Za-z0-9_]+\)$", re.S)


def batch_of(texts: Sequence[bytes], arrival_ms: Sequence[int | None] | None = None) -> RecordBatch:
    """A batch of the records ``texts`` (JSON text, base64-encoded here), ids ``r0``, ``r1``, …; no arrival times
    unless given."""
    return RecordBatch(
        record_ids=[f"r{i}" for i in range(len(texts))],
        data=[base64.b64encode(text).decode() for text in texts],
        arrival_ms=list(arrival_ms) if arrival_ms is not None else [None] * len(texts),
    )


def agreed_outcomes(engine: Pipeline, reference: ReferencePipeline, batch: RecordBatch) -> pl.DataFrame:
    """The engine's outcome frame for ``batch``, once checked equal to the reference's, reasons and every failing
    rule included."""
    return _agreed_result(engine, reference, batch).outcomes


def _agreed_result(engine: Pipeline, reference: ReferencePipeline, batch: RecordBatch) -> BatchResult:
    """The engine's result for ``batch``: outcomes, failing rules and enrichment misses checked against the reference."""
    result = engine.process(batch)
    assert_frame_equal(result.outcomes, reference.process(batch))
    assert_same_failures(result, reference, batch)
    assert result.enrich_missed == reference.enrich_missed(batch)
    return result


_PIPELINES: dict[tuple[str, Tuning | None], tuple[Pipeline, ReferencePipeline]] = {}


def pipelines(name: str, tuning: Tuning | None = None) -> tuple[Pipeline, ReferencePipeline]:
    """Engine (with ``tuning``, else the defaults) and reference for a shared spec, built once per test session."""
    if (name, tuning) not in _PIPELINES:
        spec = load_spec(SPECS[name])
        _PIPELINES[name, tuning] = (Pipeline(spec, tuning=tuning), ReferencePipeline(spec))
    return _PIPELINES[name, tuning]


def assert_agree(name: str, batch: RecordBatch, tuning: Tuning | None = None) -> pl.DataFrame:
    """The engine's outcome frame equals the reference's, reasons included, and so do every rejected record's
    failing rules; reasons are well-formed."""
    got = _agreed_result(*pipelines(name, tuning), batch)
    failed = got.outcomes.filter(pl.col("result") == "ProcessingFailed")
    assert failed["reason"].null_count() == 0
    for reason in failed["reason"].to_list():
        assert REASON.match(reason), reason
    assert got.outcomes.filter(pl.col("result") != "ProcessingFailed")["reason"].null_count() == got.ok + got.dropped
    return got.outcomes


def assert_same_failures(result: BatchResult, reference: ReferencePipeline, batch: RecordBatch) -> None:
    """Each rejected record's failing rules (:meth:`BatchResult.all_reasons`) are the reference's, its reason first;
    a record that is not rejected has none, from either (the listing and the validator agree on the verdict)."""
    for row, (outcome, reason) in enumerate(result.outcomes.select("result", "reason").iter_rows()):
        listed = result.all_reasons(row)
        payload = _payload(batch.data[row])
        if outcome != "ProcessingFailed":
            assert listed == [], (row, listed)
            if payload is not None:
                assert reference.failures(payload, batch.arrival_ms[row]) == [], row
            continue
        assert listed[0] == reason, (row, listed)
        if payload is not None:
            assert listed == reference.failures(payload, batch.arrival_ms[row]), row


def _payload(data: str) -> bytes | None:
    try:
        payload = base64.b64decode(data, validate=True)
    except ValueError:
        return None
    return payload if base64.b64encode(payload).decode() == data else None
