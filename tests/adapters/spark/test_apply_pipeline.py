"""apply_pipeline on a real local Spark gives exactly the single-machine engine's outcomes, record for record.

Each case builds a DataFrame of generated telemetry plus adversarial records, runs it through ``apply_pipeline``,
writes the valid rows as Parquet with Spark and reads them back with Polars, and compares them, the rejections
(id, reason, payload, arrival) and the dropped ids with ``Pipeline.process`` on the same records in one batch.
"""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.helpers.spark import ARROW_BATCH, ROOT, SPEC, read_lake_zone
from transform_core import RecordBatch, load_pipeline
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.engine import Pipeline
from transform_core.firehose.outcomes import DROPPED, FAILED, OK
from transform_core.lake.columns import lake_columns, table_dtypes
from transform_core.lake.rows import ROW, LakeRows

pytestmark = pytest.mark.spark

INGESTED_AT = datetime(2026, 11, 27, 8, 0, 0, 123456, tzinfo=UTC)
BATCH_ID = "spark-test"
GOOD = {
    "event_id": "3f9a1c52-7b4e-4d21-9c8a-0e6f5b2d4a17",
    "device_id": "dev-0001",
    "seq": 1,
    "event_time": "2026-11-26T14:03:27Z",
    "event_type": "telemetry",
    "value": 1.5,
}


def record(**changes: Any) -> bytes:
    return json.dumps({**GOOD, **changes}, ensure_ascii=False).encode()


def good_text() -> str:
    return json.dumps(GOOD)[:-1]  # without the closing brace, to splice raw JSON text in


# Bytes a producer might send that are not one clean record: each must get its own outcome, and the same one.
ADVERSARIAL: list[bytes | None] = [
    None,  # no payload at all
    b"",
    b"   ",
    b'{"event_id":',
    b"[1, 2, 3]",
    b"42",
    b'"text"',
    b"null",
    (good_text() + ',"lat":NaN}').encode(),
    (good_text() + ',"lon":1e400}').encode(),
    (good_text().replace('"seq": 1', '"seq": 1180591620717411303424') + "}").encode(),  # beyond 64 bits
    record(seq="1"),
    record(seq=2.0),  # JSON Schema's integer: valid, stored as 2
    record(value=True),
    (good_text() + ',"seq":2}').encode(),  # duplicate key: the last wins
    record(source="kinesis", ctx={"a": [1, {"b": None}], "big": 2**70}),  # undeclared properties → _extra
    record(tags={"fw": "1.0", "rogue": 1}),  # additionalProperties: false inside tags
    (good_text() + ',"gateway_id":"gw-\\u00e9\\"q\\"\\/"}').encode(),  # escapes
    json.dumps(GOOD).encode().replace(b"telemetry", b"tele\\u006detry"),  # an escape inside an enum value
    (good_text() + ',"gateway_id":"\\ud800"}').encode(),  # a lone surrogate, escaped
    record(gateway_id="gw-ünïcødé-😀"),
    b"\xef\xbb\xbf" + record(),  # a byte-order mark
    record(gateway_id="gw-bad").replace(b"bad", b"\xff\xfe"),  # not UTF-8
    record(event_time="2026-11-26t23:59:59.1234567z"),  # lowercase, digits past the µs
    record(event_time="2026-11-26T23:30:00-05:30"),  # the next UTC day
    record(event_time="2026-02-30T00:00:00Z"),
    record(battery=None, rssi=-150, tags={"fw": "2.0", "zone": "z"}),
    record(event_type="heartbeat"),
    record(device_id="dev-9999"),  # not in the device table
    (good_text() + ',"deep":' + "[" * 60 + "1" + "]" * 60 + "}").encode(),  # deeply nested, undeclared
    json.dumps(GOOD, indent=2).encode(),  # whitespace and newlines inside the record
]


def arrival_spec() -> dict[str, Any]:
    """The example spec with ``event_time`` optional and ``on_missing: arrival_time``, inline (no spec file)."""
    schema = json.loads((ROOT / "examples" / "iot" / "schemas" / "iot_event.schema.json").read_text())
    schema = copy.deepcopy(schema)
    schema["required"].remove("event_time")
    return {
        "version": 1,
        "name": "iot-arrival",
        "schema": schema,
        "event_time": {"field": "event_time", "on_missing": "arrival_time"},
        "enrich": [
            {
                "name": "devices",
                "source": str(ROOT / "reference_data" / "devices.csv"),
                "key": "device_id",
                "fields": ["site", "model"],
            }
        ],
        "drop": {"field": "event_type", "in": ["heartbeat"]},
    }


