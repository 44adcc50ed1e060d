"""compact: the raw zone committed into the curated Iceberg table: exact round trip, one snapshot per run, reruns,
dedupe order, the table's layout, S3 (crashes and concurrent runs: test_compact_crash.py)."""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.helpers.curated import TS, data_files, make_spec, read_curated, read_raw_zone, snapshot_ids, write_texts
from tests.helpers.lake import TABLE, assert_rows_match, process
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.engine import Pipeline
from transform_core.errors import ConfigurationEnvironmentError
from transform_core.firehose.batch import RecordBatch
from transform_core.lake import LakeWriter
from transform_core.lake.curated import compact, curated_table
from transform_core.lake.curated.catalogs import catalog_settings
from transform_core.lake.curated.compact import STATE_PREFIX
from transform_core.lake.query import lake_tables
from transform_core.spec import CuratedSpec

TARGET_ROWS = 30
REPO = Path(__file__).resolve().parents[2]


def write_raw(pipeline: Pipeline, root: str, batch_id: str, seed: int, n: int = 200) -> None:
    """``n`` valid-or-not generated records of one seed, in several small files per partition."""
    done = process(pipeline, n, 0.05, seed=seed)
    LakeWriter(pipeline.spec, root, rows_per_file=15).write(done.result, done.batch, batch_id=batch_id)


def write_one_day(pipeline: Pipeline, root: str, batch_id: str, day: str, seed: int) -> None:
    """Generated records whose event time falls on 2026-11-``day`` only: one new raw file in one partition."""
    payloads = iot_payloads(200, 0.0, seed=seed)
    outcomes = pipeline.process(RecordBatch.from_firehose_event(firehose_event(payloads))).outcomes
    on_day = [p for p, ok, d in zip(payloads, outcomes["result"], outcomes["day"], strict=True) if ok == "Ok" and d == day]
    batch = RecordBatch.from_firehose_event(firehose_event(on_day))
    LakeWriter(pipeline.spec, root).write(pipeline.process(batch), batch, batch_id=batch_id)


@pytest.fixture
def duplicated(pipeline: Pipeline, tmp_path: Path) -> str:
    """A raw zone where every record of one batch was written twice, by two batch ids, plus another batch."""
    root = str(tmp_path)
    write_raw(pipeline, root, "b1", seed=1)
    write_raw(pipeline, root, "b2", seed=1)  # the same records again (a replay under another id)
    write_raw(pipeline, root, "b3", seed=2)
    return root


