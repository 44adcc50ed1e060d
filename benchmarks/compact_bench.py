"""``python -m benchmarks.compact_bench``: ``compact`` into the Iceberg table next to the manifest compaction it replaced.

The input is a raw zone of a million rows of the example spec (``examples/iot/pipeline.yaml``) over four days, written
by the engine and ``LakeWriter`` as Firehose batches of 10,000 records would be; 2% of the rows are re-deliveries
(whole batches written again under another batch id with the same recordIds, as a Firehose retry writes them). It is
generated once and cached under ``benchmarks/.cache/``. Two contenders, each run in rounds that alternate which goes
first, each run in a fresh process (``benchmarks/compact_child.py``) on a fresh lake whose ``raw/`` files are hard
links to the cached ones (no compaction writes into ``raw/``), timed from process start to exit:

- ``manifest (dbe487e)``: the manifest compaction (``_manifest.json`` and ``gen-<hash>/`` folders) as of commit
  dbe487e, the parent of the commit that replaced it, from a detached worktree under ``benchmarks/.cache/`` run with
  this environment and ``PYTHONPATH`` pointing at it (its raw zone writer is today's, so it reads the same files);
- ``iceberg``: this checkout's :func:`transform_core.lake.curated.compact`, one snapshot into a new table.

Both must read every raw row and keep exactly the unique ones. The table of medians goes to stdout, the JSON to
``benchmarks/results/compact-<UTC time>.json``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.cpus import usable_cpus
from benchmarks.report import markdown_table, round_medians

__all__ = ["Contender", "RawZone", "contenders", "format_table", "main", "measure", "medians", "old_tree", "raw_zone"]

ROOT = Path(__file__).resolve().parent.parent
SPEC = Path("examples") / "iot" / "pipeline.yaml"  # in each contender's tree
CHILD = Path(__file__).resolve().parent / "compact_child.py"
CACHE = Path(__file__).resolve().parent / ".cache"
RESULTS = Path(__file__).resolve().parent / "results"
ROWS = 1_000_000
SMOKE_ROWS = 5_000
REDELIVERED_FRACTION = 0.02
BATCH_RECORDS = 10_000  # a Firehose buffer of about 3 MB of these records
OLD_COMMIT = "dbe487e970d7cfd28ab56f7b83b649ea8639dd9f"  # the manifest compaction's last commit
OLD = "manifest (dbe487e)"
NEW = "iceberg"
DATASET_VERSION = 1  # bump when the way the raw zone is written changes, so stale caches are rebuilt
TABLE = "iot_telemetry"


# --- the input -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RawZone:
    """A generated lake holding only ``raw/``: ``rows`` rows, ``unique`` of them distinct records."""

    root: Path
    rows: int
    unique: int
    batch_records: int

    @property
    def files(self) -> list[Path]:
        """The raw Parquet files."""
        return sorted((self.root / "raw" / TABLE).rglob("*.parquet"))


def raw_zone(rows: int, folder: Path = CACHE, batch_records: int | None = None) -> RawZone:
    """A raw zone of ``rows`` rows, 2% of them re-delivered copies; generated once, then reused from ``folder``."""
    batch = batch_records or min(BATCH_RECORDS, max(1, rows // 20))
    redelivered = round(rows * REDELIVERED_FRACTION)
    unique = rows - redelivered
    target = folder / f"compact-iot-{rows}"
    zone = RawZone(root=target / "lake", rows=rows, unique=unique, batch_records=batch)
    manifest = target / "manifest.json"
    expected = {"version": DATASET_VERSION, "rows": rows, "unique": unique, "batch_records": batch}
    if manifest.exists() and json.loads(manifest.read_text(encoding="utf-8")) == expected:
        return zone
    shutil.rmtree(target, ignore_errors=True)
    originals = [min(batch, unique - start) for start in range(0, unique, batch)]
    plan = [(f"b{i:05d}", i, size) for i, size in enumerate(originals)]
    workers = min(len(plan), usable_cpus())
    context = multiprocessing.get_context("spawn")  # the caller may have Polars' threads running; never fork it
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        list(pool.map(_write_batches, [zone.root] * workers, [plan[w::workers] for w in range(workers)]))
        # re-deliveries after every original, as a retry comes later: prefixes of batches spread over the input
        count = math.ceil(redelivered / batch)
        again, left = [], redelivered
        for k in range(count):
            i = (2 * k + 1) * len(originals) // (2 * count)
            again.append((f"b{i:05d}-redelivery", i, min(left, originals[i])))
            left -= again[-1][2]
        pool.submit(_write_batches, zone.root, again).result()
    manifest.write_text(json.dumps(expected) + "\n", encoding="utf-8")
    return zone


def _write_batches(root: Path, plan: list[tuple[str, int, int]]) -> None:
    """Write each ``(batch_id, seed, records)`` as one Firehose batch of the example pipeline through ``LakeWriter``."""
    from transform_core.demo.generate import DEFAULT_START_MS, valid_payload
    from transform_core.engine import Pipeline
    from transform_core.firehose.batch import RecordBatch
    from transform_core.lake import LakeWriter
    from transform_core.spec import load_spec

    pipeline = Pipeline(load_spec(ROOT / SPEC))
    writer = LakeWriter(pipeline.spec, str(root))
    for batch_id, seed, records in plan:
        rng, seq = random.Random(seed), 0
        data: list[str] = []
        while len(data) < records:  # the batch's first valid records that the spec keeps (heartbeats are dropped)
            payload = valid_payload(rng, seq)
            seq += 1
            if payload.kind == "valid":
                data.append(base64.b64encode(payload.data).decode("ascii"))
        arrival = DEFAULT_START_MS + seed * 60_000 + (3_600_000 if batch_id.endswith("redelivery") else 0)
        ids = [f"{seed:05d}-{n:05d}" for n in range(records)]  # a re-delivery carries the original recordIds
        batch = RecordBatch(record_ids=ids, data=data, arrival_ms=[arrival] * records)
        result = pipeline.process(batch, respond=False)
        written = writer.write(result, batch, batch_id=batch_id)
        if result.ok != records or written.ok_rows != records:
            raise RuntimeError(f"batch {batch_id}: {result.ok:,} Ok, {written.ok_rows:,} stored of {records:,} records")


def old_tree(folder: Path = CACHE) -> Path | None:
    """A detached worktree of the manifest compaction's commit under ``folder``, made once; None without that commit
    (a shallow clone)."""
    tree = folder / f"compact-old-{OLD_COMMIT[:7]}"

    def git(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)

    if (tree / ".git").exists() and git("rev-parse", "HEAD", cwd=tree).stdout.strip() == OLD_COMMIT:
        return tree
    if git("cat-file", "-e", f"{OLD_COMMIT}^{{commit}}").returncode != 0:
        return None
    if tree.exists():
        raise RuntimeError(f"{tree} exists but is not a worktree of {OLD_COMMIT[:7]}: remove it (git worktree remove)")
    folder.mkdir(parents=True, exist_ok=True)
    added = git("worktree", "add", "--force", "--detach", str(tree), OLD_COMMIT)  # --force: a registered, deleted one
    if added.returncode != 0:
        raise RuntimeError(f"git worktree add {tree} failed: {added.stderr.strip()}")
    return tree


# --- the contenders --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Contender:
    """A compaction to run: the tree its ``transform_core`` comes from and the module whose ``compact`` runs."""

    name: str
    tree: Path
    module: str


def contenders(old: Path | None) -> list[Contender]:
    """The manifest compaction from ``old`` (when there is one) and today's, in table order."""
    new = Contender(name=NEW, tree=ROOT, module="transform_core.lake.curated")
    return [Contender(name=OLD, tree=old, module="transform_core.lake.compact"), new] if old is not None else [new]


