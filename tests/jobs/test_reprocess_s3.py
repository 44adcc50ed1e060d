"""`reprocess` from an s3:// input prefix to an s3:// lake, against moto's S3 server on loopback."""

from __future__ import annotations

import base64
import gzip
import json
from collections import Counter
from pathlib import Path

import boto3
import polars as pl
import pytest

from transform_core.demo.generate import iot_payloads
from transform_core.jobs.reprocess import ReprocessOptions, reprocess
from transform_core.reference import ReferencePipeline
from transform_core.spec import load_spec

SPEC = str(Path(__file__).resolve().parents[2] / "examples" / "iot" / "pipeline.yaml")
TABLE = "iot_telemetry"


def upload_inputs(bucket: str, endpoint: str) -> Counter[str]:
    """Two NDJSON objects under ``in/`` (the second gzip), 10% invalid; returns the reference's result counts."""
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    reference = ReferencePipeline(load_spec(SPEC))
    expected: Counter[str] = Counter()
    for i, compress in enumerate([False, True]):
        lines = [p.data for p in iot_payloads(400, 0.1, seed=20 + i) if not p.corrupt_base64]
        body = b"\n".join(lines) + b"\n"
        key = f"in/part-{i}.ndjson" + (".gz" if compress else "")
        client.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body) if compress else body)
        expected.update(reference.process_record(base64.b64encode(line).decode(), None).result for line in lines)
    return expected


def object_keys(bucket: str, endpoint: str, prefix: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


@pytest.mark.parametrize("workers", [1, 2])
def test_reprocess_reads_an_s3_prefix_and_writes_an_s3_lake(s3_bucket: str, moto_server: str, workers: int) -> None:
    expected = upload_inputs(s3_bucket, moto_server)
    lake = f"s3://{s3_bucket}/lake"
    options = ReprocessOptions(spec=SPEC, out=lake, workers=workers, chunk_size=300)
    summary = reprocess([f"s3://{s3_bucket}/in/"], options)

    assert summary.files == 2
    assert (summary.ok, summary.failed, summary.dropped) == (expected["Ok"], expected["ProcessingFailed"], expected["Dropped"])
    assert summary.records == sum(expected.values()) and summary.failed > 0 and summary.dropped > 0

    keys = object_keys(s3_bucket, moto_server, "lake/")
    data = [key for key in keys if not key.startswith("lake/_ledger/")]  # each input's ledger (lake/ledger.py)
    assert sorted(f"s3://{s3_bucket}/{key}" for key in data) == sorted(summary.written)
    assert len(keys) - len(data) == summary.files
    parquet = [k for k in keys if k.endswith(".parquet")]
    assert parquet and all(k.startswith(f"lake/raw/{TABLE}/year=") for k in parquet)
    storage = {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "aws_region": "us-east-1",
        "aws_endpoint_url": moto_server,
        "aws_allow_http": "true",
    }
    frame = pl.read_parquet(f"{lake}/raw/{TABLE}/**/*.parquet", hive_partitioning=True, storage_options=storage)
    assert frame.height == summary.ok
    assert frame["_source_record_id"].n_unique() == frame.height

    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    errors = [
        json.loads(line)
        for key in keys
        if key.startswith("lake/errors/")
        for line in client.get_object(Bucket=s3_bucket, Key=key)["Body"].read().splitlines()
    ]
    assert len(errors) == summary.failed and all(e["reason"] for e in errors)

    again = reprocess([f"s3://{s3_bucket}/in/"], options)
    assert (again.ok, again.failed, again.dropped) == (summary.ok, summary.failed, summary.dropped)
    assert object_keys(s3_bucket, moto_server, "lake/") == keys  # rewritten in place, nothing added
