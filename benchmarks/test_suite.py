"""The suite's own parts: the wide workload's files, fresh-process measurements, the runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks import measure, run, wide
from benchmarks.measure import run_child, time_rounds
from benchmarks.peers import CONTENDERS
from benchmarks.workloads import IOT_SPEC, NAMES, build, write_events

ROOT = Path(__file__).resolve().parents[1]


def test_wide_files_match_the_generator() -> None:
    assert json.loads((wide.FOLDER / "schema.json").read_text(encoding="utf-8")) == wide.SCHEMA
    assert (wide.FOLDER / "pipeline.yaml").read_text(encoding="utf-8") == wide.SPEC_YAML


def test_wide_records_have_60_fields() -> None:
    assert len(wide.SCHEMA["properties"]) == 60
    record = json.loads(wide.wide_payloads(1)[0].data)
    assert set(record) <= set(wide.SCHEMA["properties"])


@pytest.mark.parametrize("name", list(NAMES))
def test_workloads_are_exact(name: str, smoke: bool) -> None:
    workload = build(name, smoke=smoke)
    assert len(workload.event["records"]) == workload.records
    assert json.loads(workload.event_bytes) == workload.event


@pytest.mark.parametrize("contender", ["engine", "engine-raw", "msgspec", "msgspec-lean"])
def test_child_process_reports(contender: str, tmp_path: Path) -> None:
    files = write_events([build("500 clean", smoke=True)], tmp_path)
    result = run_child(contender, str(IOT_SPEC), files["500 clean"])
    assert result["first"]["bytes"] > 0 and result["peak_rss_mb"] > 0
    assert result["wall_s"] >= result["init_s"] + result["first"]["e2e_s"]


def test_runner_prints_one_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--smoke", "--no-processes", "--rounds", "1", "--small-rounds", "1", "--results", str(tmp_path)]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(NAMES) * len(CONTENDERS)
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert {"vs reference", "vs best msgspec"} <= set(header)
    assert {line.split("|")[2].strip().split(" (")[0] for line in table[2:]} == set(CONTENDERS)
    document = json.loads(next(tmp_path.glob("bench-*.json")).read_text(encoding="utf-8"))
    assert {row["contender"] for row in document["rows"]} == set(CONTENDERS)


def test_rounds_shuffle_who_runs_before_whom() -> None:
    calls: list[str] = []

    def contender(name: str) -> Callable[[dict[str, Any]], bytes]:
        def handle(event: dict[str, Any]) -> bytes:
            calls.append(name)
            return b"{}"

        return handle

    names = ["a", "b", "c", "d"]
    timings = time_rounds(build("500 clean", smoke=True), {n: contender(n) for n in names}, 40)
    assert all(len(timings[n].samples) == 40 for n in names)
    timed = calls[len(names) :]  # after the warm-ups
    rounds = [timed[i : i + len(names)] for i in range(0, len(timed), len(names))]
    assert all(sorted(r) == names for r in rounds)
    before = {n: {prev for prev, this in zip(timed, timed[1:], strict=False) if this == n} for n in names}
    assert all(before[n] >= set(names) - {n} for n in names)  # a fixed cycle gives each contender one predecessor


def test_idle_sleeps_before_every_timed_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    # measure's own view of the time module: patching time.sleep itself would also catch other threads' sleeps (a
    # thread left by another test, which then spins), depending on the order the tests run in
    clock = types.SimpleNamespace(perf_counter=time.perf_counter, sleep=lambda s: events.append(f"sleep {s}"))
    monkeypatch.setattr(measure, "time", clock)

    def handle(event: dict[str, Any]) -> bytes:
        events.append("call")
        return b"{}"

    time_rounds(build("500 clean", smoke=True), {"a": handle, "b": handle}, 3, idle_s=0.25)
    assert events == ["call"] * 2 + ["sleep 0.25", "call"] * 6  # warm-ups without, then each timed call after one


def test_cpus_option_pins_the_process_before_polars_sizes_its_pool() -> None:
    code = (
        "import os, sys; from benchmarks.cpus import pin_from_argv; pin_from_argv(['--smoke', '--cpus', '1']); "
        "import polars; print(len(os.sched_getaffinity(0)), polars.thread_pool_size())"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["1", "1"]


def test_cpus_option_refuses_a_process_that_was_not_pinned() -> None:
    with pytest.raises(SystemExit):
        run.main(["--smoke", "--no-processes", "--cpus", str(len(os.sched_getaffinity(0)) + 1)])
