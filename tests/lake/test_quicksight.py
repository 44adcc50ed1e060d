"""The QuickSight dataset over the curated table: one column per table column, each in a type QuickSight keeps, and a
query (Athena's SQL, parsed with sqlglot's Athena dialect) that selects them all. The template's dataset is checked
against this in tests/deploy/test_consumers.py."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from tests.helpers.curated import make_spec
from transform_core.engine import Pipeline
from transform_core.lake.curated import curated_layout
from transform_core.lake.curated.quicksight import quicksight_columns, quicksight_sql

EVERY_TYPE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ts": {"type": "string"},  # not a date-time: the table adds _event_time
        "Label": {"type": "string"},
        "count": {"type": "integer"},
        "ratio": {"type": "number"},
        "ok": {"type": "boolean"},
        "born": {"type": "string", "format": "date"},
        "seen": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "where": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}}},
        "raw": {"oneOf": [{"type": "string"}, {"type": "number"}]},  # JSON text
    },
}
QUICKSIGHT_TYPES = {
    "ts": "STRING",
    "label": "STRING",
    "count": "INTEGER",
    "ratio": "DECIMAL",
    "ok": "BOOLEAN",
    "born": "DATETIME",
    "seen": "DATETIME",
    "tags": "STRING",
    "where": "STRING",
    "raw": "STRING",
    "_extra": "STRING",
    "_ingested_at": "DATETIME",
    "_source_record_id": "STRING",
    "_batch_id": "STRING",
    "_event_time": "DATETIME",
}


def test_every_column_of_the_table_has_a_quicksight_type() -> None:
    spec = make_spec(EVERY_TYPE, event_time={"field": "ts", "on_missing": "arrival_time"})

    columns = quicksight_columns(spec)
    assert [c["Name"] for c in columns] == [name.lower() for name in curated_layout(spec).columns]
    assert {c["Name"]: c["Type"] for c in columns} == QUICKSIGHT_TYPES


def test_the_query_selects_every_column_in_a_type_quicksight_keeps() -> None:
    spec = make_spec(EVERY_TYPE, event_time={"field": "ts", "on_missing": "arrival_time"})

    query = sqlglot.parse_one(quicksight_sql(spec, database="Curated"), read="athena", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(query, exp.Select)
    assert query.named_selects == [c["Name"] for c in quicksight_columns(spec)]
    (table,) = query.find_all(exp.Table)
    assert (table.db, table.name) == ("curated", "t")
    converted = {s.alias: s.this for s in query.selects if isinstance(s, exp.Alias)}
    assert set(converted) == {"seen", "_ingested_at", "_event_time", "tags", "where"}
    for name in ("seen", "_ingested_at", "_event_time"):  # timestamptz: the instant as a UTC timestamp
        cast = converted[name]
        assert isinstance(cast, exp.Cast) and cast.to.this == exp.DataType.Type.TIMESTAMP
        assert isinstance(cast.this, exp.AtTimeZone) and cast.this.args["zone"].name == "UTC"
        assert cast.this.this.name == name
    for name in ("tags", "where"):  # nested: JSON text
        text = converted[name]
        assert isinstance(text, exp.JSONFormat) and isinstance(text.this, exp.Cast) and text.this.this.name == name
    plain = [s for s in query.selects if isinstance(s, exp.Column)]
    assert all(s.this.quoted for s in plain)  # "where", "count": words Athena reserves, quoted


def test_the_example_table(pipeline: Pipeline) -> None:
    sql = quicksight_sql(pipeline.spec, database="transform_core", table="iot_telemetry")

    assert sql.startswith('SELECT\n  "event_id",\n') and sql.endswith('\nFROM "transform_core"."iot_telemetry"')
    assert '  CAST("event_time" AT TIME ZONE \'UTC\' AS timestamp) AS "event_time",' in sql.splitlines()
    assert '  json_format(CAST("tags" AS JSON)) AS "tags",' in sql.splitlines()


@pytest.mark.parametrize("names", [{"database": "a-b"}, {"database": "a", "table": 'x"; DROP TABLE y; --'}])
def test_names_that_are_not_plain_are_refused(pipeline: Pipeline, names: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="name must be letters, digits and underscores"):
        quicksight_sql(pipeline.spec, **names)
