"""What the local stream sends (the generator's event shapes), how it checks answers, the error lines it writes."""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers.lake import EXAMPLE
from tests.local.delivery_fakes import Clock, InProcessLambda
from transform_core import Pipeline, PipelineSpec, load_spec
from transform_core.demo.generate import DEFAULT_START_MS, firehose_event, iot_payloads
from transform_core.local.delivery import LocalFirehose
from transform_core.local.delivery_config import BufferingHints, DeliverySettings
from transform_core.local.delivery_records import (
    FIREHOSE_ERROR_FIELDS,
    ResponseRejected,
    check_response,
    error_line,
    source_record,
)

# The guide's example of a processing-failed record ("Handle failure in data transformation"), field for field.
GUIDE_EXAMPLE = (
    '{"attemptsMade": "count", "arrivalTimestamp": "timestamp", "errorCode": "code", "errorMessage": "message", '
    '"attemptEndingTimestamp": "timestamp", "rawData": "data", "lambdaArn": "arn"}'
)
IDS = re.compile(r"[0-9]{56}")


@pytest.fixture(scope="module")
def spec() -> PipelineSpec:
    return load_spec(EXAMPLE)


def ids_out(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its generated ids (recordId, sequence number, shard, partition key, invocationId) blanked, after
    checking each is of the generator's form."""
    event = copy.deepcopy(event)
    assert re.fullmatch(r"[0-9a-f-]{36}", event.pop("invocationId"))
    for record in event["records"]:
        assert IDS.fullmatch(record["recordId"])
        record["recordId"] = "id"
        metadata = record.get("kinesisRecordMetadata")
        if metadata is not None:
            assert metadata["sequenceNumber"] == "id" or IDS.fullmatch(metadata["sequenceNumber"])
            assert re.fullmatch(r"shardId-[0-9]{12}", metadata["shardId"]) and metadata["partitionKey"]
            metadata.update(sequenceNumber="id", shardId="shard", partitionKey="key")
    return event


@pytest.mark.parametrize("source", ["direct-put", "kinesis"])
def test_the_event_is_the_generators_for_the_same_records(
    spec: PipelineSpec, pipeline: Pipeline, tmp_path: Path, source: str
) -> None:
    payloads = iot_payloads(30, 0.2, seed=11)
    function = InProcessLambda(pipeline)
    settings = DeliverySettings(spec=spec, lake=str(tmp_path), source=source, stream_name="iot-telemetry")  # type: ignore[arg-type]
    firehose = LocalFirehose(settings, function, clock=Clock())
    for i, payload in enumerate(payloads):
        firehose.put(payload.data, arrival_ms=DEFAULT_START_MS + i)
    firehose.close()
    (sent,) = function.decoded()
    expected = firehose_event(payloads, kinesis_source=source == "kinesis")
    if source == "kinesis":
        expected["sourceKinesisStreamArn"] = settings.kinesis_stream_arn  # the generator names its own stream
    assert json.dumps(ids_out(sent)) == json.dumps(ids_out(expected))  # same keys, same order, same values
    assert len({record["recordId"] for record in sent["records"]}) == len(payloads)


def response(*entries: dict[str, Any]) -> bytes:
    return orjson.dumps({"records": list(entries)})


def entry(record_id: str, result: str = "Ok", data: str = "e30K", **more: Any) -> dict[str, Any]:
    return {"recordId": record_id, "result": result, "data": data, **more}


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"not json", "Lambda.JsonProcessingException"),
        (b'{"Records": []}', "Lambda.JsonProcessingException"),
        (response(entry("a"), {"recordId": "b", "result": "Ok"}), "Lambda.JsonProcessingException"),
        (response(entry("a"), entry("b", "Kept")), "Lambda.JsonProcessingException"),
        (response(entry("a"), entry("b", data="***")), "Lambda.JsonProcessingException"),
        (response(entry("a"), entry("b", metadata={"partitionKeys": {"year": 2026}})), "Lambda.JsonProcessingException"),
        (response(entry("a"), entry("a")), "Lambda.DuplicatedRecordId"),
        (response(entry("a")), "Lambda.MissingRecordId"),
        (response(entry("a"), entry("c")), "Lambda.MissingRecordId"),
        (response(entry("a"), entry("b"), entry("c")), "Lambda.MissingRecordId"),
    ],
)
def test_a_response_breaking_the_status_model_is_rejected_with_firehoses_code(payload: bytes, code: str) -> None:
    with pytest.raises(ResponseRejected) as caught:
        check_response(payload, ["a", "b"])
    assert caught.value.code == code


def test_answers_come_back_in_the_requests_order_with_their_data_and_keys() -> None:
    keys = {"year": "2026", "month": "11", "day": "24"}
    payload = response(
        entry("b", "Dropped"), entry("a", data=base64.b64encode(b"{}\n").decode(), metadata={"partitionKeys": keys})
    )
    (a, b) = check_response(payload, ["a", "b"])
    assert (a.record_id, a.result, a.data, a.partition_keys) == ("a", "Ok", b"{}\n", keys)
    assert (b.record_id, b.result, b.partition_keys) == ("b", "Dropped", None)


def test_an_error_line_has_the_guides_fields_in_the_guides_order() -> None:
    record = source_record(b'{"x":1}', 1_795_824_000_123, 7, kinesis=True, partition_key="k")
    line = error_line(record, code="Lambda.FunctionError", attempts=4, ending_ms=1_795_824_060_000, lambda_arn="arn:l")
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    written = json.loads(line)
    assert list(written) == list(json.loads(GUIDE_EXAMPLE)) == list(FIREHOSE_ERROR_FIELDS)
    assert written == {
        "attemptsMade": 4,
        "arrivalTimestamp": 1_795_824_000_123,
        "errorCode": "Lambda.FunctionError",
        "errorMessage": "The Lambda function was successfully invoked but it returned an error result.",
        "attemptEndingTimestamp": 1_795_824_060_000,
        "rawData": base64.b64encode(b'{"x":1}').decode(),
        "lambdaArn": "arn:l",
    }


def test_record_ids_are_unique_and_kinesis_metadata_follows_the_partition_key() -> None:
    one = source_record(b"a", 1_795_824_000_000, 1, kinesis=True, partition_key="device-1")
    two = source_record(b"a", 1_795_824_000_000, 2, kinesis=True, partition_key="device-1")
    assert one.record_id != two.record_id and IDS.fullmatch(one.record_id)
    assert one.kinesis is not None and two.kinesis is not None
    assert one.kinesis.shard_id == two.kinesis.shard_id and one.kinesis.sequence_number == one.record_id
    assert source_record(b"a", 1, 1, kinesis=False, partition_key=None).kinesis is None


def test_the_processor_buffer_counts_record_data(spec: PipelineSpec, pipeline: Pipeline, tmp_path: Path) -> None:
    function = InProcessLambda(pipeline)
    settings = DeliverySettings(spec=spec, lake=str(tmp_path), processor_buffer=BufferingHints(0.2, 60))
    firehose = LocalFirehose(settings, function, clock=Clock())
    record = b"x" * 1000
    for _ in range(300):
        firehose.put(record)
    firehose.close()
    sizes = [sum(len(base64.b64decode(r["data"])) for r in event["records"]) for event in function.decoded()]
    limit = settings.processor_buffer.size_bytes
    assert sizes[:-1] == [limit // 1000 * 1000] * (len(sizes) - 1) and sum(sizes) == 300_000
