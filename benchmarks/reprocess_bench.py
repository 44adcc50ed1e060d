"""``python -m benchmarks.reprocess_bench``: a million-record reprocessing run next to the reference, in one run.

The input is about a million IoT records (``transform_core.demo.generate.iot_payloads``, 2% invalid) as NDJSON, split
over several files so worker processes share the work; it is generated once and cached under
``benchmarks/.cache/``. Each contender runs in a fresh process (``child`` mode of this module), timed from process
start to exit, while a sampler thread watches the process tree's memory:

- ``reprocess``: :func:`transform_core.jobs.reprocess.reprocess` writing a lake to a temporary folder, one worker per core;
- ``reprocess dry run``: the same with ``dry_run=True`` (validate and count, write nothing);
- ``reference 1 proc`` and ``reference N procs``: a plain loop over each file's lines, base64 of each line,
  ``ReferencePipeline.process_record``, and the Ok records' output written as NDJSON (rejected and dropped records are
  only counted); on one process, and with a process pool over files, one worker per core.

Every contender's ok / failed / dropped counts must agree before anything is reported. The table goes to stdout, the
JSON to ``benchmarks/results/reprocess-<UTC time>.json``. ``--spread-days N`` spreads the records' event times over N
days (an archive that touches many partitions: the lake's small-files case); ``--only`` runs some contenders. See
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.cpus import usable_cpus

__all__ = ["SPEC", "dataset", "main", "run_contender", "run_reference", "run_reprocess"]

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "iot" / "pipeline.yaml"
CACHE = Path(__file__).resolve().parent / ".cache"
RESULTS = Path(__file__).resolve().parent / "results"
RECORDS = 1_000_000
SMOKE_RECORDS = 5_000
FILES = 4
INVALID_FRACTION = 0.02
DATASET_VERSION = 1  # bump when the way records are written changes, so stale caches are rebuilt
COUNTS = ("records", "ok", "failed", "dropped")
SAMPLE_S = 0.05
_EVENT_DAY = re.compile(rb'"event_time":"[0-9]{4}-[0-9]{2}-[0-9]{2}')
_FIRST_DAY = date(2024, 1, 1)


def contenders() -> tuple[str, ...]:
    """Contender names in table order."""
    return ("reprocess", "reprocess dry run", "reference 1 proc", f"reference {usable_cpus()} procs")


# --- the input -------------------------------------------------------------------------------------------------------


def dataset(records: int, files: int = FILES, folder: Path = CACHE, *, spread_days: int = 0) -> list[Path]:
    """``files`` NDJSON files holding ``records`` records between them; generated once, then reused from ``folder``.

    ``spread_days``: each record's event date is replaced by one of that many days from 2024-01-01 (0: as generated,
    a few days).
    """
    target = folder / (f"iot-{records}x{files}" + (f"-{spread_days}d" if spread_days else ""))
    manifest = target / "manifest.json"
    sizes = [records // files + (i < records % files) for i in range(files)]
    paths = [target / f"part-{i}.ndjson" for i in range(files)]
    expected = {"version": DATASET_VERSION, "records": records, "files": files, "invalid_fraction": INVALID_FRACTION}
    if spread_days:
        expected["spread_days"] = spread_days
    if manifest.exists() and json.loads(manifest.read_text(encoding="utf-8")) == expected and all(p.exists() for p in paths):
        return paths
    target.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")  # the caller may have Polars' threads running; never fork it
    with ProcessPoolExecutor(max_workers=min(files, usable_cpus()), mp_context=context) as pool:
        list(pool.map(partial(_write_part, spread_days=spread_days), paths, sizes, range(files)))
    manifest.write_text(json.dumps(expected) + "\n", encoding="utf-8")
    return paths


def _write_part(path: Path, records: int, seed: int, *, spread_days: int = 0) -> None:
    import random

    from transform_core.demo.generate import iot_payloads

    days = random.Random(seed)
    lines = []
    for payload in iot_payloads(records, INVALID_FRACTION, seed=seed):
        data = payload.data
        if payload.corrupt_base64:
            # NDJSON carries raw bytes, not base64: the archive's equivalent of a corrupted record is a byte that is not UTF-8
            data = data[: len(data) // 2] + b"\xff" + data[len(data) // 2 + 1 :]
        if spread_days:
            day = (_FIRST_DAY + timedelta(days=days.randrange(spread_days))).isoformat().encode()
            data = _EVENT_DAY.sub(b'"event_time":"' + day, data, count=1)
        lines.append(data)
    partial = path.with_suffix(".partial")
    partial.write_bytes(b"\n".join(lines) + b"\n")
    partial.replace(path)


# --- the contenders (run in a child process by the benchmark, in-process by the smoke test) ---------------------------


def run_reprocess(files: Sequence[Path], out: Path, *, dry_run: bool, workers: int = 0) -> dict[str, int]:
    """The engine's ``reprocess`` job over ``files``, writing a lake under ``out`` unless ``dry_run``; the counts."""
    from transform_core.jobs.reprocess import ReprocessOptions, reprocess

    options = ReprocessOptions(spec=str(SPEC), out=str(out / "lake"), dry_run=dry_run, workers=workers)
    summary = reprocess([str(f) for f in files], options)
    return {
        "records": summary.records,
        "ok": summary.ok,
        "failed": summary.failed,
        "dropped": summary.dropped,
        "files_written": len(summary.written),
        "cores": min(workers or usable_cpus(), len(files)),
    }


