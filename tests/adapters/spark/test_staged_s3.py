"""The executors' side of ``spark-reprocess`` against S3 (moto's server on loopback), without a JVM: ``staged_counts``
reads a task's inputs from a bucket as Spark lists them (``s3a://``) and stages the lake files there, the rows and
error lines ``reprocess`` writes for the same inputs, the counts its summary gives."""

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
from transform_core.adapters.spark._staged import StagedWrite, add_counts, staged_counts, task_folder
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


def test_an_executor_reads_and_stages_its_inputs_on_s3(s3_bucket: str, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for name, seed in (("a", 5), ("b", 6)):
        body = b"\n".join(p.data for p in iot_payloads(400, 0.1, seed=seed) if not p.corrupt_base64) + b"\n\n"
        boto3.client("s3").put_object(Bucket=s3_bucket, Key=f"in/{name}.ndjson", Body=body)
        (tmp_path / "in" / f"{name}.ndjson").write_bytes(body)
    options = ReprocessOptions(spec=str(SPEC), out=str(tmp_path / "single"), workers=1, chunk_size=150)
    single = reprocess([str(tmp_path / "in")], options)

    paths = [f"s3a://{s3_bucket}/in/{name}.ndjson" for name in ("a", "b")]  # as Spark's listing names them
    staging = f"s3://{s3_bucket}/lake/_staging/spark-iot_telemetry-r1"
    target = StagedWrite(staging=staging, table="iot_telemetry", rows_per_file=100, chunk_size=150, kind=None)
    plan = FramePlan(base64=True, batch_id="r1", ingested_at=RUN_AT)
    inputs = [pa.RecordBatch.from_pydict({"path": [path]}) for path in paths]  # one file an Arrow batch, as the job sets
    batches = list(staged_counts(bundle_pipeline(load_pipeline(SPEC)), plan, target, inputs))

    summary = ReprocessSummary()
    add_counts(pl.from_arrow(pa.Table.from_batches(batches)).iter_rows(), summary)  # type: ignore[union-attr]
    counts = ("records", "ok", "failed", "dropped", "blank", "reasons", "enrich_missed")
    assert [getattr(summary, c) for c in counts] == [getattr(single, c) for c in counts]
    assert summary.failed > 20 and summary.blank == 2

    folder = task_folder(staging, paths[0]).removeprefix(f"s3://{s3_bucket}/")
    download(s3_bucket, folder, tmp_path / "staged")
    staged = read_lake_zone(tmp_path / "staged" / "raw").sort("_source_record_id")
    assert_frame_equal(staged.drop(LINEAGE), read_lake_zone(tmp_path / "single" / "raw").sort("_source_record_id").drop(LINEAGE))
    assert set(staged["_batch_id"]) == {"r1"} and set(staged["_ingested_at"]) == {RUN_AT}
    sizes = [pl.read_parquet(f).height for f in (tmp_path / "staged" / "raw").rglob("*.parquet")]
    per_day = staged.group_by("year", "month", "day").len()["len"].to_list()
    assert max(sizes) == 100 and len(sizes) == sum(-(-n // 100) for n in per_day)  # rows held across the task's files
    errors = error_lines(tmp_path / "staged" / "errors")
    assert sorted(e["recordId"] for e in errors) == sorted(e["recordId"] for e in error_lines(tmp_path / "single" / "errors"))  # type: ignore[type-var]
    assert {e["batchId"] for e in errors} == {"r1"} and {e["errorTimestamp"] for e in errors} == {"2026-12-07T06:00:00Z"}
    assert list((tmp_path / "staged" / "errors").glob("iot_telemetry/year=2026/month=12/day=07/*.ndjson"))  # the run's date
