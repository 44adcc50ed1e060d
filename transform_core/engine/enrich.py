"""Stage: enrichment by reference-table lookups, as JSON text to splice into each record.

A lookup maps each record's key to the table's precomputed suffix (``,"site":"plant-7","model":"X200"``):
a left join that cannot multiply records, since table keys are unique by construction (duplicates
are a SpecError at load). A string key is looked up in the main query (:func:`string_lookup`); an integer key by a
dict lookup per record through ``map`` (:func:`integer_suffixes`; no Python frame per record): at Firehose batch sizes
either is four times cheaper than a Polars join, which builds its hash table of the whole reference table on every
call.
"""

from __future__ import annotations

from typing import Any, cast

import polars as pl

from transform_core.schema import FieldInfo, format_reason, show_value
from transform_core.tables import ReferenceTable

__all__ = ["integer_suffixes", "missing_key_reason", "string_lookup"]


def string_lookup(keys: pl.Expr, table: ReferenceTable) -> pl.Expr:
    """The text each record gets from a table with string keys, from ``keys`` (String): null for a miss or a null.

    A cast to an Enum of the table's keys finds each key's row (an unknown string becomes null) and the row picks
    its suffix. The Enum's lookup structure is built with the expression, once per table, where dict lookups
    through ``map`` would build a Series from Python objects (and find the dict out of cache by the next
    invocation).
    """
    assert table.key_type == "string"
    rows = keys.cast(pl.Enum(cast(list[str], list(table.suffixes))), strict=False).to_physical()
    return pl.lit(pl.Series(list(table.suffixes.values()), dtype=pl.String)).gather(rows)


def integer_suffixes(values: list[Any], table: ReferenceTable) -> pl.Series:
    """The text each record gets from a table with integer keys: null for a miss (:func:`string_lookup` for strings).

    Only a true integer finds a key: not ``5.0``, not ``true``, which Python would hash equal to ``5`` and ``1``.
    """
    assert table.key_type == "integer"
    keys: list[Any] = [k if type(k) is int else None for k in values]
    return pl.Series(list(map(table.suffixes.get, keys)), dtype=pl.String)


def missing_key_reason(value: Any, table: ReferenceTable, key_info: FieldInfo) -> str:
    """The reason for a key that ``table`` (with ``on_missing: reject``) does not hold."""
    return format_reason(key_info.path, f"{show_value(value)} is not in reference table {table.spec.name!r}", "enrich")
