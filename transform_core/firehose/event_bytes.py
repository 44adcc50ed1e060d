"""Raw Firehose event bytes → the columns of a :class:`~transform_core.firehose.batch.RecordBatch`, without a dict per record.

A custom runtime receives the event as JSON bytes. Parsing them into dicts (what the managed runtime does before
the handler runs) and then reading three fields per record costs several times what a typed msgspec decode of just
those fields does. The typed decode is only a *fast path*: it answers when the answer
is certainly the one ``RecordBatch.from_firehose_event(json.loads(body))`` gives, and returns None otherwise,
leaving odd events (null or non-string fields, float or out-of-range arrival times, records without their own
arrival time, BOMs, UTF-16 bodies, ``NaN`` literals, lone surrogates) to that general path.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Annotated, NamedTuple

import msgspec

__all__ = ["EventColumns", "read_columns"]

# Arrival times beyond ±10^15 ms are treated as absent by the general path: leave them to it.
_ArrivalMs = Annotated[int, msgspec.Meta(ge=-(10**15), le=10**15)]


class _Record(msgspec.Struct, gc=False):  # only str and int fields: no cycles, so no GC tracking
    recordId: str
    approximateArrivalTimestamp: _ArrivalMs  # required: without it the Kinesis metadata's counts, a general-path job
    data: str = ""  # absent data is "" on the general path too


class _Event(msgspec.Struct, gc=False):  # a Firehose event's envelope: without it, the general path refuses the event
    invocationId: str
    deliveryStreamArn: str
    region: str
    records: list[_Record]


_DECODER = msgspec.json.Decoder(_Event)


class EventColumns(NamedTuple):
    """The three columns a batch needs, in record order."""

    record_ids: list[str]
    data: list[str]
    arrival_ms: list[int | None]


def read_columns(body: bytes) -> EventColumns | None:
    """Read the record columns of a Firehose event, or None when only the general (``json.loads``) path can say.

    None never means the event is bad, only that this fast path cannot vouch for the answer: an event that is not a
    Firehose transformation event (no ``records`` list or envelope string missing) gets None, and the general path
    refuses it with its message.
    """
    if not body.isascii():
        try:
            # json.loads rejects invalid UTF-8 anywhere, msgspec only in the fields it keeps
            body.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return None
    try:
        records = _DECODER.decode(body).records
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # ValidationError is a DecodeError
        return None
    arrival: list[int | None] = list(map(_ARRIVAL, records))  # map with C getters: no Python frame per record
    return EventColumns(list(map(_RECORD_ID, records)), list(map(_DATA, records)), arrival)


_RECORD_ID, _DATA, _ARRIVAL = attrgetter("recordId"), attrgetter("data"), attrgetter("approximateArrivalTimestamp")
