"""The deadline of an invocation on the raw-bytes runtime: a batch still running just before it is given up.

Lambda ends an invocation at its deadline (``Lambda-Runtime-Deadline-Ms``) whatever the runtime does, and a batch
cannot be stopped midway. So :class:`Watchdog` watches each invocation from a thread of its own:
:data:`DEADLINE_MARGIN_S` before the deadline it has the invocation's error posted and logged, then ends the process
(exit status :data:`TIMEOUT_EXIT_STATUS`), and the next event starts a new one, as after Lambda's own timeout. The
error names the deadline and what to change, where Lambda's own timeout would say only that time ran out. Standard
library only.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["DEADLINE_MARGIN_S", "TIMEOUT_EXIT_STATUS", "Watchdog"]

#: How long before the event's deadline a batch still running is given up: time to post the error before Lambda
#: ends the invocation itself.
DEADLINE_MARGIN_S = 0.2
#: The exit status after a batch ran out of time (the batch cannot be stopped midway; Lambda would end it anyway).
TIMEOUT_EXIT_STATUS = 3


class Watchdog:
    """Gives up a batch still running ``margin_s`` before its invocation's deadline: ``expire``, then ``exit``.

    Whoever comes first answers the invocation, the loop or the watchdog: :meth:`done` tells the loop whether it
    still may.

    Args:
        expire: posts and logs the error of the request id it is given.
        exit: ends the process once ``expire`` returned (default: :func:`os._exit` with :data:`TIMEOUT_EXIT_STATUS`).
        margin_s: how long before the deadline the batch is given up.
    """

    def __init__(
        self,
        expire: Callable[[str, int], None],
        *,
        exit: Callable[[], None] | None = None,  # noqa: A002 - what it does
        margin_s: float = DEADLINE_MARGIN_S,
    ) -> None:
        self._expire = expire
        self._exit = exit if exit is not None else _exit_timed_out
        self._margin_s = margin_s
        self._changed = threading.Condition()
        self._armed: tuple[str, int, float] | None = None  # request id, deadline (epoch ms), when to fire (monotonic)
        self._fired = threading.Event()
        self._expired = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def arm(self, request_id: str, deadline_ms: int) -> None:
        """Watch this invocation until :meth:`done`."""
        fire_at = time.monotonic() + deadline_ms / 1000 - time.time() - self._margin_s
        with self._changed:
            self._armed = (request_id, deadline_ms, fire_at)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="transform-core-deadline", daemon=True)
                self._thread.start()
            self._changed.notify()

    def done(self) -> bool:
        """Stop watching; False when the deadline came first (the error is posted, the process ends)."""
        with self._changed:
            self._armed = None
            self._changed.notify()
        if self._fired.is_set():
            self._expired.wait()  # the error is being posted: let it finish before the process ends
            return False
        return True

    def close(self) -> None:
        """Stop the watching thread (the loop returned)."""
        with self._changed:
            self._closed = True
            self._changed.notify()

    def _watch(self) -> None:
        with self._changed:
            while True:
                if self._closed:
                    return
                if self._armed is None:
                    self._changed.wait()
                    continue
                request_id, deadline_ms, fire_at = self._armed
                left = fire_at - time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                    continue
                self._armed = None
                self._fired.set()
                break
        try:
            self._expire(request_id, deadline_ms)
        except Exception as err:  # the process ends all the same, and Lambda reports the invocation itself
            sys.stderr.write(f"transform-core: the deadline's error was not posted: {err}\n")
        finally:
            self._expired.set()
            self._exit()


def _exit_timed_out() -> None:
    sys.stdout.flush()
    os._exit(TIMEOUT_EXIT_STATUS)  # the main thread is inside the batch: only a hard exit ends the process
