"""Synthetic workloads: IoT telemetry records and the Firehose transformation events that carry them.

Everything is deterministic for a given seed, so the demo, the tests and the benchmarks see the same
records. The workload is the one in the benchmark notes: 13-field telemetry for ``examples/iot``, about
5% heartbeats (which that spec drops), about 1% devices missing from ``reference_data/devices.csv``
(the table covers dev-0000 … dev-9899, records use dev-0000 … dev-9999), and invalid records drawn
evenly from :data:`INVALID_KINDS`.

The device table is regenerated with ``write_device_table("reference_data/devices.csv")``.
"""

from __future__ import annotations

import base64
import csv
import json
import random
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_START_MS",
    "RECORD_ID_PREFIX",
    "INVALID_KINDS",
    "Payload",
    "device_rows",
    "firehose_batches",
    "firehose_event",
    "firehose_record",
    "invalid_payload",
    "iot_payloads",
    "iot_record",
    "valid_payload",
    "write_device_table",
]

DEVICE_IDS = 10_000  # records draw dev-0000 … dev-9999 (all match the schema's pattern)
TABLE_DEVICES = 9_900  # the reference table holds dev-0000 … dev-9899, so ~1% of records are unknown devices
SITES = tuple(f"plant-{i:02d}" for i in range(1, 41))
MODELS = ("TH-100", "TH-200", "PX-310", "AQ-7", "VB-21", "LX-5")
UNITS = ("celsius", "percent", "hpa", "lux", "ppm", "volt")
SPACED_FRACTION = 0.1  # records serialized with ", " / ": " separators
REQUIRED = ("event_id", "device_id", "seq", "event_time", "event_type", "value")

#: Invalid record kinds, drawn evenly by :func:`iot_payloads`.
INVALID_KINDS = (
    "wrong_type", "missing_required", "enum_violation", "out_of_range", "bad_datetime", "truncated_json", "malformed_base64",
    "json_array",
)  # fmt: skip

EVENT_TIME_START = datetime(2026, 11, 24, tzinfo=UTC)
EVENT_TIME_SPAN_S = 4 * 86_400
#: Default approximateArrivalTimestamp of an event's first record (2026-11-28T00:00:00Z), after every event_time.
DEFAULT_START_MS = 1_795_824_000_000
REGION = "eu-west-1"
DELIVERY_STREAM_ARN = f"arn:aws:firehose:{REGION}:123456789012:deliverystream/iot-telemetry"
RECORD_ID_PREFIX = "4954698668313554"  # a recordId's (and a Kinesis sequence number's) leading digits
KINESIS_STREAM_ARN = f"arn:aws:kinesis:{REGION}:123456789012:stream/iot-ingest"
BATCH_INTERVAL_MS = 60_000  # Firehose's default buffer interval: consecutive events arrive a minute apart


def _offset(text: str) -> tuple[str, timezone]:
    if text == "Z":
        return text, UTC
    sign = -1 if text[0] == "-" else 1
    return text, timezone(sign * timedelta(hours=int(text[1:3]), minutes=int(text[4:6])))


OFFSETS = tuple(_offset(t) for t in ("Z", "Z", "+00:00", "+05:30", "-08:00", "+09:00", "-03:30", "+01:00", "+05:45"))

