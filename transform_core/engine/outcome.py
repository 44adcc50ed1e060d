"""The stages after the decode as two Polars queries: the checks, then each record's outcome.

The checks (:mod:`transform_core.engine.checks`) read only values of the decoded records: with the date-time parse
(a field used by a format rule and by the partition is parsed once) and which records fail one, they are one query,
run by Polars' threads while the screen works (:meth:`OutcomePlan.start`). The outcome (result, returned data,
partition keys), which reads the text the screen minifies, is the main query (:meth:`OutcomePlan.run`). Python then
visits the records that failed a check, to write their reasons in the reference's order. Every expression is built
once per pipeline; a batch only supplies the input columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import polars as pl

from transform_core.engine.checks import DROP, EVENT_TIME, Check, InputContext, RecordValues, Rule, build_checks
from transform_core.engine.decode import Decoded
from transform_core.engine.overlap import Pending, free_in_background, query_in_background
from transform_core.engine.partition import partition_exprs, partition_stamp
from transform_core.firehose.outcomes import DROPPED, FAILED, OK
from transform_core.schema import CompiledSchema
from transform_core.spec import PipelineSpec
from transform_core.spec.bindings import Bindings
from transform_core.tables import ReferenceTable
from transform_core.tuning import Tuning

__all__ = ["OutcomePlan", "Started"]

_AS_WRITTEN = pl.QueryOptFlags.none()  # nothing to push down, no common subexpressions
_FAILS_A_CHECK = "_fails_a_check"  # a decoded record that fails a check: Python writes its reason


class Started(NamedTuple):
    """A batch's field values, extracted, and its checks under way (:meth:`OutcomePlan.start`)."""

    values: RecordValues
    checked: Pending[pl.DataFrame]


class OutcomePlan:
    """The checks and outcome queries for one pipeline and one generation of its reference tables."""

    def __init__(
        self,
        spec: PipelineSpec,
        schema: CompiledSchema,
        bindings: Bindings,
        tables: tuple[ReferenceTable, ...],
        tuning: Tuning,
    ) -> None:
        self.tuning = tuning
        planned = build_checks(spec, schema, bindings, tables)
        self.checks, self._parses = planned.checks, planned.parses
        self._inputs = list({i.column: i for check in self.checks for i in check.inputs}.values())
        self._exprs = [check.expr for check in self.checks if check.expr is not None]
        rules = [(check.column, check.rule) for check in self.checks if check.rule is not None]
        self._before_drop = [(column, rule) for column, rule in rules if not rule.kept_only]
        self._kept_only = [(column, rule) for column, rule in rules if rule.kept_only]
        self._rule_columns = [column for column, _ in rules]
        self._fails_a_check = _fails_a_check(self._before_drop, self._kept_only)
        self._outcome = _outcome_exprs(planned.enrichments, tables, self._rule_columns)
        # per table that keeps misses (table name -> column): the Ok records it has no row for, counted, not rejected
        self.missed = {table.spec.name: _missed(t) for t, table in enumerate(tables) if table.spec.on_missing == "keep"}
        self._partition_keys = partition_exprs(pl.col("_stamp"), spec.partitioning.keys)
        self.columns = ["record_id", "result", "data", "reason", *spec.partitioning.keys]  # the outcome frame

    def start(self, records: list[Any], decoded: pl.Series, non_ascii: list[int], arrival_ms: Sequence[int | None]) -> Started:
        """Start the checks of a batch's decoded records, run by Polars' threads.

        The pipeline starts them as soon as the records are decoded, so they run during the screen, not in the main
        query of :meth:`run`. They read only values of the records (``decoded``: which records decoded;
        ``non_ascii``: rows whose values may hold non-ASCII text, or more), never the text the screen minifies.
        """
        values = RecordValues(records)
        context = InputContext(values, non_ascii, arrival_ms)
        query = pl.DataFrame([decoded, *(i.build(context) for i in self._inputs)]).lazy()
        if self._parses:
            query = query.with_columns_seq(_in_sequence(self._parses))
        query = query.with_columns_seq(_in_sequence(self._exprs)).with_columns_seq(_in_sequence([self._fails_a_check]))
        return Started(values, query_in_background(query, _as_is, background=len(records) >= self.tuning.overlap_from))

    def run(
        self,
        decoded: Decoded,
        text: pl.Series,
        started: Started,
        record_ids: pl.Series,
        source: pl.Series,
        also: Sequence[pl.Expr] = (),
    ) -> pl.DataFrame:
        """The outcome frame of a batch (see :mod:`transform_core.firehose.outcomes`), its checks begun by
        :meth:`start`; ``text`` is each decoded record's minified JSON. The columns of :attr:`missed` follow the
        outcome's (a Boolean each: an Ok record the table has no row for).

        ``also``: expressions over the outcome frame computed by the same query, their columns after the outcome's
        (the response's entries: the query of a large batch runs on every core, the response on one).
        Empties ``decoded.records``: once their values are extracted, the records are freed while the query runs.
        """
        values, checked = started
        reasons = decoded.reasons
        inputs = checked.result().hstack(
            [record_ids, source.alias("_source"), text.alias("_text"), pl.Series("reason", reasons, dtype=pl.String)]
        )
        # every value a reason reads was extracted by start(): the records are not read again
        values.records = None
        records = decoded.records
        freed = free_in_background(records, background=len(records) >= self.tuning.free_in_background_from)
        streaming = inputs.height >= self.tuning.streaming_from
        frame = _run_steps(inputs, self._outcome, self._partition_keys, also, streaming=streaming)
        freed.result()
        failing = frame[_FAILS_A_CHECK]
        if failing.any():
            rows = failing.arg_true().to_list()
            for i, row in zip(rows, frame[rows, [*self._rule_columns, DROP]].iter_rows(named=True), strict=True):
                reasons[i] = self._first_failure(row, i, values)
            frame.replace_column(frame.get_column_index("reason"), pl.Series("reason", reasons, dtype=pl.String))
        return frame[[*self.columns, *self.missed.values(), *(e.meta.output_name() for e in also)]]

    def _first_failure(self, row: dict[str, Any], i: int, values: RecordValues) -> str | None:
        """The reason of the first rule the record fails, in the reference's order (None: the drop rule drops it)."""
        for column, rule in self._before_drop:
            if rule.fails(row[column]):
                return rule.reason(i, values)
        if row[DROP]:
            return None
        for column, rule in self._kept_only:
            if rule.fails(row[column]):
                return rule.reason(i, values)
        return None


