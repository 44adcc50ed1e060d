"""The raw-bytes runtime: the Lambda Runtime API loop, handing the raw event bytes to the engine.

The managed Python runtime parses each event into dicts (awslambdaric uses simplejson) before the handler runs;
this loop passes the bytes to :meth:`RecordBatch.from_event_bytes`, which decodes only the envelope and the three
fields per record it needs. The layer's exec wrapper (``transform-core-runtime``, :data:`EXEC_WRAPPER`) runs it as
``python -m transform_core.adapters.runtime_api`` in place of the managed runtime; ``docs/runtime.md`` has that,
the other ways to start it and what it saves.

Environment, read in :func:`run` only: ``AWS_LAMBDA_RUNTIME_API`` (``host:port``), ``TRANSFORM_CORE_SPEC`` (with
``TRANSFORM_CORE_DELIVERY`` and its table, :mod:`transform_core.adapters.delivery`) and
``TRANSFORM_CORE_REJECTION_LINES``. Each batch logs what the managed handler logs
(:func:`transform_core.adapters.firehose.batch_log`). Errors: a failed init (a layer for another Python included) is
posted to ``/runtime/init/error`` and the process exits 1; an exception while handling an event (one that is not a
Firehose transformation event, say) is posted to ``/runtime/invocation/{id}/error`` and the loop goes on; a batch
still running :data:`DEADLINE_MARGIN_S` before the event's ``Lambda-Runtime-Deadline-Ms`` is posted as an error and
the process exits 3 (:mod:`transform_core.adapters.deadline`); a ``BaseException`` that is not an ``Exception`` (a
panic in a compiled library) is posted, then ends the process; a Runtime API answering 5xx (or not at all) raises
:class:`ConfigurationEnvironmentError` and the process exits, as the API asks.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TextIO

from transform_core.adapters.deadline import DEADLINE_MARGIN_S, Watchdog
from transform_core.adapters.layer_check import LayerMismatchError, check_layer

__all__ = [
    "EXEC_WRAPPER",
    "RUNTIME_API_ENV",
    "Invocation",
    "RuntimeApiClient",
    "error_body",
    "invocation_id",
    "run",
    "serve",
    "xray_cause",
]

RUNTIME_API_ENV = "AWS_LAMBDA_RUNTIME_API"
TRACE_ENV = "_X_AMZN_TRACE_ID"
#: Where the layer puts its exec wrapper: the template's AWS_LAMBDA_EXEC_WRAPPER (transform_core/deploy/layer.py).
EXEC_WRAPPER = "/opt/transform-core-runtime"
_BASE = "/2018-06-01/runtime"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_XRAY_HEADER = "Lambda-Runtime-Function-XRay-Error-Cause"
_XRAY_HEADER_LIMIT = 1024 * 1024  # awslambdaric leaves out a cause of 1 MiB or more


def _refuse_to_start(err: LayerMismatchError) -> NoReturn:
    """Report a layer built for another Python or architecture as an init error, then exit 1 (standard library only)."""
    document = {"errorMessage": str(err), "errorType": type(err).__name__, "stackTrace": []}
    sys.stdout.write(json.dumps({"level": "ERROR", "message": "init failed", **document}) + "\n")
    sys.stdout.flush()
    address = os.environ.get(RUNTIME_API_ENV)
    if address:
        connection = http.client.HTTPConnection(address, timeout=10)
        try:
            headers = {_ERROR_TYPE_HEADER: "Runtime.ConfigInvalid", "Content-Type": "application/json"}
            connection.request("POST", f"{_BASE}/init/error", body=json.dumps(document).encode(), headers=headers)
            connection.getresponse().read()
        except (OSError, http.client.HTTPException):
            pass  # the exit below is reported by Lambda as Runtime.ExitError all the same
        finally:
            connection.close()
    sys.exit(f"transform-core: {err}")


try:  # before the compiled wheels load: a layer for another Python or architecture ends the runtime in one line
    check_layer()
except LayerMismatchError as _err:
    _refuse_to_start(_err)

import msgspec  # noqa: E402
import orjson  # noqa: E402

from transform_core.errors import ConfigurationEnvironmentError, TransformCoreError  # noqa: E402

if TYPE_CHECKING:
    from transform_core.engine import Pipeline
    from transform_core.firehose.batch import RecordBatch


class Invocation(NamedTuple):
    """One event from ``GET /runtime/invocation/next``; ``deadline_ms`` is epoch milliseconds, as Lambda sends it."""

    request_id: str
    deadline_ms: int | None
    trace_id: str | None
    body: bytes


class RuntimeApiClient:
    """A keep-alive HTTP/1.1 client for the Lambda Runtime API (stdlib only).

    Args:
        address: ``host:port`` as in ``AWS_LAMBDA_RUNTIME_API``.
        timeout: socket timeout in seconds; None (the default) because ``next`` may wait for minutes.
    """

    def __init__(self, address: str, *, timeout: float | None = None) -> None:
        self._connection = http.client.HTTPConnection(address, timeout=timeout)

    def next_invocation(self) -> Invocation:
        """Wait for the next event."""
        status, headers, body = self._request("GET", f"{_BASE}/invocation/next")
        if status != 200:
            raise ConfigurationEnvironmentError(f"Runtime API answered {status} to GET next: {body[:200]!r}")
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        if not request_id:
            raise ConfigurationEnvironmentError("Runtime API sent an event without Lambda-Runtime-Aws-Request-Id")
        deadline = headers.get("Lambda-Runtime-Deadline-Ms")
        return Invocation(
            request_id, int(deadline) if deadline and deadline.isdigit() else None, headers.get("Lambda-Runtime-Trace-Id"), body
        )

    def post_response(self, request_id: str, body: bytes) -> int:
        """Send the function's response; returns the HTTP status (202, or 4xx when Lambda refused it)."""
        return self._post(f"{_BASE}/invocation/{request_id}/response", body, {"Content-Type": "application/json"})

    def post_error(
        self, request_id: str, error: Mapping[str, Any], *, error_type: str = "Unhandled", xray: str | None = None
    ) -> int:
        """Report that handling the event failed; ``xray`` is the X-Ray error cause (:func:`xray_cause`)."""
        headers = {_ERROR_TYPE_HEADER: error_type, "Content-Type": "application/json"}
        if xray is not None and len(xray) < _XRAY_HEADER_LIMIT:
            headers[_XRAY_HEADER] = xray
        return self._post(f"{_BASE}/invocation/{request_id}/error", orjson.dumps(error), headers)

    def post_init_error(self, error: Mapping[str, Any], error_type: str) -> int:
        """Report that the runtime could not start (``error_type`` like ``Runtime.ConfigInvalid``)."""
        headers = {_ERROR_TYPE_HEADER: error_type, "Content-Type": "application/json"}
        return self._post(f"{_BASE}/init/error", orjson.dumps(error), headers)

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        status, _, answer = self._request("POST", path, body, headers)
        if status >= 500:  # "container error": the runtime should exit
            raise ConfigurationEnvironmentError(f"Runtime API answered {status} to POST {path}: {answer[:200]!r}")
        return status

    def _request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        for attempt in range(2):
            try:
                self._connection.request(method, path, body=body, headers=dict(headers or {}))
                response = self._connection.getresponse()
                return response.status, response.headers, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as err:
                self._connection.close()  # a stale keep-alive connection: reconnect once
                if attempt:
                    raise ConfigurationEnvironmentError(f"Runtime API connection failed on {method} {path}: {err}") from err
            except (OSError, http.client.HTTPException) as err:
                self._connection.close()
                raise ConfigurationEnvironmentError(f"Runtime API unreachable on {method} {path}: {err}") from err
        raise AssertionError("unreachable")