def cases(kind: str) -> tuple[Pipeline, list[str], list[Any], list[int | None]]:
    """The pipeline, ids, payloads (as the Spark column carries them) and arrival times of one case."""
    generated = iot_payloads(900, 0.1, seed=7)
    if kind == "base64":  # Firehose's own records: base64 text, some of it corrupt
        records = firehose_event(generated)["records"]
        extra = [base64.b64encode(p).decode() if p is not None else None for p in ADVERSARIAL]
        payloads = [r["data"] for r in records] + extra + ["!!not base64!!", "eyJh"]
        ids = [r["recordId"] for r in records] + [f"odd-{i}" for i in range(len(payloads) - len(records))]
        arrival = [r["approximateArrivalTimestamp"] for r in records] + [1_795_824_000_000 + i for i in range(len(extra) + 2)]
        return load_pipeline(str(SPEC)), ids, payloads, arrival
    raw = [p.data for p in generated if not p.corrupt_base64] + ADVERSARIAL
    raw += [b'{"event_id":"3f9a1c52-7b4e-4d21-9c8a-0e6f5b2d4a17","device_id":"dev-0002","seq":3,"event_type":"alert","value":2}']
    if kind == "text":
        raw = [p for p in raw if p is None or _utf8(p)]
    ids = [f"r-{i:05d}" for i in range(len(raw))]
    arrival = [None if i % 7 == 0 else 1_795_824_000_000 + 3_600_000 * (i % 50) for i in range(len(raw))]
    if kind == "bytes":
        return load_pipeline(arrival_spec()), ids, raw, arrival
    return load_pipeline(str(SPEC)), ids, [p.decode() if p is not None else None for p in raw], arrival


def _as_base64(payload: str | bytes | None, kind: str) -> str:
    """What the engine is given for a payload: base64 text, a missing one empty (as RecordBatch does for Firehose)."""
    if payload is None:
        return ""
    if kind == "base64":
        return str(payload)
    return base64.b64encode(payload if isinstance(payload, bytes) else payload.encode()).decode()


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def expected(pipeline: Pipeline, ids: list[str], data: list[str], arrival: list[int | None]) -> dict[str, Any]:
    """The single-machine outcomes of the same records, one batch: lake rows, rejections and dropped ids."""
    batch = RecordBatch(record_ids=ids, data=data, arrival_ms=arrival)
    result = pipeline.process(batch, respond=False)
    outcomes = result.outcomes.with_row_index(ROW)
    rows = LakeRows(lake_columns(pipeline.spec, table_dtypes(pipeline.spec)))
    ok = outcomes.filter(pl.col("result") == OK)
    valid = rows.frame(ok, BATCH_ID, INGESTED_AT, result.rows_with_extras, payloads=batch.data_column())
    failed = outcomes.filter(pl.col("result") == FAILED)
    rejected = {
        (rid, arrival[row], payload, reason, tuple(result.all_reasons(row)))
        for row, rid, payload, reason in failed.select(ROW, "record_id", "data", "reason").iter_rows()
    }
    dropped = set(outcomes.filter(pl.col("result") == DROPPED).get_column("record_id").to_list())
    return {"valid": valid, "rejected": rejected, "dropped": dropped, "counts": (result.ok, result.failed, result.dropped)}


@pytest.mark.parametrize("kind", ["bytes", "text", "base64"])
def test_spark_gives_the_single_machine_outcomes(spark: Any, tmp_path: Path, kind: str) -> None:
    from pyspark.sql import functions as F

    from transform_core.adapters.spark import apply_pipeline

    pipeline, ids, payloads, arrival = cases(kind)
    want = expected(pipeline, ids, [_as_base64(p, kind) for p in payloads], arrival)
    assert min(want["counts"]) > 20  # every outcome is well represented
    payload_type = "binary" if kind == "bytes" else "string"
    frame = spark.createDataFrame(list(zip(ids, payloads, arrival, strict=True)), f"id string, payload {payload_type}, ms long")
    if kind == "text":  # arrival as a timestamp column
        frame = frame.withColumn("ms", F.timestamp_millis("ms"))
    encoding = "base64" if kind == "base64" else "raw"
    outcomes = apply_pipeline(
        frame,
        pipeline,
        data="payload",
        record_id="id",
        arrival="ms",
        encoding=encoding,
        batch_id=BATCH_ID,
        ingested_at=INGESTED_AT,
    )
    assert frame.rdd.getNumPartitions() == 2 and len(ids) > 4 * ARROW_BATCH  # several batches in each of two workers

    outcomes.valid.write.partitionBy(*outcomes.partition_keys).parquet(str(tmp_path / "valid"))
    got = read_lake_zone(tmp_path / "valid", outcomes.partition_keys)
    assert got.columns == want["valid"].columns
    assert_frame_equal(got.sort("_source_record_id"), want["valid"].sort("_source_record_id"))
    rejected = {
        (r["record_id"], r["arrival_ms"], r["raw_data"], r["reason"], tuple(r["reasons"])) for r in outcomes.rejected.collect()
    }
    assert rejected == want["rejected"]
    assert any(len(reasons) > 1 for *_, reasons in rejected)  # records that break several rules list them all
    assert {r["record_id"] for r in outcomes.dropped.collect()} == want["dropped"]
    assert outcomes.frame.count() == len(ids)  # one outcome per record


def test_a_payload_column_of_the_wrong_type_is_refused_before_any_work(spark: Any) -> None:
    from transform_core.adapters.spark import apply_pipeline

    pipeline = load_pipeline(str(SPEC))
    frame = spark.createDataFrame([(1, "x")], "payload long, text string")
    with pytest.raises(ValueError, match="'payload' is bigint"):
        apply_pipeline(frame, pipeline, data="payload")
    with pytest.raises(ValueError, match="no payload column 'data'"):
        apply_pipeline(frame, pipeline)
    with pytest.raises(ValueError, match="arrival column 'text'"):
        apply_pipeline(frame, pipeline, data="text", arrival="text")
