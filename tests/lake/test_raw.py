"""Reading the raw zone back: the lake writer's files and Firehose's (Parquet, NDJSON plain and gzip) give the same rows.

Firehose's files are made here as Firehose writes them (docs/raw-zone.md): the records the example pipeline returned
as Ok, one file per partition folder under Firehose's object names; Parquet with the columns of the Glue table the
catalog generates (names lowercased, undeclared properties dropped), NDJSON as the Lambda's lines.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import transform_core
from tests.helpers.firehose_files import firehose_name, folder, write_ndjson, write_parquet
from tests.helpers.lake import TABLE, Processed
from transform_core.demo.generate import Payload, firehose_event, iot_payloads
from transform_core.engine import BatchResult, Pipeline
from transform_core.firehose.batch import RecordBatch
from transform_core.lake import LakeWriter
from transform_core.lake.columns import LakeColumns, lake_columns, table_dtypes
from transform_core.lake.raw import PRODUCERS, RawRead, read_raw

LINEAGE = ["_ingested_at", "_source_record_id", "_batch_id"]
DELIVERED = datetime(2026, 11, 27, 10, 11, 12, tzinfo=UTC)
NESTED_SPEC: dict[str, Any] = {
    "version": 1,
    "name": "nested-things",
    "schema": {
        "type": "object",
        "properties": {
            "deviceId": {"type": "string"},
            "ts": {"type": "string", "format": "date-time"},
            "d": {"type": "string", "format": "date"},
            "n": {"type": "integer"},
            "points": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"x": {"type": "number"}, "atTime": {"type": "string", "format": "date-time"}},
                },
            },
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
    },
    "event_time": {"field": "ts"},
    "partitioning": {"granularity": "hour"},
}


def columns_of(pipeline: Pipeline) -> LakeColumns:
    return lake_columns(pipeline.spec, table_dtypes(pipeline.spec))


def lake_rows(pipeline: Pipeline, processed: Processed, root: Path) -> pl.DataFrame:
    """What the lake writer stores for the batch, read in partition order (as the Firehose files are)."""
    summary = LakeWriter(pipeline.spec, str(root)).write(processed.result, processed.batch, batch_id="b1")
    return read_raw(sorted(f for f in summary.files if f.endswith(".parquet")), columns_of(pipeline)).frame


def assert_lineage(read: RawRead, *, ingested_at: datetime) -> None:
    """Each Firehose row's lineage is derived from its file: ``<name>#<position>``, the name, the name's time."""
    for source, part in zip(read.sources, _per_file(read), strict=True):
        name = os.path.basename(source.file)
        positions = [int(rid.rsplit("#", 1)[1]) for rid in part["_source_record_id"]]
        assert part["_source_record_id"].to_list() == [f"{name}#{n}" for n in positions]
        assert positions == sorted(positions) and len(set(positions)) == len(positions) and positions[0] >= 1
        assert set(part["_batch_id"]) == {name}
        assert set(part["_ingested_at"]) == {ingested_at}


def _per_file(read: RawRead) -> list[pl.DataFrame]:
    offsets = [0]
    for source in read.sources:
        offsets.append(offsets[-1] + source.rows)
    return [read.frame.slice(start, end - start) for start, end in zip(offsets, offsets[1:], strict=False)]


# --- each producer reads back what the lake writer stores ---------------------------------------------------------------


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_firehose_ndjson_reads_as_the_lake_writer_stores(
    gzipped: bool, pipeline: Pipeline, processed: Processed, tmp_path: Path
) -> None:
    expected = lake_rows(pipeline, processed, tmp_path / "lake")
    files = write_ndjson(tmp_path / "firehose", TABLE, processed.result, pipeline.spec.partitioning.keys, gzipped=gzipped)
    read = read_raw(files, columns_of(pipeline))
    assert (read.problems, read.refused) == ((), ())
    assert {s.producer for s in read.sources} == {"firehose-json"}
    assert_frame_equal(read.frame.drop(LINEAGE), expected.drop(LINEAGE))  # exact values, _extra and partition keys
    assert read.frame["_extra"].drop_nulls().len() > 0  # the example's undeclared "source" property is kept
    assert_lineage(read, ingested_at=DELIVERED)
    assert_frame_equal(read_raw(files, columns_of(pipeline)).frame, read.frame)  # lineage is stable across reads


def test_firehose_parquet_reads_as_the_lake_writer_stores_without_extra(
    pipeline: Pipeline, processed: Processed, tmp_path: Path
) -> None:
    expected = lake_rows(pipeline, processed, tmp_path / "lake")
    files = write_parquet(tmp_path / "firehose", pipeline, processed.result)
    read = read_raw(files, columns_of(pipeline))
    assert (read.problems, read.refused) == ((), ())
    assert {s.producer for s in read.sources} == {"firehose-parquet"}
    # Firehose keeps only the Glue table's columns: undeclared properties are gone, so _extra is null
    assert expected["_extra"].drop_nulls().len() > 0 and read.frame["_extra"].null_count() == read.frame.height
    assert_frame_equal(read.frame.drop([*LINEAGE, "_extra"]), expected.drop([*LINEAGE, "_extra"]))
    assert_lineage(read, ingested_at=DELIVERED)
    assert_frame_equal(read_raw(files, columns_of(pipeline)).frame, read.frame)


def test_the_lake_writers_files_read_as_written(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    LakeWriter(pipeline.spec, str(tmp_path)).write(processed.result, processed.batch, batch_id="b1")
    files = sorted(str(p) for p in tmp_path.joinpath("raw").rglob("*.parquet"))
    read = read_raw(files, columns_of(pipeline))
    hive = {key: pl.String for key in pipeline.spec.partitioning.keys}
    written = pl.read_parquet(files, hive_partitioning=True, hive_schema=hive)
    assert_frame_equal(read.frame, written.select(list(columns_of(pipeline).dtypes)))
    assert {s.producer for s in read.sources} == {"transform-core"}
    assert read.frame["_batch_id"].unique().to_list() == ["b1"]


def test_every_producer_in_one_read(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    own = LakeWriter(pipeline.spec, str(tmp_path / "lake")).write(processed.result, processed.batch, batch_id="b1")
    files = [
        *sorted(f for f in own.files if f.endswith(".parquet")),
        *write_parquet(tmp_path / "p", pipeline, processed.result),
        *write_ndjson(tmp_path / "j", TABLE, processed.result, pipeline.spec.partitioning.keys, gzipped=True),
    ]
    read = read_raw(files, columns_of(pipeline))
    assert [s.file for s in read.sources] == files
    assert {s.producer for s in read.sources} == set(PRODUCERS)
    assert read.frame.schema == pl.Schema(columns_of(pipeline).dtypes)
    n = processed.result.outcomes.filter(pl.col("result") == "Ok").height
    assert read.frame.height == 3 * n


def test_names_differing_in_case_and_nested_dates_map_to_the_spec(tmp_path: Path) -> None:
    pipeline = transform_core.load_pipeline(NESTED_SPEC)
    records = [
        {"deviceId": "a", "ts": "2026-11-27T10:11:12.1234567+01:00", "d": "2026-11-27", "n": 7,
         "points": [{"x": 1.5, "atTime": "2026-11-27T00:00:00z"}], "either": 3},
        {"deviceId": "b", "ts": "2026-11-27T09:00:00Z", "n": -9007199254740993, "points": [], "either": "x", "extra": 1},
    ]  # fmt: skip
    processed = _process(pipeline, [json.dumps(r).encode() for r in records])
    expected = lake_rows(pipeline, processed, tmp_path / "lake")
    files = write_parquet(tmp_path / "firehose", pipeline, processed.result)
    table = pq.read_table(files[0])
    assert "deviceid" in table.column_names and table.schema.field("points").type.value_type.names == ["x", "attime"]
    read = read_raw(files, columns_of(pipeline))
    assert (read.problems, read.refused) == ((), ())
    got = read.frame.drop([*LINEAGE, "_extra"])
    # a JSON-text column holds what Firehose stored: a string's content (the lake keeps its JSON text, quotes included)
    assert got["either"].to_list() == ["3", "x"] and expected["either"].to_list() == ["3", '"x"']
    assert_frame_equal(got.drop("either"), expected.drop([*LINEAGE, "_extra", "either"]))
    assert got.columns[:2] == ["deviceId", "ts"] and got["n"][1] == -9007199254740993


@pytest.mark.parametrize(
    ("arrow", "options"),
    [(pa.timestamp("ns"), {"use_deprecated_int96_timestamps": True}), (pa.timestamp("us", tz="Asia/Tokyo"), {})],
    ids=["int96-zoneless", "zoned"],
)
def test_a_timestamp_column_is_read_as_utc(arrow: pa.DataType, options: dict[str, Any], tmp_path: Path) -> None:
    """A Glue table declaring ``timestamp`` makes Firehose write Hive's zone-less INT96 (UTC wall time); a zoned
    timestamp is an instant."""
    pipeline = transform_core.load_pipeline(NESTED_SPEC)
    path = folder(tmp_path, "nested_things", ("year", "month", "day", "hour"), ("2026", "11", "27", "10"))
    instant = datetime(2026, 11, 27, 10, 11, 12, 345678, tzinfo=UTC)
    value = instant.replace(tzinfo=None) if arrow.tz is None else instant
    pq.write_table(pa.table({"deviceid": ["a"], "ts": pa.array([value], arrow)}), path / firehose_name(0, ".parquet"), **options)
    read = read_raw([str(path / firehose_name(0, ".parquet"))], columns_of(pipeline))
    assert read.problems == () and read.frame["ts"].to_list() == [instant]
    assert read.frame["n"].to_list() == [None]  # a column the file does not have is null


def test_columns_the_spec_does_not_declare_go_to_extra(tmp_path: Path) -> None:
    """A Glue table declaring more than the spec: its other columns' non-null values are kept in ``_extra``."""
    pipeline = transform_core.load_pipeline(NESTED_SPEC)
    path = folder(tmp_path, "nested_things", ("year", "month", "day", "hour"), ("2026", "11", "27", "10"))
    table = pa.table(
        {
            "deviceid": ["a", "b", "c"],
            "ts": ["2026-11-27T10:00:00Z"] * 3,
            "source": ["kinesis", None, None],
            "Count": pa.array([2, 5, None], pa.int64()),
        }
    )
    pq.write_table(table, path / "part.parquet")
    read = read_raw([str(path / "part.parquet")], columns_of(pipeline))
    assert read.problems == () and read.frame["deviceId"].to_list() == ["a", "b", "c"]
    assert read.frame["_extra"].to_list() == ['{"source":"kinesis","Count":2}', '{"Count":5}', None]


