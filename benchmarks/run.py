"""``python -m benchmarks``: every contender on every workload, one table, results as JSON.

For each workload: the engine's response is checked (under 6 MB, nothing shed), every peer's
response must equal it, then rounds are timed interleaved, and a fresh process per contender
measures peak RSS. Then the cold start of each contender. Progress goes to stderr; the table to stdout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.compare import assert_same_response
from benchmarks.cpus import usable_cpus
from benchmarks.measure import run_child, time_rounds
from benchmarks.peers import CONTENDERS, Handler, NotApplicable, call, make_handler
from benchmarks.report import Row, add_ratios, format_table, legend, write_json
from benchmarks.workloads import Workload, assert_fits, build_all, write_events

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results"
COLD_WORKLOAD = "500 clean"


def _log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


class Contenders:
    """Handlers built once per (contender, spec), as a warm Lambda keeps them."""

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str], Handler | None] = {}

    def for_spec(self, spec_path: str) -> dict[str, Handler]:
        """The applicable contenders' handlers for a spec, in table order."""
        out = {}
        for name in CONTENDERS:
            key = (name, spec_path)
            if key not in self._handlers:
                try:
                    self._handlers[key] = make_handler(name, spec_path)
                except NotApplicable:
                    self._handlers[key] = None
            handler = self._handlers[key]
            if handler is not None:
                out[name] = handler
        return out


def verify(workload: Workload, handlers: dict[str, Handler]) -> None:
    """The engine's response fits; every contender's response equals it."""
    expected = assert_fits(workload)
    for name, handler in handlers.items():
        assert_same_response(expected, call(handler, workload.event, workload.event_bytes), f"{workload.name} / {name}")


def bench_workload(
    workload: Workload, handlers: dict[str, Handler], rounds: int, event_file: Path | None, idle_s: float = 0.0
) -> list[Row]:
    """Rows for one workload: interleaved timings, then peak RSS per contender in a fresh process."""
    timings = time_rounds(workload, handlers, rounds, idle_s)
    rows = []
    for name in CONTENDERS:
        t = timings.get(name)
        row = Row(
            workload.name, name, workload.records, len(workload.event_bytes), None, None, note="" if t else "not applicable"
        )
        if t is not None:
            row.e2e_ms, row.handler_ms = t.median("e2e") * 1000, t.median("handler") * 1000
            row.parse_ms, row.serialize_ms, row.rounds = t.median("parse") * 1000, t.median("serialize") * 1000, len(t.samples)
            if event_file is not None:
                row.peak_rss_mb = run_child(name, workload.spec_path, event_file, repeat=2)["peak_rss_mb"]
        rows.append(row)
    return rows


def cold_start(workload: Workload, event_file: Path, repeats: int) -> tuple[list[Row], dict[str, Any]]:
    """Each contender in fresh processes: import, load, first event (medians of ``repeats``)."""
    run_child("engine", workload.spec_path, event_file)  # warm the OS file cache and __pycache__
    rows, raw = [], {}
    for name in CONTENDERS:
        runs = [run_child(name, workload.spec_path, event_file) for _ in range(repeats)]
        raw[name] = runs
        rows.append(
            Row(
                f"cold start {workload.records}",
                name,
                workload.records,
                len(workload.event_bytes),
                statistics.median(r["wall_s"] for r in runs) * 1000,
                statistics.median(r["first"]["e2e_s"] for r in runs) * 1000,
                peak_rss_mb=statistics.median(r["peak_rss_mb"] for r in runs),
                rounds=repeats,
            )
        )
    return rows, raw


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the suite and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", default=bool(os.environ.get("SMOKE")), help="small workloads, 2 rounds")
    parser.add_argument("--rounds", type=int, help="rounds for the 3 MB-buffer workloads (default 7; smoke 2)")
    parser.add_argument("--small-rounds", type=int, help="rounds for the 500-record workloads (default 21; smoke 2)")
    parser.add_argument("--no-processes", action="store_true", help="skip peak RSS and cold start (fresh processes)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON results")
    parser.add_argument(
        "--idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="sleep this long before every timed invocation, of every contender, as Lambda invocations arrive after "
        "idle spells (default 0: each follows the previous contender's)",
    )
    parser.add_argument(
        "--cpus",
        type=_positive,
        help="run on the first N CPUs only (1 = what a Lambda function of up to 1,769 MB gets); "
        "applied by `python -m benchmarks` before Polars loads",
    )
    args = parser.parse_args(argv)
    if args.cpus is not None and usable_cpus() != args.cpus:
        parser.error(f"--cpus {args.cpus}: this process may use {usable_cpus()} CPUs (run it as `python -m benchmarks`)")
    rounds = args.rounds or (2 if args.smoke else 7)
    small_rounds = args.small_rounds or (2 if args.smoke else 21)
    _log(f"building workloads ({'smoke' if args.smoke else 'full'})")
    workloads = build_all(smoke=args.smoke)
    contenders = Contenders()
    rows: list[Row] = []
    extra: dict[str, Any] = {"smoke": args.smoke, "rounds": {"buffer": rounds, "500": small_rounds}, "idle_s": args.idle}
    pyarrow = None
    with tempfile.TemporaryDirectory(prefix="transform-core-bench-") as tmp:
        files = write_events(workloads, Path(tmp))
        for workload in workloads:
            handlers = contenders.for_spec(workload.spec_path)
            verify(workload, handlers)
            n = small_rounds if workload.name.startswith("500") else rounds
            _log(f"{workload.name}: responses equal for {', '.join(handlers)}; timing {n} rounds")
            rows += bench_workload(workload, handlers, n, None if args.no_processes else files[workload.name], args.idle)
        if not args.no_processes:
            _log("cold start")
            cold_rows, extra["cold_start_runs"] = cold_start(
                next(w for w in workloads if w.name == COLD_WORKLOAD), files[COLD_WORKLOAD], 1 if args.smoke else 3
            )
            rows += cold_rows
            pyarrow = any(r["pyarrow_imported"] for r in extra["cold_start_runs"]["engine"])
    add_ratios(rows)
    print(format_table(rows))
    print()
    print(legend({"3 MB buffer": rounds, "500 records": small_rounds}, pyarrow, args.idle))
    path = write_json(args.results, rows, extra)
    print(f"results: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0
