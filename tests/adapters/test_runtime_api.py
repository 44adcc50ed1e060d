"""The custom runtime loop against a Runtime API on loopback: responses, errors, init errors, the connection."""

from __future__ import annotations

import io
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers.not_firehose import REFUSALS, Refusal
from tests.helpers.runtime_api_server import WAIT_S, LocalRuntimeApi, Posted, local_runtime_api
from transform_core import Pipeline, load_pipeline
from transform_core.adapters import firehose, runtime_api
from transform_core.adapters.runtime_api import RuntimeApiClient, error_body, invocation_id, serve
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.errors import ConfigurationEnvironmentError
from transform_core.firehose.batch import RecordBatch

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SPEC = REPO / "examples" / "iot" / "pipeline.yaml"
EVENTS = REPO / "tests" / "events"
SUBPROCESS_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return load_pipeline(EXAMPLE_SPEC)


@pytest.fixture
def api() -> Iterator[LocalRuntimeApi]:
    with local_runtime_api() as api:
        yield api


@pytest.fixture
def client(api: LocalRuntimeApi) -> Iterator[RuntimeApiClient]:
    client = RuntimeApiClient(api.address, timeout=WAIT_S * 2)
    yield client
    client.close()


def event_bodies() -> list[bytes]:
    """Generated events (direct PUT, Kinesis source, invalid records) and the captured files as sent."""
    generated = [
        json.dumps(firehose_event(iot_payloads(200, 0.1, seed=5))).encode(),
        json.dumps(firehose_event(iot_payloads(50, 0.5, seed=6), kinesis_source=True), separators=(",", ":")).encode(),
    ]
    return generated + [path.read_bytes() for path in sorted(EVENTS.glob("*.json"))]


def take(posted: queue.Queue[Posted], count: int) -> list[Posted]:
    return [posted.get(timeout=WAIT_S) for _ in range(count)]


def without_elapsed(line: str) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(line)
    entry.pop("elapsed_ms", None)  # only the batch's line has it
    return entry


def test_every_response_is_the_engine_response_to_its_event(
    api: LocalRuntimeApi, client: RuntimeApiClient, pipeline: Pipeline
) -> None:
    bodies = event_bodies()
    ids = [api.queue_event(body) for body in bodies]
    assert serve(pipeline, client, max_invocations=len(bodies), out=io.StringIO()) == len(bodies)
    responses = {p.request_id: p.body for p in take(api.responses, len(bodies))}
    for request_id, body in zip(ids, bodies, strict=True):
        assert responses[request_id] == pipeline.process_firehose(json.loads(body)).body
    assert api.errors.empty()


def test_each_invocation_logs_the_managed_handlers_lines(
    api: LocalRuntimeApi, client: RuntimeApiClient, pipeline: Pipeline
) -> None:
    bodies = event_bodies()
    ids = [api.queue_event(body) for body in bodies]
    out = io.StringIO()
    serve(pipeline, client, max_invocations=len(bodies), out=out)
    expected: list[str] = []
    for body, request_id in zip(bodies, ids, strict=True):
        event = json.loads(body)
        batch = RecordBatch.from_firehose_event(event)
        result = pipeline.process(batch)
        expected += firehose.batch_log(
            result, batch, pipeline.spec, event["invocationId"], 0.0, request_id=request_id
        ).splitlines()
    lines = out.getvalue().splitlines()
    assert len(lines) > len(bodies)  # the generated events have rejected records
    assert [without_elapsed(line) for line in lines] == [without_elapsed(line) for line in expected]


@pytest.mark.parametrize("refusal", REFUSALS)
def test_an_event_that_is_not_a_firehose_event_posts_the_handlers_error(
    api: LocalRuntimeApi, client: RuntimeApiClient, pipeline: Pipeline, refusal: Refusal
) -> None:
    """The raw-bytes path refuses what the managed handler refuses, with the same message, as a failed invocation."""
    refused = api.queue_event(refusal.body())
    good = api.queue_event((EVENTS / "empty.json").read_bytes())  # a Firehose event with no records is fine
    out = io.StringIO()
    assert serve(pipeline, client, max_invocations=2, out=out) == 2
    (error,) = take(api.errors, 1)
    document = json.loads(error.body)
    assert (error.request_id, document["errorType"], document["errorMessage"]) == (refused, "ValueError", refusal.message)
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == "Unhandled"
    (response,) = take(api.responses, 1)
    assert (response.request_id, response.body) == (good, b'{"records":[]}')
    failed, answered = (json.loads(line) for line in out.getvalue().splitlines())
    assert (failed["level"], failed["message"], failed["errorMessage"]) == ("ERROR", "batch failed", refusal.message)
    assert (answered["message"], answered["records"]) == ("batch transformed", 0)


