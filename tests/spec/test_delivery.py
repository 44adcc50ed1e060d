"""``output.delivery`` and ``output.iceberg``: how Firehose delivers Ok records (S3 partitions or an Iceberg table),
read at load, every problem a one-line SpecError naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from transform_core import SpecError, load_spec
from transform_core.spec import IcebergSpec, OutputSpec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "iot" / "pipeline.yaml"
TABLE: dict[str, Any] = {"database": "transform_core", "table": "iot_telemetry"}


def with_output(output: Any) -> dict[str, Any]:
    """The example spec, inline (paths made absolute), with ``output`` as given."""
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw["schema"] = str(EXAMPLE.parent / raw["schema"])
    raw["enrich"][0]["source"] = str((EXAMPLE.parent / raw["enrich"][0]["source"]).resolve())
    raw["output"] = output
    return raw


def test_a_spec_without_delivery_delivers_to_s3() -> None:
    output = load_spec(EXAMPLE).output
    assert (output.delivery, output.iceberg, output.route) == ("s3", None, None)
    assert load_spec(with_output({})).output == OutputSpec()


@pytest.mark.parametrize("operation", ["insert", "update", "delete", None])
def test_iceberg_delivery_names_the_table_and_the_operation(operation: str | None) -> None:
    iceberg = TABLE if operation is None else {**TABLE, "operation": operation}
    output = load_spec(with_output({"delivery": "iceberg", "iceberg": iceberg})).output
    expected = IcebergSpec(database="transform_core", table="iot_telemetry", operation=operation or "insert")  # type: ignore[arg-type]
    assert output.iceberg == expected
    assert output.route == expected


def test_an_iceberg_table_without_iceberg_delivery_routes_nothing() -> None:
    output = load_spec(with_output({"delivery": "s3", "iceberg": TABLE})).output
    assert output.iceberg == IcebergSpec(**TABLE)
    assert output.route is None


def test_delivery_and_the_lake_go_together(tmp_path: Path) -> None:
    output = load_spec(with_output({"lake": str(tmp_path), "delivery": "iceberg", "iceberg": TABLE})).output
    assert output.lake == tmp_path and output.route == IcebergSpec(**TABLE)


@pytest.mark.parametrize(
    ("output", "key", "fragment"),
    [
        ({"delivery": "kinesis"}, "output.delivery", "must be one of s3, iceberg, got 'kinesis'"),
        ({"delivery": "Iceberg", "iceberg": TABLE}, "output.delivery", "must be one of s3, iceberg, got 'Iceberg'"),
        ({"delivery": "iceberg"}, "output.iceberg", "is required with delivery: iceberg"),
        ({"delivery": "iceberg", "iceberg": None}, "output.iceberg", "is required with delivery: iceberg"),
        ({"iceberg": "transform_core.iot"}, "output.iceberg", "must be a mapping, got str"),
        (
            {"iceberg": {**TABLE, "format": "parquet"}},
            "output.iceberg.format",
            "unknown key (allowed: database, operation, table)",
        ),
        ({"iceberg": {"table": "t"}}, "output.iceberg.database", "is required"),
        ({"iceberg": {"database": "d"}}, "output.iceberg.table", "is required"),
        ({"iceberg": {**TABLE, "database": "my-lake"}}, "output.iceberg.database", "letters, digits and underscores"),
        ({"iceberg": {**TABLE, "table": "db.table"}}, "output.iceberg.table", "got 'db.table'"),
        ({"iceberg": {**TABLE, "table": ""}}, "output.iceberg.table", "got ''"),
        ({"iceberg": {**TABLE, "table": "t" * 256}}, "output.iceberg.table", "1-255 letters"),
        ({"iceberg": {**TABLE, "database": 7}}, "output.iceberg.database", "got 7"),
        ({"iceberg": {**TABLE, "operation": "upsert"}}, "output.iceberg.operation", "must be one of insert, update, delete"),
        ({"destination": "iceberg"}, "output.destination", "unknown key (allowed: delivery, iceberg, lake)"),
    ],
)
@pytest.mark.parametrize("where", ["inline", "file"])
def test_a_bad_delivery_is_a_one_line_spec_error_naming_the_key(
    tmp_path: Path, where: str, output: dict[str, Any], key: str, fragment: str
) -> None:
    raw = with_output(output)
    source: Any = raw
    if where == "file":
        source = tmp_path / "pipeline.yaml"
        source.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(source)
    assert caught.value.key == key
    assert caught.value.file == ("<inline>" if where == "inline" else str(source))
    assert fragment in caught.value.message
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"database": "a-b", "table": "t"}, "database must be 1-255 letters"),
        ({"database": "d", "table": "t t"}, "table must be 1-255 letters"),
        ({"database": "d", "table": "t", "operation": "merge"}, "operation must be one of insert, update, delete"),
    ],
)
def test_an_iceberg_spec_checks_itself_when_built(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IcebergSpec(**arguments)


def test_an_output_spec_refuses_iceberg_delivery_without_a_table() -> None:
    with pytest.raises(ValueError, match="delivery iceberg needs iceberg"):
        OutputSpec(delivery="iceberg")
    with pytest.raises(ValueError, match="delivery must be s3 or iceberg"):
        OutputSpec(delivery="kinesis")  # type: ignore[arg-type]
