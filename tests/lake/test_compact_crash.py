"""compact under crashes and concurrent runs: the table is always its last commit, and a rerun completes it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.helpers.curated import read_curated, snapshot_ids
from tests.helpers.lake import EXAMPLE, process
from transform_core.cli import main
from transform_core.engine import Pipeline
from transform_core.errors import CommitConflictError
from transform_core.lake import LakeWriter
from transform_core.lake.curated import compact, curated_table, scan_curated
from transform_core.lake.curated.compact import ATTEMPTS

REPO = Path(__file__).resolve().parents[2]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"PYTHONPATH": str(REPO)}


def write_raw(pipeline: Pipeline, root: Path, batch_id: str, seed: int, n: int = 400) -> None:
    done = process(pipeline, n, 0.05, seed=seed)
    LakeWriter(pipeline.spec, str(root), rows_per_file=40).write(done.result, done.batch, batch_id=batch_id)


def expected(pipeline: Pipeline, root: Path, scratch: Path) -> pl.DataFrame:
    """What compacting the raw zone of ``root`` gives in a lake of its own (run once, undisturbed)."""
    shutil.copytree(root / "raw", scratch / "raw")
    compact(pipeline.spec, str(scratch), target_rows=50)
    return read_curated(pipeline.spec, scratch).sort("_source_record_id")


def committed_files(pipeline: Pipeline, root: Path) -> set[str]:
    """The data files of every snapshot of the table (older ones still read their own)."""
    table = curated_table(pipeline.spec, str(root))
    assert table is not None
    return {task.file.file_path for s in table.snapshots() for task in table.scan(snapshot_id=s.snapshot_id).plan_files()}


@pytest.fixture
def lake(pipeline: Pipeline, tmp_path: Path) -> Path:
    """A lake compacted once, then given new raw files in every partition (the next run has work to do)."""
    root = tmp_path / "lake"
    write_raw(pipeline, root, "b1", seed=1)
    compact(pipeline.spec, str(root), target_rows=50)
    write_raw(pipeline, root, "b2", seed=1)  # a replay: the same records again
    write_raw(pipeline, root, "b3", seed=2)
    return root


# --- kill -9 ------------------------------------------------------------------------------------------------------------

KILLED = """
import os, signal, sys
import pyiceberg.catalog.sql, pyiceberg.table
import transform_core
import transform_core.lake.curated.files as curated_files
from transform_core.lake.curated import compact

point, calls = sys.argv[2], []

def kill():
    os.kill(os.getpid(), signal.SIGKILL)

real_described = curated_files._described
def described(*args, **kwargs):  # each data file written whole, then a kill after the third
    data_file = real_described(*args, **kwargs)
    calls.append(data_file)
    if point == "writing" and len(calls) == 3:
        kill()
    return data_file

real_commit = pyiceberg.table.Transaction.commit_transaction
def commit(self):
    if point == "commit":
        kill()
    return real_commit(self)

real_metadata = pyiceberg.catalog.sql.SqlCatalog._write_metadata
def metadata(*args, **kwargs):  # the new metadata file is written; the catalog never points at it
    real_metadata(*args, **kwargs)
    if point == "metadata":
        kill()

curated_files._described = described
pyiceberg.table.Transaction.commit_transaction = commit
pyiceberg.catalog.sql.SqlCatalog._write_metadata = staticmethod(metadata)
compact(transform_core.load_spec(sys.argv[3]), sys.argv[1], target_rows=50)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.parametrize("point", ["writing", "commit", "metadata"])
def test_a_run_killed_anywhere_leaves_the_last_commit_then_a_rerun_completes(
    pipeline: Pipeline, lake: Path, tmp_path: Path, point: str
) -> None:
    before, snapshots = read_curated(pipeline.spec, lake), snapshot_ids(pipeline.spec, lake)

    child = subprocess.run(
        [sys.executable, "-c", KILLED, str(lake), point, str(EXAMPLE)], env=ENV, capture_output=True, check=False
    )

    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert snapshot_ids(pipeline.spec, lake) == snapshots  # the table is its last commit
    assert_frame_equal(read_curated(pipeline.spec, lake), before)  # every file it names is there
    written = {str(p) for p in (lake / "curated").rglob("*.parquet")}
    assert written > committed_files(pipeline, lake) or point == "metadata"  # the dead run's files: orphans, unread

    summary = compact(pipeline.spec, str(lake), target_rows=50)

    assert summary.committed and summary.compacted == 4
    assert_frame_equal(read_curated(pipeline.spec, lake).sort("_source_record_id"), expected(pipeline, lake, tmp_path / "x"))


# --- concurrent runs ----------------------------------------------------------------------------------------------------

WAITING = """
import sys
import transform_core
from transform_core.lake.curated import compact

spec = transform_core.load_spec(sys.argv[2])
sys.stdin.readline()  # both runs start together
summary = compact(spec, sys.argv[1], target_rows=50)
print(summary.committed, summary.attempts)
"""


