"""What each line of an input is: a record, values concatenated on one line, or a failed record to replay.

A line is decided on its own (``kind=`` forces one reading for the whole input):

- a Firehose ``processing-failed`` line: a JSON object with a string ``rawData``, ``attemptsMade`` and an error code
  or message (``errorCode``/``errorMessage``, or the ``lastErrorCode``/``ErrorCode`` spellings of Firehose's other
  failure records); its ``rawData`` is replayed as a new record;
- a transform-core ``errors`` line: a JSON object with a string ``rawData``, a string ``recordId`` and a ``reason``;
  its ``rawData`` is replayed under its ``recordId``, owned by its ``input`` (16 hex characters) when it names one;
- anything else is a record: as it is, or, when it starts with two or more JSON objects or arrays written back to
  back (``{..}{..}``, as in Firehose's S3 backups), each of them, then the rest of the line, if any, as one more.

Telling these apart takes scans of each piece at C speed (for ``"rawData"``, and for a ``}`` or ``]`` followed by a
``{`` or ``[``); only the lines they point at are parsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import chain
from typing import Any, Literal, NamedTuple, get_args

import msgspec

from transform_core.firehose.batch import parse_arrival, plausible_arrival

__all__ = ["KINDS", "Fields", "InputKind", "Replay", "flagged_lines", "parse_object", "replay", "split_values"]

InputKind = Literal["ndjson", "firehose-backup", "processing-failed", "errors"]
KINDS: tuple[str, ...] = get_args(InputKind)

JSON_SPACE = b" \t\r"  # JSON's whitespace within a line; \x0b and \x0c are not
RAW_DATA = b'"rawData"'
# where one value ends and the next begins; two scans led by a literal run several times faster than one led by a class
_BOUNDARIES = (re.compile(rb"}[ \t\r]*[{\[]"), re.compile(rb"][ \t\r]*[{\[]"))
_INPUT_ID = re.compile(r"[0-9a-f]{16}")
_VALUE = re.compile(r"[^ \t\r]")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)


class Replay(NamedTuple):
    """A failed record's line, to be replayed: its kind, data, arrival time, and for ``errors`` its id and owner."""

    kind: InputKind
    data: str
    arrival: int | None
    record_id: str | None
    owner: str | None


def flagged_lines(lines: list[bytes], piece: bytes, kind: InputKind | None) -> list[int]:
    """Indexes of the lines that may not be one plain record, sorted; the others are records as they are.

    ``piece`` holds every line but the first (see :func:`~transform_core.jobs.streams.line_blocks`), which is scanned
    on its own. ``kind`` None looks for both signs, ``firehose-backup`` for concatenated values only.
    """
    if kind in ("ndjson", "processing-failed", "errors"):
        return []
    hits: list[int] = []
    for pattern in _BOUNDARIES:
        hits += [match.start() for match in pattern.finditer(piece)]
    if kind is None:
        start = 0
        while (found := piece.find(RAW_DATA, start)) >= 0:
            hits.append(found)
            start = found + len(RAW_DATA)
    flagged = {0} if lines and _flagged(lines[0], kind) else set()
    line = position = 0
    for hit in sorted(hits):
        line += piece.count(b"\n", position, hit)
        position = hit
        if line < len(lines):  # past the last newline: the next block's first line, scanned then
            flagged.add(line)
    return sorted(flagged)


def _flagged(line: bytes, kind: InputKind | None) -> bool:
    return any(pattern.search(line) for pattern in _BOUNDARIES) or (kind is None and RAW_DATA in line)


class Fields(msgspec.Struct):
    """The top-level fields of a JSON object line that tell failed records apart; UNSET where the line has none.

    Decoding into it builds these values only: the line's other values are checked and skipped, so a large record
    costs no object tree.
    """

    rawData: Any = msgspec.UNSET
    recordId: Any = msgspec.UNSET
    reason: Any = msgspec.UNSET
    input: Any = msgspec.UNSET
    attemptsMade: Any = msgspec.UNSET
    errorCode: Any = msgspec.UNSET
    errorMessage: Any = msgspec.UNSET
    lastErrorCode: Any = msgspec.UNSET
    lastErrorMessage: Any = msgspec.UNSET
    ErrorCode: Any = msgspec.UNSET
    ErrorMessage: Any = msgspec.UNSET
    approximateArrivalTimestamp: Any = msgspec.UNSET
    arrivalTimestamp: Any = msgspec.UNSET

    def firehose_error(self) -> bool:
        """Whether it has ``attemptsMade`` and an error code or message, as Firehose's failure records do."""
        codes = (self.errorCode, self.errorMessage, self.lastErrorCode, self.lastErrorMessage, self.ErrorCode, self.ErrorMessage)
        return self.attemptsMade is not msgspec.UNSET and any(code is not msgspec.UNSET for code in codes)


_FIELDS = msgspec.json.Decoder(Fields)


def parse_object(line: bytes) -> Fields | None:
    """The fields of a JSON object line that tell failed records apart; None when the line is not one JSON object."""
    try:
        return _FIELDS.decode(line)
    except (msgspec.DecodeError, RecursionError):  # a ValidationError (not an object) is a DecodeError too
        return None


def replay(fields: Fields | None, kind: InputKind | None) -> Replay | None:
    """The failed record a line holds, or None when the line is a record itself.

    With ``kind`` None the line's fields decide; ``processing-failed`` and ``errors`` replay any object with a string
    ``rawData``.
    """
    if fields is None or not isinstance(data := fields.rawData, str):
        return None
    record_id, owner = fields.recordId, fields.input
    if kind == "errors" or (kind is None and isinstance(record_id, str) and fields.reason is not msgspec.UNSET):
        return Replay(
            "errors",
            data,
            _arrival(fields),
            record_id if isinstance(record_id, str) else None,
            owner if isinstance(owner, str) and _INPUT_ID.fullmatch(owner) else None,
        )
    if kind == "processing-failed" or (kind is None and fields.firehose_error()):
        return Replay("processing-failed", data, _arrival(fields), None, None)
    return None


def split_values(line: bytes) -> Iterator[bytes] | None:
    """The values a line holds, when it starts with two or more objects or arrays back to back; else None.

    The objects and arrays come first, then what follows the last of them (from its first non-blank byte to the end
    of the line), if anything does, as one more value. They are found as they are read, so a long line is not held
    twice over; its text is.
    """
    try:
        text = line.decode()
    except UnicodeDecodeError:
        return None
    spans = _spans(text)
    first, second = next(spans, None), next(spans, None)
    if first is None or second is None or not second[2]:
        return None
    if len(text) == len(line):  # ASCII: character offsets are byte offsets
        return (line[start:end] for start, end, _ in chain((first, second), spans))
    return (text[start:end].encode() for start, end, _ in chain((first, second), spans))


def _spans(text: str) -> Iterator[tuple[int, int, bool]]:
    """Where each leading object or array starts and ends (True), then where the rest of the line does (False)."""
    index = 0
    while (value := _VALUE.search(text, index)) is not None:
        start = value.start()
        try:
            if text[start] not in "{[":
                raise ValueError("not an object or array")
            _, index = _DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):  # the rest of the line, whatever it is, is one more value
            yield start, len(text), False
            return
        yield start, index, True


def _arrival(fields: Fields) -> int | None:
    value = fields.approximateArrivalTimestamp
    if value is msgspec.UNSET:
        value = fields.arrivalTimestamp
    return None if value is msgspec.UNSET or value is None or isinstance(value, bool) else plausible_arrival(parse_arrival(value))