def run_reference(files: Sequence[Path], out: Path, *, workers: int = 1) -> dict[str, int]:
    """The reference implementation over ``files``, file by file on ``workers`` processes; the counts."""
    out.mkdir(parents=True, exist_ok=True)
    outputs = [out / f"ok-{i}.ndjson" for i in range(len(files))]
    if workers == 1:
        parts = [_reference_file(f, o) for f, o in zip(files, outputs, strict=True)]
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = list(pool.map(_reference_file, files, outputs))
    return {key: sum(part[key] for part in parts) for key in parts[0]} | {"cores": min(workers, len(files))}


_REFERENCE: list[Any] = []  # per process: the reference pipeline, built once


def _reference_file(path: Path, output: Path) -> dict[str, int]:
    from transform_core.firehose.outcomes import DROPPED, OK
    from transform_core.reference import ReferencePipeline
    from transform_core.spec import load_spec

    if not _REFERENCE:
        _REFERENCE.append(ReferencePipeline(load_spec(SPEC)))
    reference = _REFERENCE[0]
    counts = dict.fromkeys(COUNTS, 0) | {"files_written": 1}
    with path.open("rb") as lines, output.open("wb") as out:
        for line in lines:
            record = line.removesuffix(b"\n")
            if not record.strip(b" \t\r\n"):  # as transform_core.jobs.inputs: lines of JSON whitespace are not records
                continue
            outcome = reference.process_record(base64.b64encode(record).decode("ascii"), None)
            counts["records"] += 1
            if outcome.result == OK:
                counts["ok"] += 1
                out.write(base64.b64decode(outcome.data))  # the output already ends with a newline
            elif outcome.result == DROPPED:
                counts["dropped"] += 1
            else:
                counts["failed"] += 1
    return counts


def run_contender(name: str, files: Sequence[Path], out: Path) -> dict[str, int]:
    """Run one contender by its table name."""
    if name.startswith("reprocess"):
        return run_reprocess(files, out, dry_run=name.endswith("dry run"))
    return run_reference(files, out, workers=1 if name == "reference 1 proc" else usable_cpus())


def _child(argv: list[str]) -> None:
    run_child(argv, run_contender)


def run_child(argv: list[str], run: Callable[[str, list[Path], Path], dict[str, Any]]) -> None:
    """``child NAME OUT FILE...``: run one contender, print what it returns and its in-process seconds as a JSON line
    (the other side of :func:`measure`)."""
    name, out, *files = argv
    started = time.perf_counter()
    result = run(name, [Path(f) for f in files], Path(out))
    sys.stdout.write(json.dumps({**result, "run_s": time.perf_counter() - started}) + "\n")


# --- measuring a child process ---------------------------------------------------------------------------------------


