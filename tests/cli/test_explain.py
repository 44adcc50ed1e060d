"""`transform-core explain`: one record's outcome, failing rules, enrichment, partition and output, from every form an
operator has the record in."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from transform_core.cli import main
from transform_core.explain import failing_reasons, with_deciding
from transform_core.reference import ReferencePipeline
from transform_core.schema import rule_id
from transform_core.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "examples" / "iot" / "pipeline.yaml")
VALID = {
    "event_id": "7d0b0e4c-3f6e-4c4e-9a59-2f1a4e0c8b11",
    "device_id": "dev-0001",
    "seq": 3,
    "event_time": "2026-12-01T23:30:00+02:00",
    "event_type": "telemetry",
    "value": 21.5,
}
TOO_HIGH = {**VALID, "value": 5000}


def _explain(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    status = main(["explain", "--spec", SPEC, "--format", "json", *args])
    return status, json.loads(capsys.readouterr().out)


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_an_ok_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = tmp_path / "record.json"
    record.write_text(json.dumps(VALID, indent=2))  # a pretty-printed record is one record
    status, found = _explain([str(record)], capsys)
    assert status == 0
    assert found["outcome"] == "Ok" and found["failures"] == []
    assert found["partition"] == {"year": "2026", "month": "12", "day": "01"}  # 21:30 UTC
    assert found["enrichment"] == [
        {
            "table": "devices",
            "key_field": "device_id",
            "key": "dev-0001",
            "found": True,
            "fields": {"site": "plant-03", "model": "PX-310"},
        }
    ]
    assert found["output"] == {**VALID, "site": "plant-03", "model": "PX-310"}


def test_a_rejected_record_on_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _stdin(monkeypatch, orjson.dumps({**TOO_HIGH, "device_id": "dev-9999x"}))
    status, found = _explain([], capsys)
    assert status == 1
    assert found["outcome"] == "ProcessingFailed" and found["partition"] is None and found["output"] is None
    first = found["failures"][0]
    assert first["rule"] in ("$.device_id|pattern", "$.value|maximum")  # the engine's deciding rule comes first
    assert {f["rule"] for f in found["failures"]} == {"$.value|maximum", "$.device_id|pattern"}
    assert found["enrichment"][0]["found"] is False


def test_the_text_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _stdin(monkeypatch, orjson.dumps({**TOO_HIGH, "device_id": "dev-9999"}))
    assert main(["explain", "--spec", SPEC]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "outcome     ProcessingFailed"
    assert out[1].startswith("failing     ") and out[1].endswith("; the first decides the outcome")
    assert any(line.strip() == "$.value|maximum  $.value: must be at most 1000" for line in out)
    assert 'enrichment  devices: device_id "dev-9999" is not in the table (its fields are null)' in out


def test_a_dropped_record(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _stdin(monkeypatch, orjson.dumps({**VALID, "event_type": "heartbeat"}))
    assert main(["explain", "--spec", SPEC]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "outcome     Dropped (drop: event_type is one of heartbeat)"


def test_a_processing_failed_line_and_its_raw_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = base64.b64encode(orjson.dumps(TOO_HIGH)).decode()
    line = {"attemptsMade": 4, "arrivalTimestamp": 1764633600000, "errorCode": "Lambda.ProcessingFailed", "rawData": data}
    failed = tmp_path / "processing-failed.json"
    failed.write_bytes(orjson.dumps(line) + b"\n")
    from_line = _explain([str(failed)], capsys)
    from_base64 = _explain(["--base64", data], capsys)
    assert from_line == from_base64
    assert from_line[0] == 1 and from_line[1]["failures"][0]["rule"] == "$.value|maximum"


def test_one_line_of_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = tmp_path / "records.ndjson"
    records.write_bytes(orjson.dumps(VALID) + b"\n" + orjson.dumps(TOO_HIGH) + b"\n")
    assert _explain([str(records), "--line", "1"], capsys)[1]["outcome"] == "Ok"
    assert _explain([str(records), "--line", "2"], capsys)[1]["outcome"] == "ProcessingFailed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["records.ndjson"], "records.ndjson: holds 2 lines of records: choose one with --line N"),
        (["records.ndjson", "--line", "3"], "records.ndjson: has 2 lines: --line 3 is past the end"),
        (["missing.json"], "missing.json: no such file"),
        (["records.ndjson", "--base64", "e30="], "--base64 takes the record itself"),
    ],
)
def test_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "records.ndjson").write_bytes(orjson.dumps(VALID) + b"\n" + orjson.dumps(TOO_HIGH) + b"\n")
    assert main(["explain", "--spec", SPEC, *args]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_failing_reasons_lists_every_rule_the_deciding_one_first() -> None:
    reference = ReferencePipeline(load_spec(SPEC))
    data = base64.b64encode(orjson.dumps({**TOO_HIGH, "device_id": "dev-9999x", "seq": -1})).decode()
    reasons = failing_reasons(reference, data, None)
    assert reasons[0] == reference.process_record(data, None).reason
    assert {rule_id(reason) for reason in reasons} == {"$.device_id|pattern", "$.seq|minimum", "$.value|maximum"}
    assert failing_reasons(reference, "not base64!", None) == ["$: record data is not valid base64 (base64)"]
    assert failing_reasons(reference, base64.b64encode(orjson.dumps(VALID)).decode(), None) == []
    assert with_deciding("$: x (type)", ["$: x, worded otherwise (type)", "$.b: y (required)"]) == [
        "$: x (type)",
        "$.b: y (required)",
    ]
