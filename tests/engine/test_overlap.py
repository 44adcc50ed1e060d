"""Polars' own threads and the worker thread, which overlap a query or a freeing with the Python work after it."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading

import polars as pl
import pytest

from transform_core.engine import overlap
from transform_core.engine.overlap import free_in_background, query_in_background

MANY = 1000  # objects in a list to free


def _slow_query(rows: int) -> pl.LazyFrame:
    """A query that takes a while (a regex over many strings), and its expected sum."""
    return pl.LazyFrame({"s": [f"x{i}y" for i in range(rows)]}).select(pl.col("s").str.contains(r"^x[0-9]*9y$").sum())


@pytest.mark.parametrize("background", [False, True])
def test_a_query_gives_the_result_then_makes_of_it(background: bool) -> None:
    rows = 1000
    seen: list[str] = []

    def then(frame: pl.DataFrame) -> int:
        seen.append(threading.current_thread().name)
        return int(frame.item())

    pending = query_in_background(_slow_query(rows), then, background=background)
    assert pending.result() == sum(1 for i in range(rows) if str(i).endswith("9"))
    assert seen == [threading.current_thread().name]  # ``then`` runs in the caller, inline or at result()


def test_a_background_query_is_run_by_polars_while_the_caller_goes_on() -> None:
    seen: list[str] = []
    pending = query_in_background(_slow_query(2_000_000), lambda frame: seen.append("then") or frame.item(), background=True)
    assert seen == []  # not run yet: the query is Polars', and ``then`` waits for result()
    assert not isinstance(pending, overlap.Future)
    assert pending.result() == 200_000 and seen == ["then"]


def test_an_error_in_a_query_reaches_the_caller() -> None:
    bad = pl.LazyFrame({"s": ["a"]}).select(pl.col("s").cast(pl.Int64, strict=True))
    for background in (False, True):
        with pytest.raises(pl.exceptions.InvalidOperationError):
            query_in_background(bad, lambda frame: frame, background=background).result()


def test_an_error_seen_by_done_is_not_waited_for_again() -> None:
    bad = pl.LazyFrame({"s": ["a"]}).select(pl.col("s").cast(pl.Int64, strict=True))
    pending = query_in_background(bad, lambda frame: frame, background=True)
    with pytest.raises(pl.exceptions.InvalidOperationError):
        while not pending.done():  # the query fails at once: done() raises its error
            pass
    with pytest.raises(RuntimeError, match="done"):  # not a wait on a channel its sender has left (a panic)
        pending.result()


_ABANDONING_CHILD = """
import sys
import time
import polars as pl
from transform_core.engine.overlap import query_in_background
query = pl.LazyFrame({"s": [f"x{i}y" for i in range(2_000_000)]}).select(pl.col("s").str.contains(r"^x[0-9]*9y$").sum())
pending = query_in_background(query, lambda frame: frame.item(), background=True)
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
def test_a_background_query_dropped_does_not_abort_the_process(when: str) -> None:
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
    """The name of the thread that frees a list handed to :func:`free_in_background`."""
    threads: list[str] = []
    free_in_background([_Freed(threads) for _ in range(MANY)], background=True).result(timeout=5)
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


def test_a_list_is_freed_by_the_worker_thread() -> None:
    threads: list[str] = []
    objects = [_Freed(threads) for _ in range(MANY)]
    free_in_background(objects, background=True).result()
    assert objects == []
    assert len(threads) == MANY and all(name.startswith("transform-core") for name in threads)


def test_a_list_not_handed_over_is_left_to_its_holder() -> None:
    threads: list[str] = []
    objects = [_Freed(threads) for _ in range(MANY)]
    free_in_background(objects, background=False).result()
    assert len(objects) == MANY and not threads
    del objects
    assert threads == [threading.current_thread().name] * MANY
