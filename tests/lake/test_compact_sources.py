"""compact reads the raw zone of either producer: Firehose's NDJSON (plain, gzip) and Parquet give the curated rows the
lake writer's files give; a bad file keeps its partition out of the run (reported, retried), never its neighbours;
records the lake cannot hold exactly are counted and named."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.helpers.curated import SCHEMA, TS, make_spec, read_curated, write_texts
from tests.helpers.firehose_files import firehose_name, folder, write_ndjson, write_parquet
from tests.helpers.lake import TABLE, Processed
from transform_core.engine import Pipeline
from transform_core.lake import LakeWriter
from transform_core.lake.curated import compact

LINEAGE = ["_ingested_at", "_source_record_id", "_batch_id"]
REPO = Path(__file__).resolve().parents[2]


def curated_by_id(pipeline: Pipeline, root: Path) -> pl.DataFrame:
    return read_curated(pipeline.spec, root).drop(LINEAGE).sort("event_id")


def lake_writer_curated(pipeline: Pipeline, processed: Processed, root: Path) -> pl.DataFrame:
    LakeWriter(pipeline.spec, str(root)).write(processed.result, processed.batch, batch_id="b1")
    assert compact(pipeline.spec, str(root)).committed
    return curated_by_id(pipeline, root)


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_firehose_ndjson_compacts_to_the_lake_writers_rows(
    gzipped: bool, pipeline: Pipeline, processed: Processed, tmp_path: Path
) -> None:
    expected = lake_writer_curated(pipeline, processed, tmp_path / "own")
    write_ndjson(tmp_path / "firehose", TABLE, processed.result, pipeline.spec.partitioning.keys, gzipped=gzipped)

    summary = compact(pipeline.spec, str(tmp_path / "firehose"))

    assert summary.committed and summary.problems == () and summary.refused == ()
    assert summary.rows == processed.result.ok and summary.duplicates == 0
    assert_frame_equal(curated_by_id(pipeline, tmp_path / "firehose"), expected)
    rows = read_curated(pipeline.spec, tmp_path / "firehose")
    assert (
        rows["_source_record_id"].str.contains(r"^iot-telemetry-stream-3-[-0-9a-f]+(\.json\.gz)?#\d+$").all()
    )  # derived lineage


def test_firehose_parquet_compacts_to_the_lake_writers_rows(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    expected = lake_writer_curated(pipeline, processed, tmp_path / "own")
    write_parquet(tmp_path / "firehose", pipeline, processed.result)

    summary = compact(pipeline.spec, str(tmp_path / "firehose"))

    assert summary.committed and summary.problems == () and summary.rows == processed.result.ok
    # record format conversion drops undeclared properties: _extra is null (docs/raw-zone.md)
    got = curated_by_id(pipeline, tmp_path / "firehose")
    assert got["_extra"].null_count() == got.height
    assert_frame_equal(got.drop("_extra"), expected.drop("_extra"))


def test_a_firehose_redelivery_next_to_a_backfill_is_one_record(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    """One folder holding the lake writer's files, Firehose's NDJSON and a re-delivered copy of it, all the same records."""
    expected = lake_writer_curated(pipeline, processed, tmp_path)
    keys = pipeline.spec.partitioning.keys
    for gzipped in (False, True):
        write_ndjson(tmp_path, TABLE, processed.result, keys, gzipped=gzipped)

    summary = compact(pipeline.spec, str(tmp_path))

    assert summary.duplicates == 2 * processed.result.ok and summary.rows == processed.result.ok
    assert_frame_equal(curated_by_id(pipeline, tmp_path), expected)


def damaged_day(root: Path) -> Path:
    """A raw zone of two days, compacted; then a new record in each day, and a damaged gzip object in the first."""
    spec = make_spec()
    write_texts(spec, root, [f'{{{TS},"i":1}}', '{"ts":"2026-11-25T10:00:00Z","i":2}'], "b1")
    compact(spec, str(root))
    write_texts(spec, root, [f'{{{TS},"i":3}}', '{"ts":"2026-11-25T11:00:00Z","i":4}'], "b2")
    bad = root / "raw" / "t" / "year=2026" / "month=11" / "day=24" / firehose_name(1, ".json.gz")
    bad.write_bytes(gzip.compress(b'{"ts":"2026-11-24T10:00:00Z","i":5}\n')[:-9])
    return bad


def test_a_damaged_file_keeps_its_partition_as_it_was_and_the_others_go_on(tmp_path: Path) -> None:
    spec, bad = make_spec(), damaged_day(tmp_path)

    summary = compact(spec, str(tmp_path))

    status = {p.partition: p.status for p in summary.partitions}
    assert status == {"year=2026/month=11/day=24": "problem", "year=2026/month=11/day=25": "compacted"}
    assert summary.committed and [(Path(p.file).name, p.reason) for p in summary.problems] == [
        (bad.name, summary.problems[0].reason)
    ]
    assert "damaged gzip" in summary.problems[0].reason
    assert sorted(read_curated(spec, tmp_path)["i"].to_list()) == [1, 2, 4]  # day 24 as the last run left it

    again = compact(spec, str(tmp_path))  # never marked consumed: reported again, until the file is dealt with
    assert [p.status for p in again.partitions] == ["problem", "unchanged"] and not again.committed

    bad.unlink()
    fixed = compact(spec, str(tmp_path))
    assert [p.status for p in fixed.partitions] == ["compacted", "unchanged"] and fixed.problems == ()
    assert sorted(read_curated(spec, tmp_path)["i"].to_list()) == [1, 2, 3, 4]


def test_the_command_names_the_bad_file_and_exits_1(tmp_path: Path) -> None:
    damaged_day(tmp_path)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"version": 1, "name": "t", "schema": SCHEMA, "event_time": {"field": "ts"}}))
    command = [sys.executable, "-m", "transform_core.cli", "compact", "--spec", str(spec), "--lake", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 1, done.stderr
    assert "problem    year=2026/month=11/day=24" in done.stdout
    assert f"{firehose_name(1, '.json.gz')}: damaged gzip" in done.stderr
    assert "Traceback" not in done.stderr and "1 of 2 partitions not compacted" in done.stderr


def test_a_stray_file_and_an_undeclared_column_are_problems(tmp_path: Path) -> None:
    spec = make_spec()
    write_texts(spec, tmp_path, [f'{{{TS},"i":1}}'], "b1")
    day = tmp_path / "raw" / "t" / "year=2026" / "month=11" / "day=24"
    (day / "notes.txt").write_text("hello")
    pl.DataFrame({"ts": ["2026-11-24T10:00:00Z"], "i": [2], "gone": [1]}).with_columns(
        pl.col("ts").str.to_datetime(time_zone="UTC"),
        _ingested_at=pl.col("ts").str.to_datetime(time_zone="UTC"),
        _source_record_id=pl.lit("x"),
        _batch_id=pl.lit("x"),
    ).write_parquet(day / "part-x-0.parquet")
    (day / "_SUCCESS").write_text("")  # "_" names are nobody's data: never read, never a problem

    summary = compact(spec, str(tmp_path))

    reasons = {Path(p.file).name: p.reason for p in summary.problems}
    assert set(reasons) == {"notes.txt", "part-x-0.parquet"}
    assert "column 'gone' is not a column of the spec's lake" in reasons["part-x-0.parquet"]
    assert not summary.committed and summary.partitions[0].status == "problem"


def test_records_the_lake_cannot_hold_are_counted_and_named(tmp_path: Path) -> None:
    spec = make_spec()
    path = folder(tmp_path, "t", spec.partitioning.keys, ("2026", "11", "24"))
    lines = [f'{{{TS},"i":1}}', f'{{{TS},"i":99999999999999999999}}', f'{{{TS},"i":3}}']
    (path / firehose_name(0, ".json")).write_text("\n".join(lines) + "\n")

    summary = compact(spec, str(tmp_path))

    assert summary.committed and summary.rows == 2 and summary.partitions[0].raw_rows == 2
    [refused] = summary.refused
    assert (refused.record_id, refused.position) == (f"{firehose_name(0, '.json')}#2", 2)
    assert refused.reason.endswith("(lake_exact)") and "99999999999999999999" in refused.record
    assert sorted(read_curated(spec, tmp_path)["i"].to_list()) == [1, 3]