def without_partitions(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop("year", "month", "day", strict=False).sort("_source_record_id")


# --- the round trip -----------------------------------------------------------------------------------------------------


def test_raw_to_curated_reads_back_equal_with_exact_values(pipeline: Pipeline, tmp_path: Path) -> None:
    done = process(pipeline, 300, 0.1, seed=7)
    odd = [  # values a careless path would change: negative zero, an int beyond 2**53, µs, escapes, big extras
        '{"event_id":"00000000-0000-4000-8000-000000000001","device_id":"dev-0001","gateway_id":"gw-\\u00e9\\"q",'
        '"seq":9007199254740993,"event_time":"2026-11-25T23:59:59.999999999-00:30","event_type":"alert",'
        '"value":-0.0,"lat":1e-400,"lon":-0.0,"x":{"big":123456789012345678901234567890},"tags":{"fw":"1"}}',
        '{"event_id":"00000000-0000-4000-8000-000000000002","device_id":"dev-0002","seq":1,'
        '"event_time":"2026-11-24T00:00:00Z","event_type":"telemetry","value":0.0,"battery":null}',
    ]
    data = [*done.batch.data, *(base64.b64encode(t.encode()).decode() for t in odd)]
    batch = RecordBatch(
        record_ids=[*done.batch.record_ids, "odd-0", "odd-1"], data=data, arrival_ms=[*done.batch.arrival_ms, 0, 0]
    )
    result = pipeline.process(batch)
    assert result.outcomes.filter(pl.col("record_id").str.starts_with("odd"))["result"].to_list() == ["Ok", "Ok"]
    LakeWriter(pipeline.spec, str(tmp_path)).write(result, batch, batch_id="q1")

    summary = compact(pipeline.spec, str(tmp_path))

    assert summary.committed and summary.duplicates == 0 and summary.rows == result.ok
    curated = read_curated(pipeline.spec, tmp_path)
    assert_frame_equal(curated.sort("_source_record_id"), read_raw_zone(pipeline.spec, tmp_path).sort("_source_record_id"))
    with_keys = lake_tables(pipeline.spec, root=str(tmp_path))[f"curated_{TABLE}"].collect()  # year/month/day computed
    assert_rows_match(with_keys, result, set(pipeline.spec.schema["properties"]) | {"site", "model"})
    odd_rows = curated.filter(pl.col("_source_record_id") == "odd-0").row(0, named=True)
    assert odd_rows["seq"] == 9007199254740993
    assert math.copysign(1.0, odd_rows["value"]) == -1.0 and math.copysign(1.0, odd_rows["lon"]) == -1.0
    assert odd_rows["event_time"] == datetime(2026, 11, 26, 0, 29, 59, 999999, tzinfo=UTC)
    assert odd_rows["gateway_id"] == 'gw-é"q'
    assert json.loads(odd_rows["_extra"]) == {"x": {"big": 123456789012345678901234567890}}


def test_one_snapshot_per_run_files_bounded_and_sorted(pipeline: Pipeline, duplicated: str) -> None:
    summary = compact(pipeline.spec, duplicated, target_rows=TARGET_ROWS)

    raw = read_raw_zone(pipeline.spec, duplicated)
    assert summary.compacted == len(summary.partitions) == 4 and summary.attempts == 1
    assert summary.duplicates == raw.height - raw["event_id"].n_unique() > 0
    table = curated_table(pipeline.spec, duplicated)
    assert table is not None and [s.snapshot_id for s in table.snapshots()] == [summary.snapshot_id]
    tasks = list(table.scan().plan_files())
    assert len(tasks) == sum(p.files or 0 for p in summary.partitions) > len(summary.partitions)
    for task in tasks:
        rows = pl.read_parquet(task.file.file_path)
        assert 0 < rows.height <= TARGET_ROWS and rows["event_time"].is_sorted()
    curated = read_curated(pipeline.spec, duplicated)
    assert curated.height == raw["event_id"].n_unique() and not curated["event_id"].is_duplicated().any()


# --- reruns -------------------------------------------------------------------------------------------------------------


def test_a_rerun_with_nothing_new_commits_nothing(pipeline: Pipeline, duplicated: str) -> None:
    first = compact(pipeline.spec, duplicated, target_rows=TARGET_ROWS)
    metadata = sorted(p.name for p in Path(duplicated, "curated").rglob("*") if p.is_file())

    again = compact(pipeline.spec, duplicated, target_rows=TARGET_ROWS)

    assert not again.committed and again.snapshot_id == first.snapshot_id
    assert {p.status for p in again.partitions} == {"unchanged"} and again.compacted == 0
    assert snapshot_ids(pipeline.spec, duplicated) == [first.snapshot_id]
    assert sorted(p.name for p in Path(duplicated, "curated").rglob("*") if p.is_file()) == metadata


def test_a_new_raw_file_in_one_partition_recomputes_only_that_partition(pipeline: Pipeline, duplicated: str) -> None:
    compact(pipeline.spec, duplicated, target_rows=TARGET_ROWS)
    before = data_files(pipeline.spec, duplicated)

    write_one_day(pipeline, duplicated, "b4", "25", seed=3)
    summary = compact(pipeline.spec, duplicated, target_rows=TARGET_ROWS)

    assert [(p.partition, p.status) for p in summary.partitions if p.status == "compacted"] == [
        ("year=2026/month=11/day=25", "compacted")
    ]
    after = data_files(pipeline.spec, duplicated)
    kept, gone = before & after, before - after
    assert kept and gone and all("event_time_day=2026-11-25" in f for f in gone | (after - before))
    assert all("event_time_day=2026-11-25" not in f for f in kept)
    raw, curated = read_raw_zone(pipeline.spec, duplicated), read_curated(pipeline.spec, duplicated)
    assert curated.height == raw["event_id"].n_unique() and "b4" in set(curated["_batch_id"])
    table = curated_table(pipeline.spec, duplicated)
    assert table is not None and len(table.snapshots()) == 2
    summary_properties = table.current_snapshot().summary.additional_properties  # type: ignore[union-attr]
    assert len([k for k in summary_properties if k.startswith(STATE_PREFIX)]) == 4  # every partition's digest carried


def test_only_the_given_partitions(pipeline: Pipeline, duplicated: str) -> None:
    summary = compact(pipeline.spec, duplicated, partitions=["year=2026/month=11/day=25"])
    assert [p.partition for p in summary.partitions] == ["year=2026/month=11/day=25"]
    assert set(read_curated(pipeline.spec, duplicated)["event_time"].dt.day()) == {25}
    rest = compact(pipeline.spec, duplicated)
    assert [p.status for p in rest.partitions] == ["compacted", "unchanged", "compacted", "compacted"]


def test_another_key_recomputes_every_partition(pipeline: Pipeline, duplicated: str) -> None:
    compact(pipeline.spec, duplicated)
    by_device = compact(pipeline.spec, duplicated, key="device_id,seq")
    assert by_device.compacted == 4
    curated = read_curated(pipeline.spec, duplicated)
    assert not curated.select("device_id", "seq").is_duplicated().any()


# --- which copy is kept -------------------------------------------------------------------------------------------------

EVENT = '"event_id":"e1",'


def texts(*records: str) -> list[str]:
    return ["{" + record + "}" for record in records]


def test_a_replayed_old_copy_never_replaces_the_corrected_version(tmp_path: Path) -> None:
    spec = dataclasses.replace(make_spec(), curated=CuratedSpec(key=("note",), version="i"))
    v1, v2 = f'"note":"e1",{TS},"i":1,"n":1.0', f'"note":"e1",{TS},"i":2,"n":2.0'  # same event time: the version decides
    write_texts(spec, tmp_path, texts(v1), "b1")
    write_texts(spec, tmp_path, texts(v2), "b2")  # the producer's correction
    write_texts(spec, tmp_path, texts(v1), "b3")  # the old copy replayed: ingested last, the greatest batch id

    compact(spec, str(tmp_path))

    kept = read_curated(spec, tmp_path)
    assert kept.select("i", "n", "_batch_id").rows() == [(2, 2.0, "b2")]
    raw = read_raw_zone(spec, tmp_path)
    assert raw.sort("_ingested_at")["_batch_id"].to_list() == ["b1", "b2", "b3"]  # the replay is the newest copy


def test_without_a_version_the_latest_event_time_wins_then_ingest_time(tmp_path: Path) -> None:
    spec = dataclasses.replace(make_spec(), curated=CuratedSpec(key=("note",)))
    early, late = '"ts":"2026-11-24T10:00:00Z"', '"ts":"2026-11-24T10:05:00Z"'
    write_texts(spec, tmp_path, texts(f'"note":"a",{late},"n":2.0', f'"note":"b",{early},"n":1.0'), "b1")
    write_texts(spec, tmp_path, texts(f'"note":"a",{early},"n":1.0', f'"note":"b",{early},"n":3.0'), "b2")

    compact(spec, str(tmp_path))

    kept = read_curated(spec, tmp_path).sort("note")
    assert kept.select("note", "n", "_batch_id").rows() == [("a", 2.0, "b1"), ("b", 3.0, "b2")]


def test_the_key_flag_overrides_the_spec_and_an_unknown_key_is_refused(tmp_path: Path) -> None:
    spec = dataclasses.replace(make_spec(), curated=CuratedSpec(key=("note",)))
    write_texts(spec, tmp_path, texts(f'"note":"a",{TS},"i":1', f'"note":"a",{TS},"i":2'), "b1")
    assert compact(spec, str(tmp_path)).duplicates == 1
    assert compact(spec, str(tmp_path), key="note,i").duplicates == 0
    with pytest.raises(ValueError, match="no key column 'nope'"):
        compact(spec, str(tmp_path), key="note,nope")


def test_rows_with_a_null_key_are_all_kept(tmp_path: Path) -> None:
    spec = dataclasses.replace(make_spec(), curated=CuratedSpec(key=("note",)))
    write_texts(spec, tmp_path, texts(f'{TS},"i":1', f'{TS},"i":1', f'"note":"a",{TS}', f'"note":"a",{TS}'), "b1")
    compact(spec, str(tmp_path))
    assert sorted(read_curated(spec, tmp_path)["note"].to_list(), key=str) == [None, None, "a"]


def test_without_a_key_records_as_sent_are_compared_exactly(tmp_path: Path) -> None:
    spec = make_spec()  # no event_id, no id, no curated.key: the record's content
    same = f'{TS},"n":1.5,"note":"same"'
    records = [
        f'{TS},"n":0.0',
        f'{TS},"n":-0.0',  # negative zero is another record
        f'{TS},"point":{{"x":0.0}}',
        f'{TS},"point":{{"x":-0.0}}',  # inside a struct too
        f'{TS},"i":9007199254740992',
        f'{TS},"i":9007199254740993',  # beyond 2**53: another record
        f'{TS},"extra":{{"a":1}}',
        f'{TS},"extra":{{"a":1,"b":2}}',  # an undeclared nested key: another record
        f'{TS},"note":"2026-11-24T10:00:00.0000001Z"',
        f'{TS},"note":"2026-11-24T10:00:00.0000002Z"',  # sub-µs text: another record
        '"ts":"2026-11-24T10:00:00.000001Z"',
        '"ts":"2026-11-24T10:00:00.000002Z"',  # a µs apart: another record
        same,
    ]
    write_texts(spec, tmp_path, texts(*records), "b1")
    write_texts(spec, tmp_path, texts(same), "b2")  # the same record sent again: one copy

    summary = compact(spec, str(tmp_path))

    assert summary.duplicates == 1
    curated = read_curated(spec, tmp_path)
    assert curated.height == len(records)
    signs = sorted(math.copysign(1.0, v) for v in curated["n"].drop_nulls() if v == 0)
    assert signs == [-1.0, 1.0]
    assert curated.filter(pl.col("note") == "same")["_batch_id"].to_list() == ["b2"]  # ingested later


def test_the_content_key_of_the_example_without_its_id(pipeline: Pipeline, tmp_path: Path) -> None:
    properties = {k: v for k, v in pipeline.spec.schema["properties"].items() if k != "event_id"}
    spec = dataclasses.replace(pipeline.spec, schema={**pipeline.spec.schema, "properties": properties})
    for batch_id in ("b1", "b2"):  # the same records twice
        write_raw(Pipeline(spec), str(tmp_path), batch_id, seed=1)
    summary = compact(spec, str(tmp_path))
    raw = read_raw_zone(spec, tmp_path)
    assert json.loads(raw["_extra"][0])["event_id"]  # the id is an undeclared property now, in _extra
    assert summary.rows == raw["_extra"].n_unique()  # the two copies differ only in their lineage columns
    assert summary.duplicates == raw.height // 2
    table = curated_table(spec, str(tmp_path))
    assert table is not None and table.current_snapshot().summary["transform-core.rule"] == "key <content>"  # type: ignore[union-attr]


# --- the table ----------------------------------------------------------------------------------------------------------


def test_the_table_layout(pipeline: Pipeline, duplicated: str, tmp_path: Path) -> None:
    compact(pipeline.spec, duplicated)
    table = curated_table(pipeline.spec, duplicated)
    assert table is not None
    assert table.name() == ("transform_core", TABLE)
    assert table.location() == str(Path(duplicated, "curated", "transform_core", TABLE).resolve())
    types = {f.name: str(f.field_type) for f in table.schema().fields}
    assert types == {
        **{name: "string" for name in ("event_id", "device_id", "gateway_id", "event_type", "unit", "site", "model")},
        **{name: "long" for name in ("seq", "battery", "rssi")},
        **{name: "double" for name in ("value", "lat", "lon")},
        "event_time": "timestamptz",
        "tags": "struct<20: fw: optional string, 21: zone: optional string>",  # nested ids after the top level
        "_extra": "string",
        "_ingested_at": "timestamptz",
        "_source_record_id": "string",
        "_batch_id": "string",
    }
    assert [f.field_id for f in table.schema().fields] == list(range(1, 20))
    assert all(not f.required for f in table.schema().fields)
    (field,) = table.spec().fields
    assert (field.name, str(field.transform), table.schema().find_column_name(field.source_id)) == (
        "event_time_day",
        "day",
        "event_time",
    )
    (order,) = table.sort_order().fields
    assert table.schema().find_column_name(order.source_id) == "event_time" and str(order.direction) == "ASC"
    assert table.properties["write.parquet.compression-codec"] == "zstd"
    other = tmp_path / "other"  # the same spec, another lake: the same field ids
    write_raw(pipeline, str(other), "x", seed=5)
    compact(pipeline.spec, str(other))
    assert curated_table(pipeline.spec, str(other)).schema() == table.schema()  # type: ignore[union-attr]


def test_epoch_event_times_arrival_fallback_and_hours_go_through_event_time(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"ms": {"type": "number"}, "k": {"type": "string"}, "any": {}}}
    spec = make_spec(
        schema,
        event_time={"field": "ms", "format": "epoch_millis", "on_missing": "arrival_time"},
        partitioning={"granularity": "hour"},
        curated={"key": ["k"]},
    )
    hour = 1_795_824_000_000  # 2026-11-28T00:00:00Z in ms
    records = [f'{{"k":"a","ms":{hour + 1_234_567}}}', '{"k":"b","any":[1]}', f'{{"k":"c","ms":{hour + 7}.9}}']
    write_texts(spec, tmp_path, records, "b1", arrival_ms=[0, hour + 3_600_000 + 59_000, 0])

    compact(spec, str(tmp_path))

    table = curated_table(spec, str(tmp_path))
    assert table is not None
    (field,) = table.spec().fields
    assert (field.name, str(field.transform)) == ("_event_time_hour", "hour")
    rows = read_curated(spec, tmp_path).sort("k")
    engine_floor = math.floor(float(f"{hour + 7}.9") * 1e3)  # the engine's epoch_millis: the double times 1000, floored
    assert rows["_event_time"].dt.epoch("us").to_list() == [
        (hour + 1_234_567) * 1000,
        (hour + 3_600_000) * 1000,  # from the arrival time: the start of its raw partition (hour=01)
        engine_floor,
    ]
    assert rows["any"].to_list() == [None, "[1]", None]
    assert rows["ms"][2] == float(f"{hour + 7}.9")


