"""Executor side of :func:`~transform_core.adapters.spark.apply_pipeline`: Arrow batches in, one outcome row per record out.

Each Arrow batch ``mapInArrow`` hands over is one engine call, exactly as on one machine: raw payloads go in as their
bytes (``Pipeline.process_payloads``: no base64 encode for the engine to decode again), base64 ones as a
:class:`~transform_core.firehose.batch.RecordBatch`. The Ok rows become typed lake rows
(:class:`~transform_core.lake.rows.LakeRows`), and every other record keeps its id, result and reason, so no record
goes missing between input and output.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import polars as pl
import pyarrow as pa

from transform_core.adapters.spark._bundle import Loaded, PipelineBundle, load
from transform_core.adapters.spark._types import arrow_schema
from transform_core.engine import BatchResult
from transform_core.firehose.batch import RecordBatch, plausible_arrival
from transform_core.firehose.outcomes import FAILED, OK
from transform_core.lake.columns import BATCH_ID, INGESTED_AT, SOURCE_RECORD_ID, UTC_MICROS
from transform_core.lake.rows import ROW
from transform_core.schema import rule_id

__all__ = [
    "ARRIVAL",
    "BLANK",
    "BLANK_LINES",
    "INPUT",
    "MISSED",
    "OUTCOME",
    "RAW_DATA",
    "REASON",
    "REASONS",
    "RESULT",
    "RULE",
    "FramePlan",
    "OutcomeRun",
    "outcome_batches",
]

RESULT, REASON, RULE, RAW_DATA, ARRIVAL = "_result", "_reason", "_rule", "_raw_data", "_arrival_ms"
MISSED, BLANK_LINES, REASONS = "_missed", "_blank_lines", "_reasons"
#: Columns an outcome row has besides the lake columns (null where they do not apply). ``_missed``: an Ok record's
#: reference tables with ``on_missing: keep`` that hold no row for its key; ``_reasons``: every rule a rejected record
#: breaks, its ``_reason`` first, as the lake writer's error lines list them.
OUTCOME: dict[str, pl.DataType] = {
    RESULT: pl.String(),
    REASON: pl.String(),
    RULE: pl.String(),
    RAW_DATA: pl.String(),
    ARRIVAL: pl.Int64(),
    MISSED: pl.List(pl.String()),
    BLANK_LINES: pl.Int64(),
    REASONS: pl.List(pl.String()),
}
#: The ``_result`` of a row that is no record: the count of blank lines (``_blank_lines``) input files held.
BLANK = "blank lines"
#: The columns the driver hands each executor: the record's id, its payload, its arrival time in epoch ms.
INPUT = ("record_id", "data", "arrival_ms")


@dataclass(frozen=True, kw_only=True)
class FramePlan:
    """What the executor needs to know besides the pipeline."""

    base64: bool  # the payload column holds base64 text (else raw bytes or text, which the engine takes as they are)
    batch_id: str  # the lake's _batch_id
    ingested_at: datetime  # the lake's _ingested_at, one value for the whole job


def outcome_columns(lake: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    """The columns of an outcome row: the lake columns, then :data:`OUTCOME`."""
    return {**lake, **OUTCOME}


def outcome_batches(bundle: PipelineBundle, plan: FramePlan, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function: each input batch through the engine, as one outcome row per record."""
    run = OutcomeRun(bundle, plan)
    for batch in batches:
        if not batch.num_rows:
            continue
        record_id, data, arrival = (cast(pl.DataFrame, pl.from_arrow(batch)).get_column(name) for name in INPUT)
        ids = record_id.fill_null("").to_list()
        arrival_ms = [plausible_arrival(ms) for ms in arrival.to_list()]  # the bounds RecordBatch applies to Firehose's
        if plan.base64:  # a null payload is a record too: the engine rejects it
            yield from run.arrow(RecordBatch(record_ids=ids, data=data.fill_null("").to_list(), arrival_ms=arrival_ms))
        else:
            yield from run.arrow_payloads(data, ids, arrival_ms)


