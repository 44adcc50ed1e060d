"""Reruns, replays and crashes never store a record twice, and never leave it both in raw/ and in errors/.

Each test runs ``reprocess`` on generated IoT records and then reads the whole lake back: every record id is in
raw/ or in errors/ (or dropped), once.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from transform_core.demo.generate import iot_payloads
from transform_core.jobs.reprocess import ReprocessOptions, ReprocessSummary, reprocess
from transform_core.lake import writer as writer_module

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "examples" / "iot" / "schemas" / "iot_event.schema.json").read_text())
DEVICES = str(ROOT / "reference_data" / "devices.csv")
TABLE = "iot_telemetry"


def spec(folder: Path, *, value_maximum: float = 1000) -> str:
    """The example pipeline; a lower ``value_maximum`` rejects more records (a bug later fixed, say)."""
    schema = json.loads(json.dumps(SCHEMA))
    schema["properties"]["value"]["maximum"] = value_maximum
    path = folder / f"spec-{value_maximum:g}.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "name": "iot-telemetry",
                "schema": schema,
                "event_time": {"field": "event_time"},
                "enrich": [{"name": "devices", "source": DEVICES, "key": "device_id", "fields": ["site", "model"]}],
                "drop": {"field": "event_type", "in": ["heartbeat"]},
            }
        )
    )
    return str(path)


def records(path: Path, n: int = 600, seed: int = 1) -> Path:
    path.write_bytes(b"".join(p.data + b"\n" for p in iot_payloads(n, 0.1, seed=seed)))
    return path


def run(inputs: list[Path | str], spec_path: str, lake: Path, **options: Any) -> ReprocessSummary:
    settings: dict[str, Any] = {"workers": 1, "chunk_size": 100, **options}
    return reprocess([str(i) for i in inputs], ReprocessOptions(spec=spec_path, out=str(lake), **settings))


def stored(lake: Path) -> tuple[Counter[str], Counter[str]]:
    """How often each record id is in raw/, and in errors/."""
    raw = Counter[str]()
    if (lake / "raw").exists():
        raw.update(pl.read_parquet(lake / "raw" / TABLE / "**" / "*.parquet")["_source_record_id"].to_list())
    errors = Counter[str]()
    for file in (lake / "errors").rglob("*.ndjson") if (lake / "errors").exists() else []:
        errors.update(json.loads(line)["recordId"] for line in file.read_text().splitlines())
    return raw, errors


def assert_each_once(lake: Path, summary: ReprocessSummary) -> None:
    raw, errors = stored(lake)
    assert max(raw.values(), default=1) == 1 and max(errors.values(), default=1) == 1
    assert not raw.keys() & errors.keys()
    assert (sum(raw.values()), sum(errors.values())) == (summary.ok, summary.failed)
    assert not summary.problems


def test_a_rerun_under_another_chunk_size_replaces_the_first_runs_files(tmp_path: Path) -> None:
    source, lake, spec_path = records(tmp_path / "in.ndjson"), tmp_path / "lake", spec(tmp_path)
    first = run([source], spec_path, lake, chunk_size=100)
    ids = stored(lake)
    again = run([source], spec_path, lake, chunk_size=77)
    assert_each_once(lake, again)
    assert (again.ok, again.failed, again.dropped) == (first.ok, first.failed, first.dropped)
    assert set(again.replaced) == set(first.written) - set(again.written)
    assert stored(lake) == ids  # record ids come from the content and the line, not from the chunks


@pytest.mark.parametrize("disguise", ["copy", "symlink", "move", "gzip"])
def test_the_same_content_under_another_name_is_the_same_input(tmp_path: Path, disguise: str) -> None:
    source, lake, spec_path = records(tmp_path / "in.ndjson"), tmp_path / "lake", spec(tmp_path)
    first = run([source], spec_path, lake)
    ids = stored(lake)
    other = tmp_path / "elsewhere" / ("in.ndjson.gz" if disguise == "gzip" else "renamed.ndjson")
    other.parent.mkdir()
    if disguise == "copy":
        shutil.copy(source, other)
    elif disguise == "symlink":
        other.symlink_to(source)
    elif disguise == "move":
        source.rename(other)
    else:
        other.write_bytes(gzip.compress(source.read_bytes()))
    again = run([other], spec_path, lake, chunk_size=250)
    assert_each_once(lake, again)
    assert stored(lake) == ids and again.ok == first.ok


def test_a_crashed_run_then_a_rerun_under_another_chunk_size_stores_each_record_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, lake, spec_path = records(tmp_path / "in.ndjson", n=900), tmp_path / "lake", spec(tmp_path)
    write = writer_module.LakeWriter.write
    calls = 0

    def dies_on_the_fourth_chunk(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise OSError("No space left on device")
        return write(self, *args, **kwargs)

    hold = writer_module.HeldRows.__init__

    def holds_nothing(self: Any, **kwargs: Any) -> None:  # as under memory pressure: each chunk's rows go out at once
        hold(self, **{**kwargs, "max_bytes": 0})

    with monkeypatch.context() as patch:
        patch.setattr(writer_module.LakeWriter, "write", dies_on_the_fourth_chunk)
        patch.setattr(writer_module.HeldRows, "__init__", holds_nothing)
        crashed = run([source], spec_path, lake, chunk_size=100)
    assert crashed.problems == [(str(source), "OSError: No space left on device")]
    assert sum(stored(lake)[0].values()) > 0  # three chunks are in
    again = run([source], spec_path, lake, chunk_size=130)
    assert_each_once(lake, again)


def test_replaying_the_errors_twice_leaves_the_lake_as_it_was(tmp_path: Path) -> None:
    source, lake, spec_path = records(tmp_path / "in.ndjson"), tmp_path / "lake", spec(tmp_path)
    first = run([source], spec_path, lake)
    before, files = stored(lake), len(list((lake / "errors").rglob("*.ndjson")))
    for _ in range(2):
        replay = run([lake / "errors"], spec_path, lake)
        assert (replay.records, replay.failed, replay.ok) == (first.failed, first.failed, 0)
        assert stored(lake) == before
        assert len(list((lake / "errors").rglob("*.ndjson"))) == files  # each file retired and rewritten, not piled up


def test_a_fix_then_replays_in_two_steps_store_each_record_once(tmp_path: Path) -> None:
    source, lake = records(tmp_path / "in.ndjson", n=1200), tmp_path / "lake"
    strict, looser, fixed = spec(tmp_path, value_maximum=0), spec(tmp_path, value_maximum=500), spec(tmp_path)
    run([source], strict, lake)
    run([lake / "errors"], looser, lake)  # some of the rejected records are Ok now
    run([lake / "errors"], fixed, lake)  # and the rest that the spec lets through
    whole = run([source], fixed, tmp_path / "reference-lake", dry_run=True)
    raw, errors = stored(lake)
    assert max(raw.values()) == 1 and max(errors.values()) == 1 and not raw.keys() & errors.keys()
    assert (sum(raw.values()), sum(errors.values())) == (whole.ok, whole.failed)


def test_a_rerun_after_a_fix_leaves_no_stale_error_record(tmp_path: Path) -> None:
    source, lake = records(tmp_path / "in.ndjson"), tmp_path / "lake"
    run([source], spec(tmp_path, value_maximum=0), lake)
    run([lake / "errors"], spec(tmp_path, value_maximum=500), lake)  # a replay between the runs
    fixed = run([source], spec(tmp_path), lake)
    assert_each_once(lake, fixed)


def test_a_retry_on_another_day_replaces_the_first_days_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, lake, spec_path = records(tmp_path / "in.ndjson"), tmp_path / "lake", spec(tmp_path)
    run([source], spec_path, lake)

    class NextDay(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)

    monkeypatch.setattr(writer_module, "datetime", NextDay)
    again = run([source], spec_path, lake)
    assert_each_once(lake, again)
    assert {p.parent.name for p in (lake / "errors").rglob("*.ndjson")} == {"day=02"}


def test_a_damaged_file_is_reported_and_the_others_are_written(tmp_path: Path) -> None:
    good, lake, spec_path = records(tmp_path / "good.ndjson"), tmp_path / "lake", spec(tmp_path)
    whole = gzip.compress(records(tmp_path / "plain.ndjson", n=3000, seed=2).read_bytes())
    damaged = tmp_path / "damaged.ndjson.gz"
    damaged.write_bytes(whole[: len(whole) * 2 // 3])
    summary = run([damaged, good], spec_path, lake, workers=2)
    assert [file for file, _ in summary.problems] == [str(damaged)]
    raw, errors = stored(lake)
    assert sum(raw.values()) + sum(errors.values()) + summary.dropped == summary.records > 600


_KILLED_PARENT = """
import sys
from transform_core.jobs.reprocess import ReprocessOptions, reprocess
reprocess(sys.argv[3:], ReprocessOptions(spec=sys.argv[1], out=sys.argv[2], workers=2, chunk_size=200))
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads the process table from /proc")
def test_workers_end_when_the_run_is_killed(tmp_path: Path) -> None:
    inputs = [str(records(tmp_path / f"in{i}.ndjson", n=20_000, seed=i)) for i in range(4)]
    args = [sys.executable, "-c", _KILLED_PARENT, spec(tmp_path), str(tmp_path / "lake"), *inputs]
    parent = subprocess.Popen(args, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2:  # the pool's workers, and the resource tracker
        time.sleep(0.2)
        workers = _children(parent.pid)
    assert workers, "the run started no worker"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.2)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text()]
    assert not alive, f"workers outlived the run: {alive}"
