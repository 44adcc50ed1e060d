"""RecordBatch.from_event_bytes: exactly the general path ``from_firehose_event(json.loads(body))``, only faster.

Events are written as *text*, so that spellings the parsers disagree on (duplicate keys, escaped keys, NaN, big
numbers, lone surrogates, BOMs, UTF-16, bad UTF-8 where the fast path does not look) reach both paths.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transform_core.demo.generate import firehose_batches, firehose_event, iot_payloads
from transform_core.firehose.batch import RecordBatch
from transform_core.firehose.event_bytes import read_columns

EVENTS = Path(__file__).resolve().parents[1] / "events"


def general_path(body: bytes) -> RecordBatch:
    return RecordBatch.from_firehose_event(json.loads(body))


def assert_same_as_general_path(body: bytes) -> None:
    """Both paths give the same batch (repr: 1 vs 1.0 vs True and nan count), or both reject the body."""
    try:
        expected = general_path(body)
    except Exception:
        with pytest.raises(ValueError):
            RecordBatch.from_event_bytes(body)
        return
    assert repr(RecordBatch.from_event_bytes(body)) == repr(expected)


def dumps(event: Any, style: str) -> bytes:
    if style == "compact":
        return json.dumps(event, separators=(",", ":")).encode()
    if style == "indented":
        return json.dumps(event, indent=2).encode()
    if style == "raw-unicode":
        return json.dumps(event, ensure_ascii=False).encode()
    return json.dumps(event).encode()


STYLES = ("default", "compact", "indented", "raw-unicode")


# --- ordinary events: the fast path answers, and answers exactly -------------------------------------------------


@given(
    n=st.integers(0, 60),
    invalid=st.sampled_from((0.0, 0.02, 0.5, 1.0)),
    seed=st.integers(0, 2**16),
    kinesis=st.booleans(),
    style=st.sampled_from(STYLES),
)
def test_generated_events_take_the_fast_path_and_equal_the_general_path(
    n: int, invalid: float, seed: int, kinesis: bool, style: str
) -> None:
    body = dumps(firehose_event(iot_payloads(n, invalid, seed), kinesis_source=kinesis), style)
    assert read_columns(body) is not None
    assert RecordBatch.from_event_bytes(body) == general_path(body)


@given(seed=st.integers(0, 2**16), kinesis=st.booleans(), max_bytes=st.integers(300, 5_000))
def test_every_event_of_a_buffered_stream_equals_the_general_path(seed: int, kinesis: bool, max_bytes: int) -> None:
    for event in firehose_batches(iot_payloads(40, 0.1, seed), max_bytes, kinesis_source=kinesis):
        body = json.dumps(event).encode()
        assert RecordBatch.from_event_bytes(body) == general_path(body)


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("*.json")))
def test_captured_events_equal_the_general_path(name: str) -> None:
    assert_same_as_general_path((EVENTS / name).read_bytes())


def test_a_unicode_partition_key_keeps_the_fast_path() -> None:
    event = firehose_event(iot_payloads(5, seed=1), kinesis_source=True)
    event["records"][0]["kinesisRecordMetadata"]["partitionKey"] = "Gerät-été-😀"
    body = json.dumps(event, ensure_ascii=False).encode()
    assert not body.isascii()
    assert read_columns(body) is not None
    assert RecordBatch.from_event_bytes(body) == general_path(body)


def test_kinesis_metadata_arrival_is_used_when_firehose_sends_none() -> None:
    event = firehose_event(iot_payloads(3, seed=2), kinesis_source=True)
    for record in event["records"]:
        del record["approximateArrivalTimestamp"]
    body = json.dumps(event).encode()
    batch = RecordBatch.from_event_bytes(body)
    assert batch == general_path(body)
    assert batch.arrival_ms == [r["approximateArrivalTimestamp"] for r in firehose_event(iot_payloads(3, seed=2))["records"]]


# --- odd events, written by hand --------------------------------------------------------------------------------

# A Firehose event's envelope, written into each odd body after its first brace (the bodies show only what is odd).
ENVELOPE_TEXT = (
    '"invocationId":"inv-1","deliveryStreamArn":"arn:aws:firehose:eu-west-1:123456789012:deliverystream/s","region":"eu-west-1",'
)


def enveloped(body: bytes) -> bytes:
    return body.replace(b"{", b"{" + ENVELOPE_TEXT.encode(), 1)


ODD_BODIES = {
    "bom": b'\xef\xbb\xbf{"records":[{"recordId":"a","approximateArrivalTimestamp":1,"data":"eA=="}]}',
    "utf16": ("{" + ENVELOPE_TEXT + '"records":[{"recordId":"a","approximateArrivalTimestamp":1,"data":"eA=="}]}').encode(
        "utf-16"
    ),
    "whitespace": b' \r\n\t{ "records" :\n[ {"recordId" : "a" ,"approximateArrivalTimestamp":1 } ] }\n',
    "escaped-keys": b'{"rec\\u006frds":[{"record\\u0049d":"\\u0061","approximateArrivalTimestamp":1,"d\\u0061ta":"x"}]}',
    "duplicate-records": b'{"records":[{"recordId":"a","approximateArrivalTimestamp":1}],"records":[]}',
    "duplicate-field": b'{"records":[{"recordId":"a","recordId":"b","data":5,"data":"y","approximateArrivalTimestamp":1}]}',
    "duplicate-invalid-last": b'{"records":[{"recordId":"a","data":"y","data":null,"approximateArrivalTimestamp":1}]}',
    "nan-elsewhere": b'{"y":NaN,"x":-Infinity,"records":[{"recordId":"a","approximateArrivalTimestamp":1}]}',
    "source-stream-arn": b'{"sourceKinesisStreamArn":"arn:aws:kinesis:eu-west-1:1:stream/s","records":[]}',
    "escaped-envelope-key": b'{"regio\\u006e":"eu-west-2","records":[]}',
    "envelope-last-duplicate-wins": b'{"region":null,"region":"eu-west-2","records":[]}',
    "big-numbers-elsewhere": b'{"x":1e400,"y":123456789012345678901234567890,"records":[]}',
    "lone-surrogate-id": b'{"records":[{"recordId":"\\ud800","approximateArrivalTimestamp":1}]}',
    "encoded-surrogate-elsewhere": b'{"x":"\xed\xa0\x80","records":[]}',
    "encoded-surrogate-id": b'{"records":[{"recordId":"\xed\xa0\x80","approximateArrivalTimestamp":1}]}',
    "records-null": b'{"records":null}',
    "records-zero": b'{"records":0}',
    "records-empty-object": b'{"records":{}}',
    "records-absent": b'{"invocationId":"x"}',
    "data-null": b'{"records":[{"recordId":"a","data":null,"approximateArrivalTimestamp":1}]}',
    "data-number": b'{"records":[{"recordId":"a","data":12,"approximateArrivalTimestamp":1}]}',
    "data-absent": b'{"records":[{"recordId":"a","approximateArrivalTimestamp":1}]}',
    "record-id-number": b'{"records":[{"recordId":7,"approximateArrivalTimestamp":1}]}',
    "arrival-float": b'{"records":[{"recordId":"a","approximateArrivalTimestamp":1.7e12}]}',
    "arrival-exponent": b'{"records":[{"recordId":"a","approximateArrivalTimestamp":1e3}]}',
    "arrival-huge": b'{"records":[{"recordId":"a","approximateArrivalTimestamp":1000000000000001}]}',
    "arrival-edge": b'{"records":[{"recordId":"a","approximateArrivalTimestamp":-1000000000000000}]}',
    "arrival-bool": b'{"records":[{"recordId":"a","approximateArrivalTimestamp":true}]}',
    "arrival-null-kinesis-iso": (
        b'{"records":[{"recordId":"a","approximateArrivalTimestamp":null,'
        b'"kinesisRecordMetadata":{"approximateArrivalTimestamp":"2026-11-28T00:00:00.123+01:00"}}]}'
    ),
    "kinesis-ms-string": b'{"records":[{"recordId":"a","kinesisRecordMetadata":{"approximateArrivalTimestamp":"1795824000000"}}]}',
    "kinesis-falsy": b'{"records":[{"recordId":"a","kinesisRecordMetadata":0}]}',
    "kinesis-list": b'{"records":[{"recordId":"a","kinesisRecordMetadata":[1]}]}',
    # refused by both paths (REFUSED lists these and the refused ones above)
    "envelope-field-null": b'{"region":null,"records":[]}',
    "envelope-field-number": b'{"records":[],"deliveryStreamArn":5}',
    "envelope-last-duplicate-invalid": b'{"invocationId":"a","invocationId":7,"records":[]}',
    "bad-utf8-elsewhere": b'{"x":"\xff","records":[]}',
    "bad-utf8-in-metadata": b'{"records":[{"recordId":"a","approximateArrivalTimestamp":1,"kinesisRecordMetadata":{"k":"\xc0\x80"}}]}',
    "bad-escape-elsewhere": b'{"x":"\\q","records":[]}',
    "trailing-comma": b'{"records":[],}',
    "trailing-data": b'{"records":[]} {}',
    "deep-nesting": b'{"x":' + b"[" * 5000 + b"]" * 5000 + b',"records":[]}',
    "record-not-object": b'{"records":[1]}',
    "record-without-id": b'{"records":[{"data":"x","approximateArrivalTimestamp":1}]}',
}


REFUSED = {
    "lone-surrogate-id", "encoded-surrogate-id", "records-null", "records-zero", "records-empty-object", "records-absent",
    "record-id-number", "kinesis-list", "envelope-field-null", "envelope-field-number", "envelope-last-duplicate-invalid",
    "bad-utf8-elsewhere", "bad-utf8-in-metadata", "bad-escape-elsewhere", "trailing-comma", "trailing-data",
    "deep-nesting", "record-not-object", "record-without-id",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ODD_BODIES))
def test_odd_events_equal_the_general_path(name: str) -> None:
    body = ODD_BODIES[name] if name == "utf16" else enveloped(ODD_BODIES[name])
    assert_same_as_general_path(body)
    try:  # the event is what the case says: an odd Firehose event, or no Firehose event at all
        general_path(body)
    except (ValueError, RecursionError):  # json.loads gives up on deep nesting with a RecursionError
        assert name in REFUSED
    else:
        assert name not in REFUSED


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not JSON"),
        (b"not json", "not JSON"),
        (b'{"records":[', "not JSON"),
        (b'{"x":"\xff","records":[]}', "not JSON"),
        (b"[]", "is an array, not a JSON object"),
        (b"null", "is null, not a JSON object"),
        (b"1.5", "is a number, not a JSON object"),
        (b'{"Records":[{"eventSource":"aws:sqs"}]}', 'not a Firehose transformation event: no "records" list;'),
        (enveloped(b'{"records":[1]}'), "^not a Firehose transformation event: record 0 is a number, not an object$"),
        (enveloped(b'{"records":[{"data":"x"}]}'), "^not a Firehose transformation event: record 0 has no recordId;"),
        (enveloped(b'{"records":"abc"}'), '^not a Firehose transformation event: "records" is a string, not a list '),
    ],
)
def test_a_body_that_is_not_a_firehose_event_raises_a_clear_value_error(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RecordBatch.from_event_bytes(body)


# --- adversarial events, generated as text ------------------------------------------------------------------------

VALUE_TEXTS = (
    "0", "-0", "1", "-1", "1.0", "1e3", "1E3", "1.5e12", "1795824000000", "1795824000000.0", "1000000000000000",
    "1000000000000001", "-1000000000000000", "9223372036854775808", "1e400", "-1e400", "NaN", "Infinity", "true", "false",
    "null", "[]", "{}", "[1]", '{"a":1}', '""', '"x"', '"eA=="', '"\\u00e9"', '"é"', '"\\ud800"', '"\\ud83d\\ude00"',
    '"1795824000000"', '" 12 "', '"2026-11-28T00:00:00Z"', '"2026-11-28T00:00:00.5+05:30"', '"2026-11-28T00:00:00"',
    '"yesterday"', '"nan"',
)  # fmt: skip
KEYS = ("recordId", "data", "approximateArrivalTimestamp", "kinesisRecordMetadata", "extra", "record\\u0049d")
WHITESPACE = st.sampled_from(("", "", "", " ", "\n", "\t", "\r\n  "))


@st.composite
def object_text(draw: st.DrawFn, pairs: list[tuple[str, str]]) -> str:
    ws = draw(WHITESPACE)
    return "{" + ",".join(f'{ws}"{k}"{ws}:{ws}{v}' for k, v in pairs) + ws + "}"


@st.composite
def record_text(draw: st.DrawFn, index: int) -> str:
    pairs = [("recordId", f'"r{index}"'), ("approximateArrivalTimestamp", str(1_795_824_000_000 + index)), ("data", '"eA=="')]
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(("drop", "set", "add", "metadata")))
        if action == "drop" and pairs:
            pairs.pop(draw(st.integers(0, len(pairs) - 1)))
        elif action == "metadata":
            inner = draw(st.sampled_from(VALUE_TEXTS))
            pairs.append(("kinesisRecordMetadata", draw(object_text([("approximateArrivalTimestamp", inner)]))))
        else:
            key, value = draw(st.sampled_from(KEYS)), draw(st.sampled_from(VALUE_TEXTS))
            if action == "set":
                pairs = [(k, v) for k, v in pairs if k != key]
            pairs.append((key, value))  # "add" may duplicate a key: the last one wins
    return draw(object_text(pairs))


@st.composite
def event_body(draw: st.DrawFn) -> bytes:
    records = [draw(record_text(i)) for i in range(draw(st.integers(0, 4)))]
    records_text = "[" + ",".join(records) + "]" if draw(st.integers(0, 9)) else draw(st.sampled_from(VALUE_TEXTS))
    envelope = [("invocationId", '"inv-1"'), ("deliveryStreamArn", '"arn:aws:firehose:eu-west-1:1:deliverystream/s"')]
    envelope.append(("region", '"eu-west-1"'))
    if not draw(st.integers(0, 9)):  # now and then an envelope field is missing, or not a string
        envelope.pop(draw(st.integers(0, 2)))
    if not draw(st.integers(0, 9)):
        envelope.append((draw(st.sampled_from(("deliveryStreamArn", "region"))), draw(st.sampled_from(VALUE_TEXTS))))
    pairs = [*envelope, ("records", records_text)]
    if draw(st.booleans()):
        pairs.insert(draw(st.integers(0, 2)), ("extra", draw(st.sampled_from(VALUE_TEXTS))))
    text = draw(object_text(pairs))
    body = text.encode("utf-8", "surrogatepass")
    encoding = draw(st.sampled_from(("utf-8", "utf-8", "utf-8", "bom", "utf-16", "bad-byte")))
    if encoding == "bom":
        return b"\xef\xbb\xbf" + body
    if encoding == "utf-16":
        return text.encode("utf-16")
    if encoding == "bad-byte":
        return body.replace(b'"inv-1"', b'"inv-\xff"')
    return body


@given(event_body())
def test_adversarial_events_equal_the_general_path(body: bytes) -> None:
    assert_same_as_general_path(body)
