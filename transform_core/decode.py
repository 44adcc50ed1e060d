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

from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import msgspec
import orjson
import polars as pl

from transform_core.schema import CompiledSchema, format_reason, reason_from_msgspec

__all__ = ["REJECTED", "Decoded", "decode_batch", "extract"]

_UNSET = msgspec.UNSET
_BASE64_REASON = format_reason("$", "record data is not valid base64", "base64")


class _Rejected:
    """Stands in for a record that did not decode: every attribute reads as None."""

    __slots__ = ()

    def __getattr__(self, name: str) -> None:
        return None


REJECTED: Any = _Rejected()


@dataclass(slots=True)
class Decoded:
    """The decoded batch, row-aligned with the input."""

    text: pl.Series  # String: the record's compact JSON, null where it could not be decoded
    records: list[Any]  # decoded record structs, REJECTED where the decode failed
    reasons: list[str | None]  # rejection reason per record, None if decoded
    doubtful: pl.Series  # Boolean: the reference implementation decides this record
    not_base64: list[int]  # rows whose data is not base64 (it may hold any character)


def decode_batch(data: pl.Series, schema: CompiledSchema, enriched: frozenset[str] = frozenset()) -> Decoded:
    """Decode every record of a batch; never raises for bad data.

    Args:
        data: base64 payloads as sent (String).
        schema: the compiled record schema.
        enriched: top-level names enrichment writes; a record that already has one is doubtful.
    """
    raw = data.str.decode("base64", strict=False)
    payloads: list[bytes | None] = raw.to_list()
    text, not_utf8 = _utf8_text(raw, payloads)
    reasons: list[str | None] = [None] * len(payloads)
    records: list[Any] = [REJECTED] * len(payloads)
    decode = schema.decoder.decode
    errors = (msgspec.DecodeError, UnicodeDecodeError)
    for i, payload in enumerate(payloads):
        if payload is None:
            reasons[i] = _BASE64_REASON
        elif i in not_utf8:  # msgspec does not check the bytes of properties it skips
            reasons[i] = _reason(not_utf8[i], schema)
        else:
            try:
                records[i] = decode(payload)
            except errors as err:
                reasons[i] = _reason(err, schema)
    decoded = pl.Series([r is None for r in reasons], dtype=pl.Boolean)
    text = _compact(text, decoded)
    doubtful = _doubtful(text, records, decoded, schema, enriched)
    not_base64 = [i for i, reason in enumerate(reasons) if reason is _BASE64_REASON] if raw.null_count() else []
    return Decoded(text=text, records=records, reasons=reasons, doubtful=doubtful, not_base64=not_base64)


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
    count = schema.key_counter
    set_keys = pl.Series(list(map(count, records)), dtype=pl.Int64)
    checks = pl.select(
        escaped=text.str.contains("\\", literal=True).fill_null(False),
        extra=text.str.count_matches('":', literal=True).cast(pl.Int64).fill_null(0) - set_keys,
    )
    escaped, extra = checks["escaped"], checks["extra"]
    doubtful = escaped.to_list()
    rows = ((extra != 0) & decoded & ~escaped).arg_true()
    for i, row_text, row_extra in zip(rows.to_list(), text.gather(rows).to_list(), extra.gather(rows).to_list(), strict=True):
        doubtful[i] = not _only_plain_extras(row_text, row_extra, schema, enriched)
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
    extras = [k for k in members if k not in schema.top_level]
    if len(extras) != extra_keys:
        return False
    values = [bytes(members[k]) for k in extras]
    if any(k in enriched for k in extras) or any(b"{" in v for v in values):
        return False
    try:
        orjson.loads(b"[" + b",".join(values) + b"]")
    except orjson.JSONDecodeError:
        return False
    return True
