"""The stages after the decode — checks, then the outcome — as two Polars queries.

Format and pattern rules, the drop rule, the event time, the enrichment lookups, and then each
record's result, data and partition keys are expressions, built once per pipeline (:class:`OutcomePlan`).
The checks read only values of the decoded records: with the date-time parse (a field used by a format rule
and by the partition is parsed once) and which records are suspect, they are one query run by Polars' threads
while the decode screens the records (:meth:`OutcomePlan.start`). The outcome and the partition keys, which read
the text the screen compacts, are the main query (:meth:`OutcomePlan.run`). A batch only supplies the input
columns. Python then visits the records that failed, to write their reasons in the reference's order of checks:
schema rules (pattern, format), drop, event time, enrichment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import polars as pl

from transform_core.engine.decode import Decoded, extract
from transform_core.engine.enrich import integer_suffixes, missing_key_reason, string_lookup
from transform_core.engine.overlap import Pending, collected, released
from transform_core.engine.partition import epoch_column, event_time_micros, event_time_reason, partition_exprs, partition_stamp
from transform_core.engine.rules import VECTORIZED_FORMATS, date_time_micros, format_failed, python_format_failed
from transform_core.firehose.outcomes import DROPPED, FAILED, OK
from transform_core.schema import CompiledSchema, FieldInfo, format_reason, show_value
from transform_core.spec import PipelineSpec
from transform_core.spec.bindings import Bindings
from transform_core.tables import ReferenceTable

__all__ = ["OutcomePlan", "Started"]

_AS_WRITTEN = pl.QueryOptFlags.none()


class OutcomePlan:
    """The post-decode query for one pipeline and one generation of its reference tables."""

    def __init__(
        self, spec: PipelineSpec, schema: CompiledSchema, bindings: Bindings, tables: tuple[ReferenceTable, ...]
    ) -> None:
        self.spec, self.schema, self.bindings, self.tables = spec, schema, bindings, tables
        self.fields: dict[tuple[str, ...], tuple[str, FieldInfo]] = {}  # string columns, one per field
        self.rejecting = [t for t, table in enumerate(tables) if table.spec.on_missing == "reject"]
        checks: list[pl.Expr] = []
        self.parsed: dict[str, pl.Expr] = {}  # date-time fields parsed once, before the query
        for i, info in enumerate(schema.format_fields):
            assert info.format is not None
            if info.format == "date-time":
                value = self._strings(info)
                checks.append((value.is_not_null() & self._date_time(info).is_null()).alias(f"_format{i}_failed"))
            elif info.format in VECTORIZED_FORMATS:
                checks.append(format_failed(self._strings(info), info.format).alias(f"_format{i}_failed"))
        for i, info in enumerate(schema.pattern_fields):
            assert info.pattern is not None
            value = self._strings(info)
            ascii_only = value.str.len_bytes() == value.str.len_chars()
            failed = value.is_not_null() & ascii_only & ~value.str.contains(info.pattern.rust)
            checks.append((failed | pl.col(f"_pattern{i}_python")).alias(f"_pattern{i}_failed"))
        drop_values = spec.drop.values if spec.drop and bindings.drop and bindings.drop.types & {"integer", "number"} else ()
        # the drop rule's numbers (integers) if its field may hold one, compared as JSON compares them (1 == 1.0)
        self._drop_numbers = frozenset(v for v in drop_values if not isinstance(v, str))
        checks.append(self._dropped().alias("_drop"))
        for t, (table, key) in enumerate(zip(tables, bindings.enrich_keys, strict=True)):
            if table.key_type == "string":  # else looked up in Python, an input column (see _inputs)
                checks.append(string_lookup(self._strings(key), table).alias(f"_suffix{t}"))
        event_time = bindings.event_time
        value = self._date_time(event_time) if spec.event_time.format == "iso8601" else pl.col("_event_time")
        present, arrival = (
            (pl.col("_present"), pl.col("_arrival_ms"))
            if spec.event_time.on_missing == "arrival_time"
            else (pl.lit(True), pl.lit(None))
        )
        checks.append(event_time_micros(value, present, arrival, spec.event_time).alias("_micros"))
        self.checks = checks
        self.suspect = self._suspect_expr()
        self.outcome = self._outcome_exprs()
        self.partition_keys = partition_exprs(pl.col("_stamp"), spec.partitioning.keys)
        self.columns = ["record_id", "result", "data", "reason", *spec.partitioning.keys]  # the outcome frame
        self._parse_exprs = list(self.parsed.values())
        self._failure_columns = [  # what _first_failure reads
            *[f"_pattern{i}_failed" for i in range(len(schema.pattern_fields))],
            *[f"_format{i}_failed" for i in range(len(schema.format_fields))],
            "_drop",
            "_micros",
            *[f"_suffix{t}" for t in self.rejecting],
        ]

    def start(self, records: list[Any], decoded: pl.Series, non_ascii: list[int], arrival_ms: Sequence[int | None]) -> Started:
        """Start the checks of a batch's decoded records: the date-time parse, the checks and which records are
        suspect, the first steps of the query, run by Polars' threads.

        Called by the decode as soon as the records are decoded, once the text flags are in (see
        :func:`transform_core.engine.decode.decode_batch`): the steps (0.6 ms on 500 records, 4.8 ms of one core on a 5 MB
        event) then run during the decode's screen, not in the main query of :meth:`run`. They read only values of
        the records (``decoded``: which records decoded; ``non_ascii``: rows whose values may hold non-ASCII
        text, or more), never the text the screen compacts.
        """
        values = _FieldValues(records)
        inputs = [decoded, *self._inputs(values, non_ascii, arrival_ms)]
        query = pl.DataFrame(inputs).lazy()
        if self._parse_exprs:
            query = query.with_columns_seq(_in_sequence(self._parse_exprs))
        query = query.with_columns_seq(_in_sequence(self.checks)).with_columns_seq(_in_sequence([self.suspect]))
        return Started(values, collected(query, _as_is, rows=len(records)))

    def run(
        self,
        decoded: Decoded,
        started: Started,
        record_ids: pl.Series,
        source: pl.Series,
        also: Sequence[pl.Expr] = (),
    ) -> pl.DataFrame:
        """The outcome frame of a batch (see :mod:`transform_core.firehose.batch`), the checks begun by :meth:`start`.

        ``also``: expressions over the outcome frame computed by the same query, their columns after the outcome's
        (the response's entries: the query of a large batch runs on every core, the response on one).
        Empties ``decoded.records``: once their values are extracted, the records are freed while the query runs.
        """
        values, checked = started
        reasons = decoded.reasons
        inputs = checked.result().hstack(
            [
                record_ids,
                source.alias("_source"),
                decoded.text.alias("_text"),
                pl.Series("reason", reasons, dtype=pl.String),
            ]
        )
        # every value _first_failure reads was extracted by start(): the records are not read again
        values.records = None
        freed = released(decoded.records)  # freed by the worker thread while the query runs
        # one query in two steps; the plan needs no optimizing (nothing to push down, no common subexpressions),
        # and run as one it takes half the time of the same steps as eager calls
        frame = _run_steps(inputs, self.outcome, self.partition_keys, also)
        freed.result()
        suspect = frame["_suspect"]
        if suspect.any():
            suspects = suspect.arg_true().to_list()
            for i, row in zip(suspects, frame[suspects, self._failure_columns].iter_rows(named=True), strict=True):
                reasons[i] = self._first_failure(row, i, values)
            frame.replace_column(frame.get_column_index("reason"), pl.Series("reason", reasons, dtype=pl.String))
        return frame[[*self.columns, *(e.meta.output_name() for e in also)]]

    def _date_time(self, info: FieldInfo) -> pl.Expr:
        """Epoch microseconds of a date-time field (null unless valid), computed before the query."""
        name = f"_parsed{len(self.parsed)}"
        column = self._strings(info).meta.output_name()
        if column not in self.parsed:
            self.parsed[column] = date_time_micros(pl.col(column)).alias(name)
        return pl.col(self.parsed[column].meta.output_name())

    def _strings(self, info: FieldInfo) -> pl.Expr:
        if info.attrs not in self.fields:
            self.fields[info.attrs] = (f"_field{len(self.fields)}", info)
        return pl.col(self.fields[info.attrs][0])

    def _dropped(self) -> pl.Expr:
        """True where the drop field holds a drop value (JSON equality: 1 == 1.0, "1" != 1)."""
        drop, spec = self.bindings.drop, self.spec.drop
        if drop is None or spec is None:
            return pl.lit(False)
        strings = [v for v in spec.values if isinstance(v, str)]
        dropped = self._strings(drop).is_in(strings)
        if self._drop_numbers:
            dropped = dropped | pl.col("_drop_number")
        return dropped.fill_null(False)

    def _suspect_expr(self) -> pl.Expr:
        """``_suspect``: a decoded record that fails a check, its own step of the query (the outcome reads it)."""
        formats, patterns = self.schema.format_fields, self.schema.pattern_fields
        schema_failed = pl.any_horizontal(
            pl.lit(False),
            *[pl.col(f"_format{i}_failed") for i in range(len(formats))],
            *[pl.col(f"_pattern{i}_failed") for i in range(len(patterns))],
        )
        late_failed = pl.any_horizontal(pl.col("_micros").is_null(), *[pl.col(f"_suffix{t}").is_null() for t in self.rejecting])
        # schema rules come before the drop rule; event time and enrichment only matter for kept records
        return (pl.col("_decoded") & (schema_failed | (~pl.col("_drop") & late_failed))).alias("_suspect")

    def _outcome_exprs(self) -> list[pl.Expr]:
        formats, patterns = self.schema.format_fields, self.schema.pattern_fields
        suspect = pl.col("_suspect")
        failed = ~pl.col("_decoded") | suspect
        ok = ~failed & ~pl.col("_drop")
        suffixes = [pl.col(f"_suffix{t}").fill_null(table.missing_suffix) for t, table in enumerate(self.tables)]
        enriched = pl.concat_str(pl.col("_text").str.head(-1), *suffixes, pl.lit("}\n"))
        return [
            pl.col("record_id"),
            pl.col("reason"),
            pl.when(failed)
            .then(pl.lit(FAILED))
            .when(pl.col("_drop"))
            .then(pl.lit(DROPPED))
            .otherwise(pl.lit(OK))
            .alias("result"),
            pl.when(ok).then(enriched.str.encode("base64")).otherwise(pl.col("_source")).alias("data"),
            pl.when(ok).then(partition_stamp(pl.col("_micros"))).alias("_stamp"),
            suspect,
            pl.col("_drop"),
            pl.col("_micros"),
            *[pl.col(f"_format{i}_failed") for i in range(len(formats))],
            *[pl.col(f"_pattern{i}_failed") for i in range(len(patterns))],
            *[pl.col(f"_suffix{t}") for t in self.rejecting],
        ]

    def _inputs(self, values: _FieldValues, non_ascii: list[int], arrival_ms: Sequence[int | None]) -> list[pl.Series]:
        """The input columns of the checks, named as the cached expressions expect them."""
        inputs = [_strings(name, values(info), info) for name, info in self.fields.values()]
        for i, info in enumerate(self.schema.format_fields):
            assert info.format is not None
            if info.format not in VECTORIZED_FORMATS:
                inputs.append(python_format_failed(values(info), info.format).alias(f"_format{i}_failed"))
        for i, info in enumerate(self.schema.pattern_fields):
            field = values(info)
            rows = [j for j in non_ascii if type(v := field[j]) is str and not v.isascii()]
            inputs.append(_python_pattern_failed(values(info), rows, info).alias(f"_pattern{i}_python"))
        for t, (table, key) in enumerate(zip(self.tables, self.bindings.enrich_keys, strict=True)):
            if table.key_type != "string":
                inputs.append(integer_suffixes(values(key), table).alias(f"_suffix{t}"))
        drop, numbers = self.bindings.drop, self._drop_numbers
        if drop is not None and numbers:
            # compared in Python, exactly: as floats, 2**53 + 1 would equal a drop value of 2**53
            dropped = [type(v) in (int, float) and v in numbers for v in values(drop)]
            inputs.append(pl.Series("_drop_number", dropped, dtype=pl.Boolean))
        event_time, spec = self.bindings.event_time, self.spec.event_time
        if spec.format != "iso8601":
            inputs.append(epoch_column(values(event_time)).alias("_event_time"))
        if spec.on_missing == "arrival_time":
            inputs.append(pl.Series("_arrival_ms", arrival_ms, dtype=pl.Int64))
            inputs.append(pl.Series("_present", [v is not None for v in values(event_time)], dtype=pl.Boolean))
        return inputs

    def _first_failure(self, row: dict[str, Any], i: int, values: _FieldValues) -> str | None:
        for k, info in enumerate(self.schema.pattern_fields):
            if row[f"_pattern{k}_failed"]:
                assert info.pattern is not None
                return format_reason(info.path, f"does not match {info.pattern.source!r}", "pattern")
        for k, info in enumerate(self.schema.format_fields):
            if row[f"_format{k}_failed"]:
                return format_reason(info.path, f"{show_value(values(info)[i])} is not a valid {info.format}", "format")
        if row["_drop"]:
            return None
        if row["_micros"] is None:
            event_time = self.bindings.event_time
            return event_time_reason(values(event_time)[i], self.spec.event_time, event_time.path)
        for t in self.rejecting:
            if row[f"_suffix{t}"] is None:
                key = self.bindings.enrich_keys[t]
                return missing_key_reason(values(key)[i], self.tables[t], key)
        return None


def _run_steps(inputs: pl.DataFrame, outcome: list[pl.Expr], keys: list[pl.Expr], also: Sequence[pl.Expr] = ()) -> pl.DataFrame:
    """``inputs.select(outcome).with_columns(keys)`` (then ``.with_columns(also)``, if any) as one query, run as
    written by the engine that suits the batch's size.

    Polars' streaming engine (its default) splits a large frame across the cores, but it costs about 0.1 ms a query
    to set up and its parallel steps wake the thread pool, idle between invocations. Below ``_STREAMING_FROM``
    rows the in-memory engine evaluates the expressions one after another instead: 2.0 → 1.4 ms at 500 records,
    where at 8,600 it would take 6.9 ms instead of 5.3 (measured with the checks in the query).
    """
    if inputs.height >= _STREAMING_FROM:
        planned = inputs.lazy().select(outcome).with_columns(keys)
        return (planned.with_columns(also) if also else planned).collect(optimizations=_AS_WRITTEN)
    planned = inputs.lazy().select_seq(outcome).with_columns_seq(keys)
    if also:
        planned = planned.with_columns_seq(_in_sequence(list(also)))
    return planned.collect(optimizations=_AS_WRITTEN, engine="in-memory")


_STREAMING_FROM = 3500  # rows: at 3,500 the in-memory engine still took 3.4 ms to the streaming one's 3.5, at 4,000 3.8 to 3.5


def _as_is(frame: pl.DataFrame) -> pl.DataFrame:
    return frame


def _in_sequence(exprs: list[pl.Expr]) -> list[pl.Expr]:
    """``exprs`` padded with constants to as many as Polars' pool has threads.

    Polars evaluates the inputs of a multi-input expression (``&``, ``when``) in parallel when a select holds fewer
    expressions than its pool has threads. Waking the pool costs about 0.03 ms each time, more than these inputs
    take to compute: the date-time parse of 500 values 0.23 → 0.19 ms, of 8,600 1.04 → 0.96 ms.
    """
    return [*exprs, *(pl.lit(None).alias(f"_sequential{i}") for i in range(pl.thread_pool_size() - len(exprs)))]


class Started(NamedTuple):
    """A batch's field values, extracted, and the first steps of its query under way (:meth:`OutcomePlan.start`)."""

    values: _FieldValues
    checked: Pending[pl.DataFrame]


class _FieldValues:
    """Each field's values, extracted from the decoded records once however often asked for."""

    def __init__(self, records: list[Any]) -> None:
        self.records: list[Any] | None = records  # None once the records are handed over to be freed
        self.cache: dict[tuple[str, ...], list[Any]] = {}

    def __call__(self, info: FieldInfo) -> list[Any]:
        if info.attrs not in self.cache:
            assert self.records is not None, f"{info.path} read after the records were handed over to be freed"
            self.cache[info.attrs] = extract(self.records, info.attrs, info.may_be_unset)
        return self.cache[info.attrs]


def _strings(name: str, values: list[Any], info: FieldInfo) -> pl.Series:
    if info.types <= {"string", "null"}:  # the decode already guarantees str or None
        return pl.Series(name, values, dtype=pl.String)
    return pl.Series(name, [v if type(v) is str else None for v in values], dtype=pl.String)


def _python_pattern_failed(values: list[Any], rows: list[int], info: FieldInfo) -> pl.Series:
    """Python's ``re`` for the non-ASCII values (``rows``), which the Rust translation does not cover."""
    assert info.pattern is not None
    failed = pl.Series([False], dtype=pl.Boolean).new_from_index(0, len(values))
    if not rows:
        return failed
    search = re.compile(info.pattern.python).search
    return failed.scatter(rows, [search(values[i]) is None for i in rows])
