"""Stage: base64 → UTF-8 → strict typed records, with per-record isolation.

Base64 is decoded for the whole batch in Polars. Each payload is then decoded by one native msgspec call into the
record type compiled from the schema, which checks JSON syntax, types, required properties, enums, bounds and
lengths in the same pass (patterns and formats run vectorized afterwards, in :mod:`transform_core.engine.checks`).
A bad record gets a reason and never touches its neighbours: there is no whole-column decode that one record can
break (as Polars' typed ``str.json_decode`` can). While the records are decoded, Polars' threads read their text
(:mod:`transform_core.engine.text_flags`); the screen (:mod:`transform_core.engine.screen`) uses both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from operator import attrgetter
from typing import Any, cast

import msgspec
import polars as pl

from transform_core.engine.overlap import query_in_background
from transform_core.engine.text_flags import TextFlags, TextQueries
from transform_core.schema import REFERRED, CompiledSchema, format_reason, reason_from_msgspec
from transform_core.schema.extras import PlainExtras
from transform_core.schema.nesting import DEPTH_REASON, MAX_DEPTH, nesting_depth
from transform_core.tuning import Tuning

__all__ = ["DecodeState", "Decoded", "decode_batch", "decode_payloads", "extract"]

_UNSET = msgspec.UNSET
_BASE64_REASON = format_reason("$", "record data is not valid base64", "base64")
_REFERRED = f"({REFERRED})"


@dataclass(slots=True)
class DecodeState:
    """What the decode learns as batches run, kept by the pipeline from batch to batch (the compiled schema holds
    none of it): the reason each decode error translates to (a batch repeats the same few), which of those reasons
    refer their record to the reference, and the undeclared property names found plain."""

    plain_extras: PlainExtras
    reasons: dict[str, str] = field(default_factory=dict)  # msgspec message -> reason
    referring: set[str] = field(default_factory=set)  # the reasons among them with the rule REFERRED

    @classmethod
    def for_schema(cls, schema: CompiledSchema, tuning: Tuning) -> DecodeState:
        """A fresh state for records of ``schema``."""
        return cls(plain_extras=PlainExtras(schema.top_level, remember=tuning.remembered_extra_names))


@dataclass(slots=True)
class Decoded:
    """The decoded batch, row-aligned with the input."""

    text: pl.Series  # String: each payload's text, null where its data is not base64 or not UTF-8
    payloads: list[bytes | None]  # each payload's bytes, None where its data is not base64
    records: list[Any]  # decoded record structs; ``schema.rejected`` (all attributes None) where the decode failed
    reasons: list[str | None]  # rejection reason per record, None if decoded
    failed: list[int]  # the rows whose record did not decode
    not_base64: list[int]  # rows whose data is not base64 (it may hold any character)
    ok: pl.Series  # Boolean "_decoded": the record decoded (its reason is None)
    flags: TextFlags  # what the text queries found


def decode_batch(data: pl.Series, schema: CompiledSchema, state: DecodeState, tuning: Tuning) -> Decoded:
    """Decode every record of a batch; never raises for bad data.

    Args:
        data: base64 payloads as sent (String).
        schema: the compiled record schema.
        state: what earlier batches of this schema taught the decode (updated here).
        tuning: the thresholds that choose how the work is done.
    """
    raw, text = _base64_decode(data, tuning)
    return _decode(raw, text, schema, state, tuning)


def decode_payloads(payloads: pl.Series, schema: CompiledSchema, state: DecodeState, tuning: Tuning) -> Decoded:
    """Decode every record of a batch given as its payloads' bytes (Binary, no null): :func:`decode_batch` after
    its base64 decode, record for record."""
    raw = payloads.alias("_source")
    return _decode(raw, _text(raw), schema, state, tuning)


def _decode(raw: pl.Series, text: pl.Series | None, schema: CompiledSchema, state: DecodeState, tuning: Tuning) -> Decoded:
    """The records of the payloads ``raw`` (Binary, null where the data is not base64); ``text``: ``raw`` as
    text, or None where some payload is not UTF-8."""
    payloads: list[bytes | None] = raw.to_list()
    not_utf8: dict[int, int] = {}
    if text is None:  # some payload is not UTF-8
        text, not_utf8 = _utf8_text(payloads)
    queries = TextQueries(text, tuning)  # Polars queries, run while the records are decoded
    records, reasons, failed, not_base64 = _decode_records(payloads, not_utf8, schema, state, tuning, between_chunks=queries.poll)
    flags = queries.result()
    failed += _too_deep(flags.deep, payloads, records, reasons, schema)
    ok = pl.Series("_decoded", [True], dtype=pl.Boolean).new_from_index(0, len(reasons))
    if failed:
        ok.scatter(failed, False)
    return Decoded(
        text=text,
        payloads=payloads,
        records=records,
        reasons=reasons,
        failed=failed,
        not_base64=not_base64,
        ok=ok,
        flags=flags,
    )


def extract(records: list[Any], attrs: tuple[str, ...], may_be_unset: bool = True) -> list[Any]:
    """The value at ``attrs`` of every record: None where the record or the value is absent.

    ``may_be_unset`` is False for a top-level field that defaults to None (see
    :class:`transform_core.schema.FieldInfo`): then a plain ``attrgetter`` pass does it.
    """
    if len(attrs) == 1:
        get = attrgetter(attrs[0])
        if not may_be_unset:
            return list(map(get, records))
        return [None if v is _UNSET else v for v in map(get, records)]
    try:  # every record has the enclosing objects (a batch without rejections, required objects): one C pass
        found = list(map(attrgetter(".".join(attrs)), records))
    except AttributeError:  # some enclosing object is absent (None or UNSET): walk record by record
        pass
    else:
        return [None if v is _UNSET else v for v in found]
    values = []
    for record in records:
        value = record
        for name in attrs:
            if value is None or value is _UNSET:
                break
            value = getattr(value, name)
        values.append(None if value is _UNSET else value)
    return values


def _decode_records(
    payloads: list[bytes | None],
    not_utf8: dict[int, int],
    schema: CompiledSchema,
    state: DecodeState,
    tuning: Tuning,
    between_chunks: Callable[[], None],
) -> tuple[list[Any], list[str | None], list[int], list[int]]:
    """Each payload decoded into a record (``schema.rejected`` where it fails), each failure's reason, the failed rows
    and of those the ones whose data is not base64. ``between_chunks`` is called every ``tuning.decode_chunk``
    records while failures are sparse."""
    n = len(payloads)
    reasons: list[str | None] = [None] * n
    records: list[Any] = []
    failed: list[int] = []
    not_base64: list[int] = []
    decode = schema.decoder.decode
    errors = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)  # RecursionError: see transform_core.schema.nesting
    if not not_utf8:
        # while failures are sparse, one C-level map decodes the records (no Python step per record) and is
        # resumed after each failure: list.extend keeps what the map gave before it raised
        mapped = map(decode, cast(list[bytes], payloads))
        chunk, loop_after, loop_share = tuning.decode_chunk, tuning.loop_after, tuning.loop_share
        while len(records) < n:
            try:
                records.extend(islice(mapped, chunk))
            except (*errors, TypeError) as err:  # TypeError: a None payload, whose data is not base64
                i = len(records)
                records.append(schema.rejected)
                failed.append(i)
                if payloads[i] is None:
                    reasons[i] = _BASE64_REASON
                    not_base64.append(i)
                else:
                    reasons[i] = _reason(err, schema, state, tuning)
                if i >= loop_after and len(failed) * loop_share > i:  # dense: a raise costs more than a loop step
                    break
            else:
                if len(records) < n:
                    between_chunks()
    start = len(records)
    records += [schema.rejected] * (n - start)
    for i in range(start, n):  # record by record, failures handled inline (a raise per failure costs more when dense)
        payload = payloads[i]
        if payload is None:
            reasons[i] = _BASE64_REASON
            not_base64.append(i)
            failed.append(i)
        elif i in not_utf8:  # msgspec does not check the bytes of properties it skips
            reasons[i] = format_reason("$", f"not valid UTF-8 at byte {not_utf8[i]}", "utf8")
            failed.append(i)
        else:
            try:
                records[i] = decode(payload)
            except errors as err:
                reasons[i] = _reason(err, schema, state, tuning)
                failed.append(i)
    return records, reasons, failed, not_base64


def _base64_decode(data: pl.Series, tuning: Tuning) -> tuple[pl.Series, pl.Series | None]:
    """Payload bytes (null where the base64 is bad) and, if every payload is UTF-8, their text.

    A large batch is decoded in two halves at once, one by Polars' threads (its decode is one pass on one core); the
    halves stay two chunks of one Series. This thread decodes its own half rather than hand both to Polars: its
    half runs with its caches warm.
    """
    if len(data) >= tuning.split_base64_from:
        half = len(data) // 2
        query = data.slice(half).to_frame().lazy().select(pl.first().str.decode("base64", strict=False))
        second = query_in_background(query, pl.DataFrame.to_series, background=len(data) >= tuning.overlap_from)
        raw = pl.concat([_decode_base64_strings(data.slice(0, half)), second.result()], rechunk=False)
    else:
        raw = _decode_base64_strings(data)
    return raw, _text(raw)


def _text(raw: pl.Series) -> pl.Series | None:
    """The payloads as text, or None if one is not UTF-8."""
    try:
        return raw.cast(pl.String)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
        return None


def _decode_base64_strings(data: pl.Series) -> pl.Series:
    return data.str.decode("base64", strict=False)


def _utf8_text(payloads: list[bytes | None]) -> tuple[pl.Series, dict[int, int]]:
    """Payloads as text, and the records that are not UTF-8 (null in the text)."""
    not_utf8: dict[int, int] = {}  # row -> byte offset (not the exception: its traceback would keep the batch alive)
    for i, payload in enumerate(payloads):
        try:
            if payload is not None:
                payload.decode()
        except UnicodeDecodeError as err:
            not_utf8[i] = err.start
    kept = [None if i in not_utf8 else p for i, p in enumerate(payloads)]
    return pl.Series(kept, dtype=pl.Binary).cast(pl.String), not_utf8


def _reason(err: Exception, schema: CompiledSchema, state: DecodeState, tuning: Tuning) -> str:
    if isinstance(err, UnicodeDecodeError):
        return format_reason("$", f"not valid UTF-8 at byte {err.start}", "utf8")
    if isinstance(err, RecursionError):  # msgspec ran out of stack some 990 levels down, far past the limit
        return DEPTH_REASON
    assert isinstance(err, msgspec.MsgspecError)
    # the same few messages recur across a batch: translate each once
    cache = state.reasons
    message = str(err)
    reason = cache.get(message)
    if reason is None:
        if len(cache) >= tuning.reason_cache_size:
            cache.clear()
            state.referring.clear()
        reason = cache[message] = reason_from_msgspec(err, schema.rule_texts, schema.integer_paths)
        if reason.endswith(_REFERRED):
            state.referring.add(reason)
    return reason


def _too_deep(
    rows: list[int], payloads: list[bytes | None], records: list[Any], reasons: list[str | None], schema: CompiledSchema
) -> list[int]:
    """Of the decoded records in ``rows`` (those long enough, with enough opening brackets, to nest deeper than
    :data:`~transform_core.schema.nesting.MAX_DEPTH`), the ones that do: failed here, their rows returned."""
    deep = [i for i in rows if reasons[i] is None and nesting_depth(cast(bytes, payloads[i])) > MAX_DEPTH]
    for i in deep:
        reasons[i], records[i] = DEPTH_REASON, schema.rejected
    return deep
