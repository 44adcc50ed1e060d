"""Sink: an outcome frame → the Firehose transformation response, as minified JSON bytes.

The response is built for the whole batch at once in Polars (no Python object per record) and
returned as bytes, which the Lambda runtime posts unchanged. Lambda refuses a response of 6 MB or
more and then fails the *whole* batch, so when enriched records would not fit, the trailing Ok
records are returned ``ProcessingFailed`` with their original data instead: Firehose delivers
them to the error prefix, where ``transform-core reprocess`` can pick them up.

Each Ok record's ``metadata`` is its partition keys (``partitionKeys``, for Firehose's dynamic partitioning into S3),
or with an Iceberg destination the table it goes to (``otfMetadata``; Amazon Data Firehose Developer Guide, "Route
incoming records to different Iceberg tables"). Other records carry no metadata.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import orjson
import polars as pl

from transform_core.firehose.outcomes import FAILED, OK
from transform_core.spec import IcebergSpec
from transform_core.tuning import Tuning

__all__ = [
    "LAMBDA_RESPONSE_LIMIT",
    "SHED_REASON",
    "FirehoseResponse",
    "build_response",
    "entry_in_query",
    "otf_metadata",
]

#: Lambda's synchronous response limit; the serialized response must stay strictly below it.
LAMBDA_RESPONSE_LIMIT = 6_000_000
SHED_REASON = "$: the enriched record does not fit in Lambda's 6 MB response; returned for reprocessing (response_size)"

_PREFIX = b'{"records":['
_SUFFIX = b"]}"
_DEFAULT_TUNING = Tuning()


class FirehoseResponse(NamedTuple):
    """The serialized response and the outcome frame it was built from (after any shedding)."""

    body: bytes
    outcomes: pl.DataFrame
    shed: int


def build_response(
    outcomes: pl.DataFrame,
    source_data: pl.Series,
    partition_keys: Sequence[str],
    *,
    limit: int = LAMBDA_RESPONSE_LIMIT,
    not_base64: Sequence[int] | None = None,
    record_ids: list[str] | None = None,
    entries: pl.Series | None = None,
    tuning: Tuning = _DEFAULT_TUNING,
    iceberg: IcebergSpec | None = None,
) -> FirehoseResponse:
    """Serialize ``outcomes`` as a Firehose response, shedding Ok records that would not fit.

    Args:
        outcomes: an outcome frame (see :mod:`transform_core.firehose.batch`); non-Ok rows carry their source data.
        source_data: the base64 data each record arrived with, same order.
        partition_keys: the partition key columns of ``outcomes``.
        limit: the response must be strictly smaller than this many bytes.
        not_base64: rows whose data is not base64 (returned as sent, it may need JSON escaping); None means any
            row may need it, and every row is checked. RecordIds are always checked.
        record_ids: ``outcomes["record_id"]`` as a list, when the caller has one (it spares a copy out of Polars).
        entries: each row's entry as :func:`entry_in_query` computes it, when the caller's query computed them
            with ``outcomes``; used if no value needs escaping.
        tuning: from ``framed_response_from`` records, the entries are joined in Polars.
        iceberg: the table of an Iceberg destination: Ok records carry it as ``otfMetadata`` instead of their
            partition keys (the same value ``entries`` were computed with).
    """
    if not len(outcomes):
        return FirehoseResponse(body=_PREFIX + _SUFFIX, outcomes=outcomes, shed=0)
    entry = _entry(tuple(partition_keys), iceberg)
    if (
        not_base64 is not None
        and _plain(outcomes["record_id"].to_list() if record_ids is None else record_ids)
        and (not not_base64 or _plain(outcomes["data"].gather(list(not_base64)).to_list()))
    ):
        # the usual batch: nothing to escape, so the body is the entries joined in Polars and copied out once
        # (each multi-megabyte copy costs its page faults); a small one is written by f-strings in Python, in half
        # the time of the query
        if entries is not None or len(outcomes) >= tuning.framed_response_from:
            if entries is None:
                entries = outcomes.select(entry).to_series()
            body: bytes = _framed(entries).str.join(",").cast(pl.Binary).item()
        else:
            columns = [outcomes[name].to_list() for name in ("record_id", "result", "data", *partition_keys)]
            body = b"".join((_PREFIX, _entries_joiner(tuple(partition_keys), iceberg)(*columns).encode(), _SUFFIX))
        if len(body) < limit:
            return FirehoseResponse(body=body, outcomes=outcomes, shed=0)
        escaped: list[int] = []
    else:
        checks = [pl.col("record_id").str.contains(_ESCAPED)]
        if not_base64 is None:
            checks.append(pl.col("data").str.contains(_ESCAPED))
        found = outcomes.select(pl.any_horizontal(*checks).arg_true()).to_series().to_list()
        escaped = sorted(set(not_base64 or ()) | set(found))
    entries = _entries(outcomes, entry, escaped, partition_keys, iceberg)
    entry_len = entries.str.len_bytes().cast(pl.Int64)
    fixed = len(_PREFIX) + len(_SUFFIX) + len(outcomes) - 1
    shed = 0
    if fixed + int(entry_len.sum()) >= limit:
        # an Ok record behind the cut is returned as sent; the others are returned as they are either way
        is_ok = pl.col("result") == OK
        shed_frame = outcomes.with_columns(
            pl.when(is_ok).then(pl.lit(FAILED)).otherwise(pl.col("result")).alias("result"),
            pl.when(is_ok).then(source_data).otherwise(pl.col("data")).alias("data"),
            *[pl.when(is_ok).then(None).otherwise(pl.col(k)).alias(k) for k in partition_keys],
        )
        shed_len = _entries(shed_frame, entry, escaped, partition_keys, iceberg).str.len_bytes().cast(pl.Int64)
        keep = _records_that_fit(entry_len, shed_len, fixed, limit)
        is_shed = (pl.int_range(pl.len()) >= keep) & (pl.col("result") == OK)
        shed = int(outcomes.select(is_shed.sum()).item())
        outcomes = outcomes.with_columns(
            pl.when(is_shed).then(pl.lit(FAILED)).otherwise(pl.col("result")).alias("result"),
            pl.when(is_shed).then(source_data).otherwise(pl.col("data")).alias("data"),
            pl.when(is_shed).then(pl.lit(SHED_REASON)).otherwise(pl.col("reason")).alias("reason"),
            *[pl.when(is_shed).then(None).otherwise(pl.col(k)).alias(k) for k in partition_keys],
        )
        entries = _entries(outcomes, entry, escaped, partition_keys, iceberg)
    body = b"".join((_PREFIX, entries.str.join(",").cast(pl.Binary).item(), _SUFFIX))
    return FirehoseResponse(body=body, outcomes=outcomes, shed=shed)


def entry_in_query(partition_keys: Sequence[str], iceberg: IcebergSpec | None = None) -> pl.Expr:
    """Each row's response entry (column ``_entry``), for the query that computes the outcome frame to compute too
    (on every core, where the response's own query runs on one); worth it for large batches only (see
    :attr:`~transform_core.tuning.Tuning.framed_response_from`)."""
    return _entry(tuple(partition_keys), iceberg).alias("_entry")


def otf_metadata(iceberg: IcebergSpec) -> dict[str, str]:
    """The ``otfMetadata`` of an Ok record delivered to ``iceberg``'s table."""
    return {
        "destinationDatabaseName": iceberg.database,
        "destinationTableName": iceberg.table,
        "operation": iceberg.operation,
    }


