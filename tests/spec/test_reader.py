"""load_spec: the example spec, JSON and inline specs, and every kind of SpecError (file and dotted key named)."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from transform_core import PipelineSpec, SpecError, load_spec
from transform_core.spec import CuratedSpec, DropSpec, EnrichSpec, EventTimeSpec, OutputSpec, PartitioningSpec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "iot" / "pipeline.yaml"
SCHEMA = REPO / "examples" / "iot" / "schemas" / "iot_event.schema.json"
DEVICES = REPO / "reference_data" / "devices.csv"


def base_spec() -> dict[str, Any]:
    """A valid spec whose relative paths point into the folder made by ``workdir``."""
    return {
        "version": 1,
        "name": "iot-test",
        "schema": "schemas/iot_event.schema.json",
        "event_time": {"field": "event_time", "format": "iso8601", "on_missing": "reject"},
        "partitioning": {"granularity": "day"},
        "enrich": [{"name": "devices", "source": "tables/devices.csv", "key": "device_id", "fields": ["site", "model"]}],
        "drop": {"field": "event_type", "in": ["heartbeat"]},
        "output": {"lake": "lake"},
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder holding a copy of the example schema and the device table."""
    (tmp_path / "schemas").mkdir()
    shutil.copy(SCHEMA, tmp_path / "schemas" / SCHEMA.name)
    (tmp_path / "tables").mkdir()
    shutil.copy(DEVICES, tmp_path / "tables" / "devices.csv")
    return tmp_path