def serve(
    pipeline: Pipeline,
    client: RuntimeApiClient,
    *,
    max_invocations: int | None = None,
    out: TextIO | None = None,
    environ: MutableMapping[str, str] | None = None,
    rejection_lines: int | None = None,
    read_batch: Callable[[bytes], RecordBatch] | None = None,
    exit: Callable[[], None] | None = None,  # noqa: A002 - what it does
) -> int:
    """Answer invocations until ``max_invocations`` have been answered (None: forever); returns the count.

    Each batch logs the managed handler's lines to ``out`` (stdout), the rejected records' lines up to
    ``rejection_lines`` (None: the handler's default). The X-Ray trace header goes to ``_X_AMZN_TRACE_ID`` in
    ``environ`` (os.environ) and an event without one clears it, as awslambdaric does. ``read_batch`` turns an event's
    bytes into its batch (None: :meth:`RecordBatch.from_event_bytes`; the benchmarks time the managed runtime's parse
    there). A batch still running near its deadline is given up (:class:`~transform_core.adapters.deadline.Watchdog`),
    then ``exit`` ends the process (None: :func:`os._exit`); when ``exit`` returns, so does the loop.
    """
    # not at import time: see _init_pipeline()
    from transform_core.adapters.firehose import DEFAULT_REJECTION_LINES, batch_log
    from transform_core.firehose.batch import RecordBatch

    rejection_lines = DEFAULT_REJECTION_LINES if rejection_lines is None else rejection_lines
    read_batch = RecordBatch.from_event_bytes if read_batch is None else read_batch
    out = sys.stdout if out is None else out
    environ = os.environ if environ is None else environ
    answered = 0
    current: list[Invocation] = []

    def expire(request_id: str, deadline_ms: int) -> None:
        body = current[0].body if current else b""
        error = _deadline_error(request_id, deadline_ms)
        _write(out, {"level": "ERROR", "message": "batch timed out", "invocationId": invocation_id(body), **error})
        client.post_error(request_id, error, error_type=error["errorType"])

    watchdog = Watchdog(expire, exit=exit)
    try:
        while max_invocations is None or answered < max_invocations:
            invocation = client.next_invocation()
            current[:] = [invocation]
            if invocation.trace_id:
                environ[TRACE_ENV] = invocation.trace_id
            else:
                environ.pop(TRACE_ENV, None)  # never the previous event's trace
            if invocation.deadline_ms is not None:
                watchdog.arm(invocation.request_id, invocation.deadline_ms)
            started = time.perf_counter()
            try:
                batch = read_batch(invocation.body)
                result = pipeline.process(batch)
                elapsed_ms = (time.perf_counter() - started) * 1000
                text = batch_log(
                    result,
                    batch,
                    pipeline.spec,
                    invocation_id(invocation.body),
                    elapsed_ms,
                    request_id=invocation.request_id,
                    rejection_lines=rejection_lines,
                )
            except Exception as err:  # every invocation gets an answer, and the next one a chance
                if not watchdog.done():
                    return answered
                _post_failure(client, out, err, invocation.request_id)
            except BaseException as err:  # a panic in a compiled library: report it, then end as awslambdaric would
                if watchdog.done():
                    _post_failure(client, out, err, invocation.request_id)
                raise
            else:
                if not watchdog.done():
                    return answered
                out.write(text)
                out.flush()
                _post_response(client, out, invocation.request_id, result.body)
            answered += 1
    finally:
        watchdog.close()
    return answered