def _records_that_fit(entry_len: pl.Series, shed_len: pl.Series, fixed: int, limit: int) -> int:
    """The largest k such that records [0, k) as built plus [k, n) shed stay under the limit."""
    zero = pl.Series([0], dtype=pl.Int64)
    kept = pl.concat([zero, entry_len.cum_sum()])  # bytes of the first k entries, k = 0..n
    rest = shed_len.sum() - pl.concat([zero, shed_len.cum_sum()])  # bytes of the others, shed
    fits = ((fixed + kept + rest) < limit).arg_true()
    return int(fits[-1]) if len(fits) else 0


_ESCAPED = r'["\\\x00-\x1f]'  # what a JSON string must escape: a quote, a backslash, a control character
_ESCAPED_BYTES = bytes(range(0x20)) + b'"\\'


def _plain(texts: list[str | None] | list[str]) -> bool:
    """True if no text needs JSON escaping: deleting what would need it from all of them deletes nothing.

    (Faster than a regex character class over the column; joined in Python, which for a batch's record ids costs
    less than a Polars query.)
    """
    joined = "".join(filter(None, texts)).encode()  # a null needs no escaping
    # Firehose record ids are alphanumeric: a C-level check answers for them faster
    return joined.isalnum() or len(joined.translate(None, _ESCAPED_BYTES)) == len(joined)


def _framed(entries: pl.Series) -> pl.Series:
    """``entries`` (one or more) with the response's opening before the first and its closing after the last.

    Only the two ends are rewritten: a column of openings and closings concatenated to every entry costs more, and
    wrapping the joined body copies it again.
    """
    if len(entries) == 1:
        return entries.scatter([0], [_PREFIX.decode() + entries[0] + _SUFFIX.decode()])
    return entries.scatter([0, len(entries) - 1], [_PREFIX.decode() + entries[0], entries[-1] + _SUFFIX.decode()])


