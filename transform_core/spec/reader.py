"""Read a pipeline spec (YAML, JSON or a mapping) into a :class:`~transform_core.spec.model.PipelineSpec`.

Paths in a spec resolve against the spec file's folder. Every problem is a :class:`SpecError` naming the file and
the key, raised here, at load, never per record.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transform_core.errors import SpecError
from transform_core.spec.model import (
    ICEBERG_OPERATIONS,
    METRIC_DIMENSIONS,
    CuratedSpec,
    DropSpec,
    EnrichSpec,
    EventTimeSpec,
    IcebergSpec,
    MetricsSpec,
    OutputSpec,
    PartitioningSpec,
    PipelineSpec,
    TableFormat,
    glue_name_problem,
)

__all__ = ["load_spec"]

_TOP_KEYS = {"version", "name", "schema", "event_time", "partitioning", "enrich", "drop", "output", "metrics", "curated"}
_MAX_REF_DEPTH = 32  # as the lake's columns: a longer chain of root $refs declares nothing
_TABLE_SUFFIXES: dict[str, TableFormat] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}


def load_spec(source: str | Path | Mapping[str, Any]) -> PipelineSpec:
    """Load and check a pipeline spec from a YAML/JSON file or an in-memory mapping.

    Raises:
        SpecError: naming the file and key of the first problem found.
    """
    if isinstance(source, Mapping):
        return _SpecReader("<inline>", Path.cwd()).read(source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(f"cannot read spec: {err.strerror}", file=str(path)) from err
    raw = _parse_document(text, str(path))
    if not isinstance(raw, Mapping):
        raise SpecError("a spec must be a mapping", file=str(path))
    return _SpecReader(str(path), path.resolve().parent).read(raw)


def _parse_document(text: str, file: str) -> Any:
    if file.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecError(f"not valid JSON: {err}", file=file) from err
    import yaml  # only specs written in YAML pay for the YAML import

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:  # the parser's own text spans lines and quotes the input
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        context = f" ({err.context})" if err.context else ""
        raise SpecError(f"not valid YAML: {where}{err.problem}{context}", file=file) from err
    except yaml.YAMLError as err:
        raise SpecError(f"not valid YAML: {err}", file=file) from err


class _SpecReader:
    """Reads one spec mapping; every check names ``file`` and the dotted key."""

    def __init__(self, file: str, base: Path) -> None:
        self.file = file
        self.base = base

    def fail(self, key: str, message: str) -> SpecError:
        return SpecError(message, file=self.file, key=key)

    def mapping(self, value: Any, key: str, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}")
        for name in value:
            if name not in allowed:
                raise self.fail(f"{key}.{name}" if key else str(name), f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for name in sorted(required - set(value)):
            raise self.fail(f"{key}.{name}" if key else name, "is required")
        return value

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def choice(self, value: Any, key: str, options: tuple[str, ...]) -> Any:
        if value not in options:
            raise self.fail(key, f"must be one of {', '.join(options)}, got {value!r}")
        return value

    def path(self, value: Any, key: str, *, must_exist: bool) -> Path:
        text = self.string(value, key)
        if text.startswith("s3://"):
            raise self.fail(key, "s3:// sources are not read here; use a local path (copy the file next to the spec)")
        path = Path(text)
        path = path if path.is_absolute() else (self.base / path)
        if must_exist and not path.is_file():
            raise self.fail(key, f"file not found: {path}")
        return path

    def read(self, raw: Mapping[str, Any]) -> PipelineSpec:
        self.mapping(raw, "", _TOP_KEYS, {"version", "name", "schema", "event_time"})
        if type(raw["version"]) is not int or raw["version"] != 1:
            raise self.fail("version", f"unsupported spec version {raw['version']!r} (supported: 1)")
        schema, schema_file = self.schema(raw["schema"])
        name = self.string(raw["name"], "name")
        event_time = self.event_time(raw["event_time"])
        partitioning = self.partitioning(raw.get("partitioning", {}))
        enrich = self.enrich(raw.get("enrich", []))  # before curated, whose columns include the enrichment fields
        return PipelineSpec(
            version=1,
            name=name,
            schema=schema,
            schema_file=schema_file,
            event_time=event_time,
            partitioning=partitioning,
            enrich=enrich,
            drop=self.drop(raw["drop"], schema) if raw.get("drop") is not None else None,
            output=self.output(raw.get("output", {})),
            spec_file=self.file,
            metrics=self.metrics(raw["metrics"]) if raw.get("metrics") is not None else MetricsSpec(),
            curated=self.curated(raw["curated"], schema, enrich) if raw.get("curated") is not None else CuratedSpec(),
        )

    def schema(self, value: Any) -> tuple[Mapping[str, Any], str]:
        if isinstance(value, Mapping):
            return copy.deepcopy(value), f"{self.file}#schema"  # a copy: the caller's dict may change later
        path = self.path(value, "schema", must_exist=True)
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise SpecError(f"schema is not readable JSON: {err}", file=str(path)) from err
        if not isinstance(loaded, Mapping):
            raise SpecError("a JSON Schema must be an object", file=str(path))
        return loaded, str(path)

    def event_time(self, value: Any) -> EventTimeSpec:
        m = self.mapping(value, "event_time", {"field", "format", "on_missing"}, {"field"})
        return EventTimeSpec(
            field=self.string(m["field"], "event_time.field"),
            format=self.choice(m.get("format", "iso8601"), "event_time.format", ("iso8601", "epoch_seconds", "epoch_millis")),
            on_missing=self.choice(m.get("on_missing", "reject"), "event_time.on_missing", ("reject", "arrival_time")),
        )

    def partitioning(self, value: Any) -> PartitioningSpec:
        m = self.mapping(value, "partitioning", {"granularity"}, set())
        return PartitioningSpec(granularity=self.choice(m.get("granularity", "day"), "partitioning.granularity", ("day", "hour")))

    def enrich(self, value: Any) -> tuple[EnrichSpec, ...]:
        if not isinstance(value, list):
            raise self.fail("enrich", "must be a list of tables")
        tables = tuple(self.enrich_one(item, f"enrich[{i}]") for i, item in enumerate(value))
        seen_names: set[str] = set()
        seen_fields: dict[str, str] = {}
        for i, table in enumerate(tables):
            if table.name in seen_names:
                raise self.fail(f"enrich[{i}].name", f"duplicate table name {table.name!r}")
            seen_names.add(table.name)
            for field in table.fields:
                if field in seen_fields:
                    raise self.fail(f"enrich[{i}].fields", f"field {field!r} is already added by table {seen_fields[field]!r}")
                seen_fields[field] = table.name
        return tables

    def enrich_one(self, value: Any, key: str) -> EnrichSpec:
        m = self.mapping(
            value, key, {"name", "source", "key", "fields", "on_missing", "format"}, {"name", "source", "key", "fields"}
        )
        source = self.path(m["source"], f"{key}.source", must_exist=True)
        fmt = m.get("format") or _TABLE_SUFFIXES.get(source.suffix.lower())
        if fmt is None:
            raise self.fail(f"{key}.format", f"cannot tell the format of {source.name}; set format: csv | parquet | ndjson")
        join_key = m["key"]
        if isinstance(join_key, Mapping):
            km = self.mapping(join_key, f"{key}.key", {"record", "table"}, {"record", "table"})
            record_key, table_key = self.string(km["record"], f"{key}.key.record"), self.string(km["table"], f"{key}.key.table")
        else:
            record_key = table_key = self.string(join_key, f"{key}.key")
        fields = m["fields"]
        if not isinstance(fields, list) or not fields or not all(isinstance(f, str) and f for f in fields):
            raise self.fail(f"{key}.fields", "must be a non-empty list of column names")
        if len(set(fields)) != len(fields):
            raise self.fail(f"{key}.fields", "lists a column twice")
        return EnrichSpec(
            name=self.string(m["name"], f"{key}.name"),
            source=source,
            format=self.choice(fmt, f"{key}.format", ("csv", "parquet", "ndjson")),
            record_key=record_key,
            table_key=table_key,
            fields=tuple(fields),
            on_missing=self.choice(m.get("on_missing", "keep"), f"{key}.on_missing", ("keep", "reject")),
        )

    def drop(self, value: Any, schema: Mapping[str, Any]) -> DropSpec:
        m = self.mapping(value, "drop", {"field", "in"}, {"field", "in"})
        values = m["in"]
        if not isinstance(values, list) or not values:
            raise self.fail("drop.in", "must be a non-empty list of values")
        for v in values:
            if not isinstance(v, str | int) or isinstance(v, bool):
                raise self.fail("drop.in", f"values must be strings or integers, got {v!r}")
        field = self.string(m["field"], "drop.field")
        allowed = _allowed_values(schema, field)
        for v in values:  # a value the schema never lets through would drop nothing, silently
            if allowed is not None and not any(_json_equal(v, a) for a in allowed):
                shown = ", ".join(json.dumps(a) for a in allowed)
                raise self.fail("drop.in", f"{v!r} is not in the enum of {field!r} (allowed: {shown}): it would drop nothing")
        return DropSpec(field=field, values=tuple(values))

    def output(self, value: Any) -> OutputSpec:
        m = self.mapping(value, "output", {"lake", "delivery", "iceberg"}, set())
        lake = m.get("lake")
        delivery = self.choice(m.get("delivery", "s3"), "output.delivery", ("s3", "iceberg"))
        iceberg = self.iceberg(m["iceberg"]) if m.get("iceberg") is not None else None
        if delivery == "iceberg" and iceberg is None:
            raise self.fail("output.iceberg", "is required with delivery: iceberg (the table's database and name)")
        return OutputSpec(
            lake=self.lake(lake) if lake is not None else None,
            delivery=delivery,
            iceberg=iceberg,
        )

    def lake(self, value: Any) -> Path | str:
        """``output.lake``: a folder (relative to the spec's), or an S3 prefix kept as written, as ``--lake`` takes."""
        text = self.string(value, "output.lake")
        if not text.startswith("s3://"):
            return self.path(text, "output.lake", must_exist=False)
        if not text[len("s3://") :].split("/", 1)[0]:
            raise self.fail("output.lake", f"{text!r} names no bucket: write s3://bucket or s3://bucket/prefix")
        return text.rstrip("/")

    def iceberg(self, value: Any) -> IcebergSpec:
        m = self.mapping(value, "output.iceberg", {"database", "table", "operation"}, {"database", "table"})
        for name in ("database", "table"):
            problem = glue_name_problem(m[name])
            if problem is not None:
                raise self.fail(f"output.iceberg.{name}", problem)
        operation = self.choice(m.get("operation", "insert"), "output.iceberg.operation", ICEBERG_OPERATIONS)
        return IcebergSpec(database=m["database"], table=m["table"], operation=operation)

    def metrics(self, value: Any) -> MetricsSpec:
        m = self.mapping(value, "metrics", {"emf", "namespace", "dimensions"}, set())
        emf = m.get("emf", False)
        if not isinstance(emf, bool):
            raise self.fail("metrics.emf", f"must be true or false, got {emf!r}")
        namespace = self.string(m.get("namespace", "TransformCore"), "metrics.namespace")
        if len(namespace) > 255 or not namespace.isascii() or not namespace.isprintable():
            raise self.fail("metrics.namespace", f"must be at most 255 printable ASCII characters, got {namespace!r}")
        if namespace.startswith(("AWS/", ":")):
            raise self.fail("metrics.namespace", f"must not start with 'AWS/' or ':' (reserved), got {namespace!r}")
        dimensions = m.get("dimensions", ["pipeline"])
        if not isinstance(dimensions, list):
            raise self.fail("metrics.dimensions", f"must be a list of dimension names, got {dimensions!r}")
        for i, name in enumerate(dimensions):
            self.choice(name, f"metrics.dimensions[{i}]", METRIC_DIMENSIONS)
        if len(set(dimensions)) != len(dimensions):
            raise self.fail("metrics.dimensions", "lists a dimension twice")
        return MetricsSpec(emf=emf, namespace=namespace, dimensions=tuple(dimensions))

    def curated(self, value: Any, schema: Mapping[str, Any], enrich: tuple[EnrichSpec, ...]) -> CuratedSpec:
        m = self.mapping(value, "curated", {"key", "version"}, set())
        columns = _top_level_properties(schema) | {name for table in enrich for name in table.fields}

        def column(name: Any, key: str) -> str:
            text = self.string(name, key)
            if text not in columns:
                declared = ", ".join(sorted(columns)) or "none"
                raise self.fail(
                    key, f"{text!r} is not a top-level property of the schema or an enrichment field (declared: {declared})"
                )
            return text

        key: tuple[str, ...] | None = None
        if m.get("key") is not None:
            names = [m["key"]] if isinstance(m["key"], str) else m["key"]
            if not isinstance(names, list):
                raise self.fail("curated.key", f"must be a column name or a list of them, got {m['key']!r}")
            key = tuple(column(name, f"curated.key[{i}]") for i, name in enumerate(names))
            if len(set(key)) != len(key):
                raise self.fail("curated.key", "lists a column twice")
        version = column(m["version"], "curated.version") if m.get("version") is not None else None
        return CuratedSpec(key=key, version=version)


def _top_level_properties(schema: Mapping[str, Any]) -> set[str]:
    """The names the schema declares under its root ``properties`` (a root ``$ref`` chain followed)."""
    node = _followed(schema, schema)
    properties = node.get("properties") if isinstance(node, Mapping) else None
    return set(properties) if isinstance(properties, Mapping) else set()


def _followed(schema: Mapping[str, Any], node: Any) -> Any:
    """``node`` with its chain of local ``$ref`` s followed (None where one leads nowhere)."""
    for _ in range(_MAX_REF_DEPTH):
        ref = node.get("$ref") if isinstance(node, Mapping) else None
        if not isinstance(ref, str) or not ref.startswith("#"):
            break
        node = schema
        for part in (p.replace("~1", "/").replace("~0", "~") for p in ref[1:].split("/") if p):
            node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _allowed_values(schema: Mapping[str, Any], dotted: str) -> list[Any] | None:
    """The values the ``enum`` (or ``const``) of the property at ``dotted`` allows, or None when it names none."""
    node = _followed(schema, schema)
    for name in dotted.split("."):
        properties = node.get("properties") if isinstance(node, Mapping) else None
        node = _followed(schema, properties.get(name)) if isinstance(properties, Mapping) else None
    if not isinstance(node, Mapping):
        return None
    if "const" in node:
        return [node["const"]]
    enum = node.get("enum")
    return list(enum) if isinstance(enum, list) else None


def _json_equal(a: Any, b: Any) -> bool:
    """Equal as JSON values: ``1 == 1.0``, but ``"1" != 1`` and ``true != 1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b