class TreeSampler(threading.Thread):
    """Samples a process and its descendants from /proc every ``SAMPLE_S`` seconds.

    ``tree_peak_mb``: the largest sum of VmRSS over the tree seen at one sample (memory in use at once; a peak
    shorter than the interval can be missed). ``largest_mb``: the largest single-process VmHWM seen, which is exact
    for every process alive at its last sample (VmHWM only grows).
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.tree_peak_kb = 0
        self.hwm_kb: dict[int, int] = {}
        self.processes = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(SAMPLE_S)

    def stop(self) -> None:
        self._done.set()
        self.join()

    def sample(self) -> None:
        total = 0
        for pid in _tree(self.pid):
            status = _status(pid)
            if "VmRSS" in status:
                total += status["VmRSS"]
                self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), status.get("VmHWM", 0))
        self.tree_peak_kb = max(self.tree_peak_kb, total)
        self.processes = len(self.hwm_kb)

    @property
    def tree_peak_mb(self) -> float:
        return self.tree_peak_kb / 1024

    @property
    def largest_mb(self) -> float:
        return max(self.hwm_kb.values(), default=0) / 1024


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _status(pid: int) -> dict[str, int]:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            return {k: int(v.split()[0]) for k, _, v in (line.partition(":") for line in f) if k in ("VmRSS", "VmHWM")}
    except (OSError, ValueError):
        return {}


def measure(name: str, files: Sequence[Path], out: Path, *, module: str = "benchmarks.reprocess_bench") -> dict[str, Any]:
    """Run a contender in a fresh process (``python -m MODULE child …``, see :func:`run_child`): wall seconds (start
    to exit), what the child printed and the tree's memory."""
    command = [sys.executable, "-m", module, "child", name, str(out), *map(str, files)]
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=stdout, stderr=stderr)
        sampler = TreeSampler(process.pid)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)  # the rusage of the child and every descendant it reaped
        wall = time.perf_counter() - started
        sampler.stop()
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"{name} failed ({process.returncode}):\n{stderr.read().decode(errors='replace')[-3000:]}")
        result: dict[str, Any] = json.loads(stdout.read().decode().strip().splitlines()[-1])
    return {
        **result,
        "wall_s": wall,
        "tree_peak_rss_mb": sampler.tree_peak_mb,
        "largest_process_hwm_mb": sampler.largest_mb,
        "processes": sampler.processes,
        "ru_maxrss_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,  # of the tree: steadier than wall time on a busy machine
    }


# --- the table -------------------------------------------------------------------------------------------------------


def check_counts(results: dict[str, dict[str, Any]]) -> None:
    """Every contender saw the same records and judged them alike.

    Raises:
        AssertionError: naming the contender and its counts next to the first one's.
    """
    first_name, first = next(iter(results.items()))
    want = {k: first[k] for k in COUNTS}
    for name, result in results.items():
        got = {k: result[k] for k in COUNTS}
        if got != want:
            raise AssertionError(f"{name} counts {got} differ from {first_name}'s {want}")


