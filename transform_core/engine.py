"""The vectorized engine: a pipeline spec applied to whole batches.

Stages, each its own module: decode (base64, UTF-8, strict typed records) → format rules →
drop rule → event time and partition keys → enrichment → outcome frame → Firehose response.
Records the vectorized path marks doubtful are judged by the reference implementation, so the
engine's verdicts are the reference's verdicts, record for record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson
import polars as pl

from transform_core.batch import DROPPED, FAILED, OK, RecordBatch, outcome_schema
from transform_core.bindings import bind_fields
from transform_core.decode import decode_batch, extract
from transform_core.enrich import enrichment_suffixes
from transform_core.firehose_response import build_response
from transform_core.partition import event_time_micros, partition_columns
from transform_core.reference import ReferencePipeline
from transform_core.rules import apply_format_rules
from transform_core.schema import compile_schema, rule_id
from transform_core.spec import PipelineSpec, load_spec
from transform_core.tables import ReferenceTable, TableCache

__all__ = ["BatchResult", "Pipeline", "load_pipeline"]

_DROP = "\x00drop"  # placeholder reason: later stages skip the record, the outcome says Dropped


class BatchResult(NamedTuple):
    """What one batch came to: the serialized Firehose response and the outcome frame."""

    body: bytes
    outcomes: pl.DataFrame
    ok: int
    failed: int
    dropped: int
    shed: int

    def top_reasons(self, n: int = 5) -> list[tuple[str, int]]:
        """The most frequent rejection rules (``$.value|maximum``) with their counts."""
        reasons = self.outcomes["reason"].drop_nulls().to_list()
        return Counter(rule_id(r) for r in reasons).most_common(n)


def load_pipeline(spec: str | Any) -> Pipeline:
    """Load a spec (a YAML/JSON path or a mapping) into a ready :class:`Pipeline`.

    Raises:
        SpecError: the spec, its schema or a reference table is invalid (file and key named).
    """
    return Pipeline(load_spec(spec))


class Pipeline:
    """A compiled pipeline; build once per process and reuse across (warm) invocations."""

    def __init__(self, spec: PipelineSpec) -> None:
        self.spec = spec
        self.schema = compile_schema(spec.schema, file=spec.schema_file)
        self.bindings = bind_fields(spec, self.schema)
        self._cache = TableCache()
        self._reference: ReferencePipeline | None = None
        self._tables = self._current_tables()  # load now: a bad table fails at start-up
        self._keys = spec.partitioning.keys
        self._enriched = frozenset(name for table in spec.enrich for name in table.fields)
        drop = spec.drop.values if spec.drop else ()
        self._drop_strings = {v for v in drop if isinstance(v, str)}
        self._drop_numbers = {v for v in drop if not isinstance(v, str)}

    def process(self, batch: RecordBatch) -> BatchResult:
        """Run a batch through every stage; bad records never raise."""
        tables = self._current_tables()
        decoded = decode_batch(batch.data, self.schema, self._enriched)
        records, reasons = decoded.records, decoded.reasons
        apply_format_rules(records, reasons, self.schema)
        self._mark_dropped(records, reasons)
        event_time = self.bindings.event_time
        micros = event_time_micros(
            extract(records, event_time.attrs), batch.arrival_ms, self.spec.event_time, event_time.path, reasons
        )
        suffixes = [
            enrichment_suffixes(extract(records, key.attrs), table, key, reasons)
            for table, key in zip(tables, self.bindings.enrich_keys, strict=True)
        ]
        outcomes = self._outcomes(batch, decoded.text, reasons, micros, suffixes)
        if decoded.doubtful.any():
            outcomes = self._judge_by_reference(batch, outcomes, decoded.doubtful, tables)
        response = build_response(outcomes, pl.Series(batch.data, dtype=pl.String), self._keys)
        counts = response.outcomes["result"].value_counts()
        count = dict(zip(counts["result"].to_list(), counts["count"].to_list(), strict=True))
        return BatchResult(
            body=response.body,
            outcomes=response.outcomes,
            ok=count.get(OK, 0),
            failed=count.get(FAILED, 0),
            dropped=count.get(DROPPED, 0),
            shed=response.shed,
        )

    def process_firehose(self, event: Mapping[str, Any]) -> BatchResult:
        """Process a Firehose transformation event."""
        return self.process(RecordBatch.from_firehose_event(event))

    def process_firehose_bytes(self, body: bytes) -> BatchResult:
        """Process a Firehose transformation event given as its raw JSON bytes (custom runtimes)."""
        return self.process(RecordBatch.from_event_bytes(body))

    def handle_firehose(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The Firehose response as a dict (the Lambda handler returns the bytes instead)."""
        response: dict[str, Any] = orjson.loads(self.process_firehose(event).body)
        return response

    def _current_tables(self) -> tuple[ReferenceTable, ...]:
        tables = tuple(self._cache.get(t, k) for t, k in zip(self.spec.enrich, self.bindings.key_types, strict=True))
        if getattr(self, "_tables", None) != tables:
            self._tables = tables
            self._reference = None  # rebuilt lazily against the reloaded tables
        return tables

    def _mark_dropped(self, records: list[Any], reasons: list[str | None]) -> None:
        if self.bindings.drop is None:
            return
        strings, numbers = self._drop_strings, self._drop_numbers
        for i, value in enumerate(extract(records, self.bindings.drop.attrs)):
            if reasons[i] is None and (
                (type(value) is str and value in strings) or (type(value) in (int, float) and value in numbers)
            ):
                reasons[i] = _DROP

    def _outcomes(
        self, batch: RecordBatch, text: pl.Series, reasons: list[str | None], micros: pl.Series, suffixes: list[pl.Series]
    ) -> pl.DataFrame:
        reason = pl.Series("reason", reasons, dtype=pl.String)
        result = (
            pl.when(pl.col("reason").is_null())
            .then(pl.lit(OK))
            .when(pl.col("reason") == _DROP)
            .then(pl.lit(DROPPED))
            .otherwise(pl.lit(FAILED))
        )
        enriched = pl.concat_str([pl.col("_text").str.head(-1), *[pl.lit(s) for s in suffixes], pl.lit("}\n")])
        ok = pl.col("result") == OK
        frame = pl.DataFrame(
            [
                pl.Series("record_id", batch.record_ids, dtype=pl.String),
                reason,
                text.alias("_text"),
                pl.Series("_source", batch.data, dtype=pl.String),
            ]
        ).with_columns(result.alias("result"))
        frame = frame.with_columns(
            pl.when(ok).then(enriched.str.encode("base64")).otherwise(pl.col("_source")).alias("data"),
            pl.when(pl.col("reason") != _DROP).then(pl.col("reason")).alias("reason"),
            *[pl.when(ok).then(pl.lit(col)).alias(col.name) for col in partition_columns(micros, self._keys)],
        )
        return frame.select(outcome_schema(self._keys).keys())

    def _judge_by_reference(
        self, batch: RecordBatch, outcomes: pl.DataFrame, doubtful: pl.Series, tables: tuple[ReferenceTable, ...]
    ) -> pl.DataFrame:
        if self._reference is None:
            self._reference = ReferencePipeline(self.spec, tables, self.bindings)
        rows = doubtful.arg_true()
        judged = [self._reference.process_record(batch.data[i], batch.arrival_ms[i]) for i in rows.to_list()]
        parts = [o.partition or (None,) * len(self._keys) for o in judged]
        updates: dict[str, list[str | None]] = {
            "result": [o.result for o in judged],
            "data": [o.data for o in judged],
            "reason": [o.reason for o in judged],
            **{key: [p[k] for p in parts] for k, key in enumerate(self._keys)},
        }
        return outcomes.with_columns(
            outcomes[name].scatter(rows, pl.Series(values, dtype=pl.String)) for name, values in updates.items()
        )
