"""Stage: base64 → UTF-8 → strict typed records, with per-record isolation.

Base64 is decoded for the whole batch in Polars. Each payload is then decoded by one native
msgspec call into the record type compiled from the schema, which checks JSON syntax, types,
required properties, enums, bounds and lengths in the same pass (patterns and formats run
vectorized afterwards, in :mod:`transform_core.engine.checks`). A bad record gets a
reason and never touches its neighbours: there is no whole-column decode that one record can
break (as Polars' typed ``str.json_decode`` can).

The stage also marks records the vectorized path must not judge alone (*doubtful*); the engine
hands those to the reference implementation. A record is doubtful when it has a property the
record type did not decode (an additional property, or a duplicate key: both show as more ``":``
in its compact text than set fields in the decoded record; an escaped quote can only add to the
text's count), or when a value sits in a ``msgspec.Raw`` slot (a keyword only the reference
enforces). Escapes stay on the fast path: the checks read decoded values.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import compress, count, islice
from operator import attrgetter, ne
from typing import Any, TypeVar, cast

import msgspec
import polars as pl

from transform_core.engine.overlap import Pending, collected
from transform_core.schema import REFERRED, CompiledSchema, format_reason, reason_from_msgspec
from transform_core.schema.nesting import DEPTH_REASON, MAX_DEPTH, MIN_DEEP_LENGTH, nesting_depth

__all__ = ["Decoded", "decode_batch", "extract"]

T = TypeVar("T")
_UNSET = msgspec.UNSET
_BASE64_REASON = format_reason("$", "record data is not valid base64", "base64")


_REASON_CACHE_SIZE = 4096  # distinct msgspec messages remembered per schema
_REFERRED = f"({REFERRED})"


@dataclass(slots=True)
class Decoded:
    """The decoded batch, row-aligned with the input."""

    text: pl.Series  # String: the record's compact JSON, null where it could not be decoded
    records: list[Any]  # decoded record structs; ``schema.rejected`` (all attributes None) where the decode failed
    reasons: list[str | None]  # rejection reason per record, None if decoded
    doubtful: list[int]  # rows the reference implementation decides
    not_base64: list[int]  # rows whose data is not base64 (it may hold any character)
    non_ascii: list[int]  # the decoded records that may hold a non-ASCII value (raw, or escaped)
    undeclared: list[int]  # rows that may hold properties the schema does not declare (all others hold none)
    decoded: pl.Series  # Boolean "_decoded": the record decoded (its reason is None)


def decode_batch(
    data: pl.Series,
    schema: CompiledSchema,
    enriched: frozenset[str],
    on_records: Callable[[list[Any], pl.Series, list[int]], T],
) -> tuple[Decoded, T]:
    """Decode every record of a batch; never raises for bad data.

    Args:
        data: base64 payloads as sent (String).
        schema: the compiled record schema.
        enriched: top-level names enrichment writes; a record that already has one is doubtful.
        on_records: called with the decoded records (``schema.rejected`` where the decode failed), the Boolean
            Series of which decoded and the rows that may hold non-ASCII (escaped or raw) before the records are
            screened, once the text flags are in: the engine starts its checks there. What it returns is returned
            with the decoded batch.
    """
    raw, text = _base64_decode(data)
    payloads: list[bytes | None] = raw.to_list()
    not_utf8: dict[int, int] = {}
    if text is None:  # some payload is not UTF-8
        text, not_utf8 = _utf8_text(payloads)
    flags = _TextFlags(text)  # Polars queries, run while the records are decoded
    records, reasons, failed, not_base64 = _decode_records(payloads, not_utf8, schema, between_chunks=flags.poll)
    text_flags = flags.result()
    _, _, may_be_non_ascii, may_nest_too_deep, _ = text_flags
    failed += _too_deep(may_nest_too_deep, payloads, records, reasons, schema)
    decoded = pl.Series("_decoded", [True], dtype=pl.Boolean).new_from_index(0, len(reasons))
    if failed:
        decoded.scatter(failed, False)
    started = on_records(records, decoded, may_be_non_ascii)
    text, doubtful, extras, non_ascii = _screen(text, text_flags, decoded, payloads, records, reasons, schema, enriched)
    if schema.referred:  # failed a bound of ours, not the schema's: the reference judges them
        doubtful = sorted({*doubtful, *(i for i in failed if reasons[i] in schema.referred)})
    return Decoded(
        undeclared=sorted(set(extras) | set(doubtful)),
        decoded=decoded,
        text=text,
        records=records,
        reasons=reasons,
        doubtful=doubtful,
        not_base64=not_base64,
        non_ascii=non_ascii,
    ), started


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
    payloads: list[bytes | None], not_utf8: dict[int, int], schema: CompiledSchema, between_chunks: Callable[[], None]
) -> tuple[list[Any], list[str | None], list[int], list[int]]:
    """Each payload decoded into a record (``schema.rejected`` where it fails), each failure's reason, the failed rows
    and of those the ones whose data is not base64. ``between_chunks`` is called every ``_YIELD_EVERY`` records while
    failures are sparse."""
    n = len(payloads)
    reasons: list[str | None] = [None] * n
    records: list[Any] = []
    failed: list[int] = []
    not_base64: list[int] = []
    decode = schema.decoder.decode
    errors = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)  # RecursionError: see transform_core.schema.nesting
    if not not_utf8:
        # while failures are sparse, one C-level map decodes the records (no Python step per record: 0.6 ms on
        # 9,000) and is resumed after each failure: list.extend keeps what the map gave before it raised
        mapped = map(decode, cast(list[bytes], payloads))
        while len(records) < n:
            try:
                records.extend(islice(mapped, _YIELD_EVERY))
            except (*errors, TypeError) as err:  # TypeError: a None payload, whose data is not base64
                i = len(records)
                records.append(schema.rejected)
                failed.append(i)
                if payloads[i] is None:
                    reasons[i] = _BASE64_REASON
                    not_base64.append(i)
                else:
                    reasons[i] = _reason(err, schema)
                if i >= _DENSE_AFTER and len(failed) * _DENSE_SHARE > i:  # dense: a raise costs more than a loop step
                    break
            else:
                if len(records) < n:
                    between_chunks()
    start = len(records)
    records += [schema.rejected] * (n - start)
    for i in range(start, n):  # record by record, failures handled inline (a call each costs 0.5 ms at 50% invalid)
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
                reasons[i] = _reason(err, schema)
                failed.append(i)
    return records, reasons, failed, not_base64


_YIELD_EVERY = 1024  # records, about 0.8 ms of decoding

# the map is left for a loop once more than one record in _DENSE_SHARE has failed, from the _DENSE_AFTER-th record on
_DENSE_AFTER = 64
_DENSE_SHARE = 16


def _base64_decode(data: pl.Series) -> tuple[pl.Series, pl.Series | None]:
    """Payload bytes (null where the base64 is bad) and, if every payload is UTF-8, their text.

    A large batch is decoded in two halves at once, one by Polars' threads (its decode is one pass on one core:
    2.4 → 1.5 ms on a 5 MB event); the halves stay two chunks of one Series. (Both halves handed to Polars, with
    ``collect_all``, took 0.5-1 ms longer: this thread's half runs with its caches warm.)
    """
    if len(data) >= _SPLIT_BASE64_FROM:
        half = len(data) // 2
        query = data.slice(half).to_frame().lazy().select(pl.first().str.decode("base64", strict=False))
        second = collected(query, pl.DataFrame.to_series, rows=len(data))
        raw = pl.concat([_decode_base64_strings(data.slice(0, half)), second.result()], rechunk=False)
    else:
        raw = _decode_base64_strings(data)
    try:
        return raw, raw.cast(pl.String)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
        return raw, None


def _decode_base64_strings(data: pl.Series) -> pl.Series:
    return data.str.decode("base64", strict=False)


# records; below, the hand-over costs about what the second core saves, and with one core there is none to use
_SPLIT_BASE64_FROM = 1000 if pl.thread_pool_size() > 1 else sys.maxsize


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


def _reason(err: Exception, schema: CompiledSchema) -> str:
    if isinstance(err, UnicodeDecodeError):
        return format_reason("$", f"not valid UTF-8 at byte {err.start}", "utf8")
    if isinstance(err, RecursionError):  # msgspec ran out of stack some 990 levels down, far past the limit
        return DEPTH_REASON
    assert isinstance(err, msgspec.MsgspecError)
    # the same few messages recur across a batch: translate each once
    cache = schema.reason_cache
    message = str(err)
    reason = cache.get(message)
    if reason is None:
        if len(cache) >= _REASON_CACHE_SIZE:
            cache.clear()
            schema.referred.clear()
        reason = cache[message] = reason_from_msgspec(err, schema.rule_texts, schema.integer_paths)
        if reason.endswith(_REFERRED):
            schema.referred.add(reason)
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


def _screen(
    text: pl.Series,
    flags: TextFlags,
    decoded: pl.Series,
    payloads: list[bytes | None],
    records: list[Any],
    reasons: list[str | None],
    schema: CompiledSchema,
    enriched: frozenset[str],
) -> tuple[pl.Series, list[int], list[int], list[int]]:
    """Compact the spaced records; find the doubtful ones, and those with top-level extras.

    ``flags`` (:class:`_TextFlags`) count and flag every record in as few Polars queries as can do it: each
    further query would cost ~50 µs whatever the batch size, which a 500-record batch feels.
    """
    if schema.root_is_raw:
        rows = decoded.arg_true().to_list()
        return text, rows, [], rows
    counts = list(map(schema.key_counter, records))
    text_keys, blank, non_ascii, _, spaced = flags
    all_decoded = reasons.count(None) == len(reasons)
    extra = _decoded_rows(compress(count(), map(ne, text_keys, counts)), reasons, all_decoded)
    keys_in_text = {i: cast(int, text_keys[i]) for i in extra}
    blank, non_ascii = _decoded_rows(blank, reasons, all_decoded), _decoded_rows(non_ascii, reasons, all_decoded)
    doubtful: set[int] = set()
    rows, gaps = _spaced(blank, payloads) if spaced is None else (_decoded_rows(r, reasons, all_decoded) for r in spaced)
    if rows:
        compact = [msgspec.json.format(cast(bytes, payloads[i]), indent=-1) for i in rows]  # decoded rows
        compacted = pl.Series(compact, dtype=pl.Binary).cast(pl.String)  # valid UTF-8: formatted from decoded rows
        text = compacted if len(rows) == len(text) else text.scatter(rows, compacted)
        # whitespace between a key and its colon ("a" :1) hid the key from the count above: count such rows again,
        # compacted (they are rare: json.dumps, indenting and most producers put none there)
        compacted_rows = dict(zip(rows, compact, strict=True)) if gaps else {}
        for i in gaps:
            if i in compacted_rows:
                in_text = compacted_rows[i].count(b'":')
                keys_in_text.pop(i, None)
                if in_text != counts[i]:
                    keys_in_text[i] = in_text
    candidates = sorted(keys_in_text)
    extras = set(candidates)
    if candidates:
        surplus = [keys_in_text[i] - counts[i] for i in candidates]
        plain = schema.plain_extras.check([cast(bytes, payloads[i]) for i in candidates], surplus, enriched)
        for i, ok in zip(candidates, plain, strict=True):
            if not ok:
                doubtful.add(i)
                extras.discard(i)
    for attrs in schema.raw_slots:
        doubtful.update(i for i, value in enumerate(extract(records, attrs)) if value is not None)
    for name in enriched & schema.top_level:  # a declared property the enrichment overwrites
        doubtful.update(i for i, value in enumerate(extract(records, schema.fields[name].attrs)) if value is not None)
    if enriched and text_keys.count(0):  # {} enriched: its first member must not follow a comma; the reference writes it
        doubtful.update(_empty_objects(text_keys, payloads, reasons))
    return text, sorted(i for i in doubtful if reasons[i] is None), sorted(extras), non_ascii


def _empty_objects(text_keys: list[int | None], payloads: list[bytes | None], reasons: list[str | None]) -> list[int]:
    """The decoded records that are an empty object, however spaced: of those with no ``":`` in their text (rare)."""
    rows = [i for i, keys in enumerate(text_keys) if keys == 0 and reasons[i] is None]
    return [i for i in rows if msgspec.json.format(cast(bytes, payloads[i]), indent=-1) == b"{}"]


# key counts, rows with whitespace, rows that may hold non-ASCII, rows that may nest too deep, and (for many blank
# rows) those with it between tokens and of those the ones where it may sit between a key and its colon
TextFlags = tuple[list[int | None], list[int], list[int], list[int], tuple[list[int], list[int]] | None]


class _TextFlags:
    """Each record's key count (``":`` in its text), the rows holding whitespace, those that may hold non-ASCII,
    those that may nest too deep (long enough, with enough opening brackets), and when many rows hold whitespace,
    those where it may sit between tokens (:func:`_between_query`): Polars queries run by Polars' threads while the
    records are decoded (see :mod:`transform_core.engine.overlap`).

    The second query needs the first's result: the decode calls :meth:`poll` between chunks of records, which starts
    it as soon as the first is done (on a 5 MB event both are done about when the decode is); :meth:`result` waits.
    """

    def __init__(self, text: pl.Series) -> None:
        self._text = text
        self._first = collected(text.to_frame("text").lazy().select_seq(**_FLAGS), _first_row, rows=len(text))
        self._found: tuple[list[int | None], list[int], list[int], list[int]] | None = None
        self._second: Pending[tuple[list[int], list[int]]] | None = None

    def poll(self) -> None:
        """Start the second query if the first is done (and asks for it); never waits."""
        if self._found is None and self._first.done():
            self._start_second(rows=len(self._text))

    def result(self) -> TextFlags:
        if self._found is None:
            self._start_second(rows=0)  # run now: the result is wanted
        assert self._found is not None
        keys, blank, non_ascii, deep = self._found
        return keys, blank, non_ascii, deep, None if self._second is None else self._second.result()

    def _start_second(self, rows: int) -> None:
        self._found = keys, blank, non_ascii, _ = self._first.result()
        if len(blank) > _FEW_BLANK_ROWS:
            self._second = collected(_between_query(self._text, blank), lambda frame: _between_from(frame, blank), rows=rows)


def _first_row(frame: pl.DataFrame) -> tuple[list[int | None], list[int], list[int], list[int]]:
    keys, blank, non_ascii, deep = frame.row(0)
    return keys, blank, non_ascii, deep


_TEXT = pl.col("text")
_LONG = _TEXT.str.len_bytes() >= MIN_DEEP_LENGTH
_FLAGS = {  # built once: building them took 0.05 ms a batch, with the GIL
    "keys": _TEXT.str.count_matches('":').implode(),  # null where there is no text; as a regex: 25% faster than literal
    "blank": _TEXT.str.contains(r"[ \t\n\r]").arg_true().implode(),
    # an escape can hide a non-ASCII character in ASCII text
    "non_ascii": ((_TEXT.str.len_bytes() != _TEXT.str.len_chars()) | _TEXT.str.contains("\\", literal=True)).arg_true().implode(),
    # nesting.may_nest_too_deep's test in Polars: brackets counted in the long texts only (none in a typical batch)
    "deep": pl.int_range(pl.len()).filter(_LONG).filter(_TEXT.filter(_LONG).str.count_matches(r"[\[{]") > MAX_DEPTH).implode(),
}


def _decoded_rows(rows: Iterable[int], reasons: list[str | None], all_decoded: bool) -> list[int]:
    """The ``rows`` whose record decoded."""
    return list(rows) if all_decoded else [i for i in rows if reasons[i] is None]


def _spaced(blank: list[int], payloads: list[bytes | None]) -> tuple[list[int], list[int]]:
    """Of a few rows holding whitespace, those where it may sit between tokens (their text needs compacting), and
    of those the ones where it may sit between a key and its colon (their keys need counting again, compacted).

    A decoded record is an object, so padding shows as a first or last byte other than a brace. A few rows are
    searched with Python's ``re`` (a further Polars query costs about 0.1 ms whatever its size, more than that);
    many (spaces inside strings are common) with Polars, whose regex scans ten times faster (:func:`_between_query`).
    """
    rows = [i for i in blank if _padded(payloads[i]) or _BETWEEN_TOKENS.search(payloads[i]) is not None]  # type: ignore[arg-type]
    return rows, [i for i in rows if _KEY_GAP.search(payloads[i]) is not None]  # type: ignore[arg-type]


def _between_query(text: pl.Series, blank: list[int]) -> pl.LazyFrame:
    """Of many rows holding whitespace (``blank``), those where it may sit between tokens, and those where it may
    sit between a key and its colon (see :func:`_spaced`): two Boolean columns, for :func:`_between_from`."""
    value = pl.col("text")
    between = value.str.contains(_BETWEEN_TOKENS.pattern.decode()) | ~value.str.starts_with("{") | ~value.str.ends_with("}")
    # four literal searches: a third of the time of one regex or Aho-Corasick search led by a quote
    gap = pl.any_horizontal([value.str.contains(g, literal=True) for g in _KEY_GAP_STARTS])
    return text.gather(blank).to_frame("text").lazy().select_seq(between=between, gap=gap)


def _between_from(frame: pl.DataFrame, blank: list[int]) -> tuple[list[int], list[int]]:
    rows, gaps = frame.get_columns()
    return list(compress(blank, rows.to_list())), list(compress(blank, gaps.to_list()))


def _padded(payload: bytes | None) -> bool:
    return payload is not None and (payload[:1] != b"{" or payload[-1:] != b"}")


_FEW_BLANK_ROWS = 256
# Whitespace between two JSON tokens always touches a structural character (two scalars are never adjacent)
# or an end of the text (a decoded record is an object: ``{`` … ``}`` unless padded), so a space inside a
# string value ("Saint Etienne") needs no compacting. Strings holding ", " or ": " match too: compacting
# them is merely unnecessary, never wrong.
_BETWEEN_TOKENS = re.compile(rb"[{}\[\],:][ \t\n\r]|[ \t\n\r][{}\[\],:]")
# Whitespace between a key and its colon follows a quote; a text without a quote followed by whitespace has as
# many `":` as its compact form
_KEY_GAP = re.compile(rb'"[ \t\n\r]')
_KEY_GAP_STARTS = ['" ', '"\t', '"\n', '"\r']
