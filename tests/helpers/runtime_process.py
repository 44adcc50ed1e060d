"""A Lambda runtime process against the local Runtime API, as Lambda starts one: the raw-bytes loop
(``python -m transform_core.adapters.runtime_api``) or the managed runtime's client (awslambdaric with the template's
handler), both through the same shim, which reports what the engine sees and can crash on cue.

The shim wraps ``Pipeline.process``: before each batch it writes ``{"trace": <_X_AMZN_TRACE_ID or null>}`` to
stderr, and with ``CRASH`` set (``exit`` or ``segfault``) a batch of ``CRASH_RECORDS`` records ends the process
(``os._exit(70)``, or SIGSEGV) before any answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal, NamedTuple

from tests.helpers.runtime_api_server import WAIT_S, LocalRuntimeApi, Posted

ROOT = Path(__file__).resolve().parents[2]
HANDLER = "transform_core.adapters.firehose.handler"
Kind = Literal["raw-bytes", "managed"]

SHIM = """
import json, os, runpy, signal, sys
import transform_core.engine as engine
process = engine.Pipeline.process
def watched(self, batch):
    sys.stderr.write(json.dumps({"trace": os.environ.get("_X_AMZN_TRACE_ID")}) + "\\n")
    sys.stderr.flush()
    if os.environ.get("CRASH") and len(batch.record_ids) == int(os.environ["CRASH_RECORDS"]):
        if os.environ["CRASH"] == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        os._exit(70)
    return process(self, batch)
engine.Pipeline.process = watched
kind = sys.argv[1]
if kind == "raw-bytes":
    sys.argv = ["transform_core.adapters.runtime_api", *sys.argv[2:]]
    runpy.run_module("transform_core.adapters.runtime_api", run_name="__main__", alter_sys=True)
else:
    sys.argv = ["awslambdaric", *sys.argv[2:]]
    runpy.run_module("awslambdaric", run_name="__main__", alter_sys=True)
"""


def command(kind: Kind) -> list[str]:
    """The shimmed runtime's command line (for :class:`~transform_core.local.lambda_process.LocalLambda` too)."""
    return [sys.executable, "-c", SHIM, kind, *([HANDLER] if kind == "managed" else [])]


def environment(api: LocalRuntimeApi | None, spec: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The process's environment: this one without ``TRANSFORM_CORE_*``, plus what Lambda sets and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSFORM_CORE_", "_X_AMZN", "AWS_LAMBDA"))}
    env |= {"_HANDLER": HANDLER, "LAMBDA_TASK_ROOT": str(ROOT), "PYTHONPATH": str(ROOT)}
    if api is not None:
        env["AWS_LAMBDA_RUNTIME_API"] = api.address
    if spec is not None:
        env["TRANSFORM_CORE_SPEC"] = spec
    return env | (extra or {})


def cold_start(cwd: Path, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter importing the Firehose handler's module (its cold start), over the example spec, with this
    environment's ``PYTHON*`` and ``TRANSFORM_CORE_*`` left out and ``extra`` set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "TRANSFORM_CORE_"))}
    env |= {"PYTHONPATH": str(ROOT), "TRANSFORM_CORE_SPEC": str(ROOT / "examples" / "iot" / "pipeline.yaml")}
    return subprocess.run(
        [sys.executable, "-c", "import transform_core.adapters.firehose"],
        env=env | extra,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


class Ran(NamedTuple):
    """What a runtime process did: its posts by kind, its exit status (None: still waiting, then killed), its output."""

    responses: list[Posted]
    errors: list[Posted]
    init_errors: list[Posted]
    returncode: int | None
    stdout: str
    traces: list[str | None]

    def log(self) -> list[dict[str, Any]]:
        """The JSON lines of stdout (awslambdaric's own text lines left out)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]


def run_runtime(
    api: LocalRuntimeApi,
    kind: Kind,
    spec: str | None,
    *,
    answers: int,
    env: dict[str, str] | None = None,
    exits: bool = False,
) -> Ran:
    """Start the runtime, wait for ``answers`` posts (responses, errors, init errors) or its exit, then stop it
    (``exits``: wait for it to exit by itself)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command(kind), env=environment(api, spec, env), cwd=ROOT, stdout=out, stderr=err)
        got: dict[str, list[Posted]] = {"responses": [], "errors": [], "init_errors": []}
        try:
            while sum(map(len, got.values())) < answers:
                if _collect(api, got) == 0:
                    if process.poll() is not None:
                        _collect(api, got)  # what it posted just before it exited
                        break
                    with contextlib.suppress(queue.Empty):  # wait a little for a response before looking again
                        got["responses"].append(api.responses.get(timeout=0.05))
            returncode = process.wait(timeout=WAIT_S * 3) if exits or process.poll() is not None else None
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=WAIT_S * 3)
        out.seek(0)
        err.seek(0)
        stderr = err.read().decode()
        traces = [json.loads(line)["trace"] for line in stderr.splitlines() if line.startswith('{"trace"')]
        return Ran(got["responses"], got["errors"], got["init_errors"], returncode, out.read().decode(), traces)


def _collect(api: LocalRuntimeApi, got: dict[str, list[Posted]]) -> int:
    found = 0
    for name in got:
        posted: queue.Queue[Posted] = getattr(api, name)
        while not posted.empty():
            got[name].append(posted.get())
            found += 1
    return found
