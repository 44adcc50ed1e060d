"""``python -m benchmarks.spark_bench``: spark-reprocess on local Spark next to the single-machine reprocess, same input.

The input is ``benchmarks.reprocess_bench``'s: about a million IoT records (2% invalid) as four NDJSON files, generated
once and cached under ``benchmarks/.cache/``. Each contender runs in a fresh process, timed from process start to exit
(so the JVM's start is in Spark's time), while a sampler thread watches the process tree's memory; rounds interleave
the contenders, and the table shows medians:

- ``reprocess``: :func:`transform_core.jobs.reprocess.reprocess` writing a lake, one worker process per core;
- ``spark local[N]``: :func:`transform_core.adapters.spark.job.spark_reprocess` on a ``local[N]`` session (N = cores)
  writing a lake (raw zone, Parquet with ``partitionBy``, then the run's files moved in);
- ``spark local[N] dry run``: the same, counting only.

Besides wall time, each contender reports the CPU seconds its processes used (for Spark, the JVM's apart from the
Python processes'): on a shared machine they move far less with the load than wall time does.

Every contender's ok / failed / dropped counts must agree. The table goes to stdout, the JSON to
``benchmarks/results/spark-<UTC time>.json``. See docs/spark.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.cpus import usable_cpus
from benchmarks.report import markdown_table, round_medians
from benchmarks.reprocess_bench import (
    CACHE,
    FILES,
    RECORDS,
    RESULTS,
    SMOKE_RECORDS,
    SPEC,
    _log,
    check_counts,
    dataset,
    input_line,
    run_child,
    run_reprocess,
)
from benchmarks.reprocess_bench import measure as measure_child

__all__ = ["contenders", "main", "measure", "run_contender", "run_spark"]

ROOT = Path(__file__).resolve().parent.parent
SPARK_MEMORY = "4g"  # the local driver JVM holds the executors and the persisted outcomes


def contenders() -> tuple[str, ...]:
    """Contender names in table order."""
    return ("reprocess", f"spark local[{usable_cpus()}]", f"spark local[{usable_cpus()}] dry run")


def run_spark(files: Sequence[Path], out: Path, *, dry_run: bool, master: str) -> dict[str, Any]:
    """``spark_reprocess`` over ``files`` on a new ``master`` session, writing a lake under ``out``; counts and timings."""
    started = time.perf_counter()
    from transform_core.adapters.spark.job import SparkReprocessOptions, spark_reprocess, spark_session

    conf = {"spark.driver.memory": SPARK_MEMORY, "spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}
    spark = spark_session(master, conf)
    spark.sparkContext.setLogLevel("ERROR")
    session_s = time.perf_counter() - started
    session_cpu = tree_cpu(os.getpid())
    try:
        options = SparkReprocessOptions(spec=str(SPEC), lake=str(out / "lake"), run_id="bench", dry_run=dry_run)
        summary = spark_reprocess(spark, [str(f) for f in files], options).summary
        cpu = tree_cpu(os.getpid())  # before stop: the JVM and its Python workers are still there to be read
    finally:
        spark.stop()
    counts = {"records": summary.records, "ok": summary.ok, "failed": summary.failed, "dropped": summary.dropped}
    return {
        **counts,
        "files_written": len(summary.written),
        "session_s": session_s,
        "session_jvm_cpu_s": session_cpu["java"],
        "jvm_cpu_s": cpu["java"],
        "python_cpu_s": cpu["python"] + time.process_time(),  # the Python workers and this driver
    }


def run_reprocess_cpu(files: Sequence[Path], out: Path) -> dict[str, Any]:
    """``run_reprocess`` writing a lake, with the CPU seconds of this process and its (reaped) worker processes."""
    counts = run_reprocess(files, out, dry_run=False)
    used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return {**counts, "cpu_s": sum(u.ru_utime + u.ru_stime for u in used)}


def tree_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the processes below ``pid`` (Linux ``/proc``), summed by kind: ``java`` and ``python``; each
    process's own and that of the children it has reaped (Spark's Python workers that have exited)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        stats[int(entry.name)] = (name, sum(int(f) for f in fields[11:15]) / tick)  # utime, stime, cutime, cstime
    used = {"java": 0.0, "python": 0.0}
    below = list(children.get(pid, []))
    while below:
        child = below.pop()
        name, seconds = stats[child]
        used["java" if name == "java" else "python"] += seconds
        below += children.get(child, [])
    return used


def run_contender(name: str, files: Sequence[Path], out: Path) -> dict[str, Any]:
    """Run one contender by its table name."""
    if name == "reprocess":
        return run_reprocess_cpu(files, out)
    return run_spark(files, out, dry_run=name.endswith("dry run"), master=name.split()[1])


def measure(name: str, files: Sequence[Path], out: Path) -> dict[str, Any]:
    """Run a contender in a fresh process: wall seconds (start to exit), its counts and timings, the tree's memory."""
    return measure_child(name, files, out, module="benchmarks.spark_bench")


