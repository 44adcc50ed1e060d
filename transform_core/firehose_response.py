"""Sink: an outcome frame → the Firehose transformation response, as compact JSON bytes.

The response is built for the whole batch at once in Polars (no Python object per record) and
returned as bytes, which the Lambda runtime posts unchanged. Lambda refuses a response of 6 MB or
more and then fails the *whole* batch, so when enriched records would not fit, the trailing Ok
records are returned ``ProcessingFailed`` with their original data instead: Firehose delivers
them to the error prefix, where ``transform-core reprocess`` can pick them up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import orjson
import polars as pl

from transform_core.batch import FAILED, OK

__all__ = ["LAMBDA_RESPONSE_LIMIT", "SHED_REASON", "FirehoseResponse", "build_response"]

#: Lambda's synchronous response limit; the serialized response must stay strictly below it.
LAMBDA_RESPONSE_LIMIT = 6_000_000
SHED_REASON = "$: the enriched record does not fit in Lambda's 6 MB response; returned for reprocessing (response_size)"

_PREFIX = b'{"records":['
_SUFFIX = b"]}"


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
    odd_rows: Sequence[int] | None = None,
) -> FirehoseResponse:
    """Serialize ``outcomes`` as a Firehose response, shedding Ok records that would not fit.

    Args:
        outcomes: an outcome frame (see :mod:`transform_core.batch`); non-Ok rows carry their source data.
        source_data: the base64 data each record arrived with, same order.
        partition_keys: the partition key columns of ``outcomes``.
        limit: the response must be strictly smaller than this many bytes.
        odd_rows: rows whose source data may need JSON escaping (it was not valid base64); None
            means any row may, and every row is checked.
    """
    if odd_rows is None:
        odd_rows = _needs_escaping(source_data).arg_true().to_list()
    ids = _json_strings(outcomes["record_id"], _needs_escaping(outcomes["record_id"]).arg_true().to_list())
    data = _json_strings(outcomes["data"], odd_rows)
    entries = _entries(outcomes, ids, data, partition_keys)
    entry_len = entries.str.len_bytes().cast(pl.Int64)
    fixed = len(_PREFIX) + len(_SUFFIX) + max(len(outcomes) - 1, 0)
    shed = 0
    if fixed + int(entry_len.sum()) >= limit:
        source = _json_strings(source_data, odd_rows)
        shed_entry = pl.concat_str(pl.lit('{"recordId":'), ids, pl.lit(f',"result":"{FAILED}","data":'), source, pl.lit("}"))
        shed_len = pl.select(shed_entry.str.len_bytes().cast(pl.Int64)).to_series()
        keep = _records_that_fit(entry_len, shed_len, fixed, limit)
        is_shed = (pl.int_range(pl.len()) >= keep) & (pl.col("result") == OK)
        shed = int(outcomes.select(is_shed.sum()).item())
        outcomes = outcomes.with_columns(
            pl.when(is_shed).then(pl.lit(FAILED)).otherwise(pl.col("result")).alias("result"),
            pl.when(is_shed).then(source_data).otherwise(pl.col("data")).alias("data"),
            pl.when(is_shed).then(pl.lit(SHED_REASON)).otherwise(pl.col("reason")).alias("reason"),
            *[pl.when(is_shed).then(None).otherwise(pl.col(k)).alias(k) for k in partition_keys],
        )
        entries = _entries(outcomes, ids, _json_strings(outcomes["data"], odd_rows), partition_keys)
    if not len(outcomes):
        return FirehoseResponse(body=_PREFIX + _SUFFIX, outcomes=outcomes, shed=0)
    joined: bytes = entries.str.join(",").cast(pl.Binary).item()
    return FirehoseResponse(body=_PREFIX + joined + _SUFFIX, outcomes=outcomes, shed=shed)


def _records_that_fit(entry_len: pl.Series, shed_len: pl.Series, fixed: int, limit: int) -> int:
    """The largest k such that records [0, k) as built plus [k, n) shed stay under the limit."""
    zero = pl.Series([0], dtype=pl.Int64)
    kept = pl.concat([zero, entry_len.cum_sum()])  # bytes of the first k entries, k = 0..n
    rest = shed_len.sum() - pl.concat([zero, shed_len.cum_sum()])  # bytes of the others, shed
    fits = ((fixed + kept + rest) < limit).arg_true()
    return int(fits[-1]) if len(fits) else 0


def _needs_escaping(values: pl.Series) -> pl.Series:
    """True where a value holds a character JSON escapes (a quote, a backslash, a control character)."""
    return values.str.contains(r'["\\\x00-\x1f]')


def _json_strings(values: pl.Series, odd_rows: Sequence[int]) -> pl.Series:
    """Values as JSON string literals: quoted as they are, except ``odd_rows``, escaped by orjson."""
    quoted = '"' + values + '"'
    if not odd_rows:
        return quoted
    rows = pl.Series(odd_rows, dtype=pl.UInt32)
    return quoted.scatter(rows, [orjson.dumps(v).decode() for v in values.gather(rows).to_list()])


def _entries(outcomes: pl.DataFrame, ids: pl.Series, data: pl.Series, partition_keys: Sequence[str]) -> pl.Series:
    """One JSON response entry per outcome row, in a single string concatenation."""
    metadata: list[pl.Expr] = [pl.lit(',"metadata":{"partitionKeys":{')]
    for i, key in enumerate(partition_keys):
        metadata += [pl.lit(f'{"," if i else ""}"{key}":"'), pl.col(key), pl.lit('"')]
    metadata.append(pl.lit("}}"))
    entry = pl.concat_str(
        pl.lit('{"recordId":'),
        ids,
        pl.lit(',"result":"'),
        pl.col("result"),
        pl.lit('","data":'),
        data,
        pl.concat_str(metadata).fill_null(""),  # partition keys are null unless the record is Ok
        pl.lit("}"),
    )
    return outcomes.select(entry).to_series()
