"""What a local Firehose stream sends its processor, how it checks the answer, and the error records it writes.

- The transformation event is the guide's ("Transform source data in Amazon Data Firehose"): ``invocationId``,
  ``deliveryStreamArn``, ``region``, with a Kinesis source ``sourceKinesisStreamArn``, then ``records``, each
  ``recordId``, ``approximateArrivalTimestamp`` (epoch ms), ``data`` (base64) and, with a Kinesis source,
  ``kinesisRecordMetadata``; the same keys, in the same order, as :func:`transform_core.demo.generate.firehose_event`.
- The response is checked as the guide's status model says ("Required parameters for data transformation"):
  every record has ``recordId``, ``result`` (``Ok``, ``Dropped`` or ``ProcessingFailed``) and base64 ``data``, and
  every recordId of the request comes back exactly once; otherwise the whole batch fails with
  ``Lambda.JsonProcessingException``, ``Lambda.DuplicatedRecordId`` or ``Lambda.MissingRecordId``.
- A failed record is written to the error output as the guide's line ("Handle failure in data transformation"):
  ``attemptsMade``, ``arrivalTimestamp``, ``errorCode``, ``errorMessage``, ``attemptEndingTimestamp``,
  ``rawData`` (base64), ``lambdaArn``, in that order; numbers as JSON numbers.
"""

from __future__ import annotations

import base64
import binascii
import uuid
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import orjson

from transform_core.demo.generate import RECORD_ID_PREFIX, firehose_record
from transform_core.firehose.outcomes import DROPPED, FAILED, OK, Result
from transform_core.local.delivery_config import DeliverySettings

__all__ = [
    "ERROR_MESSAGES",
    "FIREHOSE_ERROR_FIELDS",
    "ErrorOutputType",
    "KinesisMetadata",
    "RecordOutcome",
    "ResponseRejected",
    "SourceRecord",
    "check_response",
    "conversion_failed_line",
    "error_line",
    "kinesis_shard",
    "transformation_event",
]

#: The fields of a ``processing-failed`` line, in the guide's order.
FIREHOSE_ERROR_FIELDS = (
    "attemptsMade",
    "arrivalTimestamp",
    "errorCode",
    "errorMessage",
    "attemptEndingTimestamp",
    "rawData",
    "lambdaArn",
)
ErrorOutputType = Literal["processing-failed", "format-conversion-failed", "partitioning-failed"]

#: errorCode -> errorMessage, as Firehose writes them (its CloudWatch Logs error list and processing-failed objects).
ERROR_MESSAGES = {
    "Lambda.ProcessingFailedStatus": "ProcessingFailed status set for record",
    "Lambda.FunctionError": "The Lambda function was successfully invoked but it returned an error result.",
    "Lambda.RequestTooLargeException": "The request to the Lambda function was larger than Lambda's 6 MB payload limit.",
    "Lambda.JsonProcessingException": (
        "There was an error parsing returned records from the Lambda function. Ensure that the returned records follow "
        "the status model required by Amazon Data Firehose."
    ),
    "Lambda.DuplicatedRecordId": (
        "Multiple records were returned with the same record ID. Ensure that the Lambda function returns unique record "
        "IDs for each record."
    ),
    "Lambda.MissingRecordId": (
        "One or more record IDs were not returned. Ensure that the Lambda function returns all received record IDs."
    ),
    "DynamicPartitioning.MetadataExtractionFailed": "The partition keys the S3 prefix needs are not in the record's metadata.",
    "DynamicPartitioning.ActivePartitionsLimitExceeded": "The stream has reached its limit of active partitions.",
    "DataFormatConversion.MalformedData": "The record does not match the Glue table's column types.",
}
_RESULTS = (OK, DROPPED, FAILED)


class KinesisMetadata(NamedTuple):
    """A record's ``kinesisRecordMetadata``: where it sat in the source stream."""

    shard_id: str
    partition_key: str
    sequence_number: str


class SourceRecord(NamedTuple):
    """A record as the stream received it."""

    record_id: str
    data: bytes
    arrival_ms: int
    kinesis: KinesisMetadata | None


class RecordOutcome(NamedTuple):
    """The processor's answer for one record: its result, its data (decoded) and its partition keys."""

    record_id: str
    result: Result
    data: bytes
    partition_keys: Mapping[str, str] | None


