"""The background thread, and Polars' own threads, that overlap a Polars query with the Python work after it."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading

import polars as pl
import pytest

from transform_core.engine import overlap as background
from transform_core.engine.overlap import OVERLAP_FROM, RELEASE_FROM, collected, released


def _slow_query(rows: int) -> pl.LazyFrame:
    """A query that takes a while (a regex over many strings), and its expected sum."""
    return pl.LazyFrame({"s": [f"x{i}y" for i in range(rows)]}).select(pl.col("s").str.contains(r"^x[0-9]*9y$").sum())


@pytest.mark.parametrize("rows", [OVERLAP_FROM - 1, OVERLAP_FROM])
def test_a_collected_query_gives_the_result_then_makes_of_it(rows: int) -> None:
    seen: list[str] = []

    def then(frame: pl.DataFrame) -> int:
        seen.append(threading.current_thread().name)
        return int(frame.item())

    pending = collected(_slow_query(rows), then, rows=rows)
    assert pending.result() == sum(1 for i in range(rows) if str(i).endswith("9"))
    assert seen == [threading.current_thread().name]  # ``then`` runs in the caller, inline or at result()


def test_a_large_batch_has_its_query_collected_by_polars_while_the_caller_goes_on() -> None:
    seen: list[str] = []
    pending = collected(_slow_query(2_000_000), lambda frame: seen.append("then") or frame.item(), rows=OVERLAP_FROM)
    assert seen == []  # not run yet: the query is Polars', and ``then`` waits for result()
    assert not isinstance(pending, background.Future)
    assert pending.result() == 200_000 and seen == ["then"]


def test_an_error_in_a_collected_query_reaches_the_caller() -> None:
    bad = pl.LazyFrame({"s": ["a"]}).select(pl.col("s").cast(pl.Int64, strict=True))
    for rows in (OVERLAP_FROM - 1, OVERLAP_FROM):
        with pytest.raises(pl.exceptions.InvalidOperationError):
            collected(bad, lambda frame: frame, rows=rows).result()


def test_an_error_seen_by_done_is_not_waited_for_again() -> None:
    bad = pl.LazyFrame({"s": ["a"]}).select(pl.col("s").cast(pl.Int64, strict=True))
    pending = collected(bad, lambda frame: frame, rows=OVERLAP_FROM)
    with pytest.raises(pl.exceptions.InvalidOperationError):
        while not pending.done():  # the query fails at once: done() raises its error
            pass
    with pytest.raises(RuntimeError, match="done"):  # not a wait on a channel its sender has left (a panic)
        pending.result()


_ABANDONING_CHILD = """
import sys
import time
import polars as pl
from transform_core.engine.overlap import OVERLAP_FROM, collected
query = pl.LazyFrame({"s": [f"x{i}y" for i in range(2_000_000)]}).select(pl.col("s").str.contains(r"^x[0-9]*9y$").sum())
pending = collected(query, lambda frame: frame.item(), rows=OVERLAP_FROM)
if sys.argv[1] == "after an error":
    assert not pending.done()
    pending = None  # dropped while Polars' thread still runs the query, as an exception's unwinding drops it
elif sys.argv[1] == "after its result":
    assert pending.result() == 200_000
    pending = None
time.sleep(2)  # the query, about 0.2 s, ends meanwhile
print("alive")
"""


@pytest.mark.parametrize("when", ["after an error", "after its result"])
def test_a_collected_query_dropped_does_not_abort_the_process(when: str) -> None:
    # Polars' thread panics when it sends a result to a dropped handle, and the panic aborts the process
    child = subprocess.run([sys.executable, "-c", _ABANDONING_CHILD, when], capture_output=True, text=True, timeout=60)
    assert (child.returncode, child.stdout) == (0, "alive\n"), child.stderr[-2000:]


class _Freed:
    """Records the thread that frees it."""

    def __init__(self, threads: list[str]) -> None:
        self.threads = threads

    def __del__(self) -> None:
        self.threads.append(threading.current_thread().name)


def _freeing_thread() -> str:
    """The name of the thread that frees a large list handed to :func:`released`."""
    threads: list[str] = []
    released([_Freed(threads) for _ in range(RELEASE_FROM)]).result(timeout=5)
    return threads[0]


def _in_child(queue: multiprocessing.Queue[str]) -> None:
    queue.put(_freeing_thread())


def test_a_forked_child_makes_its_own_thread() -> None:
    assert _freeing_thread().startswith("transform-core")  # the parent's thread exists before the fork
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[str] = context.Queue()
    child = context.Process(target=_in_child, args=(queue,))
    child.start()
    child.join(10)
    assert child.exitcode == 0
    assert queue.get(timeout=1).startswith("transform-core")


def test_a_large_list_is_freed_by_the_background_thread() -> None:
    threads: list[str] = []
    objects = [_Freed(threads) for _ in range(RELEASE_FROM)]
    released(objects).result()
    assert objects == []
    assert len(threads) == RELEASE_FROM and all(name.startswith("transform-core") for name in threads)


def test_a_small_list_is_left_to_its_holder() -> None:
    threads: list[str] = []
    objects = [_Freed(threads) for _ in range(RELEASE_FROM - 1)]
    released(objects).result()
    assert len(objects) == RELEASE_FROM - 1 and not threads
    del objects
    assert threads == [threading.current_thread().name] * (RELEASE_FROM - 1)


_PLACEMENT_CHILD = """
import json, os
from transform_core.engine import overlap as background
class Seen:
    def __del__(self):
        worker.update(os.sched_getaffinity(0))
cpus, worker = sorted(os.sched_getaffinity(0)), set()
background.released([Seen() for _ in range(background.RELEASE_FROM)]).result()  # freed by the worker thread
with background.placed():
    during = os.sched_getaffinity(0)
after = os.sched_getaffinity(0)
print(json.dumps({"cpus": cpus, "worker": sorted(worker), "during": sorted(during), "after": sorted(after)}))
"""


def _placement(pin: str | None, cpus: int) -> dict[str, list[int]]:
    """CPU sets seen in a fresh process restricted to ``cpus`` CPUs, with ``TRANSFORM_CORE_PIN_THREADS`` = ``pin``."""
    env = {k: v for k, v in os.environ.items() if k != background.PIN_ENV}
    if pin is not None:
        env[background.PIN_ENV] = pin
    allowed = sorted(os.sched_getaffinity(0))[:cpus]
    code = f"import os; os.sched_setaffinity(0, {set(allowed)!r}); exec({_PLACEMENT_CHILD!r})"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    placement: dict[str, list[int]] = json.loads(out)
    return placement


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_asked_to_pin_the_worker_has_a_cpu_of_its_own_while_a_batch_runs() -> None:
    seen = _placement("1", 2)
    assert len(seen["worker"]) == 1 and seen["worker"][0] in seen["cpus"]
    assert seen["during"] == sorted(set(seen["cpus"]) - set(seen["worker"]))
    assert seen["after"] == seen["cpus"]  # the caller's own CPU set is given back


@pytest.mark.parametrize(("pin", "cpus"), [(None, 2), ("0", 2), ("1", 1)])  # unasked, refused, one CPU
def test_otherwise_the_threads_are_left_to_the_scheduler(pin: str | None, cpus: int) -> None:
    seen = _placement(pin, cpus)
    assert seen["worker"] == seen["during"] == seen["after"] == seen["cpus"]


def test_a_forked_child_forgets_the_pinned_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(background, "_worker_cpu", 1)
    monkeypatch.setattr(background, "_executor", None)
    background._forget_in_child()  # what os.register_at_fork runs in the child: its own worker is made afresh
    assert background._worker_cpu is None