# Mutations per invalid kind: (field path, bad value). Each breaks the schema on its own.
_WRONG_TYPE: tuple[tuple[str, Any], ...] = (
    ("value", "oops"), ("value", "21.5"), ("value", True), ("seq", "42"), ("seq", 4.5), ("seq", True), ("battery", "87"),
    ("battery", False), ("rssi", -67.5), ("lat", "48.1"), ("device_id", 42), ("event_id", None),
    ("event_time", 1_795_000_000), ("tags", "fw=2.1"), ("tags.fw", 2),
)  # fmt: skip
_ENUM_VIOLATION: tuple[tuple[str, Any], ...] = (
    ("event_type", "Telemetry"), ("event_type", "status"), ("event_type", "alert "), ("unit", "kelvin"), ("unit", ""),
)  # fmt: skip
_OUT_OF_RANGE: tuple[tuple[str, Any], ...] = (
    ("value", 1000.5), ("value", -1000.001), ("value", 1e6), ("battery", 101), ("battery", -1), ("rssi", 1), ("rssi", -151),
    ("lat", 90.5), ("lon", -180.25), ("seq", -1), ("gateway_id", ""), ("gateway_id", "gw-" + "x" * 62),
)  # fmt: skip
_BAD_DATETIME = (
    "2024-02-30T10:00:00Z", "2023-02-29T12:00:00+01:00", "2026-04-31T08:00:00.5-03:00", "2026-11-27T25:00:00Z",
    "2026-11-27T10:61:00Z", "2026-13-01T00:00:00Z", "2026-11-27T10:00:00", "yesterday",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Payload:
    """One generated record: the bytes a producer sent and what the generator meant by them.

    Attributes:
        data: the record as sent (JSON text for most kinds).
        kind: ``"valid"``, ``"heartbeat"`` (valid, dropped by the example spec) or one of :data:`INVALID_KINDS`.
        corrupt_base64: the event must carry this record's base64 corrupted (kind ``malformed_base64``).
    """

    data: bytes
    kind: str = "valid"
    corrupt_base64: bool = False


def iot_record(rng: random.Random, seq: int) -> dict[str, Any]:
    """One valid telemetry record for ``examples/iot/schemas/iot_event.schema.json``."""
    record: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "device_id": f"dev-{rng.randrange(DEVICE_IDS):04d}",
        "gateway_id": f"gw-{rng.choice(('eu-west-1', 'eu-central-1', 'us-east-1'))}-{rng.randrange(1, 41):03d}{rng.choice('abcd')}",
        "seq": seq,
        "event_time": _event_time(rng),
        "event_type": rng.choices(("telemetry", "alert", "heartbeat"), weights=(90, 5, 5))[0],
        "value": round(rng.uniform(-50.0, 150.0), 3) if rng.random() < 0.85 else rng.randint(0, 100),
        "unit": rng.choice(UNITS),
        "battery": None if rng.random() < 0.1 else rng.randint(0, 100),
        "rssi": rng.randint(-120, -30),
        "lat": round(rng.uniform(-90.0, 90.0), 6),
        "lon": round(rng.uniform(-180.0, 180.0), 6),
        "tags": {
            "fw": f"{rng.randint(1, 3)}.{rng.randint(0, 9)}.{rng.randint(0, 20)}-build.{rng.randint(100, 999)}",
            "zone": f"floor-{rng.randint(1, 12):02d}/zone-{rng.randint(1, 40):02d}",
        },
    }
    if rng.random() < 0.03:
        del record[rng.choice(("gateway_id", "battery", "rssi", "tags"))]
    if rng.random() < 0.1:
        record["source"] = rng.choice(("kinesis", "api-gateway", "iot-core"))  # the schema allows extra fields
    return record


def _event_time(rng: random.Random) -> str:
    """RFC 3339 text with a random offset and 0, 3 or 6 fractional digits."""
    suffix, tz = rng.choice(OFFSETS)
    local = (EVENT_TIME_START + timedelta(seconds=rng.uniform(0, EVENT_TIME_SPAN_S))).astimezone(tz)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    digits = rng.choice((0, 0, 3, 6))
    if digits:
        text += f".{local.microsecond:06d}"[: digits + 1]
    return text + suffix


def _dumps(value: Any, rng: random.Random | None = None) -> bytes:
    """Minified JSON as most producers send it (SDKs, IoT Core, JS); one record in ten spaced, as Python's json does."""
    if rng is not None and rng.random() < SPACED_FRACTION:
        return json.dumps(value).encode()
    return json.dumps(value, separators=(",", ":")).encode()


def valid_payload(rng: random.Random, seq: int) -> Payload:
    """A valid record; kind ``heartbeat`` when the example spec will drop it."""
    record = iot_record(rng, seq)
    return Payload(_dumps(record, rng), kind="heartbeat" if record["event_type"] == "heartbeat" else "valid")


def invalid_payload(rng: random.Random, seq: int, kind: str) -> Payload:
    """A record that the example pipeline must reject, of the given kind (see :data:`INVALID_KINDS`)."""
    record = iot_record(rng, seq)
    if record["event_type"] == "heartbeat":
        record["event_type"] = "telemetry"  # it must fail, not be dropped
    if kind == "wrong_type":
        _set(record, *rng.choice(_WRONG_TYPE))
    elif kind == "missing_required":
        del record[rng.choice(REQUIRED)]
    elif kind == "enum_violation":
        _set(record, *rng.choice(_ENUM_VIOLATION))
    elif kind == "out_of_range":
        _set(record, *rng.choice(_OUT_OF_RANGE))
    elif kind == "bad_datetime":
        record["event_time"] = rng.choice(_BAD_DATETIME)
    elif kind == "truncated_json":
        text = _dumps(record)
        return Payload(text[: rng.randrange(1, len(text) - 1)], kind=kind)  # a proper prefix of an object is never JSON
    elif kind == "malformed_base64":
        return Payload(_dumps(record), kind=kind, corrupt_base64=True)
    elif kind == "json_array":
        return Payload(_dumps([record]), kind=kind)
    else:
        raise ValueError(f"unknown invalid kind {kind!r} (known: {', '.join(INVALID_KINDS)})")
    return Payload(_dumps(record), kind=kind)


