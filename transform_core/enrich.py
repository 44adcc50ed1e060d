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

__all__ = ["enrichment_suffixes"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def enrichment_suffixes(keys: list[Any], table: ReferenceTable, key_info: FieldInfo, reasons: list[str | None]) -> pl.Series:
    """Each record's suffix for ``table``; with ``on_missing: reject`` a miss fills ``reasons``."""
    if table.key_type == "string":
        key_series = pl.Series([k if type(k) is str else None for k in keys], dtype=pl.String)
    else:  # only true ints in int64 can be in the table; 5.0, true and 2**70 are misses
        key_series = pl.Series([k if type(k) is int and _INT64_MIN <= k <= _INT64_MAX else None for k in keys], dtype=pl.Int64)
    found = key_series.replace_strict(table.frame[KEY_COLUMN], table.frame[SUFFIX_COLUMN], default=None, return_dtype=pl.String)
    if table.spec.on_missing == "keep":
        return found.fill_null(table.missing_suffix)
    for i in found.is_null().arg_true().to_list():
        if reasons[i] is None:
            reasons[i] = format_reason(
                key_info.path, f"{show_value(keys[i])} is not in reference table {table.spec.name!r}", "enrich"
            )
    return found.fill_null("")
