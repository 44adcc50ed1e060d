"""Events that are not Firehose transformation events, each with the exact message refusing it must give.

Both ways into the engine (``RecordBatch.from_firehose_event`` for the managed handler, ``from_event_bytes`` for the
Runtime API loop) are held to the same cases. The wrong triggers are captured-style files in
``tests/events/not_firehose/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest

WRONG_TRIGGERS = Path(__file__).resolve().parents[1] / "events" / "not_firehose"
PREFIX = "not a Firehose transformation event"
PROCESSOR = "this function must be the delivery stream's processor"
NO_ENVELOPE = 'no "invocationId" string; no "deliveryStreamArn" string; no "region" string'
ENVELOPE: dict[str, Any] = {
    "invocationId": "00000000-1111-4222-8333-444444444444",
    "deliveryStreamArn": "arn:aws:firehose:eu-west-1:123456789012:deliverystream/iot-telemetry",
    "region": "eu-west-1",
}
RECORD: dict[str, Any] = {"recordId": "r0", "approximateArrivalTimestamp": 1_795_824_000_000, "data": "e30="}


class Refusal(NamedTuple):
    """An event (any JSON value) and the whole message of the ValueError that refuses it."""

    event: Any
    message: str

    def body(self) -> bytes:
        return json.dumps(self.event).encode()


def firehose_event(records: Any, **fields: Any) -> dict[str, Any]:
    """A Firehose event's envelope around ``records`` (which need not be a list); ``fields`` replace envelope fields."""
    return {**ENVELOPE, **fields, "records": records}


def _wrong_trigger(name: str, keys: str) -> Any:
    event = json.loads((WRONG_TRIGGERS / name).read_text(encoding="utf-8"))
    return pytest.param(Refusal(event, f'{PREFIX}: no "records" list; {NO_ENVELOPE} (keys: {keys}); {PROCESSOR}'), id=name)


REFUSALS: list[Any] = [
    _wrong_trigger("s3_put.json", "Records"),
    _wrong_trigger("sqs.json", "Records"),
    _wrong_trigger("kinesis_stream.json", "Records"),
    _wrong_trigger(
        "api_gateway_rest.json",
        "resource, path, httpMethod, headers, multiValueHeaders, queryStringParameters, multiValueQueryStringParameters, "
        "pathParameters, stageVariables, requestContext, body, isBase64Encoded",
    ),
    _wrong_trigger(
        "api_gateway_http.json", "version, routeKey, rawPath, rawQueryString, headers, requestContext, body, isBase64Encoded"
    ),
    pytest.param(Refusal({}, f'{PREFIX}: no "records" list; {NO_ENVELOPE} (keys: none); {PROCESSOR}'), id="empty-object"),
    pytest.param(Refusal([], f"{PREFIX}: the event is an array, not a JSON object; {PROCESSOR}"), id="array"),
    pytest.param(Refusal(None, f"{PREFIX}: the event is null, not a JSON object; {PROCESSOR}"), id="null"),
    pytest.param(Refusal("records", f"{PREFIX}: the event is a string, not a JSON object; {PROCESSOR}"), id="string"),
    pytest.param(Refusal(7, f"{PREFIX}: the event is a number, not a JSON object; {PROCESSOR}"), id="number"),
    pytest.param(
        Refusal({"records": [RECORD]}, f"{PREFIX}: {NO_ENVELOPE} (keys: records); {PROCESSOR}"), id="records-without-envelope"
    ),
    pytest.param(
        Refusal(
            {"invocationId": 12, "deliveryStreamArn": None, "region": "eu-west-1", "records": []},
            f'{PREFIX}: "invocationId" is a number, not a string; "deliveryStreamArn" is null, not a string '
            f"(keys: invocationId, deliveryStreamArn, region, records); {PROCESSOR}",
        ),
        id="envelope-of-the-wrong-types",
    ),
    pytest.param(
        Refusal(
            firehose_event(None),
            f'{PREFIX}: "records" is null, not a list (keys: invocationId, deliveryStreamArn, region, records); {PROCESSOR}',
        ),
        id="records-null",
    ),
    pytest.param(
        Refusal(
            firehose_event({"r0": RECORD}),
            f'{PREFIX}: "records" is an object, not a list (keys: invocationId, deliveryStreamArn, region, records); {PROCESSOR}',
        ),
        id="records-an-object",
    ),
    pytest.param(
        Refusal(
            {f"key{i}": i for i in range(14)},
            f'{PREFIX}: no "records" list; {NO_ENVELOPE} (keys: {", ".join(f"key{i}" for i in range(12))}, ...); {PROCESSOR}',
        ),
        id="many-keys-are-cut",
    ),
    pytest.param(
        Refusal(firehose_event([RECORD, 1]), f"{PREFIX}: record 1 is a number, not an object"), id="record-not-an-object"
    ),
    pytest.param(
        Refusal(firehose_event([RECORD, [RECORD]]), f"{PREFIX}: record 1 is an array, not an object"), id="record-an-array"
    ),
    pytest.param(
        Refusal(
            firehose_event([RECORD, RECORD, {"data": "e30=", "approximateArrivalTimestamp": 1}]),
            f"{PREFIX}: record 2 has no recordId; Firehose sends one with every record",
        ),
        id="record-without-recordId",
    ),
    pytest.param(
        Refusal(
            firehose_event([RECORD, {**RECORD, "recordId": None}]),
            f"{PREFIX}: record 1 has recordId None; Firehose sends UTF-8 strings",
        ),
        id="recordId-null",
    ),
    pytest.param(
        Refusal(
            firehose_event([{"recordId": "k", "data": "e30=", "kinesisRecordMetadata": ["shardId-000000000000"]}]),
            f"{PREFIX}: record 0's kinesisRecordMetadata is an array, not an object",
        ),
        id="kinesis-metadata-an-array",
    ),
]
