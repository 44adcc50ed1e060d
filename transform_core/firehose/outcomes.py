"""The outcome frame: what the engine and the reference return for a batch.

Both the vectorized engine and the per-record reference implementation read a :class:`RecordBatch`
and return an *outcome frame* with exactly one row per input record, in input order:

=================  =======  ==========================================================
column             dtype    meaning
=================  =======  ==========================================================
``record_id``      String   the Firehose recordId, as sent
``result``         String   ``Ok`` | ``Dropped`` | ``ProcessingFailed``
``data``           String   base64 to return: the enriched record for Ok, else the input
``reason``         String   why a record failed (``$.path: message (rule)``), else null
``year`` … ``day``  String   UTC partition keys for Ok records, else null
``hour``           String   only with hourly partitioning
=================  =======  ==========================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import polars as pl

__all__ = ["DROPPED", "FAILED", "OK", "Result", "outcome_schema"]

Result = Literal["Ok", "Dropped", "ProcessingFailed"]
OK: Result = "Ok"
DROPPED: Result = "Dropped"
FAILED: Result = "ProcessingFailed"


def outcome_schema(partition_keys: Sequence[str]) -> dict[str, type[pl.DataType]]:
    """Column names and dtypes of an outcome frame for the given partition keys."""
    columns: dict[str, type[pl.DataType]] = {"record_id": pl.String, "result": pl.String, "data": pl.String, "reason": pl.String}
    columns.update({key: pl.String for key in partition_keys})
    return columns
