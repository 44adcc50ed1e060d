"""build_response with an Iceberg destination: each Ok entry carries ``metadata.otfMetadata`` (the table and the
operation) instead of its partition keys, other entries carry nothing, on every path the body is written by (f-strings,
Polars, orjson for escaped rows, shedding)."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.helpers.responses import (
    DAY_KEYS,
    HOUR_KEYS,
    ID_TEXT,
    IN_POLARS,
    IN_PYTHON,
    ODD_TEXT,
    SHED_ROWS,
    SOURCE,
    outcome_frame,
    respond,
    response_body,
)
from tests.helpers.responses import shed_from as shed_frame
from transform_core.firehose.outcomes import DROPPED, FAILED, OK
from transform_core.firehose.response import entry_in_query, otf_metadata
from transform_core.spec import IcebergSpec
from transform_core.tuning import Tuning

TABLE = IcebergSpec(database="transform_core", table="iot_telemetry")
PATHS = pytest.mark.parametrize("tuning", [IN_PYTHON, IN_POLARS], ids=["joined-in-python", "joined-in-polars"])
ROWS: list[tuple[str, str, str]] = [("a", OK, "eyJ9"), ("b", DROPPED, "eA=="), ("c", FAILED, "eQ==")]
BODY = (
    b'{"records":[{"recordId":"a","result":"Ok","data":"eyJ9","metadata":{"otfMetadata":'
    b'{"destinationDatabaseName":"transform_core","destinationTableName":"iot_telemetry","operation":"insert"}}},'
    b'{"recordId":"b","result":"Dropped","data":"eA=="},{"recordId":"c","result":"ProcessingFailed","data":"eQ=="}]}'
)


def test_otf_metadata_is_the_guides_three_fields() -> None:
    update = IcebergSpec(database="lake", table="events", operation="update")
    assert otf_metadata(update) == {"destinationDatabaseName": "lake", "destinationTableName": "events", "operation": "update"}


@PATHS
@pytest.mark.parametrize("keys", [DAY_KEYS, HOUR_KEYS], ids=["day", "hour"])
@pytest.mark.parametrize("not_base64", [None, [], [1, 2]], ids=["any-row-unchecked", "all-base64", "failed-rows-not-base64"])
def test_only_ok_entries_name_the_table_and_no_entry_has_partition_keys(
    keys: tuple[str, ...], tuning: Tuning, not_base64: list[int] | None
) -> None:
    frame = outcome_frame(ROWS, keys)
    response = respond(frame, ["x", "eA==", "eQ=="], keys, not_base64=not_base64, tuning=tuning, iceberg=TABLE)
    assert response.body == BODY
    assert_frame_equal(response.outcomes, frame)  # the outcome frame keeps its partition keys


@pytest.mark.parametrize("operation", ["update", "delete"])
def test_the_operation_is_the_specs(operation: str) -> None:
    table = IcebergSpec(database="db", table="t", operation=operation)  # type: ignore[arg-type]
    frame = outcome_frame(ROWS, DAY_KEYS)
    (ok, *_) = json.loads(respond(frame, ["x", "eA==", "eQ=="], DAY_KEYS, iceberg=table).body)["records"]
    assert ok["metadata"] == {
        "otfMetadata": {"destinationDatabaseName": "db", "destinationTableName": "t", "operation": operation}
    }


@pytest.mark.parametrize("rows", [1, 2, 1200])
def test_entries_computed_in_the_callers_query_give_the_same_body(rows: int) -> None:
    results: tuple[str, ...] = (OK, FAILED, DROPPED)
    frame = outcome_frame([(f"r{i}", results[i % 3], "eyJ9") for i in range(rows)], DAY_KEYS)
    entries = frame.select(entry_in_query(DAY_KEYS, TABLE)).to_series()
    response = respond(frame, ["eyJ9"] * rows, DAY_KEYS, not_base64=[], entries=entries, iceberg=TABLE)
    assert response.body == response_body(frame, DAY_KEYS, TABLE)


@st.composite
def outcome_frames(draw: st.DrawFn) -> tuple[pl.DataFrame, list[int]]:
    """A frame whose ids may need escapes and whose failed rows may hold any text; and the rows with such text."""
    rows: list[tuple[str, str, str]] = []
    not_base64: list[int] = []
    for i in range(draw(st.integers(0, 30))):
        result = draw(st.sampled_from([OK, OK, FAILED, DROPPED]))
        data = draw(st.text(alphabet="AQw=+/", max_size=12)) if result != FAILED else draw(ODD_TEXT)
        if result == FAILED:
            not_base64.append(i)
        rows.append((f"{i}-" + draw(ID_TEXT), result, data))
    return outcome_frame(rows, DAY_KEYS), not_base64


@given(case=outcome_frames(), declared=st.booleans(), tuning=st.sampled_from([IN_PYTHON, IN_POLARS]))
def test_any_frame_is_its_records_as_orjson_writes_them(
    case: tuple[pl.DataFrame, list[int]], declared: bool, tuning: Tuning
) -> None:
    frame, not_base64 = case
    source = frame["data"].to_list()
    response = respond(frame, source, DAY_KEYS, not_base64=not_base64 if declared else None, tuning=tuning, iceberg=TABLE)
    assert response.body == response_body(frame, DAY_KEYS, TABLE)
    assert response.shed == 0


@pytest.mark.parametrize(("keep", "shed"), [(5, 0), (4, 1), (0, 3)])
def test_a_shed_record_loses_its_table_with_its_ok(keep: int, shed: int) -> None:
    frame = outcome_frame(SHED_ROWS, DAY_KEYS)
    expected = shed_frame(frame, SOURCE, keep, DAY_KEYS)
    limit = len(response_body(expected, DAY_KEYS, TABLE)) + 1  # just room for this many kept

    response = respond(frame, SOURCE, DAY_KEYS, limit=limit, iceberg=TABLE)

    assert response.shed == shed
    assert_frame_equal(response.outcomes, expected)
    assert response.body == response_body(expected, DAY_KEYS, TABLE)
    records = json.loads(response.body)["records"]
    assert [("metadata" in r) for r in records] == [r["result"] == OK for r in records]
