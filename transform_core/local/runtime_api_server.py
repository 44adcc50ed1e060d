"""A Lambda Runtime API on 127.0.0.1: hands queued events to a runtime process and collects what it posts.

It serves the four endpoints a runtime calls (AWS Lambda Developer Guide, "Using the Lambda runtime API for custom
runtimes"): ``GET /2018-06-01/runtime/invocation/next``, ``POST .../invocation/{id}/response``,
``POST .../invocation/{id}/error`` and ``POST .../init/error``. :class:`~transform_core.local.lambda_process.LocalLambda`
runs the function behind it; the tests drive the Runtime API loop with it too, through its switches for the failure
modes the loop must survive (a 5xx on ``next``, a refused response, a dropped keep-alive connection).

Like Lambda, it refuses a response larger than ``response_limit_bytes`` with HTTP 413 (Lambda's limit on a
synchronous response is 6,291,556 bytes, "Response payload size ... exceeded maximum allowed payload size
(6291556 bytes)"); the refusal is recorded as a :class:`Posted` of kind ``refused``, without its body.
"""

from __future__ import annotations

import queue
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, NamedTuple

__all__ = ["RESPONSE_LIMIT_BYTES", "WAIT_S", "LocalRuntimeApi", "PostKind", "Posted", "local_runtime_api"]

WAIT_S = 10.0  # the longest a GET next waits for an event before answering 500 (a test that forgot to queue one)
#: Lambda's limit on a synchronous invocation's response; a larger one is refused with 413.
RESPONSE_LIMIT_BYTES = 6_291_556
_POLL_S = 0.05
_POST_PATH = re.compile(r"/2018-06-01/runtime/(?:invocation/(?P<id>[^/]+)/(?P<kind>response|error)|init/error)$")
_FAR_DEADLINE_MS = "4102444800000"  # 2100-01-01, for events queued without a deadline

PostKind = Literal["response", "error", "init_error", "refused"]


class Posted(NamedTuple):
    """What the runtime sent: the request id (None for init errors), the body, the headers, and what it was.

    A ``refused`` post is a response over the size limit, answered 413; its body is not kept (``b""``), its
    ``Content-Length`` header says how large it was.
    """

    request_id: str | None
    body: bytes
    headers: dict[str, str]
    kind: PostKind = "response"


