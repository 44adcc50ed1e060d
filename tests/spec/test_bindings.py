"""bind_fields: the fields a spec names (event time, drop, join keys) resolve to schema fields of a usable type, or a
SpecError names the spec file and the key at fault."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from transform_core import SpecError, load_spec
from transform_core.schema import compile_schema
from transform_core.spec import PipelineSpec
from transform_core.spec.bindings import Bindings, bind_fields

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "device_id": {"type": "string"},
        "seq": {"type": "integer"},
        "ts": {"type": "string", "format": "date-time"},
        "epoch": {"type": "number"},
        "mixed_time": {"type": ["number", "string"]},
        "kind": {"type": ["string", "null"]},
        "value": {"type": "number"},
        "flag": {"type": "boolean"},
        "either": {"type": ["string", "integer"]},
        "meta": {"type": "object", "properties": {"site": {"type": "string"}, "n": {"type": ["integer", "null"]}}},
        "readings": {"type": "array", "items": {"type": "object", "properties": {"ts": {"type": "string"}}}},
    },
}
DECLARED = "device_id, either, epoch, flag, kind, meta, meta.n, meta.site, mixed_time, readings, seq, ts, value"


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    """A folder with the two reference tables the specs join (binding never reads them; loading the spec checks
    they exist)."""
    (tmp_path / "devices.csv").write_text("device_id,site,model\ndev-1,plant-1,X1\n", encoding="utf-8")
    (tmp_path / "bands.csv").write_text("battery,band\n1,low\n", encoding="utf-8")
    return tmp_path


def raw_spec(folder: Path) -> dict[str, Any]:
    """A good spec: event time ``ts``, drop on ``kind``, one string-keyed table; sources as absolute paths."""
    return {
        "version": 1,
        "name": "bindings",
        "schema": copy.deepcopy(SCHEMA),
        "event_time": {"field": "ts"},
        "enrich": [{"name": "devices", "source": str(folder / "devices.csv"), "key": "device_id", "fields": ["site", "model"]}],
        "drop": {"field": "kind", "in": ["heartbeat"]},
    }


def bands_table(folder: Path, key: str) -> dict[str, Any]:
    return {"name": "bands", "source": str(folder / "bands.csv"), "key": {"record": key, "table": "battery"}, "fields": ["band"]}


def load(folder: Path, raw: dict[str, Any], how: str) -> tuple[PipelineSpec, str]:
    """The spec as a YAML file, a JSON file or an inline mapping, and the file its errors must name."""
    if how == "inline":
        return load_spec(raw), "<inline>"
    path = folder / f"pipeline.{how}"
    path.write_text(yaml.safe_dump(raw) if how == "yaml" else json.dumps(raw), encoding="utf-8")
    return load_spec(path), str(path)


def bind(spec: PipelineSpec) -> Bindings:
    return bind_fields(spec, compile_schema(spec.schema, file=spec.schema_file))


# --- a good spec binds ------------------------------------------------------------------------------------------------


def test_a_good_spec_binds_each_field_it_names(tables: Path) -> None:
    spec, _ = load(tables, raw_spec(tables), "inline")

    bindings = bind(spec)

    assert (bindings.event_time.path, bindings.event_time.types, bindings.event_time.format) == (
        "$.ts",
        frozenset({"string"}),
        "date-time",
    )
    assert bindings.drop is not None and bindings.drop.path == "$.kind"
    assert [info.path for info in bindings.enrich_keys] == ["$.device_id"]
    assert bindings.key_types == ("string",)


def test_without_drop_or_enrich_nothing_more_is_bound(tables: Path) -> None:
    raw = raw_spec(tables)
    del raw["drop"], raw["enrich"]
    spec, _ = load(tables, raw, "inline")

    bindings = bind(spec)

    assert (bindings.drop, bindings.enrich_keys, bindings.key_types) == (None, (), ())


@pytest.mark.parametrize(
    ("key", "key_type", "path"),
    [
        ("device_id", "string", "$.device_id"),
        ("kind", "string", "$.kind"),  # nullable: a null key is a miss, not a type error
        ("seq", "integer", "$.seq"),
        ("meta.n", "integer", "$.meta.n"),  # nested and nullable
        ("meta.site", "string", "$.meta.site"),
    ],
)
def test_join_keys_bind_with_their_type_in_spec_order(tables: Path, key: str, key_type: str, path: str) -> None:
    raw = raw_spec(tables)
    raw["enrich"].append(bands_table(tables, key))
    del raw["drop"]
    spec, _ = load(tables, raw, "inline")

    bindings = bind(spec)

    assert [info.path for info in bindings.enrich_keys] == ["$.device_id", path]
    assert bindings.key_types == ("string", key_type)


@pytest.mark.parametrize(
    ("fmt", "field"),
    [
        ("iso8601", "ts"),
        ("iso8601", "kind"),  # string or null
        ("iso8601", "mixed_time"),  # a number there is a rejected record, not a wrong spec
        ("epoch_seconds", "epoch"),
        ("epoch_seconds", "seq"),
        ("epoch_millis", "mixed_time"),
        ("epoch_millis", "meta.n"),
    ],
)
def test_an_event_time_field_that_can_hold_its_format_binds(tables: Path, fmt: str, field: str) -> None:
    raw = raw_spec(tables)
    raw["event_time"] = {"field": field, "format": fmt}
    spec, _ = load(tables, raw, "inline")

    assert bind(spec).event_time.path == f"$.{field}"


# --- each SpecError names the spec file and the key -----------------------------------------------------------------


def _set_event_time(field: str, fmt: str = "iso8601") -> Any:
    return lambda raw, _folder: raw.update(event_time={"field": field, "format": fmt})


def _set_drop(field: str) -> Any:
    return lambda raw, _folder: raw.update(drop={"field": field, "in": ["x"]})


def _set_key(key: str) -> Any:
    return lambda raw, _folder: raw["enrich"][0].update(key={"record": key, "table": "device_id"})


def _add_bands(key: str) -> Any:
    return lambda raw, folder: raw["enrich"].append(bands_table(folder, key))


BINDING_ERRORS: list[Any] = [
    pytest.param(
        _set_event_time("time"),
        "event_time.field",
        f"field 'time' is not a property declared in the schema (outside arrays); declared: {DECLARED}",
        id="event_time-undeclared",
    ),
    pytest.param(
        _set_event_time("meta.ts"), "event_time.field", "field 'meta.ts' is not a property declared", id="nested-undeclared"
    ),
    pytest.param(
        _set_event_time("readings.ts"), "event_time.field", "field 'readings.ts' is not a property declared", id="inside-an-array"
    ),
    pytest.param(_set_drop("type"), "drop.field", "field 'type' is not a property declared", id="drop-undeclared"),
    pytest.param(_set_key("device"), "enrich[0].key", "field 'device' is not a property declared", id="join-key-undeclared"),
    pytest.param(_add_bands("battery"), "enrich[1].key", "field 'battery' is not a property declared", id="second-join-key"),
    pytest.param(
        _set_key("value"),
        "enrich[0].key",
        "join key 'value' must be typed string or integer in the schema, got ['number']",
        id="join-key-number",
    ),
    pytest.param(_set_key("flag"), "enrich[0].key", "got ['boolean']", id="join-key-boolean"),
    pytest.param(_set_key("meta"), "enrich[0].key", "got ['object']", id="join-key-object"),
    pytest.param(_set_key("readings"), "enrich[0].key", "got ['array']", id="join-key-array"),
    pytest.param(_set_key("either"), "enrich[0].key", "got ['integer', 'string']", id="join-key-string-or-integer"),
    pytest.param(
        _add_bands("epoch"), "enrich[1].key", "join key 'epoch' must be typed string or integer", id="second-key-number"
    ),
    pytest.param(
        _set_event_time("seq"),
        "event_time.format",
        "event time format iso8601 needs a field typed string, but 'seq' is ['integer']",
        id="iso8601-on-an-integer",
    ),
    pytest.param(
        _set_event_time("ts", "epoch_seconds"),
        "event_time.format",
        "event time format epoch_seconds needs a field typed integer or number, but 'ts' is ['string']",
        id="epoch_seconds-on-a-string",
    ),
    pytest.param(
        _set_event_time("flag", "epoch_millis"),
        "event_time.format",
        "event time format epoch_millis needs a field typed integer or number, but 'flag' is ['boolean']",
        id="epoch_millis-on-a-boolean",
    ),
    pytest.param(
        _set_event_time("kind", "epoch_millis"),
        "event_time.format",
        "but 'kind' is ['null', 'string']",
        id="epoch-on-nullable-string",
    ),
    pytest.param(_set_event_time("meta", "iso8601"), "event_time.format", "but 'meta' is ['object']", id="iso8601-on-an-object"),
]


@pytest.mark.parametrize("how", ["yaml", "json", "inline"])
@pytest.mark.parametrize(("edit", "key", "fragment"), BINDING_ERRORS)
def test_each_binding_error_names_the_spec_file_and_the_key(tables: Path, how: str, edit: Any, key: str, fragment: str) -> None:
    raw = raw_spec(tables)
    edit(raw, tables)
    spec, file = load(tables, raw, how)  # the reader accepts it: only the schema tells the spec is wrong

    with pytest.raises(SpecError) as caught:
        bind(spec)

    assert (caught.value.file, caught.value.key) == (file, key)
    assert str(caught.value).startswith(f"{file}: {key}: ")
    assert fragment in caught.value.message


def test_a_schema_without_properties_declares_none(tables: Path) -> None:
    raw = raw_spec(tables) | {"schema": {"type": "object"}, "enrich": [], "drop": None}
    spec, _ = load(tables, raw, "inline")

    with pytest.raises(
        SpecError, match=r"field 'ts' is not a property declared in the schema \(outside arrays\); declared: none$"
    ):
        bind(spec)
