"""LocalLambda: the runtime process answers as the engine does; Lambda's limits, timeouts, crashes and cold starts."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.lake import EXAMPLE
from tests.local.delivery_fakes import fake_runtime
from transform_core import Pipeline
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.local.lambda_process import REQUEST_LIMIT_BYTES, RESPONSE_LIMIT_BYTES, LocalLambda


@pytest.fixture(scope="module")
def function(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambda]:
    """The example spec behind the raw-bytes runtime, one process for the module."""
    log = tmp_path_factory.mktemp("lambda") / "log.txt"
    with LocalLambda(EXAMPLE, log=log, timeout_s=60) as function:
        yield function


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[LocalLambda]:
    """A runtime of our own that crashes, hangs, fails or answers as its event says; 0.5 s timeout."""
    with LocalLambda(EXAMPLE, command=fake_runtime(tmp_path), timeout_s=0.5, log=tmp_path / "log.txt") as function:
        yield function


def events() -> list[bytes]:
    return [
        json.dumps(firehose_event(iot_payloads(200, 0.1, seed=3))).encode(),
        json.dumps(firehose_event(iot_payloads(80, 0.3, seed=4), kinesis_source=True), separators=(",", ":")).encode(),
    ]


def test_the_runtime_process_answers_what_the_engine_answers(function: LocalLambda, pipeline: Pipeline) -> None:
    results = [function.invoke(event) for event in events()]
    for event, result in zip(events(), results, strict=True):
        assert result.ok and result.payload == pipeline.process_firehose(json.loads(event)).body
    assert [r.cold_start for r in results][1:] == [False]
    assert function.cold_starts == 1


@pytest.mark.skipif(importlib.util.find_spec("awslambdaric") is None, reason="awslambdaric (dev extra) not installed")
def test_the_managed_runtime_calls_the_templates_handler_with_the_same_answer(tmp_path: Path, pipeline: Pipeline) -> None:
    event = events()[1]
    with LocalLambda(EXAMPLE, runtime="managed", log=tmp_path / "log.txt", timeout_s=60) as function:
        result = function.invoke(event)
    assert result.ok and result.payload == pipeline.process_firehose(json.loads(event)).body


def test_a_request_of_6_mb_is_refused_before_it_is_sent(function: LocalLambda) -> None:
    pid, invocations = function.pid, function.invocations
    refused = function.invoke(b" " * REQUEST_LIMIT_BYTES)
    assert refused.error is not None and refused.error.kind == "request_too_large"
    assert refused.error.error_type == "RequestTooLargeException" and str(REQUEST_LIMIT_BYTES) in refused.error.message
    assert (refused.request_id, function.invocations, function.pid) == (None, invocations, pid)  # nothing sent
    sent = function.invoke(b" " * (REQUEST_LIMIT_BYTES - 1))  # sent: the handler refuses an event that is not one
    assert sent.error is not None and (sent.error.kind, sent.error.error_type) == ("function_error", "ValueError")
    assert function.invocations == invocations + 1 and function.pid == pid


def test_a_response_over_6_mb_fails_the_invocation_and_the_process_goes_on(fake: LocalLambda) -> None:
    largest = fake.invoke(str(RESPONSE_LIMIT_BYTES).encode())
    assert largest.ok and largest.payload is not None and len(largest.payload) == RESPONSE_LIMIT_BYTES
    refused = fake.invoke(str(RESPONSE_LIMIT_BYTES + 1).encode())
    assert refused.error is not None and refused.payload is None
    assert (refused.error.kind, refused.error.error_type) == ("response_too_large", "Function.ResponseSizeTooLarge")
    assert f"({RESPONSE_LIMIT_BYTES + 1} bytes)" in refused.error.message
    after = fake.invoke(b"echo")
    assert (after.payload, after.cold_start, fake.cold_starts) == (b"echo", False, 1)


@pytest.mark.parametrize(
    ("event", "kind", "error_type", "says"),
    [
        (b"crash", "crash", "Runtime.ExitError", "Runtime exited with error: exit status 3"),
        (b"hang", "timeout", "Sandbox.Timedout", "Task timed out after 0.50 seconds"),
    ],
)
def test_a_crash_or_a_hang_fails_the_invocation_and_the_next_one_starts_cold(
    fake: LocalLambda, event: bytes, kind: str, error_type: str, says: str
) -> None:
    first = fake.invoke(b"warm")
    pid = fake.pid
    failed = fake.invoke(event)
    assert failed.error is not None and (failed.error.kind, failed.error.error_type) == (kind, error_type)
    assert says in failed.error.message and failed.request_id in failed.error.message
    assert fake.pid is None  # killed, or gone
    again = fake.invoke(b"again")
    assert (first.cold_start, again.cold_start, again.payload, fake.cold_starts) == (True, True, b"again", 2)
    assert fake.pid not in (None, pid)


def test_a_function_error_keeps_its_type_and_message_and_the_process(fake: LocalLambda) -> None:
    failed = fake.invoke(b"error")
    assert failed.error is not None and failed.error[:] == ("function_error", "ValueError", "boom")
    assert fake.invoke(b"next").cold_start is False


def test_an_init_error_fails_the_invocation_with_its_type(tmp_path: Path) -> None:
    command = fake_runtime(tmp_path)
    with LocalLambda(EXAMPLE, command=command, env={"FAKE_INIT": "error"}, log=tmp_path / "log.txt") as function:
        failed = function.invoke(b"anything")
    assert failed.error is not None and failed.error[:] == ("init_error", "SpecError", "no spec")


def test_a_broken_spec_fails_the_real_runtimes_init(tmp_path: Path) -> None:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text("version: 1\nname: broken\n")
    with LocalLambda(spec, log=tmp_path / "log.txt") as function:
        failed = function.invoke(events()[0])
    assert failed.error is not None and (failed.error.kind, failed.error.error_type) == ("init_error", "SpecError")
    assert "pipeline.yaml" in failed.error.message


def test_close_ends_the_process_and_refuses_more(fake: LocalLambda) -> None:
    fake.invoke(b"warm")
    assert fake.pid is not None
    fake.close()
    assert fake.pid is None
    with pytest.raises(RuntimeError, match="closed"):
        fake.invoke(b"more")
    fake.close()  # idempotent
