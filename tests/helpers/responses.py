"""The Firehose response an outcome frame should give, written record by record with orjson: the oracle the
response sink's bytes are held to."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson
import polars as pl
from polars.testing import assert_frame_equal

from transform_core.firehose.outcomes import FAILED, OK
from transform_core.firehose.response import SHED_REASON
from transform_core.spec import IcebergSpec


def response_entries(
    outcomes: pl.DataFrame, partition_keys: Sequence[str], iceberg: IcebergSpec | None = None
) -> list[dict[str, Any]]:
    """One response entry per row: ``recordId``, ``result``, ``data``, and for an Ok row its partition keys (or with
    ``iceberg``, its table as ``otfMetadata``)."""
    entries: list[dict[str, Any]] = []
    for row in outcomes.iter_rows(named=True):
        entry: dict[str, Any] = {"recordId": row["record_id"], "result": row["result"], "data": row["data"]}
        if row["result"] == OK and iceberg is not None:
            table = {"destinationDatabaseName": iceberg.database, "destinationTableName": iceberg.table}
            entry["metadata"] = {"otfMetadata": {**table, "operation": iceberg.operation}}
        elif row["result"] == OK:
            entry["metadata"] = {"partitionKeys": {key: row[key] for key in partition_keys}}
        entries.append(entry)
    return entries


def response_body(outcomes: pl.DataFrame, partition_keys: Sequence[str], iceberg: IcebergSpec | None = None) -> bytes:
    """The compact JSON response for ``outcomes`` as they are (no shedding)."""
    return orjson.dumps({"records": response_entries(outcomes, partition_keys, iceberg)})


def response_records(body: bytes) -> list[dict[str, Any]]:
    """The entries of a response body."""
    records: list[dict[str, Any]] = json.loads(body)["records"]
    return records


def check_shed_response(
    full_body: bytes, body: bytes, outcomes: pl.DataFrame, shed_outcomes: pl.DataFrame, source: list[str], limit: int
) -> int:
    """Assert the shedding contract; return the number of shed records."""
    assert len(body) < limit
    before, after = response_records(full_body), response_records(body)
    assert [e["recordId"] for e in after] == [e["recordId"] for e in before]
    shed = [i for i, (b, a) in enumerate(zip(before, after, strict=True)) if b["result"] == OK and a["result"] != OK]
    assert shed, "the limit was chosen so that something must be shed"
    first = shed[0]
    assert after[:first] == before[:first]  # the prefix is untouched
    for i in range(first, len(before)):
        if before[i]["result"] == OK:  # every Ok record from the first shed one on is shed
            assert after[i] == {"recordId": before[i]["recordId"], "result": FAILED, "data": source[i]}
        else:
            assert after[i] == before[i]
    reasons = shed_outcomes["reason"].to_list()
    assert all(reasons[i] == SHED_REASON for i in shed)
    assert "response" in SHED_REASON and "(response_size)" in SHED_REASON
    kept = pl.Series([i not in set(shed) for i in range(len(before))])
    assert_frame_equal(shed_outcomes.filter(kept), outcomes.filter(kept))
    assert shed_outcomes.filter(~kept)["year"].null_count() == len(shed)
    return len(shed)
