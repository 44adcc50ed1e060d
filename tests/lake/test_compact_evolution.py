"""The curated table follows the spec: a new property is a new column (old rows null, never rewritten), a property
promoted from ``_extra`` is filled for new rows and stays in ``_extra`` for old ones, and a type change or a dropped
property is refused before anything is read or committed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.curated import SCHEMA, TS, make_spec, read_curated, snapshot_ids, write_texts
from transform_core.lake.curated import compact, curated_layout, curated_table
from transform_core.lake.curated.evolve import schema_change
from transform_core.spec import PipelineSpec

DAY_2 = '"ts":"2026-11-25T10:00:00Z"'


def with_property(path: str, definition: dict[str, Any] | None) -> PipelineSpec:
    """The test schema with one property (``point.y`` reaches into a struct) added, changed, or removed (None)."""
    schema = copy.deepcopy(SCHEMA)
    *parents, name = path.split(".")
    properties = schema["properties"]
    for parent in parents:
        properties = properties[parent]["properties"]
    if definition is None:
        del properties[name]
    else:
        properties[name] = definition
    return make_spec(schema)


def field_ids(spec: PipelineSpec, root: Path) -> dict[str, int]:
    table = curated_table(spec, str(root))
    assert table is not None
    return {name: table.schema().find_field(name).field_id for name in table.schema().column_names}


def test_a_new_property_is_a_new_column_and_old_rows_read_null(tmp_path: Path) -> None:
    old = make_spec()
    write_texts(old, tmp_path, [f'{{{TS},"i":1}}'], "b1")
    compact(old, str(tmp_path))
    before = field_ids(old, tmp_path)
    old_files = {f.name for f in (tmp_path / "curated").rglob("*.parquet")}

    new = with_property("firmware", {"type": "string"})
    write_texts(new, tmp_path, [f'{{{DAY_2},"i":2,"firmware":"1.2"}}'], "b2")
    summary = compact(new, str(tmp_path))

    assert [p.status for p in summary.partitions] == ["unchanged", "compacted"]  # day 24 is not rewritten
    after = field_ids(new, tmp_path)
    assert {k: after[k] for k in before} == before and after["firmware"] > max(before.values())
    rows = read_curated(new, tmp_path).sort("i")
    assert rows["firmware"].to_list() == [None, "1.2"] and rows.columns[-1] == "firmware"
    assert old_files <= {f.name for f in (tmp_path / "curated").rglob("*.parquet")}  # the old data file still serves day 24
    assert compact(new, str(tmp_path)).committed is False  # and the next run has nothing to do


def test_a_new_struct_field_is_added_inside_the_struct(tmp_path: Path) -> None:
    old = make_spec()
    write_texts(old, tmp_path, [f'{{{TS},"point":{{"x":1.5}}}}'], "b1")
    compact(old, str(tmp_path))

    new = with_property("point.y", {"type": "integer"})
    write_texts(new, tmp_path, [f'{{{TS},"point":{{"x":2.5,"y":7}}}}'], "b2")  # the same partition: recomputed whole
    compact(new, str(tmp_path))

    points = read_curated(new, tmp_path).sort("_batch_id")["point"].to_list()
    assert points == [{"x": 1.5, "y": None}, {"x": 2.5, "y": 7}]


def test_a_property_promoted_from_extra_is_filled_for_new_rows_and_stays_in_extra_for_old_ones(tmp_path: Path) -> None:
    old = make_spec()
    write_texts(old, tmp_path, [f'{{{TS},"i":1,"firmware":"1.0"}}'], "b1")  # undeclared: kept in _extra
    compact(old, str(tmp_path))

    new = with_property("firmware", {"type": "string"})
    write_texts(new, tmp_path, [f'{{{TS},"i":2,"firmware":"2.0"}}'], "b2")  # the same partition: both files read again
    compact(new, str(tmp_path))

    rows = read_curated(new, tmp_path).sort("i")
    assert rows["firmware"].to_list() == [None, "2.0"]
    assert [json.loads(x) if x else None for x in rows["_extra"]] == [{"firmware": "1.0"}, None]


def test_a_type_change_is_refused_naming_the_column_and_both_types(tmp_path: Path) -> None:
    old = make_spec()
    write_texts(old, tmp_path, [f'{{{TS},"i":1}}'], "b1")
    compact(old, str(tmp_path))
    snapshots = snapshot_ids(old, tmp_path)

    new = with_property("i", {"type": "string"})
    write_texts(new, tmp_path, [f'{{{TS},"i":"one"}}'], "b2")
    with pytest.raises(ValueError, match=r"column i is long in the table and string in the spec; .* old rows are never cast"):
        compact(new, str(tmp_path))

    assert snapshot_ids(old, tmp_path) == snapshots and read_curated(old, tmp_path)["i"].to_list() == [1]


def test_a_nested_type_change_and_a_dropped_property_are_refused(tmp_path: Path) -> None:
    old = make_spec()
    write_texts(old, tmp_path, [f'{{{TS},"i":1}}'], "b1")
    compact(old, str(tmp_path))

    with pytest.raises(ValueError, match=r"column point\.x is double in the table and string in the spec"):
        compact(with_property("point.x", {"type": "string"}), str(tmp_path))
    with pytest.raises(ValueError, match=r"has columns the spec no longer declares \(note\); .* declare them again"):
        compact(with_property("note", None), str(tmp_path))


def test_schema_change_compares_by_name_not_by_field_id() -> None:
    spec = make_spec()
    schema = curated_layout(spec).iceberg_schema().as_struct()
    assert schema_change(schema, schema) == schema_change(schema, curated_layout(spec).iceberg_schema().as_struct())
    grown = curated_layout(with_property("point.y", {"type": "boolean"})).iceberg_schema().as_struct()
    change = schema_change(schema, grown)
    assert (change.added, change.removed, change.changed) == (("point.y",), (), ())
    assert schema_change(grown, schema).removed == ("point.y",)
