"""Stage: the decoded records screened: their text minified, and the records the engine must not judge alone found.

A record is *referred* to the reference implementation when it has a property the record type did not decode that
is not a plain undeclared property (a duplicate key, or an undeclared one holding an object: both show as more
``":`` in its text than set fields in the decoded record; an escaped quote can only add to the text's count), when
a value sits in a ``msgspec.Raw`` slot (a keyword only the reference enforces), when it holds a property the
enrichment overwrites, when it is an empty object the enrichment writes into, or when its decode failed a bound of
the engine's own rather than the schema's. Escapes stay on the fast path: the checks read decoded values.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import compress, count
from operator import ne
from typing import NamedTuple, cast

import msgspec
import polars as pl

from transform_core.engine.decode import Decoded, DecodeState, extract
from transform_core.engine.text_flags import BETWEEN_TOKENS, KEY_GAP, Spaced
from transform_core.schema import CompiledSchema

__all__ = ["Screened", "screen"]


class Screened(NamedTuple):
    """What the screen found, rows being the batch's."""

    text: pl.Series  # String: each decoded record's minified JSON (null where the record did not decode)
    referred: list[int]  # rows the reference implementation judges
    rows_with_extras: list[int]  # rows that may hold properties the schema does not declare (all others hold none)


def screen(decoded: Decoded, schema: CompiledSchema, state: DecodeState, enriched: frozenset[str]) -> Screened:
    """Minify the records whose text holds whitespace between tokens; find the referred ones, and those with
    undeclared top-level properties.

    Args:
        decoded: the decoded batch (its text flags in).
        schema: the compiled record schema.
        state: the decode's state (its referring reasons, its remembered plain extras).
        enriched: top-level names enrichment writes.
    """
    text, extras = decoded.text, list[int]()
    if schema.root_is_raw:
        referred = decoded.ok.arg_true().to_list()
    else:
        text, referred, extras = _screen_records(decoded, schema, state, enriched)
    if state.referring:  # failed a bound of the engine's, not the schema's: the reference judges them
        referred = sorted({*referred, *(i for i in decoded.failed if decoded.reasons[i] in state.referring)})
    return Screened(text=text, referred=referred, rows_with_extras=sorted(set(extras) | set(referred)))


def _screen_records(
    decoded: Decoded, schema: CompiledSchema, state: DecodeState, enriched: frozenset[str]
) -> tuple[pl.Series, list[int], list[int]]:
    """The minified text, the referred rows and the rows with plain undeclared properties."""
    text, records, reasons, payloads, flags = decoded.text, decoded.records, decoded.reasons, decoded.payloads, decoded.flags
    counts = list(map(schema.key_counter, records))
    text_keys = flags.key_counts
    all_decoded = not decoded.failed
    extra = _decoded_rows(compress(count(), map(ne, text_keys, counts)), reasons, all_decoded)
    keys_in_text = {i: cast(int, text_keys[i]) for i in extra}
    referred: set[int] = set()
    if flags.spaced is None:
        spaced = _spaced(_decoded_rows(flags.whitespace, reasons, all_decoded), payloads)
    else:
        spaced = Spaced(*(_decoded_rows(r, reasons, all_decoded) for r in flags.spaced))
    if spaced.rows:
        minified = [msgspec.json.format(cast(bytes, payloads[i]), indent=-1) for i in spaced.rows]  # decoded rows
        column = pl.Series(minified, dtype=pl.Binary).cast(pl.String)  # valid UTF-8: formatted from decoded rows
        text = column if len(spaced.rows) == len(text) else text.scatter(spaced.rows, column)
        # whitespace between a key and its colon ("a" :1) hid the key from the count above: count such rows again,
        # minified (they are rare: json.dumps, indenting and most producers put none there)
        minified_rows = dict(zip(spaced.rows, minified, strict=True)) if spaced.key_gaps else {}
        for i in spaced.key_gaps:
            if i in minified_rows:
                in_text = minified_rows[i].count(b'":')
                keys_in_text.pop(i, None)
                if in_text != counts[i]:
                    keys_in_text[i] = in_text
    candidates = sorted(keys_in_text)
    extras = set(candidates)
    if candidates:
        surplus = [keys_in_text[i] - counts[i] for i in candidates]
        plain = state.plain_extras.check([cast(bytes, payloads[i]) for i in candidates], surplus, enriched)
        for i, ok in zip(candidates, plain, strict=True):
            if not ok:
                referred.add(i)
                extras.discard(i)
    for attrs in schema.raw_slots:
        referred.update(i for i, value in enumerate(extract(records, attrs)) if value is not None)
    for name in enriched & schema.top_level:  # a declared property the enrichment overwrites
        referred.update(i for i, value in enumerate(extract(records, schema.fields[name].attrs)) if value is not None)
    if enriched and text_keys.count(0):  # {} enriched: its first member must not follow a comma; the reference writes it
        referred.update(_empty_objects(text_keys, payloads, reasons))
    return text, sorted(i for i in referred if reasons[i] is None), sorted(extras)


def _empty_objects(text_keys: list[int | None], payloads: list[bytes | None], reasons: list[str | None]) -> list[int]:
    """The decoded records that are an empty object, however spaced: of those with no ``":`` in their text (rare)."""
    rows = [i for i, keys in enumerate(text_keys) if keys == 0 and reasons[i] is None]
    return [i for i in rows if msgspec.json.format(cast(bytes, payloads[i]), indent=-1) == b"{}"]


def _decoded_rows(rows: Iterable[int], reasons: list[str | None], all_decoded: bool) -> list[int]:
    """The ``rows`` whose record decoded."""
    return list(rows) if all_decoded else [i for i in rows if reasons[i] is None]


def _spaced(whitespace: list[int], payloads: list[bytes | None]) -> Spaced:
    """Of a few rows holding whitespace, where it may sit (:class:`~transform_core.engine.text_flags.Spaced`).

    A decoded record is an object, so padding shows as a first or last byte other than a brace. A few rows are
    searched with Python's ``re`` (a further Polars query costs more than that); many with Polars, whose regex
    scans faster (:class:`~transform_core.engine.text_flags.TextQueries`).
    """
    rows = [i for i in whitespace if _padded(payloads[i]) or BETWEEN_TOKENS.search(payloads[i]) is not None]  # type: ignore[arg-type]
    return Spaced(rows, [i for i in rows if KEY_GAP.search(payloads[i]) is not None])  # type: ignore[arg-type]


def _padded(payload: bytes | None) -> bool:
    return payload is not None and (payload[:1] != b"{" or payload[-1:] != b"}")
