"""The checks after the decode, as one lazy Polars query, then the reasons of the failures.

Format and pattern rules, the drop rule, the event time and the enrichment lookups become columns of one
frame, computed in a single ``collect`` (Polars shares the subexpressions, so a date-time field
used for both a format rule and the partition is parsed once). Python then visits only the
records that failed, to write their reasons in the reference's order of checks:
schema rules (pattern, format), drop, event time, enrichment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from transform_core.bindings import Bindings
from transform_core.decode import Decoded, extract
from transform_core.enrich import key_column, missing_key_reason, suffix
from transform_core.partition import event_time_column, event_time_micros, event_time_reason
from transform_core.rules import VECTORIZED_FORMATS, format_failed, python_format_failed
from transform_core.schema import CompiledSchema, FieldInfo, format_reason, show_value
from transform_core.spec import PipelineSpec
from transform_core.tables import ReferenceTable

__all__ = ["Checked", "run_checks"]


@dataclass(slots=True)
class Checked:
    """The check columns (``_drop``, ``_micros``, ``_suffix{t}``, …) and every record's reason."""

    frame: pl.DataFrame
    reasons: list[str | None]


def run_checks(
    decoded: Decoded,
    arrival_ms: Sequence[int | None],
    spec: PipelineSpec,
    schema: CompiledSchema,
    bindings: Bindings,
    tables: tuple[ReferenceTable, ...],
) -> Checked:
    """Evaluate every post-decode check over the batch; fill in the reasons of failed records."""
    values = _FieldValues(decoded.records)
    columns: list[pl.Series] = [pl.Series("_decoded", [r is None for r in decoded.reasons], dtype=pl.Boolean)]
    exprs: list[pl.Expr] = []
    for i, info in enumerate(schema.format_fields):
        assert info.format is not None
        if info.format in VECTORIZED_FORMATS:
            columns.append(_strings(f"_format{i}", values(info), info))
            exprs.append(format_failed(pl.col(f"_format{i}"), info.format).alias(f"_format{i}_failed"))
        else:
            columns.append(python_format_failed(values(info), info.format).alias(f"_format{i}_failed"))
    for i, info in enumerate(schema.pattern_fields):
        columns.append(_strings(f"_pattern{i}", values(info), info))
        exprs.append(_pattern_failed(f"_pattern{i}", info, columns[-1]).alias(f"_pattern{i}_failed"))
    for t, (table, key) in enumerate(zip(tables, bindings.enrich_keys, strict=True)):
        columns.append(key_column(values(key), table, key).alias(f"_key{t}"))
        exprs.append(suffix(pl.col(f"_key{t}"), table).alias(f"_suffix{t}"))
    if bindings.drop is not None and spec.drop is not None:
        columns += _drop_columns(values(bindings.drop), bindings.drop)
        strings = [v for v in spec.drop.values if isinstance(v, str)]
        numbers = [float(v) for v in spec.drop.values if not isinstance(v, str)]
        exprs.append((pl.col("_drop_str").is_in(strings) | pl.col("_drop_num").is_in(numbers)).fill_null(False).alias("_drop"))
    else:
        exprs.append(pl.lit(False).alias("_drop"))
    event_values = values(bindings.event_time)
    columns.append(event_time_column(event_values, spec.event_time, bindings.event_time.types).alias("_event_time"))
    present = pl.lit(True)
    if spec.event_time.on_missing == "arrival_time":
        columns.append(pl.Series("_arrival_ms", arrival_ms, dtype=pl.Int64))
        columns.append(pl.Series("_present", [v is not None for v in event_values], dtype=pl.Boolean))
        present = pl.col("_present")
    exprs.append(
        event_time_micros(
            pl.col("_event_time"),
            present,
            pl.col("_arrival_ms") if spec.event_time.on_missing == "arrival_time" else pl.lit(None),
            spec.event_time,
        ).alias("_micros")
    )
    frame = pl.DataFrame(columns).lazy().with_columns(exprs).collect()
    reasons = _reasons(frame, decoded.reasons, values, spec, schema, bindings, tables)
    return Checked(frame=frame, reasons=reasons)


