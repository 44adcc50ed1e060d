"""The HTTP ingest endpoint: the template's API Gateway route ``POST /events``, in front of a local stream.

The template's ``Api`` (``deploy/template.yaml``) is a REST API whose one method, ``POST /events``, puts the request
body, base64-encoded, as one record on the Kinesis stream with the request id as partition key, and maps Kinesis's
answer: 200 with ``{"shardId": …, "sequenceNumber": …}``, 400 for a 4xx (the record refused: over 1 MiB, say), 500
for a 5xx. :class:`IngestServer` answers the same way, on loopback by default, and puts each accepted body on a
:class:`~transform_core.local.delivery.LocalFirehose` (anything with its ``put``):

- ``POST /events`` (any query string): 200 with the shard and the sequence number (the Firehose recordId);
- a body Kinesis would refuse (empty, or with the partition key over 1 MiB) or the local stream refuses (over
  1,000 KiB): 400 with Kinesis's error document, ``{"__type": "ValidationException", "message": …}``;
- another ``Content-Type`` than ``application/json`` (none counts as ``application/json``, as in API Gateway): 415
  ``{"message": "Unsupported Media Type"}`` (the integration's ``passthroughBehavior: never``);
- any other path or method: 403 ``{"message": "Missing Authentication Token"}``, as a REST API answers a route it
  does not have;
- a body over API Gateway's 10 MB payload limit: 413, and the connection is closed.

SigV4 is not checked, nor is the stage's throttling applied (``docs/local.md``, "Ingest"). Connections are kept
alive (HTTP/1.1), one thread each. :meth:`IngestServer.stop` stops ingest cleanly: no new connection is accepted,
idle ones are closed, and a request already read is put and answered before it returns.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

import orjson

from transform_core.errors import ConfigurationEnvironmentError
from transform_core.local.delivery import MAX_RECORD_BYTES
from transform_core.local.delivery_records import kinesis_shard

__all__ = ["API_PAYLOAD_LIMIT_BYTES", "KINESIS_RECORD_LIMIT_BYTES", "ROUTE", "IngestCounts", "IngestServer", "Stream"]

ROUTE = "/events"
#: Kinesis's largest record: the data blob and the partition key together (Kinesis Data Streams API Reference, "PutRecord").
KINESIS_RECORD_LIMIT_BYTES = 1_048_576
#: API Gateway's largest REST API payload (API Gateway Developer Guide, "Amazon API Gateway quotas").
API_PAYLOAD_LIMIT_BYTES = 10_485_760
_MISSING_TOKEN = b'{"message":"Missing Authentication Token"}'
_UNSUPPORTED = b'{"message":"Unsupported Media Type"}'
_TOO_LONG = b'{"message":"Request Too Long"}'
_INTERNAL = b'{"message": "Internal server error"}'


class Stream(Protocol):
    """Where accepted records go: :class:`~transform_core.local.delivery.LocalFirehose`, or a stand-in."""

    def put(self, data: bytes, *, arrival_ms: int | None = None, partition_key: str | None = None) -> str:
        """Take one record; returns its recordId."""
        ...


class IngestCounts(NamedTuple):
    """What the endpoint answered: requests, records accepted (200), and every status with its count."""

    requests: int
    accepted: int
    statuses: Mapping[int, int]

    @property
    def refused(self) -> int:
        """Requests answered with anything but 200."""
        return self.requests - self.accepted


class IngestServer:
    """``POST /events`` on ``host:port``, putting each accepted body on ``stream``.

    Args:
        stream: where records go (``put(data, partition_key=…)``).
        host: the address to listen on; loopback by default.
        port: the port; 0 picks a free one (see :attr:`url`).

    Raises:
        ConfigurationEnvironmentError: the address cannot be bound (in use, not local).
    """

    def __init__(self, stream: Stream, *, host: str = "127.0.0.1", port: int = 8080) -> None:
        try:
            self._server = _Server((host, port), _Handler, stream)
        except OSError as err:
            raise ConfigurationEnvironmentError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The route's URL, ``http://host:port/events``."""
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}{ROUTE}"

    def start(self) -> None:
        """Serve from a thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="ingest", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop ingest: refuse new connections, close idle ones, answer the requests already read. Idempotent."""
        server = self._server
        if server.stopping:
            return
        server.stopping = True
        if self._thread is not None:
            server.shutdown()
            self._thread.join()
        server.close_idle()
        server.server_close()  # joins the connection threads

    def counts(self) -> IngestCounts:
        """The answers so far."""
        with self._server.lock:
            statuses = dict(sorted(self._server.statuses.items()))
        return IngestCounts(sum(statuses.values()), statuses.get(200, 0), statuses)

    def __enter__(self) -> IngestServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a connection never keeps the interpreter alive; stop() joins them (block_on_close)

    def __init__(self, address: tuple[str, int], handler: type[_Handler], stream: Stream) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)
        self.stream = stream
        self.stopping = False
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self._connections: set[socket.socket] = set()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self.lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self.lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_idle(self) -> None:
        """End every connection's reading side: an idle one ends, one with a request read still answers it."""
        with self.lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # closed meanwhile
                connection.shutdown(socket.SHUT_RD)

    def count(self, status: int) -> None:
        with self.lock:
            self.statuses[status] += 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # the headers and the body are two writes: Nagle would hold the body for an ACK
    server_version = "transform-core-local"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        """Quiet: the counts are the record of what happened."""

    def version_string(self) -> str:
        """The ``Server`` header."""
        return self.server_version

    def _answer(self) -> None:
        self._request_id = str(uuid.uuid4())  # API Gateway's $context.requestId, the partition key
        body = self._body()
        if body is None:
            return
        if urlsplit(self.path).path != ROUTE or self.command != "POST":
            self._send(403, _MISSING_TOKEN, error_type="MissingAuthenticationTokenException")
            return
        media_type = (self.headers.get("Content-Type") or "application/json").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            self._send(415, _UNSUPPORTED, error_type="UnsupportedMediaTypeException")
            return
        refusal = _refusal(body, self._request_id)
        if refusal is not None:
            self._send(400, orjson.dumps({"__type": "ValidationException", "message": refusal}))
            return
        try:
            sequence_number = self.server.stream.put(body, partition_key=self._request_id)
        except Exception:  # the stream failed (a full disk, say): Kinesis's 5xx, which the integration maps to 500
            self._send(500, _INTERNAL, error_type="InternalServerErrorException")
            return
        # the integration response's template, rendered: {"shardId": "$input.path('$.ShardId')", …}
        answer = f'{{"shardId": "{kinesis_shard(self._request_id)}", "sequenceNumber": "{sequence_number}"}}'
        self._send(200, answer.encode())

    # every method gets the route's answer: 403 for all but POST /events, as a REST API answers a route it lacks
    do_POST = do_GET = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _answer

    def _body(self) -> bytes | None:
        """The request body; None when the request ends here (answered 413, or the connection went)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.server.count(400)
            self.send_error(400, "Bad Content-Length")
            return None
        if length > API_PAYLOAD_LIMIT_BYTES:
            self._send(413, _TOO_LONG, close=True)
            return None
        body = self.rfile.read(length)
        if len(body) < length:  # the client went, or stop() ended the reading side: no request to answer
            self.close_connection = True
            return None
        return body

    def _chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1026)
            try:
                length = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                return None
            if length == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            size += length
            if size > API_PAYLOAD_LIMIT_BYTES:
                self._send(413, _TOO_LONG, close=True)
                return None
            chunk = self.rfile.read(length)
            self.rfile.readline(3)  # the CRLF ending the chunk
            if len(chunk) < length:
                self.close_connection = True
                return None
            chunks.append(chunk)

    def _send(self, status: int, body: bytes, *, error_type: str | None = None, close: bool = False) -> None:
        self.server.count(status)  # before the answer leaves: a client that has it finds it counted
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", self._request_id)
        if error_type is not None:
            self.send_header("x-amzn-ErrorType", error_type)
        if close or self.server.stopping:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _refusal(body: bytes, partition_key: str) -> str | None:
    """Why Kinesis (or the local stream) refuses this record; None when it takes it."""
    if not body:
        return "the request body is empty: there is no record to put"
    size = len(body) + len(partition_key.encode())
    if size > KINESIS_RECORD_LIMIT_BYTES:
        return f"the record is {size} bytes with its partition key, over Kinesis's {KINESIS_RECORD_LIMIT_BYTES}"
    if len(body) > MAX_RECORD_BYTES:
        return f"the record is {len(body)} bytes, over the local Firehose stream's {MAX_RECORD_BYTES}"
    return None
