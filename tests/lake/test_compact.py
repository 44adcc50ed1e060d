"""Compaction of the raw zone into the curated zone: dedupe, sort, file sizes, idempotence, atomicity, S3."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import transform_core.lake.compact as compact_module
from tests.helpers.lake import TABLE, process
from transform_core.engine import Pipeline
from transform_core.lake import LakeWriter, list_files, read_bytes
from transform_core.lake.compact import MANIFEST, compact, curated_files
from transform_core.spec import PipelineSpec

TARGET_ROWS = 30


def write_raw(pipeline: Pipeline, root: str, batch_id: str, seed: int, n: int = 200) -> None:
    """``n`` valid-or-not records of one seed, in several small files per partition."""
    processed = process(pipeline, n, 0.05, seed=seed)
    LakeWriter(pipeline.spec, root, rows_per_file=15).write(processed.result, processed.batch, batch_id=batch_id)


def read_raw(root: str) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(io.BytesIO(read_bytes(f))) for f in list_files(f"{root}/raw/{TABLE}")])


def read_curated(spec: PipelineSpec, root: str) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(io.BytesIO(read_bytes(f))) for f in curated_files(spec, root)])


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every curated file (the manifests included) with its modification time and content."""
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in (root / "curated").rglob("*") if p.is_file()}


def assert_curated(spec: PipelineSpec, root: str, key: list[str]) -> pl.DataFrame:
    raw, curated = read_raw(root), read_curated(spec, root)
    assert curated.height == raw.select(key).n_unique()
    assert curated.select(key).is_duplicated().sum() == 0
    newest = raw.group_by(key).agg(pl.col("_ingested_at").max())
    kept = curated.join(newest, on=key, suffix="_newest")
    assert (kept["_ingested_at"] == kept["_ingested_at_newest"]).all()
    for uri in curated_files(spec, root):
        part = pl.read_parquet(io.BytesIO(read_bytes(uri)))
        assert 0 < part.height <= TARGET_ROWS
    for manifest in manifests(root):
        rows = pl.concat([pl.read_parquet(io.BytesIO(read_bytes(f"{manifest['dir']}/{f['path']}"))) for f in manifest["files"]])
        assert rows["event_time"].is_sorted()
        assert rows.height == manifest["rows"]
    return curated


def manifests(root: str) -> list[dict[str, Any]]:
    import json

    found = []
    for uri in curated_files_dirs(root):
        manifest = json.loads(read_bytes(f"{uri}/{MANIFEST}"))
        found.append({**manifest, "dir": uri})
    return found


def curated_files_dirs(root: str) -> list[str]:
    return sorted({f.rsplit("/", 2)[0] for f in list_files(f"{root}/curated/{TABLE}")})


@pytest.fixture
def duplicated(pipeline: Pipeline, tmp_path: Path) -> str:
    """A raw zone where every record of one batch was written twice, by two batch ids, plus another batch."""
    root = str(tmp_path)
    write_raw(pipeline, root, "b1", seed=1)
    write_raw(pipeline, root, "b2", seed=1)  # the same records again (a replay under another id)
    write_raw(pipeline, root, "b3", seed=2)
    return root


def test_compaction_dedupes_sorts_and_bounds_files(pipeline: Pipeline, duplicated: str) -> None:
    summary = compact(pipeline.spec, duplicated, target_rows=TARGET_ROWS)
    raw = read_raw(duplicated)
    assert summary.compacted == len(summary.partitions) >= 2
    assert summary.duplicates == raw.height - raw["event_id"].n_unique() > 0
    curated = assert_curated(pipeline.spec, duplicated, ["event_id"])
    replayed = set(read_raw(duplicated).filter(pl.col("_batch_id") == "b1")["event_id"])
    assert set(curated.filter(pl.col("event_id").is_in(replayed))["_batch_id"]) == {"b2"}  # the later copy


def test_content_key_without_an_id_field(pipeline: Pipeline, duplicated: str) -> None:
    properties = {k: v for k, v in pipeline.spec.schema["properties"].items() if k != "event_id"}
    spec = dataclasses.replace(pipeline.spec, schema={**pipeline.spec.schema, "properties": properties})
    compact(spec, duplicated, target_rows=TARGET_ROWS)
    assert manifests(duplicated)[0]["key"] == "content"
    assert_curated(spec, duplicated, ["event_id"])  # the two copies differ only in their lineage columns


