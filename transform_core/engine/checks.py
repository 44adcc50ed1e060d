"""The checks a decoded record goes through after the decode, described once as a list of named checks.

Each :class:`Check` is one column of the checks query: the expression that computes it, the input columns it reads
(built in Python from the records' values), and, for a rule, how a failing record shows in it and the reason it
gets. The rules come in the reference's order: schema rules (pattern, then format), the drop rule, event time,
enrichment. :mod:`transform_core.engine.outcome` runs them as one query and turns them into outcomes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import polars as pl

from transform_core.engine.decode import extract
from transform_core.engine.enrich import integer_suffixes, missing_key_reason, string_lookup
from transform_core.engine.partition import epoch_column, event_time_micros, event_time_reason
from transform_core.engine.rules import VECTORIZED_FORMATS, date_time_micros, format_failed, python_format_failed
from transform_core.schema import CompiledSchema, FieldInfo, format_reason, show_value
from transform_core.spec import PipelineSpec
from transform_core.spec.bindings import Bindings
from transform_core.tables import ReferenceTable

__all__ = ["DROP", "EVENT_TIME", "Check", "Input", "InputContext", "PlannedChecks", "RecordValues", "Rule", "build_checks"]

DROP = "_drop"  # True where the drop rule drops the record
EVENT_TIME = "_micros"  # the event time in epoch microseconds; null where the record has none usable


class RecordValues:
    """Each field's values, extracted from the decoded records once however often asked for."""

    def __init__(self, records: list[Any]) -> None:
        self.records: list[Any] | None = records  # None once the records are handed over to be freed
        self.cache: dict[tuple[str, ...], list[Any]] = {}

    def __call__(self, info: FieldInfo) -> list[Any]:
        if info.attrs not in self.cache:
            assert self.records is not None, f"{info.path} read after the records were handed over to be freed"
            self.cache[info.attrs] = extract(self.records, info.attrs, info.may_be_unset)
        return self.cache[info.attrs]


class InputContext(NamedTuple):
    """What an input column is built from."""

    values: RecordValues
    non_ascii: list[int]  # rows whose values may hold non-ASCII text (or more)
    arrival_ms: Sequence[int | None]


class Input(NamedTuple):
    """A column built in Python for the query to read."""

    column: str
    build: Callable[[InputContext], pl.Series]


@dataclass(frozen=True, slots=True)
class Rule:
    """How a record failing a check shows in its column, when it is judged, and the reason it gets."""

    fails_on_null: bool  # a failing record holds null (no event time, no table row); else it holds True
    kept_only: bool  # judged only for records the drop rule keeps (event time, enrichment); else before the drop
    reason: Callable[[int, RecordValues], str]  # the reason of the record in that row

    def failed(self, column: str) -> pl.Expr:
        return pl.col(column).is_null() if self.fails_on_null else pl.col(column)

    def fails(self, value: Any) -> bool:
        return value is None if self.fails_on_null else bool(value)


@dataclass(frozen=True, slots=True)
class Check:
    """One column of the checks query."""

    column: str
    expr: pl.Expr | None  # computes the column from the inputs; None: the column is itself an input
    inputs: tuple[Input, ...] = ()
    rule: Rule | None = None  # None: a value the outcome reads (the drop, an enrichment that keeps misses)


class _Builder:
    """Builds the checks of one pipeline; string columns and date-time parses are shared between checks."""

    def __init__(self) -> None:
        self.strings: dict[tuple[str, ...], Input] = {}
        self.parsed: dict[str, pl.Expr] = {}  # input column -> its date-time parse, computed before the checks

    def string_input(self, info: FieldInfo) -> Input:
        """The field's values as a String column (null for values of another type)."""
        if info.attrs not in self.strings:
            name = f"_field{len(self.strings)}"
            self.strings[info.attrs] = Input(name, lambda ctx: _strings(name, ctx.values(info), info))
        return self.strings[info.attrs]

    def date_time(self, column: str) -> pl.Expr:
        """Epoch microseconds of a date-time column (null unless valid), parsed once before the checks."""
        if column not in self.parsed:
            self.parsed[column] = date_time_micros(pl.col(column)).alias(f"_parsed{len(self.parsed)}")
        return pl.col(self.parsed[column].meta.output_name())


class PlannedChecks(NamedTuple):
    """A pipeline's checks, and what the outcome needs to know of them."""

    checks: list[Check]  # every check, the rules in the reference's order
    parses: list[pl.Expr]  # the date-time parses the checks read, computed before them
    enrichments: list[Check]  # the enrichment checks, one per reference table in spec order: their columns hold the text


def build_checks(
    spec: PipelineSpec, schema: CompiledSchema, bindings: Bindings, tables: tuple[ReferenceTable, ...]
) -> PlannedChecks:
    """The checks of a pipeline with these reference tables."""
    build = _Builder()
    enrichments = [
        _enrich_check(build, t, table, key) for t, (table, key) in enumerate(zip(tables, bindings.enrich_keys, strict=True))
    ]
    checks = [
        *(_pattern_check(build, k, info) for k, info in enumerate(schema.pattern_fields)),
        *(_format_check(build, info) for info in schema.format_fields),
        _drop_check(build, spec, bindings),
        _event_time_check(build, spec, bindings),
        *enrichments,
    ]
    return PlannedChecks(checks, list(build.parsed.values()), enrichments)