def test_an_event_that_is_not_json_posts_an_error_and_the_loop_goes_on(
    api: LocalRuntimeApi, client: RuntimeApiClient, pipeline: Pipeline
) -> None:
    bad = api.queue_event(b'{"invocationId": "x", "records": [')
    good = api.queue_event(json.dumps(firehose_event(iot_payloads(10, seed=1))).encode())
    out = io.StringIO()
    assert serve(pipeline, client, max_invocations=2, out=out) == 2
    (error,) = take(api.errors, 1)
    assert error.request_id == bad
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == "Unhandled"
    document = json.loads(error.body)
    assert document["errorType"] == "ValueError"
    assert "not JSON" in document["errorMessage"]
    assert document["requestId"] == bad
    assert isinstance(document["stackTrace"], list) and document["stackTrace"]
    (response,) = take(api.responses, 1)
    assert response.request_id == good
    first, second = out.getvalue().splitlines()
    assert json.loads(first)["level"] == "ERROR" and json.loads(second)["level"] == "INFO"


def test_one_keep_alive_connection_carries_every_request(
    api: LocalRuntimeApi, client: RuntimeApiClient, pipeline: Pipeline
) -> None:
    for body in event_bodies()[:3]:
        api.queue_event(body)
    serve(pipeline, client, max_invocations=3, out=io.StringIO())
    take(api.responses, 3)
    assert len(api.clients) == 6  # three GET next, three POST response
    assert len(set(api.clients)) == 1


def test_a_connection_the_server_dropped_is_reopened(api: LocalRuntimeApi, client: RuntimeApiClient, pipeline: Pipeline) -> None:
    api.drop_after_next = True
    ids = [api.queue_event(body) for body in event_bodies()[:3]]
    assert serve(pipeline, client, max_invocations=3, out=io.StringIO()) == 3
    assert [p.request_id for p in take(api.responses, 3)] == ids
    assert len(set(api.clients)) > 1


def test_the_trace_header_goes_to_the_environment_for_its_invocation_only(
    api: LocalRuntimeApi, client: RuntimeApiClient, pipeline: Pipeline
) -> None:
    trace = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
    api.queue_event(event_bodies()[0], {"Lambda-Runtime-Trace-Id": trace})
    api.queue_event(event_bodies()[1])  # no trace header: the previous trace must not stay (awslambdaric clears it)
    environ: dict[str, str] = {"OTHER": "kept"}
    seen: list[str | None] = []

    def read_batch(body: bytes) -> RecordBatch:
        seen.append(environ.get("_X_AMZN_TRACE_ID"))
        return RecordBatch.from_event_bytes(body)

    serve(pipeline, client, max_invocations=2, out=io.StringIO(), environ=environ, read_batch=read_batch)
    assert seen == [trace, None]
    assert environ == {"OTHER": "kept"}


