"""spark-reprocess on a local Spark writes the lake ``reprocess`` writes, replaces its own files on a rerun, compacts."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.helpers.curated import read_curated
from tests.helpers.spark import SPEC, read_lake_zone
from transform_core.cli import main
from transform_core.demo.generate import iot_payloads
from transform_core.jobs.reprocess import ReprocessOptions, reprocess
from transform_core.lake.curated import compact, curated_table

pytestmark = pytest.mark.spark

LINEAGE = ["_ingested_at", "_batch_id"]  # when and by which run: the only columns that differ between the two jobs
BATCH = 300  # records per chunk: several chunks per file, so record ids depend on the chunking as in reprocess


def write_inputs(folder: Path) -> None:
    """NDJSON (plain and gzip), a Firehose backup with concatenated records, odd lines, and files both jobs skip."""
    payloads = [p.data for p in iot_payloads(1500, 0.1, seed=21) if not p.corrupt_base64]
    (folder / "2026" / "11").mkdir(parents=True)
    (folder / "2026" / "11" / "a.ndjson").write_bytes(b"\n".join(payloads[:600]) + b"\nnot json\n\n" + b"\xff\xfe{}\n")
    (folder / "2026" / "11" / "b.ndjson.gz").write_bytes(gzip.compress(b"\n".join(payloads[600:1200]) + b"\n"))
    backup = [b"".join(payloads[i : i + 3]) for i in range(1200, 1500, 3)]  # Firehose S3 backup: {..}{..}{..} per line
    (folder / "backup-1").write_bytes(b"\n".join(backup) + b"\n")
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".hidden.ndjson").write_bytes(payloads[0] + b"\n")


def lake_files(lake: Path) -> list[str]:
    return sorted(str(p.relative_to(lake)) for p in lake.rglob("*") if p.is_file())


def errors(lake: Path) -> pl.DataFrame:
    lines = [json.loads(line) for f in sorted((lake / "errors").rglob("*.ndjson")) for line in f.read_text().splitlines()]
    columns = ["recordId", "approximateArrivalTimestamp", "rawData", "reason", "reasons", "specName", "specVersion"]
    return pl.DataFrame(lines).select(columns).sort("recordId")


@pytest.mark.parametrize("repartition", [False, True], ids=["executors write", "spark writes"])
def test_the_lake_of_reprocess_idempotent_per_run_id_and_compacted(spark: Any, tmp_path: Path, repartition: bool) -> None:
    """Into a local lake the executors write the files themselves; with ``repartition`` (as on HDFS) Spark's writers."""
    from transform_core.adapters.spark.job import SparkReprocessOptions, spark_reprocess

    inputs = tmp_path / "in"
    write_inputs(inputs)
    single = reprocess([str(inputs)], ReprocessOptions(spec=str(SPEC), out=str(tmp_path / "single"), workers=1, chunk_size=BATCH))
    lake = tmp_path / "lake"
    options = SparkReprocessOptions(
        spec=str(SPEC), lake=str(lake), run_id="r1", chunk_size=BATCH, rows_per_file=100, repartition=repartition
    )

    first = spark_reprocess(spark, [str(inputs)], options).summary
    counts = ("files", "records", "ok", "failed", "dropped", "blank", "enrich_missed")
    assert [getattr(first, c) for c in counts] == [getattr(single, c) for c in counts]
    assert first.blank > 0 and first.enrich_missed["devices"] > 0  # blank lines skipped; the generator's unknown devices
    assert first.nbytes == sum(p.stat().st_size for p in inputs.rglob("*") if p.is_file() and p.name[0] not in "._")  # as stored
    assert first.reasons == single.reasons and first.failed > 100 and first.files == 3
    spark_rows = read_lake_zone(lake / "raw").sort("_source_record_id")
    assert_frame_equal(
        spark_rows.drop(LINEAGE), read_lake_zone(tmp_path / "single" / "raw").sort("_source_record_id").drop(LINEAGE)
    )
    assert set(spark_rows["_batch_id"]) == {"r1"}
    assert_frame_equal(errors(lake), errors(tmp_path / "single"))
    files = lake_files(lake)
    assert files == sorted(str(Path(p).relative_to(lake)) for p in first.written)  # nothing else: no .crc, no staging
    assert all(Path(f).name.startswith("part-r1-") for f in files) and any(f.endswith("-1.parquet") for f in files)

    again = spark_reprocess(spark, [str(inputs)], options).summary
    assert lake_files(lake) == files and again.ok == first.ok  # the same names, replaced
    assert read_lake_zone(lake / "raw").height == first.ok

    fewer = spark_reprocess(spark, [str(inputs / "2026" / "11" / "a.ndjson")], options).summary  # same run id, less input
    assert fewer.files == 1 and 0 < fewer.ok < first.ok
    assert read_lake_zone(lake / "raw").height == fewer.ok  # the run's earlier files are gone, not left beside
    assert set(lake_files(lake)) < set(files)

    other = spark_reprocess(
        spark, [str(inputs)], SparkReprocessOptions(spec=str(SPEC), lake=str(lake), zone="curated", repartition=repartition)
    )
    assert other.run_id.startswith("run-") and other.run_id != "r1"
    raw = read_lake_zone(lake / "raw")
    assert raw.height == fewer.ok + first.ok  # another run's files are never touched
    assert {p.partition for p in other.curated} == {
        f"year={y}/month={m}/day={d}" for y, m, d in raw.select("year", "month", "day").unique().iter_rows()
    }
    assert {p.status for p in other.curated} == {"compacted"}
    table = curated_table(load_spec(), str(lake))
    assert table is not None and [s.snapshot_id for s in table.snapshots()] == [other.curated_snapshot]  # one commit
    curated = read_curated(load_spec(), lake)
    assert curated.height == raw["event_id"].n_unique() < raw.height  # deduplicated by event_id

    # the same table transform-core compact makes of the same raw zone
    shutil.copytree(lake / "raw", tmp_path / "compacted" / "raw")
    compact(load_spec(), str(tmp_path / "compacted"))
    expected = read_curated(load_spec(), tmp_path / "compacted")
    assert_frame_equal(curated.sort("_source_record_id"), expected.sort("_source_record_id"))
    assert curated_table(load_spec(), str(tmp_path / "compacted")).schema() == table.schema()  # type: ignore[union-attr]


