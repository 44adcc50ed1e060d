"""``msgspec``: msgspec per record, the fastest per-record handler measured.

Per record: strict base64 (binascii), ``msgspec.json.Decoder`` into a hand-written constrained
Struct (Literal enums, Meta bounds and lengths, patterns), ``datetime.fromisoformat`` for the event
time and any ``date`` field (the calendar check a pattern cannot make), a dict lookup for
enrichment, the output built with orjson and base64-encoded, and the whole response returned as
orjson bytes (which the runtime posts unchanged, as a tuned handler would). The Structs hard-code the benchmark
schemas (see ``_msgspec_types``); for any other spec this contender is not applicable.

Output text: orjson writes non-ASCII as UTF-8 and tiny floats as ``1e-6``; producers using
``json.dumps`` sent ``\\u00e9`` escapes, which the engine keeps. A record whose payload holds a
``\\u`` escape is re-encoded with the json module instead, which writes the same text it was sent as.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import orjson

from benchmarks.peers import NotApplicable
from benchmarks.peers._config import read_config
from benchmarks.peers._msgspec_types import IotEvent, WideEvent

__all__ = ["make_handler"]

#: Spec name -> (Struct, names of ``format: date`` fields).
TYPES: dict[str, tuple[type[msgspec.Struct], tuple[str, ...]]] = {
    "iot-telemetry": (IotEvent, ()),
    "wide-telemetry": (WideEvent, ("event_date",)),
}


def make_handler(spec_path: str) -> Callable[[dict[str, Any]], bytes]:
    """A per-record handler for one of the benchmark specs.

    Raises:
        NotApplicable: no hand-written Struct for this spec.
    """
    config = read_config(spec_path)
    if config.name not in TYPES:
        raise NotApplicable(f"the msgspec contender has no Struct for spec {config.name!r}")
    struct, date_fields = TYPES[config.name]
    decode = msgspec.json.Decoder(struct).decode
    to_builtins = msgspec.to_builtins
    table, fields, key_field = config.table, config.enrich_fields, config.key_field
    missing = (None,) * len(fields)
    keys, time_field = config.partition_keys, config.event_time_field
    drop_field, drop_values = config.drop_field, config.drop_values
    a2b, b2a = binascii.a2b_base64, binascii.b2a_base64
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE

    def transform(record: dict[str, Any]) -> dict[str, Any]:
        data = record["data"]
        out = {"recordId": record["recordId"], "result": "ProcessingFailed", "data": data}
        try:
            payload = a2b(data, strict_mode=True)
            event = decode(payload)
            for name in date_fields:
                date.fromisoformat(getattr(event, name))
            utc = datetime.fromisoformat(getattr(event, time_field).upper()).astimezone(UTC)
        except (binascii.Error, ValueError, OverflowError):  # msgspec.DecodeError is a ValueError
            return out
        if drop_field is not None and getattr(event, drop_field) in drop_values:
            out["result"] = "Dropped"
            return out
        value = to_builtins(event)
        if key_field is not None:
            value.update(zip(fields, table.get(getattr(event, key_field), missing), strict=True))
        escaped = b"\\u" in payload  # json.dumps writes the producer's \u escapes again; orjson writes UTF-8
        text = (json.dumps(value, separators=(",", ":")) + "\n").encode() if escaped else dumps(value, option=newline)
        out["result"] = "Ok"
        out["data"] = b2a(text, newline=False).decode()
        parts = (f"{utc.year:04d}", f"{utc.month:02d}", f"{utc.day:02d}", f"{utc.hour:02d}")
        out["metadata"] = {"partitionKeys": dict(zip(keys, parts, strict=False))}
        return out

    def handler(event: dict[str, Any]) -> bytes:
        return dumps({"records": [transform(record) for record in event["records"]]})

    return handler