def test_a_batch_still_running_at_its_deadline_is_given_up(
    api: LocalRuntimeApi, client: RuntimeApiClient, pipeline: Pipeline
) -> None:
    """The error is posted while the batch still runs; the loop answers nothing more, and the process would end."""
    deadline_ms = int(time.time() * 1000) - 1
    body = event_bodies()[0]
    late = api.queue_event(body, {"Lambda-Runtime-Deadline-Ms": str(deadline_ms)})
    api.queue_event(event_bodies()[1])
    ended = threading.Event()

    def outlives_its_deadline(body: bytes) -> RecordBatch:
        assert ended.wait(WAIT_S), "the deadline passed, but nothing ended the process"
        return RecordBatch.from_event_bytes(body)

    out = io.StringIO()
    assert serve(pipeline, client, max_invocations=2, out=out, read_batch=outlives_its_deadline, exit=ended.set) == 0
    (error,) = take(api.errors, 1)
    document = json.loads(error.body)
    assert (error.request_id, document["errorType"], document["requestId"]) == (late, "Runtime.DeadlineExceeded", late)
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.DeadlineExceeded"
    assert document["errorMessage"] == (
        f"RequestId: {late} Error: the batch was still running 0.2 s before the invocation's deadline "
        f"(Lambda-Runtime-Deadline-Ms {deadline_ms}): raise the function's timeout, or lower the Lambda buffer size"
    )
    assert api.responses.empty() and api.events.qsize() == 1
    (line,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (line["level"], line["message"], line["invocationId"]) == (
        "ERROR",
        "batch timed out",
        json.loads(body)["invocationId"],
    )


def test_a_batch_done_before_its_deadline_is_answered(api: LocalRuntimeApi, client: RuntimeApiClient, pipeline: Pipeline) -> None:
    deadline_ms = int(time.time() * 1000) + 600_000
    body = event_bodies()[0]
    request_id = api.queue_event(body, {"Lambda-Runtime-Deadline-Ms": str(deadline_ms)})
    ended: list[bool] = []
    assert serve(pipeline, client, max_invocations=1, out=io.StringIO(), exit=lambda: ended.append(True)) == 1
    (response,) = take(api.responses, 1)
    assert (response.request_id, response.body) == (request_id, pipeline.process_firehose(json.loads(body)).body)
    assert ended == [] and api.errors.empty()


class Panic(BaseException):
    """What a panic in a compiled library raises (pyo3's PanicException is a BaseException)."""


def test_a_panic_is_posted_before_it_ends_the_loop(api: LocalRuntimeApi, client: RuntimeApiClient, pipeline: Pipeline) -> None:
    request_id = api.queue_event(event_bodies()[0])

    def panics(body: bytes) -> RecordBatch:
        raise Panic("called `Option::unwrap()` on a `None` value: «données» ✓")

    out = io.StringIO()
    with pytest.raises(Panic):
        serve(pipeline, client, max_invocations=1, out=out, read_batch=panics)
    (error,) = take(api.errors, 1)
    document = json.loads(error.body)
    assert (error.request_id, document["errorType"]) == (request_id, "Panic")
    assert document["errorMessage"] == "called `Option::unwrap()` on a `None` value: «données» ✓"
    cause = json.loads(error.headers["Lambda-Runtime-Function-XRay-Error-Cause"])  # escaped to ASCII in the header
    assert (cause["exceptions"][0]["type"], cause["exceptions"][0]["message"]) == ("Panic", document["errorMessage"])
    assert cause["exceptions"][0]["stack"][-1]["label"] == "panics"
    assert json.loads(out.getvalue())["message"] == "batch failed"


def test_a_refused_response_is_logged_and_the_loop_goes_on(
    api: LocalRuntimeApi, client: RuntimeApiClient, pipeline: Pipeline
) -> None:
    api.response_status = 413  # Lambda refuses a response over 6 MB and fails the invocation itself
    for body in event_bodies()[:2]:
        api.queue_event(body)
    out = io.StringIO()
    assert serve(pipeline, client, max_invocations=2, out=out) == 2
    refused = [json.loads(line) for line in out.getvalue().splitlines() if "Runtime API" in json.loads(line)["message"]]
    assert [(w["level"], w["message"]) for w in refused] == [("WARNING", "Runtime API refused the response: HTTP 413")] * 2


@pytest.mark.parametrize("status", [403, 500])
def test_an_unusable_runtime_api_stops_the_loop(
    api: LocalRuntimeApi, client: RuntimeApiClient, pipeline: Pipeline, status: int
) -> None:
    api.next_status = status
    with pytest.raises(ConfigurationEnvironmentError, match=f"answered {status} to GET next"):
        serve(pipeline, client, max_invocations=1, out=io.StringIO())


def test_an_unreachable_runtime_api_is_an_environment_error(pipeline: Pipeline) -> None:
    with socket.socket() as probe:  # a loopback port that nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = RuntimeApiClient(f"127.0.0.1:{port}", timeout=WAIT_S)
    with pytest.raises(ConfigurationEnvironmentError, match="unreachable"):
        serve(pipeline, client, max_invocations=1, out=io.StringIO())


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"invocationId": "4b3a-99", "records": []}', "4b3a-99"),
        (b'\n  {"invocationId":"inv-1"}', "inv-1"),
        (b'{"region": "eu-west-1", "invocationId": "later"}', "later"),
        (b'{"invocationId": "with \\"quotes\\"", "records": []}', 'with "quotes"'),
        (b'{"records": []}', None),
        (b'{"invocationId": 12}', None),
        (b"not json", None),
    ],
)
def test_invocation_id_for_the_log_line(body: bytes, expected: str | None) -> None:
    assert invocation_id(body) == expected