def test_a_spec_with_a_missing_version_column_is_refused(pipeline: Pipeline, duplicated: str) -> None:
    spec = dataclasses.replace(pipeline.spec, curated=CuratedSpec(version="tags"))
    with pytest.raises(ValueError, match="the version 'tags' is not a column with one value a record"):
        compact(spec, duplicated)


# --- S3 and the extras --------------------------------------------------------------------------------------------------


def test_compaction_on_s3_with_a_local_catalog_file(pipeline: Pipeline, s3_bucket: str, tmp_path: Path) -> None:
    root = f"s3://{s3_bucket}/lake"
    write_raw(pipeline, root, "b1", seed=1)
    write_raw(pipeline, root, "b2", seed=1)
    with pytest.raises(ConfigurationEnvironmentError, match="use --catalog glue, or name one with --catalog-file"):
        compact(pipeline.spec, root)
    settings = catalog_settings(catalog_file=str(tmp_path / "catalog.db"))

    first = compact(pipeline.spec, root, catalog=settings)
    again = compact(pipeline.spec, root, catalog=settings)

    assert first.committed and not again.committed
    curated = read_curated(pipeline.spec, root, catalog=settings)
    assert curated.height == read_raw_zone(pipeline.spec, root)["event_id"].n_unique()
    table = curated_table(pipeline.spec, root, catalog=settings)
    assert table is not None and table.location() == f"s3://{s3_bucket}/lake/curated/transform_core/{TABLE}"