def write_spec(folder: Path, spec: Any, name: str = "pipeline.yaml") -> Path:
    path = folder / name
    text = json.dumps(spec, indent=2) if name.endswith(".json") else yaml.safe_dump(spec, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


# --- the example spec -------------------------------------------------------------------------------------------


def test_example_spec_loads_with_every_value() -> None:
    spec = load_spec(EXAMPLE)

    assert isinstance(spec, PipelineSpec)
    assert (spec.version, spec.name, spec.spec_file) == (1, "iot-telemetry", str(EXAMPLE))
    assert spec.schema == json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert Path(spec.schema_file).resolve() == SCHEMA.resolve()
    assert spec.event_time == EventTimeSpec(field="event_time", format="iso8601", on_missing="reject")
    assert spec.partitioning == PartitioningSpec(granularity="day")
    assert spec.partitioning.keys == ("year", "month", "day")
    (table,) = spec.enrich
    assert table == EnrichSpec(
        name="devices",
        source=table.source,
        format="csv",
        record_key="device_id",
        table_key="device_id",
        fields=("site", "model"),
        on_missing="keep",
    )
    assert table.source.resolve() == DEVICES.resolve()
    assert spec.drop == DropSpec(field="event_type", values=("heartbeat",))
    assert spec.output.lake is not None and spec.output.lake.resolve() == (REPO / "lake").resolve()


@pytest.mark.parametrize("cwd", ["tmp", "examples"])
def test_example_paths_resolve_against_the_spec_file_not_the_working_directory(
    cwd: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if cwd == "tmp":
        monkeypatch.chdir(tmp_path)
        spec = load_spec(str(EXAMPLE))
    else:
        monkeypatch.chdir(REPO / "examples")
        spec = load_spec("iot/pipeline.yaml")

    assert Path(spec.schema_file).is_absolute() and Path(spec.schema_file).is_file()
    assert spec.enrich[0].source.is_absolute()
    assert spec.enrich[0].source.resolve() == DEVICES.resolve()
    assert spec.output.lake is not None and spec.output.lake.is_absolute()


def test_spec_in_a_temporary_folder_resolves_against_that_folder(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_spec(workdir, base_spec())
    monkeypatch.chdir(REPO)  # the repo has no schemas/ or tables/ of its own at the top

    spec = load_spec(path)

    assert spec.schema_file == str(workdir / "schemas" / SCHEMA.name)
    assert spec.enrich[0].source == workdir / "tables" / "devices.csv"
    assert spec.output.lake == workdir / "lake"


def _spec_objects(spec: PipelineSpec) -> list[Any]:
    assert spec.drop is not None
    return [spec, spec.event_time, spec.partitioning, spec.enrich[0], spec.drop, spec.output]


@pytest.mark.parametrize(
    "index", range(6), ids=["PipelineSpec", "EventTimeSpec", "PartitioningSpec", "EnrichSpec", "DropSpec", "OutputSpec"]
)
def test_spec_dataclasses_are_frozen_and_keyword_only(index: int) -> None:
    obj = _spec_objects(load_spec(EXAMPLE))[index]
    params = type(obj).__dataclass_params__  # type: ignore[attr-defined]
    first_field = dataclasses.fields(obj)[0].name

    assert params.frozen
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, first_field, getattr(obj, first_field))
    with pytest.raises(TypeError):
        type(obj)(*[getattr(obj, f.name) for f in dataclasses.fields(obj)])  # positional arguments are refused


def test_enrich_and_drop_lists_become_tuples() -> None:
    spec = load_spec(EXAMPLE)
    assert spec.drop is not None
    assert isinstance(spec.enrich, tuple)
    assert isinstance(spec.enrich[0].fields, tuple)
    assert isinstance(spec.drop.values, tuple)


# --- JSON and inline specs --------------------------------------------------------------------------------------


def test_json_spec_loads_like_the_same_yaml_spec(workdir: Path) -> None:
    from_yaml = load_spec(write_spec(workdir, base_spec(), "pipeline.yaml"))
    json_path = write_spec(workdir, base_spec(), "pipeline.json")

    from_json = load_spec(json_path)

    assert from_json.spec_file == str(json_path)
    assert dataclasses.replace(from_json, spec_file=from_yaml.spec_file) == from_yaml


def test_inline_mapping_resolves_paths_against_the_working_directory(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir)

    spec = load_spec(base_spec())

    assert spec.spec_file == "<inline>"
    assert Path(spec.schema_file).resolve() == (workdir / "schemas" / SCHEMA.name).resolve()
    assert spec.enrich[0].source.resolve() == (workdir / "tables" / "devices.csv").resolve()
    assert spec.schema == json.loads(SCHEMA.read_text(encoding="utf-8"))


def test_inline_schema_mapping_is_used_as_given(workdir: Path) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    raw = base_spec() | {"schema": schema}
    path = write_spec(workdir, raw)

    spec = load_spec(path)

    assert spec.schema == schema
    assert spec.schema_file == f"{path}#schema"


def test_minimal_spec_gets_the_documented_defaults(workdir: Path) -> None:
    raw = {"version": 1, "name": "minimal", "schema": "schemas/iot_event.schema.json", "event_time": {"field": "event_time"}}

    spec = load_spec(write_spec(workdir, raw))

    assert spec.event_time == EventTimeSpec(field="event_time", format="iso8601", on_missing="reject")
    assert spec.partitioning.granularity == "day"
    assert spec.enrich == ()
    assert spec.drop is None
    assert spec.output == OutputSpec(lake=None)
    assert spec.curated == CuratedSpec(key=None, version=None)


def test_hourly_partitioning_adds_the_hour_key(workdir: Path) -> None:
    raw = base_spec()
    raw["partitioning"] = {"granularity": "hour"}
    assert load_spec(write_spec(workdir, raw)).partitioning.keys == ("year", "month", "day", "hour")


@pytest.mark.parametrize(
    ("curated", "expected"),
    [
        ({"key": ["device_id", "seq"], "version": "seq"}, CuratedSpec(key=("device_id", "seq"), version="seq")),
        ({"key": "event_id"}, CuratedSpec(key=("event_id",))),
        ({"key": []}, CuratedSpec(key=())),  # the record's content, though the schema declares event_id
        ({"key": ["site"]}, CuratedSpec(key=("site",))),  # an enrichment field is a column too
        ({"version": "seq"}, CuratedSpec(version="seq")),
        (None, CuratedSpec()),
    ],
)
def test_the_curated_section_names_key_and_version_columns(
    workdir: Path, curated: dict[str, Any] | None, expected: CuratedSpec
) -> None:
    raw = {**base_spec(), "curated": curated}
    assert load_spec(write_spec(workdir, raw)).curated == expected


def test_join_key_mapping_names_record_path_and_table_column(workdir: Path) -> None:
    raw = base_spec()
    raw["enrich"][0]["key"] = {"record": "tags.fw", "table": "device_id"}
    (table,) = load_spec(write_spec(workdir, raw)).enrich
    assert (table.record_key, table.table_key) == ("tags.fw", "device_id")


@pytest.mark.parametrize(
    ("file_name", "explicit", "expected"),
    [
        ("t.csv", None, "csv"),
        ("t.CSV", None, "csv"),
        ("t.parquet", None, "parquet"),
        ("t.pq", None, "parquet"),
        ("t.ndjson", None, "ndjson"),
        ("t.jsonl", None, "ndjson"),
        ("t.txt", "csv", "csv"),
        ("t.csv", "ndjson", "ndjson"),  # an explicit format wins over the suffix
    ],
)
def test_table_format_comes_from_the_suffix_unless_given(
    workdir: Path, file_name: str, explicit: str | None, expected: str
) -> None:
    (workdir / "tables" / file_name).write_text("device_id,site,model\n", encoding="utf-8")
    raw = base_spec()
    raw["enrich"][0]["source"] = f"tables/{file_name}"
    if explicit:
        raw["enrich"][0]["format"] = explicit
    assert load_spec(write_spec(workdir, raw)).enrich[0].format == expected


@pytest.mark.parametrize("values", [["heartbeat", "status"], [0, 7], ["a", 1]])
def test_drop_values_may_be_strings_and_integers(workdir: Path, values: list[Any]) -> None:
    raw = base_spec()
    raw["drop"] = {"field": "gateway_id", "in": values}  # a field without an enum: any value may come
    spec = load_spec(write_spec(workdir, raw))
    assert spec.drop is not None and spec.drop.values == tuple(values)


@pytest.mark.parametrize(
    ("field", "values", "refused"),
    [
        ("event_type", ["heartbeat", "hearbeat"], "'hearbeat'"),  # a typo drops nothing
        ("event_type", [1], "1"),
        ("unit", ["celsius", "kelvin"], "'kelvin'"),
    ],
)
def test_a_drop_value_outside_the_fields_enum_is_refused(workdir: Path, field: str, values: list[Any], refused: str) -> None:
    raw = base_spec()
    raw["drop"] = {"field": field, "in": values}
    with pytest.raises(SpecError) as caught:
        load_spec(write_spec(workdir, raw))
    assert caught.value.key == "drop.in"
    assert caught.value.message.startswith(f"{refused} is not in the enum of {field!r} (allowed: ")
    assert '"celsius"' in caught.value.message if field == "unit" else '"telemetry", "alert", "heartbeat"' in str(caught.value)


@pytest.mark.parametrize(
    ("node", "values"),
    [
        ({"enum": [1.0, "x"]}, [1, "x"]),  # JSON equality: 1 is 1.0
        ({"const": 5}, [5]),
        ({"$ref": "#/$defs/kind"}, ["b"]),  # a local $ref followed to its enum
    ],
)
def test_drop_values_in_the_enum_load(node: dict[str, Any], values: list[Any]) -> None:
    schema = {"type": "object", "properties": {"t": {"type": "string"}, "k": node}, "$defs": {"kind": {"enum": ["a", "b"]}}}
    spec = {"version": 1, "name": "x", "schema": schema, "event_time": {"field": "t"}, "drop": {"field": "k", "in": values}}
    assert load_spec(spec).drop == DropSpec(field="k", values=tuple(values))


def test_a_drop_value_equal_only_as_a_boolean_is_refused() -> None:
    schema = {"type": "object", "properties": {"t": {"type": "string"}, "k": {"enum": [True, "x"]}}}
    spec = {"version": 1, "name": "x", "schema": schema, "event_time": {"field": "t"}, "drop": {"field": "k", "in": [1]}}
    with pytest.raises(SpecError, match=r"drop\.in: 1 is not in the enum of 'k' \(allowed: true, \"x\"\)"):
        load_spec(spec)


def test_drop_null_drops_nothing(workdir: Path) -> None:
    raw = base_spec() | {"drop": None}
    assert load_spec(write_spec(workdir, raw)).drop is None


# --- spec errors: each names the spec file and the dotted key ---------------------------------------------------

Mutation = Callable[[dict[str, Any], Path], None]


def _two_tables(spec: dict[str, Any], name: str, fields: list[str]) -> None:
    spec["enrich"].append({"name": name, "source": "tables/devices.csv", "key": "device_id", "fields": fields})


def _set(path: str, value: Any) -> Mutation:
    """Set (or with ``value is DELETE`` remove) a dotted key; ``enrich.0.x`` indexes lists."""

    def mutate(spec: dict[str, Any], _folder: Path) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


DELETE = object()


def _unknown_suffix(spec: dict[str, Any], folder: Path) -> None:
    shutil.copy(folder / "tables" / "devices.csv", folder / "tables" / "devices.xlsx")
    spec["enrich"][0]["source"] = "tables/devices.xlsx"


SPEC_ERRORS: list[Any] = [
    pytest.param(_set("bogus", 1), "bogus", "unknown key", id="unknown-top-level-key"),
    pytest.param(_set("event_time.bogus", 1), "event_time.bogus", "unknown key", id="unknown-event_time-key"),
    pytest.param(_set("partitioning.by", "day"), "partitioning.by", "unknown key", id="unknown-partitioning-key"),
    pytest.param(_set("enrich.0.join", "left"), "enrich[0].join", "unknown key", id="unknown-enrich-key"),
    pytest.param(
        _set("enrich.0.key", {"record": "device_id", "table": "device_id", "how": "x"}),
        "enrich[0].key.how",
        "unknown key",
        id="unknown-join-key-key",
    ),
    pytest.param(_set("drop.not_in", ["x"]), "drop.not_in", "unknown key", id="unknown-drop-key"),
    pytest.param(_set("output.bucket", "b"), "output.bucket", "unknown key", id="unknown-output-key"),
    pytest.param(_set("version", 2), "version", "unsupported spec version 2", id="version-2"),
    pytest.param(_set("version", "1"), "version", "unsupported spec version '1'", id="version-string"),
    pytest.param(_set("version", True), "version", "unsupported spec version True", id="version-bool"),
    pytest.param(_set("version", DELETE), "version", "is required", id="missing-version"),
    pytest.param(_set("name", DELETE), "name", "is required", id="missing-name"),
    pytest.param(_set("schema", DELETE), "schema", "is required", id="missing-schema"),
    pytest.param(_set("event_time", DELETE), "event_time", "is required", id="missing-event_time"),
    pytest.param(_set("event_time.field", DELETE), "event_time.field", "is required", id="missing-event_time.field"),
    pytest.param(_set("enrich.0.source", DELETE), "enrich[0].source", "is required", id="missing-enrich-source"),
    pytest.param(
        _set("enrich.0.key", {"record": "device_id"}), "enrich[0].key.table", "is required", id="missing-join-key-table"
    ),
    pytest.param(_set("drop.in", DELETE), "drop.in", "is required", id="missing-drop.in"),
    pytest.param(_set("name", ""), "name", "must be a non-empty string", id="empty-name"),
    pytest.param(_set("event_time", "event_time"), "event_time", "must be a mapping", id="event_time-not-mapping"),
    pytest.param(
        _set("event_time.format", "rfc3339"),
        "event_time.format",
        "must be one of iso8601, epoch_seconds, epoch_millis",
        id="bad-event_time.format",
    ),
    pytest.param(
        _set("event_time.on_missing", "now"),
        "event_time.on_missing",
        "must be one of reject, arrival_time",
        id="bad-event_time.on_missing",
    ),
    pytest.param(
        _set("partitioning.granularity", "week"),
        "partitioning.granularity",
        "must be one of day, hour, got 'week'",
        id="bad-granularity",
    ),
    pytest.param(_set("enrich", {"name": "devices"}), "enrich", "must be a list", id="enrich-not-list"),
    pytest.param(_set("enrich.0.source", "tables/nope.csv"), "enrich[0].source", "file not found", id="enrich-source-missing"),
    pytest.param(_set("enrich.0.source", "s3://bucket/devices.csv"), "enrich[0].source", "s3://", id="enrich-source-s3"),
    pytest.param(_unknown_suffix, "enrich[0].format", "cannot tell the format of devices.xlsx", id="enrich-unknown-suffix"),
    pytest.param(
        _set("enrich.0.format", "xlsx"), "enrich[0].format", "must be one of csv, parquet, ndjson", id="enrich-bad-format"
    ),
    pytest.param(_set("enrich.0.fields", []), "enrich[0].fields", "non-empty list", id="enrich-no-fields"),
    pytest.param(_set("enrich.0.fields", ["site", "site"]), "enrich[0].fields", "twice", id="enrich-field-twice"),
    pytest.param(
        _set("enrich.0.on_missing", "drop"), "enrich[0].on_missing", "must be one of keep, reject", id="enrich-bad-on_missing"
    ),
    pytest.param(
        lambda s, _f: _two_tables(s, "devices", ["gateway"]),
        "enrich[1].name",
        "duplicate table name 'devices'",
        id="duplicate-table-name",
    ),
    pytest.param(
        lambda s, _f: _two_tables(s, "devices2", ["model"]),
        "enrich[1].fields",
        "field 'model' is already added by table 'devices'",
        id="field-added-twice",
    ),
    pytest.param(_set("drop.in", [1.5]), "drop.in", "values must be strings or integers, got 1.5", id="drop-in-float"),
    pytest.param(_set("drop.in", [True]), "drop.in", "values must be strings or integers, got True", id="drop-in-bool"),
    pytest.param(_set("drop.in", [None]), "drop.in", "values must be strings or integers, got None", id="drop-in-null"),
    pytest.param(_set("drop.in", []), "drop.in", "non-empty list", id="drop-in-empty"),
    pytest.param(_set("drop.in", "heartbeat"), "drop.in", "non-empty list", id="drop-in-scalar"),
    pytest.param(_set("schema", "schemas/missing.schema.json"), "schema", "file not found", id="schema-path-missing"),
    pytest.param(_set("schema", 42), "schema", "must be a non-empty string", id="schema-not-path-or-mapping"),
    pytest.param(_set("curated", {"keys": ["a"]}), "curated.keys", "unknown key (allowed: key, version)", id="curated-unknown"),
    pytest.param(_set("curated", ["event_id"]), "curated", "must be a mapping", id="curated-not-mapping"),
    pytest.param(
        _set("curated", {"key": ["event_id", "nope"]}),
        "curated.key[1]",
        "'nope' is not a top-level property of the schema or an enrichment field (declared: battery, ",
        id="curated-key-undeclared",
    ),
    pytest.param(
        _set("curated", {"key": ["tags.fw"]}), "curated.key[0]", "'tags.fw' is not a top-level property", id="curated-key-nested"
    ),
    pytest.param(_set("curated", {"key": ["seq", "seq"]}), "curated.key", "lists a column twice", id="curated-key-twice"),
    pytest.param(_set("curated", {"key": [""]}), "curated.key[0]", "must be a non-empty string", id="curated-key-empty"),
    pytest.param(_set("curated", {"key": {"a": 1}}), "curated.key", "must be a column name or a list", id="curated-key-map"),
    pytest.param(
        _set("curated", {"version": "_ingested_at"}),
        "curated.version",
        "'_ingested_at' is not a top-level property",
        id="curated-version-lineage",
    ),
]


@pytest.mark.parametrize("suffix", ["yaml", "json"])
@pytest.mark.parametrize(("mutate", "key", "fragment"), SPEC_ERRORS)
def test_spec_error_names_the_file_and_the_dotted_key(
    workdir: Path, suffix: str, mutate: Mutation, key: str, fragment: str
) -> None:
    raw = base_spec()
    mutate(raw, workdir)
    path = write_spec(workdir, raw, f"pipeline.{suffix}")

    with pytest.raises(SpecError) as caught:
        load_spec(path)

    error = caught.value
    assert (error.file, error.key) == (str(path), key)
    assert str(error).startswith(f"{path}: {key}: ")
    assert fragment in error.message


@pytest.mark.parametrize(("mutate", "key", "fragment"), SPEC_ERRORS)
def test_inline_spec_errors_name_inline_and_the_key(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, mutate: Mutation, key: str, fragment: str
) -> None:
    monkeypatch.chdir(workdir)
    raw = base_spec()
    mutate(raw, workdir)

    with pytest.raises(SpecError) as caught:
        load_spec(raw)

    assert (caught.value.file, caught.value.key) == ("<inline>", key)
    assert str(caught.value).startswith(f"<inline>: {key}: ")
    assert fragment in caught.value.message


def test_load_spec_leaves_the_mapping_it_was_given_unchanged(workdir: Path) -> None:
    raw = base_spec()
    raw["event_time"]["format"] = "rfc3339"
    before = copy.deepcopy(raw)
    with pytest.raises(SpecError, match=r"event_time\.format"):
        load_spec(raw | {"schema": str(workdir / "schemas" / SCHEMA.name)})
    assert raw == before


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "schema is not readable JSON"),
        ("", "schema is not readable JSON"),
        (b"\xff\xfe{}", "schema is not readable JSON"),
        ('["type", "object"]', "a JSON Schema must be an object"),
    ],
    ids=["syntax", "empty", "not-utf8", "array"],
)
def test_unreadable_schema_file_names_the_schema_file(workdir: Path, content: str | bytes, fragment: str) -> None:
    schema = workdir / "schemas" / "broken.schema.json"
    if isinstance(content, bytes):
        schema.write_bytes(content)
    else:
        schema.write_text(content, encoding="utf-8")
    raw = base_spec() | {"schema": "schemas/broken.schema.json"}

    with pytest.raises(SpecError) as caught:
        load_spec(write_spec(workdir, raw))

    assert caught.value.file == str(schema)
    assert str(caught.value).startswith(f"{schema}: {fragment}")


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("pipeline.yaml", "version: [1\n", "not valid YAML"),
        ("pipeline.json", '{"version": 1,', "not valid JSON"),
        ("pipeline.yaml", "- version: 1\n", "a spec must be a mapping"),
        ("pipeline.yaml", "", "a spec must be a mapping"),
    ],
    ids=["yaml-syntax", "json-syntax", "yaml-list", "empty"],
)
def test_spec_document_errors_name_the_spec_file(workdir: Path, name: str, text: str, fragment: str) -> None:
    path = workdir / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.file == str(path)
    assert str(caught.value).startswith(f"{path}: {fragment}")


def test_missing_spec_file_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.file == str(path)
    assert "cannot read spec" in str(caught.value)


def test_version_must_be_an_integer_not_a_float(workdir: Path) -> None:
    raw = base_spec() | {"version": 1.0}
    with pytest.raises(SpecError, match="version"):
        load_spec(write_spec(workdir, raw))
