"""``msgspec-lean``: the leanest exact per-record msgspec handler, about twenty lines a skilled engineer would write.

Per record: strict base64 (binascii), ``msgspec.json.Decoder`` into the same constrained Struct as ``msgspec``
(subclassed with the enrichment fields, unset until set), ``datetime.fromisoformat`` for the calendar, the enrichment
fields set on the struct from a dict lookup, ``msgspec.json.encode`` of the struct itself (no ``to_builtins``, no
second serializer), and the whole response encoded by msgspec as bytes. Against ``msgspec`` it skips the dict a
record becomes and orjson. A payload holding a ``\\u`` escape is the one exception: msgspec writes UTF-8, the engine
keeps the escape, so that rare record is re-encoded with the json module to stay exact.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import msgspec

from benchmarks.peers import NotApplicable
from benchmarks.peers._config import read_config
from benchmarks.peers.msgspec import TYPES

__all__ = ["make_handler"]


def _enriched(struct: type[msgspec.Struct], fields: tuple[str, ...]) -> type[msgspec.Struct]:
    """``struct`` with the enrichment fields appended, omitted from the output until set (UNSET)."""
    extra = [(name, str | None | msgspec.UnsetType, msgspec.UNSET) for name in fields]
    return msgspec.defstruct(f"Enriched{struct.__name__}", extra, bases=(struct,), kw_only=True)


def make_handler(spec_path: str) -> Callable[[dict[str, Any]], bytes]:
    """A per-record handler for one of the benchmark specs.

    Raises:
        NotApplicable: no hand-written Struct for this spec.
    """
    config = read_config(spec_path)
    if config.name not in TYPES:
        raise NotApplicable(f"the msgspec-lean contender has no Struct for spec {config.name!r}")
    base, date_fields = TYPES[config.name]
    fields, table, key_field, time_field = config.enrich_fields, config.table, config.key_field, config.event_time_field
    decode, encode = msgspec.json.Decoder(_enriched(base, fields)).decode, msgspec.json.Encoder().encode
    missing, keys = (None,) * len(fields), config.partition_keys
    drop_field, drop_values = config.drop_field, config.drop_values
    a2b, b2a = binascii.a2b_base64, binascii.b2a_base64

    def transform(record: dict[str, Any]) -> dict[str, Any]:
        data = record["data"]
        try:
            payload = a2b(data, strict_mode=True)
            event = decode(payload)
            for name in date_fields:
                date.fromisoformat(getattr(event, name))
            utc = datetime.fromisoformat(getattr(event, time_field).upper()).astimezone(UTC)
        except (binascii.Error, ValueError, OverflowError):  # msgspec.DecodeError is a ValueError
            return {"recordId": record["recordId"], "result": "ProcessingFailed", "data": data}
        if drop_field is not None and getattr(event, drop_field) in drop_values:
            return {"recordId": record["recordId"], "result": "Dropped", "data": data}
        if key_field is not None:
            for name, value in zip(fields, table.get(getattr(event, key_field), missing), strict=True):
                setattr(event, name, value)
        if b"\\u" in payload:  # keep the producer's escapes, as the engine does
            text = json.dumps(msgspec.to_builtins(event), separators=(",", ":")).encode() + b"\n"
        else:
            text = encode(event) + b"\n"
        parts = (f"{utc.year:04d}", f"{utc.month:02d}", f"{utc.day:02d}", f"{utc.hour:02d}")
        metadata = {"partitionKeys": dict(zip(keys, parts, strict=False))}
        return {"recordId": record["recordId"], "result": "Ok", "data": b2a(text, newline=False).decode(), "metadata": metadata}

    def handler(event: dict[str, Any]) -> bytes:
        return encode({"records": [transform(record) for record in event["records"]]})

    return handler