class LocalRuntimeApi:
    """The Runtime API's four endpoints on a free loopback port.

    Args:
        next_wait_s: how long a ``GET next`` waits for an event before answering 500; None: until :meth:`stop`
            (as Lambda, which freezes the runtime meanwhile).
        response_limit_bytes: responses larger than this are refused with 413 (None: any size is taken).
        record: keep every post in the queues below and every client address in ``clients`` (the tests read
            them); a long-running :class:`LocalLambda` turns it off and asks :meth:`wait_posted` instead.

    Attributes:
        events: the queued ``(request id, body, headers)`` not yet handed out.
        responses, errors, init_errors: queues of :class:`Posted` (refused responses go to ``responses``).
        clients: the (host, port) of every request, to count connections.
        next_status: the status GET next answers with (200 serves an event).
        response_status: the status POST .../response answers with.
        drop_after_next: close the connection after each event, without saying so (a stale keep-alive socket).
    """

    def __init__(
        self, *, next_wait_s: float | None = WAIT_S, response_limit_bytes: int | None = None, record: bool = True
    ) -> None:
        self.events: queue.Queue[tuple[str, bytes, dict[str, str]]] = queue.Queue()
        self.responses: queue.Queue[Posted] = queue.Queue()
        self.errors: queue.Queue[Posted] = queue.Queue()
        self.init_errors: queue.Queue[Posted] = queue.Queue()
        self.clients: list[tuple[str, int]] = []
        self.next_status = 200
        self.response_status = 202
        self.drop_after_next = False
        self.next_wait_s = next_wait_s
        self.response_limit_bytes = response_limit_bytes
        self.record = record
        self._changed = threading.Condition()
        self._served: dict[str, float] = {}  # request id -> time.monotonic() when GET next handed it out
        self._outcomes: dict[str, Posted] = {}  # request id -> its response, error or refusal
        self._init_error: Posted | None = None
        self._cancelled: set[str] = set()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": _POLL_S}, daemon=True)

    @property
    def address(self) -> str:
        """``host:port``, the value of AWS_LAMBDA_RUNTIME_API."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def queue_event(self, body: bytes, headers: dict[str, str] | None = None) -> str:
        """Queue an event for the next GET next; returns its request id."""
        request_id = str(uuid.uuid4())
        self.events.put((request_id, body, headers or {}))
        return request_id

    def cancel(self, request_id: str) -> None:
        """Never hand out this event (its caller gave up on it); forget what was posted for it."""
        with self._changed:
            self._cancelled.add(request_id)
            self._served.pop(request_id, None)
            self._outcomes.pop(request_id, None)

    def served_at(self, request_id: str) -> float | None:
        """When (``time.monotonic()``) a GET next handed the event out, or None while it waits in the queue."""
        with self._changed:
            return self._served.get(request_id)

    def wait_posted(self, request_id: str, timeout_s: float) -> Posted | None:
        """The response, error or refusal posted for ``request_id``, waiting up to ``timeout_s``; None if none yet.

        A result is handed out once: it is forgotten here when returned.
        """
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while request_id not in self._outcomes:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
            self._served.pop(request_id, None)
            return self._outcomes.pop(request_id)

    def take_init_error(self) -> Posted | None:
        """The last init error posted since the previous call, if any."""
        with self._changed:
            posted, self._init_error = self._init_error, None
            return posted

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving: a waiting GET next answers 500, the port is closed."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=WAIT_S)

    def _next_event(self) -> tuple[str, bytes, dict[str, str]] | None:
        deadline = None if self.next_wait_s is None else time.monotonic() + self.next_wait_s
        while not self._stopping.is_set() and (deadline is None or time.monotonic() < deadline):
            try:
                request_id, body, headers = self.events.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            with self._changed:
                if request_id in self._cancelled:
                    self._cancelled.discard(request_id)
                    continue
                self._served[request_id] = time.monotonic()
                self._changed.notify_all()
            return request_id, body, headers
        return None

    def _posted(self, posted: Posted) -> None:
        if self.record:
            target = {"response": self.responses, "refused": self.responses, "error": self.errors}
            target.get(posted.kind, self.init_errors).put(posted)
        with self._changed:
            if posted.request_id is None:
                self._init_error = posted
            elif posted.request_id not in self._cancelled:
                self._outcomes[posted.request_id] = posted
            self._changed.notify_all()


@contextmanager
def local_runtime_api(**options: Any) -> Iterator[LocalRuntimeApi]:
    """A started :class:`LocalRuntimeApi` (``options`` as its constructor's), stopped on exit."""
    api = LocalRuntimeApi(**options)
    api.start()
    try:
        yield api
    finally:
        api.stop()


class _Server(ThreadingHTTPServer):
    api: LocalRuntimeApi

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a runtime killed mid-request resets its connection: not news


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as the real Runtime API
    disable_nagle_algorithm = True  # as the real Runtime API (Go sets TCP_NODELAY): no delayed-ACK stalls

    @property
    def api(self) -> LocalRuntimeApi:
        return self.server.api

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.api.record:
            self.api.clients.append(self.client_address[:2])
        if self.path != "/2018-06-01/runtime/invocation/next":
            return self._answer(404, b'{"errorMessage":"not found"}')
        if self.api.next_status != 200:
            return self._answer(self.api.next_status, b'{"errorMessage":"container error"}')
        event = self.api._next_event()
        if event is None:
            return self._answer(500, b'{"errorMessage":"no event queued"}')
        request_id, body, extra = event
        headers = {"Lambda-Runtime-Aws-Request-Id": request_id, "Lambda-Runtime-Deadline-Ms": _FAR_DEADLINE_MS, **extra}
        self._answer(200, body, headers)
        if self.api.drop_after_next:
            self.close_connection = True

    def do_POST(self) -> None:  # noqa: N802
        if self.api.record:
            self.api.clients.append(self.client_address[:2])
        length = int(self.headers.get("Content-Length", 0))
        match = _POST_PATH.match(self.path)
        limit = self.api.response_limit_bytes
        if match is not None and match["kind"] == "response" and limit is not None and length > limit:
            self._discard(length)
            self.api._posted(Posted(match["id"], b"", dict(self.headers.items()), "refused"))
            return self._answer(413, b'{"errorMessage":"Exceeded maximum allowed payload size (%d bytes)."}' % limit)
        body = self.rfile.read(length)
        if match is None:
            return self._answer(404, b'{"errorMessage":"not found"}')
        kind: PostKind = "init_error"
        if match["kind"] == "response":
            kind = "response"
        elif match["kind"] == "error":
            kind = "error"
        self.api._posted(Posted(match["id"], body, dict(self.headers.items()), kind))
        status = self.api.response_status if kind == "response" else 202
        self._answer(status, b'{"status":"OK"}')

    def _discard(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass
