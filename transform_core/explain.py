"""One record explained: its outcome, every rule it fails, the enrichment it gets, its partition and its output.

The outcome, the deciding reason, the partition and the output are the engine's (:func:`load_pipeline`), so they are
what Lambda and ``reprocess`` make of the record. The list of failing rules comes from the reference implementation,
which checks a record rule by rule; the engine's deciding reason is always first. The enrichment is looked up in the
spec's reference tables for any record that is a JSON object, rejected ones included, so a key that is not in a table
shows as a miss.

:func:`read_record` takes what an operator has at hand: a record's JSON text, a line of Firehose's
``processing-failed/`` output or of transform-core's ``errors/`` output (its ``rawData`` is the record), or the
base64 ``rawData`` itself.
"""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass
from typing import Any

import orjson

from transform_core.firehose.outcomes import OK, Result
from transform_core.reference import ReferencePipeline, canonical_base64, value_at
from transform_core.schema import rule_id, split_reason

__all__ = ["Explanation", "Failure", "Lookup", "RecordInput", "explain", "failing_reasons", "read_record", "with_deciding"]


@dataclass(frozen=True, slots=True)
class RecordInput:
    """One record to explain: its base64 data, its arrival time, and what it was read from (``record``,
    ``processing-failed``, ``errors`` or ``base64``)."""

    data: str
    arrival_ms: int | None
    origin: str


@dataclass(frozen=True, slots=True)
class Failure:
    """A rule the record fails."""

    rule: str  # $.value|maximum
    path: str  # $.value
    message: str  # must be at most 1000


@dataclass(frozen=True, slots=True)
class Lookup:
    """One reference table's lookup: the key the record holds and the fields it gets (None: not in the table)."""

    table: str
    key_field: str
    key: Any
    fields: dict[str, Any] | None
    on_missing: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """What the pipeline makes of one record."""

    outcome: Result
    failures: tuple[Failure, ...]  # the first decides the outcome
    enrichment: tuple[Lookup, ...]  # empty when the record is not a JSON object
    partition: dict[str, str] | None  # Ok records only
    output: str | None  # the Ok record as the pipeline returns it (enriched, minified)

    def as_dict(self) -> dict[str, Any]:
        """The explanation as JSON-ready values."""
        return {
            "outcome": self.outcome,
            "failures": [{"rule": f.rule, "path": f.path, "message": f.message} for f in self.failures],
            "enrichment": [
                {"table": e.table, "key_field": e.key_field, "key": e.key, "found": e.fields is not None, "fields": e.fields}
                for e in self.enrichment
            ],
            "partition": self.partition,
            "output": None if self.output is None else orjson.loads(self.output),
        }


def read_record(raw: bytes) -> RecordInput:
    """The record ``raw`` holds: gzip or not; a ``processing-failed`` or ``errors`` line replays its ``rawData``;
    anything else is the record's own bytes (JSON or not: the pipeline judges it)."""
    from transform_core.jobs.kinds import parse_object, replay

    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    raw = raw.removeprefix(b"\xef\xbb\xbf").strip(b" \t\r\n")
    found = replay(parse_object(raw), None) if b'"rawData"' in raw else None
    if found is not None:
        return RecordInput(found.data, found.arrival, found.kind)
    return RecordInput(base64.b64encode(raw).decode("ascii"), None, "record")


def explain(pipeline: Any, record: RecordInput) -> Explanation:
    """Run one record through ``pipeline`` (a :class:`~transform_core.engine.Pipeline`) and the reference."""
    from transform_core.firehose.batch import RecordBatch

    result = pipeline.process(RecordBatch(["explain"], [record.data], [record.arrival_ms]), respond=False)
    row = result.outcomes.row(0, named=True)
    reference = ReferencePipeline(pipeline.spec)
    deciding = row["reason"]
    reasons = with_deciding(deciding, failing_reasons(reference, record.data, record.arrival_ms)) if deciding else []
    failures = tuple(Failure(rule_id(r), *split_reason(r)[:2]) for r in reasons)
    ok = row["result"] == OK
    return Explanation(
        outcome=row["result"],
        failures=failures,
        enrichment=_lookups(reference, record.data),
        partition={key: row[key] for key in pipeline.spec.partitioning.keys} if ok else None,
        output=base64.b64decode(row["data"]).decode() if ok else None,
    )


def failing_reasons(reference: ReferencePipeline, data: str, arrival_ms: int | None) -> list[str]:
    """Every reason the reference finds against a record (base64 ``data``), in the order of docs/spec.md; empty when
    it passes. Data that is not canonical base64 breaks that one rule."""
    payload = canonical_base64(data)
    if payload is None:
        reason = reference.process_record(data, arrival_ms).reason
        return [] if reason is None else [reason]
    return reference.failures(payload, arrival_ms)


def with_deciding(deciding: str, reasons: list[str]) -> list[str]:
    """The engine's deciding reason, then the reference's others: the reference's first is the same failure (the
    engine's verdicts are the reference's), perhaps worded otherwise; a lake's ``lake_exact`` has no other."""
    return [deciding, *(reason for reason in reasons[1:] if reason != deciding)]


def _lookups(reference: ReferencePipeline, data: str) -> tuple[Lookup, ...]:
    """Each reference table's lookup of the record's key, when the record is a JSON object."""
    payload = canonical_base64(data)
    try:
        value = orjson.loads(payload) if payload is not None else None
    except orjson.JSONDecodeError:
        return ()
    if not isinstance(value, dict):
        return ()
    lookups = []
    for table in reference.tables:
        key = value_at(value, table.spec.record_key)
        texts = table.texts_for(key)
        fields = (
            None if texts is None else {name: orjson.loads(text) for name, text in zip(table.spec.fields, texts, strict=True)}
        )
        lookups.append(Lookup(table.spec.name, table.spec.record_key, key, fields, table.spec.on_missing))
    return tuple(lookups)