def format_table(results: dict[str, dict[str, Any]], input_bytes: int) -> str:
    """A Markdown table: wall time, throughput (in all and per core used), ratios against the reference rows and
    the dry run, memory."""
    refs = [n for n in results if n.startswith("reference")]
    dry = "reprocess dry run" if "reprocess dry run" in results else None
    header = ("contender", "records", "files out", "wall s", "run s", "cpu s", "rec/s", "MB/s", "rec/s/core", "MB/s/core")
    header += (*(f"vs {r.removeprefix('reference ')} ref" for r in refs), *(("vs dry run",) if dry else ()))
    header += ("tree peak RSS MB", "largest proc MB")
    rows = [header]
    for name, r in results.items():
        cores = r.get("cores") or 1
        rows.append(
            (
                name,
                f"{r['records']:,}",
                f"{r['files_written']:,}",
                f"{r['wall_s']:.2f}",
                f"{r['run_s']:.2f}",
                f"{r['cpu_s']:.2f}",
                f"{r['records'] / r['wall_s']:,.0f}",
                f"{input_bytes / 1e6 / r['wall_s']:.1f}",
                f"{r['records'] / r['wall_s'] / cores:,.0f}",
                f"{input_bytes / 1e6 / r['wall_s'] / cores:.1f}",
                *(f"{results[ref]['wall_s'] / r['wall_s']:.2f}×" for ref in refs),
                *((f"{r['wall_s'] / results[dry]['wall_s']:.2f}×",) if dry else ()),
                f"{r['tree_peak_rss_mb']:.0f}",
                f"{r['largest_process_hwm_mb']:.0f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def render(cells: tuple[str, ...]) -> str:
        return (
            "| "
            + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
            + " |"
        )

    rule = "|" + "|".join("-" * (w + 1) + ("-" if i == 0 else ":") for i, w in enumerate(widths)) + "|"
    return "\n".join([render(rows[0]), rule, *(render(row) for row in rows[1:])])


LEGEND = """\
wall s: process start to exit (interpreter start-up and imports included); run s: inside the process; cpu s: user and
system time of the process and its workers (other work on the machine inflates it less than wall s). rec/s and MB/s
use wall s and the input files' bytes; /core divides them by the worker processes the contender ran (one per core, at
most one per file). files out: the files the run wrote. vs … ref: that reference row's wall time divided by this
row's (same run); vs dry run: this row's wall time over the dry run's.
tree peak RSS: the largest sum of VmRSS over the process and its descendants at one {sample} ms sample;
largest proc: the largest VmHWM of any one process in the tree. (ru_maxrss of children is in the JSON only: on Linux
a process started with fork/vfork + exec keeps its parent's peak in it, so it overstates a worker.)
The reference writes Ok records as NDJSON and only counts rejected and dropped ones; reprocess writes the lake
(Parquet and errors/ NDJSON) except in the dry run."""


def input_line(records: int, input_bytes: int, files: int, counts: dict[str, Any], load: dict[str, Any]) -> str:
    """The line under a table: the input, what became of its records, the CPUs and the load around the run."""
    return (
        f"{records:,} records, {input_bytes / 1e6:.0f} MB of NDJSON in {files} files; ok {counts['ok']:,}, rejected "
        f"{counts['failed']:,}, dropped {counts['dropped']:,}; {usable_cpus()} CPUs, load average "
        f"{load['before'][0]:.2f} before and {load['after'][0]:.2f} after (other work on the machine skews every row)"
    )


def _log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the input, run every contender in a fresh process, print the table, write the JSON."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["child"]:
        _child(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reprocess_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--records", type=int, default=None, help=f"records in the input (default {RECORDS:,}; smoke {SMOKE_RECORDS:,})"
    )
    parser.add_argument("--files", type=int, default=FILES, help=f"input files the records are split over (default {FILES})")
    parser.add_argument(
        "--smoke", action="store_true", help=f"{SMOKE_RECORDS:,} records: checks the machinery, times nothing useful"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON results")
    parser.add_argument(
        "--spread-days", type=int, default=0, metavar="N", help="spread the event times over N days (many partitions)"
    )
    parser.add_argument(
        "--only", action="append", choices=contenders(), metavar="NAME", help="run this contender only (repeatable)"
    )
    args = parser.parse_args(argv)
    records = args.records or (SMOKE_RECORDS if args.smoke else RECORDS)
    spread = f", event times over {args.spread_days:,} days" if args.spread_days else ""
    _log(f"input: {records:,} records over {args.files} files{spread} (generated once, cached under {CACHE})")
    files = dataset(records, args.files, spread_days=args.spread_days)
    input_bytes = sum(f.stat().st_size for f in files)
    results: dict[str, dict[str, Any]] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="reprocess-bench-") as scratch:
        for i, name in enumerate(args.only or contenders()):
            _log(f"{name} …")
            results[name] = measure(name, files, Path(scratch) / f"out-{i}")
            _log(f"{name}: {results[name]['wall_s']:.2f} s")
    load = {"before": load_before, "after": os.getloadavg()}
    check_counts(results)
    print(format_table(results, input_bytes))
    print()
    print(input_line(records, input_bytes, len(files), next(iter(results.values())), load))
    print(LEGEND.format(sample=int(SAMPLE_S * 1000)))
    path = _write_json(args.results, results, records, files, input_bytes, smoke=args.smoke, load=load, spread=args.spread_days)
    _log(f"results: {path}")
    return 0


def _write_json(
    folder: Path,
    results: dict[str, dict[str, Any]],
    records: int,
    files: list[Path],
    input_bytes: int,
    *,
    smoke: bool,
    load: dict[str, Any],
    spread: int = 0,
) -> Path:
    from benchmarks.report import machine, write_result

    document = {
        "machine": machine(),
        "smoke": smoke,
        "input": {
            "records": records,
            "files": len(files),
            "bytes": input_bytes,
            "invalid_fraction": INVALID_FRACTION,
            "spread_days": spread,
        },
        "sample_interval_s": SAMPLE_S,
        "load_average": load,
        "contenders": {
            name: {
                **r,
                "records_per_s": r["records"] / r["wall_s"],
                "mb_per_s": input_bytes / 1e6 / r["wall_s"],
                "records_per_s_per_core": r["records"] / r["wall_s"] / (r.get("cores") or 1),
                "mb_per_s_per_core": input_bytes / 1e6 / r["wall_s"] / (r.get("cores") or 1),
            }
            for name, r in results.items()
        },
    }
    return write_result(folder, "reprocess", document)


if __name__ == "__main__":
    sys.exit(main())
