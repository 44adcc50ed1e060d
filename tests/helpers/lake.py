"""Lake test helpers: the example pipeline, processed batches and the checks that read the raw zone back."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.engine import BatchResult, Pipeline
from transform_core.firehose.batch import RecordBatch
from transform_core.lake import LakeWriter

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "iot" / "pipeline.yaml"
TABLE = "iot_telemetry"
HIVE = {"year": pl.String, "month": pl.String, "day": pl.String}


@dataclass(frozen=True)
class Processed:
    batch: RecordBatch
    result: BatchResult


def process(pipeline: Pipeline, n: int, invalid_fraction: float, seed: int) -> Processed:
    batch = RecordBatch.from_firehose_event(firehose_event(iot_payloads(n, invalid_fraction, seed=seed)))
    return Processed(batch, pipeline.process(batch))


def read_raw(root: str | Path, **options: Any) -> pl.DataFrame:
    return pl.read_parquet(f"{root}/raw/{TABLE}/", hive_partitioning=True, hive_schema=HIVE, **options)


def ok_records(result: BatchResult) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """recordId → (the Ok record as JSON, its outcome row)."""
    ok = result.outcomes.filter(pl.col("result") == "Ok")
    return {row["record_id"]: (json.loads(base64.b64decode(row["data"])), row) for row in ok.iter_rows(named=True)}


def utc(text: str) -> datetime:
    """An RFC 3339 date-time in UTC, floored to the microsecond (as the lake stores it)."""
    text = text.upper().replace("Z", "+00:00")
    date, _, rest = text.partition("T")
    clock, offset = rest[:8], rest[8:]
    fraction = ""
    if offset.startswith("."):
        digits = len(offset) - len(offset[1:].lstrip("0123456789"))
        fraction, offset = offset[1:digits], offset[digits:]
    micro = (fraction + "000000")[:6]
    return datetime.fromisoformat(f"{date}T{clock}.{micro}{offset}").astimezone(UTC)


def assert_rows_match(frame: pl.DataFrame, result: BatchResult, declared: set[str]) -> None:
    """Every Ok record is in the frame exactly once, its columns equal to the record's values."""
    expected = ok_records(result)
    assert frame.height == len(expected)
    assert frame["_source_record_id"].n_unique() == frame.height
    for row in frame.iter_rows(named=True):
        record, outcome = expected[row["_source_record_id"]]
        for name in declared:
            value = record.get(name)
            if name == "event_time":
                assert row[name] == utc(value)
            elif name == "tags" and value is not None:
                assert row[name] == {"fw": value.get("fw"), "zone": value.get("zone")}
            elif isinstance(row[name], float):
                assert row[name] == float(value)
            else:
                assert row[name] == value, name
        extra = {k: v for k, v in record.items() if k not in declared}
        assert (json.loads(row["_extra"]) if row["_extra"] is not None else {}) == extra
        assert (row["year"], row["month"], row["day"]) == (outcome["year"], outcome["month"], outcome["day"])


def write_example_lake(pipeline: Pipeline, processed: Processed, root: Path) -> Path:
    """A local lake at ``root`` holding one processed batch (four days of raw partitions and one errors file)."""
    LakeWriter(pipeline.spec, str(root)).write(processed.result, processed.batch, batch_id="q1")
    return root
