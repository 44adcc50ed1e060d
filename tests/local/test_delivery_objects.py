"""The objects a local stream writes: Firehose's names, Parquet with the Glue table's columns, NDJSON, atomic writes."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import orjson
import polars as pl
import pytest

from tests.helpers.lake import EXAMPLE
from transform_core import PipelineSpec, load_spec
from transform_core.lake.catalog import glue_columns
from transform_core.lake.raw_firehose import FIREHOSE_NAME, name_time
from transform_core.local.delivery_config import DeliverySettings
from transform_core.local.delivery_objects import ParquetConverter, encode, glue_dtype, object_name, write_object

RECORD = {
    "event_id": "e1",
    "device_id": "dev-0001",
    "seq": 3,
    "event_time": "2026-11-24T10:00:00Z",
    "event_type": "telemetry",
    "value": 21,
    "tags": {"fw": "2.1", "Zone": "a", "other": 1},
    "undeclared": True,
}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> DeliverySettings:
    return DeliverySettings(spec=load_spec(EXAMPLE), lake=str(tmp_path_factory.mktemp("lake")))


def test_object_names_are_firehoses_with_the_write_time_in_utc(settings: DeliverySettings) -> None:
    name = object_name(settings, 1_795_837_845.9, ".parquet")
    match = FIREHOSE_NAME.fullmatch(name)
    assert match is not None and (match["stream"], match["version"], match["extension"]) == ("iot-telemetry", "1", ".parquet")
    stamp = name_time(name)
    assert stamp is not None and stamp.isoformat() == "2026-11-28T03:50:45+00:00"
    assert object_name(settings, 0, "") != object_name(settings, 0, "")  # a new UUID each time


@pytest.mark.parametrize(
    ("glue", "dtype"),
    [
        ("string", pl.String()),
        ("array<struct<a:bigint,b:array<double>>>", pl.List(pl.Struct({"a": pl.Int64(), "b": pl.List(pl.Float64())}))),
        ("struct<x:boolean,y:string>", pl.Struct({"x": pl.Boolean(), "y": pl.String()})),
    ],
)
def test_glue_types_become_parquet_types(glue: str, dtype: pl.DataType) -> None:
    assert glue_dtype(glue) == dtype


def test_glue_types_the_firehose_table_never_has_are_refused() -> None:
    with pytest.raises(ValueError, match="timestamp"):
        glue_dtype("timestamp")


def test_parquet_has_the_glue_tables_columns_read_as_openx_reads_json(settings: DeliverySettings, tmp_path: Path) -> None:
    converter = ParquetConverter(settings)
    body, failed = converter.convert([orjson.dumps(RECORD) + b"\n"])
    assert body is not None and failed == []
    (tmp_path / "f.parquet").write_bytes(body)
    frame = pl.read_parquet(tmp_path / "f.parquet")
    assert frame.columns == [c["Name"] for c in glue_columns(settings.spec, producer="firehose-parquet")]
    row = frame.row(0, named=True)
    assert (row["seq"], row["value"], row["event_time"]) == (3, 21.0, "2026-11-24T10:00:00Z")
    assert row["tags"] == {"fw": "2.1", "zone": "a"}  # keys lowercased, undeclared fields dropped
    assert "undeclared" not in frame.columns and row["site"] is None


@pytest.mark.parametrize(
    "change",
    [{"seq": 4.5}, {"seq": "3"}, {"seq": True}, {"seq": 2**63}, {"value": "21"}, {"tags": [1]}, {"lat": True}],
)
def test_a_record_that_does_not_fit_the_columns_fails_conversion_alone(
    settings: DeliverySettings, change: dict[str, object]
) -> None:
    converter = ParquetConverter(settings)
    good = orjson.dumps(RECORD)
    body, failed = converter.convert([good, orjson.dumps({**RECORD, **change}), good, b"[1]"])
    assert body is not None and failed == [1, 3]
    assert pl.read_parquet(body).height == 2


def test_a_json_text_column_holds_a_strings_content_and_other_values_as_json() -> None:
    from transform_core.local.delivery_objects import _value

    assert (_value("a b", "string"), _value({"k": [1, 2.5]}, "string"), _value(2.0, "bigint")) == ("a b", '{"k":[1,2.5]}', 2)


def test_json_objects_are_the_records_concatenated_gzip_or_not() -> None:
    lines = [b'{"a":1}\n', b'{"a":2}\n']
    assert encode(lines, gzipped=False) == b'{"a":1}\n{"a":2}\n'
    assert gzip.decompress(encode(lines, gzipped=True)) == b'{"a":1}\n{"a":2}\n'


def test_an_interrupted_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(source: str, dest: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_object(str(tmp_path), "raw/t/year=2026/", "name.parquet", b"PAR1")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    monkeypatch.undo()
    path = write_object(str(tmp_path), "raw/t/year=2026/", "name.parquet", b"PAR1")
    assert path == str(tmp_path / "raw" / "t" / "year=2026" / "name.parquet") and Path(path).read_bytes() == b"PAR1"


def test_the_spec_fixture_is_the_example(settings: DeliverySettings) -> None:
    spec: PipelineSpec = settings.spec
    assert settings.table == "iot_telemetry" and spec.partitioning.keys == ("year", "month", "day")