def _set(record: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if rest:
        record.setdefault(head, {})[rest] = value
    else:
        record[head] = value


def iot_payloads(n: int, invalid_fraction: float = 0.0, seed: int = 0) -> list[Payload]:
    """``n`` records in arrival order; exactly ``round(n * invalid_fraction)`` are invalid, their kinds drawn evenly.

    Raises:
        ValueError: when ``n`` is negative or ``invalid_fraction`` is outside [0, 1].
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 <= invalid_fraction <= 1.0:
        raise ValueError(f"invalid_fraction must be within [0, 1], got {invalid_fraction}")
    rng = random.Random(seed)
    positions = rng.sample(range(n), round(n * invalid_fraction))  # random positions in random order
    bad = {pos: INVALID_KINDS[i % len(INVALID_KINDS)] for i, pos in enumerate(positions)}
    return [invalid_payload(rng, seq, bad[seq]) if seq in bad else valid_payload(rng, seq) for seq in range(n)]


def firehose_event(
    payloads: Sequence[Payload], *, kinesis_source: bool = False, start_ms: int = DEFAULT_START_MS
) -> dict[str, Any]:
    """A Firehose data-transformation event carrying ``payloads``, record ``i`` arriving at ``start_ms + i``.

    With ``kinesis_source`` the event looks like one from a Kinesis stream: ``sourceKinesisStreamArn`` and a
    ``kinesisRecordMetadata`` per record (its arrival timestamp as an ISO string).
    """
    records: list[dict[str, Any]] = []
    for i, payload in enumerate(payloads):
        sequence = f"{RECORD_ID_PREFIX}{start_ms:013d}{i:027d}"
        data = base64.b64encode(payload.data).decode("ascii")
        if payload.corrupt_base64:
            data = _corrupt(data, zlib.crc32(payload.data))
        kinesis = None
        if kinesis_source:
            crc = zlib.crc32(payload.data)
            kinesis = (f"shardId-{crc % 4:012d}", str(uuid.uuid5(uuid.NAMESPACE_OID, f"{crc}/{i}")), sequence)
        records.append(firehose_record(sequence, data, start_ms + i, kinesis))
    event: dict[str, Any] = {
        "invocationId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"transform-core/{start_ms}/{len(payloads)}")),
        "deliveryStreamArn": DELIVERY_STREAM_ARN,
        "region": REGION,
    }
    if kinesis_source:
        event["sourceKinesisStreamArn"] = KINESIS_STREAM_ARN
    event["records"] = records
    return event


def firehose_record(record_id: str, data: str, arrival_ms: int, kinesis: tuple[str, str, str] | None = None) -> dict[str, Any]:
    """One record of a Firehose transformation event (``data`` already base64), with ``kinesisRecordMetadata`` when
    ``kinesis`` gives its (shard id, partition key, sequence number): the keys in Firehose's order."""
    record: dict[str, Any] = {"recordId": record_id, "approximateArrivalTimestamp": arrival_ms, "data": data}
    if kinesis is not None:
        shard_id, partition_key, sequence_number = kinesis
        record["kinesisRecordMetadata"] = {
            "shardId": shard_id,
            "partitionKey": partition_key,
            "approximateArrivalTimestamp": _iso_ms(arrival_ms),
            "sequenceNumber": sequence_number,
            "subsequenceNumber": "",
        }
    return record


def _iso_ms(epoch_ms: int) -> str:
    stamp = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


def _corrupt(data: str, salt: int) -> str:
    """Replace one character with ``!``: strict decoders reject it, lenient ones skip it and then fail on the length."""
    if not data:
        return "!"
    pos = salt % len(data)
    return data[:pos] + "!" + data[pos + 1 :]


def firehose_batches(
    payloads: Sequence[Payload],
    max_bytes: int = 3_000_000,
    *,
    max_records: int | None = None,
    kinesis_source: bool = False,
    start_ms: int = DEFAULT_START_MS,
) -> list[dict[str, Any]]:
    """Split ``payloads`` into Firehose events the way Firehose buffers them for Lambda.

    An event holds at most ``max_bytes`` of raw record data (Firehose's largest Lambda buffer is 3 MB) and at
    most ``max_records`` records; a record larger than ``max_bytes`` travels alone. Events arrive
    ``BATCH_INTERVAL_MS`` apart, so recordIds stay unique across them.
    """
    return [
        firehose_event(chunk, kinesis_source=kinesis_source, start_ms=start_ms + k * BATCH_INTERVAL_MS)
        for k, chunk in enumerate(_chunks(payloads, max_bytes, max_records))
    ]


def _chunks(payloads: Sequence[Payload], max_bytes: int, max_records: int | None) -> Iterator[list[Payload]]:
    if max_bytes < 1 or (max_records is not None and max_records < 1):
        raise ValueError("max_bytes and max_records must be positive")
    chunk: list[Payload] = []
    size = 0
    for payload in payloads:
        if chunk and (size + len(payload.data) > max_bytes or len(chunk) == max_records):
            yield chunk
            chunk, size = [], 0
        chunk.append(payload)
        size += len(payload.data)
    if chunk:
        yield chunk


def device_rows(count: int = TABLE_DEVICES, seed: int = 0) -> list[tuple[str, str, str]]:
    """Rows ``(device_id, site, model)`` of the reference table, dev-0000 onwards."""
    rng = random.Random(seed)
    return [(f"dev-{i:04d}", rng.choice(SITES), rng.choice(MODELS)) for i in range(count)]


def write_device_table(path: str | Path, count: int = TABLE_DEVICES, seed: int = 0) -> None:
    """Write the device reference table as CSV with a ``device_id,site,model`` header."""
    with Path(path).open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("device_id", "site", "model"))
        writer.writerows(device_rows(count, seed))
