"""A Lambda Runtime API on 127.0.0.1 for tests: serves queued events and records what the runtime posts."""

from __future__ import annotations

import queue
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

WAIT_S = 10.0  # the longest a GET next waits for an event before answering 500 (a test that forgot to queue one)
_POST_PATH = re.compile(r"/2018-06-01/runtime/(?:invocation/(?P<id>[^/]+)/(?P<kind>response|error)|init/error)$")


class Posted(NamedTuple):
    """What the runtime sent: the request id (None for init errors), the body and the headers."""

    request_id: str | None
    body: bytes
    headers: dict[str, str]


class LocalRuntimeApi:
    """The Runtime API's four endpoints, with switches for the failure modes the loop must survive.

    Attributes:
        responses, errors, init_errors: queues of :class:`Posted`.
        clients: the (host, port) of every request, to count connections.
        next_status: the status GET next answers with (200 serves an event).
        response_status: the status POST .../response answers with.
        drop_after_next: close the connection after each event, without saying so (a stale keep-alive socket).
    """

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, bytes, dict[str, str]]] = queue.Queue()
        self.responses: queue.Queue[Posted] = queue.Queue()
        self.errors: queue.Queue[Posted] = queue.Queue()
        self.init_errors: queue.Queue[Posted] = queue.Queue()
        self.clients: list[tuple[str, int]] = []
        self.next_status = 200
        self.response_status = 202
        self.drop_after_next = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.api = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

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

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=WAIT_S)


@contextmanager
def local_runtime_api() -> Iterator[LocalRuntimeApi]:
    api = LocalRuntimeApi()
    api.start()
    try:
        yield api
    finally:
        api.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real Runtime API
    disable_nagle_algorithm = True  # as the real Runtime API (Go sets TCP_NODELAY): no delayed-ACK stalls

    @property
    def api(self) -> LocalRuntimeApi:
        api: LocalRuntimeApi = self.server.api  # type: ignore[attr-defined]
        return api

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.api.clients.append(self.client_address[:2])
        if self.path != "/2018-06-01/runtime/invocation/next":
            return self._answer(404, b'{"errorMessage":"not found"}')
        if self.api.next_status != 200:
            return self._answer(self.api.next_status, b'{"errorMessage":"container error"}')
        try:
            request_id, body, extra = self.api.events.get(timeout=WAIT_S)
        except queue.Empty:
            return self._answer(500, b'{"errorMessage":"no event queued"}')
        headers = {"Lambda-Runtime-Aws-Request-Id": request_id, "Lambda-Runtime-Deadline-Ms": "4102444800000", **extra}
        self._answer(200, body, headers)
        if self.api.drop_after_next:
            self.close_connection = True

    def do_POST(self) -> None:  # noqa: N802
        self.api.clients.append(self.client_address[:2])
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        match = _POST_PATH.match(self.path)
        if match is None:
            return self._answer(404, b'{"errorMessage":"not found"}')
        posted = Posted(match["id"], body, dict(self.headers.items()))
        if match["kind"] == "response":
            self.api.responses.put(posted)
            return self._answer(self.api.response_status, b'{"status":"OK"}')
        (self.api.errors if match["kind"] == "error" else self.api.init_errors).put(posted)
        self._answer(202, b'{"status":"OK"}')

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass
