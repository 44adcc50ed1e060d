"""The contenders: transform-core and the per-record handlers users would write instead.

Each module exposes ``make_handler(spec_path) -> Callable[[dict], dict | bytes]``: the handler takes
a parsed Firehose event (as the managed runtime hands it over) and returns the Firehose response,
a dict (the runtime serializes it) or JSON bytes (posted unchanged). See ``docs/benchmarks.md``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["CONTENDERS", "Handler", "NotApplicable", "make_handler"]

Handler = Callable[[dict[str, Any]], "dict[str, Any] | bytes"]

#: Contender name -> module under benchmarks.peers; table order.
CONTENDERS: dict[str, str] = {
    "transform-core": "engine",
    "A blueprint": "peer_a_blueprint",
    "B reference": "peer_b_reference",
    "E msgspec": "peer_e_msgspec",
}


class NotApplicable(Exception):
    """The contender has no handler for this spec (E hard-codes its schemas)."""


def make_handler(contender: str, spec_path: str) -> Handler:
    """Import the contender's module (only then: imports are part of its cold start) and build a handler."""
    module = importlib.import_module(f"benchmarks.peers.{CONTENDERS[contender]}")
    handler: Handler = module.make_handler(spec_path)
    return handler
