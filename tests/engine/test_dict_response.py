"""``Pipeline.handle_firehose``: the response as a dict stays under Lambda's 6 MB as the runtime serializes it
(``json.dumps``: ``", "`` and ``": "`` separators, non-ASCII escaped), not only as compact bytes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.helpers.specs import IOT_SPEC
from transform_core import load_pipeline
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.engine import Pipeline
from transform_core.firehose.dict_response import escape_bound, separator_bound
from transform_core.firehose.outcomes import OK
from transform_core.firehose.response import LAMBDA_RESPONSE_LIMIT

RECORDS = 9120  # the example's valid records: a compact response just under 6 MB, over it as json.dumps writes it


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return load_pipeline(IOT_SPEC)


@pytest.fixture(scope="module")
def full_buffer() -> dict[str, Any]:
    valid = [p for p in iot_payloads(12_000, invalid_fraction=0, seed=5) if p.kind == "valid"]
    return firehose_event(valid[:RECORDS])


def check_dict_response(pipeline: Pipeline, event: dict[str, Any]) -> dict[str, Any]:
    """The dict's default serialization is under the limit, and every record is answered once, in order."""
    response = pipeline.handle_firehose(event)
    assert len(json.dumps(response).encode()) < LAMBDA_RESPONSE_LIMIT
    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in event["records"]]
    return response


def test_a_full_buffer_fits_as_the_runtime_serializes_the_dict(pipeline: Pipeline, full_buffer: dict[str, Any]) -> None:
    compact = pipeline.process_firehose(full_buffer)
    assert compact.ok == RECORDS and len(compact.body) < LAMBDA_RESPONSE_LIMIT  # the bytes path fits as it is
    assert len(json.dumps(json.loads(compact.body))) > LAMBDA_RESPONSE_LIMIT  # the same response as a dict would not

    response = check_dict_response(pipeline, full_buffer)

    entries, sent = response["records"], full_buffer["records"]
    kept = sum(e["result"] == OK for e in entries)
    assert 0 < RECORDS - kept < RECORDS // 5  # the trailing Ok records are shed, no more than needed
    assert entries[:kept] == json.loads(compact.body)["records"][:kept]
    shed = zip(entries[kept:], sent[kept:], strict=True)
    assert all(e["result"] == "ProcessingFailed" and e["data"] == s["data"] for e, s in shed)


def test_non_ascii_returned_as_sent_is_budgeted_for_its_escapes(pipeline: Pipeline, full_buffer: dict[str, Any]) -> None:
    # records whose data is not base64 come back as sent: json.dumps writes each "é" as \u00e9, six bytes for two
    odd = [{"recordId": f"odd-{i}", "data": "é" * 5_000, "approximateArrivalTimestamp": 0} for i in range(10)]
    event = {**full_buffer, "records": odd + full_buffer["records"][: RECORDS - 400]}

    response = check_dict_response(pipeline, event)

    assert [e["data"] for e in response["records"][:10]] == [r["data"] for r in odd]
    assert sum(e["result"] == OK for e in response["records"]) > RECORDS // 2


def test_the_bounds_hold_on_a_small_batch(pipeline: Pipeline) -> None:
    event = firehose_event(iot_payloads(200, invalid_fraction=0.2, seed=1))
    event["records"][0]["data"] = "Grüße \x7f 😀"  # not base64: returned as sent
    body = pipeline.process_firehose(event).body
    spaced = json.dumps(json.loads(body), ensure_ascii=False).encode()
    escaped = json.dumps(json.loads(body)).encode()
    assert 0 < len(spaced) - len(body) <= separator_bound(200, ["year", "month", "day"])
    assert 0 < len(escaped) - len(spaced) <= escape_bound(body)
    every_ok = firehose_event([p for p in iot_payloads(50, invalid_fraction=0, seed=2) if p.kind == "valid"])
    ok_body = pipeline.process_firehose(every_ok).body
    assert len(json.dumps(json.loads(ok_body))) - len(ok_body) == separator_bound(len(every_ok["records"]), ["y", "m", "d"])
    assert escape_bound(ok_body) == 0 and escape_bound(base64.b64encode("é".encode())) == 0