class ResponseRejected(Exception):
    """The response breaks the status model: the whole batch fails with ``code``."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")


def source_record(data: bytes, arrival_ms: int, sequence: int, *, kinesis: bool, partition_key: str | None) -> SourceRecord:
    """A received record: a 56-digit recordId (as Firehose's and the generator's) and, from a Kinesis source, the
    shard (of four, by the partition key's CRC), the partition key (a new UUID unless given) and the sequence number
    (the recordId)."""
    record_id = f"{RECORD_ID_PREFIX}{arrival_ms % 10**13:013d}{sequence:027d}"
    if not kinesis:
        return SourceRecord(record_id, data, arrival_ms, None)
    key = partition_key if partition_key is not None else str(uuid.uuid4())
    return SourceRecord(record_id, data, arrival_ms, KinesisMetadata(kinesis_shard(key), key, record_id))


def kinesis_shard(partition_key: str) -> str:
    """The shard of the local source stream a partition key puts its record on: one of four, by the key's CRC."""
    return f"shardId-{zlib.crc32(partition_key.encode()) % 4:012d}"


def transformation_event(records: Sequence[SourceRecord], settings: DeliverySettings, invocation_id: str) -> dict[str, Any]:
    """The event Firehose invokes its processor with for ``records``."""
    entries = [firehose_record(r.record_id, base64.b64encode(r.data).decode("ascii"), r.arrival_ms, r.kinesis) for r in records]
    event: dict[str, Any] = {
        "invocationId": invocation_id,
        "deliveryStreamArn": settings.delivery_stream_arn,
        "region": settings.region,
    }
    if settings.source == "kinesis":
        event["sourceKinesisStreamArn"] = settings.kinesis_stream_arn
    event["records"] = entries
    return event


def check_response(payload: bytes, record_ids: Sequence[str]) -> list[RecordOutcome]:
    """The processor's answers in the request's order.

    Raises:
        ResponseRejected: not the status model (``Lambda.JsonProcessingException``), a recordId twice
            (``Lambda.DuplicatedRecordId``), a recordId of the request missing or one it did not hold
            (``Lambda.MissingRecordId``).
    """
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as err:
        raise ResponseRejected("Lambda.JsonProcessingException", f"the response is not JSON: {err}") from err
    entries = document.get("records") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ResponseRejected("Lambda.JsonProcessingException", 'the response has no "records" list')
    answers: dict[str, RecordOutcome] = {}
    for index, entry in enumerate(entries):
        outcome = _outcome(entry, index)
        if outcome.record_id in answers:
            raise ResponseRejected("Lambda.DuplicatedRecordId", f"recordId {outcome.record_id!r} is answered twice")
        answers[outcome.record_id] = outcome
    missing = [record_id for record_id in record_ids if record_id not in answers]
    if missing or len(answers) != len(record_ids):
        detail = f"{len(missing)} recordIds of the request not answered" if missing else "recordIds the request did not hold"
        raise ResponseRejected("Lambda.MissingRecordId", detail)
    return [answers[record_id] for record_id in record_ids]


def error_line(
    record: SourceRecord, *, code: str, attempts: int, ending_ms: int, lambda_arn: str, raw: bytes | None = None
) -> bytes:
    """One line of the error output, the guide's fields in its order; ``rawData`` is ``raw`` or the source data."""
    line = {
        "attemptsMade": attempts,
        "arrivalTimestamp": record.arrival_ms,
        "errorCode": code,
        "errorMessage": ERROR_MESSAGES.get(code, code),
        "attemptEndingTimestamp": ending_ms,
        "rawData": base64.b64encode(record.data if raw is None else raw).decode("ascii"),
        "lambdaArn": lambda_arn,
    }
    return orjson.dumps(line) + b"\n"


def conversion_failed_line(record: SourceRecord, data: bytes, *, settings: DeliverySettings, ending_ms: int) -> bytes:
    """One line of ``format-conversion-failed``, the fields of the guide's "Handling errors for data format
    conversion" (``lastErrorCode``, ``lastErrorMessage``, the sequence numbers, the Glue table)."""
    code = "DataFormatConversion.MalformedData"
    line = {
        "attemptsMade": 1,
        "arrivalTimestamp": record.arrival_ms,
        "lastErrorCode": code,
        "lastErrorMessage": ERROR_MESSAGES[code],
        "attemptEndingTimestamp": ending_ms,
        "rawData": base64.b64encode(data).decode("ascii"),
        "sequenceNumber": record.kinesis.sequence_number if record.kinesis is not None else record.record_id,
        "subSequenceNumber": 0,
        "dataCatalogTable": {
            "catalogId": settings.account,
            "databaseName": settings.database,
            "tableName": settings.table,
            "region": settings.region,
            "versionId": "LATEST",
            "catalogArn": f"arn:aws:glue:{settings.region}:{settings.account}:catalog",
        },
    }
    return orjson.dumps(line) + b"\n"


def _outcome(entry: Any, index: int) -> RecordOutcome:
    bad = "Lambda.JsonProcessingException"
    if not isinstance(entry, dict):
        raise ResponseRejected(bad, f"record {index} is not an object")
    record_id, result, data = entry.get("recordId"), entry.get("result"), entry.get("data")
    if not isinstance(record_id, str):
        raise ResponseRejected(bad, f"record {index} has no recordId string")
    if result not in _RESULTS:
        raise ResponseRejected(bad, f"record {index} has result {result!r}, not Ok, Dropped or ProcessingFailed")
    if not isinstance(data, str):
        raise ResponseRejected(bad, f"record {index} has no data string")
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ResponseRejected(bad, f"record {index}'s data is not base64") from err
    metadata = entry.get("metadata")
    keys = metadata.get("partitionKeys") if isinstance(metadata, dict) else None
    if metadata is not None and not isinstance(metadata, dict):
        raise ResponseRejected(bad, f"record {index}'s metadata is not an object")
    if keys is not None and not (isinstance(keys, dict) and all(isinstance(v, str) for v in keys.values())):
        raise ResponseRejected(bad, f"record {index}'s metadata.partitionKeys is not an object of strings")
    return RecordOutcome(record_id, result, decoded, keys)