def _post_response(client: RuntimeApiClient, out: TextIO, request_id: str, body: bytes) -> None:
    status = client.post_response(request_id, body)
    if status != 202:
        message = f"Runtime API refused the response: HTTP {status}"
        _write(out, {"level": "WARNING", "message": message, "requestId": request_id})


def _post_failure(client: RuntimeApiClient, out: TextIO, err: BaseException, request_id: str) -> None:
    error = error_body(err, request_id)
    _write(out, {"level": "ERROR", "message": "batch failed", **error})
    client.post_error(request_id, error, xray=xray_cause(err))


def _deadline_error(request_id: str, deadline_ms: int) -> dict[str, Any]:
    return {
        "errorMessage": (
            f"RequestId: {request_id} Error: the batch was still running {DEADLINE_MARGIN_S:g} s before the "
            f"invocation's deadline (Lambda-Runtime-Deadline-Ms {deadline_ms}): raise the function's timeout, or "
            "lower the Lambda buffer size"
        ),
        "errorType": "Runtime.DeadlineExceeded",
        "requestId": request_id,
        "stackTrace": [],
    }


def error_body(err: BaseException, request_id: str | None = None) -> dict[str, Any]:
    """The Runtime API's error document: errorMessage, errorType, requestId (when known) and stackTrace, in
    awslambdaric's order."""
    body: dict[str, Any] = {"errorMessage": str(err), "errorType": type(err).__name__}
    if request_id is not None:
        body["requestId"] = request_id
    body["stackTrace"] = traceback.format_list(_frames(err))
    return body


