"""A producer for the ingest endpoint: each NDJSON line one ``POST``, over a few kept-alive connections.

:func:`send_lines` shares the lines out to ``connections`` threads, each with its own HTTP/1.1 connection, paced to
at most ``rate`` requests a second over all of them, and counts the answers (:class:`SendSummary`). A request on a
kept-alive connection the server closed meanwhile is sent once more on a new connection; any other failure counts
as an error, and the connection is opened again for the next line.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, NamedTuple
from urllib.parse import urlsplit

__all__ = ["DEFAULT_URL", "SendSummary", "ndjson_lines", "send_lines"]

DEFAULT_URL = "http://127.0.0.1:8080/events"
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class SendSummary(NamedTuple):
    """What :func:`send_lines` sent and what came back.

    Attributes:
        sent: requests sent (one a line).
        statuses: each HTTP status with its count.
        errors: requests that got no answer (the connection failed), each message with its count.
        elapsed_s: from the first request to the last answer.
    """

    sent: int
    statuses: Mapping[int, int]
    errors: Mapping[str, int]
    elapsed_s: float

    @property
    def ok(self) -> int:
        """Requests answered 200."""
        return self.statuses.get(200, 0)

    @property
    def client_errors(self) -> int:
        """Requests answered 4xx."""
        return sum(n for status, n in self.statuses.items() if 400 <= status < 500)

    @property
    def server_errors(self) -> int:
        """Requests answered 5xx."""
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def failed(self) -> int:
        """Requests not answered 200."""
        return self.sent - self.ok


def ndjson_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """The records of an NDJSON stream: each line without its line ending; blank lines are no record."""
    for line in stream:
        record = line.rstrip(b"\r\n")
        if record.strip(b" \t\r\n"):
            yield record


def send_lines(
    lines: Iterable[bytes],
    url: str = DEFAULT_URL,
    *,
    rate: float | None = None,
    connections: int = 4,
    stop: threading.Event | None = None,
    timeout_s: float = 60.0,
) -> SendSummary:
    """POST each line to ``url`` as one ``application/json`` request; returns what came back.

    Args:
        lines: the request bodies, consumed once, in order across the connections.
        url: ``http://host:port/path``.
        rate: at most this many requests a second over all connections (None: as fast as answers come).
        connections: kept-alive connections, one thread each.
        stop: when set, no further request is sent.
        timeout_s: how long one request may wait for its answer.

    Raises:
        ValueError: a URL that is not ``http://``, a rate or a number of connections below 1.
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"the URL must be http://host[:port]/path, got {url!r}")
    if connections < 1 or (rate is not None and rate <= 0):
        raise ValueError("connections must be at least 1 and rate positive")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sender = _Sender(iter(lines), parts.hostname, parts.port or 80, path, rate, stop or threading.Event(), timeout_s)
    threads = [threading.Thread(target=sender.work, name=f"send-{n}", daemon=True) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if sender.failure is not None:
        raise sender.failure
    return SendSummary(sender.sent, dict(sorted(sender.statuses.items())), dict(sender.errors), sender.elapsed())


class _Sender:
    """The state the sending threads share: the lines, the pace and the counts."""

    def __init__(
        self,
        lines: Iterator[bytes],
        host: str,
        port: int,
        path: str,
        rate: float | None,
        stop: threading.Event,
        timeout_s: float,
    ) -> None:
        self._lines = lines
        self._host, self._port, self._path = host, port, path
        self._rate = rate
        self._stop = stop
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._started: float | None = None
        self._finished = 0.0
        self.sent = 0
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.failure: BaseException | None = None  # reading the lines failed: raised by send_lines

    def elapsed(self) -> float:
        return 0.0 if self._started is None else self._finished - self._started

    def work(self) -> None:
        connection: http.client.HTTPConnection | None = None
        try:
            while (body := self._next()) is not None:
                if connection is None:
                    connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)
                status, error = self._post(connection, body)
                if error is not None:
                    connection.close()
                    connection = None
                with self._lock:
                    if error is None:
                        self.statuses[status] += 1
                    else:
                        self.errors[error] += 1
                    self._finished = time.perf_counter()
        finally:
            if connection is not None:
                connection.close()

    def _next(self) -> bytes | None:
        """The next line, once its turn under the rate has come; None when there are no more, or on stop."""
        with self._lock:
            if self._stop.is_set() or self.failure is not None:
                return None
            try:
                body = next(self._lines)
            except StopIteration:
                return None
            except BaseException as err:  # reading the input failed: stop every thread, raise it once
                self.failure = err
                return None
            now = time.perf_counter()
            if self._started is None:
                self._started = now
            due = self._started + self.sent / self._rate if self._rate else now
            self.sent += 1
        if due > now and self._stop.wait(due - now):
            with self._lock:
                self.sent -= 1  # stopped before its turn: not sent
            return None
        return body

    def _post(self, connection: http.client.HTTPConnection, body: bytes) -> tuple[int, str | None]:
        headers = {"Content-Type": "application/json"}
        for attempt in (1, 2):
            reused = connection.sock is not None
            try:
                connection.request("POST", self._path, body, headers)
                response = connection.getresponse()
                response.read()
                if response.will_close:
                    connection.close()
                return response.status, None
            except _STALE as err:
                connection.close()
                if attempt == 1 and reused:  # the server closed the kept-alive connection: once more, on a new one
                    continue
                return 0, f"{type(err).__name__}: {err}"
            except (OSError, http.client.HTTPException) as err:
                return 0, f"{type(err).__name__}: {err}"
        raise AssertionError("unreachable")
