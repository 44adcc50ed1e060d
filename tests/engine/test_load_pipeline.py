"""load_pipeline: a schema, field binding or reference table that is wrong fails at load, naming file and key."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from transform_core import Pipeline, SpecError, load_pipeline
from transform_core.firehose.batch import RecordBatch

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "iot" / "pipeline.yaml"
SCHEMA = REPO / "examples" / "iot" / "schemas" / "iot_event.schema.json"
DEVICES = REPO / "reference_data" / "devices.csv"

SchemaEdit = Callable[[dict[str, Any]], None]
SpecEdit = Callable[[dict[str, Any]], None]


def example_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return schema


def spec_for(schema: Any = "schema.json", table: str = "devices.csv") -> dict[str, Any]:
    return {
        "version": 1,
        "name": "load-test",
        "schema": schema,
        "event_time": {"field": "event_time"},
        "enrich": [{"name": "devices", "source": table, "key": "device_id", "fields": ["site", "model"]}],
        "drop": {"field": "event_type", "in": ["heartbeat"]},
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(DEVICES, tmp_path / "devices.csv")
    (tmp_path / "schema.json").write_text(SCHEMA.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def write(folder: Path, spec: dict[str, Any], schema: dict[str, Any] | None = None) -> tuple[Path, Path]:
    schema_path = folder / "schema.json"
    if schema is not None:
        schema_path.write_text(json.dumps(schema), encoding="utf-8")
    spec_path = folder / "pipeline.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return spec_path, schema_path


def test_example_pipeline_loads() -> None:
    pipeline = load_pipeline(str(EXAMPLE))
    assert isinstance(pipeline, Pipeline)
    assert pipeline.spec.name == "iot-telemetry"


def test_pipeline_from_a_copied_spec_processes_a_record(folder: Path) -> None:
    spec_path, _ = write(folder, spec_for())
    record = {
        "event_id": "3f9a1c52-7b4e-4d21-9c8a-0e6f5b2d4a17",
        "device_id": "dev-0001",
        "seq": 1,
        "event_time": "2026-11-26T14:03:27Z",
        "event_type": "telemetry",
        "value": 21.5,
    }
    batch = RecordBatch(record_ids=["r1"], data=[base64.b64encode(json.dumps(record).encode()).decode()], arrival_ms=[None])

    result = load_pipeline(spec_path).process(batch)

    assert (result.ok, result.failed, result.dropped) == (1, 0, 0)


# --- schema errors: the schema file and a JSON pointer ----------------------------------------------------------


def _prop(name: str, subschema: Any) -> SchemaEdit:
    return lambda s: s["properties"].__setitem__(name, subschema)


def _patch(name: str, **keywords: Any) -> SchemaEdit:
    return lambda s: s["properties"][name].update(keywords)


SCHEMA_ERRORS: list[Any] = [
    pytest.param(
        _prop("readings", {"type": "array", "prefixItems": [{"type": "number"}]}),
        "/properties/readings/prefixItems",
        "unsupported keyword 'prefixItems'",
        id="prefixItems",
    ),
    pytest.param(
        lambda s: s.__setitem__("unevaluatedProperties", False),
        "/unevaluatedProperties",
        "unsupported keyword 'unevaluatedProperties'",
        id="unevaluatedProperties",
    ),
    pytest.param(
        _patch("tags", dependentRequired={"fw": ["zone"]}),
        "/properties/tags/dependentRequired",
        "unsupported keyword",
        id="dependentRequired",
    ),
    pytest.param(_patch("value", type="float"), "/properties/value/type", "got 'float'", id="type-unknown"),
    pytest.param(
        _patch("value", type=["number", "number"]), "/properties/value/type", "got ['number', 'number']", id="type-repeated"
    ),
    pytest.param(_patch("value", type=[]), "/properties/value/type", "got []", id="type-empty"),
    pytest.param(
        _patch("device_id", pattern="^dev-[0-9"),
        "/properties/device_id/pattern",
        "invalid regular expression '^dev-[0-9'",
        id="pattern-unterminated-set",
    ),
    pytest.param(
        _patch("device_id", pattern="(dev"),
        "/properties/device_id/pattern",
        "invalid regular expression",
        id="pattern-unbalanced",
    ),
    pytest.param(
        _patch("event_time", format="datetime"),
        "/properties/event_time/format",
        "unsupported format 'datetime'",
        id="format-unknown",
    ),
    pytest.param(
        _prop("where", {"$ref": "#/$defs/location"}),
        "/properties/where/$ref",
        "$ref '#/$defs/location' points nowhere",
        id="ref-nowhere",
    ),
    pytest.param(
        _prop("where", {"$ref": "#/properties/lat/nope"}), "/properties/where/$ref", "points nowhere", id="ref-nowhere-deep"
    ),
    pytest.param(
        _prop("where", {"$ref": "https://example.com/location.json"}),
        "/properties/where/$ref",
        "only local $ref",
        id="ref-remote",
    ),
    pytest.param(
        lambda s: s.update(
            {"$defs": {"loop": {"$ref": "#/$defs/loop"}}, "properties": {**s["properties"], "x": {"$ref": "#/$defs/loop"}}}
        ),
        "/$defs/loop/$ref",
        "loop forever: /$defs/loop -> /$defs/loop",
        id="ref-loop",
    ),
    pytest.param(
        _prop("where", {"not": {"anyOf": [{"type": "string"}, {"$ref": "#/properties/where"}]}}),
        "/properties/where/not/anyOf/1/$ref",
        "loop forever: /properties/where -> /properties/where/not -> /properties/where/not/anyOf/1 -> /properties/where",
        id="ref-loop-through-applicators",
    ),
    pytest.param(
        _prop('say "hi"', {"type": "string"}),
        '/properties/say "hi"',
        "holds a quote, a backslash or a control character",
        id="top-level-name-with-a-quote",
    ),
    pytest.param(_patch("value", maximum="1000"), "/properties/value/maximum", "must be a number", id="maximum-string"),
    pytest.param(
        _patch("gateway_id", minLength=-1), "/properties/gateway_id/minLength", "non-negative integer", id="minLength-negative"
    ),
    pytest.param(lambda s: s.__setitem__("required", "event_id"), "/required", "array of property names", id="required-string"),
    pytest.param(
        lambda s: s.__setitem__("$schema", "http://json-schema.org/draft-04/schema#"),
        "/$schema",
        "unsupported $schema",
        id="draft-04",
    ),
]


@pytest.mark.parametrize(("edit", "pointer", "fragment"), SCHEMA_ERRORS)
def test_schema_error_names_the_schema_file_and_the_pointer(folder: Path, edit: SchemaEdit, pointer: str, fragment: str) -> None:
    schema = example_schema()
    edit(schema)
    spec_path, schema_path = write(folder, spec_for(), schema)

    with pytest.raises(SpecError) as caught:
        load_pipeline(spec_path)

    assert (caught.value.file, caught.value.key) == (str(schema_path), pointer)
    assert str(caught.value).startswith(f"{schema_path}: {pointer}: ")
    assert fragment in caught.value.message


@pytest.mark.parametrize(("edit", "pointer", "fragment"), SCHEMA_ERRORS)
def test_inline_schema_error_names_the_spec_file_and_the_pointer(
    folder: Path, edit: SchemaEdit, pointer: str, fragment: str
) -> None:
    schema = example_schema()
    edit(schema)
    spec_path, _ = write(folder, spec_for(schema=schema))

    with pytest.raises(SpecError) as caught:
        load_pipeline(spec_path)

    assert (caught.value.file, caught.value.key) == (f"{spec_path}#schema", pointer)
    assert fragment in str(caught.value)


# --- binding errors: the spec file and the dotted key -----------------------------------------------------------


def _number_key(schema: dict[str, Any]) -> None:
    schema["properties"]["device_id"] = {"type": "number"}


BINDING_ERRORS: list[Any] = [
    pytest.param(
        lambda sp: sp["event_time"].update(field="ts"),
        None,
        "event_time.field",
        "field 'ts' is not a property declared",
        id="event_time-undeclared",
    ),
    pytest.param(
        lambda sp: sp["event_time"].update(field="tags.ts"),
        None,
        "event_time.field",
        "field 'tags.ts' is not a property declared",
        id="event_time-undeclared-nested",
    ),
    pytest.param(
        lambda sp: sp["drop"].update(field="kind"),
        None,
        "drop.field",
        "field 'kind' is not a property declared",
        id="drop-undeclared",
    ),
    pytest.param(
        lambda sp: sp["enrich"][0].update(key="device"),
        None,
        "enrich[0].key",
        "field 'device' is not a property declared",
        id="enrich-key-undeclared",
    ),
    pytest.param(
        lambda sp: None,
        _number_key,
        "enrich[0].key",
        "join key 'device_id' must be typed string or integer in the schema, got ['number']",
        id="enrich-key-number",
    ),
    pytest.param(
        lambda sp: sp["enrich"][0].update(key="tags"),
        None,
        "enrich[0].key",
        "must be typed string or integer",
        id="enrich-key-object",
    ),
]


@pytest.mark.parametrize(("spec_edit", "schema_edit", "key", "fragment"), BINDING_ERRORS)
def test_binding_error_names_the_spec_file_and_the_key(
    folder: Path, spec_edit: SpecEdit, schema_edit: SchemaEdit | None, key: str, fragment: str
) -> None:
    spec = spec_for()
    spec_edit(spec)
    schema = example_schema()
    if schema_edit:
        schema_edit(schema)
    spec_path, _ = write(folder, spec, schema)

    with pytest.raises(SpecError) as caught:
        load_pipeline(spec_path)

    assert (caught.value.file, caught.value.key) == (str(spec_path), key)
    assert str(caught.value).startswith(f"{spec_path}: {key}: ")
    assert fragment in caught.value.message


# --- reference table errors: the table file and the column -------------------------------------------------------

TABLE_ERRORS: list[Any] = [
    pytest.param(
        "device_id,site,model\ndev-0001,a,X\ndev-0002,b,Y\ndev-0001,c,Z\n",
        "device_id",
        "1 key appears more than once (2 rows): 'dev-0001'",
        id="duplicate-key",
    ),
    pytest.param(
        "device_id,site\ndev-0001,a\n", "model", "no column 'model'; the table has: device_id, site", id="missing-field-column"
    ),
    pytest.param("device,site,model\ndev-0001,a,X\n", "device_id", "no column 'device_id'", id="missing-key-column"),
    pytest.param("device_id,site,model\n,a,X\n", "device_id", "empty key", id="null-key"),
]


@pytest.mark.parametrize(("csv", "column", "fragment"), TABLE_ERRORS)
def test_table_error_names_the_table_file_and_the_column(folder: Path, csv: str, column: str, fragment: str) -> None:
    table = folder / "bad_devices.csv"
    table.write_text(csv, encoding="utf-8")
    spec_path, _ = write(folder, spec_for(table="bad_devices.csv"))

    with pytest.raises(SpecError) as caught:
        load_pipeline(spec_path)

    assert (caught.value.file, caught.value.key) == (str(table), column)
    assert str(caught.value).startswith(f"{table}: {column}: ")
    assert fragment in caught.value.message


@pytest.mark.parametrize("pattern", ["^[$]x", "^[a-z$]+$"])
def test_dollar_inside_a_character_class_is_a_valid_pattern(folder: Path, pattern: str) -> None:
    schema = example_schema()
    schema["properties"]["gateway_id"]["pattern"] = pattern
    spec_path, _ = write(folder, spec_for(), schema)
    assert isinstance(load_pipeline(spec_path), Pipeline)