def _pattern_check(build: _Builder, k: int, info: FieldInfo) -> Check:
    """The Rust regex for ASCII values, Python's ``re`` for the others (the translation covers ASCII only)."""
    pattern = info.pattern
    assert pattern is not None
    strings = build.string_input(info)
    value = pl.col(strings.column)
    python = Input(f"_pattern{k}_python", lambda ctx: _python_pattern_failed(ctx, info).alias(f"_pattern{k}_python"))
    ascii_only = value.str.len_bytes() == value.str.len_chars()
    failed = value.is_not_null() & ascii_only & ~value.str.contains(pattern.rust)
    reason = format_reason(info.path, f"does not match {pattern.source!r}", "pattern")
    column = f"{info.path}|pattern"
    rule = Rule(fails_on_null=False, kept_only=False, reason=lambda i, values: reason)
    return Check(column, (failed | pl.col(python.column)).alias(column), (strings, python), rule)


def _format_check(build: _Builder, info: FieldInfo) -> Check:
    fmt = info.format
    assert fmt is not None
    column = f"{info.path}|format"

    def reason(i: int, values: RecordValues) -> str:
        return format_reason(info.path, f"{show_value(values(info)[i])} is not a valid {fmt}", "format")

    rule = Rule(fails_on_null=False, kept_only=False, reason=reason)
    if fmt not in VECTORIZED_FORMATS:  # checked value by value in Python: the input is the verdict
        verdict = Input(column, lambda ctx: python_format_failed(ctx.values(info), fmt).alias(column))
        return Check(column, None, (verdict,), rule)
    strings = build.string_input(info)
    value = pl.col(strings.column)
    failed = value.is_not_null() & build.date_time(strings.column).is_null() if fmt == "date-time" else format_failed(value, fmt)
    return Check(column, failed.alias(column), (strings,), rule)


def _drop_check(build: _Builder, spec: PipelineSpec, bindings: Bindings) -> Check:
    """True where the drop field holds a drop value (JSON equality: 1 == 1.0, "1" != 1)."""
    drop, drop_spec = bindings.drop, spec.drop
    if drop is None or drop_spec is None:
        return Check(DROP, pl.lit(False).alias(DROP))
    strings = build.string_input(drop)
    dropped = pl.col(strings.column).is_in([v for v in drop_spec.values if isinstance(v, str)])
    inputs = [strings]
    # the drop values that are numbers, if the field may hold one: compared in Python, exactly (as floats,
    # 2**53 + 1 would equal a drop value of 2**53)
    numbers = frozenset(v for v in drop_spec.values if not isinstance(v, str)) if drop.types & {"integer", "number"} else ()
    if numbers:
        inputs.append(
            Input(
                "_drop_number",
                lambda ctx: pl.Series(
                    "_drop_number", [type(v) in (int, float) and v in numbers for v in ctx.values(drop)], dtype=pl.Boolean
                ),
            )
        )
        dropped = dropped | pl.col("_drop_number")
    return Check(DROP, dropped.fill_null(False).alias(DROP), tuple(inputs))


def _event_time_check(build: _Builder, spec: PipelineSpec, bindings: Bindings) -> Check:
    field, event_time = bindings.event_time, spec.event_time
    inputs: list[Input] = []
    if event_time.format == "iso8601":
        strings = build.string_input(field)
        inputs.append(strings)
        value = build.date_time(strings.column)
    else:
        inputs.append(Input("_event_time", lambda ctx: epoch_column(ctx.values(field)).alias("_event_time")))
        value = pl.col("_event_time")
    present, arrival = pl.lit(True), pl.lit(None)
    if event_time.on_missing == "arrival_time":
        inputs.append(Input("_arrival_ms", lambda ctx: pl.Series("_arrival_ms", ctx.arrival_ms, dtype=pl.Int64)))
        inputs.append(
            Input("_present", lambda ctx: pl.Series("_present", [v is not None for v in ctx.values(field)], dtype=pl.Boolean))
        )
        present, arrival = pl.col("_present"), pl.col("_arrival_ms")

    def reason(i: int, values: RecordValues) -> str:
        return event_time_reason(values(field)[i], event_time, field.path)

    micros = event_time_micros(value, present, arrival, event_time).alias(EVENT_TIME)
    return Check(EVENT_TIME, micros, tuple(inputs), Rule(fails_on_null=True, kept_only=True, reason=reason))


def _enrich_check(build: _Builder, t: int, table: ReferenceTable, key: FieldInfo) -> Check:
    """The text a record gets from a table (null for a miss): a rule if the table rejects misses."""
    column = f"_suffix{t}"

    def reason(i: int, values: RecordValues) -> str:
        return missing_key_reason(values(key)[i], table, key)

    rule = Rule(fails_on_null=True, kept_only=True, reason=reason) if table.spec.on_missing == "reject" else None
    if table.key_type == "string":
        strings = build.string_input(key)
        return Check(column, string_lookup(pl.col(strings.column), table).alias(column), (strings,), rule)
    # an integer key is looked up in Python: the input is the column
    suffixes = Input(column, lambda ctx: integer_suffixes(ctx.values(key), table).alias(column))
    return Check(column, None, (suffixes,), rule)


def _strings(name: str, values: list[Any], info: FieldInfo) -> pl.Series:
    if info.types <= {"string", "null"}:  # the decode already guarantees str or None
        return pl.Series(name, values, dtype=pl.String)
    return pl.Series(name, [v if type(v) is str else None for v in values], dtype=pl.String)


def _python_pattern_failed(ctx: InputContext, info: FieldInfo) -> pl.Series:
    """Python's ``re`` for the non-ASCII values, which the Rust translation does not cover."""
    assert info.pattern is not None
    values = ctx.values(info)
    rows = [j for j in ctx.non_ascii if type(v := values[j]) is str and not v.isascii()]
    failed = pl.Series([False], dtype=pl.Boolean).new_from_index(0, len(values))
    if not rows:
        return failed
    search = re.compile(info.pattern.python).search
    return failed.scatter(rows, [search(values[i]) is None for i in rows])
