"""Executor side of :func:`~transform_core.adapters.spark.apply_pipeline`: Arrow batches in, one outcome row per record out.

Each Arrow batch ``mapInArrow`` hands over becomes one :class:`~transform_core.firehose.batch.RecordBatch` for the engine,
exactly as on one machine; its Ok rows become typed lake rows (:class:`~transform_core.lake.rows.LakeRows`), and
every other record keeps its id, result and reason, so no record goes missing between input and output.
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
from transform_core.firehose.batch import RecordBatch, plausible_arrival
from transform_core.firehose.outcomes import FAILED, OK
from transform_core.lake.columns import BATCH_ID, INGESTED_AT, SOURCE_RECORD_ID, UTC_MICROS
from transform_core.lake.rows import ROW
from transform_core.schema import rule_id

__all__ = ["ARRIVAL", "INPUT", "OUTCOME", "RAW_DATA", "REASON", "RESULT", "RULE", "FramePlan", "OutcomeRun", "outcome_batches"]

RESULT, REASON, RULE, RAW_DATA, ARRIVAL = "_result", "_reason", "_rule", "_raw_data", "_arrival_ms"
#: Columns an outcome row has besides the lake columns (null where they do not apply).
OUTCOME: dict[str, pl.DataType] = {
    RESULT: pl.String(),
    REASON: pl.String(),
    RULE: pl.String(),
    RAW_DATA: pl.String(),
    ARRIVAL: pl.Int64(),
}
#: The columns the driver hands each executor: the record's id, its payload, its arrival time in epoch ms.
INPUT = ("record_id", "data", "arrival_ms")


@dataclass(frozen=True, kw_only=True)
class FramePlan:
    """What the executor needs to know besides the pipeline."""

    base64: bool  # the payload column already holds base64 text (else raw bytes or text, encoded here)
    batch_id: str  # the lake's _batch_id
    ingested_at: datetime  # the lake's _ingested_at, one value for the whole job


def outcome_columns(lake: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    """The columns of an outcome row: the lake columns, then :data:`OUTCOME`."""
    return {**lake, **OUTCOME}


def outcome_batches(bundle: PipelineBundle, plan: FramePlan, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function: each input batch through the engine, as one outcome row per record."""
    run = OutcomeRun(bundle, plan)
    for batch in batches:
        if batch.num_rows:
            yield from run.arrow(_record_batch(cast(pl.DataFrame, pl.from_arrow(batch)), base64=plan.base64))


class OutcomeRun:
    """One executor task's outcomes: the process's pipeline (loaded on first use) applied batch by batch."""

    def __init__(self, bundle: PipelineBundle, plan: FramePlan) -> None:
        self.loaded = load(bundle)
        self.plan = plan
        self.dtypes = outcome_columns(self.loaded.columns.dtypes)
        self.schema = arrow_schema(self.dtypes)

    def arrow(self, batch: RecordBatch) -> list[pa.RecordBatch]:
        """The batch's outcome rows as Arrow batches of :attr:`schema` (Spark takes 32-bit offsets only)."""
        table = _outcomes(self.loaded, self.plan, batch, self.dtypes).to_arrow().cast(self.schema)
        batches: list[pa.RecordBatch] = table.to_batches()
        return batches


def _record_batch(records: pl.DataFrame, *, base64: bool) -> RecordBatch:
    record_id, data, arrival = (records.get_column(name) for name in INPUT)
    if not base64:
        data = (data if data.dtype == pl.Binary else data.cast(pl.Binary)).bin.encode("base64")
    return RecordBatch(
        record_ids=record_id.fill_null("").to_list(),
        data=data.fill_null("").to_list(),  # a null payload is a record too: the engine rejects it
        arrival_ms=[plausible_arrival(ms) for ms in arrival.to_list()],  # the bounds RecordBatch applies to Firehose's
    )


def _outcomes(loaded: Loaded, plan: FramePlan, batch: RecordBatch, dtypes: dict[str, pl.DataType]) -> pl.DataFrame:
    result = loaded.pipeline.process(batch, respond=False)
    outcomes = result.outcomes.with_row_index(ROW)
    ok = outcomes.filter(pl.col("result") == OK)
    parts = []
    if ok.height:
        split = loaded.rows.split(ok, plan.batch_id, plan.ingested_at, result.rows_with_extras, payloads=batch.data_column())
        parts.append(split.frame.with_columns(pl.lit(OK).alias(RESULT)))
        if split.refused:  # Ok for the engine, but not storable exactly: rejected, with the payload as received
            rows = pl.Series([row for row, _ in split.refused], dtype=pl.UInt32)
            refused = pl.col(ROW).is_in(rows.implode())
            reasons = dict(split.refused)
            outcomes = outcomes.with_columns(
                pl.when(refused).then(pl.lit(FAILED)).otherwise(pl.col("result")).alias("result"),
                pl.when(refused)
                .then(pl.col(ROW).replace_strict(reasons, default=None))
                .otherwise(pl.col("reason"))
                .alias("reason"),
                pl.when(refused).then(batch.data_column()).otherwise(pl.col("data")).alias("data"),
            )
    rest = outcomes.filter(pl.col("result") != OK)
    if rest.height:
        failed = pl.col("result") == FAILED
        rules = [None if reason is None else rule_id(reason) for reason in rest.get_column("reason").to_list()]
        arrivals = pl.Series(ARRIVAL, batch.arrival_ms, dtype=pl.Int64).gather(rest.get_column(ROW))
        parts.append(
            rest.with_columns(arrivals).select(
                pl.col("record_id").alias(SOURCE_RECORD_ID),
                pl.col("result").alias(RESULT),
                pl.col("reason").alias(REASON),
                pl.Series(RULE, rules, dtype=pl.String),
                pl.when(failed).then(pl.col("data")).alias(RAW_DATA),  # the payload as received (base64), to replay
                pl.when(failed).then(pl.col(ARRIVAL)).alias(ARRIVAL),
            )
        )
    frame = pl.concat(parts, how="diagonal_relaxed").with_columns(
        pl.lit(plan.batch_id, dtype=pl.String).alias(BATCH_ID), pl.lit(plan.ingested_at, dtype=UTC_MICROS).alias(INGESTED_AT)
    )
    present = set(frame.columns)
    return frame.select(
        (pl.col(name) if name in present else pl.lit(None)).cast(dtype).alias(name) for name, dtype in dtypes.items()
    )
