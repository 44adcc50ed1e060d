"""The raw-bytes loop as Lambda runs it: a fresh process against the local Runtime API, through each error path
(init, invocation, deadline, crash), and through the layer's exec wrapper."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.runtime_api_server import LocalRuntimeApi, local_runtime_api
from tests.helpers.runtime_process import ROOT, command, environment, run_runtime
from transform_core.adapters.deadline import TIMEOUT_EXIT_STATUS
from transform_core.adapters.layer_check import MARKER
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.local.lambda_process import LocalLambda

SPEC = ROOT / "examples" / "iot" / "pipeline.yaml"
WRAPPER = ROOT / "transform_core" / "adapters" / "exec_wrapper.sh"
NOT_FIREHOSE = b'{"Records": [{"eventSource": "aws:s3"}]}'


def event(records: int, seed: int = 1) -> bytes:
    return json.dumps(firehose_event(iot_payloads(records, 0.2, seed=seed))).encode()


@pytest.fixture
def api() -> Iterator[LocalRuntimeApi]:
    with local_runtime_api() as api:
        yield api


def test_invocation_errors_are_posted_and_the_loop_goes_on(api: LocalRuntimeApi) -> None:
    refused = api.queue_event(NOT_FIREHOSE)
    not_json = api.queue_event(b'{"invocationId": "x", "records": [')
    good = api.queue_event(event(20))
    ran = run_runtime(api, "raw-bytes", str(SPEC), answers=3)
    assert [p.request_id for p in ran.errors] == [refused, not_json]
    assert [p.request_id for p in ran.responses] == [good]
    for posted in ran.errors:
        document = json.loads(posted.body)
        assert list(document) == ["errorMessage", "errorType", "requestId", "stackTrace"]
        assert (document["errorType"], document["requestId"]) == ("ValueError", posted.request_id)
        assert posted.headers["Lambda-Runtime-Function-Error-Type"] == "Unhandled"
        assert posted.headers["Content-Type"] == "application/json"
        cause = json.loads(posted.headers["Lambda-Runtime-Function-XRay-Error-Cause"])
        assert cause["exceptions"][0]["message"] == document["errorMessage"]
        assert cause["working_directory"] == str(ROOT)
    assert json.loads(ran.errors[0].body)["errorMessage"].startswith("not a Firehose transformation event: ")
    assert json.loads(ran.errors[1].body)["errorMessage"].startswith("Firehose event body is not JSON: ")
    assert [line["message"] for line in ran.log()][:2] == ["batch failed", "batch failed"]


def test_a_deadline_already_passed_posts_the_error_and_ends_the_process(api: LocalRuntimeApi) -> None:
    deadline_ms = int(time.time() * 1000) - 1_000
    late = api.queue_event(event(20), {"Lambda-Runtime-Deadline-Ms": str(deadline_ms)})
    waiting = api.queue_event(event(5))
    ran = run_runtime(api, "raw-bytes", str(SPEC), answers=1, exits=True)
    assert ran.returncode == TIMEOUT_EXIT_STATUS
    (error,) = ran.errors
    document = json.loads(error.body)
    assert (error.request_id, document["errorType"]) == (late, "Runtime.DeadlineExceeded")
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.DeadlineExceeded"
    assert f"Lambda-Runtime-Deadline-Ms {deadline_ms}" in document["errorMessage"]
    assert ran.responses == [] and api.events.qsize() == 1  # the next event waits for the next process
    (line,) = [line for line in ran.log() if line["level"] == "ERROR"]
    assert (line["message"], line["requestId"], line["invocationId"]) == (
        "batch timed out",
        late,
        json.loads(event(20))["invocationId"],
    )
    assert waiting != late


@pytest.mark.parametrize(("crash", "status"), [("exit", "exit status 70"), ("segfault", "signal: SIGSEGV")])
def test_a_crash_fails_the_invocation_and_the_next_one_starts_a_new_process(crash: str, status: str) -> None:
    env = {"CRASH": crash, "CRASH_RECORDS": "7"}
    with LocalLambda(SPEC, command=command("raw-bytes"), env=env, timeout_s=120) as function:
        crashed = function.invoke(event(7))
        answered = function.invoke(event(5))
    assert crashed.error is not None
    assert (crashed.error.kind, crashed.error.error_type) == ("crash", "Runtime.ExitError")
    assert crashed.error.message == f"RequestId: {crashed.request_id} Error: Runtime exited with error: {status}"
    assert answered.ok and answered.cold_start and answered.payload is not None
    assert len(json.loads(answered.payload)["records"]) == 5


def test_a_layer_for_another_python_posts_an_init_error(api: LocalRuntimeApi, tmp_path: Path) -> None:
    site = tmp_path / "opt" / "python"
    shutil.copytree(ROOT / "transform_core", site / "transform_core", ignore=shutil.ignore_patterns("__pycache__"))
    (site / MARKER).write_text(json.dumps({"python": "3.99", "arch": "x86_64", "packages": {}}))
    api.queue_event(event(5))
    env = environment(api, str(SPEC), {"PYTHONPATH": str(site)})
    done = subprocess.run(
        [sys.executable, "-m", "transform_core.adapters.runtime_api"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    error = api.init_errors.get(timeout=10)
    document = json.loads(error.body)
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.ConfigInvalid"
    assert document["errorType"] == "LayerMismatchError"
    assert document["errorMessage"].startswith("transform-core layer built for python3.99 x86_64, running on python3.")
    assert done.stderr.strip() == f"transform-core: {document['errorMessage']}"
    assert json.loads(done.stdout)["message"] == "init failed"
    assert api.events.qsize() == 1


# --- the exec wrapper ------------------------------------------------------------------------------------------------


def run_wrapper(tmp_path: Path, api: LocalRuntimeApi, handler: str, *start: str) -> subprocess.CompletedProcess[str]:
    """The wrapper as the layer unpacks it (``<opt>/transform-core-runtime``), given ``start`` as the managed
    runtime's start command (Lambda's: the interpreter, then the runtime's bootstrap)."""
    opt = tmp_path / "opt"
    (opt / "python").mkdir(parents=True)
    wrapper = opt / "transform-core-runtime"
    shutil.copy2(WRAPPER, wrapper)
    env = environment(api, str(SPEC), {"_HANDLER": handler, "PATH": "/usr/bin:/bin"})
    return subprocess.run(
        [str(wrapper), *start],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_wrapper_file_is_executable_and_names_the_handler() -> None:
    text = WRAPPER.read_text()
    assert WRAPPER.stat().st_mode & 0o111 == 0o111
    assert text.startswith("#!/bin/sh\n")
    assert '"${_HANDLER:-}" != "transform_core.adapters.firehose.handler"' in text


def test_the_wrapper_runs_the_loop_for_the_transform_handler(api: LocalRuntimeApi, tmp_path: Path) -> None:
    body = event(10)
    request_id = api.queue_event(body)
    api.next_wait_s = 0.2  # the next GET finds nothing queued: the server answers 500 and the loop exits
    done = run_wrapper(tmp_path, api, "transform_core.adapters.firehose.handler", sys.executable, "/var/runtime/bootstrap.py")
    (response,) = [api.responses.get(timeout=10)]
    assert response.request_id == request_id
    assert len(json.loads(response.body)["records"]) == 10
    assert "managed runtime" not in done.stdout and done.returncode == 1  # after the 500: the API asks it to exit
    assert json.loads(done.stdout.splitlines()[0])["message"] == "batch transformed"


def test_the_wrapper_hands_any_other_handler_to_the_managed_runtime(api: LocalRuntimeApi, tmp_path: Path) -> None:
    managed = tmp_path / "bootstrap"
    managed.write_text('#!/bin/sh\necho "managed runtime: $*"\n')
    managed.chmod(0o755)
    done = run_wrapper(tmp_path, api, "app.handler", str(managed), "--flag")
    assert (done.returncode, done.stdout) == (0, "managed runtime: --flag\n")
    assert api.responses.empty()
