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
    columns = _Columns(values)
    columns.add(pl.Series("_decoded", [r is None for r in decoded.reasons], dtype=pl.Boolean))
    exprs: list[pl.Expr] = []
    for i, info in enumerate(schema.format_fields):
        assert info.format is not None
        if info.format in VECTORIZED_FORMATS:
            exprs.append(format_failed(columns.strings(info), info.format).alias(f"_format{i}_failed"))
        else:
            columns.add(python_format_failed(values(info), info.format).alias(f"_format{i}_failed"))
    for i, info in enumerate(schema.pattern_fields):
        exprs.append(_pattern_failed(columns.strings(info), info, values(info)).alias(f"_pattern{i}_failed"))
    for t, (table, key) in enumerate(zip(tables, bindings.enrich_keys, strict=True)):
        if table.key_type == "string":
            exprs.append(suffix(columns.strings(key), table).alias(f"_suffix{t}"))
        else:
            exprs.append(suffix(columns.add(key_column(values(key), table, key).alias(f"_key{t}")), table).alias(f"_suffix{t}"))
    exprs.append(_dropped(columns, spec, bindings).alias("_drop"))
    event_time, on_missing = bindings.event_time, spec.event_time.on_missing
    if spec.event_time.format == "iso8601":
        event_column = columns.strings(event_time)
    else:
        event_column = columns.add(event_time_column(values(event_time), spec.event_time, event_time.types).alias("_event_time"))
    present, arrival = pl.lit(True), pl.lit(None)
    if on_missing == "arrival_time":
        arrival = columns.add(pl.Series("_arrival_ms", arrival_ms, dtype=pl.Int64))
        present = columns.add(pl.Series("_present", [v is not None for v in values(event_time)], dtype=pl.Boolean))
    exprs.append(event_time_micros(event_column, present, arrival, spec.event_time).alias("_micros"))
    columns_frame = pl.DataFrame(columns.series)
    frame = columns_frame.lazy().with_columns(exprs).collect()
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


class _Columns:
    """The input columns of the check query; each field's strings become one column, shared by its rules."""

    def __init__(self, values: _FieldValues) -> None:
        self.values = values
        self.series: list[pl.Series] = []
        self.names: dict[tuple[str, ...], str] = {}

    def add(self, series: pl.Series) -> pl.Expr:
        self.series.append(series)
        return pl.col(series.name)

    def strings(self, info: FieldInfo) -> pl.Expr:
        """The field's string values (other JSON types as null), added once."""
        if info.attrs not in self.names:
            self.names[info.attrs] = f"_field{len(self.names)}"
            self.add(_strings(self.names[info.attrs], self.values(info), info))
        return pl.col(self.names[info.attrs])


def _dropped(columns: _Columns, spec: PipelineSpec, bindings: Bindings) -> pl.Expr:
    """True where the drop field holds one of the drop values (JSON equality: 1 == 1.0, "1" != 1)."""
    if bindings.drop is None or spec.drop is None:
        return pl.lit(False)
    strings = [v for v in spec.drop.values if isinstance(v, str)]
    numbers = [float(v) for v in spec.drop.values if not isinstance(v, str)]
    dropped = columns.strings(bindings.drop).is_in(strings)
    if numbers and bindings.drop.types & {"integer", "number"}:
        values = columns.values(bindings.drop)
        as_numbers = pl.Series("_drop_number", [float(v) if type(v) in (int, float) else None for v in values], dtype=pl.Float64)
        dropped = dropped | columns.add(as_numbers).is_in(numbers)
    return dropped.fill_null(False)


def _strings(name: str, values: list[Any], info: FieldInfo) -> pl.Series:
    if info.types <= {"string", "null"}:  # the decode already guarantees str or None
        return pl.Series(name, values, dtype=pl.String)
    return pl.Series(name, [v if type(v) is str else None for v in values], dtype=pl.String)


def _pattern_failed(value: pl.Expr, info: FieldInfo, values: list[Any]) -> pl.Expr:
    """Rust regex on ASCII values; the few non-ASCII values are checked by Python's ``re``."""
    assert info.pattern is not None
    ascii_only = value.str.len_bytes() == value.str.len_chars()
    failed = value.is_not_null() & ascii_only & ~value.str.contains(info.pattern.rust)
    rows = [i for i, v in enumerate(values) if type(v) is str and not v.isascii()]
    if not rows:
        return failed
    search = re.compile(info.pattern.python).search
    python_failed = pl.Series([False] * len(values)).scatter(rows, [search(values[i]) is None for i in rows])
    return failed | python_failed


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
