"""The catalog: Glue types agree with the Parquet the writer produces, the DDL parses, registration works on moto."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

import transform_core
from tests.helpers.glue import glue_parts
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.engine import Pipeline
from transform_core.errors import SpecError
from transform_core.firehose.batch import RecordBatch
from transform_core.lake import LakeWriter, catalog
from transform_core.spec import PipelineSpec

EXAMPLE = Path(__file__).parents[2] / "examples" / "iot" / "pipeline.yaml"
# every lake type, nested: what the iot example lacks (date, boolean, lists, structs in lists and structs)
NESTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ts": {"type": "string", "format": "date-time"},
        "d": {"type": "string", "format": "date"},
        "b": {"type": "boolean"},
        "ints": {"type": "array", "items": {"type": "integer"}},
        "points": {
            "type": "array",
            "items": {"type": "object", "properties": {"x": {"type": "number"}, "at": {"type": "string", "format": "date-time"}}},
        },
        "outer": {
            "type": "object",
            "properties": {"inner": {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}},
        },
        "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    },
}
NESTED_RECORD = {
    "ts": "2026-11-27T10:11:12.123456Z",
    "d": "2026-11-27",
    "b": True,
    "ints": [1, 2],
    "points": [{"x": 1.5, "at": "2026-11-27T00:00:00Z"}],
    "outer": {"inner": {"tags": ["a"]}},
    "either": 3,
}


NESTED_SPEC = {
    "version": 1,
    "name": "nested-things",
    "schema": NESTED_SCHEMA,
    "event_time": {"field": "ts"},
    "partitioning": {"granularity": "hour"},
}


def _nested_spec() -> PipelineSpec:
    return transform_core.load_spec(NESTED_SPEC)


def _write_lake(pipeline: Pipeline, event: dict[str, Any], root: Path) -> Path:
    batch = RecordBatch.from_firehose_event(event)
    summary = LakeWriter(pipeline.spec, str(root)).write(pipeline.process(batch), batch, batch_id="b1")
    assert summary.ok_rows > 0
    return Path(next(f for f in summary.files if f.endswith(".parquet")))


def _nested_event() -> dict[str, Any]:
    data = base64.b64encode(json.dumps(NESTED_RECORD).encode()).decode()
    return {
        "invocationId": "i",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/nested",
        "region": "us-east-1",
        "records": [{"recordId": "r1", "approximateArrivalTimestamp": 1, "data": data}],
    }


def _arrow_matches(arrow: pa.DataType, glue: str) -> bool:
    """Whether a Parquet (Arrow) type is exactly what the Glue type string says."""
    if pa.types.is_struct(arrow):
        fields = [f"{arrow.field(i).name}:" for i in range(arrow.num_fields)]
        inner = glue_parts(glue, "struct<")
        return (
            inner is not None
            and len(inner) == len(fields)
            and all(
                part.startswith(name) and _arrow_matches(arrow.field(i).type, part[len(name) :])
                for i, (name, part) in enumerate(zip(fields, inner, strict=True))
            )
        )
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        inner = glue_parts(glue, "array<")
        return inner is not None and len(inner) == 1 and _arrow_matches(arrow.value_type, inner[0])
    if pa.types.is_timestamp(arrow):
        return glue == "timestamp" and arrow.unit == "us" and arrow.tz == "UTC"
    scalars = {"string": (pa.string(), pa.large_string(), pa.string_view()), "bigint": (pa.int64(),), "double": (pa.float64(),)}
    scalars |= {"boolean": (pa.bool_(),), "date": (pa.date32(),)}
    return arrow in scalars.get(glue, ())


@pytest.mark.parametrize("kind", ["iot", "nested"])
def test_glue_types_match_the_written_parquet(kind: str, tmp_path: Path) -> None:
    if kind == "iot":
        pipeline = transform_core.load_pipeline(str(EXAMPLE))
        file = _write_lake(pipeline, firehose_event(iot_payloads(50, 0.0, seed=3)), tmp_path)
    else:
        pipeline = transform_core.load_pipeline(NESTED_SPEC)
        file = _write_lake(pipeline, _nested_event(), tmp_path)
    schema = pq.read_schema(file)
    columns = catalog.glue_columns(pipeline.spec)
    assert [c["Name"] for c in columns] == schema.names  # same columns, same order; partition keys only in the path
    for column in columns:
        assert _arrow_matches(schema.field(column["Name"]).type, column["Type"]), (column, schema.field(column["Name"]).type)
    keys = [k["Name"] for k in catalog.glue_partition_keys(pipeline.spec)]
    assert keys == (["year", "month", "day"] if kind == "iot" else ["year", "month", "day", "hour"])
    assert "/".join(f"{k}=" for k in keys) in "/".join(part.split("=")[0] + "=" for part in file.parts if "=" in part)


def test_nested_types_are_spelled_the_hive_way() -> None:
    types = {c["Name"]: c["Type"] for c in catalog.glue_columns(_nested_spec())}
    assert types["points"] == "array<struct<x:double,at:timestamp>>"
    assert types["outer"] == "struct<inner:struct<tags:array<string>>>"
    assert (types["d"], types["b"], types["ints"], types["either"]) == ("date", "boolean", "array<bigint>", "string")


@pytest.mark.parametrize("spec_kind", ["iot", "nested"])
def test_ddl_parses_as_athena(spec_kind: str) -> None:
    # sqlglot's "athena" dialect parses Hive-style DDL (CREATE EXTERNAL TABLE … TBLPROPERTIES); "trino" falls back to a raw Command
    spec = transform_core.load_spec(str(EXAMPLE)) if spec_kind == "iot" else _nested_spec()
    ddl = catalog.athena_ddl(spec, "s3://my-lake/prefix", database="telemetry")
    tree = sqlglot.parse_one(ddl, read="athena")
    assert isinstance(tree, exp.Create) and tree.kind == "TABLE"
    table = tree.find(exp.Table)
    assert table is not None and (table.db, table.name) == ("telemetry", spec.name.replace("-", "_"))
    schema = tree.this
    assert [col.name for col in schema.expressions] == [c["Name"] for c in catalog.glue_columns(spec)]
    partitioned = tree.find(exp.PartitionedByProperty)
    assert partitioned is not None
    assert [col.name for col in partitioned.this.expressions] == list(spec.partitioning.keys)
    location = tree.find(exp.LocationProperty)
    assert location is not None and location.this.name == f"s3://my-lake/prefix/raw/{spec.name.replace('-', '_')}/"
    props = {p.name: p.text("value") for p in tree.find_all(exp.Property) if type(p) is exp.Property}
    assert props["projection.enabled"] == "true" and props["parquet.compression"] == "ZSTD"
    assert (props["projection.year.type"], props["projection.year.digits"]) == ("integer", "4")
    for key in spec.partitioning.keys:
        assert "${" + key + "}" in props["storage.location.template"]
        if key != "year":
            assert (props[f"projection.{key}.type"], props[f"projection.{key}.digits"]) == ("integer", "2")
    assert tree.find(exp.FileFormatProperty) is not None


def test_table_input_names_the_parquet_serde() -> None:
    spec = transform_core.load_spec(str(EXAMPLE))
    table = catalog.glue_table_input(spec, "s3://my-lake/")
    sd = table["StorageDescriptor"]
    assert (table["Name"], table["TableType"], sd["Location"]) == (
        "iot_telemetry",
        "EXTERNAL_TABLE",
        "s3://my-lake/raw/iot_telemetry/",
    )
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert sd["InputFormat"].endswith("MapredParquetInputFormat") and sd["OutputFormat"].endswith("MapredParquetOutputFormat")
    assert table["Parameters"]["classification"] == "parquet"
    assert (
        table["Parameters"]["storage.location.template"]
        == "s3://my-lake/raw/iot_telemetry/year=${year}/month=${month}/day=${day}/"
    )


def test_create_table_request_is_the_database_and_the_table_input() -> None:
    spec = transform_core.load_spec(str(EXAMPLE))
    request = catalog.create_table_request(spec, "s3://my-lake", database="telemetry", table="Other", years=(2020, 2030))
    assert request == {
        "DatabaseName": "telemetry",
        "TableInput": catalog.glue_table_input(spec, "s3://my-lake", table="Other", years=(2020, 2030)),
    }
    with pytest.raises(ValueError, match="database name must be letters, digits and underscores"):
        catalog.create_table_request(spec, "s3://my-lake", database="no-dashes")


@pytest.mark.parametrize(("table", "name"), [(None, "iot_telemetry"), ("Mixed_Case_2", "mixed_case_2")])
def test_table_name_is_lowercase_as_glue_stores_it(table: str | None, name: str) -> None:
    spec = transform_core.load_spec(str(EXAMPLE))
    assert catalog.table_name(spec, table) == name == catalog.glue_table_input(spec, "s3://l", table=table)["Name"]


def test_a_table_name_athena_cannot_hold_is_refused() -> None:
    with pytest.raises(ValueError, match="table name must be letters, digits and underscores"):
        catalog.table_name(transform_core.load_spec(str(EXAMPLE)), "a-b")


@pytest.mark.parametrize(
    ("schema", "match"),
    [
        ({"type": "object", "properties": {"ts": {"type": "string"}, "a b": {"type": "string"}}}, "cannot be a Glue"),
        (
            {"type": "object", "properties": {"ts": {"type": "string"}, "A": {"type": "string"}, "a": {"type": "string"}}},
            "lowercased",
        ),
        (
            {
                "type": "object",
                "properties": {"ts": {"type": "string"}, "s": {"type": "object", "properties": {"x:y": {"type": "string"}}}},
            },
            "x:y",
        ),
    ],
)
def test_names_glue_cannot_hold_are_spec_errors(schema: dict[str, Any], match: str) -> None:
    spec = transform_core.load_spec({"version": 1, "name": "t", "schema": schema, "event_time": {"field": "ts"}})
    with pytest.raises(SpecError, match=match):
        catalog.glue_columns(spec)


@pytest.mark.parametrize("location", ["lake/local", "s3://", "s3://b/it's"])
def test_location_must_be_s3(location: str) -> None:
    with pytest.raises(ValueError, match="s3://"):
        catalog.athena_ddl(transform_core.load_spec(str(EXAMPLE)), location, database="db")


def test_register_creates_then_updates_on_moto(s3_bucket: str, moto_server: str) -> None:
    import boto3

    spec = transform_core.load_spec(str(EXAMPLE))
    location = f"s3://{s3_bucket}/lake"
    assert catalog.register(spec, location, database="telemetry", endpoint_url=moto_server, region="us-east-1") == "created"
    assert catalog.register(spec, location, database="telemetry", endpoint_url=moto_server) == "updated"
    glue = boto3.client("glue", endpoint_url=moto_server, region_name="us-east-1")
    table = glue.get_table(DatabaseName="telemetry", Name="iot_telemetry")["Table"]
    sd = table["StorageDescriptor"]
    assert [{"Name": c["Name"], "Type": c["Type"]} for c in sd["Columns"]] == catalog.glue_columns(spec)
    assert [{"Name": k["Name"], "Type": k["Type"]} for k in table["PartitionKeys"]] == catalog.glue_partition_keys(spec)
    assert sd["Location"] == f"{location}/raw/iot_telemetry/"
    assert table["Parameters"]["projection.enabled"] == "true"


@pytest.mark.parametrize(
    ("arrow", "glue"),
    [
        (pa.int32(), "bigint"),
        (pa.timestamp("us"), "timestamp"),
        (pa.timestamp("ns", tz="UTC"), "timestamp"),
        (pa.struct({"a": pa.int64()}), "struct<b:bigint>"),
        (pa.list_(pa.string()), "array<bigint>"),
        (pa.string(), "date"),
    ],
)
def test_the_type_comparison_can_fail(arrow: pa.DataType, glue: str) -> None:
    assert not _arrow_matches(arrow, glue)


def test_register_without_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from transform_core.errors import ConfigurationEnvironmentError

    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 now raises ImportError
    with pytest.raises(ConfigurationEnvironmentError, match=r"transform-core\[aws\]"):
        catalog.register(transform_core.load_spec(str(EXAMPLE)), "s3://my-lake", database="telemetry")


# --- the raw zone as Firehose delivers it ------------------------------------------------------------------------------

FIREHOSE = ["firehose-parquet", "firehose-json"]
# deploy/template.yaml's GlueTable columns: what Firehose delivers for the example (record columns, event_time as text)
EXAMPLE_FIREHOSE_COLUMNS = [
    {"Name": "event_id", "Type": "string"},
    {"Name": "device_id", "Type": "string"},
    {"Name": "gateway_id", "Type": "string"},
    {"Name": "seq", "Type": "bigint"},
    {"Name": "event_time", "Type": "string"},
    {"Name": "event_type", "Type": "string"},
    {"Name": "value", "Type": "double"},
    {"Name": "unit", "Type": "string"},
    {"Name": "battery", "Type": "bigint"},
    {"Name": "rssi", "Type": "bigint"},
    {"Name": "lat", "Type": "double"},
    {"Name": "lon", "Type": "double"},
    {"Name": "tags", "Type": "struct<fw:string,zone:string>"},
    {"Name": "site", "Type": "string"},
    {"Name": "model", "Type": "string"},
]
CASED_SPEC = {
    "version": 1,
    "name": "cased",
    "schema": {
        "type": "object",
        "properties": {
            "ts": {"type": "string", "format": "date-time"},
            "deviceId": {"type": "string"},
            "reading": {
                "type": "object",
                "properties": {"fwVersion": {"type": "string"}, "takenAt": {"type": "string", "format": "date"}},
            },
        },
    },
    "event_time": {"field": "ts"},
}


@pytest.mark.parametrize("producer", FIREHOSE)
def test_firehose_columns_are_the_records_with_dates_as_text(producer: catalog.RawProducer) -> None:
    assert catalog.glue_columns(transform_core.load_spec(str(EXAMPLE)), producer=producer) == EXAMPLE_FIREHOSE_COLUMNS
    types = {c["Name"]: c["Type"] for c in catalog.glue_columns(_nested_spec(), producer=producer)}
    assert types == {
        "ts": "string",
        "d": "string",
        "b": "boolean",
        "ints": "array<bigint>",
        "points": "array<struct<x:double,at:string>>",
        "outer": "struct<inner:struct<tags:array<string>>>",
        "either": "string",
    }


@pytest.mark.parametrize("producer", FIREHOSE)
def test_firehose_names_are_lowercase_at_every_level(producer: catalog.RawProducer) -> None:
    spec = transform_core.load_spec(CASED_SPEC)
    assert catalog.glue_columns(spec, producer=producer) == [
        {"Name": "ts", "Type": "string"},
        {"Name": "deviceid", "Type": "string"},
        {"Name": "reading", "Type": "struct<fwversion:string,takenat:string>"},
    ]
    own = {c["Name"]: c["Type"] for c in catalog.glue_columns(spec)}  # the lake writer's shape keeps the spec's names
    assert own["reading"] == "struct<fwVersion:string,takenAt:date>" and "deviceId" in own and "_extra" in own


@pytest.mark.parametrize("spec_kind", ["iot", "nested"])
@pytest.mark.parametrize("producer", FIREHOSE)
def test_firehose_ddl_parses_as_athena(producer: catalog.RawProducer, spec_kind: str) -> None:
    spec = transform_core.load_spec(str(EXAMPLE)) if spec_kind == "iot" else _nested_spec()
    ddl = catalog.athena_ddl(spec, "s3://raw-bucket", database="telemetry", producer=producer)
    tree = sqlglot.parse_one(ddl, read="athena")
    assert isinstance(tree, exp.Create) and tree.kind == "TABLE"
    names = [col.name for col in tree.this.expressions]
    assert names == [c["Name"] for c in catalog.glue_columns(spec, producer=producer)]
    assert not {"_extra", "_ingested_at", "_source_record_id", "_batch_id"} & set(names)
    partitioned = tree.find(exp.PartitionedByProperty)
    assert partitioned is not None and [c.name for c in partitioned.this.expressions] == list(spec.partitioning.keys)
    location = tree.find(exp.LocationProperty)
    assert location is not None and location.this.name == f"s3://raw-bucket/raw/{spec.name.replace('-', '_')}/"
    props = {p.name: p.text("value") for p in tree.find_all(exp.Property) if type(p) is exp.Property}
    assert props["projection.enabled"] == "true" and "parquet.compression" not in props
    assert all("${" + key + "}" in props["storage.location.template"] for key in spec.partitioning.keys)
    file_format = tree.find(exp.FileFormatProperty)
    serde = tree.find(exp.RowFormatSerdeProperty)
    assert file_format is not None
    if producer == "firehose-json":
        assert serde is not None and serde.this.name == "org.apache.hive.hcatalog.data.JsonSerDe"
        formats = file_format.this
        assert isinstance(formats, exp.InputOutputFormat)
        assert formats.args["input_format"].name == "org.apache.hadoop.mapred.TextInputFormat"
        assert formats.args["output_format"].name == "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    else:
        assert serde is None and file_format.this.name.upper() == "PARQUET"


@pytest.mark.parametrize(
    ("producer", "serde", "classification"),
    [
        ("transform-core", "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe", "parquet"),
        ("firehose-parquet", "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe", "parquet"),
        ("firehose-json", "org.apache.hive.hcatalog.data.JsonSerDe", "json"),
    ],
)
def test_table_input_per_producer(producer: catalog.RawProducer, serde: str, classification: str) -> None:
    spec = transform_core.load_spec(str(EXAMPLE))
    table = catalog.glue_table_input(spec, "s3://raw-bucket", producer=producer)
    sd = table["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == serde and table["Parameters"]["classification"] == classification
    assert sd["Columns"] == catalog.glue_columns(spec, producer=producer)
    assert table["PartitionKeys"] == catalog.glue_partition_keys(spec) and sd["Location"] == "s3://raw-bucket/raw/iot_telemetry/"
    assert sd["InputFormat"].endswith("TextInputFormat" if classification == "json" else "MapredParquetInputFormat")
    assert ("parquet.compression" in table["Parameters"]) == (producer == "transform-core")
    assert table["Parameters"]["storage.location.template"].endswith("year=${year}/month=${month}/day=${day}/")


def test_an_unknown_producer_is_refused() -> None:
    with pytest.raises(ValueError, match="producer must be one of transform-core, firehose-parquet, firehose-json"):
        catalog.glue_table_input(transform_core.load_spec(str(EXAMPLE)), "s3://b", producer="kinesis")  # type: ignore[arg-type]


@pytest.mark.parametrize("producer", catalog.PRODUCERS)
def test_catalog_command_prints_each_producers_shape(producer: str, capsys: pytest.CaptureFixture[str]) -> None:
    from transform_core.cli import main

    spec = transform_core.load_spec(str(EXAMPLE))
    argv = ["catalog", "--spec", str(EXAMPLE), "--location", "s3://raw-bucket", "--database", "telemetry"]
    assert main([*argv, "--producer", producer]) == 0
    out = capsys.readouterr().out
    assert out == catalog.athena_ddl(spec, "s3://raw-bucket", database="telemetry", producer=producer) + ";\n"
    assert main([*argv, "--producer", producer, "--format", "glue-json"]) == 0
    request = json.loads(capsys.readouterr().out)
    assert request == catalog.create_table_request(spec, "s3://raw-bucket", database="telemetry", producer=producer)
    if producer == "transform-core":  # without the flag, the output is the lake writer's table, as before
        assert main(argv) == 0 and capsys.readouterr().out == out


def test_register_a_firehose_table_on_moto(s3_bucket: str, moto_server: str) -> None:
    import boto3

    spec = transform_core.load_spec(str(EXAMPLE))
    location = f"s3://{s3_bucket}"
    options: dict[str, Any] = {"database": "firehose_db", "endpoint_url": moto_server, "region": "us-east-1"}
    assert catalog.register(spec, location, producer="firehose-json", **options) == "created"
    assert catalog.register(spec, location, producer="firehose-parquet", **options) == "updated"
    glue = boto3.client("glue", endpoint_url=moto_server, region_name="us-east-1")
    table = glue.get_table(DatabaseName="firehose_db", Name="iot_telemetry")["Table"]
    sd = table["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert [{"Name": c["Name"], "Type": c["Type"]} for c in sd["Columns"]] == EXAMPLE_FIREHOSE_COLUMNS
