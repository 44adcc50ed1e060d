"""The transform run as Lambda runs it: a separate runtime process behind a local Runtime API, one event at a time.

:class:`LocalLambda` starts the function the way the deployed one starts: ``python -m
transform_core.adapters.runtime_api`` (the raw-bytes loop, ``runtime="runtime-api"``) or the managed Python runtime's
own loop, awslambdaric, calling the handler the template names (``runtime="managed"``), with ``TRANSFORM_CORE_SPEC``
naming the spec. Each :meth:`~LocalLambda.invoke` queues the event on a :class:`LocalRuntimeApi` and waits for what
the runtime posts, as a synchronous Invoke does (AWS Lambda Developer Guide, "Lambda quotas", "Using the Lambda
runtime API for custom runtimes"):

- a request of 6,291,456 bytes or more is refused before it is sent (Lambda: "Request must be smaller than 6291456
  bytes for the InvokeFunction operation");
- a response over 6,291,556 bytes is refused by the Runtime API with 413 and fails the invocation
  (``Function.ResponseSizeTooLarge``);
- an invocation not answered within ``timeout_s`` fails (``Sandbox.Timedout``, "Task timed out after … seconds");
  the process is killed, and the next invocation starts a new one (a cold start);
- a process that exits while it holds an event fails it (``Runtime.ExitError``), and is started again next time;
  one that posts ``/init/error`` fails it with the init error's type.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

import orjson

from transform_core.errors import ConfigurationEnvironmentError
from transform_core.local.runtime_api_server import RESPONSE_LIMIT_BYTES, LocalRuntimeApi, Posted

__all__ = [
    "HANDLER",
    "REQUEST_LIMIT_BYTES",
    "RESPONSE_LIMIT_BYTES",
    "InvokeError",
    "InvokeErrorKind",
    "InvokeResult",
    "LocalLambda",
    "Runtime",
]

#: The handler the template names (``deploy/template.yaml``, ``Handler``); the managed runtime calls it.
HANDLER = "transform_core.adapters.firehose.handler"
#: Lambda refuses a synchronous request of this many bytes or more.
REQUEST_LIMIT_BYTES = 6_291_456
_POLL_S = 0.02
_STOP_S = 5.0

Runtime = Literal["runtime-api", "managed"]
InvokeErrorKind = Literal["function_error", "timeout", "crash", "init_error", "response_too_large", "request_too_large"]


class InvokeError(NamedTuple):
    """Why an invocation failed.

    Attributes:
        kind: ``function_error`` (the function raised: ``/invocation/{id}/error``), ``timeout``, ``crash`` (the
            process exited holding the event), ``init_error`` (``/init/error``, then exit), ``response_too_large``
            (refused with 413), ``request_too_large`` (never sent).
        error_type: what Lambda would report as ``errorType`` (``ValueError``, ``Sandbox.Timedout``,
            ``Runtime.ExitError``, ``Runtime.ConfigInvalid``, ``Function.ResponseSizeTooLarge``,
            ``RequestTooLargeException``).
        message: what Lambda would report as ``errorMessage``.
    """

    kind: InvokeErrorKind
    error_type: str
    message: str


class InvokeResult(NamedTuple):
    """One invocation: the response bytes, or the error; the request id; whether it started a process."""

    payload: bytes | None
    error: InvokeError | None
    request_id: str | None
    cold_start: bool
    duration_ms: float

    @property
    def ok(self) -> bool:
        """Whether the function answered with a response."""
        return self.error is None


class LocalLambda:
    """One Lambda execution environment on this machine, for a spec.

    Args:
        spec: the pipeline spec file (``TRANSFORM_CORE_SPEC``); its folder is ``LAMBDA_TASK_ROOT`` and the
            working directory, as ``/var/task`` is in Lambda.
        timeout_s: the function timeout (the template's is 300 s).
        runtime: ``runtime-api`` (``python -m transform_core.adapters.runtime_api``) or ``managed`` (awslambdaric
            with :data:`HANDLER`; needs the dev extra).
        command: run this instead (a runtime of your own that speaks the Runtime API); overrides ``runtime``.
        env: more environment variables for the process (they win over the ones set here).
        log: a file the process's stdout and stderr are appended to (its JSON log lines); None: this process's
            stderr.
        init_timeout_s: how long a new process may take before it asks for its first event.
        function_name: ``AWS_LAMBDA_FUNCTION_NAME``.
    """

    def __init__(
        self,
        spec: str | Path,
        *,
        timeout_s: float = 300.0,
        runtime: Runtime = "runtime-api",
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        log: str | Path | None = None,
        init_timeout_s: float = 30.0,
        function_name: str = "transform-core",
    ) -> None:
        if timeout_s <= 0 or init_timeout_s <= 0:
            raise ValueError(f"timeout_s and init_timeout_s must be positive, got {timeout_s} and {init_timeout_s}")
        self.spec = Path(spec).resolve()
        self.timeout_s = timeout_s
        self.init_timeout_s = init_timeout_s
        self.function_name = function_name
        self._command = list(command) if command is not None else _runtime_command(runtime)
        self._extra_env = dict(env or {})
        self._log: IO[bytes] | None = open(log, "ab") if log is not None else None  # noqa: SIM115 - closed in close()
        self._api = LocalRuntimeApi(next_wait_s=None, response_limit_bytes=RESPONSE_LIMIT_BYTES, record=False)
        self._api.start()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.invocations = 0
        self.cold_starts = 0

    def invoke(self, event: bytes) -> InvokeResult:
        """Invoke the function with ``event`` (the request body) and wait for its answer or its failure.

        Raises:
            RuntimeError: after :meth:`close`.
            ConfigurationEnvironmentError: the runtime process cannot be started.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("LocalLambda is closed")
            started = time.monotonic()
            if len(event) >= REQUEST_LIMIT_BYTES:
                message = f"Request must be smaller than {REQUEST_LIMIT_BYTES} bytes for the InvokeFunction operation"
                return self._result(started, None, InvokeError("request_too_large", "RequestTooLargeException", message))
            self.invocations += 1
            cold = self._ensure_process()
            deadline_ms = int(time.time() * 1000 + self.timeout_s * 1000)
            headers = {"Lambda-Runtime-Deadline-Ms": str(deadline_ms), "Lambda-Runtime-Invoked-Function-Arn": self._arn}
            request_id = self._api.queue_event(event, headers)
            posted, error = self._wait(request_id, started)
            if error is not None:
                return self._result(started, request_id, error, cold=cold)
            assert posted is not None
            return self._result(started, request_id, _posted_error(posted), posted.body, cold=cold)

    def close(self) -> None:
        """Stop the runtime process (SIGTERM, then SIGKILL) and the Runtime API. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop_process(graceful=True)
            self._api.stop()
            if self._log is not None:
                self._log.close()

    def __enter__(self) -> LocalLambda:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The runtime process's id while one runs."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    @property
    def _arn(self) -> str:
        return f"arn:aws:lambda:eu-west-1:123456789012:function:{self.function_name}"

    def _ensure_process(self) -> bool:
        if self._process is not None and self._process.poll() is None:
            return False
        env = {
            **os.environ,
            "AWS_LAMBDA_RUNTIME_API": self._api.address,
            "TRANSFORM_CORE_SPEC": str(self.spec),
            "_HANDLER": HANDLER,
            "LAMBDA_TASK_ROOT": str(self.spec.parent),
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
            "TZ": ":UTC",
            **self._extra_env,
        }
        output: IO[bytes] | int = self._log if self._log is not None else 2  # fd 2: this process's stderr
        try:
            self._process = subprocess.Popen(
                self._command,
                env=env,
                cwd=self.spec.parent,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a kill reaches whatever it started
            )
        except OSError as err:
            raise ConfigurationEnvironmentError(f"cannot start the runtime {self._command[0]!r}: {err}") from err
        self.cold_starts += 1
        return True

    def _wait(self, request_id: str, started: float) -> tuple[Posted | None, InvokeError | None]:
        process = self._process
        assert process is not None
        while True:
            posted = self._api.wait_posted(request_id, _POLL_S)
            if posted is not None:
                return posted, None
            code = process.poll()
            if code is not None:
                posted = self._api.wait_posted(request_id, 0)  # posted just before it exited
                if posted is not None:
                    return posted, None
                self._api.cancel(request_id)
                return None, self._exited(request_id, code)
            served = self._api.served_at(request_id)
            now = time.monotonic()
            if served is None and now - started > self.init_timeout_s:
                self._api.cancel(request_id)
                self._stop_process(graceful=False)
                message = f"RequestId: {request_id} Error: the runtime did not start within {self.init_timeout_s:.2f} seconds"
                return None, InvokeError("timeout", "Runtime.InitTimeout", message)
            if served is not None and now - served > self.timeout_s:
                self._api.cancel(request_id)
                self._stop_process(graceful=False)
                message = f"RequestId: {request_id} Error: Task timed out after {self.timeout_s:.2f} seconds"
                return None, InvokeError("timeout", "Sandbox.Timedout", message)

    def _exited(self, request_id: str, code: int) -> InvokeError:
        self._stop_process(graceful=False)
        init = self._api.take_init_error()
        if init is not None:
            document = _document(init.body)
            error_type = str(document.get("errorType") or init.headers.get("Lambda-Runtime-Function-Error-Type", ""))
            return InvokeError("init_error", error_type or "Runtime.Unknown", str(document.get("errorMessage", "")))
        status = f"exit status {code}"
        if code < 0:
            try:
                status = f"signal: {signal.Signals(-code).name}"
            except ValueError:
                status = f"signal: {-code}"
        return InvokeError("crash", "Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with error: {status}")

    def _stop_process(self, *, graceful: bool) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM if graceful else signal.SIGKILL)
                process.wait(timeout=_STOP_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait()

    def _result(
        self,
        started: float,
        request_id: str | None,
        error: InvokeError | None,
        payload: bytes | None = None,
        *,
        cold: bool = False,
    ) -> InvokeResult:
        duration_ms = (time.monotonic() - started) * 1000
        return InvokeResult(payload if error is None else None, error, request_id, cold, duration_ms)


def _runtime_command(runtime: Runtime) -> list[str]:
    if runtime == "runtime-api":
        return [sys.executable, "-m", "transform_core.adapters.runtime_api"]
    if runtime == "managed":
        if importlib.util.find_spec("awslambdaric") is None:
            raise ConfigurationEnvironmentError(
                "runtime='managed' runs awslambdaric, the managed Python runtime's client: install the dev extra"
            )
        return [sys.executable, "-m", "awslambdaric", HANDLER]
    raise ValueError(f"runtime must be runtime-api or managed, got {runtime!r}")


def _posted_error(posted: Posted) -> InvokeError | None:
    if posted.kind == "response":
        return None
    if posted.kind == "refused":
        size = posted.headers.get("Content-Length", "?")
        message = f"Response payload size ({size} bytes) exceeded maximum allowed payload size ({RESPONSE_LIMIT_BYTES} bytes)."
        return InvokeError("response_too_large", "Function.ResponseSizeTooLarge", message)
    document = _document(posted.body)
    error_type = str(document.get("errorType") or posted.headers.get("Lambda-Runtime-Function-Error-Type") or "Unhandled")
    return InvokeError("function_error", error_type, str(document.get("errorMessage", "")))


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {"errorMessage": body[:1000].decode("utf-8", "replace")}
    return document if isinstance(document, dict) else {}