def test_rerun_changes_nothing(pipeline: Pipeline, duplicated: str) -> None:
    compact(pipeline.spec, duplicated, target_rows=TARGET_ROWS)
    before = snapshot(Path(duplicated))
    summary = compact(pipeline.spec, duplicated, target_rows=TARGET_ROWS)
    assert summary.compacted == 0
    assert {p.status for p in summary.partitions} == {"unchanged"}
    assert snapshot(Path(duplicated)) == before


def test_raw_files_arriving_later_go_into_the_next_run(pipeline: Pipeline, duplicated: str) -> None:
    compact(pipeline.spec, duplicated, target_rows=TARGET_ROWS)
    write_raw(pipeline, duplicated, "b4", seed=3)
    write_raw(pipeline, duplicated, "b5", seed=3)
    assert compact(pipeline.spec, duplicated, target_rows=TARGET_ROWS).compacted > 0
    curated = assert_curated(pipeline.spec, duplicated, ["event_id"])
    assert "b5" in set(curated["_batch_id"]) and "b4" not in set(curated["_batch_id"])
    for folder in curated_files_dirs(duplicated):  # the previous generations are gone
        assert len({f.rsplit("/", 2)[1] for f in list_files(folder)}) == 1


def test_a_failed_swap_leaves_the_previous_state(pipeline: Pipeline, duplicated: str, monkeypatch: pytest.MonkeyPatch) -> None:
    compact(pipeline.spec, duplicated, target_rows=TARGET_ROWS)
    files, before = curated_files(pipeline.spec, duplicated), read_curated(pipeline.spec, duplicated)
    write_raw(pipeline, duplicated, "b4", seed=3)
    real = compact_module.write_atomic

    def failing(dest: str, data: bytes, **options: Any) -> None:
        if dest.endswith(MANIFEST):
            raise OSError("disk full")
        real(dest, data, **options)

    monkeypatch.setattr(compact_module, "write_atomic", failing)
    with pytest.raises(OSError, match="disk full"):
        compact(pipeline.spec, duplicated, target_rows=TARGET_ROWS)
    assert curated_files(pipeline.spec, duplicated) == files
    assert read_curated(pipeline.spec, duplicated).equals(before)

    monkeypatch.setattr(compact_module, "write_atomic", real)
    compact(pipeline.spec, duplicated, target_rows=TARGET_ROWS)
    assert_curated(pipeline.spec, duplicated, ["event_id"])
    for folder in curated_files_dirs(duplicated):  # the crashed run's files are cleaned up
        assert len({f.rsplit("/", 2)[1] for f in list_files(folder)}) == 1


def test_only_the_given_partitions(pipeline: Pipeline, duplicated: str) -> None:
    summary = compact(pipeline.spec, duplicated, partitions=["year=2026/month=11/day=25"])
    assert [p.partition for p in summary.partitions] == ["year=2026/month=11/day=25"]
    assert len(curated_files_dirs(duplicated)) == 1


def test_rows_with_a_null_key_are_all_kept(pipeline: Pipeline, duplicated: str) -> None:
    day = "year=2026/month=11/day=25"
    compact(pipeline.spec, duplicated, key="battery", partitions=[day])
    curated = read_curated(pipeline.spec, duplicated)
    raw = pl.concat([pl.read_parquet(f) for f in list_files(f"{duplicated}/raw/{TABLE}/{day}")])
    assert 0 < curated["battery"].null_count() == raw["battery"].null_count()
    assert curated["battery"].drop_nulls().n_unique() == raw["battery"].drop_nulls().n_unique()
    assert not curated["battery"].drop_nulls().is_duplicated().any()


def test_an_unknown_key_column_is_refused(pipeline: Pipeline, duplicated: str) -> None:
    with pytest.raises(ValueError, match="no key column 'nope'"):
        compact(pipeline.spec, duplicated, key="device_id,nope")


def test_compaction_on_s3(pipeline: Pipeline, s3_bucket: str) -> None:
    root = f"s3://{s3_bucket}/lake"
    write_raw(pipeline, root, "b1", seed=1)
    write_raw(pipeline, root, "b2", seed=1)
    assert compact(pipeline.spec, root, target_rows=TARGET_ROWS).compacted > 0
    assert_curated(pipeline.spec, root, ["event_id"])
    assert compact(pipeline.spec, root, target_rows=TARGET_ROWS).compacted == 0
    write_raw(pipeline, root, "b3", seed=2)
    compact(pipeline.spec, root, target_rows=TARGET_ROWS)
    assert_curated(pipeline.spec, root, ["event_id"])
    for folder in curated_files_dirs(root):
        assert len({f.rsplit("/", 2)[1] for f in list_files(folder)}) == 1
