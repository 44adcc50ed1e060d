"""The executors' side of ``spark-reprocess`` against S3 (moto's server on loopback), without a JVM: ``staged_counts``
reads an input from a bucket as Spark lists it (``s3a://``) and stages the lake files there, the rows and error lines
``reprocess`` writes for the same input, the counts its summary gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import polars as pl
import pyarrow as pa
from polars.testing import assert_frame_equal

from tests.helpers.spark import SPEC, read_lake_zone
from transform_core.adapters.spark._bundle import bundle_pipeline
from transform_core.adapters.spark._outcomes import FramePlan
from transform_core.adapters.spark._staged import StagedWrite, add_counts, input_folder, staged_counts
from transform_core.demo.generate import iot_payloads
from transform_core.engine import load_pipeline
from transform_core.jobs.reprocess import ReprocessOptions, ReprocessSummary, reprocess

LINEAGE = ["_ingested_at", "_batch_id"]
RUN_AT = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


def download(bucket: str, prefix: str, into: Path) -> None:
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            target = into / item["Key"].removeprefix(prefix).lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())


def error_lines(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for f in sorted(folder.rglob("*.ndjson")) for line in f.read_text().splitlines()]


def test_an_executor_reads_and_stages_an_input_on_s3(s3_bucket: str, tmp_path: Path) -> None:
    body = b"\n".join(p.data for p in iot_payloads(700, 0.1, seed=5) if not p.corrupt_base64) + b"\n\n"
    boto3.client("s3").put_object(Bucket=s3_bucket, Key="in/a.ndjson", Body=body)
    (tmp_path / "a.ndjson").write_bytes(body)
    single = reprocess(
        [str(tmp_path / "a.ndjson")], ReprocessOptions(spec=str(SPEC), out=str(tmp_path / "single"), workers=1, chunk_size=150)
    )

    path = f"s3a://{s3_bucket}/in/a.ndjson"  # as Spark's listing names it
    staging = f"s3://{s3_bucket}/lake/_staging/spark-iot_telemetry-r1"
    target = StagedWrite(staging=staging, table="iot_telemetry", rows_per_file=100, chunk_size=150, kind=None)
    plan = FramePlan(base64=True, batch_id="r1", ingested_at=RUN_AT)
    batches = list(
        staged_counts(bundle_pipeline(load_pipeline(SPEC)), plan, target, [pa.RecordBatch.from_pydict({"path": [path]})])
    )

    summary = ReprocessSummary()
    add_counts(pl.from_arrow(pa.Table.from_batches(batches)).iter_rows(), summary)  # type: ignore[union-attr]
    counts = ("records", "ok", "failed", "dropped", "blank", "reasons", "enrich_missed")
    assert [getattr(summary, c) for c in counts] == [getattr(single, c) for c in counts]
    assert summary.failed > 20 and summary.blank == 1

    folder = input_folder(staging, path).removeprefix(f"s3://{s3_bucket}/")
    download(s3_bucket, folder, tmp_path / "staged")
    staged = read_lake_zone(tmp_path / "staged" / "raw").sort("_source_record_id")
    assert_frame_equal(staged.drop(LINEAGE), read_lake_zone(tmp_path / "single" / "raw").sort("_source_record_id").drop(LINEAGE))
    assert set(staged["_batch_id"]) == {"r1"} and set(staged["_ingested_at"]) == {RUN_AT}
    assert max(pl.read_parquet(f).height for f in (tmp_path / "staged" / "raw").rglob("*.parquet")) == 100
    errors = error_lines(tmp_path / "staged" / "errors")
    assert sorted(e["recordId"] for e in errors) == sorted(e["recordId"] for e in error_lines(tmp_path / "single" / "errors"))  # type: ignore[type-var]
    assert {e["batchId"] for e in errors} == {"r1"} and {e["errorTimestamp"] for e in errors} == {"2026-12-07T06:00:00Z"}
    assert list((tmp_path / "staged" / "errors").glob("iot_telemetry/year=2026/month=12/day=07/*.ndjson"))  # the run's date
