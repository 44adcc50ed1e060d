"""The Firehose response an outcome frame should give, written record by record with orjson: the oracle the
response sink's bytes are held to."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson
import polars as pl
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from transform_core.firehose.outcomes import DROPPED, FAILED, OK, outcome_schema
from transform_core.firehose.response import SHED_REASON, build_response
from transform_core.spec import IcebergSpec
from transform_core.tuning import Tuning


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


# --- outcome frames and responses made by hand (the response tests of the S3 and Iceberg deliveries) --------------

DAY_KEYS = ("year", "month", "day")
HOUR_KEYS = ("year", "month", "day", "hour")
STAMP = ("2026", "11", "27", "05")  # the partition of every Ok row of outcome_frame
# The body is written two ways: f-strings in Python for small batches, entries joined in Polars from
# ``framed_response_from`` records.
IN_PYTHON, IN_POLARS = Tuning(framed_response_from=10**9), Tuning(framed_response_from=2)
ID_TEXT = st.text(alphabet='0123456789abé"\\\x00\x1f\u2028😀', max_size=5)
ODD_TEXT = st.text(alphabet='AQw=+/"\\\x01\né', max_size=8)
# Five records for shedding at a small limit: Ok entries of 100 characters, failed and dropped ones of 20 in between.
SHED_ROWS: list[tuple[str, str, str]] = [
    ("r0", OK, "A" * 100),
    ("r1", FAILED, "Q" * 20),
    ("r2", OK, "A" * 100),
    ("r3", DROPPED, "Q" * 20),
    ("r4", OK, "A" * 100),
]
SOURCE = ["Q" * 20] * len(SHED_ROWS)  # each record's data as it arrived


def outcome_frame(rows: list[tuple[str, str, str]], keys: tuple[str, ...]) -> pl.DataFrame:
    """An outcome frame of ``(record_id, result, data)`` rows: Ok rows partitioned at STAMP, failed rows with a reason."""
    columns: dict[str, list[Any]] = {
        "record_id": [i for i, _, _ in rows],
        "result": [r for _, r, _ in rows],
        "data": [d for _, _, d in rows],
        "reason": [("$: bad (type)" if r == FAILED else None) for _, r, _ in rows],
    }
    for n, key in enumerate(keys):
        columns[key] = [STAMP[n] if r == OK else None for _, r, _ in rows]
    return pl.DataFrame(columns, schema=outcome_schema(keys))


def shed_from(frame: pl.DataFrame, source: list[str], keep: int, keys: tuple[str, ...]) -> pl.DataFrame:
    """``frame`` with every Ok row from ``keep`` on returned failed, with its source data, the shed reason, no keys."""
    shed = (pl.int_range(pl.len()) >= keep) & (pl.col("result") == OK)
    return frame.with_columns(
        pl.when(shed).then(pl.lit(FAILED)).otherwise(pl.col("result")).alias("result"),
        pl.when(shed).then(pl.Series(source, dtype=pl.String)).otherwise(pl.col("data")).alias("data"),
        pl.when(shed).then(pl.lit(SHED_REASON)).otherwise(pl.col("reason")).alias("reason"),
        *[pl.when(shed).then(None).otherwise(pl.col(key)).alias(key) for key in keys],
    )


def respond(frame: pl.DataFrame, source: list[str], keys: tuple[str, ...], **options: Any) -> Any:
    return build_response(frame, pl.Series(source, dtype=pl.String), keys, **options)
