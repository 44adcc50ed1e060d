"""Stage: enrichment by reference-table lookups, as JSON text to splice into each record.

A lookup is a vectorized hash replace of the record's key by the table's precomputed suffix
(``,"site":"plant-7","model":"X200"``): a left join that cannot multiply records, since table
keys are unique by construction (duplicates are a SpecError at load).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from transform_core.schema import FieldInfo, format_reason, show_value
from transform_core.tables import KEY_COLUMN, SUFFIX_COLUMN, ReferenceTable

__all__ = ["integer_keys", "missing_key_reason", "suffix"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def integer_keys(values: list[Any]) -> pl.Series:
    """Record keys for a table keyed by integers: only true integers within int64 can match.

    ``5.0``, ``true`` and ``2**70`` become null, a miss. (String keys need no such column: the
    decode guarantees a string-typed field holds str or None.)
    """
    return pl.Series([k if type(k) is int and _INT64_MIN <= k <= _INT64_MAX else None for k in values], dtype=pl.Int64)


def suffix(key: pl.Expr, table: ReferenceTable) -> pl.Expr:
    """The text each record gets from ``table``; null for a miss."""
    return key.replace_strict(table.frame[KEY_COLUMN], table.frame[SUFFIX_COLUMN], default=None, return_dtype=pl.String)


def missing_key_reason(value: Any, table: ReferenceTable, key_info: FieldInfo) -> str:
    """The reason for a key that ``table`` (with ``on_missing: reject``) does not hold."""
    return format_reason(key_info.path, f"{show_value(value)} is not in reference table {table.spec.name!r}", "enrich")
