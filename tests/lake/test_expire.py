"""expire: old snapshots of the curated table removed, the files nothing references deleted, the rest untouched."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.helpers.curated import SCHEMA, TS, read_curated, snapshot_ids, write_texts
from tests.helpers.lake import TABLE, process
from transform_core.cli import main
from transform_core.engine import Pipeline
from transform_core.errors import CommitConflictError
from transform_core.lake import LakeWriter
from transform_core.lake.curated import compact, curated_table, expire
from transform_core.lake.curated.catalogs import catalog_settings
from transform_core.lake.curated.compact import ATTEMPTS, consumed_state
from transform_core.lake.storage import list_files, list_sizes, write_atomic
from transform_core.spec import PipelineSpec, load_spec

DAY25 = '{"ts":"2026-11-25T10:00:00Z","i":3}'
LATER = datetime.now(UTC) + timedelta(days=30)  # a clock far enough ahead that everything is old


@pytest.fixture
def spec(tmp_path: Path) -> PipelineSpec:
    """A small spec from a file (the command line needs one), partitioned by day of ``ts``."""
    file = tmp_path / "spec.json"
    file.write_text(json.dumps({"version": 1, "name": "t", "schema": SCHEMA, "event_time": {"field": "ts"}}))
    return load_spec(file)


@pytest.fixture
def root(spec: PipelineSpec, tmp_path: Path) -> Path:
    """A lake whose table has three snapshots: day 24 compacted, day 24 recomputed with a new file, day 25 added."""
    lake = tmp_path / "lake"
    for batch_id, record in [("b1", f'{{{TS},"i":1}}'), ("b2", f'{{{TS},"i":2}}'), ("b3", DAY25)]:
        write_texts(spec, lake, [record], batch_id)
        assert compact(spec, str(lake)).committed
    return lake


def table_dir(root: Path) -> Path:
    return root / "curated" / "transform_core" / "t"


def age(folder: Path, days: float) -> None:
    """Make every file under ``folder`` look last written ``days`` ago."""
    then = time.time() - days * 86_400
    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: its size and modification time."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def current_data_files(spec: PipelineSpec, root: str | Path, **options: Any) -> set[str]:
    table = curated_table(spec, str(root), **options)
    assert table is not None
    return {task.file.file_path for task in table.scan().plan_files()}


def referenced(spec: PipelineSpec, root: Path) -> set[str]:
    """What reading any snapshot of the table touches: metadata files, manifest lists, manifests, data files."""
    table = curated_table(spec, str(root))
    assert table is not None
    files = {table.metadata_location, *(entry.metadata_file for entry in table.metadata.metadata_log)}
    for snapshot in table.snapshots():
        files.add(snapshot.manifest_list)
        files |= {manifest.manifest_path for manifest in snapshot.manifests(table.io)}
        files |= {task.file.file_path for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files()}
    return files


def add_orphans(spec: PipelineSpec, root: Path) -> dict[str, Path]:
    """What crashed or outraced runs leave: a data file and a metadata file nothing references."""
    table = curated_table(spec, str(root))
    assert table is not None
    data = table_dir(root) / "data" / "ts_day=2026-11-24" / f"00000-0-{uuid.uuid4()}.parquet"
    pl.DataFrame({"i": [1]}).write_parquet(data)
    metadata = table_dir(root) / "metadata" / f"00099-{uuid.uuid4()}.metadata.json"
    shutil.copyfile(table.metadata_location, metadata)
    return {"data": data, "metadata": metadata}


# --- snapshots ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("retain_last", [1, 2, 3])
def test_snapshots_older_than_the_cutoff_go_but_the_last_ones_stay(spec: PipelineSpec, root: Path, retain_last: int) -> None:
    snapshots = snapshot_ids(spec, root)

    summary = expire(spec, str(root), older_than=timedelta(0), retain_last=retain_last)

    assert snapshot_ids(spec, root) == snapshots[-retain_last:] == list(summary.kept)
    assert sorted(summary.expired) == sorted(snapshots[:-retain_last])
    assert summary.snapshot_id == snapshots[-1] and summary.found and not summary.dry_run


def test_snapshots_newer_than_the_cutoff_stay(spec: PipelineSpec, root: Path) -> None:
    table = curated_table(spec, str(root))
    assert table is not None
    first, second, _ = table.snapshots()
    at_second = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=second.timestamp_ms)

    summary = expire(spec, str(root), now=at_second + timedelta(days=5))  # the default age: 5 days

    assert list(summary.expired) == [first.snapshot_id]
    assert summary.expired[first.snapshot_id] == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=first.timestamp_ms)
    assert snapshot_ids(spec, root) == [s.snapshot_id for s in table.snapshots()[1:]]


def test_the_kept_snapshots_still_travel_in_time(spec: PipelineSpec, root: Path) -> None:
    snapshots = snapshot_ids(spec, root)
    before = {s: read_curated(spec, root, as_of=str(s)).sort("i") for s in snapshots}

    expire(spec, str(root), older_than=timedelta(0), retain_last=2, now=LATER, orphans_older_than=timedelta(0))

    for snapshot in snapshots[1:]:
        assert_frame_equal(read_curated(spec, root, as_of=str(snapshot)).sort("i"), before[snapshot])
    with pytest.raises(ValueError, match=f"--as-of {snapshots[0]}: no such snapshot"):
        read_curated(spec, root, as_of=str(snapshots[0]))


def test_the_compact_state_survives_so_a_rerun_commits_nothing(spec: PipelineSpec, root: Path) -> None:
    import pyarrow as pa

    table = curated_table(spec, str(root))
    assert table is not None
    for _ in range(2):  # another writer's snapshots on top of compact's: consumed_state walks back past them
        table.append(pa.Table.from_pylist([], schema=table.schema().as_arrow()))
    snapshots, state = snapshot_ids(spec, root), consumed_state(table)
    assert len(state) == 2

    summary = expire(spec, str(root), older_than=timedelta(0), retain_last=1)

    assert sorted(summary.expired) == sorted(snapshots[:2])  # compact's last snapshot and the two after it stay
    assert snapshot_ids(spec, root) == snapshots[2:]
    after = curated_table(spec, str(root))
    assert after is not None and consumed_state(after) == state
    assert not compact(spec, str(root)).committed


# --- files --------------------------------------------------------------------------------------------------------------


def test_files_nothing_references_go_once_old_enough_and_nothing_referenced_does(spec: PipelineSpec, root: Path) -> None:
    table = curated_table(spec, str(root))
    assert table is not None
    every = {task.file.file_path for s in table.snapshots() for task in table.scan(snapshot_id=s.snapshot_id).plan_files()}
    current, rows = current_data_files(spec, root), read_curated(spec, root).sort("i")
    assert every - current  # day 24 as the first snapshot had it: read by expired snapshots only
    orphans = add_orphans(spec, root)
    markers = [table_dir(root) / "data" / name for name in ("_SUCCESS", ".part.crc")]  # others' files: never ours to judge
    for marker in markers:
        marker.write_bytes(b"")
    age(root, days=10)
    young = table_dir(root) / "data" / "ts_day=2026-11-25" / f"00000-0-{uuid.uuid4()}.parquet"  # a run in flight
    pl.DataFrame({"i": [2]}).write_parquet(young)
    before = tree(table_dir(root))

    summary = expire(spec, str(root), older_than=timedelta(0))  # orphans_older_than: the default, 3 days

    after = tree(table_dir(root))
    assert set(summary.orphans) == set(before) - set(after)  # what it reports is what went
    assert summary.orphan_bytes == sum(before[f][0] for f in summary.orphans) > 0
    assert not orphans["data"].exists() and not orphans["metadata"].exists() and young.exists()
    assert all(marker.exists() for marker in markers)
    assert summary.young == 1
    assert {f for f in after if f.endswith(".parquet")} == current | {str(young)}  # the expired snapshots' data is gone
    assert referenced(spec, root) <= set(after)
    assert_frame_equal(read_curated(spec, root).sort("i"), rows)


def test_a_dry_run_changes_nothing_and_names_what_a_run_deletes(spec: PipelineSpec, root: Path) -> None:
    add_orphans(spec, root)
    age(root, days=10)
    snapshots, before = snapshot_ids(spec, root), tree(root)

    dry = expire(spec, str(root), older_than=timedelta(0), dry_run=True)

    assert dry.dry_run and tree(root) == before and snapshot_ids(spec, root) == snapshots
    assert len(dry.expired) == 2 and len(dry.orphans) > 2
    real = expire(spec, str(root), older_than=timedelta(0))
    assert (real.expired, real.orphans, real.kept) == (dry.expired, dry.orphans, dry.kept)


def test_rows_read_the_same_and_nothing_outside_the_table_is_touched(pipeline: Pipeline, tmp_path: Path) -> None:
    root = str(tmp_path)
    for batch_id, seed in [("b1", 1), ("b2", 2), ("b3", 1)]:
        done = process(pipeline, 200, 0.05, seed=seed)
        LakeWriter(pipeline.spec, root, rows_per_file=15).write(done.result, done.batch, batch_id=batch_id)
        compact(pipeline.spec, root, target_rows=20)
    rows = read_curated(pipeline.spec, root).sort("_source_record_id")
    beside = tmp_path / "curated" / "transform_core" / f"{TABLE}_old" / "data" / "x.parquet"  # shares the name's prefix
    beside.parent.mkdir(parents=True)
    pl.DataFrame({"i": [1]}).write_parquet(beside)
    age(tmp_path, days=10)
    table = tmp_path / "curated" / "transform_core" / TABLE
    catalog = str(tmp_path / "_catalog" / "iceberg.db")  # the one file outside that the commit changes

    def outside() -> dict[str, tuple[int, int]]:
        return {path: state for path, state in tree(tmp_path).items() if not path.startswith((f"{table}/", catalog))}

    before = outside()

    summary = expire(pipeline.spec, root, now=LATER)

    assert len(summary.expired) == 2 and summary.orphans
    assert all(path.startswith(f"{table}/") for path in summary.orphans)
    assert outside() == before and beside.exists()
    assert_frame_equal(read_curated(pipeline.spec, root).sort("_source_record_id"), rows)
    assert {str(p) for p in table.rglob("*.parquet")} == current_data_files(pipeline.spec, root)


def test_partitions_of_a_derived_event_time_are_cleaned_too(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"ms": {"type": "number"}, "k": {"type": "string"}}}
    spec = load_spec({"version": 1, "name": "t", "schema": schema, "event_time": {"field": "ms", "format": "epoch_millis"}})
    for batch_id, k in [("b1", "a"), ("b2", "b")]:  # the same partition twice: the first file is replaced
        write_texts(spec, tmp_path, [f'{{"k":"{k}","ms":1795824000000}}'], batch_id)
        compact(spec, str(tmp_path))
    folder = table_dir(tmp_path) / "data" / "_event_time_day=2026-11-28"  # "_": a partition folder, not a hidden one
    assert len(list(folder.glob("*.parquet"))) == 2

    summary = expire(spec, str(tmp_path), older_than=timedelta(0), now=LATER)

    assert {str(p) for p in folder.glob("*.parquet")} == current_data_files(spec, tmp_path)
    assert len(summary.orphans) == 3  # the replaced data file, its manifest and its manifest list


# --- what a user gets wrong, races --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retain_last": 0}, "retain_last must be at least 1, got 0"),
        ({"older_than": timedelta(seconds=-1)}, "ages cannot be negative"),
        ({"orphans_older_than": timedelta(days=-1)}, "ages cannot be negative"),
        ({"now": datetime(2026, 1, 1)}, "now must carry a time zone"),
    ],
)
def test_settings_that_make_no_sense_are_refused(spec: PipelineSpec, root: Path, options: dict[str, Any], message: str) -> None:
    snapshots = snapshot_ids(spec, root)
    with pytest.raises(ValueError, match=message):
        expire(spec, str(root), **options)
    assert snapshot_ids(spec, root) == snapshots


def test_a_lake_without_a_table_has_nothing_to_expire(
    spec: PipelineSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "fresh"
    write_texts(spec, lake, [f'{{{TS},"i":1}}'], "b1")  # raw files, never compacted

    summary = expire(spec, str(lake))
    code = main(["expire", "--spec", spec.spec_file, "--lake", str(lake)])

    assert not summary.found and summary.expired == {} and summary.orphans == {}
    assert (code, capsys.readouterr().out) == (0, "transform_core.t: no curated table yet, nothing to expire\n")
    assert not (lake / "_catalog").exists()  # looking made no catalog


@pytest.mark.parametrize(
    ("argv", "status", "error"),
    [
        (
            ["--lake", "{tmp}/nowhere"],
            1,
            "transform-core expire: error: no lake at {tmp}/nowhere: the folder does not exist; give --lake the folder compact "
            "wrote the curated table in",
        ),
        (["--lake", "s3://bucket/lake"], 1, "transform-core: error: the SQL catalog of an s3:// lake (s3://bucket/lake) is a "),
        (["--older-than", "5x"], 2, "argument --older-than: not a duration: '5x' (a whole number and s, m, h or d"),
        (["--orphans-older-than", "3 days"], 2, "argument --orphans-older-than: not a duration: '3 days'"),
        (["--retain-last", "0"], 2, "argument --retain-last: must be at least 1, got 0"),
    ],
)
def test_command_line_mistakes_are_one_line(
    spec: PipelineSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], status: int, error: str
) -> None:
    args = ["expire", "--spec", spec.spec_file, *(a.format(tmp=tmp_path) for a in argv)]
    if status == 2:
        with pytest.raises(SystemExit) as exited:
            main(args)
        code = exited.value.code
    else:
        code = main(args)
    err = capsys.readouterr().err
    assert code == status and error.format(tmp=tmp_path) in err.splitlines()[-1]
    assert err.count("\n") == 1 or err.startswith("usage: transform-core expire")  # argparse: the usage, then one line


def test_the_command_line_says_what_went_and_vacuum_is_the_same(
    spec: PipelineSpec, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_orphans(spec, root)
    age(root, days=10)
    table = curated_table(spec, str(root))
    assert table is not None
    first, second, third = table.snapshots()
    at = [datetime.fromtimestamp(s.timestamp_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for s in (first, second)]
    args = ["--spec", spec.spec_file, "--lake", str(root), "--older-than", "0s"]

    assert main(["vacuum", *args, "--dry-run"]) == 0
    dry = capsys.readouterr().out.splitlines()
    assert main(["expire", *args, "--orphans-older-than", "36h"]) == 0
    real = capsys.readouterr().out.splitlines()

    orphans = [line for line in dry if line.startswith("would delete ")]
    assert dry == [
        f"would expire snapshot {first.snapshot_id} (committed {at[0]})",
        f"would expire snapshot {second.snapshot_id} (committed {at[1]})",
        *orphans,
        f"transform_core.t: 2 snapshots would be expired, 1 kept (current snapshot {third.snapshot_id})",
        dry[-2],
        "dry run: nothing changed",
    ]
    assert dry[-2].startswith(f"{len(orphans)} unreferenced files would be deleted (") and dry[-2].endswith(
        " bytes), 0 younger than 3d kept"
    )
    assert real[0] == f"transform_core.t: 2 snapshots expired, 1 kept (current snapshot {third.snapshot_id})"
    assert real[1] == dry[-2].replace("would be deleted", "deleted").replace("3d", "36h")
    assert len(real) == 2


def test_a_commit_lost_to_another_writer_is_decided_again(
    spec: PipelineSpec, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog

    real = SqlCatalog._write_metadata
    others: list[int] = []

    def another_writer_first(*args: Any, **kwargs: Any) -> None:
        # between the catalog reading the table and swapping its metadata: another commit lands (once)
        if not others:
            others.append(1)
            table = curated_table(spec, str(root))
            assert table is not None
            table.append(pa.Table.from_pylist([], schema=table.schema().as_arrow()))
        real(*args, **kwargs)

    snapshots = snapshot_ids(spec, root)
    monkeypatch.setattr(SqlCatalog, "_write_metadata", staticmethod(another_writer_first))
    summary = expire(spec, str(root), older_than=timedelta(0))

    after = snapshot_ids(spec, root)
    assert summary.attempts == 2 and sorted(summary.expired) == sorted(snapshots[:2])
    assert after[0] == snapshots[2] and len(after) == 2  # compact's snapshot, then the other writer's on top


def test_snapshots_another_expiry_removed_first_are_not_an_error(
    spec: PipelineSpec, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyiceberg.catalog.sql import SqlCatalog

    real = SqlCatalog.commit_table
    others: list[int] = []

    def another_expiry_first(self: SqlCatalog, *args: Any) -> Any:
        if not others:
            others.append(1)
            assert expire(spec, str(root), older_than=timedelta(0)).expired
        return real(self, *args)

    snapshots = snapshot_ids(spec, root)
    monkeypatch.setattr(SqlCatalog, "commit_table", another_expiry_first)
    summary = expire(spec, str(root), older_than=timedelta(0))

    assert (summary.attempts, summary.expired) == (2, {})  # the other run expired them
    assert snapshot_ids(spec, root) == snapshots[2:]


def test_a_run_that_loses_every_commit_exits_with_one_line(
    spec: PipelineSpec, root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog

    real = SqlCatalog._write_metadata
    inside: list[int] = []

    def another_writer_first(*args: Any, **kwargs: Any) -> None:
        if not inside:  # every commit of the run: someone else's lands just before
            inside.append(1)
            table = curated_table(spec, str(root))
            assert table is not None
            table.append(pa.Table.from_pylist([], schema=table.schema().as_arrow()))
            inside.clear()
        real(*args, **kwargs)

    monkeypatch.setattr(SqlCatalog, "_write_metadata", staticmethod(another_writer_first))
    snapshots = snapshot_ids(spec, root)
    with pytest.raises(CommitConflictError):
        expire(spec, str(root), older_than=timedelta(0))
    code = main(["expire", "--spec", spec.spec_file, "--lake", str(root), "--older-than", "0s"])

    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err == (
        f"transform-core: error: the curated table transform_core.t changed under each of {ATTEMPTS} expiry commits; "
        "run it again\n"
    )
    assert snapshot_ids(spec, root)[: len(snapshots)] == snapshots  # none expired: only the others' were added


# --- S3 -----------------------------------------------------------------------------------------------------------------


def test_expiry_on_s3_with_a_local_catalog_file(spec: PipelineSpec, s3_bucket: str, tmp_path: Path) -> None:
    root = f"s3://{s3_bucket}/lake"
    settings = catalog_settings(catalog_file=str(tmp_path / "catalog.db"))
    for batch_id, record in [("b1", f'{{{TS},"i":1}}'), ("b2", f'{{{TS},"i":2}}')]:
        write_texts(spec, root, [record], batch_id)
        compact(spec, root, catalog=settings)
    location = f"{root}/curated/transform_core/t"
    orphan = f"{location}/data/ts_day=2026-11-24/00000-0-{uuid.uuid4()}.parquet"
    write_atomic(orphan, b"PAR1 left by a crash")
    beside = f"{root}/curated/transform_core/t_old/data/x.parquet"
    write_atomic(beside, b"another table's")
    rows, before = read_curated(spec, root, catalog=settings).sort("i"), list_sizes(location)

    summary = expire(spec, root, older_than=timedelta(0), now=LATER, catalog=settings)

    after = list_sizes(location)
    assert len(summary.expired) == 1 and orphan in summary.orphans
    assert set(summary.orphans) == set(before) - set(after)
    assert {f for f in after if f.endswith(".parquet")} == current_data_files(spec, root, catalog=settings)
    assert list_files(beside) == [beside]
    assert_frame_equal(read_curated(spec, root, catalog=settings).sort("i"), rows)
