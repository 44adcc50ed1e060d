"""What the records' text says before any record is read: Polars queries run while the records are decoded.

Each record's key count (``":`` in its text), the rows holding whitespace, those that may hold non-ASCII, those
that may nest too deep, and, when many rows hold whitespace, those where it may sit between tokens: as few queries
as can find them (each further query has a fixed cost whatever the batch size, which a 500-record batch feels),
run by Polars' threads alongside the decode (see :mod:`transform_core.engine.overlap`).
"""

from __future__ import annotations

import re
from itertools import compress
from typing import NamedTuple

import polars as pl

from transform_core.engine.overlap import Pending, query_in_background
from transform_core.schema.nesting import MAX_DEPTH, MIN_DEEP_LENGTH
from transform_core.tuning import Tuning

__all__ = ["BETWEEN_TOKENS", "KEY_GAP", "Spaced", "TextFlags", "TextQueries"]


class Spaced(NamedTuple):
    """Of the rows holding whitespace, those where it may sit between tokens (their text needs minifying), and of
    those the ones where it may sit between a key and its colon (their keys need counting again, minified)."""

    rows: list[int]
    key_gaps: list[int]


class TextFlags(NamedTuple):
    """What the queries found; rows are the batch's rows, whether or not their record decoded."""

    key_counts: list[int | None]  # ``":`` in each text: its keys at every depth (null where there is no text)
    whitespace: list[int]  # rows whose text holds whitespace
    non_ascii: list[int]  # rows whose text may hold a non-ASCII character (raw, or escaped)
    deep: list[int]  # rows long enough, with enough opening brackets, to nest deeper than the limit
    spaced: Spaced | None  # for many rows with whitespace, where it sits (else the screen searches the few)


class TextQueries:
    """The queries over one batch's text, started when made.

    The second query (where the whitespace sits, when many rows hold some) needs the first's result: the decode
    calls :meth:`poll` between chunks of records, which starts it as soon as the first is done (on a 5 MB event
    both are done about when the decode is); :meth:`result` waits.
    """

    def __init__(self, text: pl.Series, tuning: Tuning) -> None:
        self._text, self._tuning = text, tuning
        self._background = len(text) >= tuning.overlap_from
        query = text.to_frame("text").lazy().select_seq(**_FLAGS)
        self._first = query_in_background(query, _first_row, background=self._background)
        self._found: _FirstRow | None = None
        self._second: Pending[Spaced] | None = None

    def poll(self) -> None:
        """Start the second query if the first is done (and asks for it); never waits."""
        if self._found is None and self._first.done():
            self._start_second(background=self._background)

    def result(self) -> TextFlags:
        """Every flag, waiting for the queries."""
        if self._found is None:
            self._start_second(background=False)  # run now: the result is wanted
        assert self._found is not None
        spaced = None if self._second is None else self._second.result()
        return TextFlags(*self._found, spaced=spaced)

    def _start_second(self, *, background: bool) -> None:
        self._found = found = self._first.result()
        whitespace = found.whitespace
        if len(whitespace) > self._tuning.spaced_search_in_polars_above:
            query = _spaced_query(self._text, whitespace)
            self._second = query_in_background(query, lambda frame: _spaced_from(frame, whitespace), background=background)


class _FirstRow(NamedTuple):
    key_counts: list[int | None]
    whitespace: list[int]
    non_ascii: list[int]
    deep: list[int]


def _first_row(frame: pl.DataFrame) -> _FirstRow:
    return _FirstRow(*frame.row(0))


_TEXT = pl.col("text")
_LONG = _TEXT.str.len_bytes() >= MIN_DEEP_LENGTH
_FLAGS = {  # built once: building expressions holds the GIL
    "keys": _TEXT.str.count_matches('":').implode(),  # null where there is no text; a regex counts faster than a literal
    "whitespace": _TEXT.str.contains(r"[ \t\n\r]").arg_true().implode(),
    # an escape can hide a non-ASCII character in ASCII text
    "non_ascii": ((_TEXT.str.len_bytes() != _TEXT.str.len_chars()) | _TEXT.str.contains("\\", literal=True)).arg_true().implode(),
    # nesting.may_nest_too_deep's test in Polars: brackets counted in the long texts only (none in a typical batch)
    "deep": pl.int_range(pl.len()).filter(_LONG).filter(_TEXT.filter(_LONG).str.count_matches(r"[\[{]") > MAX_DEPTH).implode(),
}

# Whitespace between two JSON tokens always touches a structural character (two scalars are never adjacent)
# or an end of the text (a decoded record is an object: ``{`` … ``}`` unless padded), so a space inside a
# string value ("Saint Etienne") needs no minifying. Strings holding ", " or ": " match too: minifying
# them is merely unnecessary, never wrong.
BETWEEN_TOKENS = re.compile(rb"[{}\[\],:][ \t\n\r]|[ \t\n\r][{}\[\],:]")
# Whitespace between a key and its colon follows a quote; a text without a quote followed by whitespace has as
# many `":` as its minified form
KEY_GAP = re.compile(rb'"[ \t\n\r]')
_KEY_GAP_STARTS = ['" ', '"\t', '"\n', '"\r']


def _spaced_query(text: pl.Series, whitespace: list[int]) -> pl.LazyFrame:
    """Of many rows holding whitespace, those where it may sit between tokens, and those where it may sit between
    a key and its colon: two Boolean columns, for :func:`_spaced_from`."""
    value = pl.col("text")
    between = value.str.contains(BETWEEN_TOKENS.pattern.decode()) | ~value.str.starts_with("{") | ~value.str.ends_with("}")
    # four literal searches: faster than one regex or Aho-Corasick search led by a quote
    gap = pl.any_horizontal([value.str.contains(g, literal=True) for g in _KEY_GAP_STARTS])
    return text.gather(whitespace).to_frame("text").lazy().select_seq(between=between, gap=gap)


def _spaced_from(frame: pl.DataFrame, whitespace: list[int]) -> Spaced:
    rows, gaps = frame.get_columns()
    return Spaced(list(compress(whitespace, rows.to_list())), list(compress(whitespace, gaps.to_list())))
