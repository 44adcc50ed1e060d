"""What a batch logs besides its line: one line per rejected record (bounded), and the same lines from the managed
handler and from the Runtime API loop."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest

from tests.helpers.events import load_event
from tests.helpers.runtime_api_server import WAIT_S, local_runtime_api
from tests.helpers.runtime_process import cold_start
from transform_core import Pipeline, load_spec
from transform_core.adapters import firehose
from transform_core.adapters.runtime_api import RuntimeApiClient, serve
from transform_core.demo.generate import Payload, firehose_event, iot_payloads
from transform_core.errors import ConfigurationEnvironmentError
from transform_core.firehose.outcomes import FAILED
from transform_core.schema import rule_id
from transform_core.spec import MetricsSpec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SPEC = REPO / "examples" / "iot" / "pipeline.yaml"


@pytest.fixture(scope="module")
def emf_pipeline() -> Pipeline:
    """The example pipeline with EMF metrics on, so the lines compared carry them."""
    return Pipeline(dataclasses.replace(load_spec(EXAMPLE_SPEC), metrics=MetricsSpec(emf=True)))


@pytest.fixture
def handler_with(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Make the handler use a given pipeline (as if loaded at init), with no rejection bound in the environment."""
    monkeypatch.delenv(firehose.REJECTION_LINES_ENV, raising=False)

    def use(pipeline: Pipeline) -> None:
        monkeypatch.setattr(firehose, "_PIPELINE", pipeline)

    yield use


def failing_event(n: int) -> dict[str, Any]:
    """``n`` records that are not JSON, each failing with rule ``$|json``."""
    return firehose_event([Payload(b'{"seq": %d,' % i) for i in range(n)])


def handler_lines(event: dict[str, Any], capsys: pytest.CaptureFixture[str], request_id: str = "req-1") -> list[dict[str, Any]]:
    capsys.readouterr()
    firehose.handler(event, SimpleNamespace(aws_request_id=request_id))
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


# --- the line of a rejected record ----------------------------------------------------------------------------------


