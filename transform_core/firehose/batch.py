"""The batch in: a read-only view of the records of one invocation (the outcome frame out is in
:mod:`transform_core.firehose.outcomes`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter, methodcaller
from typing import Any

import polars as pl

__all__ = ["RecordBatch", "parse_arrival", "plausible_arrival"]


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
            raise ValueError(f"not a Firehose event: record {i} has recordId {value!r}; Firehose sends UTF-8 strings")
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
            ValueError: a recordId is not a string (see the class's notes). Bad *data* never raises.
        """
        records = event.get("records") or []
        record_ids = list(map(_RECORD_ID, records))  # map with a C getter: no Python frame per record
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
            arrival = [_arrival_ms(r) for r in records]
        return cls(record_ids=record_ids, data=data, arrival_ms=arrival)

    @classmethod
    def from_event_bytes(cls, body: bytes) -> RecordBatch:
        """View a Firehose transformation event from its raw JSON bytes, as a custom runtime receives it.

        The result is exactly ``from_firehose_event(json.loads(body))``; a typed decode of the three needed fields
        answers for ordinary events, faster; anything unusual takes that general path.

        Raises:
            ValueError: the body is not JSON, or not a Firehose event (not an object; a record that is not an
                object, or has no recordId or one that is not a string; Kinesis metadata that is not an object). Bad
                *data* never raises.
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
        if not isinstance(event, dict):
            kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(event), "a number")
            raise ValueError(f"Firehose event body is {kind}, not a JSON object")
        try:
            return cls.from_firehose_event(event)
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"not a Firehose event: each record must be an object with a recordId ({err!r})") from err


_ARRIVAL_BOUND_MS = 10**15  # beyond year ~33,000: garbage, read as absent (and ms * 1000 stays in int64)
_RECORD_ID = itemgetter("recordId")
_DATA = itemgetter("data")
_ARRIVAL = itemgetter("approximateArrivalTimestamp")
_ARRIVAL_OR_NONE = methodcaller("get", "approximateArrivalTimestamp")


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


def _arrival_ms(record: Mapping[str, Any]) -> int | None:
    """Arrival time in epoch ms: Firehose's own field, else the Kinesis metadata's (ms or ISO)."""
    value = record.get("approximateArrivalTimestamp")
    if value is None:
        value = (record.get("kinesisRecordMetadata") or {}).get("approximateArrivalTimestamp")
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