def _child(argv: list[str]) -> None:
    run_child(argv, run_contender)


def medians(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per contender: the counts of its first round and the median of every timing and memory figure."""
    keys = ("wall_s", "run_s", "session_s", "cpu_s", "jvm_cpu_s", "python_cpu_s", "session_jvm_cpu_s", "tree_peak_rss_mb")
    return round_medians(rounds, keys)


def format_table(results: dict[str, dict[str, Any]], input_bytes: int) -> str:
    """A Markdown table of medians: wall and in-process time, Spark's session start, throughput, ratio, CPU, memory."""
    base = results["reprocess"]["wall_s"]
    header = (
        "contender",
        "records",
        "wall s",
        "run s",
        "session start s",
        "rec/s",
        "MB/s",
        "wall vs reprocess",
        "CPU s",
        "JVM CPU s",
        "tree peak RSS MB",
    )
    rows = [header]
    for name, r in results.items():
        session = f"{r['session_s']:.1f}" if "session_s" in r else "–"
        # Spark's JVM is no reaped child of the contender's process, so its CPU is read from /proc (run_spark)
        cpu = f"{r['jvm_cpu_s'] + r['python_cpu_s']:.1f}" if "jvm_cpu_s" in r else f"{r['cpu_s']:.1f}" if "cpu_s" in r else "–"
        jvm = f"{r['jvm_cpu_s']:.1f} ({r['session_jvm_cpu_s']:.1f} at start)" if "jvm_cpu_s" in r else "–"
        rows.append(
            (
                name,
                f"{r['records']:,}",
                f"{r['wall_s']:.1f}",
                f"{r['run_s']:.1f}",
                session,
                f"{r['records'] / r['wall_s']:,.0f}",
                f"{input_bytes / 1e6 / r['wall_s']:.1f}",
                f"{r['wall_s'] / base:.2f}×",
                cpu,
                jvm,
                f"{r['tree_peak_rss_mb']:,.0f}",
            )
        )
    return markdown_table(rows)


LEGEND = """\
Medians over {rounds} interleaved round(s). wall s: process start to exit (interpreter, imports and for Spark the JVM
included); run s: inside the process; session start s: building the SparkSession (JVM start), part of run s.
rec/s and MB/s use wall s and the input files' bytes. wall vs reprocess: this row's wall time over reprocess's (>1:
slower). CPU s: the contender's processes' CPU seconds, load-proof where wall s is not; JVM CPU s: the JVM's part of
it, and its part while the session started. tree peak RSS: the largest sum of VmRSS over the process tree at one sample (Spark's JVM included)."""


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the input, run the contenders in fresh processes, print the table, write the JSON."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["child"]:
        _child(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.spark_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--records", type=int, default=None, help=f"records in the input (default {RECORDS:,}; smoke {SMOKE_RECORDS:,})"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the table shows medians (default 3)")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_RECORDS:,} records, one round: checks the machinery only")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON results")
    args = parser.parse_args(argv)
    records = args.records or (SMOKE_RECORDS if args.smoke else RECORDS)
    rounds = 1 if args.smoke else args.rounds
    _log(f"input: {records:,} records over {FILES} files (generated once, cached under {CACHE})")
    files = dataset(records, FILES)
    input_bytes = sum(f.stat().st_size for f in files)
    load_before = os.getloadavg()
    runs: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="spark-bench-") as scratch:
        for n in range(rounds):
            runs.append({})
            for i, name in enumerate(contenders()):
                _log(f"round {n + 1}/{rounds}: {name} …")
                runs[-1][name] = measure(name, files, Path(scratch) / f"out-{n}-{i}")
                _log(f"{name}: {runs[-1][name]['wall_s']:.1f} s")
            check_counts(runs[-1])
    load = {"before": load_before, "after": os.getloadavg()}
    results = medians(runs)
    print(format_table(results, input_bytes))
    print()
    print(input_line(records, input_bytes, len(files), results["reprocess"], load))
    print(LEGEND.format(rounds=rounds))
    path = _write_json(args.results, runs, results, records, input_bytes, smoke=args.smoke, load=load)
    _log(f"results: {path}")
    return 0


def _write_json(
    folder: Path,
    runs: list[dict[str, dict[str, Any]]],
    results: dict[str, dict[str, Any]],
    records: int,
    input_bytes: int,
    *,
    smoke: bool,
    load: dict[str, Any],
) -> Path:
    from benchmarks.report import machine, write_result

    document = {
        "machine": machine(),
        "pyspark": importlib.metadata.version("pyspark"),
        "java": subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr.splitlines()[:1],
        "smoke": smoke,
        "input": {"records": records, "files": FILES, "bytes": input_bytes},
        "load_average": load,
        "medians": results,
        "rounds": runs,
    }
    return write_result(folder, "spark", document)


if __name__ == "__main__":
    sys.exit(main())