def _fails_a_check(before_drop: list[tuple[str, Rule]], kept_only: list[tuple[str, Rule]]) -> pl.Expr:
    """A decoded record that fails a check, its own step of the query (the outcome reads it)."""
    schema_failed = pl.any_horizontal(pl.lit(False), *(rule.failed(column) for column, rule in before_drop))
    late_failed = pl.any_horizontal(*(rule.failed(column) for column, rule in kept_only))
    # schema rules come before the drop rule; event time and enrichment only matter for kept records
    return (pl.col("_decoded") & (schema_failed | (~pl.col(DROP) & late_failed))).alias(_FAILS_A_CHECK)


def _outcome_exprs(suffixes: list[Check], tables: tuple[ReferenceTable, ...], rule_columns: list[str]) -> list[pl.Expr]:
    fails_a_check = pl.col(_FAILS_A_CHECK)
    failed = ~pl.col("_decoded") | fails_a_check
    ok = ~failed & ~pl.col(DROP)
    texts = [pl.col(check.column).fill_null(table.missing_suffix) for check, table in zip(suffixes, tables, strict=True)]
    enriched = pl.concat_str(pl.col("_text").str.head(-1), *texts, pl.lit("}\n"))
    missed = [
        (ok & pl.col(check.column).is_null()).alias(_missed(t))
        for t, (check, table) in enumerate(zip(suffixes, tables, strict=True))
        if table.spec.on_missing == "keep"
    ]
    return [
        pl.col("record_id"),
        pl.col("reason"),
        pl.when(failed).then(pl.lit(FAILED)).when(pl.col(DROP)).then(pl.lit(DROPPED)).otherwise(pl.lit(OK)).alias("result"),
        pl.when(ok).then(enriched.str.encode("base64")).otherwise(pl.col("_source")).alias("data"),
        pl.when(ok).then(partition_stamp(pl.col(EVENT_TIME))).alias("_stamp"),
        fails_a_check,
        pl.col(DROP),
        *(pl.col(column) for column in rule_columns),
        *missed,
    ]


def _missed(t: int) -> str:
    return f"_missed{t}"


def _run_steps(
    inputs: pl.DataFrame, outcome: list[pl.Expr], keys: list[pl.Expr], also: Sequence[pl.Expr], *, streaming: bool
) -> pl.DataFrame:
    """``inputs.select(outcome).with_columns(keys)`` (then ``.with_columns(also)``, if any) as one query, run as
    written, on the streaming engine or the in-memory one.

    Polars' streaming engine (its default) splits a large frame across the cores, but it costs a set-up per query
    and its parallel steps wake the thread pool, idle between invocations; for a small batch the in-memory engine,
    evaluating the expressions one after another, is faster (:attr:`~transform_core.tuning.Tuning.streaming_from`).
    """
    if streaming:
        planned = inputs.lazy().select(outcome).with_columns(keys)
        return (planned.with_columns(also) if also else planned).collect(optimizations=_AS_WRITTEN)
    planned = inputs.lazy().select_seq(outcome).with_columns_seq(keys)
    if also:
        planned = planned.with_columns_seq(_in_sequence(list(also)))
    return planned.collect(optimizations=_AS_WRITTEN, engine="in-memory")


def _as_is(frame: pl.DataFrame) -> pl.DataFrame:
    return frame


def _in_sequence(exprs: list[pl.Expr]) -> list[pl.Expr]:
    """``exprs`` padded with constants to as many as Polars' pool has threads.

    Polars evaluates the inputs of a multi-input expression (``&``, ``when``) in parallel when a select holds fewer
    expressions than its pool has threads; waking the pool costs more than these inputs take to compute.
    """
    return [*exprs, *(pl.lit(None).alias(f"_sequential{i}") for i in range(pl.thread_pool_size() - len(exprs)))]
