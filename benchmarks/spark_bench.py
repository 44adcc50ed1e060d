"""``python -m benchmarks.spark_bench``: spark-reprocess on local Spark next to the single-machine reprocess, same input.

The input is ``benchmarks.reprocess_bench``'s: about a million IoT records (2% invalid) as four NDJSON files, generated
once and cached under ``benchmarks/.cache/``. Each contender runs in a fresh process, timed from process start to exit
(so the JVM's start is in Spark's time), while a sampler thread watches the process tree's memory; rounds interleave
the contenders, and the table shows medians:

- ``reprocess``: :func:`transform_core.jobs.reprocess.reprocess` writing a lake, one worker process per core;
- ``spark local[N]``: :func:`transform_core.adapters.spark.job.spark_reprocess` on a ``local[N]`` session (N = cores)
  writing a lake (raw zone, Parquet with ``partitionBy``, then the run's files moved in);
- ``spark local[N] dry run``: the same, counting only.

Every contender's ok / failed / dropped counts must agree. The table goes to stdout, the JSON to
``benchmarks/results/spark-<UTC time>.json``. See docs/spark.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
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
    try:
        options = SparkReprocessOptions(spec=str(SPEC), lake=str(out / "lake"), run_id="bench", dry_run=dry_run)
        summary = spark_reprocess(spark, [str(f) for f in files], options).summary
    finally:
        spark.stop()
    counts = {"records": summary.records, "ok": summary.ok, "failed": summary.failed, "dropped": summary.dropped}
    return {**counts, "files_written": len(summary.written), "session_s": session_s}


def run_contender(name: str, files: Sequence[Path], out: Path) -> dict[str, Any]:
    """Run one contender by its table name."""
    if name == "reprocess":
        return run_reprocess(files, out, dry_run=False)
    return run_spark(files, out, dry_run=name.endswith("dry run"), master=name.split()[1])


def measure(name: str, files: Sequence[Path], out: Path) -> dict[str, Any]:
    """Run a contender in a fresh process: wall seconds (start to exit), its counts and timings, the tree's memory."""
    return measure_child(name, files, out, module="benchmarks.spark_bench")


def _child(argv: list[str]) -> None:
    run_child(argv, run_contender)


def medians(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per contender: the counts of its first round and the median of every timing and memory figure."""
    return round_medians(rounds, ("wall_s", "run_s", "session_s", "tree_peak_rss_mb"))


def format_table(results: dict[str, dict[str, Any]], input_bytes: int) -> str:
    """A Markdown table of medians: wall and in-process time, Spark's session start, throughput, ratio, memory."""
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
        "tree peak RSS MB",
    )
    rows = [header]
    for name, r in results.items():
        session = f"{r['session_s']:.1f}" if "session_s" in r else "–"
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
                f"{r['tree_peak_rss_mb']:,.0f}",
            )
        )
    return markdown_table(rows)


LEGEND = """\
Medians over {rounds} interleaved round(s). wall s: process start to exit (interpreter, imports and for Spark the JVM
included); run s: inside the process; session start s: building the SparkSession (JVM start), part of run s.
rec/s and MB/s use wall s and the input files' bytes. wall vs reprocess: this row's wall time over reprocess's (>1:
slower). tree peak RSS: the largest sum of VmRSS over the process tree at one sample (Spark's JVM included)."""


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
