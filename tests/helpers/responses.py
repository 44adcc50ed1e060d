"""The Firehose response an outcome frame should give, written record by record with orjson: the oracle the
response sink's bytes are held to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import polars as pl

from transform_core.firehose.outcomes import OK


def response_entries(outcomes: pl.DataFrame, partition_keys: Sequence[str]) -> list[dict[str, Any]]:
    """One response entry per row: ``recordId``, ``result``, ``data``, and for an Ok row its partition keys."""
    entries: list[dict[str, Any]] = []
    for row in outcomes.iter_rows(named=True):
        entry: dict[str, Any] = {"recordId": row["record_id"], "result": row["result"], "data": row["data"]}
        if row["result"] == OK:
            entry["metadata"] = {"partitionKeys": {key: row[key] for key in partition_keys}}
        entries.append(entry)
    return entries


def response_body(outcomes: pl.DataFrame, partition_keys: Sequence[str]) -> bytes:
    """The compact JSON response for ``outcomes`` as they are (no shedding)."""
    return orjson.dumps({"records": response_entries(outcomes, partition_keys)})