def measure(contender: Contender, zone: RawZone | None, scratch: Path) -> dict[str, Any]:
    """Run one compaction of ``zone`` in a fresh process on a fresh lake under ``scratch`` (only import it without a
    zone): wall seconds from start to exit and what the child reports (:mod:`benchmarks.compact_child`)."""
    command = [sys.executable, str(CHILD), contender.module, str(contender.tree / SPEC)]
    lake = None
    if zone is not None:
        lake = Path(tempfile.mkdtemp(prefix="lake-", dir=scratch))
        shutil.copytree(zone.root / "raw", lake / "raw", copy_function=os.link)  # compaction only reads raw/
        command.append(str(lake))
    env = {**os.environ, "PYTHONPATH": str(contender.tree)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm-up writes the tree's bytecode once; every run then reads it
    os.sync()  # the previous run's writes reach the disk before this run, not during it
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        try:
            started = time.perf_counter()
            process = subprocess.Popen(command, cwd=contender.tree, env=env, stdout=stdout, stderr=stderr)
            _, status, usage = os.wait4(process.pid, 0)  # with the child's CPU time
            wall = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if lake is not None:
                shutil.rmtree(lake, ignore_errors=True)
        stdout.seek(0)
        stderr.seek(0)
        if process.returncode != 0:
            raise RuntimeError(
                f"{contender.name} failed ({process.returncode}):\n{stderr.read().decode(errors='replace')[-3000:]}"
            )
        output = stdout.read().decode()
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    if not Path(result["package"]).is_relative_to(contender.tree):
        raise RuntimeError(f"{contender.name} imported transform_core from {result['package']}, not from {contender.tree}")
    return {**result, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime}


def check_rows(results: dict[str, dict[str, Any]], zone: RawZone) -> None:
    """Every contender read every raw row and kept exactly the distinct records.

    Raises:
        AssertionError: naming the contender and its counts.
    """
    for name, result in results.items():
        got = (result["rows_in"], result["rows_out"])
        if got != (zone.rows, zone.unique):
            raise AssertionError(
                f"{name} read {got[0]:,} rows and kept {got[1]:,}; the raw zone: {zone.rows:,} and {zone.unique:,}"
            )


# --- the table -------------------------------------------------------------------------------------------------------

TIMES = ("wall_s", "cpu_s", "run_s", "import_s", "peak_rss_mb")


def medians(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per contender: the counts of its first round and the median of every timing and the peak RSS."""
    return round_medians(rounds, TIMES)


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """A Markdown table of medians, with each row's wall and CPU time over the manifest compaction's."""
    base = results.get(OLD)
    header: tuple[str, ...] = (
        "contender",
        "rows in",
        "rows out",
        "data files",
        "wall s",
        "CPU s",
        "run s",
        "import s",
        "peak RSS MB",
    )
    header += ("wall vs manifest", "CPU vs manifest") if base is not None else ()
    rows = [header]
    for name, r in results.items():
        ratios = (f"{r['wall_s'] / base['wall_s']:.2f}×", f"{r['cpu_s'] / base['cpu_s']:.2f}×") if base is not None else ()
        rows.append(
            (
                name,
                f"{r['rows_in']:,}",
                f"{r['rows_out']:,}",
                f"{r['data_files']:,}",
                f"{r['wall_s']:.2f}",
                f"{r['cpu_s']:.2f}",
                f"{r['run_s']:.2f}",
                f"{r['import_s']:.2f}",
                f"{r['peak_rss_mb']:,.0f}",
                *ratios,
            )
        )
    return markdown_table(rows)


LEGEND = """\
Medians over {rounds} round(s), the contenders' order alternating. wall s: process start to exit (interpreter start,
imports and teardown included); CPU s: the process's user and system time (steadier than wall s on a busy machine;
above wall s when threads run at once); run s: inside the process, from the start of the script to the compaction's
end; import s: importing the compaction, part of run s. peak RSS: the process's VmHWM at its end. vs manifest: this
row's figure over the manifest compaction's (>1: slower)."""


def _log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the raw zone, run the contenders in alternating rounds, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compact_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=None, help=f"raw rows (default {ROWS:,}; smoke {SMOKE_ROWS:,})")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the table shows medians (default 3)")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_ROWS:,} rows, one round: checks the machinery only")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON results")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    rows = args.rows or (SMOKE_ROWS if args.smoke else ROWS)
    rounds = 1 if args.smoke else args.rounds
    _log(f"input: {rows:,} raw rows, {REDELIVERED_FRACTION:.0%} re-delivered (generated once, cached under {CACHE})")
    zone = raw_zone(rows)
    old = old_tree()
    if old is None:
        _log(f"commit {OLD_COMMIT[:7]} is not in this clone: the manifest compaction is left out")
    chosen = contenders(old)
    load_before = os.getloadavg()
    runs: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="compact-bench-", dir=CACHE) as scratch:
        for contender in chosen:
            measure(contender, None, Path(scratch))  # imports once: bytecode caches written, files in the page cache
        for n in range(rounds):
            order = chosen[n % len(chosen) :] + chosen[: n % len(chosen)]
            runs.append({})
            for contender in order:
                _log(f"round {n + 1}/{rounds}: {contender.name} …")
                runs[-1][contender.name] = measure(contender, zone, Path(scratch))
                _log(f"{contender.name}: {runs[-1][contender.name]['wall_s']:.2f} s")
            runs[-1] = {c.name: runs[-1][c.name] for c in chosen}
            check_rows(runs[-1], zone)
    load = {"before": load_before, "after": os.getloadavg()}
    results = medians(runs)
    files = zone.files
    raw_bytes = sum(f.stat().st_size for f in files)
    print(format_table(results))
    print()
    print(
        f"{zone.rows:,} raw rows ({zone.rows - zone.unique:,} re-delivered) in {len(files):,} files, {raw_bytes / 1e6:.0f} MB "
        f"of Parquet; {usable_cpus()} CPUs, load average {load['before'][0]:.2f} before and {load['after'][0]:.2f} after"
    )
    print(LEGEND.format(rounds=rounds))
    input_ = {"rows": zone.rows, "unique": zone.unique, "batch_records": zone.batch_records, "files": len(files)}
    document = {
        "smoke": args.smoke,
        "input": {**input_, "bytes": raw_bytes},
        "old_commit": OLD_COMMIT if old is not None else None,
        "load_average": load,
        "medians": results,
        "rounds": runs,
    }
    _log(f"results: {_write_json(args.results, document)}")
    return 0


def _write_json(folder: Path, document: dict[str, Any]) -> Path:
    from benchmarks.report import machine, write_result

    return write_result(folder, "compact", {"machine": machine(), **document})


if __name__ == "__main__":
    sys.exit(main())
