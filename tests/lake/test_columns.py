"""lake_schema: JSON Schema → lake columns, and the values each kind of column holds after a round trip."""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from transform_core.engine import Pipeline
from transform_core.errors import SpecError
from transform_core.firehose.batch import RecordBatch
from transform_core.lake import LakeWriter, lake_schema
from transform_core.lake.columns import lake_columns
from transform_core.spec import load_spec

UTC_US = pl.Datetime("us", "UTC")
SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {
        "point": {"type": "object", "properties": {"x": {"type": "number"}, "at": {"$ref": "#/$defs/stamp"}}},
        "stamp": {"type": "string", "format": "date-time"},
    },
    "properties": {
        "s": {"type": "string"},
        "ts": {"type": "string", "format": "date-time"},
        "d": {"type": "string", "format": "date"},
        "i": {"type": "integer"},
        "n": {"type": "number"},
        "b": {"type": "boolean"},
        "maybe": {"type": ["integer", "null"]},
        "point": {"$ref": "#/$defs/point"},
        "points": {"type": "array", "items": {"$ref": "#/$defs/point"}},
        "ints": {"type": "array", "items": {"type": "integer"}},
        "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "mixed": {"type": ["string", "integer"]},
        "untyped": {},
        "loose": {"type": "object"},
        "tuple": {"type": "array", "items": [{"type": "integer"}]},
        "deep": {"type": "object", "properties": {"any": {}}},
    },
    "required": ["ts"],
}


def _spec(schema: dict[str, Any], **extra: Any) -> Any:
    return load_spec({"version": 1, "name": "t-1", "schema": schema, "event_time": {"field": "ts"}, **extra})


def test_mapping_follows_the_documented_table() -> None:
    dtypes = lake_schema(_spec(SCHEMA), {})
    point = pl.Struct({"x": pl.Float64, "at": UTC_US})
    assert dtypes == {
        "s": pl.String,
        "ts": UTC_US,
        "d": pl.Date,
        "i": pl.Int64,
        "n": pl.Float64,
        "b": pl.Boolean,
        "maybe": pl.Int64,
        "point": point,
        "points": pl.List(point),
        "ints": pl.List(pl.Int64),
        "either": pl.String,
        "mixed": pl.String,
        "untyped": pl.String,
        "loose": pl.String,
        "tuple": pl.String,
        "deep": pl.String,
        "_extra": pl.String,
        "_ingested_at": UTC_US,
        "_source_record_id": pl.String,
        "_batch_id": pl.String,
        "year": pl.String,
        "month": pl.String,
        "day": pl.String,
    }


def test_recursive_schema_ends_in_json_text() -> None:
    tree = {"type": "object", "properties": {"ts": {"type": "string"}, "child": {"$ref": "#"}}}
    assert lake_schema(_spec(tree), {})["child"] == pl.String


def test_enrichment_fields_take_the_table_dtype(tmp_path: Path) -> None:
    table = tmp_path / "t.parquet"
    pl.DataFrame(
        {"k": ["a"], "weight": [1.5], "count": pl.Series([3], dtype=pl.Int32), "when": [date(2026, 1, 1)]}
    ).write_parquet(table)
    csv = tmp_path / "t.csv"
    csv.write_text("k,label\na,x\n")
    spec = _spec(
        {"type": "object", "properties": {"ts": {"type": "string"}, "k": {"type": "string"}, "weight": {"type": "string"}}},
        enrich=[
            {"name": "p", "source": str(table), "key": "k", "fields": ["weight", "count"]},
            {"name": "c", "source": str(csv), "key": "k", "fields": ["label"]},
        ],
    )
    dtypes = lake_schema(spec, {"weight": pl.Float64(), "count": pl.Int32()})
    assert list(dtypes)[:5] == ["ts", "k", "weight", "count", "label"]  # a replaced property keeps its place
    assert (dtypes["weight"], dtypes["count"], dtypes["label"]) == (pl.Float64, pl.Int64, pl.String)
    assert LakeWriter(spec, str(tmp_path)).columns.dtypes == dtypes
    # their values come from the tables, not from the text sent
    assert lake_columns(spec, {"weight": pl.Float64(), "count": pl.Int32()}).enriched == {"weight", "count", "label"}


@pytest.mark.parametrize("name", ["_extra", "_batch_id", "year", "day"])
def test_a_property_named_like_a_lake_column_is_a_spec_error(name: str) -> None:
    with pytest.raises(SpecError, match=name):
        lake_schema(_spec({"type": "object", "properties": {"ts": {"type": "string"}, name: {"type": "string"}}}), {})


def test_each_column_kind_round_trips(tmp_path: Path) -> None:
    spec = _spec(SCHEMA)
    records: list[dict[str, Any]] = [
        {
            "s": "é\n\"", "ts": "2026-11-27t23:30:00.1234567z", "d": "2024-02-29", "i": 2.0, "n": 1e300, "b": True, "maybe": None,
            "point": {"x": 1, "at": "2026-01-01T00:00:00+01:00"}, "points": [{"x": -0.5}], "ints": [1, -(2**63)],
            "either": 7, "mixed": "seven", "untyped": {"a": [1, "b"]}, "loose": {}, "tuple": [1, "x"], "deep": {"any": 1.50},
            "big": 123456789012345678901234567890, "nested": {"k": "v"},
        },
        {"ts": "2026-11-27T10:00:00Z", "either": "x"},
    ]  # fmt: skip
    texts = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records]
    # json.dumps writes 1.50 as 1.5; keep a number as the producer wrote it
    texts[0] = texts[0].replace('"deep":{"any":1.5}', '"deep":{"any":1.50}')
    batch = RecordBatch(record_ids=["r0", "r1"], data=[base64.b64encode(t.encode()).decode() for t in texts], arrival_ms=[0, 0])
    result = Pipeline(spec).process(batch)
    assert result.ok == 2, result.outcomes["reason"].to_list()
    LakeWriter(spec, str(tmp_path)).write(result, batch, batch_id="kinds")
    rows = pl.read_parquet(f"{tmp_path}/raw/t_1/", hive_partitioning=True).sort("_source_record_id").to_dicts()
    first, second = rows
    assert first["s"] == 'é\n"' and first["i"] == 2 and first["n"] == 1e300 and first["b"] is True and first["maybe"] is None
    assert str(first["ts"]) == "2026-11-27 23:30:00.123456+00:00"
    assert str(first["d"]) == "2024-02-29"
    assert str(first["point"]["at"]) == "2025-12-31 23:00:00+00:00" and first["point"]["x"] == 1.0
    assert first["points"] == [{"x": -0.5, "at": None}] and first["ints"] == [1, -(2**63)]
    assert (first["either"], first["mixed"], first["tuple"]) == ("7", '"seven"', '[1,"x"]')
    assert (first["untyped"], first["loose"], first["deep"]) == ('{"a":[1,"b"]}', "{}", '{"any":1.50}')
    assert first["_extra"] == '{"big":123456789012345678901234567890,"nested":{"k":"v"}}'
    assert second["either"] == '"x"' and second["_extra"] is None and second["s"] is None and second["point"] is None
