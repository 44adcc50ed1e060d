"""Which copy of a record the curated table keeps: one per key, chosen by what the record says.

Copies share a key (``curated.key``, ``--key``; by default ``event_id``, else ``id``, when declared), or without a key
the record as sent: every column but the lineage ones, compared exactly. The copy kept is the one with the greatest
``curated.version``, then the latest event time; when ingested (``_ingested_at``) decides only between copies that
say the same, then ``_batch_id`` and ``_source_record_id``, so a replayed old copy never replaces a newer one; of
copies equal in all of these (one delivery read twice), the first read.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from polars.datatypes import DataTypeClass

from transform_core.lake.columns import BATCH_ID, INGESTED_AT, SOURCE_RECORD_ID
from transform_core.lake.curated.schema import EVENT_TIME, CuratedLayout
from transform_core.spec import PipelineSpec

__all__ = ["LINEAGE", "DedupeRule", "dedupe", "dedupe_rule", "exact"]

LINEAGE = (INGESTED_AT, BATCH_ID, SOURCE_RECORD_ID)  # where a copy came from, not what it says
_KEY = "__key"  # prefix of the compared values: a column, or its exact form when it holds floats
_ROW = "__row"
_COPIES = "__copies"  # the row's compared values occur more than once


@dataclass(frozen=True, kw_only=True)
class DedupeRule:
    """How copies are matched and which one is kept.

    Attributes:
        key: the columns naming a record; empty: the record as sent (every column but the lineage ones).
        version: the column whose greatest value wins, or None.
        event_time: the event-time column; the latest wins after ``version``.
    """

    key: tuple[str, ...]
    version: str | None
    event_time: str

    def describe(self) -> str:
        """``key event_id, version seq``: the rule in a few words (the snapshot summary holds it)."""
        key = f"key {','.join(self.key)}" if self.key else "key <content>"
        return key if self.version is None else f"{key}, version {self.version}"


def dedupe_rule(spec: PipelineSpec, layout: CuratedLayout, key: str | None = None) -> DedupeRule:
    """The rule of ``spec``'s ``curated`` section, ``key`` (comma-separated column names) overriding its key.

    Raises:
        ValueError: a key or version that names no column of the table, a lineage column, or a nested version.
    """
    if key is not None:
        names = tuple(name.strip() for name in key.split(","))
        if not all(names):
            raise ValueError(f"key must name one or more columns, comma-separated, got {key!r}")
    elif spec.curated.key is not None:
        names = spec.curated.key
    else:
        names = next(((name,) for name in ("event_id", "id") if name in layout.raw.known), ())
    columns, added = layout.columns, (*LINEAGE, EVENT_TIME)
    missing = [name for name in names if name not in columns or name in added]
    if missing:
        raise ValueError(f"no key column {', '.join(map(repr, missing))} (columns: {', '.join(layout.raw.known)})")
    version = spec.curated.version
    if version is not None and (version not in columns or columns[version].is_nested()):
        raise ValueError(f"the version {version!r} is not a column with one value a record (curated.version)")
    return DedupeRule(key=names, version=version, event_time=layout.event_time)


def dedupe(frame: pl.DataFrame, rule: DedupeRule) -> pl.DataFrame:
    """One row per key, the copy the rule keeps, sorted by event time then key (or source): same rows, same order.

    Rows whose key has a null are all kept: nothing says they are copies of one another. The compared values are
    hashed once to find the rows that have copies at all (a few in a hundred, in a lake fed by Firehose's
    re-deliveries); only those are ranked, on a narrow projection (the compared values, the order columns, the row
    number), and the rows kept are gathered once, in order.
    """
    frame = frame.rechunk()  # gathering from a frame of many chunks (one a raw file) takes several times longer
    schema = frame.schema
    compared = list(rule.key) or [name for name in frame.columns if name not in LINEAGE and name != EVENT_TIME]
    exacts = {f"{_KEY}{i}": (name, exact(pl.col(name), schema[name])) for i, name in enumerate(compared)}
    keys = {alias: pl.col(name) if expr is None else expr for alias, (name, expr) in exacts.items()}
    order = [*([rule.version] if rule.version else []), rule.event_time, *LINEAGE]
    ties = list(rule.key) or [BATCH_ID, SOURCE_RECORD_ID]
    names = list(dict.fromkeys([*order, *ties]))
    key = pl.struct(list(keys)) if len(keys) > 1 else pl.col(next(iter(keys)))
    copies = key.is_duplicated()
    if rule.key:
        copies &= ~pl.any_horizontal(pl.col(name).is_null() for name in rule.key)
    narrow = (
        frame.lazy()
        .with_row_index(_ROW)
        .select(_ROW, *names, *(expr.alias(alias) for alias, expr in keys.items()))
        .with_columns(copies.alias(_COPIES))
        .collect()
    )
    ranked = _in_order(narrow.filter(_COPIES), order, descending=True)  # the copy to keep first
    chosen = ranked.unique(subset=list(keys), keep="first", maintain_order=True)
    kept = pl.concat([narrow.filter(~pl.col(_COPIES)), chosen])
    rows = _in_order(kept, [rule.event_time, *ties]).get_column(_ROW)
    return frame[rows]


def _in_order(frame: pl.DataFrame, columns: list[str], *, descending: bool = False) -> pl.DataFrame:
    """``frame`` sorted on ``columns`` with nulls last, then on the row number (ascending): the first read of equals first.

    Polars sorts on several columns several times slower when asked for ``nulls_last`` (docs/benchmarks.md); here a
    column that has nulls is preceded by its null flag instead, and one without adds nothing.
    """
    by: list[pl.Expr] = []
    directions: list[bool] = []
    for name in columns:
        if frame.get_column(name).null_count():
            by.append(pl.col(name).is_null())  # False first: the nulls after every value, either way
            directions.append(False)
        by.append(pl.col(name))
        directions.append(descending)
    return frame.sort([*by, pl.col(_ROW)], descending=[*directions, False])


def exact(expr: pl.Expr, dtype: pl.DataType | DataTypeClass) -> pl.Expr | None:
    """An expression equal between two rows exactly when the values are, or None when the column itself is that.

    Polars compares floats by value (``0.0 == -0.0``), so a float is compared with its sign bit beside it; nested
    values are rebuilt around their floats, and a null struct stays apart from a struct of nulls.
    """
    if dtype.is_float():
        negative_zero = (expr == 0) & ((1.0 / expr) < 0)
        return pl.struct(expr.alias("value"), negative_zero.alias("negative_zero"))
    if isinstance(dtype, pl.List):
        inner = exact(pl.element(), dtype.inner)
        return None if inner is None else expr.list.eval(inner)
    if isinstance(dtype, pl.Struct):
        fields = [(f.name, exact(expr.struct.field(f.name), f.dtype)) for f in dtype.fields]
        if all(e is None for _, e in fields):
            return None
        rebuilt = pl.struct((e if e is not None else expr.struct.field(name)).alias(name) for name, e in fields)
        return pl.when(expr.is_null()).then(None).otherwise(rebuilt)
    return None
