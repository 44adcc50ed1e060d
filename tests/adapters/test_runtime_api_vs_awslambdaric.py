"""The raw-bytes loop against the managed runtime's own client, awslambdaric (a dev dependency), given the same
events by the same local Runtime API: what each posts (responses, errors, init errors: bodies and headers), what
the engine sees of the X-Ray trace, the log lines, and a crash. Where they differ on purpose, the test says how."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.runtime_api_server import local_runtime_api
from tests.helpers.runtime_process import ROOT, Kind, Ran, command, run_runtime
from transform_core import load_pipeline
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.local.lambda_process import LocalLambda

pytest.importorskip("awslambdaric")

EXAMPLE = ROOT / "examples" / "iot"
TRACE = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
NOT_FIREHOSE = b'{"Records": [{"eventSource": "aws:sqs"}]}'
KINDS: tuple[Kind, Kind] = ("raw-bytes", "managed")


@pytest.fixture(scope="module")
def emf_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example spec with EMF metrics on, its paths made absolute."""
    spec = yaml.safe_load((EXAMPLE / "pipeline.yaml").read_text())
    spec["schema"] = str(EXAMPLE / spec["schema"])
    spec["enrich"][0]["source"] = str((EXAMPLE / spec["enrich"][0]["source"]).resolve())
    spec.pop("output")
    spec["metrics"] = {"emf": True}
    path = tmp_path_factory.mktemp("spec") / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def events() -> list[tuple[bytes, dict[str, str]]]:
    traced = json.dumps(firehose_event(iot_payloads(30, 0.2, seed=21))).encode()
    plain = json.dumps(firehose_event(iot_payloads(10, 0.3, seed=22), kinesis_source=True)).encode()
    return [(traced, {"Lambda-Runtime-Trace-Id": TRACE}), (NOT_FIREHOSE, {}), (plain, {})]


@pytest.fixture(scope="module")
def ran(emf_spec: Path) -> Iterator[dict[Kind, tuple[list[str], Ran]]]:
    """Each runtime given the same three events (one refused) by its own local Runtime API."""
    outcomes: dict[Kind, tuple[list[str], Ran]] = {}
    for kind in KINDS:
        with local_runtime_api() as api:
            ids = [api.queue_event(body, headers) for body, headers in events()]
            outcomes[kind] = ids, run_runtime(api, kind, str(emf_spec), answers=3)
    yield outcomes


def test_the_responses_are_the_same_bytes(ran: dict[Kind, tuple[list[str], Ran]], emf_spec: Path) -> None:
    pipeline = load_pipeline(emf_spec)
    expected = [pipeline.process_firehose(json.loads(body)).body for body, _ in events() if body != NOT_FIREHOSE]
    for ids, outcome in ran.values():
        assert [p.request_id for p in outcome.responses] == [ids[0], ids[2]]
        assert [p.body for p in outcome.responses] == expected
    # awslambdaric marks a handler's bytes as application/unknown; the loop says what they are
    assert [p.headers["Content-Type"] for p in ran["raw-bytes"][1].responses] == ["application/json"] * 2
    assert [p.headers["content-type"] for p in ran["managed"][1].responses] == ["application/unknown"] * 2


def test_a_refused_event_posts_the_same_error_document(ran: dict[Kind, tuple[list[str], Ran]]) -> None:
    documents: dict[Kind, dict[str, Any]] = {}
    causes: dict[Kind, dict[str, Any]] = {}
    for kind, (ids, outcome) in ran.items():
        (error,) = outcome.errors
        assert error.request_id == ids[1]
        documents[kind] = json.loads(error.body)
        headers = {name.lower(): value for name, value in error.headers.items()}
        assert headers["content-type"] == "application/json"
        causes[kind] = json.loads(headers["lambda-runtime-function-xray-error-cause"])
    raw, managed = documents["raw-bytes"], documents["managed"]
    assert list(raw) == list(managed) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert (raw["errorType"], raw["errorMessage"]) == (managed["errorType"], managed["errorMessage"])
    assert raw["errorType"] == "ValueError" and raw["errorMessage"].startswith("not a Firehose transformation event: ")
    assert all(isinstance(frame, str) for frame in raw["stackTrace"] + managed["stackTrace"])
    assert raw["stackTrace"][-1] == managed["stackTrace"][-1]  # where it was raised, in the same form
    assert list(causes["raw-bytes"]) == list(causes["managed"]) == ["working_directory", "exceptions", "paths"]
    raw_cause, managed_cause = causes["raw-bytes"]["exceptions"][0], causes["managed"]["exceptions"][0]
    assert (raw_cause["type"], raw_cause["message"]) == (managed_cause["type"], managed_cause["message"])
    assert raw_cause["stack"][-1] == managed_cause["stack"][-1]


