"""Stage: enrichment by reference-table lookups, as JSON text to splice into each record.

A lookup maps each record's key to the table's precomputed suffix (``,"site":"plant-7","model":"X200"``):
a left join that cannot multiply records, since table keys are unique by construction (duplicates
are a SpecError at load). It is a dict lookup per record through ``map`` (no Python frame per
record): at Firehose batch sizes that is four times cheaper than Polars building its hash table of
the whole reference table on every call.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from transform_core.schema import FieldInfo, format_reason, show_value
from transform_core.tables import ReferenceTable

__all__ = ["missing_key_reason", "suffixes"]


def suffixes(values: list[Any], table: ReferenceTable, key_info: FieldInfo) -> pl.Series:
    """The text each record gets from ``table``: null for a miss.

    Keys match by JSON type: only a true integer (not ``5.0``, not ``true``, which Python would
    hash equal to ``5`` and ``1``) finds an integer key, only a string finds a string key.
    """
    if table.key_type == "integer":
        values = [k if type(k) is int else None for k in values]
    elif not key_info.types <= {"string", "null"}:  # else the decode guarantees str or None
        values = [k if type(k) is str else None for k in values]
    return pl.Series(list(map(table.suffixes.get, values)), dtype=pl.String)


def missing_key_reason(value: Any, table: ReferenceTable, key_info: FieldInfo) -> str:
    """The reason for a key that ``table`` (with ``on_missing: reject``) does not hold."""
    return format_reason(key_info.path, f"{show_value(value)} is not in reference table {table.spec.name!r}", "enrich")