MISSING_EXTRA = """
import sys
sys.modules["pyiceberg"] = None  # as if the lake extra were not installed: importing it fails
from transform_core.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_the_lake_extra_compact_says_what_to_install(pipeline: Pipeline, duplicated: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"PYTHONPATH": str(REPO)}
    argv = ["compact", "--spec", pipeline.spec.spec_file, "--lake", duplicated]
    child = subprocess.run([sys.executable, "-c", MISSING_EXTRA, *argv], env=env, capture_output=True, text=True, check=False)
    assert (child.returncode, child.stdout) == (1, "")
    assert child.stderr == (
        "transform-core: error: the curated zone needs pyiceberg and pyarrow: pip install 'transform-core[lake]'\n"
    )


def test_the_state_is_per_spec_namespace(pipeline: Pipeline, duplicated: str) -> None:
    compact(pipeline.spec, duplicated)
    other = catalog_settings(namespace="staging")
    summary = compact(pipeline.spec, duplicated, catalog=other)
    assert summary.table == f"staging.{TABLE}" and summary.compacted == 4  # another table: everything is new to it
    assert read_curated(pipeline.spec, duplicated, catalog=other).height == read_curated(pipeline.spec, duplicated).height


def test_a_warehouse_puts_the_table_beside_the_raw_zone(pipeline: Pipeline, duplicated: str, tmp_path: Path) -> None:
    warehouse = tmp_path / "elsewhere"
    settings = catalog_settings(warehouse=str(warehouse))

    summary = compact(pipeline.spec, duplicated, catalog=settings)

    table = curated_table(pipeline.spec, duplicated, catalog=settings)
    assert table is not None and table.location() == str(warehouse / "transform_core" / TABLE)
    assert summary.committed and list(warehouse.rglob("*.parquet"))
    assert not (Path(duplicated) / "curated").exists()
    assert compact(pipeline.spec, duplicated, catalog=settings).committed is False  # found there, not made again
