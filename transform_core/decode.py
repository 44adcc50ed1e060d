"""Stage: base64 → UTF-8 → strict typed records, with per-record isolation.

Base64 is decoded for the whole batch in Polars. Each payload is then decoded by one native
msgspec call into the record type compiled from the schema, which checks JSON syntax, types,
required properties, enums, bounds, lengths and patterns in the same pass. A bad record gets a
reason and never touches its neighbours: there is no whole-column decode that one record can
break (as Polars' typed ``str.json_decode`` can).

The stage also marks records the vectorized path must not judge alone (*doubtful*); the engine
hands those to the reference implementation. A record is doubtful when its text holds a
backslash (escapes make text and value differ), when it has a property the record type did not
decode (an additional property, or a duplicate key: both show as more ``":`` in the text than
in the decoded record), or when a value sits in a ``msgspec.Raw`` slot (a keyword only the
reference enforces).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson
import polars as pl

from transform_core.schema import CompiledSchema, format_reason, reason_from_msgspec

__all__ = ["Decoded", "decode_batch", "extract"]

_UNSET = msgspec.UNSET
_BASE64_REASON = format_reason("$", "record data is not valid base64", "base64")


@dataclass(slots=True)
class Decoded:
    """The decoded batch, row-aligned with the input."""

    text: pl.Series  # String: the record's compact JSON, null where it could not be decoded
    records: list[Any]  # decoded record structs, None where rejected
    reasons: list[str | None]  # rejection reason per record, None if decoded
    doubtful: pl.Series  # Boolean: the reference implementation decides this record


def decode_batch(data: Sequence[str], schema: CompiledSchema, enriched: frozenset[str] = frozenset()) -> Decoded:
    """Decode every record of a batch; never raises for bad data.

    Args:
        data: base64 payloads as sent.
        schema: the compiled record schema.
        enriched: top-level names enrichment writes; a record that already has one is doubtful.
    """
    raw = pl.Series(data, dtype=pl.String).str.decode("base64", strict=False)
    payloads: list[bytes | None] = raw.to_list()
    text, not_utf8 = _utf8_text(raw, payloads)
    reasons: list[str | None] = [None] * len(payloads)
    records: list[Any] = [None] * len(payloads)
    decode = schema.decoder.decode
    errors = (msgspec.DecodeError, UnicodeDecodeError)
    for i, payload in enumerate(payloads):
        if payload is None:
            reasons[i] = _BASE64_REASON
            continue
        if i in not_utf8:  # msgspec does not check the bytes of properties it skips
            reasons[i] = _reason(not_utf8[i], schema)
            continue
        try:
            records[i] = decode(payload)
        except errors as err:
            reasons[i] = _reason(err, schema)
    decoded = pl.Series([r is not None for r in records], dtype=pl.Boolean)
    text = _compact(text, decoded)
    return Decoded(text=text, records=records, reasons=reasons, doubtful=_doubtful(text, records, decoded, schema, enriched))


def extract(records: list[Any], attrs: tuple[str, ...]) -> list[Any]:
    """The value at ``attrs`` of every record: None where the record or the value is absent."""
    if len(attrs) == 1:
        (name,) = attrs
        return [None if r is None or (v := getattr(r, name)) is _UNSET else v for r in records]
    values = []
    for record in records:
        value = record
        for name in attrs:
            if value is None or value is _UNSET:
                break
            value = getattr(value, name)
        values.append(None if value is _UNSET else value)
    return values


def _utf8_text(raw: pl.Series, payloads: list[bytes | None]) -> tuple[pl.Series, dict[int, UnicodeDecodeError]]:
    """Payloads as text, and the records that are not UTF-8 (null in the text)."""
    try:
        return raw.cast(pl.String), {}
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
        pass
    not_utf8: dict[int, UnicodeDecodeError] = {}
    for i, payload in enumerate(payloads):
        try:
            if payload is not None:
                payload.decode()
        except UnicodeDecodeError as err:
            not_utf8[i] = err
    kept = [None if i in not_utf8 else p for i, p in enumerate(payloads)]
    return pl.Series(kept, dtype=pl.Binary).cast(pl.String), not_utf8


def _reason(err: Exception, schema: CompiledSchema) -> str:
    if isinstance(err, UnicodeDecodeError):
        return format_reason("$", f"not valid UTF-8 at byte {err.start}", "utf8")
    assert isinstance(err, msgspec.MsgspecError)
    return reason_from_msgspec(err, schema.rule_texts, schema.integer_paths)


def _compact(text: pl.Series, decoded: pl.Series) -> pl.Series:
    """Remove insignificant whitespace (msgspec keeps every token as written)."""
    spaced = (text.str.contains(r"[ \t\n\r]") & decoded).fill_null(False)
    if not spaced.any():
        return text
    rows = spaced.arg_true()
    fixed = [msgspec.json.format(t.encode(), indent=-1).decode() for t in text.gather(rows).to_list()]
    return text.scatter(rows, fixed)


def _doubtful(
    text: pl.Series, records: list[Any], decoded: pl.Series, schema: CompiledSchema, enriched: frozenset[str]
) -> pl.Series:
    if schema.root_is_raw:
        return decoded
    encode = msgspec.json.encode
    decoded_keys = pl.Series([encode(r).count(b'":') if r is not None else 0 for r in records], dtype=pl.Int64)
    escaped = text.str.contains("\\", literal=True).fill_null(False)
    extra = (text.str.count_matches('":', literal=True).cast(pl.Int64) - decoded_keys).fill_null(0) * (decoded & ~escaped)
    doubtful = escaped.to_list()
    for i in (extra != 0).arg_true().to_list():
        doubtful[i] = not _only_plain_extras(text[i], int(extra[i]), schema, enriched)
    for attrs in schema.raw_slots:
        for i, value in enumerate(extract(records, attrs)):
            doubtful[i] = doubtful[i] or value is not None
    for name in enriched & schema.top_level:  # a declared property the enrichment overwrites
        for i, value in enumerate(extract(records, schema.fields[name].attrs)):
            doubtful[i] = doubtful[i] or value is not None
    return pl.Series(doubtful, dtype=pl.Boolean) & decoded


_TOP_LEVEL = msgspec.json.Decoder(dict[str, msgspec.Raw])


def _only_plain_extras(text: str, extra_keys: int, schema: CompiledSchema, enriched: frozenset[str]) -> bool:
    """True if the keys the record type skipped are distinct top-level extras with scalar values.

    Such a record is as safe as any other: no duplicate key (each would be one key too many),
    no nested object that could hide one, and no number too large for a double (orjson checks).
    """
    members = _TOP_LEVEL.decode(text)
    extras = [(k, bytes(v)) for k, v in members.items() if k not in schema.top_level]
    if len(extras) != extra_keys or any(k in enriched or b"{" in v for k, v in extras):
        return False
    try:
        orjson.loads(b"[" + b",".join(v for _, v in extras) + b"]")
    except orjson.JSONDecodeError:
        return False
    return True
