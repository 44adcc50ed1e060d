"""The outcome frame: its schema for day and hour partitioning, the three results Firehose knows, and the contract
both the engine and the reference keep (one row per record in input order; data, reason and keys by result)."""

from __future__ import annotations

import dataclasses
import functools
import typing

import polars as pl
import pytest

from tests.helpers.agreement import batch_of
from tests.helpers.specs import IOT_SPEC
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.engine import Pipeline
from transform_core.firehose.batch import RecordBatch
from transform_core.firehose.outcomes import DROPPED, FAILED, OK, Result, outcome_schema
from transform_core.reference import ReferencePipeline
from transform_core.spec import PartitioningSpec, load_spec

FIXED = [("record_id", pl.String), ("result", pl.String), ("data", pl.String), ("reason", pl.String)]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        pytest.param((), FIXED, id="no-keys"),
        pytest.param(("year", "month", "day"), [*FIXED, ("year", pl.String), ("month", pl.String), ("day", pl.String)], id="day"),
        pytest.param(
            ("year", "month", "day", "hour"),
            [*FIXED, ("year", pl.String), ("month", pl.String), ("day", pl.String), ("hour", pl.String)],
            id="hour",
        ),
    ],
)
def test_outcome_schema_columns_in_order(keys: tuple[str, ...], expected: list[tuple[str, type[pl.DataType]]]) -> None:
    assert list(outcome_schema(keys).items()) == expected


def test_the_results_are_firehoses_three_words() -> None:
    assert (OK, DROPPED, FAILED) == ("Ok", "Dropped", "ProcessingFailed")
    assert typing.get_args(Result) == (OK, DROPPED, FAILED)


# --- the frames the engine and the reference return -----------------------------------------------------------------

GRANULARITIES = pytest.mark.parametrize("granularity", ["day", "hour"])
SIDES = pytest.mark.parametrize("side", ["engine", "reference"])


@functools.cache
def pipelines(granularity: str) -> tuple[Pipeline, ReferencePipeline]:
    """The IoT example's engine and reference, partitioned by ``granularity``."""
    spec = dataclasses.replace(load_spec(IOT_SPEC), partitioning=PartitioningSpec(granularity=granularity))  # type: ignore[arg-type]
    return Pipeline(spec), ReferencePipeline(spec)


def outcomes_of(granularity: str, side: str, batch: RecordBatch) -> tuple[pl.DataFrame, list[str]]:
    """The outcome frame of one side, and the partition keys it should have."""
    engine, reference = pipelines(granularity)
    frame = engine.process(batch).outcomes if side == "engine" else reference.process(batch)
    return frame, list(PartitioningSpec(granularity=granularity).keys)  # type: ignore[arg-type]


@GRANULARITIES
@SIDES
def test_an_empty_batch_gives_an_empty_frame_of_the_outcome_schema(granularity: str, side: str) -> None:
    frame, keys = outcomes_of(granularity, side, batch_of([]))
    assert frame.schema == pl.Schema(outcome_schema(keys))
    assert frame.height == 0


@GRANULARITIES
@SIDES
def test_each_record_has_one_row_in_input_order_with_data_reason_and_keys_by_result(granularity: str, side: str) -> None:
    batch = RecordBatch.from_firehose_event(firehose_event(iot_payloads(120, 0.3, seed=5)))

    frame, keys = outcomes_of(granularity, side, batch)

    assert frame.schema == pl.Schema(outcome_schema(keys))
    assert frame["record_id"].to_list() == batch.record_ids
    assert set(frame["result"]) == {OK, DROPPED, FAILED}  # the batch reaches both sides of each rule below
    ok, failed = pl.col("result") == OK, pl.col("result") == FAILED
    source = pl.Series(batch.data, dtype=pl.String)
    checks = frame.with_columns(source.alias("_source")).select(
        keys_iff_ok=pl.all_horizontal([pl.col(k).is_not_null() == ok for k in keys]).all(),
        reason_iff_failed=(pl.col("reason").is_not_null() == failed).all(),
        input_data_unless_ok=(ok | (pl.col("data") == pl.col("_source"))).all(),
        new_data_if_ok=(~ok | (pl.col("data") != pl.col("_source"))).all(),
    )
    assert checks.row(0, named=True) == dict.fromkeys(checks.columns, True)
