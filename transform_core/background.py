"""One worker thread, for a Polars query to run while Python works on something else.

Polars releases the GIL while it computes, so a query submitted here overlaps with Python-level work in the
calling thread (the msgspec decode, say): on two or more CPUs the query's time is hidden; on one it costs
only the hand-over. The thread is created on first use and forgotten in a forked child (threads do not
survive ``fork``; the child makes its own).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["background"]

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def background() -> ThreadPoolExecutor:
    """The process's single background worker."""
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
