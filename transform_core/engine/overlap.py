"""Polars queries run while Python works on something else: by Polars' own threads, or by one worker thread.

Polars releases the GIL while it computes, so a query runs alongside the Python-level work that follows in the
calling thread (the msgspec decode, building the next columns): on two or more CPUs its time is hidden, on one it
costs only the hand-over. Queries are handed to Polars (:func:`collected`: ``collect(background=True)``): no Python
thread takes part, so the caller never waits for another thread to start or to give the GIL back (a hand-over to a
Python worker thread kept the caller waiting 0.2-0.4 ms, and up to a whole query after an idle spell, when the
scheduler woke the worker on the caller's CPU). Python work goes to the worker thread (:func:`released`): it frees a
large batch's decoded records while the caller waits for its main query. The thread is created on first use and
forgotten in a forked child (threads do not survive ``fork``; the child makes its own).

With ``TRANSFORM_CORE_PIN_THREADS=1`` and two or more CPUs, the worker is pinned to one of them, and while a batch
runs (:func:`placed`) the calling thread to the others. It was made for query hand-overs to the worker, which after
an idle spell the scheduler often woke on the caller's CPU (a 5 MB batch after 0.3 s asleep: 41.4 ms pinned against
48.3). Since queries go to Polars' threads instead, it is worth about 1 ms on a 5 MB batch after an idle spell, and
nothing, or 0.1-0.2 ms less than nothing, on a 500-record one or without idle spells; it stays off unless asked
for. It is for a process that has its CPUs to itself (a Lambda function): several engine processes on one machine
would pin their workers to the same CPU. Polars' own thread pool, made when Polars is first used, keeps every CPU.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import polars as pl

__all__ = ["OVERLAP_FROM", "PIN_ENV", "RELEASE_FROM", "Pending", "collected", "placed", "ready", "released"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Pending(Protocol[T_co]):
    """A result on its way: a :class:`~concurrent.futures.Future`, or a query Polars runs (:func:`collected`)."""

    def done(self) -> bool: ...  # without waiting

    def result(self) -> T_co: ...


#: Batches of fewer records run their queries inline: the hand-over would cost more.
OVERLAP_FROM = 100

#: Smaller lists are freed where they fall: a hand-over costs about as much as freeing a thousand small records.
RELEASE_FROM = 1000

#: Environment variable: ``1`` pins the worker thread to a CPU of its own (see :func:`placed`); anything else: not.
PIN_ENV = "TRANSFORM_CORE_PIN_THREADS"

_executor: ThreadPoolExecutor | None = None
_worker_cpu: int | None = None  # the CPU the worker is pinned to, if it is
_lock = threading.Lock()


def collected(query: pl.LazyFrame, then: Callable[[pl.DataFrame], T], *, rows: int) -> Pending[T]:
    """``then(query.collect())``, the query run by Polars' own threads if the batch has ``rows >= OVERLAP_FROM``,
    else now; ``then`` runs in the caller, at ``result()``. The query runs on the in-memory engine, as written."""
    if rows < OVERLAP_FROM:
        return ready(then(query.collect(engine="in-memory", optimizations=_AS_WRITTEN)))
    return _Collecting(query.collect(background=True, engine="in-memory", optimizations=_AS_WRITTEN), then)


class _Collecting(Pending[T]):
    """A query Polars runs on its own threads (``collect(background=True)``, marked unstable by Polars: the tests
    run it as the engine does, so an upgrade that changes it fails them).

    Abandoned unfetched (an exception between the hand-over and :meth:`result`), it waits for the query: Polars'
    thread panics if it finishes after its handle is dropped, and the panic aborts the process.
    """

    def __init__(self, query: Any, then: Callable[[pl.DataFrame], T]) -> None:
        self._query, self._then = query, then
        self._frame: pl.DataFrame | None = None
        self._fetched = False

    def __del__(self) -> None:
        if not self._fetched:
            with contextlib.suppress(Exception):  # the query's error is no one's now: the caller has one of its own
                self._query.fetch_blocking()

    def done(self) -> bool:
        if not self._fetched:
            try:
                self._frame = self._query.fetch()
            except Exception:
                self._fetched = True  # the query's error came off the channel
                raise
            self._fetched = self._frame is not None
        return self._fetched

    def result(self) -> T:
        if not self._fetched:
            self._fetched = True  # fetch_blocking takes the result, or its error, off the channel
            self._frame = self._query.fetch_blocking()  # waits without the GIL
        if self._frame is None:
            raise RuntimeError("the query failed: done() raised its error")
        return self._then(self._frame)


_AS_WRITTEN = pl.QueryOptFlags.none()  # one select: nothing to push down or to share


def released(objects: list[Any]) -> Future[None]:
    """Empty ``objects`` (freeing what only they held) in the worker thread, if there are ``RELEASE_FROM`` or more.

    Meant to be called just before a long Polars call: the worker takes the GIL when the caller lets it go there,
    so the freeing (1.4 ms for a 5 MB batch's decoded records, 2.9 ms for wide ones) happens during the query
    instead of after it. It does not wait for the worker to start (the worker should take the GIL only once the
    caller is in that call); wait on the future before returning.
    """
    if len(objects) < RELEASE_FROM:
        return ready(None)
    return _background().submit(objects.clear)


@contextmanager
def placed() -> Iterator[None]:
    """Keep the calling thread off the worker's CPU for the duration (its own CPU set restored after).

    A no-op until the worker exists and is pinned (unless ``TRANSFORM_CORE_PIN_THREADS=1`` and the process may use
    two CPUs, it never is), and when the caller may use no other CPU.
    """
    others = None
    if _worker_cpu is not None:
        before = os.sched_getaffinity(0)
        others = before - {_worker_cpu}
    if not others:
        yield
        return
    os.sched_setaffinity(0, others)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _pin_worker() -> None:
    """The worker's initializer: pin it to the last CPU the process may use, if asked and it may use two or more."""
    global _worker_cpu
    if os.environ.get(PIN_ENV) != "1" or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[-1]})
        _worker_cpu = cpus[-1]


def ready(result: T) -> Future[T]:
    """A future that already holds ``result`` (for a job done now)."""
    done: Future[T] = Future()
    done.set_result(result)
    return done


def _background() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transform-core", initializer=_pin_worker)
    return _executor


def _forget_in_child() -> None:
    global _executor, _worker_cpu
    _executor = None
    _worker_cpu = None


os.register_at_fork(after_in_child=_forget_in_child)
