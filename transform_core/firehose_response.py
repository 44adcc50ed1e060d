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
_NEEDS_ESCAPE = r'["\\\x00-\x1f\x7f-\x{9f}\x{2028}\x{2029}]'


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
) -> FirehoseResponse:
    """Serialize ``outcomes`` as a Firehose response, shedding Ok records that would not fit.

    Args:
        outcomes: an outcome frame (see :mod:`transform_core.batch`); non-Ok rows carry their source data.
        source_data: the base64 data each record arrived with, same order.
        partition_keys: the partition key columns of ``outcomes``.
        limit: the response must be strictly smaller than this many bytes.
    """
    frame = outcomes.with_columns(
        _json_strings(outcomes["record_id"]).alias("_id_json"),
        _json_strings(source_data).alias("_source_json"),
        source_data.alias("_source"),
    )
    entries = frame.select(_entry(partition_keys).alias("entry"), _shed_entry().alias("shed"))
    entry_len = entries["entry"].str.len_bytes().cast(pl.Int64)
    fixed = len(_PREFIX) + len(_SUFFIX) + max(len(frame) - 1, 0)
    shed = 0
    if fixed + int(entry_len.sum()) >= limit:
        keep = _records_that_fit(entry_len, entries["shed"].str.len_bytes().cast(pl.Int64), fixed, limit)
        is_shed = (pl.int_range(pl.len()) >= keep) & (pl.col("result") == OK)
        shed = int(frame.select(is_shed.sum()).item())
        frame = frame.with_columns(
            pl.when(is_shed).then(pl.lit(FAILED)).otherwise(pl.col("result")).alias("result"),
            pl.when(is_shed).then(pl.col("_source")).otherwise(pl.col("data")).alias("data"),
            pl.when(is_shed).then(pl.lit(SHED_REASON)).otherwise(pl.col("reason")).alias("reason"),
            *[pl.when(is_shed).then(None).otherwise(pl.col(k)).alias(k) for k in partition_keys],
        )
        entries = frame.select(_entry(partition_keys).alias("entry"))
    body = _PREFIX + entries["entry"].str.join(",").item().encode() + _SUFFIX if len(frame) else _PREFIX + _SUFFIX
    return FirehoseResponse(body=body, outcomes=frame.drop("_id_json", "_source_json", "_source"), shed=shed)


def _records_that_fit(entry_len: pl.Series, shed_len: pl.Series, fixed: int, limit: int) -> int:
    """The largest k such that records [0, k) as built plus [k, n) shed stay under the limit."""
    zero = pl.Series([0], dtype=pl.Int64)
    kept = pl.concat([zero, entry_len.cum_sum()])  # bytes of the first k entries, k = 0..n
    rest = shed_len.sum() - pl.concat([zero, shed_len.cum_sum()])  # bytes of the others, shed
    fits = ((fixed + kept + rest) < limit).arg_true()
    return int(fits[-1]) if len(fits) else 0


def _json_strings(values: pl.Series) -> pl.Series:
    """Values as JSON string literals; only batches holding a value that needs escaping pay for orjson."""
    if not values.str.contains(_NEEDS_ESCAPE).any():
        return '"' + values + '"'
    return pl.Series([orjson.dumps(v).decode() for v in values.to_list()], dtype=pl.String)


def _entry(partition_keys: Sequence[str]) -> pl.Expr:
    ok = pl.col("result") == OK
    pairs = [pl.concat_str(pl.lit(f'"{key}":"'), pl.col(key), pl.lit('"')) for key in partition_keys]
    metadata = pl.concat_str(pl.lit(',"metadata":{"partitionKeys":{'), pl.concat_str(pairs, separator=","), pl.lit("}}"))
    return pl.concat_str(
        pl.lit('{"recordId":'),
        pl.col("_id_json"),
        pl.lit(',"result":"'),
        pl.col("result"),
        pl.lit('","data":'),
        pl.when(ok).then(pl.concat_str(pl.lit('"'), pl.col("data"), pl.lit('"'))).otherwise(pl.col("_source_json")),
        pl.when(ok).then(metadata).otherwise(pl.lit("")),
        pl.lit("}"),
    )


def _shed_entry() -> pl.Expr:
    """The entry a record would get if it were shed (ProcessingFailed with its source data)."""
    return pl.concat_str(
        pl.lit('{"recordId":'), pl.col("_id_json"), pl.lit(f',"result":"{FAILED}","data":'), pl.col("_source_json"), pl.lit("}")
    )
