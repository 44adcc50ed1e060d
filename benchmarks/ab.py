"""Handler A/B of two trees: is a change to the engine faster, measured as this machine allows.

Usage: ``.venv/bin/python -m benchmarks.ab BASE [--workload NAME ...] [--pairs 5] [--rounds 25] [--idle S] [--cpus N]``

``BASE`` is a git ref (checked out in a temporary worktree, removed after) or a directory holding another tree; the
other side is this checkout. Each pair runs a fresh process per tree, the order alternating from pair to pair; each
process builds the workload, then times ``rounds`` invocations of that tree's ``engine`` handler, each right after one
of the ``msgspec`` contender's on the same event, as in ``make bench``, where every contender follows another. The
process reports its median; the table gives each tree's median of those medians and how many pairs the change won.

``make bench`` tables move from run to run on a shared machine by more than most single changes; two trees in
alternating fresh processes, minutes apart at most, see the same spells. ``--idle`` sleeps before each timed
invocation (the idle spell between Lambda invocations); ``--cpus 1`` restricts both trees to one CPU (what a
1,769 MB function gets).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["compare", "main", "time_tree"]

HERE = Path(__file__).resolve().parent.parent  # this checkout

# Run in a fresh process with the tree first on sys.path, so the tree's own engine (and harness) is what is timed.
_CHILD = """
import gc, json, os, statistics, sys, time
tree, name, rounds, idle, cpus, smoke = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"
if cpus:
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cpus])
sys.path.insert(0, tree)
from transform_core.adapters.allocator import keep_freed_pages
keep_freed_pages()
import importlib, importlib.util
from benchmarks.measure import invoke
from benchmarks.peers import engine
from benchmarks.workloads import build
# the msgspec contender's module (peer_e_msgspec in older trees, which BASE may be)
peer_module = next(m for m in ("benchmarks.peers.msgspec", "benchmarks.peers.peer_e_msgspec") if importlib.util.find_spec(m))
workload = build(name, smoke=smoke)
handler, peer = engine.make_handler(workload.spec_path), importlib.import_module(peer_module).make_handler(workload.spec_path)
times = []
for _ in range(rounds + 3):  # the first three warm up
    gc.collect()
    invoke(peer, workload.event_bytes)
    gc.collect()
    if idle:
        time.sleep(idle)
    sample, _ = invoke(handler, workload.event_bytes)  # as make bench times it: the runtime's parse, then the handler
    times.append(sample.handler)
print(json.dumps({"median_ms": statistics.median(times[3:]) * 1e3}))
"""


def time_tree(tree: Path, workload: str, *, rounds: int, idle: float = 0.0, cpus: int = 0, smoke: bool = False) -> float:
    """One fresh process on ``tree``: the median handler time (ms) of ``rounds`` invocations, each after msgspec's."""
    argv = [sys.executable, "-c", _CHILD, str(tree), workload, str(rounds), str(idle), str(cpus), "1" if smoke else "0"]
    done = subprocess.run(argv, cwd=tree, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"timing {workload!r} on {tree} failed:\n{done.stderr[-3000:]}")
    median_ms: float = json.loads(done.stdout.splitlines()[-1])["median_ms"]
    return median_ms


def compare(
    base: Path, new: Path, workload: str, *, pairs: int, rounds: int, idle: float = 0.0, cpus: int = 0, smoke: bool = False
) -> tuple[list[float], list[float]]:
    """Each tree's per-process medians over ``pairs`` pairs, the tree that goes first alternating."""
    times: dict[str, list[float]] = {"base": [], "new": []}
    trees = {"base": base, "new": new}
    for pair in range(pairs):
        for side in ("base", "new") if pair % 2 == 0 else ("new", "base"):
            times[side].append(time_tree(trees[side], workload, rounds=rounds, idle=idle, cpus=cpus, smoke=smoke))
        print(
            f"  {workload}, pair {pair + 1}/{pairs}: base {times['base'][-1]:.2f} ms, new {times['new'][-1]:.2f} ms",
            file=sys.stderr,
        )
    return times["base"], times["new"]


@contextmanager
def _tree(base: str) -> Iterator[Path]:
    """``base`` as a directory: itself, or a git ref checked out in a temporary worktree of this checkout."""
    if Path(base).is_dir():
        yield Path(base).resolve()
        return
    folder = Path(tempfile.mkdtemp(prefix="transform-core-ab-"))
    checkout = folder / "base"
    git = ["git", "-C", str(HERE)]
    try:
        added = subprocess.run(
            [*git, "worktree", "add", "--detach", "--quiet", str(checkout), base], capture_output=True, text=True
        )
        failure = added.stderr.strip() if added.returncode != 0 else None
    except FileNotFoundError:
        failure = "git is not installed"
    if failure is not None:
        shutil.rmtree(folder, ignore_errors=True)
        raise SystemExit(f"{base!r} is neither a directory nor a git ref of {HERE}: {failure}")
    try:
        yield checkout
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(checkout)], capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("base", help="a git ref of this checkout (HEAD~1, main, a commit) or a directory holding another tree")
    parser.add_argument(
        "--workload", action="append", help="a workload of benchmarks.workloads (repeatable; default: 500 clean, 5MB clean)"
    )
    parser.add_argument("--pairs", type=int, default=5, help="pairs of fresh processes per workload (default 5)")
    parser.add_argument("--rounds", type=int, default=25, help="timed invocations per process (default 25)")
    parser.add_argument("--idle", type=float, default=0.0, metavar="SECONDS", help="sleep before each timed invocation")
    parser.add_argument("--cpus", type=int, default=0, help="run both trees on the first N CPUs only (default: all)")
    parser.add_argument("--smoke", action="store_true", help="the small workloads of the CI smoke run")
    args = parser.parse_args(argv)
    workloads = args.workload or ["500 clean", "5MB clean"]
    rows = []
    with _tree(args.base) as base:
        for name in workloads:
            before, after = compare(
                base, HERE, name, pairs=args.pairs, rounds=args.rounds, idle=args.idle, cpus=args.cpus, smoke=args.smoke
            )
            won = sum(a < b for a, b in zip(after, before, strict=True))
            rows.append((name, statistics.median(before), statistics.median(after), won))
    print(f"handler ms, median of {args.pairs} fresh processes per tree ({args.rounds} invocations each, each after msgspec's)")
    print(f"{'workload':<14} {'base':>9} {'new':>9} {'change':>8}  pairs won by new")
    for name, before_ms, after_ms, won in rows:
        print(f"{name:<14} {before_ms:>9.2f} {after_ms:>9.2f} {(after_ms / before_ms - 1) * 100:>+7.1f}%  {won}/{args.pairs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