class _FieldValues:
    """Each field's values, extracted from the decoded records once however often asked for."""

    def __init__(self, records: list[Any]) -> None:
        self.records = records
        self.cache: dict[tuple[str, ...], list[Any]] = {}

    def __call__(self, info: FieldInfo) -> list[Any]:
        if info.attrs not in self.cache:
            self.cache[info.attrs] = extract(self.records, info.attrs, info.may_be_unset)
        return self.cache[info.attrs]


def _strings(name: str, values: list[Any], info: FieldInfo) -> pl.Series:
    if info.types <= {"string", "null"}:  # the decode already guarantees str or None
        return pl.Series(name, values, dtype=pl.String)
    return pl.Series(name, [v if type(v) is str else None for v in values], dtype=pl.String)


def _pattern_failed(name: str, info: FieldInfo, values: pl.Series) -> pl.Expr:
    """Rust regex on ASCII values; the few non-ASCII values are checked by Python's ``re``."""
    assert info.pattern is not None
    value = pl.col(name)
    failed = value.is_not_null() & (value.str.len_bytes() == value.str.len_chars()) & ~value.str.contains(info.pattern.rust)
    rows = [i for i, v in enumerate(values.to_list()) if v is not None and not v.isascii()]
    if not rows:
        return failed
    search = re.compile(info.pattern.python).search
    python_failed = pl.Series([False] * len(values)).scatter(rows, [search(values[i]) is None for i in rows])
    return failed | python_failed


def _drop_columns(values: list[Any], info: FieldInfo) -> list[pl.Series]:
    if info.types <= {"string", "null"}:
        return [
            pl.Series("_drop_str", values, dtype=pl.String),
            pl.Series("_drop_num", [], dtype=pl.Float64).extend_constant(None, len(values)),
        ]
    strings = pl.Series("_drop_str", [v if type(v) is str else None for v in values], dtype=pl.String)
    numbers = pl.Series("_drop_num", [float(v) if type(v) in (int, float) else None for v in values], dtype=pl.Float64)
    return [strings, numbers]


def _reasons(
    frame: pl.DataFrame,
    reasons: list[str | None],
    values: Callable[[FieldInfo], list[Any]],
    spec: PipelineSpec,
    schema: CompiledSchema,
    bindings: Bindings,
    tables: tuple[ReferenceTable, ...],
) -> list[str | None]:
    formats = schema.format_fields
    rejecting = [t for t, table in enumerate(tables) if table.spec.on_missing == "reject"]
    patterns = schema.pattern_fields
    format_any = pl.any_horizontal(
        pl.lit(False),
        *[pl.col(f"_format{i}_failed") for i in range(len(formats))],
        *[pl.col(f"_pattern{i}_failed") for i in range(len(patterns))],
    )
    late_any = pl.any_horizontal(pl.col("_micros").is_null(), *[pl.col(f"_suffix{t}").is_null() for t in rejecting])
    # format rules come before the drop rule; event time and enrichment only matter for kept records
    rows = frame.select((pl.col("_decoded") & (format_any | (~pl.col("_drop") & late_any))).arg_true()).to_series().to_list()
    if not rows:
        return reasons
    view = frame[rows].rows(named=True)
    for i, row in zip(rows, view, strict=True):
        reasons[i] = _first_failure(row, i, values, spec, schema, bindings, tables, rejecting)
    return reasons


def _first_failure(
    row: dict[str, Any],
    i: int,
    values: Callable[[FieldInfo], list[Any]],
    spec: PipelineSpec,
    schema: CompiledSchema,
    bindings: Bindings,
    tables: tuple[ReferenceTable, ...],
    rejecting: list[int],
) -> str | None:
    for k, info in enumerate(schema.pattern_fields):
        if row[f"_pattern{k}_failed"]:
            assert info.pattern is not None
            return format_reason(info.path, f"does not match {info.pattern.source!r}", "pattern")
    for k, info in enumerate(schema.format_fields):
        if row[f"_format{k}_failed"]:
            return format_reason(info.path, f"{show_value(values(info)[i])} is not a valid {info.format}", "format")
    if row["_drop"]:
        return None
    if row["_micros"] is None:
        return event_time_reason(values(bindings.event_time)[i], spec.event_time, bindings.event_time.path)
    for t in rejecting:
        if row[f"_suffix{t}"] is None:
            key = bindings.enrich_keys[t]
            return missing_key_reason(values(key)[i], tables[t], key)
    return None
