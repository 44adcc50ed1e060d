"""One chunk of a batch job: through the engine, what the lake refuses of it, and what it adds to the run's counts.

``reprocess`` and ``spark-reprocess``'s executors run each chunk of an input file the same way and count it the same
way, so both report the same summary for the same input.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import polars as pl

from transform_core.engine.payloads import PayloadBatch
from transform_core.firehose.outcomes import OK
from transform_core.lake.rows import ROW, LakeRows
from transform_core.lake.writer import sent_payloads
from transform_core.schema import rule_id

if TYPE_CHECKING:
    from transform_core.engine import BatchResult, Pipeline
    from transform_core.firehose.batch import RecordBatch
    from transform_core.jobs.reprocess import ReprocessSummary

__all__ = ["count_chunk", "enrich_missed_kept", "lake_refusals", "process_chunk"]

_NOW = datetime(1970, 1, 1, tzinfo=UTC)  # a dry run's rows are counted, never stored: any ingest time does


def process_chunk(pipeline: Pipeline, batch: RecordBatch | PayloadBatch) -> BatchResult:
    """The batch through the engine, with no Lambda response (so no 6 MB limit); lines read as bytes go in as bytes."""
    if isinstance(batch, PayloadBatch):
        return pipeline.process_payloads(batch.payloads, batch.record_ids, batch.arrival_ms)
    return pipeline.process(batch, respond=False)


def lake_refusals(rows: LakeRows, batch: RecordBatch | PayloadBatch, result: BatchResult) -> list[tuple[int, str]]:
    """The Ok records the lake would refuse (``(row, reason)``), for a dry run to count what a real run writes."""
    ok = result.outcomes.with_row_index(ROW).filter(pl.col("result") == OK)
    if not ok.height:
        return []
    split = rows.split(ok, "dry-run", _NOW, result.rows_with_extras, payloads=sent_payloads(batch))
    return list(split.refused)


def enrich_missed_kept(result: BatchResult, refused: list[tuple[int, str]]) -> dict[str, int]:
    """The batch's enrichment misses among the Ok records the lake took (a refused record is rejected)."""
    missed: dict[str, int] = result.enrich_missed
    if refused and missed and result.missed is not None:
        gone = result.missed[[row for row, _ in refused]]
        missed = {table: n - int(gone[table].sum()) for table, n in missed.items()}
    return missed


def count_chunk(
    summary: ReprocessSummary, records: int, nbytes: int, result: BatchResult, refused: list[tuple[int, str]]
) -> None:
    """Add a chunk of ``records`` records (``nbytes`` of lines) to ``summary``; ``refused``: the Ok records the lake
    refused, rejected with rule ``lake_exact``."""
    summary.records += records
    summary.ok += result.ok - len(refused)
    summary.failed += result.failed + len(refused)
    summary.dropped += result.dropped
    summary.nbytes += nbytes
    summary.reasons.update(result.rule_counts())
    summary.reasons.update(rule_id(reason) for _, reason in refused)
    summary.enrich_missed.update(enrich_missed_kept(result, refused))