@functools.cache
def _entries_joiner(partition_keys: tuple[str, ...], iceberg: IcebergSpec | None = None) -> Callable[..., str]:
    """A function joining the entries of values that need no escaping, from the columns as lists: ``_entry``'s text.

    Generated for the key set, so each entry is one f-string (much faster than ``str.format``). The
    metadata is left out where a partition key is null, as ``_entry`` leaves it out (only Ok records have keys), or
    with ``iceberg``, where the record is not Ok.
    """
    assert all(key.isidentifier() for key in partition_keys)  # the spec's key names: year, month, day, hour
    head, metadata = _entry_parts(partition_keys, iceberg)
    variables = {"record_id": "i", "result": "r", "data": "d"} | {key: f"k{n}" for n, key in enumerate(partition_keys)}
    entry, entry_with_keys = _f_string([*head, "}"], variables), _f_string([*head, *metadata, "}"], variables)
    keys = [variables[key] for key in partition_keys]
    # where the metadata is left out: a record not Ok (Iceberg), or a null key (no keys: never)
    missing = f"r != {OK!r}" if iceberg is not None else " or ".join(f"{k} is None" for k in keys) or "False"
    columns = ", ".join(keys)
    source = (
        f"def join(ids, results, data, {columns}):\n"
        f"    return ','.join([{entry} if {missing} else {entry_with_keys}\n"
        f"                     for i, r, d, {columns} in zip(ids, results, data, {columns})])\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # the text above with identifier key names (year, …) and i, r, d, k0, …: nothing from records
    joiner: Callable[..., str] = namespace["join"]
    return joiner


def _f_string(parts: list[str], variables: dict[str, str]) -> str:
    """The source of an f-string of ``parts``: column names (read from their ``variables``) and literal text."""
    text = "".join(f"{{{variables[p]}}}" if p in variables else p.replace("{", "{{").replace("}", "}}") for p in parts)
    assert "'" not in text and "\\" not in text
    return f"f'{text}'"


def _entry_parts(partition_keys: tuple[str, ...], iceberg: IcebergSpec | None) -> tuple[list[str], list[str]]:
    """One response entry's text as parts, literal JSON text and column names (``record_id``, ``result``, ``data``,
    the keys): the entry's head, and its metadata, left out where a partition key is null (or with ``iceberg``, where
    the record is not Ok). The entry ends with ``}``."""
    head = ['{"recordId":"', "record_id", '","result":"', "result", '","data":"', "data", '"']
    if iceberg is not None:  # the names are letters, digits and underscores: nothing to escape
        return head, [',"metadata":{"otfMetadata":', orjson.dumps(otf_metadata(iceberg)).decode(), "}"]
    metadata = [',"metadata":{"partitionKeys":{']
    for i, key in enumerate(partition_keys):
        metadata += [f'{"," if i else ""}"{key}":"', key, '"']
    metadata.append("}}")
    return head, metadata


@functools.cache  # built once per key set: building an expression costs more than evaluating it on a small batch
def _entry(partition_keys: tuple[str, ...], iceberg: IcebergSpec | None = None) -> pl.Expr:
    """One JSON response entry, for values that need no escaping."""
    head, metadata = _entry_parts(partition_keys, iceberg)
    columns = {"record_id", "result", "data", *partition_keys}

    def part(text: str) -> pl.Expr:
        return pl.col(text) if text in columns else pl.lit(text)

    # partition keys are null unless the record is Ok; the Iceberg table is the same for every record
    meta = pl.concat_str(list(map(part, metadata)))
    if iceberg is not None:
        meta = pl.when(pl.col("result") == OK).then(meta)
    return pl.concat_str(*map(part, head), meta.fill_null(""), pl.lit("}"))


def _entries(
    outcomes: pl.DataFrame,
    entry: pl.Expr,
    escaped: Sequence[int],
    partition_keys: Sequence[str],
    iceberg: IcebergSpec | None,
) -> pl.Series:
    """Every row's entry; the rows needing escapes are written by orjson, which escapes what needs it."""
    entries = outcomes.select(entry).to_series()
    if not escaped:
        return entries
    rows = outcomes[list(escaped)].rows(named=True)
    return entries.scatter(list(escaped), [_entry_text(row, partition_keys, iceberg) for row in rows])


def _entry_text(row: dict[str, str | None], partition_keys: Sequence[str], iceberg: IcebergSpec | None) -> str:
    entry: dict[str, object] = {"recordId": row["record_id"], "result": row["result"], "data": row["data"]}
    if row["result"] == OK:
        if iceberg is not None:
            entry["metadata"] = {"otfMetadata": otf_metadata(iceberg)}
        else:
            entry["metadata"] = {"partitionKeys": {k: row[k] for k in partition_keys}}
    return orjson.dumps(entry).decode()