def test_error_body_is_the_runtime_api_error_document() -> None:
    try:
        raise ValueError("boom")
    except ValueError as err:
        body = error_body(err, "req-1")
    assert body["errorMessage"] == "boom" and body["errorType"] == "ValueError" and body["requestId"] == "req-1"
    assert any("raise ValueError" in frame for frame in body["stackTrace"])
    assert orjson.loads(orjson.dumps(body)) == body


def test_run_without_a_runtime_api_address_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(runtime_api.RUNTIME_API_ENV, raising=False)
    assert runtime_api.run() == 2
    assert runtime_api.RUNTIME_API_ENV in capsys.readouterr().err


def test_run_serves_the_pipeline_the_handler_module_loaded(
    api: LocalRuntimeApi, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(firehose, "_PIPELINE", pipeline)
    monkeypatch.setenv(firehose.SPEC_ENV, "/nonexistent/pipeline.yaml")  # loaded at init already: not read again
    monkeypatch.setenv(runtime_api.RUNTIME_API_ENV, api.address)
    body = event_bodies()[0]
    request_id = api.queue_event(body)
    assert runtime_api.run(max_invocations=1) == 0
    (response,) = take(api.responses, 1)
    assert (response.request_id, response.body) == (request_id, pipeline.process_firehose(json.loads(body)).body)
    assert json.loads(capsys.readouterr().out.splitlines()[0])["message"] == "batch transformed"


def test_run_reads_the_rejection_bound_from_the_environment(
    api: LocalRuntimeApi, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(firehose, "_PIPELINE", pipeline)
    monkeypatch.setenv(runtime_api.RUNTIME_API_ENV, api.address)
    monkeypatch.setenv(firehose.REJECTION_LINES_ENV, "2")
    api.queue_event(event_bodies()[0])  # 20 rejected records
    assert runtime_api.run(max_invocations=1) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["message"] for line in lines] == ["batch transformed", *["record rejected"] * 2, "more records rejected"]
    assert (lines[-1]["logged"], lines[-1]["not_logged"]) == (2, 18)


def test_a_bad_rejection_bound_posts_an_init_error(
    api: LocalRuntimeApi, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(firehose, "_PIPELINE", pipeline)
    monkeypatch.setenv(runtime_api.RUNTIME_API_ENV, api.address)
    monkeypatch.setenv(firehose.REJECTION_LINES_ENV, "some")
    api.queue_event(event_bodies()[0])
    assert runtime_api.run(max_invocations=1) == 1
    (error,) = take(api.init_errors, 1)
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.ConfigInvalid"
    assert json.loads(error.body)["errorType"] == "ConfigurationEnvironmentError"
    assert api.events.qsize() == 1  # no event was asked for
    assert json.loads(capsys.readouterr().out)["message"] == "init failed"


# --- the module as Lambda starts it: a fresh process ------------------------------------------------------------


def run_module(api: LocalRuntimeApi, spec: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != firehose.SPEC_ENV}
    env[runtime_api.RUNTIME_API_ENV] = api.address
    if spec is not None:
        env[firehose.SPEC_ENV] = spec
    command = [sys.executable, "-m", "transform_core.adapters.runtime_api", *args]
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S, check=False)


def test_the_module_answers_n_invocations_and_exits(api: LocalRuntimeApi, pipeline: Pipeline) -> None:
    bodies = event_bodies()[:2]
    ids = [api.queue_event(body) for body in bodies]
    done = run_module(api, str(EXAMPLE_SPEC), "--max-invocations", "2")
    assert done.returncode == 0, done.stderr
    responses = {p.request_id: p.body for p in take(api.responses, 2)}
    assert [responses[i] for i in ids] == [pipeline.process_firehose(json.loads(b)).body for b in bodies]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    batches = [line["invocationId"] for line in lines if line["message"] == "batch transformed"]
    assert batches == [json.loads(b)["invocationId"] for b in bodies]
    assert api.init_errors.empty() and api.errors.empty()


@pytest.mark.parametrize(
    ("spec", "error_type"),
    [("/nonexistent/pipeline.yaml", "SpecError"), (None, "ConfigurationEnvironmentError")],
)
def test_a_bad_spec_posts_an_init_error_and_exits_1(api: LocalRuntimeApi, spec: str | None, error_type: str) -> None:
    api.queue_event(event_bodies()[0])
    done = run_module(api, spec)
    assert done.returncode == 1, done.stderr
    (error,) = take(api.init_errors, 1)
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.ConfigInvalid"
    assert json.loads(error.body)["errorType"] == error_type
    assert api.events.qsize() == 1  # no event was asked for
    assert json.loads(done.stdout.splitlines()[0])["message"] == "init failed"