def test_only_the_loop_names_the_error_type_in_a_header(ran: dict[Kind, tuple[list[str], Ran]]) -> None:
    """The Runtime API documents the header as optional; awslambdaric 4 leaves it out of invocation errors."""
    (raw,) = ran["raw-bytes"][1].errors
    (managed,) = ran["managed"][1].errors
    assert raw.headers["Lambda-Runtime-Function-Error-Type"] == "Unhandled"
    assert "lambda-runtime-function-error-type" not in {name.lower() for name in managed.headers}


def test_the_engine_sees_the_same_trace_ids(ran: dict[Kind, tuple[list[str], Ran]]) -> None:
    """Each invocation's Lambda-Runtime-Trace-Id in _X_AMZN_TRACE_ID, and none when the event has none."""
    assert ran["raw-bytes"][1].traces == ran["managed"][1].traces == [TRACE, None]


def normalized(line: dict[str, Any]) -> dict[str, Any]:
    """A log line without what differs from run to run: timings, the EMF timestamp, the request id."""
    line = {k: v for k, v in line.items() if k not in ("elapsed_ms", "BatchLatency", "requestId")}
    if "_aws" in line:
        line["_aws"] = {k: v for k, v in line["_aws"].items() if k != "Timestamp"}
    return line


def test_the_batches_log_the_same_lines_and_emf_metrics(ran: dict[Kind, tuple[list[str], Ran]]) -> None:
    logged: dict[Kind, list[dict[str, Any]]] = {}
    for kind, (ids, outcome) in ran.items():
        lines = [line for line in outcome.log() if line.get("message") != "batch failed"]
        answered = [ids[0], ids[2]]
        assert [line["requestId"] for line in lines if line["message"] == "batch transformed"] == answered
        logged[kind] = [normalized(line) for line in lines]
    assert logged["raw-bytes"] == logged["managed"]
    batches = [line for line in logged["raw-bytes"] if line["message"] == "batch transformed"]
    assert [line["records"] for line in batches] == [30, 10]
    assert all(line["_aws"]["CloudWatchMetrics"][0]["Namespace"] for line in batches)
    assert all(line["RecordsOk"] + line["RecordsFailed"] + line["RecordsDropped"] == line["records"] for line in batches)


def test_the_refused_event_is_logged_by_each_in_its_own_form(ran: dict[Kind, tuple[list[str], Ran]]) -> None:
    """The loop writes one JSON line; awslambdaric its text form, one log event (lines joined by carriage returns)."""
    (failed,) = [line for line in ran["raw-bytes"][1].log() if line["message"] == "batch failed"]
    assert (failed["level"], failed["errorType"]) == ("ERROR", "ValueError")
    text = [line for line in ran["managed"][1].stdout.splitlines() if line.startswith("[ERROR]")]
    assert len(text) == 1 and text[0].startswith(f"[ERROR] ValueError: {failed['errorMessage']}")


@pytest.mark.parametrize("kind", KINDS)
def test_a_bad_spec_is_an_init_error_in_both(kind: Kind) -> None:
    with local_runtime_api() as api:
        api.queue_event(events()[0][0])
        outcome = run_runtime(api, kind, "/nonexistent/pipeline.yaml", answers=1, exits=True)
        assert api.events.qsize() == 1  # no event was asked for
    assert outcome.returncode == 1
    (error,) = outcome.init_errors
    document = json.loads(error.body)
    assert (document["errorType"], document["errorMessage"]) == (
        "SpecError",
        "/nonexistent/pipeline.yaml: cannot read spec: No such file or directory",
    )
    # the header: the loop uses the Runtime API's category.reason form, awslambdaric repeats errorType
    header = {"raw-bytes": "Runtime.ConfigInvalid", "managed": "SpecError"}[kind]
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == header
    # awslambdaric adds an empty requestId; the Runtime API documents errorMessage, errorType and stackTrace
    keys = {
        "raw-bytes": ["errorMessage", "errorType", "stackTrace"],
        "managed": ["errorMessage", "errorType", "requestId", "stackTrace"],
    }
    assert list(document) == keys[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_a_crash_is_the_same_failed_invocation_in_both(kind: Kind) -> None:
    env = {"CRASH": "exit", "CRASH_RECORDS": "7"}
    with LocalLambda(EXAMPLE / "pipeline.yaml", command=command(kind), env=env, timeout_s=120) as function:
        crashed = function.invoke(json.dumps(firehose_event(iot_payloads(7, seed=3))).encode())
        answered = function.invoke(json.dumps(firehose_event(iot_payloads(4, seed=4))).encode())
    assert crashed.error is not None
    assert (crashed.error.error_type, crashed.error.message) == (
        "Runtime.ExitError",
        f"RequestId: {crashed.request_id} Error: Runtime exited with error: exit status 70",
    )
    assert answered.ok and answered.cold_start and answered.payload is not None
    assert len(json.loads(answered.payload)["records"]) == 4
