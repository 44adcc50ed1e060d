"""The template's raw table (``GlueTable``) is the one ``transform-core catalog --format cloudformation`` generates from
the function's spec, and, for each ``DeliveryFormat``, the table ``catalog --producer firehose-*`` describes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import transform_core
from transform_core.cli import main
from transform_core.deploy.template import RESOURCE, raw_table_resource, raw_table_yaml, replace_raw_table
from transform_core.lake import catalog

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
SPEC = ROOT / "deploy" / "function" / "pipeline.yaml"  # the spec the function ships
REGENERATE = ["catalog", "--spec", str(SPEC), "--format", "cloudformation"]


def resolve(value: Any, *, parquet: bool, names: dict[str, str]) -> Any:
    """The value CloudFormation makes of ``value`` for one ``DeliveryFormat``: ``Fn::If`` on ``UseParquet`` decided,
    ``Fn::Sub`` filled in from ``names`` (``${!x}`` back to ``${x}``), ``Ref`` to a name looked up."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        condition, then, otherwise = value["Fn::If"]
        assert condition == "UseParquet"
        return resolve(then if parquet else otherwise, parquet=parquet, names=names)
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"]
        for name, resolved in names.items():
            text = text.replace("${" + name + "}", resolved)
        assert "${" not in text.replace("${!", ""), text
        return text.replace("${!", "${")
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return names[value["Ref"]]
    if isinstance(value, dict):
        return {key: resolve(item, parquet=parquet, names=names) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, parquet=parquet, names=names) for item in value]
    return value


def test_the_template_holds_the_generated_text(capsys: pytest.CaptureFixture[str]) -> None:
    """Regenerating after a spec change is one command whose output replaces the block (docs/deploy.md, "Catalog")."""
    assert main(REGENERATE) == 0
    generated = capsys.readouterr().out
    assert generated == raw_table_yaml(transform_core.load_spec(str(SPEC)))
    assert f"\n  {RESOURCE}:\n" in generated and generated in TEMPLATE.read_text(encoding="utf-8")


def test_the_template_table_is_the_generated_resource(template: dict[str, Any]) -> None:
    assert template["Resources"][RESOURCE] == raw_table_resource(transform_core.load_spec(str(SPEC)))


@pytest.mark.parametrize(("delivery_format", "producer"), [("Parquet", "firehose-parquet"), ("JSON", "firehose-json")])
def test_each_delivery_format_gets_the_catalogs_table(
    template: dict[str, Any], delivery_format: str, producer: catalog.RawProducer
) -> None:
    """Resolved for one DeliveryFormat, the template's table is the catalog's for that producer, field by field."""
    spec = transform_core.load_spec(str(SPEC))
    names = {"RawBucket": "raw-bucket", "TableName": catalog.table_name(spec), "GlueDatabase": "db", "AWS::AccountId": "1"}
    properties = resolve(template["Resources"][RESOURCE]["Properties"], parquet=delivery_format == "Parquet", names=names)
    table, expected = properties["TableInput"], catalog.glue_table_input(spec, "s3://raw-bucket", producer=producer)
    sd, expected_sd = table["StorageDescriptor"], expected["StorageDescriptor"]
    assert sd["Columns"] == catalog.glue_columns(spec, producer=producer) == expected_sd["Columns"]
    assert table["PartitionKeys"] == catalog.glue_partition_keys(spec) == expected["PartitionKeys"]
    for key in ("InputFormat", "OutputFormat", "SerdeInfo", "Location", "Compressed"):
        assert sd[key] == expected_sd[key], key
    assert table["Parameters"] == expected["Parameters"] and table["Name"] == expected["Name"]
    serde = "org.apache.hive.hcatalog.data.JsonSerDe" if delivery_format == "JSON" else catalog.SERDE
    assert sd["SerdeInfo"]["SerializationLibrary"] == serde  # Hive's JSON SerDe, never OpenX's (docs/raw-zone.md)


