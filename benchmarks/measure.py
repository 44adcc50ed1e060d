"""Measurements: one Lambda invocation end to end, interleaved rounds, and fresh-process runs.

An invocation as the managed Python runtime performs it: ``json.loads`` of the event bytes (the
runtime client parses with a JSON library before calling the handler), the handler, and the
serialization of its return value (a dict with ``json.dumps``; bytes are posted unchanged).
"""

from __future__ import annotations

import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.compare import as_posted
from benchmarks.peers import Handler, RawEventHandler
from benchmarks.workloads import ROOT, Workload

__all__ = ["Sample", "Timings", "invoke", "run_child", "time_rounds"]


@dataclass(frozen=True, slots=True)
class Sample:
    """Seconds spent in each part of one invocation."""

    parse: float
    handler: float
    serialize: float

    @property
    def e2e(self) -> float:
        """The whole invocation as the runtime sees it."""
        return self.parse + self.handler + self.serialize


@dataclass(slots=True)
class Timings:
    """Every sample of one contender on one workload."""

    samples: list[Sample] = field(default_factory=list)
    response_bytes: int = 0

    def median(self, part: str) -> float:
        """Median seconds of ``part``: ``e2e``, ``parse``, ``handler`` or ``serialize``."""
        return float(statistics.median(getattr(s, part) for s in self.samples))


def invoke(handler: Handler, event_bytes: bytes) -> tuple[Sample, bytes]:
    """One invocation: the runtime's parse, the handler, the runtime's serialization."""
    started = time.perf_counter()
    if isinstance(handler, RawEventHandler):  # its own runtime loop: the bytes as received
        parsed = started
        out: Any = handler(event_bytes)
    else:
        event = json.loads(event_bytes)
        parsed = time.perf_counter()
        out = handler(event)
    handled = time.perf_counter()
    body = as_posted(out)
    done = time.perf_counter()
    return Sample(parsed - started, handled - parsed, done - handled), body


def time_rounds(workload: Workload, handlers: dict[str, Handler], rounds: int, idle_s: float = 0.0) -> dict[str, Timings]:
    """``rounds`` invocations per contender, interleaved in an order shuffled afresh each round, after a warm-up each;
    with ``idle_s``, that long asleep before each invocation (the idle spell between Lambda invocations).

    Shuffled, so each contender follows every other equally often: what ran just before changes an invocation's
    time (a 500-record batch handled right after the engine's previous one finds its caches and Polars' thread
    pool warm), and a fixed cycle would hand the same neighbour to the same contender every round.
    """
    names = list(handlers)
    timings = {name: Timings() for name in names}
    for name in names:
        invoke(handlers[name], workload.event_bytes)
    order = random.Random(f"{workload.name} {rounds}")  # the same orders on every run
    for _ in range(rounds):
        for name in order.sample(names, len(names)):
            gc.collect()  # each invocation starts from the same heap state, not the previous one's garbage
            if idle_s:
                time.sleep(idle_s)
            sample, body = invoke(handlers[name], workload.event_bytes)
            timings[name].samples.append(sample)
            timings[name].response_bytes = len(body)
    return timings


def run_child(contender: str, spec_path: str, event_file: Path, repeat: int = 1) -> dict[str, Any]:
    """Run :mod:`benchmarks.child` in a fresh interpreter; adds ``wall_s`` (process start to exit)."""
    env = {k: v for k, v in os.environ.items() if k != "TRANSFORM_CORE_SPEC"}
    command = [sys.executable, "-m", "benchmarks.child", contender, spec_path, str(event_file), str(repeat)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{contender} child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result
