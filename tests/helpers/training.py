"""Training-set test helpers: a schema with every column kind an export meets, and records over several days."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 11, 24, tzinfo=UTC)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ts": {"type": "string", "format": "date-time"},
        "n": {"type": "number"},
        "i": {"type": "integer"},
        "b": {"type": "boolean"},
        "note": {"type": "string"},
        "point": {"type": "object", "properties": {"x": {"type": "number"}}},
    },
    "required": ["ts"],
}


def record(k: int, *, target: bool = True) -> str:
    """Record ``k``: 73 minutes after the one before; every 5th without ``i``, ``n`` only when ``target``."""
    value: dict[str, Any] = {"ts": f"{START + timedelta(minutes=73 * k):%Y-%m-%dT%H:%M:%SZ}", "b": k % 3 == 0}
    value |= {"n": k * 0.5 - 3.25} if target else {}
    value |= {"i": k - 20} if k % 5 else {}
    value |= {"note": f"r{k}", "point": {"x": k / 4}}
    return json.dumps(value)