def summary_count(out: str, label: str) -> int:
    match = re.search(rf"^{label} +([\d,]+)", out, re.M)
    assert match is not None, out
    return int(match[1].replace(",", ""))


def load_spec() -> Any:
    from transform_core.spec import load_spec as load

    return load(SPEC)


def test_the_command_line_dry_run_and_a_missing_input(spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "in"
    write_inputs(inputs)
    lake = tmp_path / "lake"
    argv = ["spark-reprocess", "--spec", str(SPEC), "--lake", str(lake), "--dry-run", "--run-id", "dry", str(inputs)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "run id" in out and "dry" in out and "top rejection rules" in out and "dry run: nothing written" in out
    local = reprocess([str(inputs)], ReprocessOptions(spec=str(SPEC), dry_run=True, workers=1))
    assert f"\nblank      {local.blank:>12,} lines skipped (whitespace only)\n" in out
    missed = local.enrich_missed["devices"]
    assert f"\nunenriched {missed:>12,} of the ok records, their fields null: devices {missed:,}\n" in out
    assert not lake.exists()
    # as reprocess: a rejected share above --max-reject-rate fails the run, in one line, after the summary
    assert main([*argv[:-1], "--max-reject-rate", "0.01", str(inputs)]) == 1
    captured = capsys.readouterr()
    rejected, records = summary_count(captured.out, "rejected"), summary_count(captured.out, "records")
    assert captured.err.splitlines()[-1] == (
        f"transform-core spark-reprocess: error: {rejected / records:.1%} of the records were rejected "
        f"({rejected:,} of {records:,}), more than --max-reject-rate 0.01"
    )
    assert main([*argv[:-1], "--max-reject-rate", "0.5", str(inputs)]) == 0
    capsys.readouterr()
    assert main([*argv[:-1], str(tmp_path / "nope")]) == 1
    assert "nope" in capsys.readouterr().err