def test_the_table_name_parameter_is_the_specs(template: dict[str, Any]) -> None:
    """Firehose writes raw/<TableName>/ and compact reads raw/<the spec's name>/: the default keeps them one folder."""
    assert template["Parameters"]["TableName"]["Default"] == catalog.table_name(transform_core.load_spec(str(SPEC)))


NESTED = {
    "version": 1,
    "name": "nested-things",
    "schema": {
        "type": "object",
        "properties": {
            "ts": {"type": "string", "format": "date-time"},
            "On": {"type": "boolean"},
            "points": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "number"}}}},
            "outer": {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}},
        },
    },
    "event_time": {"field": "ts"},
}


def test_the_yaml_reads_back_as_the_resource() -> None:
    """Quoting: struct and array types, a column named like a YAML boolean, numbers kept as text."""
    from cfnlint.decode.cfn_yaml import loads

    spec = transform_core.load_spec(NESTED)
    text = raw_table_yaml(spec)
    assert loads("Resources:\n" + text)["Resources"] == {RESOURCE: raw_table_resource(spec)}
    columns = raw_table_resource(spec)["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]
    assert {"Name": "on", "Type": "boolean"} in columns and '{Name: "on", Type: boolean}' in text
    assert '{Name: points, Type: "array<struct<x:double>>"}' in text


def test_a_spec_whose_raw_folder_is_not_lowercase_is_refused() -> None:
    with pytest.raises(ValueError, match="not lowercase, as TableName is"):
        raw_table_resource(transform_core.load_spec({**NESTED, "name": "Nested-Things"}))


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--location", "s3://lake"], "--location"),
        (["--database", "db", "--table", "t"], "--database, --table"),
        (["--producer", "firehose-json"], "--producer"),
        (["--zone", "curated"], "--zone"),
        (["--register"], "--register"),
    ],
)
def test_cloudformation_takes_the_spec_only(extra: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*REGENERATE, *extra]) == 1
    out, err = capsys.readouterr()
    assert (
        out == "" and err == f"transform-core: error: --format cloudformation takes --spec (and --template) only, not {named}\n"
    )


def test_one_command_puts_the_table_in_the_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """After a change to the spec: the block (and its comment) replaced, everything around it kept."""
    current = TEMPLATE.read_text(encoding="utf-8")
    stale = current.replace("            - {Name: rssi, Type: bigint}\n", "").replace(
        "UseParquet, parquet, json", "UseParquet, x, y"
    )
    assert stale != current
    copy = tmp_path / "template.yaml"
    copy.write_text(stale, encoding="utf-8")

    assert main([*REGENERATE, "--template", str(copy)]) == 0
    assert capsys.readouterr() == ("", f"{copy}: {RESOURCE} updated\n")
    assert copy.read_text(encoding="utf-8") == current
    assert main([*REGENERATE, "--template", str(copy)]) == 0
    assert capsys.readouterr() == ("", f"{copy}: {RESOURCE} unchanged\n")


@pytest.mark.parametrize(
    ("text", "found"),
    [("Resources:\n  Other:\n    Type: AWS::S3::Bucket\n", 0), ("Resources:\n  GlueTable:\n    a: 1\n  GlueTable:\n", 2)],
)
def test_a_template_without_one_table_is_refused(text: str, found: int) -> None:
    with pytest.raises(ValueError, match=f"the template must have one GlueTable resource, found {found}"):
        replace_raw_table(text, transform_core.load_spec(str(SPEC)))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([*REGENERATE, "--template", "/nonexistent/template.yaml"], "cannot read the template /nonexistent/template.yaml"),
        (["catalog", "--spec", str(SPEC), "--location", "s3://l", "--database", "d", "--template", "t.yaml"], "--template goes"),
    ],
)
def test_template_errors_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("transform-core: error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("missing", ["--location", "--database"])
def test_the_other_formats_still_need_location_and_database(missing: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = {"--spec": str(SPEC), "--location": "s3://lake", "--database": "db"}
    del argv[missing]
    assert main(["catalog", *[part for pair in argv.items() for part in pair]]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == (
        "transform-core: error: --location and --database are required (except with --format cloudformation)\n"
    )
