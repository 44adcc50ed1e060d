"""The contenders: the engine, behind the managed runtime and behind its own loop, and the per-record handlers
users would write instead.

Each contender's module is named after it (``engine-raw`` in ``engine_raw.py``) and exposes ``make_handler(spec_path)``.
Its handler takes a parsed Firehose event (as the managed runtime hands it over) and returns the Firehose response, a
dict (the runtime serializes it) or JSON bytes (posted unchanged); ``engine-raw``'s takes the event's bytes. See
``docs/benchmarks.md``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["CONTENDERS", "Handler", "NotApplicable", "RawEventHandler", "call", "make_handler"]


class RawEventHandler:
    """A handler that takes the event's raw bytes, as a custom runtime loop receives them (no runtime parse)."""

    def __init__(self, handle: Callable[[bytes], bytes]) -> None:
        self.handle = handle

    def __call__(self, body: bytes) -> bytes:
        return self.handle(body)


Handler = Callable[[dict[str, Any]], "dict[str, Any] | bytes"] | RawEventHandler

#: Contender name -> module under benchmarks.peers; table order.
CONTENDERS: dict[str, str] = {
    "engine": "engine",  # the pipeline behind the managed runtime, as the Lambda adapter runs it
    "engine-raw": "engine_raw",  # the same pipeline behind its own Runtime API loop: raw event bytes in
    "blueprint": "blueprint",  # the AWS blueprint style: stdlib json, jsonschema
    "reference": "reference",  # the engine's per-record reference implementation (the differential tests' oracle)
    "msgspec": "msgspec",  # a tuned per-record handler: msgspec Structs, orjson
    "msgspec-lean": "msgspec_lean",  # the leanest exact per-record handler: a Struct decoded and encoded by msgspec
}


class NotApplicable(Exception):
    """The contender has no handler for this spec (``msgspec`` hard-codes its schemas)."""


def make_handler(contender: str, spec_path: str) -> Handler:
    """Import the contender's module (only then: imports are part of its cold start) and build a handler."""
    module = importlib.import_module(f"benchmarks.peers.{CONTENDERS[contender]}")
    handler: Handler = module.make_handler(spec_path)
    return handler


def call(handler: Handler, event: dict[str, Any], event_bytes: bytes) -> dict[str, Any] | bytes:
    """The handler's response to an event given both ways: a raw-event handler gets the bytes."""
    return handler(event_bytes) if isinstance(handler, RawEventHandler) else handler(event)
