"""The Firehose Lambda handler: the response contract, captured events, the log line, shedding, the import path."""

from __future__ import annotations

import base64
import csv
import functools
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.helpers.events import load_event
from tests.helpers.not_firehose import REFUSALS, Refusal
from tests.helpers.responses import check_shed_response
from transform_core import SpecError, TransformCoreError, load_pipeline
from transform_core.adapters import firehose
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.engine import Pipeline
from transform_core.errors import ConfigurationEnvironmentError
from transform_core.firehose.outcomes import DROPPED, FAILED, OK
from transform_core.firehose.response import build_response
from transform_core.tuning import Tuning

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SPEC = REPO / "examples" / "iot" / "pipeline.yaml"
SCHEMA = REPO / "examples" / "iot" / "schemas" / "iot_event.schema.json"
EVENTS = REPO / "tests" / "events"
DAY_KEYS = ("year", "month", "day")
FRAMED_FROM = Tuning().framed_response_from  # records from which the response is joined in Polars

with (REPO / "reference_data" / "devices.csv").open(encoding="utf-8", newline="") as _f:
    DEVICES: dict[str, tuple[str, str]] = {row["device_id"]: (row["site"], row["model"]) for row in csv.DictReader(_f)}

# What the example spec makes of each captured event, record by record, and the rejection rules behind it.
EXPECTED_RESULTS: dict[str, list[str]] = {
    "bad_records.json": [FAILED, FAILED, FAILED, OK, FAILED, FAILED, FAILED, FAILED],
    "direct_put.json": [OK, OK, DROPPED, FAILED, OK, OK],
    "empty.json": [],
    "kinesis_source.json": [OK, FAILED, FAILED, OK],
}
EXPECTED_REJECTIONS: dict[str, dict[str, int]] = {
    "bad_records.json": {
        "$|json": 2,  # NaN literal, truncated text
        "$|base64": 1,
        "$|utf8": 1,
        "$|type": 1,  # a JSON array, not an object
        "$|duplicate_key": 1,
        "$.value|float64": 1,  # 1e400
    },
    "direct_put.json": {"$.value|maximum": 1},
    "empty.json": {},
    "kinesis_source.json": {"$.event_time|required": 2},
}
EVENT_FILES = sorted(EXPECTED_RESULTS)


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    body = firehose.handler(event, None)
    assert isinstance(body, bytes)
    response: dict[str, Any] = json.loads(body)
    return response


def decode_data(data: str) -> bytes:
    return base64.b64decode(data, validate=True)


def utc_date_keys(event_time: str) -> dict[str, str]:
    utc = datetime.fromisoformat(event_time).astimezone(UTC)
    return {"year": f"{utc.year:04d}", "month": f"{utc.month:02d}", "day": f"{utc.day:02d}"}


def test_every_event_file_has_expectations() -> None:
    assert sorted(p.name for p in EVENTS.glob("*.json")) == EVENT_FILES


# --- the response contract ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EVENT_FILES)
def test_handler_answers_every_record_once_in_input_order(lambda_env: None, name: str) -> None:
    event = load_event(name)

    response = invoke(event)

    assert list(response) == ["records"]
    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in event["records"]]
    assert [r["result"] for r in response["records"]] == EXPECTED_RESULTS[name]
    for record in response["records"]:
        expected_keys = {"recordId", "result", "data", "metadata"} if record["result"] == OK else {"recordId", "result", "data"}
        assert set(record) == expected_keys


@pytest.mark.parametrize("name", EVENT_FILES)
def test_failed_and_dropped_records_return_their_original_data(lambda_env: None, name: str) -> None:
    event = load_event(name)
    response = invoke(event)
    for sent, answer in zip(event["records"], response["records"], strict=True):
        if answer["result"] != OK:
            assert answer["data"] == sent["data"]


@pytest.mark.parametrize("name", EVENT_FILES)
def test_ok_records_are_one_compact_json_line_with_the_enrichment(lambda_env: None, name: str) -> None:
    event = load_event(name)
    response = invoke(event)
    for sent, answer in zip(event["records"], response["records"], strict=True):
        if answer["result"] != OK:
            continue
        line = decode_data(answer["data"]).decode("utf-8")
        assert line.endswith("\n") and line.count("\n") == 1
        record = json.loads(line)
        assert line[:-1] == json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        original = json.loads(decode_data(sent["data"]))
        site, model = DEVICES.get(original["device_id"], (None, None))
        assert record == original | {"site": site, "model": model}


