"""Lake rows: an outcome frame's Ok records as typed lake columns, in Polars.

The one place that turns validated record text into the lake table's rows (``docs/lake.md``, "Columns"). The lake
writer uses it batch by batch; the Spark adapter uses it on each executor, so both write the same rows.

Every value is stored as sent, or its record is refused with a ``lake_exact`` reason. Polars' JSON reader reads the
whole batch in one call with the integer columns typed Int64, so it fails on any literal there that is not a plain
integer (``2.0``, ``9007199254740993e0``): a read that succeeds proves every integer exact, and every number is the
double nearest to its text (the reader rounds correctly). Only when that read fails does a regex look for the
records whose numbers the reader cannot vouch for; those are parsed one by one with every number exact
(:func:`~transform_core.lake.columns.exact_value`), and the others are read again.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

import msgspec
import polars as pl

from transform_core.lake.columns import (
    BATCH_ID,
    EXTRA,
    INGESTED_AT,
    LAKE_EXACT,
    SOURCE_RECORD_ID,
    UTC_MICROS,
    LakeColumns,
    NotExact,
    convert,
    exact_row,
    outside_years,
    parse_exact,
    read_dtype,
)
from transform_core.schema import format_reason

__all__ = ["ROW", "LakeRows", "LakeSplit"]

ROW = "__row"  # the record's position in its batch (the outcome frame's row), as the writer numbers it
_raw_fields = msgspec.json.Decoder(dict[str, msgspec.Raw])

_NUMBER = r"[:,\[][ \t\r\n]*-?"  # where a number starts (a match inside a string only costs a record the slow path)
#: The records the reader cannot vouch for when ints are read as text: an integer beyond 128 bits (the reader fails),
#: an exponent, or a fraction whose double may be an integer although its text is not. A fraction on m < 14 integer
#: digits has a double that is an integer only if it starts with 15 - m zeros or nines (the double's spacing is at
#: most 10**m * 2**-51); an all-zero fraction shorter than that (``80.0``) reads exactly as text.
_NOT_VOUCHED = "|".join(
    [
        r"[0-9]{39}",
        _NUMBER + r"[0-9]+(?:\.[0-9]+)?[eE]",
        _NUMBER + r"[0-9]{14,}\.",
        *(_NUMBER + rf"[0-9]{{{m}}}\.(?:0{{{14 - m}}}|9{{{14 - m}}})" for m in range(1, 14)),
    ]
)
_KEY = re.compile(rb'[ \t\r\n]*[{,][ \t\r\n]*("(?:[^"\\]|\\.)*")[ \t\r\n]*:[ \t\r\n]*', re.S)


class LakeSplit(NamedTuple):
    """An outcome frame's Ok rows as the lake stores them, and the ones it refuses.

    Attributes:
        frame: the lake rows of the records stored, in input order, partition columns last.
        refused: ``(row, reason)`` for each record the lake cannot store exactly, ``row`` being its ``ROW`` value
            (its position in ``ok`` when ``ok`` has no ``ROW`` column) and ``reason`` a ``lake_exact`` reason.
    """

    frame: pl.DataFrame
    refused: list[tuple[int, str]]


class LakeRows:
    """Builds the lake rows of one pipeline's Ok records.

    Args:
        columns: the column plan, from :func:`~transform_core.lake.columns.lake_columns`.
    """

    def __init__(self, columns: LakeColumns) -> None:
        self.columns = columns
        parsed = columns.parsed
        self._typed_read = {name: read_dtype(dtype, int_text=False) for name, dtype in parsed.items()}
        self._text_read = {name: read_dtype(dtype, int_text=True) for name, dtype in parsed.items()}
        years = [check for name, dtype in parsed.items() if (check := outside_years(pl.col(name), dtype)) is not None]
        self._outside_years = pl.any_horizontal(years).fill_null(False) if years else None
        self._sent_text = tuple(name for name in columns.json_text if name not in columns.enriched)
        self._enriched_text = tuple(name for name in columns.json_text if name in columns.enriched)

    def split(
        self,
        ok: pl.DataFrame,
        batch_id: str,
        ingested_at: datetime,
        rows_with_extras: Collection[int] | None = None,
        payloads: pl.Series | None = None,
    ) -> LakeSplit:
        """The lake rows of an outcome frame's Ok rows, and the records the lake refuses; writes nothing.

        Args:
            ok: Ok rows of an outcome frame, with the writer's ``ROW`` column when ``rows_with_extras`` or
                ``payloads`` are given.
            batch_id: the ``_batch_id`` of every row.
            ingested_at: the ``_ingested_at`` of every row.
            rows_with_extras: the ``ROW`` values of the records that may carry undeclared properties (the engine's
                ``BatchResult.rows_with_extras``); no other record needs a look for ``_extra``. None: look at every one.
            payloads: the batch's payloads as sent, indexed by ``ROW``: base64 text (``RecordBatch.data_column()``)
                or bytes (``PayloadBatch.payloads``); the JSON-text columns and ``_extra`` then hold the text exactly
                as sent. None: the Ok data's text, with insignificant whitespace removed.

        Raises:
            ValueError: ``payloads`` given without a ``ROW`` column in ``ok``.
        """
        if payloads is not None and ROW not in ok.columns:
            raise ValueError(f"payloads are indexed by the {ROW!r} column, which ok does not have")
        lines = ok.get_column("data").str.decode("base64")
        typed, refused = self._typed(lines)
        texts, text_refusals = self._texts(ok, lines, rows_with_extras, payloads)
        refused.update(text_refusals)
        frame = pl.DataFrame([*typed.get_columns(), *texts]).with_columns(
            pl.lit(ingested_at, dtype=UTC_MICROS).alias(INGESTED_AT),
            ok.get_column("record_id").alias(SOURCE_RECORD_ID),
            pl.lit(batch_id, dtype=pl.String).alias(BATCH_ID),
            *(ok.get_column(key) for key in self.columns.partition_keys),
        )
        frame = frame.select(pl.col(name).cast(dtype) for name, dtype in self.columns.dtypes.items())
        if not refused:
            return LakeSplit(frame, [])
        positions = sorted(refused)
        keep = pl.Series([True]).new_from_index(0, ok.height).scatter(positions, False)
        rows = ok.get_column(ROW).gather(positions).to_list() if ROW in ok.columns else positions
        return LakeSplit(frame.filter(keep), [(row, refused[i]) for row, i in zip(rows, positions, strict=True)])

    def frame(
        self,
        ok: pl.DataFrame,
        batch_id: str,
        ingested_at: datetime,
        rows_with_extras: Collection[int] | None = None,
        payloads: pl.Series | None = None,
    ) -> pl.DataFrame:
        """The lake rows of every Ok row, partition columns included (last); see :meth:`split`.

        Raises:
            ValueError: the lake cannot store a record exactly (:meth:`split` returns such records as refusals).
        """
        frame, refused = self.split(ok, batch_id, ingested_at, rows_with_extras, payloads)
        if refused:
            row, reason = refused[0]
            raise ValueError(
                f"{len(refused)} Ok {'record' if len(refused) == 1 else 'records'} cannot be stored exactly in the lake, "
                f"the first (row {row}): {reason}; "
                "LakeRows.split returns them as refusals"
            )
        return frame

    def _typed(self, lines: pl.Series) -> tuple[pl.DataFrame, dict[int, str]]:
        """The parsed columns of every line (a refused record's values null) and the refused records' reasons."""
        n, parsed = len(lines), self.columns.parsed
        if not parsed:
            return pl.DataFrame(), {}
        read = self._read(lines, int_text=False)
        fast: pl.Series | None = None  # the positions of the rows in ``read``; None: every row, in order
        slow: list[int] = []  # the positions of the rows parsed record by record
        if read is None:
            vouched = ~lines.cast(pl.String).str.contains(_NOT_VOUCHED)
            fast, slow = vouched.arg_true(), (~vouched).arg_true().to_list()
            read = self._read(lines.filter(vouched), int_text=True)
            if read is None:
                read, fast, slow = pl.DataFrame(schema=parsed), pl.Series(dtype=pl.UInt32), list(range(n))
        if self._outside_years is not None and read.height:
            outside = read.select(self._outside_years).to_series()
            if outside.any():  # the record-by-record path refuses them, saying why
                positions = fast if fast is not None else pl.int_range(n, dtype=pl.UInt32, eager=True)
                slow = sorted([*slow, *positions.filter(outside).to_list()])
                fast, read = positions.filter(~outside), read.filter(~outside)
        if not slow:
            return read, {}
        values, refused = self._exact(lines, slow)
        positions = pl.concat([fast if fast is not None else pl.Series(dtype=pl.UInt32), pl.Series(slow, dtype=pl.UInt32)])
        return pl.concat([read.cast(pl.Schema(parsed)), values]).select(pl.all().gather(positions.arg_sort())), refused

    def _read(self, lines: pl.Series, *, int_text: bool) -> pl.DataFrame | None:
        """The lines' parsed columns by Polars' JSON reader, or None where it fails on one of them."""
        schema = self._text_read if int_text else self._typed_read
        parsed = self.columns.parsed
        try:
            frame = pl.read_ndjson(b"".join(lines.to_list()), schema=schema) if len(lines) else pl.DataFrame(schema=schema)
            if frame.height != len(lines):
                return None
            return frame.select(convert(pl.col(name), dtype, int_text=int_text).alias(name) for name, dtype in parsed.items())
        except pl.exceptions.PolarsError:
            return None

    def _exact(self, lines: pl.Series, positions: list[int]) -> tuple[pl.DataFrame, dict[int, str]]:
        """The parsed columns of the lines at ``positions``, record by record, every value exact or refused."""
        parsed = self.columns.parsed
        empty = (None,) * len(parsed)
        values: list[tuple[object, ...]] = []
        refused: dict[int, str] = {}
        for i, line in zip(positions, lines.gather(positions).to_list(), strict=True):
            try:
                values.append(exact_row(parse_exact(line), parsed))
            except NotExact as err:
                refused[i] = err.reason
                values.append(empty)
            except (ValueError, RecursionError):  # not JSON to Python's parser: never seen in an Ok record
                refused[i] = format_reason("$", "the record cannot be parsed with exact numbers", LAKE_EXACT)
                values.append(empty)
        return pl.DataFrame(values, schema=parsed, orient="row"), refused

    def _texts(
        self, ok: pl.DataFrame, lines: pl.Series, rows_with_extras: Collection[int] | None, payloads: pl.Series | None
    ) -> tuple[list[pl.Series], dict[int, str]]:
        """``_extra`` and the JSON-text columns from each record's top-level values and keys as sent."""
        n, names = ok.height, self.columns.json_text
        if not (self.columns.extras_possible or names):
            return [pl.Series(name, [None] * n, dtype=pl.String) for name in (*names, EXTRA)], {}
        if names or rows_with_extras is None or ROW not in ok.columns:
            look: list[int] | None = None
        else:
            wanted = pl.Series(list(rows_with_extras), dtype=pl.UInt32)
            look = ok.get_column(ROW).cast(pl.UInt32).is_in(wanted.implode()).arg_true().to_list()
        looked = lines if look is None else lines.gather(look)
        own = looked if payloads is None else _payload_bytes(payloads, ok.get_column(ROW), look)
        enriched = looked.to_list() if payloads is not None and self._enriched_text else None
        positions = range(n) if look is None else look
        texts, extras, refused = self._read_texts(positions, own.to_list(), enriched)
        sent = dict(zip(self._sent_text, texts[: len(self._sent_text)], strict=True))
        sent.update(zip(self._enriched_text, texts[len(self._sent_text) :], strict=True))
        series = [pl.Series(name, sent[name], dtype=pl.String) for name in names]
        extra = pl.Series(EXTRA, extras, dtype=pl.String)
        if look is not None:
            extra = pl.Series(EXTRA, [None] * n, dtype=pl.String)
            if look:
                extra = extra.scatter(look, pl.Series(extras, dtype=pl.String))
        return [*series, extra], refused

    def _read_texts(
        self, positions: Iterable[int], sources: Sequence[bytes], enriched: Sequence[bytes] | None
    ) -> tuple[list[list[str | None]], list[str | None], dict[int, str]]:
        """Per record: the JSON-text values (sent ones, then enrichment ones), the ``_extra`` text, refusals."""
        known, extras, refused = self.columns.known, list[str | None](), dict[int, str]()
        if not self.columns.json_text:  # the usual plan: only ``_extra``
            for i, source in zip(positions, sources, strict=True):
                try:
                    fields = _raw_fields.decode(source)
                    extras.append(None if fields.keys() <= known else _extra_text(source, fields, known))
                except (msgspec.DecodeError, TypeError, NotExact) as err:
                    refused[i] = _unreadable(err)
                    extras.append(None)
            return [], extras, refused
        sent_names = self._sent_text if enriched is not None else self.columns.json_text
        texts: list[list[str | None]] = [[] for _ in self.columns.json_text]
        for k, (i, source) in enumerate(zip(positions, sources, strict=True)):
            try:
                fields = _raw_fields.decode(source)
                values = [fields.get(name) for name in sent_names]
                if enriched is not None and self._enriched_text:
                    line_fields = _raw_fields.decode(enriched[k])
                    values += [line_fields.get(name) for name in self._enriched_text]
                extra = None if fields.keys() <= known else _extra_text(source, fields, known)
            except (msgspec.DecodeError, TypeError, NotExact) as err:
                refused[i], values, extra = _unreadable(err), [None] * len(texts), None
            for column, raw in zip(texts, values, strict=True):
                column.append(None if raw is None or bytes(raw) == b"null" else bytes(raw).decode())
            extras.append(extra)
        return texts, extras, refused


def _unreadable(err: Exception) -> str:
    if isinstance(err, NotExact):
        return err.reason
    # an Ok record's text always decodes (TypeError: its payload is not base64): these payloads are not the batch's
    return format_reason("$", "the record's text as sent cannot be read", LAKE_EXACT)


def _payload_bytes(payloads: pl.Series, rows: pl.Series, look: list[int] | None) -> pl.Series:
    """The payloads as sent (bytes) of the Ok rows at positions ``look`` (None: all), by their ``ROW`` values."""
    wanted = rows if look is None else rows.gather(look)
    sent = payloads.gather(wanted)
    return sent if sent.dtype == pl.Binary else sent.str.decode("base64", strict=False)


def _extra_text(source: bytes, fields: dict[str, msgspec.Raw], known: frozenset[str]) -> str:
    """The JSON object of the undeclared members, each key and value exactly as in ``source``."""
    if b"\\" in source:  # a key may be escaped: take each key's text from the source
        pairs = zip(_raw_keys(source, fields), fields.items(), strict=True)
        members = [key.decode() + ":" + bytes(raw).decode() for key, (name, raw) in pairs if name not in known]
    else:  # no key is escaped: each key's text is the key in quotes
        members = ['"' + name + '":' + bytes(raw).decode() for name, raw in fields.items() if name not in known]
    return "{" + ",".join(members) + "}"


def _raw_keys(source: bytes, fields: dict[str, msgspec.Raw]) -> list[bytes]:
    """Each member's key text as it stands in ``source`` (``fields`` is ``source`` decoded, in order)."""
    keys, position = [], 0
    for raw in fields.values():
        member = _KEY.match(source, position)
        value = bytes(raw)
        if member is None or source[member.end() : member.end() + len(value)] != value:
            raise NotExact("$", "the raw text of its properties cannot be read")
        keys.append(member[1])
        position = member.end() + len(value)
    return keys