@pytest.mark.parametrize("first", [False, True], ids=["table-exists", "first-run"])
def test_two_runs_at_once_both_end_and_leave_the_table_right(pipeline: Pipeline, lake: Path, tmp_path: Path, first: bool) -> None:
    if first:  # no catalog, no table yet: both runs create them at once
        shutil.rmtree(lake / "curated")
        shutil.rmtree(lake / "_catalog")
    snapshots = snapshot_ids(pipeline.spec, lake) if not first else []
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", WAITING, str(lake), str(EXAMPLE)],
            env=ENV,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    failures: list[BaseException] = []
    reads = 0
    done = threading.Event()

    def reader() -> None:  # a reader all along: whatever snapshot it takes, every file it names is there
        nonlocal reads
        while not done.is_set():
            try:
                frame = scan_curated(pipeline.spec, str(lake))  # None until there is a snapshot
                reads += frame.collect().height > 0 if frame is not None else 0
            except BaseException as err:  # noqa: BLE001 - reported below
                failures.append(err)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    for run in runs:
        assert run.stdin is not None
        run.stdin.write("go\n")
        run.stdin.flush()
    outputs = [run.communicate(timeout=300) for run in runs]
    done.set()
    thread.join()

    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    results = sorted(out.split() for out, _ in outputs)
    assert [committed for committed, _ in results].count("True") == 1  # one run committed the work, once
    assert failures == [] and reads > 0
    assert len(snapshot_ids(pipeline.spec, lake)) == len(snapshots) + 1
    assert_frame_equal(read_curated(pipeline.spec, lake).sort("_source_record_id"), expected(pipeline, lake, tmp_path / "x"))


def test_a_commit_lost_to_another_run_is_redone_from_the_new_state(
    pipeline: Pipeline, lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyiceberg.table import Transaction

    real = Transaction.commit_transaction
    raced: list[int] = []

    def commit_after_another_run(self: Transaction) -> Any:
        if not raced:  # the first commit of the outer run: another run commits the same work first
            raced.append(1)
            assert compact(pipeline.spec, str(lake), target_rows=50).committed
        return real(self)

    monkeypatch.setattr(Transaction, "commit_transaction", commit_after_another_run)
    summary = compact(pipeline.spec, str(lake), target_rows=50)

    assert (summary.attempts, summary.committed, summary.compacted) == (2, False, 0)  # nothing left to do
    assert {str(p) for p in (lake / "curated").rglob("*.parquet")} == committed_files(pipeline, lake)  # its files deleted
    assert_frame_equal(read_curated(pipeline.spec, lake).sort("_source_record_id"), expected(pipeline, lake, tmp_path / "x"))


def test_a_run_that_loses_every_commit_exits_with_one_line(
    pipeline: Pipeline, lake: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa
    from pyiceberg.table import Transaction

    real = Transaction.commit_transaction
    snapshots = snapshot_ids(pipeline.spec, lake)
    inside: list[int] = []

    def another_writer_first(self: Transaction) -> Any:
        if not inside:  # each commit of the run: someone else commits a snapshot (empty) just before
            inside.append(1)
            table = curated_table(pipeline.spec, str(lake))
            assert table is not None
            table.append(pa.Table.from_pylist([], schema=table.schema().as_arrow()))
            inside.clear()
        return real(self)

    monkeypatch.setattr(Transaction, "commit_transaction", another_writer_first)
    with pytest.raises(CommitConflictError):
        compact(pipeline.spec, str(lake))
    code = main(["compact", "--spec", str(EXAMPLE), "--lake", str(lake)])

    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err == (
        f"transform-core: error: the curated table transform_core.iot_telemetry changed under each of "
        f"{ATTEMPTS} commits of this run; run it again\n"
    )
    assert len(snapshot_ids(pipeline.spec, lake)) == len(snapshots) + 2 * ATTEMPTS  # only the others'


def test_a_commit_lost_to_a_run_over_other_partitions_keeps_both_runs_state(
    pipeline: Pipeline, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyiceberg.table import Transaction

    real = Transaction.commit_transaction
    raced: list[int] = []
    day24, day25 = "year=2026/month=11/day=24", "year=2026/month=11/day=25"

    def commit_after_another_run(self: Transaction) -> Any:
        if not raced:  # another run commits day 24 while this one is about to commit day 25
            raced.append(1)
            assert compact(pipeline.spec, str(lake), target_rows=50, partitions=[day24]).committed
        return real(self)

    monkeypatch.setattr(Transaction, "commit_transaction", commit_after_another_run)
    summary = compact(pipeline.spec, str(lake), target_rows=50, partitions=[day25])
    monkeypatch.undo()

    assert (summary.attempts, summary.committed, summary.compacted) == (2, True, 1)
    both = compact(pipeline.spec, str(lake), target_rows=50, partitions=[day24, day25])
    assert not both.committed  # the table's state has both runs' partitions: nothing is recomputed