@pytest.mark.parametrize("name", EVENT_FILES)
def test_ok_records_are_partitioned_by_the_utc_date_of_event_time(lambda_env: None, name: str) -> None:
    event = load_event(name)
    response = invoke(event)
    for sent, answer in zip(event["records"], response["records"], strict=True):
        if answer["result"] == OK:
            event_time = json.loads(decode_data(sent["data"]))["event_time"]
            assert answer["metadata"] == {"partitionKeys": utc_date_keys(event_time)}


@pytest.mark.parametrize(
    ("index", "event_time", "utc_day"),
    [
        (1, "2026-11-25T03:10:00+05:30", "24"),  # local date the 25th, UTC the 24th
        (4, "2026-11-24T20:15:00-08:00", "25"),  # local date the 24th, UTC the 25th
        (5, "2026-11-27T23:59:59.999999Z", "27"),  # the last microsecond of the day
    ],
)
def test_offsets_crossing_midnight_give_the_utc_day(lambda_env: None, index: int, event_time: str, utc_day: str) -> None:
    event = load_event("direct_put.json")
    assert json.loads(decode_data(event["records"][index]["data"]))["event_time"] == event_time

    answer = invoke(event)["records"][index]

    assert answer["result"] == OK
    assert answer["metadata"]["partitionKeys"] == {"year": "2026", "month": "11", "day": utc_day}


def test_enrichment_overwrites_a_same_named_property_and_unknown_devices_get_nulls(lambda_env: None) -> None:
    event = load_event("direct_put.json")
    records = invoke(event)["records"]
    sent = [json.loads(decode_data(r["data"])) for r in event["records"]]
    assert sent[5]["site"] == "rooftop" and sent[4]["device_id"] not in DEVICES

    overwritten = json.loads(decode_data(records[5]["data"]))
    unknown = json.loads(decode_data(records[4]["data"]))

    assert (overwritten["site"], overwritten["model"]) == DEVICES[sent[5]["device_id"]]
    assert overwritten["source"] == "api-gateway"  # an extra property the schema allows is kept
    assert (unknown["site"], unknown["model"]) == (None, None)


def test_heartbeats_are_dropped(lambda_env: None) -> None:
    event = load_event("direct_put.json")
    records = invoke(event)["records"]
    kinds = [json.loads(decode_data(r["data"]))["event_type"] for r in event["records"]]
    assert kinds.count("heartbeat") == 1
    assert [r["result"] for r, kind in zip(records, kinds, strict=True) if kind == "heartbeat"] == [DROPPED]


def test_empty_event_gives_an_empty_record_list(lambda_env: None) -> None:
    body = firehose.handler(load_event("empty.json"), None)
    assert body == b'{"records":[]}'
    assert json.loads(body) == {"records": []}


@pytest.mark.parametrize("refusal", REFUSALS)
def test_an_event_that_is_not_a_firehose_event_fails_the_invocation(
    lambda_env: None, capsys: pytest.CaptureFixture[str], refusal: Refusal
) -> None:
    """Wired to another trigger (S3, SQS, Kinesis, API Gateway), the function fails each invocation, saying why,
    instead of answering an empty batch; so does an event with a record Firehose would never send."""
    with pytest.raises(ValueError) as caught:
        firehose.handler(refusal.event, None)
    assert str(caught.value) == refusal.message
    assert capsys.readouterr().out == ""  # no batch line: nothing was transformed


@pytest.mark.parametrize("record_id", ['id"quote', "back\\slash", "tab\there", "été", "line\u2028sep", "nul\x00"])
def test_record_ids_that_need_escaping_come_back_verbatim(lambda_env: None, record_id: str) -> None:
    event = load_event("direct_put.json")
    event["records"][0]["recordId"] = record_id
    event["records"][3]["recordId"] = record_id + "-failed"

    response = invoke(event)

    assert response["records"][0]["recordId"] == record_id
    assert response["records"][3]["recordId"] == record_id + "-failed"


def test_handle_firehose_returns_the_handler_response_as_a_dict(lambda_env: None) -> None:
    event = load_event("direct_put.json")
    assert load_pipeline(EXAMPLE_SPEC).handle_firehose(event) == invoke(event)


# --- configuration from the environment -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_missing_spec_variable_is_a_configuration_environment_error(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    monkeypatch.setattr(firehose, "_PIPELINE", None)
    if value is None:
        monkeypatch.delenv(firehose.SPEC_ENV, raising=False)
    else:
        monkeypatch.setenv(firehose.SPEC_ENV, value)

    with pytest.raises(ConfigurationEnvironmentError, match="set TRANSFORM_CORE_SPEC to the path of the pipeline spec") as caught:
        firehose.handler(load_event("direct_put.json"), None)

    assert isinstance(caught.value, TransformCoreError) and not isinstance(caught.value, SpecError)
    assert firehose._PIPELINE is None