class OutcomeRun:
    """One executor task's outcomes: the process's pipeline (loaded on first use) applied batch by batch."""

    def __init__(self, bundle: PipelineBundle, plan: FramePlan) -> None:
        self.loaded = load(bundle)
        self.plan = plan
        self.dtypes = outcome_columns(self.loaded.columns.dtypes)
        self.schema = arrow_schema(self.dtypes)

    def arrow(self, batch: RecordBatch) -> list[pa.RecordBatch]:
        """The batch's outcome rows as Arrow batches of :attr:`schema` (Spark takes 32-bit offsets only)."""
        result = self.loaded.pipeline.process(batch, respond=False)
        return self._batches(_outcomes(self.loaded, self.plan, result, batch.arrival_ms, batch.data_column(), self.dtypes))

    def arrow_payloads(self, payloads: pl.Series, record_ids: list[str], arrival_ms: list[int | None]) -> list[pa.RecordBatch]:
        """:meth:`arrow` for records given as their bytes (Binary, or String read as UTF-8; null: empty)."""
        result = self.loaded.pipeline.process_payloads(payloads, record_ids, arrival_ms)
        sent = payloads.cast(pl.Binary).fill_null(b"").bin.encode("base64")  # for the lake rows' text as sent
        return self._batches(_outcomes(self.loaded, self.plan, result, arrival_ms, sent, self.dtypes))

    def blank_lines(self, lines: int) -> list[pa.RecordBatch]:
        """A row that is no record, counting ``lines`` blank lines (:data:`BLANK`)."""
        row = pl.DataFrame({RESULT: [BLANK], BLANK_LINES: [lines]})
        return self._batches(row.select(_as(self.dtypes, set(row.columns))))

    def _batches(self, frame: pl.DataFrame) -> list[pa.RecordBatch]:
        batches: list[pa.RecordBatch] = frame.to_arrow().cast(self.schema).to_batches()
        return batches


def _outcomes(
    loaded: Loaded,
    plan: FramePlan,
    result: BatchResult,
    arrival_ms: list[int | None],
    sent: pl.Series,
    dtypes: dict[str, pl.DataType],
) -> pl.DataFrame:
    """One outcome row per record of ``result``; ``sent``: each payload as received, in base64."""
    outcomes = result.outcomes.with_row_index(ROW)
    ok = outcomes.filter(pl.col("result") == OK)
    parts = []
    if ok.height:
        split = loaded.rows.split(ok, plan.batch_id, plan.ingested_at, result.rows_with_extras, payloads=sent)
        refused_rows = pl.Series([row for row, _ in split.refused], dtype=pl.UInt32)
        stored = ok.get_column(ROW).filter(~ok.get_column(ROW).is_in(refused_rows.implode()))
        parts.append(split.frame.with_columns(pl.lit(OK).alias(RESULT), _missed(result.missed, stored)))
        if split.refused:  # Ok for the engine, but not storable exactly: rejected, with the payload as received
            refused = pl.col(ROW).is_in(refused_rows.implode())
            reasons = dict(split.refused)
            outcomes = outcomes.with_columns(
                pl.when(refused).then(pl.lit(FAILED)).otherwise(pl.col("result")).alias("result"),
                pl.when(refused)
                .then(pl.col(ROW).replace_strict(reasons, default=None))
                .otherwise(pl.col("reason"))
                .alias("reason"),
                pl.when(refused).then(sent).otherwise(pl.col("data")).alias("data"),
            )
    rest = outcomes.filter(pl.col("result") != OK)
    if rest.height:
        failed = pl.col("result") == FAILED
        firsts: list[str | None] = rest.get_column("reason").to_list()
        rules = [None if reason is None else rule_id(reason) for reason in firsts]
        # a record the lake refused is Ok to the engine, which lists no failures for it: its one reason
        listed = [
            list(result.failures.get(row, ())) or (None if reason is None else [reason])
            for row, reason in zip(rest.get_column(ROW).to_list(), firsts, strict=True)
        ]
        arrivals = pl.Series(ARRIVAL, arrival_ms, dtype=pl.Int64).gather(rest.get_column(ROW))
        parts.append(
            rest.with_columns(arrivals).select(
                pl.col("record_id").alias(SOURCE_RECORD_ID),
                pl.col("result").alias(RESULT),
                pl.col("reason").alias(REASON),
                pl.Series(RULE, rules, dtype=pl.String),
                pl.Series(REASONS, listed, dtype=pl.List(pl.String)),
                pl.when(failed).then(pl.col("data")).alias(RAW_DATA),  # the payload as received (base64), to replay
                pl.when(failed).then(pl.col(ARRIVAL)).alias(ARRIVAL),
            )
        )
    frame = pl.concat(parts, how="diagonal_relaxed").with_columns(
        pl.lit(plan.batch_id, dtype=pl.String).alias(BATCH_ID), pl.lit(plan.ingested_at, dtype=UTC_MICROS).alias(INGESTED_AT)
    )
    return frame.select(_as(dtypes, set(frame.columns)))


def _missed(missed: pl.DataFrame | None, rows: pl.Series) -> pl.Series:
    """For each of ``rows``, the tables that hold no row for its key (null: none)."""
    if missed is None or not missed.width:
        return pl.Series(MISSED, [None] * len(rows), dtype=pl.List(pl.String))
    names = missed[rows].select(pl.concat_list(pl.when(pl.col(t)).then(pl.lit(t)) for t in missed.columns).list.drop_nulls())
    return names.to_series().alias(MISSED)


def _as(dtypes: dict[str, pl.DataType], present: set[str]) -> list[pl.Expr]:
    return [(pl.col(name) if name in present else pl.lit(None)).cast(dtype).alias(name) for name, dtype in dtypes.items()]