# --- lineage from a name that is not Firehose's ------------------------------------------------------------------------


def test_a_file_without_firehose_name_takes_its_modification_time(
    pipeline: Pipeline, processed: Processed, tmp_path: Path
) -> None:
    (first,) = write_ndjson(tmp_path, TABLE, _one_day(processed.result, pipeline), pipeline.spec.partitioning.keys, gzipped=False)
    renamed = os.path.join(os.path.dirname(first), "delivered.json")
    os.rename(first, renamed)
    modified = datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=UTC)
    os.utime(renamed, ns=(0, int(modified.timestamp()) * 10**9 + 123456789))
    read = read_raw([renamed], columns_of(pipeline))
    assert read.problems == () and set(read.frame["_ingested_at"]) == {modified}
    assert read.frame["_source_record_id"][0] == "delivered.json#1" and set(read.frame["_batch_id"]) == {"delivered.json"}


# --- what the lake refuses is counted, what is not a raw-zone file is reported -----------------------------------------


def test_a_record_the_lake_refuses_is_returned_with_the_writers_reason(pipeline: Pipeline, tmp_path: Path) -> None:
    payloads = [p.data for p in iot_payloads(20, 0.0, seed=4) if b'"heartbeat"' not in p.data]
    record = json.loads(payloads[0])
    payloads[0] = json.dumps(record).replace(f'"seq": {record["seq"]}', '"seq": 2.9999999999999999999').encode()
    processed = _process(pipeline, payloads)
    assert processed.result.outcomes["result"][0] == "Ok"  # Python's JSON reads 3.0: an integer to the schema
    writer = LakeWriter(pipeline.spec, str(tmp_path / "lake")).write(processed.result, processed.batch, batch_id="b1")
    ((_, writer_reason),) = writer.refused
    files = write_ndjson(tmp_path / "fh", TABLE, processed.result, pipeline.spec.partitioning.keys, gzipped=True)
    read = read_raw(files, columns_of(pipeline))
    (refusal,) = read.refused
    assert refusal.reason == writer_reason and "lake_exact" in refusal.reason
    assert (
        "2.9999999999999999999" in refusal.record and refusal.record_id == f"{os.path.basename(refusal.file)}#{refusal.position}"
    )
    assert sum(s.refused for s in read.sources) == 1 and read.frame.height == writer.ok_rows == len(payloads) - 1
    assert str(record["event_id"]) not in read.frame["event_id"].to_list()


