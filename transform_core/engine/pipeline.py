"""The engine: a pipeline spec applied to whole batches.

A batch goes through the stages in turn: the decode (:mod:`~transform_core.engine.decode`: base64, UTF-8, strict
typed records), then the checks start on Polars' threads (:mod:`~transform_core.engine.checks`) while the screen
(:mod:`~transform_core.engine.screen`) minifies the text and finds the records the reference must judge; the main
query (:mod:`~transform_core.engine.outcome`) gives each record its result, data and partition keys, Python writes
the reasons of the records that fail, the reference implementation judges the referred records, and the response
(:mod:`transform_core.firehose.response`) is built as bytes. The engine's verdicts are the reference's, record for
record.
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import orjson
import polars as pl

from transform_core.engine.decode import DecodeState, decode_batch, decode_payloads
from transform_core.engine.failures import NO_FAILURES, first_reasons, rejected_rows
from transform_core.engine.outcome import OutcomePlan
from transform_core.engine.payloads import PayloadBatch
from transform_core.engine.screen import screen
from transform_core.errors import SpecError
from transform_core.firehose.batch import RecordBatch
from transform_core.firehose.dict_response import escape_bound, separator_bound
from transform_core.firehose.outcomes import DROPPED, FAILED, OK
from transform_core.firehose.response import LAMBDA_RESPONSE_LIMIT, build_response, entry_in_query
from transform_core.reference import ReferencePipeline
from transform_core.schema import compile_schema, rule_id
from transform_core.spec import PipelineSpec, load_spec
from transform_core.spec.bindings import bind_fields
from transform_core.tables import ReferenceTable, TableCache
from transform_core.tuning import Tuning

__all__ = ["BatchResult", "Pipeline", "load_pipeline"]

_log = logging.getLogger("transform_core")


class BatchResult(NamedTuple):
    """What one batch came to: the serialized Firehose response and the outcome frame.

    ``missed``: a Boolean column per reference table with ``on_missing: keep`` (named as the table), a row per
    record: an Ok record that table holds no row for, so its fields are null. ``enrich_missed`` counts them.
    """

    body: bytes
    outcomes: pl.DataFrame
    ok: int
    failed: int
    dropped: int
    shed: int
    rows_with_extras: tuple[int, ...] | None = None  # rows that may hold undeclared properties; None: any may
    missed: pl.DataFrame | None = None
    failures: Mapping[int, tuple[str, ...]] = NO_FAILURES  # by row: every rule a rejected record breaks, in order

    @property
    def enrich_missed(self) -> dict[str, int]:
        """Per table with ``on_missing: keep``, in spec order: the Ok records whose key it does not hold."""
        if self.missed is None:
            return {}
        return {column.name: int(column.sum()) for column in self.missed.iter_columns()}

    def all_reasons(self, row: int) -> list[str]:
        """Every rule the record in ``row`` breaks, its reason first (one for a record shed or not base64); empty
        for a record not rejected."""
        if row in self.failures:
            return list(self.failures[row])
        reason = self.outcomes["reason"][row]
        return [] if reason is None else [reason]

    def rule_counts(self) -> Counter[str]:
        """The rejected records by rule (``$.value|maximum``)."""
        return Counter(rule_id(r) for r in self.outcomes["reason"].drop_nulls().to_list())

    def top_reasons(self, n: int = 5) -> list[tuple[str, int]]:
        """The most frequent rejection rules with their counts."""
        return self.rule_counts().most_common(n)


def load_pipeline(spec: str | Any, *, tuning: Tuning | None = None) -> Pipeline:
    """Load a spec (a YAML/JSON path or a mapping) into a ready :class:`Pipeline`.

    Raises:
        SpecError: the spec, its schema or a reference table is invalid (file and key named).
    """
    return Pipeline(load_spec(spec), tuning=tuning)


class Pipeline:
    """A compiled pipeline; build once per process and reuse across (warm) invocations.

    ``tuning`` sets the speed thresholds (:class:`~transform_core.tuning.Tuning`); the defaults suit normal use.
    """

    def __init__(self, spec: PipelineSpec, *, tuning: Tuning | None = None) -> None:
        self.spec = spec
        self.tuning = tuning if tuning is not None else Tuning()
        self.schema = compile_schema(spec.schema, file=spec.schema_file)
        self.bindings = bind_fields(spec, self.schema)
        self.decode_state = DecodeState.for_schema(self.schema, self.tuning)
        self._cache = TableCache()
        self._reference: ReferencePipeline | None = None
        self._tables = self._current_tables()  # load now: a bad table fails at start-up
        self._keys = spec.partitioning.keys
        self._iceberg = spec.output.route  # None: Ok records carry their partition keys
        self._enriched = frozenset(name for table in spec.enrich for name in table.fields)

    def process(self, batch: RecordBatch, *, respond: bool = True, limit: int = LAMBDA_RESPONSE_LIMIT) -> BatchResult:
        """Run a batch through every stage; bad records never raise.

        Args:
            batch: the records.
            respond: build the Firehose response (``body``), within Lambda's 6 MB limit. Batch jobs
                pass False: no response is serialized and no record is shed for its size.
            limit: the response stays below this many bytes (Ok records past it are shed).
        """
        return self._paused_gc(batch, respond, limit)

    def _paused_gc(self, batch: RecordBatch | PayloadBatch, respond: bool, limit: int) -> BatchResult:
        if not gc.isenabled():
            return self._process(batch, respond, limit)
        # The cyclic GC is paused for the batch: the lists of a large batch (records, columns of values) would set
        # off collections that traverse every list and find nothing: the batch's objects are freed by reference
        # counting (a cycle made meanwhile waits for the next collection).
        gc.disable()
        try:
            return self._process(batch, respond, limit)
        finally:
            gc.enable()

    def _process(self, batch: RecordBatch | PayloadBatch, respond: bool, limit: int = LAMBDA_RESPONSE_LIMIT) -> BatchResult:
        tables, tuning = self._current_tables(), self.tuning
        source = batch.data_column()
        if isinstance(batch, PayloadBatch):  # bytes already: no base64 to decode
            decoded = decode_payloads(batch.payloads, self.schema, self.decode_state, tuning)
        else:
            decoded = decode_batch(source, self.schema, self.decode_state, tuning)
        # the checks run on Polars' threads while the screen works
        started = self._plan.start(decoded.records, decoded.ok, decoded.flags.non_ascii, batch.arrival_ms)
        screened = screen(decoded, self.schema, self.decode_state, self._enriched)
        entry = entry_in_query(self._keys, self._iceberg) if respond and len(batch) >= tuning.framed_response_from else None
        also = [] if entry is None else [entry]
        outcomes = self._plan.run(decoded, screened.text, started, batch.id_column(), source, also=also)
        entries = None if entry is None else outcomes.drop_in_place(entry.meta.output_name())
        missed = pl.DataFrame([outcomes.drop_in_place(column).alias(name) for name, column in self._plan.missed.items()])
        if screened.referred:
            outcomes, missed = self._judge_by_reference(batch, outcomes, missed, screened.referred, tables)
            entries = None  # the reference's verdicts change some rows' entries
        failures = NO_FAILURES
        if rejected_rows(outcomes):  # only a batch with rejected records orders their reasons
            outcomes, failures = first_reasons(self._referee(tables), outcomes, decoded.payloads, batch.arrival_ms)
        body, shed = b"", 0
        if respond:
            response = build_response(
                outcomes,
                source,
                self._keys,
                not_base64=decoded.not_base64,
                record_ids=batch.record_ids,
                entries=entries,
                tuning=tuning,
                iceberg=self._iceberg,
                limit=limit,
            )
            body, outcomes, shed = response.body, response.outcomes, response.shed
            if shed:  # a shed record is no longer Ok
                missed = missed.select(pl.all() & (outcomes["result"] == OK))
        result = outcomes["result"]
        failed, dropped = int((result == FAILED).sum()), int((result == DROPPED).sum())
        return BatchResult(
            body=body,
            outcomes=outcomes,
            ok=len(result) - failed - dropped,
            failed=failed,
            dropped=dropped,
            shed=shed,
            rows_with_extras=tuple(screened.rows_with_extras),
            missed=missed,
            failures=failures,
        )

    def process_firehose(self, event: Mapping[str, Any]) -> BatchResult:
        """Process a Firehose transformation event."""
        return self.process(RecordBatch.from_firehose_event(event))

    def process_firehose_bytes(self, body: bytes) -> BatchResult:
        """Process a Firehose transformation event given as its raw JSON bytes (custom runtimes)."""
        return self.process(RecordBatch.from_event_bytes(body))

    def process_payloads(self, payloads: pl.Series, record_ids: Sequence[str], arrival_ms: Sequence[int | None]) -> BatchResult:
        """Run records given as their bytes (:class:`~transform_core.engine.payloads.PayloadBatch`) through every
        stage, with no Firehose response; the result is :meth:`process`'s for the same records in base64.

        Raises:
            ValueError: the three arguments do not have one value per record, or ``payloads`` is not Binary or String.
        """
        batch = PayloadBatch(payloads=payloads, record_ids=list(record_ids), arrival_ms=list(arrival_ms))
        result = self._paused_gc(batch, False, LAMBDA_RESPONSE_LIMIT)
        return result._replace(outcomes=batch.with_sent_data(result.outcomes))

    def handle_firehose(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The Firehose response as a dict (the Lambda handler returns the bytes instead).

        A handler that returns it has the Lambda runtime serialize it (``json.dumps``: spaced separators, non-ASCII
        escaped), which makes it larger than the bytes: the response is built to stay under Lambda's 6 MB as
        ``json.dumps`` writes it, shedding the Ok records past that.
        """
        batch = RecordBatch.from_firehose_event(event)
        limit = LAMBDA_RESPONSE_LIMIT - separator_bound(len(batch), self._keys, self._iceberg)
        body = self.process(batch, limit=limit).body
        if escaped := escape_bound(body):  # shedding never adds non-ASCII bytes: a second run fits
            body = self.process(batch, limit=limit - escaped).body
        response: dict[str, Any] = orjson.loads(body)
        return response

    def _current_tables(self) -> tuple[ReferenceTable, ...]:
        try:
            tables = tuple(self._cache.get(t, k) for t, k in zip(self.spec.enrich, self.bindings.key_types, strict=True))
        except SpecError as err:
            if not hasattr(self, "_tables"):
                raise  # at start-up a bad table is fatal
            # mid-flight, a table being rewritten (or rewritten badly) must not fail every batch:
            # keep enriching with the last good tables, say so, and look again next batch
            _log.warning("reference table not reloaded, still using the previous one: %s", err)
            return self._tables
        if getattr(self, "_tables", None) != tables:
            self._tables = tables
            self._plan = OutcomePlan(self.spec, self.schema, self.bindings, tables, self.tuning)
            self._reference = None  # rebuilt lazily against the reloaded tables
        return tables

    def _referee(self, tables: tuple[ReferenceTable, ...]) -> ReferencePipeline:
        """The reference implementation with these tables, built on first use."""
        if self._reference is None:
            self._reference = ReferencePipeline(self.spec, tables, self.bindings)
        return self._reference

    def _judge_by_reference(
        self,
        batch: RecordBatch | PayloadBatch,
        outcomes: pl.DataFrame,
        missed: pl.DataFrame,
        referred: list[int],
        tables: tuple[ReferenceTable, ...],
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        reference = self._referee(tables)
        judged = [reference.process_record(batch.data[i], batch.arrival_ms[i]) for i in referred]
        rows = pl.Series(referred, dtype=pl.UInt32)
        parts = [o.partition or (None,) * len(self._keys) for o in judged]
        updates: dict[str, list[str | None]] = {
            "result": [o.result for o in judged],
            "data": [o.data for o in judged],
            "reason": [o.reason for o in judged],
            **{key: [p[k] for p in parts] for k, key in enumerate(self._keys)},
        }
        missed = missed.with_columns(
            missed[name].scatter(rows, pl.Series([name in o.missed for o in judged], dtype=pl.Boolean)) for name in missed.columns
        )
        return (
            outcomes.with_columns(
                outcomes[name].scatter(rows, pl.Series(values, dtype=pl.String)) for name, values in updates.items()
            ),
            missed,
        )
