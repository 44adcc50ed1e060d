"""LakeWriter.write: round trip, the errors output, file sizes and idempotence (local folders)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers.lake import TABLE, Processed, assert_rows_match, read_raw
from tests.helpers.strategies import FIELDS
from transform_core.demo.generate import Payload, firehose_event
from transform_core.engine import Pipeline
from transform_core.firehose.batch import RecordBatch
from transform_core.lake import LakeWriter, list_files


def test_round_trip_keeps_every_ok_record(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    writer = LakeWriter(pipeline.spec, str(tmp_path))
    summary = writer.write(processed.result, processed.batch, batch_id="batch-1")
    assert summary.ok_rows == processed.result.ok
    frame = read_raw(tmp_path)
    assert_rows_match(frame, processed.result, set(writer.columns.known))
    assert frame.schema["event_time"] == pl.Datetime("us", "UTC")
    assert frame.schema["_ingested_at"] == pl.Datetime("us", "UTC")
    assert frame.schema["seq"] == pl.Int64 and frame.schema["value"] == pl.Float64
    assert frame.schema["tags"] == pl.Struct({"fw": pl.String, "zone": pl.String})
    assert frame["_batch_id"].unique().to_list() == ["batch-1"]
    assert frame.filter(pl.col("_extra").is_not_null()).height > 0  # the generator adds "source" to ~10%
    assert {tuple(json.loads(text)) for text in frame["_extra"].drop_nulls()} == {("source",)}


def test_files_follow_the_documented_layout(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    summary = LakeWriter(pipeline.spec, str(tmp_path)).write(processed.result, processed.batch, batch_id="b7")
    parquet = [Path(f).relative_to(tmp_path) for f in summary.files if f.endswith(".parquet")]
    assert parquet
    for path in parquet:
        assert path.parts[:2] == ("raw", TABLE)
        assert [p.split("=")[0] for p in path.parts[2:5]] == ["year", "month", "day"]
        assert path.name == "part-b7-0.parquet"
        assert pl.read_parquet_metadata(tmp_path / path) is not None
    assert sorted(list_files(str(tmp_path))) == sorted(summary.files)


def test_files_are_zstd_compressed(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    summary = LakeWriter(pipeline.spec, str(tmp_path)).write(processed.result, processed.batch, batch_id="z")
    meta = pq.ParquetFile(summary.files[0]).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_rows_per_file_bounds_every_file(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    writer = LakeWriter(pipeline.spec, str(tmp_path), rows_per_file=7)
    summary = writer.write(processed.result, processed.batch, batch_id="small")
    parquet = [f for f in summary.files if f.endswith(".parquet")]
    assert all(pl.read_parquet(f).height <= 7 for f in parquet)
    assert sum(pl.read_parquet(f).height for f in parquet) == processed.result.ok
    assert_rows_match(read_raw(tmp_path), processed.result, set(writer.columns.known))


def test_errors_hold_every_failed_record(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    summary = LakeWriter(pipeline.spec, str(tmp_path)).write(processed.result, processed.batch, batch_id="e1")
    errors_file = Path(summary.files[-1])
    today = datetime.now(UTC)
    assert errors_file.relative_to(tmp_path).parts[:2] == ("errors", TABLE)
    assert errors_file.name == "part-e1.ndjson"
    assert f"year={today:%Y}" in errors_file.parts
    rows = [json.loads(line) for line in errors_file.read_text().splitlines()]
    failed = processed.result.outcomes.filter(pl.col("result") == "ProcessingFailed")
    assert summary.error_rows == failed.height == len(rows) > 0
    original = dict(zip(processed.batch.record_ids, processed.batch.data, strict=True))
    expected = {r["record_id"]: r for r in failed.iter_rows(named=True)}
    index = {record_id: i for i, record_id in enumerate(processed.batch.record_ids)}
    for row in rows:
        outcome = expected.pop(row["recordId"])
        assert row["rawData"] == original[row["recordId"]] == outcome["data"]
        assert row["reason"] == outcome["reason"] == row["reasons"][0]
        assert row["reasons"] == processed.result.all_reasons(index[row["recordId"]])
        assert (row["specName"], row["specVersion"], row["batchId"]) == ("iot-telemetry", 1, "e1")
        assert datetime.fromisoformat(row["errorTimestamp"]).tzinfo is not None
    assert not expected


def test_dropped_records_are_not_written(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    assert processed.result.dropped > 0
    LakeWriter(pipeline.spec, str(tmp_path)).write(processed.result, processed.batch, batch_id="d")
    dropped = set(processed.result.outcomes.filter(pl.col("result") == "Dropped")["record_id"])
    assert not dropped & set(read_raw(tmp_path)["_source_record_id"])


def test_same_batch_twice_leaves_the_same_files_and_rows(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    writer = LakeWriter(pipeline.spec, str(tmp_path), rows_per_file=50)
    writer.write(processed.result, processed.batch, batch_id="again")
    first_files, first = list_files(str(tmp_path)), read_raw(tmp_path).drop("_ingested_at")
    writer.write(processed.result, processed.batch, batch_id="again")
    assert list_files(str(tmp_path)) == first_files
    second = read_raw(tmp_path).drop("_ingested_at")
    assert second.sort("_source_record_id").equals(first.sort("_source_record_id"))


def test_another_batch_id_adds_files(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    writer = LakeWriter(pipeline.spec, str(tmp_path))
    one = writer.write(processed.result, processed.batch, batch_id="one")
    two = writer.write(processed.result, processed.batch, batch_id="two")
    assert not set(one.files) & set(two.files)
    assert sorted(list_files(str(tmp_path))) == sorted(one.files + two.files)
    assert read_raw(tmp_path).height == 2 * processed.result.ok


def test_hourly_partitioning_adds_the_hour_folder(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    import dataclasses

    from transform_core.spec import PartitioningSpec

    spec = dataclasses.replace(pipeline.spec, partitioning=PartitioningSpec(granularity="hour"))
    hourly = Pipeline(spec)
    result = hourly.process(processed.batch)
    summary = LakeWriter(spec, str(tmp_path)).write(result, processed.batch, batch_id="h")
    assert all("/hour=" in f for f in summary.files if f.endswith(".parquet"))
    frame = pl.read_parquet(
        f"{tmp_path}/raw/{TABLE}/", hive_partitioning=True, hive_schema=dict.fromkeys(spec.partitioning.keys, pl.String)
    )
    assert (frame["event_time"].dt.strftime("%H") == frame["hour"]).all()


@pytest.mark.parametrize("batch_id", ["", "../x", "a/b", ".hidden", "_tmp"])
def test_batch_id_must_be_a_plain_name(pipeline: Pipeline, processed: Processed, tmp_path: Path, batch_id: str) -> None:
    with pytest.raises(ValueError, match="batch_id"):
        LakeWriter(pipeline.spec, str(tmp_path)).write(processed.result, processed.batch, batch_id=batch_id)


def test_root_defaults_to_output_lake(pipeline: Pipeline) -> None:
    writer = LakeWriter(pipeline.spec)
    assert writer.root == str(pipeline.spec.output.lake)
    assert writer.table == TABLE


# Hypothesis: random valid records, written and read back.

_OFFSETS = st.sampled_from(["Z", "z", "+00:00", "-00:00", "+05:30", "-08:00", "+23:59", "-23:59"])
_EXTRA_KEYS = st.text(min_size=1, max_size=8).filter(lambda k: k not in _DECLARED)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_DECLARED = {*FIELDS, "site", "model"}  # the example schema's properties and its enrichment fields


@st.composite
def _event_time(draw: st.DrawFn) -> str:
    moment = draw(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)))
    offset = draw(_OFFSETS)
    digits = draw(st.sampled_from([0, 1, 3, 6, 9]))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond:06d}123"[: digits + 1] if digits else "")
    return text.replace("T", draw(st.sampled_from(["T", "t"]))) + offset


@st.composite
def _record(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4)),
        "device_id": f"dev-{draw(st.integers(0, 9999)):04d}",
        "seq": draw(st.integers(0, 2**63 - 1)),
        "event_time": draw(_event_time()),
        "event_type": draw(st.sampled_from(["telemetry", "alert"])),
        "value": draw(st.integers(-1000, 1000) | st.floats(-1000, 1000)),
    }
    optional = {
        "gateway_id": st.text(min_size=1, max_size=64),
        "unit": st.sampled_from(["celsius", "volt"]),
        "battery": st.none() | st.integers(0, 100),
        "rssi": st.integers(-150, 0),
        "lat": st.floats(-90, 90),
        "tags": st.fixed_dictionaries({}, optional={"fw": st.text(max_size=5), "zone": st.text(max_size=5)}),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            record[name] = draw(strategy)
    record.update(draw(st.dictionaries(_EXTRA_KEYS, _JSON, max_size=3)))
    return record


@given(records=st.lists(_record(), min_size=1, max_size=20), spaced=st.booleans(), rows_per_file=st.integers(1, 10))
def test_random_valid_records_round_trip(
    pipeline: Pipeline, records: list[dict[str, Any]], spaced: bool, rows_per_file: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    separators = (", ", ": ") if spaced else (",", ":")
    payloads = [Payload(json.dumps(r, separators=separators).encode()) for r in records]
    batch = RecordBatch.from_firehose_event(firehose_event(payloads))
    result = pipeline.process(batch)
    assert result.ok == len(records), result.outcomes["reason"].drop_nulls().to_list()
    root = tmp_path_factory.mktemp("lake")
    writer = LakeWriter(pipeline.spec, str(root), rows_per_file=rows_per_file)
    writer.write(result, batch, batch_id="prop")
    assert_rows_match(read_raw(root), result, set(writer.columns.known))


def test_the_fraction_helper_agrees_with_python() -> None:
    from tests.helpers.lake import utc

    moment = datetime(2026, 3, 7, 23, 30, 1, 123456, tzinfo=timezone(timedelta(hours=-1)))
    assert utc("2026-03-07t23:30:01.123456789-01:00") == moment.astimezone(UTC)


def test_the_engines_undeclared_rows_give_the_same_extra_column_as_looking_at_every_row() -> None:
    """The writer only parses the rows the engine says may carry undeclared properties; nothing is missed."""
    import base64 as b64
    from datetime import UTC, datetime

    from transform_core import RecordBatch, load_pipeline
    from transform_core.demo.generate import iot_payloads
    from transform_core.lake import LakeWriter

    pipeline = load_pipeline(str(Path(__file__).resolve().parents[2] / "examples" / "iot" / "pipeline.yaml"))
    payloads = [p.data for p in iot_payloads(3000, 0.1, seed=3)]
    payloads += [
        b'{"event_id":"3f1c2a9e-8d4b-4c7a-9b1e-2f3a4b5c6d7e","device_id":"dev-0001","seq":1,"event_time":"2026-11-27T10:00:00Z","event_type":"alert","value":1,"x\\u0079":{"a":1}}'
    ]
    data = [b64.b64encode(p).decode() for p in payloads]
    batch = RecordBatch(record_ids=[str(i) for i in range(len(data))], data=data, arrival_ms=[None] * len(data))
    result = pipeline.process(batch, respond=False)
    assert result.rows_with_extras is not None and len(result.rows_with_extras) > 100
    writer = LakeWriter(pipeline.spec, "unused")
    ok = result.outcomes.with_row_index("__row").filter(pl.col("result") == "Ok")
    now = datetime.now(UTC)
    told = writer.frame(ok, "b", now, result.rows_with_extras)
    looked = writer.frame(ok, "b", now, None)
    assert told.equals(looked)
    assert told["_extra"].drop_nulls().len() > 100 and told["_extra"].to_list()[-1] == '{"x\\u0079":{"a":1}}'