def test_a_line_that_is_not_json_and_a_nan_are_refused(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    one_day = _one_day(processed.result, pipeline)
    (ndjson,) = write_ndjson(tmp_path / "j", TABLE, one_day, pipeline.spec.partitioning.keys, gzipped=False)
    lines = Path(ndjson).read_bytes().split(b"\n")
    Path(ndjson).write_bytes(b"\n".join([lines[0], b"{not json", b"", *lines[1:]]))
    (parquet,) = write_parquet(tmp_path / "p", pipeline, one_day)
    table = pq.read_table(parquet)
    values = table.column("value").to_pylist()
    pq.write_table(
        table.set_column(table.schema.get_field_index("value"), "value", pa.array([float("nan"), *values[1:]])), parquet
    )
    read = read_raw([ndjson, parquet], columns_of(pipeline))
    assert [(r.position, r.file) for r in read.refused] == [(2, ndjson), (1, parquet)]
    assert "lake_exact" in read.refused[0].reason and read.refused[0].record == "{not json"
    assert read.refused[1].reason == "$.value: NaN or an infinity, which a JSON record cannot carry (lake_exact)"
    assert [s.rows for s in read.sources] == [len(values), len(values) - 1]
    # line numbers count the blank line, so the records after it keep their place in the file
    assert read.frame["_source_record_id"][1] == f"{os.path.basename(ndjson)}#4"


BAD_FILES: list[tuple[str, Callable[[Path], bytes], str]] = [
    ("notes.txt", lambda _: b"hello", "not a raw-zone file"),
    (firehose_name(9, ".json.gz"), lambda good: gzip.compress(good.read_bytes())[:-12], "damaged gzip"),
    ("part-0.parquet", lambda _: b"not parquet at all", "bytes are not Parquet"),
    ("part-1.parquet", lambda _: b"PAR1 and then nothing readable", "not a readable Parquet file"),
    ("half.parquet", lambda _: _parquet_bytes(pa.table({"_batch_id": ["b"]})), "without _ingested_at, _source_record_id"),
]


@pytest.mark.parametrize(("name", "content", "reason"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_file_that_is_not_a_raw_zone_file_is_reported(
    name: str, content: Callable[[Path], bytes], reason: str, pipeline: Pipeline, processed: Processed, tmp_path: Path
) -> None:
    (good,) = write_ndjson(tmp_path, TABLE, _one_day(processed.result, pipeline), pipeline.spec.partitioning.keys, gzipped=False)
    bad = Path(good).with_name(name)
    bad.write_bytes(content(Path(good)))
    read = read_raw([str(bad), good], columns_of(pipeline))
    ((file, why),) = read.problems
    assert file == str(bad) and reason in why and "\n" not in why
    assert [s.file for s in read.sources] == [good] and read.frame.height == read.sources[0].rows > 0


def test_a_file_outside_the_partition_folders_is_reported(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    (good,) = write_ndjson(tmp_path, TABLE, _one_day(processed.result, pipeline), pipeline.spec.partitioning.keys, gzipped=False)
    stray = tmp_path / "raw" / TABLE / "year=2026" / firehose_name(1, "")
    stray.write_bytes(Path(good).read_bytes())
    read = read_raw([str(stray)], columns_of(pipeline))
    assert read.problems == ((str(stray), "not in a year=…/month=…/day=… folder (no month, day)"),)
    assert read.frame.height == 0 and read.frame.schema == pl.Schema(columns_of(pipeline).dtypes)


# --- S3 ------------------------------------------------------------------------------------------------------------------


def test_reads_firehose_objects_from_s3(
    pipeline: Pipeline, processed: Processed, s3_bucket: str, moto_server: str, tmp_path: Path
) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    local = write_ndjson(tmp_path, TABLE, processed.result, pipeline.spec.partitioning.keys, gzipped=True)
    uris = []
    for i, path in enumerate(local):
        key = os.path.relpath(path, tmp_path).replace(os.sep, "/")
        key = key if i else key.rsplit("/", 1)[0] + "/other.json.gz"  # one object without Firehose's name
        s3.put_object(Bucket=s3_bucket, Key=key, Body=Path(path).read_bytes())
        uris.append(f"s3://{s3_bucket}/{key}")
    read = read_raw(uris, columns_of(pipeline), endpoint_url=moto_server)
    assert read.problems == () and [s.file for s in read.sources] == uris
    modified = s3.head_object(Bucket=s3_bucket, Key=uris[0].split("/", 3)[3])["LastModified"].astimezone(UTC)
    parts = _per_file(read)
    assert set(parts[0]["_ingested_at"]) == {modified} and set(parts[1]["_ingested_at"]) == {DELIVERED}
    expected = read_raw(local, columns_of(pipeline)).frame
    assert_frame_equal(read.frame.drop(LINEAGE), expected.drop(LINEAGE))


# --- helpers -------------------------------------------------------------------------------------------------------------


def _process(pipeline: Pipeline, payloads: list[bytes]) -> Processed:
    batch = RecordBatch.from_firehose_event(firehose_event([Payload(data) for data in payloads]))
    return Processed(batch, pipeline.process(batch))


def _one_day(result: BatchResult, pipeline: Pipeline) -> BatchResult:
    """The result with only the first partition's records Ok (the others dropped), for one-file tests."""
    keys = list(pipeline.spec.partitioning.keys)
    ok = result.outcomes.filter(pl.col("result") == "Ok")
    first = ok.select(keys).row(0)
    same = pl.all_horizontal(pl.col(k) == v for k, v in zip(keys, first, strict=True))
    outcomes = result.outcomes.with_columns(pl.when(same).then(pl.col("result")).otherwise(pl.lit("Dropped")).alias("result"))
    return result._replace(outcomes=outcomes)


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())
