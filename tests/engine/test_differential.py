"""The engine agrees with the per-record reference implementation, record for record.

Same result, same returned data (byte for byte), same partition keys, for adversarial batches
under several specs; and every rejection carries a reason naming a JSON path and a rule.
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings

from tests.helpers.agreement import assert_agree
from tests.helpers.specs import SPECS
from tests.helpers.strategies import batches
from transform_core import RecordBatch
from transform_core.demo.generate import firehose_event, iot_payloads


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=batches())
def test_engine_agrees_with_reference(name: str, batch: RecordBatch) -> None:
    assert_agree(name, batch)


@pytest.mark.parametrize("invalid_fraction", [0.0, 0.02, 0.5])
def test_generated_workload_agrees(invalid_fraction: float) -> None:
    event = firehose_event(iot_payloads(3000, invalid_fraction, seed=7))
    outcomes = assert_agree("iot-example", RecordBatch.from_firehose_event(event))
    assert outcomes["record_id"].to_list() == [r["recordId"] for r in event["records"]]


def test_ok_output_is_the_record_plus_enrichment() -> None:
    payload = b'{ "event_id": "3f1c2a9e-8d4b-4c7a-9b1e-2f3a4b5c6d7e", "device_id": "dev-0001", "seq": 1,\n'
    payload += b' "event_time": "2026-11-27T23:30:00-01:00", "event_type": "alert", "value": 1.50, "extra": "kept"}'
    batch = RecordBatch(record_ids=["a"], data=[base64.b64encode(payload).decode()], arrival_ms=[None])
    outcomes = assert_agree("iot-example", batch)
    row = outcomes.row(0, named=True)
    text = base64.b64decode(row["data"]).decode()
    assert text.endswith("}\n") and text.count("\n") == 1
    assert text.startswith('{"event_id":"3f1c2a9e-8d4b-4c7a-9b1e-2f3a4b5c6d7e","device_id":"dev-0001","seq":1,')
    assert '"value":1.50,"extra":"kept","site":' in text  # numbers as sent, extras kept, enrichment appended
    assert json.loads(text)["model"] is not None
    assert (row["year"], row["month"], row["day"]) == ("2026", "11", "28")  # 23:30-01:00 is the 28th in UTC


def test_enrichment_overwrites_a_same_named_property_in_place() -> None:
    payload = b'{"site":"mine","event_id":"3f1c2a9e-8d4b-4c7a-9b1e-2f3a4b5c6d7e","device_id":"dev-0001","seq":1,'
    payload += b'"event_time":"2026-11-27T10:00:00Z","event_type":"alert","value":1}'
    batch = RecordBatch(record_ids=["a"], data=[base64.b64encode(payload).decode()], arrival_ms=[None])
    text = base64.b64decode(assert_agree("iot-example", batch)["data"][0]).decode()
    assert list(json.loads(text))[:2] == ["site", "event_id"]
    assert json.loads(text)["site"] != "mine"
    assert text.count('"site"') == 1


@pytest.mark.parametrize("value", [b"1e308", b"-1e308", b"1.7976931348623157e308", b"1e300", b"253402300800"])
def test_an_epoch_too_large_for_microseconds_is_a_rejection_not_a_crash(value: bytes) -> None:
    # the record with a nested extra property is judged by the reference, whose arithmetic overflowed to inf
    plain = b'{"value":' + value + b"}"
    doubtful = b'{"value":' + value + b',"extra":{"nested":1}}'
    data = [base64.b64encode(p).decode() for p in (plain, doubtful)]
    outcomes = assert_agree("epoch-seconds", RecordBatch(record_ids=["a", "b"], data=data, arrival_ms=[None, None]))
    assert outcomes["result"].to_list() == ["ProcessingFailed"] * 2
    assert all(reason.startswith("$.value: ") and reason.endswith("(event_time)") for reason in outcomes["reason"])


@pytest.mark.parametrize(
    ("name", "field", "keys", "expected"),
    [
        # a string key is looked up in the main query (an Enum of the table's keys): only the exact string finds it
        (
            "exotic",
            "device_id",
            [b'"dev-0001"', b'"dev-9899"', b'"dev-9900"', b'"dev-\\u0030001"', b'"dev-9999"', b"null", b"7"],
            ["Ok", "Ok", "enrich", "Ok", "enrich", "type", "type"],
        ),
        # an integer key by a dict lookup: only a true integer finds it (not 2.0, true or 1e2)
        (
            "epoch-millis",
            "seq",
            [b"0", b"2", b"100", b"50", b"2.0", b"true", b"1e2", b"-0", b"-1"],
            ["Ok", "Ok", "Ok", "enrich", "enrich", "type", "enrich", "Ok", "enrich"],
        ),
    ],
)
def test_enrichment_keys_match_exactly(name: str, field: str, keys: list[bytes], expected: list[str]) -> None:
    # no other field the engine leaves to the reference (exotic's seq has a multipleOf)
    members = {"event_id": b'"3f1c2a9e-8d4b-4c7a-9b1e-2f3a4b5c6d7e"', "device_id": b'"dev-0001"', "value": b"1"}
    payloads = [
        b"{" + b",".join(b'"%s":%s' % (k.encode(), v) for k, v in (members | {field: key}).items()) + b"}" for key in keys
    ]
    batch = RecordBatch(
        record_ids=[str(i) for i in range(len(keys))],
        data=[base64.b64encode(p).decode() for p in payloads],
        arrival_ms=[1_764_000_000_000] * len(keys),
    )
    outcomes = assert_agree(name, batch)
    rules = [
        reason.rsplit("(", 1)[1].rstrip(")") if reason else result
        for result, reason in outcomes.select("result", "reason").rows()
    ]
    assert rules == expected
