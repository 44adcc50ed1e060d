"""Shared lake fixtures: the example pipeline, processed batches, and a loopback S3 server (moto)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import transform_core
from transform_core.batch import RecordBatch
from transform_core.engine import BatchResult, Pipeline
from transform_core.generate import firehose_event, iot_payloads

EXAMPLE = Path(__file__).parents[2] / "examples" / "iot" / "pipeline.yaml"
TABLE = "iot_telemetry"
HIVE = {"year": pl.String, "month": pl.String, "day": pl.String}


@dataclass(frozen=True)
class Processed:
    batch: RecordBatch
    result: BatchResult


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    return transform_core.load_pipeline(EXAMPLE)


def process(pipeline: Pipeline, n: int, invalid_fraction: float, seed: int) -> Processed:
    batch = RecordBatch.from_firehose_event(firehose_event(iot_payloads(n, invalid_fraction, seed=seed)))
    return Processed(batch, pipeline.process(batch))


@pytest.fixture(scope="session")
def processed(pipeline: Pipeline) -> Processed:
    """300 records, 10% invalid, about 5% dropped heartbeats."""
    return process(pipeline, 300, 0.1, seed=7)


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


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto S3 server on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the loopback server, with the AWS variables pointing at it; yields its name."""
    import uuid

    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_server,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    return bucket
