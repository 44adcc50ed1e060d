"""Writes to s3:// against moto's S3 server on loopback."""

from __future__ import annotations

import json

import polars as pl
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from tests.helpers.lake import HIVE, TABLE, Processed, assert_rows_match
from transform_core.engine import Pipeline
from transform_core.lake import LakeWriter, list_files, read_bytes, write_atomic
from transform_core.lake.storage import s3_settings


def test_batch_round_trips_through_s3(pipeline: Pipeline, processed: Processed, s3_bucket: str, moto_server: str) -> None:
    root = f"s3://{s3_bucket}/lake"
    writer = LakeWriter(pipeline.spec, root)
    summary = writer.write(processed.result, processed.batch, batch_id="s3-batch")
    assert list_files(root) == sorted(summary.files)
    assert all(f.startswith(f"{root}/raw/{TABLE}/year=") for f in summary.files if f.endswith(".parquet"))

    fs = pafs.S3FileSystem(access_key="testing", secret_key="testing", region="us-east-1", endpoint_override=moto_server)
    table = pq.read_table(f"{s3_bucket}/lake/raw/{TABLE}/", filesystem=fs, partitioning="hive")
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_columns(pl.col(k).cast(pl.String).str.zfill(2) for k in HIVE)
    assert_rows_match(frame, processed.result, set(writer.columns.known))

    errors = [json.loads(line) for line in read_bytes(summary.files[-1]).splitlines()]
    assert len(errors) == processed.result.failed


def test_polars_reads_the_lake_with_storage_options(
    pipeline: Pipeline, processed: Processed, s3_bucket: str, moto_server: str
) -> None:
    root = f"s3://{s3_bucket}/lake"
    writer = LakeWriter(pipeline.spec, root)
    writer.write(processed.result, processed.batch, batch_id="polars")
    options = {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "aws_region": "us-east-1",
        "aws_endpoint_url": moto_server,
        "aws_allow_http": "true",
    }
    frame = pl.read_parquet(f"{root}/raw/{TABLE}/**/*.parquet", hive_partitioning=True, hive_schema=HIVE, storage_options=options)
    assert_rows_match(frame, processed.result, set(writer.columns.known))


def test_rewriting_a_batch_on_s3_is_idempotent(pipeline: Pipeline, processed: Processed, s3_bucket: str) -> None:
    root = f"s3://{s3_bucket}/lake"
    writer = LakeWriter(pipeline.spec, root, rows_per_file=40)
    first = writer.write(processed.result, processed.batch, batch_id="twice")
    second = writer.write(processed.result, processed.batch, batch_id="twice")
    assert first.files == second.files
    assert list_files(root) == sorted(first.files)


def test_explicit_endpoint_overrides_the_environment(s3_bucket: str, moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    uri = f"s3://{s3_bucket}/a/b.bin"
    write_atomic(uri, b"whole", endpoint_url=moto_server)
    assert read_bytes(uri, endpoint_url=moto_server) == b"whole"
    assert list_files(f"s3://{s3_bucket}/a", endpoint_url=moto_server) == [uri]


def test_settings_come_from_the_usual_variables() -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_SESSION_TOKEN": "t",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://general:1",
        "AWS_ENDPOINT_URL_S3": "http://s3-only:2",
    }
    settings = s3_settings(env)
    assert (settings.access_key, settings.secret_key, settings.session_token) == ("k", "s", "t")
    assert settings.region == "eu-west-1" and settings.endpoint_url == "http://s3-only:2"
    assert s3_settings({**env, "AWS_REGION": "us-west-2"}).region == "us-west-2"
    assert s3_settings(env, endpoint_url="http://override:3").endpoint_url == "http://override:3"
    assert s3_settings({}).endpoint_url is None
