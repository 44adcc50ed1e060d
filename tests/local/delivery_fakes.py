"""Stand-ins for the delivery tests: processors in this process, a runtime of our own, a clock set by hand."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transform_core import Pipeline
from transform_core.local.lambda_process import InvokeError, InvokeResult

FUNCTION_ERROR = InvokeError("function_error", "ValueError", "boom")


class Clock:
    """Epoch seconds that move only when told to."""

    def __init__(self, now: float = 1_795_824_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class InProcessLambda:
    """The engine called in this process: the answer the runtime process gives, without a process. Records events."""

    def __init__(self, pipeline: Pipeline, *, answer: Callable[[bytes, int], InvokeResult | None] | None = None) -> None:
        self.pipeline = pipeline
        self.events: list[bytes] = []
        self._answer = answer

    def invoke(self, event: bytes) -> InvokeResult:
        self.events.append(event)
        if self._answer is not None:
            answered = self._answer(event, len(self.events))
            if answered is not None:
                return answered
        return ok(self.pipeline.process_firehose_bytes(event).body)

    def decoded(self) -> list[dict[str, Any]]:
        """The events received, as JSON."""
        return [json.loads(event) for event in self.events]


def ok(payload: bytes) -> InvokeResult:
    return InvokeResult(payload, None, "request-id", False, 1.0)


def failed(error: InvokeError = FUNCTION_ERROR) -> InvokeResult:
    return InvokeResult(None, error, "request-id", False, 1.0)


# A runtime of our own for LocalLambda: stdlib only, so it starts in milliseconds. What it does with an event depends
# on the event: "crash" exits, "hang" never answers, "error" posts an invocation error, "init-error" posts an init
# error and exits, digits post a response of that many bytes, anything else is echoed back.
FAKE_RUNTIME = r"""
import http.client, json, os, sys, time

api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
base = "/2018-06-01/runtime"

def post(path, body, headers=None):
    api.request("POST", base + path, body=body, headers=headers or {})
    answer = api.getresponse()
    answer.read()
    return answer.status

if os.environ.get("FAKE_INIT") == "error":
    post("/init/error", json.dumps({"errorMessage": "no spec", "errorType": "SpecError"}).encode(),
         {"Lambda-Runtime-Function-Error-Type": "Runtime.ConfigInvalid"})
    sys.exit(1)
while True:
    api.request("GET", base + "/invocation/next")
    answer = api.getresponse()
    body = answer.read()
    request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
    if body == b"crash":
        os._exit(3)
    if body == b"hang":
        time.sleep(3600)
    if body == b"error":
        post(f"/invocation/{request_id}/error", json.dumps({"errorMessage": "boom", "errorType": "ValueError"}).encode(),
             {"Lambda-Runtime-Function-Error-Type": "Unhandled"})
        continue
    reply = b"x" * int(body) if body.isdigit() else body
    post(f"/invocation/{request_id}/response", reply)
"""


def fake_runtime(folder: Path) -> list[str]:
    """The command running :data:`FAKE_RUNTIME`, written into ``folder``."""
    script = folder / "fake_runtime.py"
    script.write_text(FAKE_RUNTIME)
    return [sys.executable, str(script)]


class Stream:
    """Records put, with their partition keys; a body equal to ``fail`` raises, as a stream that cannot write."""

    def __init__(self, fail: bytes | None = None) -> None:
        self.records: list[tuple[bytes, str | None]] = []
        self.fail = fail
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def put(self, data: bytes, *, arrival_ms: int | None = None, partition_key: str | None = None) -> str:
        self.entered.set()
        self.release.wait(10)
        if data == self.fail:
            raise OSError("disk full")
        self.records.append((data, partition_key))
        return f"{len(self.records):056d}"