def test_a_rejected_record_logs_its_id_rule_path_and_message(
    lambda_env: None, handler_with: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("direct_put.json")

    batch_line, rejected = handler_lines(event, capsys)

    assert batch_line["message"] == "batch transformed"
    assert rejected == {
        "level": "WARNING",
        "message": "record rejected",
        "pipeline": "iot-telemetry",
        "invocationId": event["invocationId"],
        "requestId": "req-1",
        "recordId": event["records"][3]["recordId"],
        "rule": "$.value|maximum",
        "path": "$.value",
        "error": "must be at most 1000",
        "reasons": ["$.value: must be at most 1000 (maximum)"],
    }


@pytest.mark.parametrize("name", ["bad_records.json", "kinesis_source.json"])
def test_each_rejected_record_is_logged_in_batch_order_with_its_reason(
    lambda_env: None, handler_with: Any, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    event = load_event(name)
    outcomes = firehose.loaded_pipeline().process_firehose(event).outcomes.filter(pl.col("result") == FAILED)

    batch_line, *rejected = handler_lines(event, capsys)

    assert batch_line["failed"] == len(rejected) == len(outcomes) > 0
    assert [r["recordId"] for r in rejected] == outcomes["record_id"].to_list()
    for line, reason in zip(rejected, outcomes["reason"].to_list(), strict=True):
        assert line["rule"] == rule_id(reason)  # what top_rejections counts
        assert reason == f"{line['path']}: {line['error']} ({line['rule'].rpartition('|')[2]})"


def test_a_batch_without_rejected_records_logs_its_line_alone(
    lambda_env: None, handler_with: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = firehose_event([p for p in iot_payloads(300, seed=4) if p.kind in ("valid", "heartbeat")])
    (batch_line,) = handler_lines(event, capsys)
    assert batch_line["failed"] == 0 and batch_line["records"] == len(event["records"])


# --- the bound ----------------------------------------------------------------------------------------------------


def test_a_thousand_rejections_log_the_bound_then_one_line_counting_the_rest(
    lambda_env: None, handler_with: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = failing_event(1000)

    batch_line, *rest = handler_lines(event, capsys)

    assert batch_line["failed"] == 1000
    assert len(rest) == firehose.DEFAULT_REJECTION_LINES + 1 == 51
    *rejected, summary = rest
    assert [r["recordId"] for r in rejected] == [r["recordId"] for r in event["records"][:50]]
    assert {(r["message"], r["rule"], r["path"]) for r in rejected} == {("record rejected", "$|json", "$")}
    assert summary == {
        "level": "WARNING",
        "message": "more records rejected",
        "pipeline": "iot-telemetry",
        "invocationId": event["invocationId"],
        "requestId": "req-1",
        "logged": 50,
        "not_logged": 950,
    }


@pytest.mark.parametrize(("setting", "logged", "summary"), [("3", 3, True), (" 0 ", 0, False), ("1000", 1000, False)])
def test_the_bound_is_read_from_the_environment(
    lambda_env: None,
    handler_with: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: str,
    logged: int,
    summary: bool,
) -> None:
    monkeypatch.setenv(firehose.REJECTION_LINES_ENV, setting)

    batch_line, *rest = handler_lines(failing_event(1000), capsys)

    assert [r["message"] for r in rest] == ["record rejected"] * logged + ["more records rejected"] * summary
    if summary:
        assert (rest[-1]["logged"], rest[-1]["not_logged"]) == (logged, 1000 - logged)


@pytest.mark.parametrize("setting", ["-1", "ten", "1.5", "1e3", "\u0663"])
def test_a_bound_that_is_not_a_whole_number_is_a_configuration_error(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv(firehose.REJECTION_LINES_ENV, setting)
    with pytest.raises(ConfigurationEnvironmentError, match=f"set {firehose.REJECTION_LINES_ENV} to a whole number"):
        firehose.rejection_lines_from_env()
    with pytest.raises(ConfigurationEnvironmentError):
        firehose.handler(load_event("direct_put.json"), None)


def test_a_bad_bound_fails_the_cold_start(tmp_path: Path) -> None:
    child = cold_start(tmp_path, {firehose.REJECTION_LINES_ENV: "lots"})
    assert child.returncode != 0
    assert f"ConfigurationEnvironmentError: set {firehose.REJECTION_LINES_ENV}" in child.stderr


# --- the same lines from both paths -------------------------------------------------------------------------------


def comparable(line: str) -> dict[str, Any]:
    """A log line without what differs from one run to the next: the timings and the EMF timestamp."""
    entry: dict[str, Any] = json.loads(line)
    for name in ("elapsed_ms", "BatchLatency"):
        entry.pop(name, None)
    if "_aws" in entry:
        entry["_aws"].pop("Timestamp")
    return entry


def test_the_runtime_loop_logs_the_managed_handlers_lines_and_metrics(
    emf_pipeline: Pipeline, handler_with: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(firehose.REJECTION_LINES_ENV, "40")
    handler_with(emf_pipeline)
    events = [
        load_event("direct_put.json"),
        load_event("kinesis_source.json"),
        load_event("empty.json"),
        firehose_event(iot_payloads(300, 0.3, seed=8), kinesis_source=True),  # 90 rejections: 40 lines and a count
        firehose_event([p for p in iot_payloads(100, seed=9) if p.kind == "valid"]),
    ]
    with local_runtime_api() as api:
        request_ids = [api.queue_event(json.dumps(event).encode()) for event in events]
        client = RuntimeApiClient(api.address, timeout=WAIT_S * 2)
        out = io.StringIO()
        try:
            serve(emf_pipeline, client, max_invocations=len(events), out=out, rejection_lines=firehose.rejection_lines_from_env())
        finally:
            client.close()
    assert api.errors.empty()

    capsys.readouterr()
    for event, request_id in zip(events, request_ids, strict=True):
        firehose.handler(event, SimpleNamespace(aws_request_id=request_id))
    managed = capsys.readouterr().out.splitlines()

    raw = out.getvalue().splitlines()
    assert len(raw) == len(managed) == len(events) + 1 + 2 + 40 + 1
    assert [comparable(line) for line in raw] == [comparable(line) for line in managed]
    batch_lines = [json.loads(line) for line in raw if json.loads(line)["message"] == "batch transformed"]
    assert [line["requestId"] for line in batch_lines] == request_ids
    assert all("_aws" in line and line["InputBytes"] >= 0 for line in batch_lines)


def test_serve_without_a_bound_uses_the_handlers_default(emf_pipeline: Pipeline) -> None:
    with local_runtime_api() as api:
        api.queue_event(json.dumps(failing_event(120)).encode())
        client = RuntimeApiClient(api.address, timeout=WAIT_S * 2)
        out = io.StringIO()
        try:
            serve(emf_pipeline, client, max_invocations=1, out=out)
        finally:
            client.close()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 1 + firehose.DEFAULT_REJECTION_LINES + 1
    assert (lines[-1]["logged"], lines[-1]["not_logged"]) == (50, 70)
