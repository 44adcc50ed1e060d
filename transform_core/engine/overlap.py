"""Work done while Python works on something else: Polars queries on Polars' own threads, freeing on a worker thread.

Polars releases the GIL while it computes, so a query runs alongside the Python-level work that follows in the
calling thread (the msgspec decode, building the next columns): on two or more CPUs its time is hidden, on one it
costs only the hand-over. Queries are handed to Polars (:func:`query_in_background`: ``collect(background=True)``):
no Python thread takes part, so the caller never waits for another thread to start or to give the GIL back. Python
work goes to one worker thread (:func:`free_in_background`): it frees a large batch's decoded records while the
caller waits for its main query. The thread is created on first use and forgotten in a forked child (threads do
not survive ``fork``; the child makes its own).

Whether a batch is large enough to hand work over is the caller's decision (:class:`~transform_core.tuning.Tuning`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import polars as pl

__all__ = ["Pending", "free_in_background", "query_in_background", "ready"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Pending(Protocol[T_co]):
    """A result on its way: a :class:`~concurrent.futures.Future`, or a query Polars runs."""

    def done(self) -> bool: ...  # without waiting

    def result(self) -> T_co: ...


_AS_WRITTEN = pl.QueryOptFlags.none()  # each query is a select or two: nothing to push down or to share
_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def query_in_background(query: pl.LazyFrame, then: Callable[[pl.DataFrame], T], *, background: bool) -> Pending[T]:
    """``then(query.collect())``: the query run by Polars' own threads if ``background``, else now.

    ``then`` runs in the caller, at ``result()``. The query runs on the in-memory engine, as written.
    """
    if not background:
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


def free_in_background(objects: list[Any], *, background: bool) -> Future[None]:
    """Empty ``objects`` (freeing what only they held) in the worker thread if ``background``; else leave them to be
    freed where they fall.

    Meant to be called just before a long Polars call: the worker takes the GIL when the caller lets it go there,
    so the freeing happens during the query instead of after it. It does not wait for the worker to start (the
    worker should take the GIL only once the caller is in that call); wait on the future before returning.
    """
    if not background:
        return ready(None)
    return _worker().submit(objects.clear)


def ready(result: T) -> Future[T]:
    """A future that already holds ``result`` (for a job done now)."""
    done: Future[T] = Future()
    done.set_result(result)
    return done


def _worker() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transform-core")
    return _executor


def _forget_in_child() -> None:
    global _executor
    _executor = None


os.register_at_fork(after_in_child=_forget_in_child)