def xray_cause(err: BaseException) -> str:
    """The ``Lambda-Runtime-Function-XRay-Error-Cause`` header's JSON, shaped as awslambdaric shapes it."""
    frames = _frames(err)
    stack = [{"label": frame.name, "path": frame.filename, "line": frame.lineno} for frame in frames]
    cause = {
        "working_directory": os.getcwd(),
        "exceptions": [{"message": str(err), "type": type(err).__name__, "stack": stack}],
        "paths": sorted({frame.filename for frame in frames}),
    }
    return json.dumps(cause)  # ASCII only: an HTTP header cannot carry the message's other characters as they are


def _frames(err: BaseException) -> list[traceback.FrameSummary]:
    # plain (file, line, name, text) frames, as awslambdaric reports them: no column markers
    return [traceback.FrameSummary(f.filename, f.lineno, f.name, line=f.line) for f in traceback.extract_tb(err.__traceback__)]


# Firehose writes invocationId first; the look at the head spares a second pass over a 5 MB body.
_LEADING_ID = re.compile(rb'\s*\{\s*"invocationId"\s*:\s*"([0-9A-Za-z_.:-]{1,256})"\s*[,}]')


class _Head(msgspec.Struct):
    invocationId: str | None = None


_HEAD = msgspec.json.Decoder(_Head)


def invocation_id(body: bytes) -> str | None:
    """The event's ``invocationId`` for the log line (None when absent, not a string, or the body is not JSON)."""
    match = _LEADING_ID.match(body)
    if match is not None:
        return match.group(1).decode("ascii")
    try:
        return _HEAD.decode(body).invocationId
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None


def _write(out: TextIO, entry: str | Mapping[str, Any]) -> None:
    out.write((entry if isinstance(entry, str) else orjson.dumps(entry).decode()) + "\n")
    out.flush()  # stdout is a pipe in Lambda: a buffered line would show up late, or never


def _init_pipeline() -> Pipeline:
    # Importing the managed handler's module loads the spec when TRANSFORM_CORE_SPEC is set (its cold-start path):
    # reuse that pipeline rather than load it twice, and import it here, inside run()'s init-error guard.
    from transform_core.adapters import firehose

    return firehose.loaded_pipeline()


def run(*, max_invocations: int | None = None) -> int:
    """Start the loop: load the pipeline, then answer invocations until ``max_invocations`` (None: forever).

    Returns the exit status: 0 after ``max_invocations``, 1 when init failed (reported to the Runtime API), 2 when
    ``AWS_LAMBDA_RUNTIME_API`` is not set; a batch that runs out of time ends the process with
    :data:`~transform_core.adapters.deadline.TIMEOUT_EXIT_STATUS` instead. ``python -m transform_core.adapters.runtime_api`` parses its arguments in
    :mod:`transform_core.cli.runtime` and calls this.
    """
    address = os.environ.get(RUNTIME_API_ENV)
    if not address:
        sys.stderr.write(f"{RUNTIME_API_ENV} is not set: this runs inside Lambda (or against a Runtime API emulator)\n")
        return 2
    client = RuntimeApiClient(address)
    try:
        try:
            pipeline = _init_pipeline()
            from transform_core.adapters.firehose import rejection_lines_from_env

            rejection_lines = rejection_lines_from_env()
        except BaseException as err:  # whatever stops the init is reported, as the Runtime API asks
            error = error_body(err)
            _write(sys.stdout, {"level": "ERROR", "message": "init failed", **error})
            client.post_init_error(
                error, "Runtime.ConfigInvalid" if isinstance(err, TransformCoreError) else "Runtime.UnknownReason"
            )
            return 1
        serve(pipeline, client, max_invocations=max_invocations, rejection_lines=rejection_lines)
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    from transform_core.cli.runtime import main  # the command line stays out of the loop's module

    sys.exit(main())
