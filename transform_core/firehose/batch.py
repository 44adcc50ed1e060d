"""The batch in: a read-only view of the records of one invocation (the outcome frame out is in
:mod:`transform_core.firehose.outcomes`).

A *Firehose transformation event* is what Firehose sends its processor Lambda (Amazon Data Firehose Developer Guide,
"Transform source data in Amazon Data Firehose"): a JSON object with the strings ``invocationId``,
``deliveryStreamArn`` and ``region`` and ``records``, a list (possibly empty) of objects, each with a string
``recordId``, ``data`` (base64) and ``approximateArrivalTimestamp`` (epoch ms), and ``kinesisRecordMetadata`` (an
object) when a Kinesis stream is the source. Any other event (S3, SQS, Kinesis or API Gateway: a function wired to the
wrong trigger), or a record that is not an object with a usable ``recordId``, is refused with a ``ValueError`` saying
what is wrong. What a record carries is otherwise its own business: bad data fails that record alone
(``docs/operations.md``, "Events the function refuses").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter, methodcaller
from typing import Any

import polars as pl

__all__ = ["NOT_A_FIREHOSE_EVENT", "RecordBatch", "parse_arrival", "plausible_arrival"]

#: How every refusal of an event that is not a Firehose transformation event begins.
NOT_A_FIREHOSE_EVENT = "not a Firehose transformation event"


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """The records of one invocation, column by column.

    Attributes:
        record_ids: Firehose recordIds, in input order.
        data: each record's base64 payload, as sent (not yet decoded: a bad one is the record's problem).
        arrival_ms: approximate arrival time in epoch milliseconds, or None when the event has none.

    A value of ``data`` that is not a string UTF-8 can hold (absent, a number, a lone surrogate such as ``"\\ud800"``
    in an event's JSON) is replaced by ``""`` when the batch is made: that record fails alone, as not JSON. A recordId
    that is not such a string is a ``ValueError``: the response could not name the record (Firehose always sends
    string ids, so the event is not one of Firehose's).
    """

    record_ids: list[str]
    data: list[str]
    arrival_ms: list[int | None]
    _source: pl.Series = field(init=False, compare=False, repr=False)
    _ids: pl.Series = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        ids = _string_column("record_id", self.record_ids)
        if ids is None:  # the response could not name the record
            i, value = next((i, v) for i, v in enumerate(self.record_ids) if not _usable(v))
            raise ValueError(f"{NOT_A_FIREHOSE_EVENT}: record {i} has recordId {value!r}; Firehose sends UTF-8 strings")
        object.__setattr__(self, "_ids", ids)
        source = _string_column("_source", self.data)
        if source is None:  # a record without usable data fails, alone
            object.__setattr__(self, "data", [d if _usable(d) else "" for d in self.data])
            source = pl.Series("_source", self.data, dtype=pl.String)
        object.__setattr__(self, "_source", source)

    def __len__(self) -> int:
        return len(self.record_ids)

    def data_column(self) -> pl.Series:
        """``data`` as a String Series named ``_source`` (built, and checked, when the batch was made)."""
        return self._source

    def id_column(self) -> pl.Series:
        """``record_ids`` as a String Series named ``record_id`` (built, and checked, when the batch was made)."""
        return self._ids

    @classmethod
    def from_firehose_event(cls, event: Mapping[str, Any]) -> RecordBatch:
        """View a Firehose transformation event (direct PUT or Kinesis-stream source).

        Raises:
            ValueError: ``event`` is not a Firehose transformation event (see the module's notes), or a recordId is
                not a string (see the class's notes). Bad *data* never raises.
        """
        records = event.get("records") if isinstance(event, Mapping) else None
        if type(records) is not list or not all(type(event.get(name)) is str for name in _ENVELOPE):
            raise ValueError(_not_an_event(event))
        try:
            record_ids = list(map(_RECORD_ID, records))  # map with a C getter: no Python frame per record
        except (KeyError, TypeError):
            raise ValueError(_bad_record(records)) from None
        try:
            data = list(map(_DATA, records))
        except KeyError:
            data = [r.get("data") for r in records]
        # the checks below are C-level passes (map, set, min, max): no Python frame per record
        try:
            arrival = list(map(_ARRIVAL, records))  # a C getter: no Python call per record, as .get would be
        except KeyError:
            arrival = list(map(_ARRIVAL_OR_NONE, records))
        # Firehose sends epoch milliseconds; anything else (Kinesis metadata, ISO text) takes the slow path
        if arrival and not (
            set(map(type, arrival)) == {int} and min(arrival) >= -_ARRIVAL_BOUND_MS and max(arrival) <= _ARRIVAL_BOUND_MS
        ):
            arrival = [_arrival_ms(i, r) for i, r in enumerate(records)]
        return cls(record_ids=record_ids, data=data, arrival_ms=arrival)

    @classmethod
    def from_event_bytes(cls, body: bytes) -> RecordBatch:
        """View a Firehose transformation event from its raw JSON bytes, as a custom runtime receives it.

        The result is exactly ``from_firehose_event(json.loads(body))``; a typed decode of the three needed fields
        answers for ordinary events, faster; anything unusual takes that general path.

        Raises:
            ValueError: the body is not JSON, or not a Firehose transformation event, with the message
                :meth:`from_firehose_event` gives. Bad *data* never raises.
        """
        import json  # imported here: this classmethod is the only part of the module that reads bytes

        from transform_core.firehose.event_bytes import read_columns

        columns = read_columns(body)
        if columns is not None:
            return cls(record_ids=columns.record_ids, data=columns.data, arrival_ms=columns.arrival_ms)
        try:
            event = json.loads(body)  # the managed Python runtime parses with a json-compatible library
        except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ValueError(f"Firehose event body is not JSON: {err}") from err
        return cls.from_firehose_event(event)


_ARRIVAL_BOUND_MS = 10**15  # beyond year ~33,000: garbage, read as absent (and ms * 1000 stays in int64)
_RECORD_ID = itemgetter("recordId")
_DATA = itemgetter("data")
_ARRIVAL = itemgetter("approximateArrivalTimestamp")
_ARRIVAL_OR_NONE = methodcaller("get", "approximateArrivalTimestamp")
_ENVELOPE = ("invocationId", "deliveryStreamArn", "region")  # with records, what every Firehose event carries
_PROCESSOR = "this function must be the delivery stream's processor"
_KEYS_SHOWN = 12


def _not_an_event(event: Any) -> str:
    """What makes ``event`` no Firehose transformation event, with its keys (an S3 or SQS event's ``Records``)."""
    if not isinstance(event, Mapping):
        return f"{NOT_A_FIREHOSE_EVENT}: the event is {_kind(event)}, not a JSON object; {_PROCESSOR}"
    wanted = {"records": ("list", list), **{name: ("string", str) for name in _ENVELOPE}}
    problems = []
    for name, (noun, kind) in wanted.items():
        if name not in event:
            problems.append(f'no "{name}" {noun}')
        elif type(event[name]) is not kind:
            problems.append(f'"{name}" is {_kind(event[name])}, not a {noun}')
    keys = [str(k)[:40] for k in list(event)[:_KEYS_SHOWN]] + (["..."] if len(event) > _KEYS_SHOWN else [])
    return f"{NOT_A_FIREHOSE_EVENT}: {'; '.join(problems)} (keys: {', '.join(keys) or 'none'}); {_PROCESSOR}"


def _bad_record(records: list[Any]) -> str:
    """The first record that is not an object with a recordId, named by its index."""
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            return f"{NOT_A_FIREHOSE_EVENT}: record {i} is {_kind(record)}, not an object"
        if "recordId" not in record:
            return f"{NOT_A_FIREHOSE_EVENT}: record {i} has no recordId; Firehose sends one with every record"
    raise AssertionError("every record has a recordId")  # only called when one has not


def _kind(value: Any) -> str:
    """A value's JSON kind, with its article: ``an array``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    return "an array" if isinstance(value, list | tuple) else f"a Python {type(value).__name__}"


def _string_column(name: str, values: list[Any]) -> pl.Series | None:
    """``values`` as a String Series, or None if one is not a string UTF-8 can hold.

    Polars' strict build checks each value's type as it copies it, where a check of its own was one more pass over
    a 5 MB event's 9,000 strings: it refuses any other type and a lone surrogate, and takes None as null.
    """
    try:
        column = pl.Series(name, values, dtype=pl.String)
    except (TypeError, UnicodeEncodeError):
        return None
    return None if column.has_nulls() else column


def _usable(value: Any) -> bool:
    """A string UTF-8 can hold (not a lone surrogate)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _arrival_ms(index: int, record: Mapping[str, Any]) -> int | None:
    """Arrival time in epoch ms: Firehose's own field, else the Kinesis metadata's (ms or ISO).

    Raises:
        ValueError: the Kinesis metadata it needs is not an object (record ``index`` is named).
    """
    value = record.get("approximateArrivalTimestamp")
    if value is None:
        metadata = record.get("kinesisRecordMetadata") or {}
        if not isinstance(metadata, Mapping):
            raise ValueError(
                f"{NOT_A_FIREHOSE_EVENT}: record {index}'s kinesisRecordMetadata is {_kind(metadata)}, not an object"
            )
        value = metadata.get("approximateArrivalTimestamp")
    if value is None or isinstance(value, bool):
        return None
    return plausible_arrival(parse_arrival(value))


def plausible_arrival(ms: int | None) -> int | None:
    """Arrival times beyond ±10^15 ms (year ~33,000) are garbage; treat them as absent."""
    return ms if ms is not None and -_ARRIVAL_BOUND_MS <= ms <= _ARRIVAL_BOUND_MS else None


def parse_arrival(value: Any) -> int | None:
    if isinstance(value, int | float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            return int(number) if math.isfinite(number) else None
        try:
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        if stamp.tzinfo is None:
            return None
        return int(stamp.timestamp() * 1000)
    return None