def test_pipeline_from_env_reads_only_the_mapping_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(firehose.SPEC_ENV, str(EXAMPLE_SPEC))
    with pytest.raises(ConfigurationEnvironmentError):
        firehose.pipeline_from_env({})
    assert firehose.pipeline_from_env({firehose.SPEC_ENV: str(EXAMPLE_SPEC)}).spec.name == "iot-telemetry"


def test_spec_variable_naming_a_missing_file_is_a_spec_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    monkeypatch.setattr(firehose, "_PIPELINE", None)
    monkeypatch.setenv(firehose.SPEC_ENV, str(missing))
    with pytest.raises(SpecError) as caught:
        firehose.handler(load_event("empty.json"), None)
    assert caught.value.file == str(missing)


def test_the_spec_is_loaded_once_and_reused_by_warm_invocations(lambda_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    first = invoke(load_event("direct_put.json"))
    pipeline = firehose._PIPELINE
    assert pipeline is not None
    monkeypatch.setenv(firehose.SPEC_ENV, "/nonexistent/spec.yaml")  # not read again

    second = invoke(load_event("direct_put.json"))

    assert firehose._PIPELINE is pipeline
    assert second == first


def test_loaded_pipeline_is_the_one_the_handler_uses(lambda_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = firehose.loaded_pipeline()
    assert pipeline.spec.name == "iot-telemetry"
    monkeypatch.setenv(firehose.SPEC_ENV, "/nonexistent/spec.yaml")  # loaded once: not read again
    assert firehose.loaded_pipeline() is pipeline
    invoke(load_event("direct_put.json"))
    assert firehose._PIPELINE is pipeline


def test_loaded_pipeline_without_the_spec_variable_keeps_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(firehose, "_PIPELINE", None)
    monkeypatch.delenv(firehose.SPEC_ENV, raising=False)
    with pytest.raises(ConfigurationEnvironmentError, match="set TRANSFORM_CORE_SPEC"):
        firehose.loaded_pipeline()
    assert firehose._PIPELINE is None


# --- the log line ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EVENT_FILES)
def test_each_batch_logs_one_json_line_with_counts_and_top_rejections(
    lambda_env: None, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    event = load_event(name)
    body = firehose.handler(event, None)
    results = Counter(r["result"] for r in json.loads(body)["records"])

    lines = capsys.readouterr().out.splitlines()

    assert len(lines) == 1 + results[FAILED]  # the batch's line, then one per rejected record
    assert all(json.loads(line)["message"] == "record rejected" for line in lines[1:])
    entry = json.loads(lines[0])
    assert isinstance(entry, dict)
    assert entry["invocationId"] == event["invocationId"]
    assert entry["pipeline"] == "iot-telemetry"
    assert entry["records"] == len(event["records"])
    assert entry["ok"] + entry["failed"] + entry["dropped"] == entry["records"]
    assert (entry["ok"], entry["failed"], entry["dropped"]) == (results[OK], results[FAILED], results[DROPPED])
    assert (entry["level"], entry["shed_for_response_size"], entry["response_bytes"]) == ("INFO", 0, len(body))
    expected = EXPECTED_REJECTIONS[name]
    top = entry["top_rejections"]
    assert isinstance(top, dict) and len(top) == min(5, len(expected))
    assert all(expected[rule] == count for rule, count in top.items())
    assert max(expected.values(), default=0) == max(top.values(), default=0)


# --- Kinesis-source events and arrival time -------------------------------------------------------------------------


# --- response size: shedding trailing Ok records ---------------------------------------------------------------------


def test_handler_sheds_enriched_records_that_would_not_fit(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every record is valid: enrichment makes each Ok entry larger than the record as sent, so the response
    # outgrows a limit that the shed (original) records still fit under.
    event = firehose_event([p for p in iot_payloads(400, seed=3) if p.kind == "valid"])
    pipeline = load_pipeline(EXAMPLE_SPEC)
    unlimited = pipeline.process_firehose(event)
    assert unlimited.ok == len(event["records"])
    shed_everything = build_response(unlimited.outcomes, pl.Series([r["data"] for r in event["records"]]), DAY_KEYS, limit=1)
    assert len(shed_everything.body) < len(unlimited.body)
    limit = (len(shed_everything.body) + len(unlimited.body)) // 2
    monkeypatch.setattr(Pipeline, "process", functools.partialmethod(Pipeline.process, limit=limit))

    body = firehose.handler(event, None)

    shed_outcomes = firehose._PIPELINE.process_firehose(event).outcomes  # type: ignore[union-attr]
    source = [r["data"] for r in event["records"]]
    shed = check_shed_response(unlimited.body, body, unlimited.outcomes, shed_outcomes, source, limit)
    lines = capsys.readouterr().out.splitlines()
    entry = json.loads(lines[0])
    assert (entry["level"], entry["shed_for_response_size"]) == ("WARNING", shed)
    assert (entry["ok"], entry["failed"], entry["dropped"]) == (len(source) - shed, shed, 0)
    assert entry["top_rejections"] == {"$|response_size": shed}
    assert entry["response_bytes"] == len(body) < limit


ID_CHARACTERS = '0123456789ab"\\é\u2028'  # recordIds that need JSON escaping too


# --- the Lambda import path -------------------------------------------------------------------------------------------

CHILD = r"""
import json, sys
import transform_core.adapters.firehose as firehose
HEAVY = ("pyarrow", "pyiceberg")
after_import = sorted(name for name in HEAVY if name in sys.modules)
loaded_at_init = firehose._PIPELINE is not None
with open(sys.argv[1], encoding="utf-8") as f:
    event = json.load(f)
body = firehose.handler(event, None)
response = json.loads(body)
summary = {
    "after_import": after_import,
    "loaded_at_init": loaded_at_init,
    "after_handler": sorted(name for name in HEAVY if name in sys.modules),
    "ids_in_order": [r["recordId"] for r in response["records"]] == [r["recordId"] for r in event["records"]],
    "results": sorted({r["result"] for r in response["records"]}),
}
print(json.dumps(summary))
"""


def test_lambda_import_path_never_imports_pyarrow_or_pyiceberg(tmp_path: Path) -> None:
    payloads = iot_payloads(497, invalid_fraction=0.2, seed=11)
    event = firehose_event(payloads)
    # Three records only the reference implementation judges: an escape, a nested extra property, a duplicate key.
    extra = [
        b'{"event_id":"3f9a1c52-7b4e-4d21-9c8a-0e6f5b2d4a17","device_id":"dev-0001","gateway_id":"gw-\\u00e9","seq":1,'
        b'"event_time":"2026-11-26T14:03:27Z","event_type":"telemetry","value":1}',
        b'{"event_id":"3f9a1c52-7b4e-4d21-9c8a-0e6f5b2d4a17","device_id":"dev-0001","seq":2,'
        b'"event_time":"2026-11-26T14:03:27Z","event_type":"alert","value":2,"ctx":{"a":[1,{"b":null}]}}',
        b'{"event_id":"3f9a1c52-7b4e-4d21-9c8a-0e6f5b2d4a17","device_id":"dev-0001","seq":3,"seq":4,'
        b'"event_time":"2026-11-26T14:03:27Z","event_type":"alert","value":3}',
    ]
    event["records"] += [{"recordId": f"extra-{i}", "data": base64.b64encode(d).decode()} for i, d in enumerate(extra)]
    assert len(event["records"]) == 500
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env |= {"PYTHONPATH": str(REPO), firehose.SPEC_ENV: str(EXAMPLE_SPEC)}

    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
    )

    assert child.returncode == 0, child.stderr
    log_line, *rejections, summary_line = child.stdout.splitlines()
    assert json.loads(log_line)["records"] == 500
    assert len(rejections) == firehose.DEFAULT_REJECTION_LINES + 1  # ~100 records fail: 50 lines, then one counting the rest
    assert json.loads(summary_line) == {
        "after_import": [],
        "loaded_at_init": True,
        "after_handler": [],
        "ids_in_order": True,
        "results": [DROPPED, OK, FAILED],
    }


# --- known bugs ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", ['not"base64', "back\\slash"])
def test_bad_data_with_json_metacharacters_keeps_the_response_valid(lambda_env: None, data: str) -> None:
    event = load_event("direct_put.json")
    event["records"][3]["data"] = data
    response = invoke(event)
    assert response["records"][3] == {"recordId": event["records"][3]["recordId"], "result": FAILED, "data": data}


def test_a_record_with_null_data_is_still_answered(lambda_env: None) -> None:
    event = load_event("direct_put.json")
    event["records"][3]["data"] = None
    response = invoke(event)
    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in event["records"]]
