"""Records at the edges of what a spec expects, found by a random-spec fuzz (2026-11-27): judged as the reference
judges them, and never failing their batch.

- An empty object, enriched, came back as ``{,"band":null}``: the engine writes an Ok record's members before its
  closing brace, after a comma. Empty objects are now written by the reference.
- A drop field holding an object or an array made the reference look it up among the drop values, and fail the
  whole batch (``TypeError: unhashable type``), in the reference and in the engine, which hands it records.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.agreement import agreed_outcomes, batch_of
from transform_core.engine import Pipeline
from transform_core.reference import ReferencePipeline
from transform_core.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC: dict[str, Any] = {
    "version": 1,
    "name": "edges",
    "schema": {
        "type": "object",
        "properties": {"t": {"type": "number"}, "k": {"type": "integer"}, "dev": {"type": "string"}},
    },
    "event_time": {"field": "t", "format": "epoch_millis", "on_missing": "arrival_time"},
    "enrich": [
        {
            "name": "bands",
            "source": str(ROOT / "tests" / "data" / "battery_bands.csv"),
            "key": {"record": "k", "table": "battery"},
            "fields": ["band"],
        },
        {
            "name": "devices",
            "source": str(ROOT / "reference_data" / "devices.csv"),
            "key": {"record": "dev", "table": "device_id"},
            "fields": ["site"],
        },
    ],
    "drop": {"field": "kind", "in": ["heartbeat", 0]},
}
# the drop field's schema, set by each test
OBJECTS = {"type": ["string", "integer", "object"]}
ARRAYS = {"type": ["string", "integer", "array"], "items": {"type": ["string", "integer"]}}


def _judged(texts: list[bytes], kind: dict[str, Any] = OBJECTS) -> list[tuple[str, object]]:
    """Each record's result and its returned data decoded as JSON (the engine's outcomes equal the reference's)."""
    schema = SPEC["schema"] | {"properties": SPEC["schema"]["properties"] | {"kind": kind}}
    spec = load_spec(SPEC | {"schema": schema})
    got = agreed_outcomes(Pipeline(spec), ReferencePipeline(spec), batch_of(texts, [1_790_000_000_000] * len(texts)))
    return [(result, json.loads(base64.b64decode(data))) for result, data in got.select("result", "data").iter_rows()]


@pytest.mark.parametrize("empty", [b"{}", b"{ }", b" {}\n", b"{\r\n}"])
def test_an_empty_record_is_enriched_as_json(empty: bytes) -> None:
    good = b'{"k":1,"dev":"dev-0001"}'
    assert _judged([good, empty, good]) == [
        ("Ok", {"k": 1, "dev": "dev-0001", "band": "low", "site": "plant-03"}),
        ("Ok", {"band": None, "site": None}),
        ("Ok", {"k": 1, "dev": "dev-0001", "band": "low", "site": "plant-03"}),
    ]


@pytest.mark.parametrize(
    ("kind", "value"), [(OBJECTS, '{"a":1}'), (OBJECTS, "{}"), (ARRAYS, "[0]"), (ARRAYS, "[]"), (ARRAYS, '["heartbeat"]')]
)
def test_a_drop_field_holding_an_object_or_an_array_is_not_dropped(kind: dict[str, Any], value: str) -> None:
    texts = [b'{"kind":"heartbeat"}', f'{{"kind":{value}}}'.encode(), b'{"kind":0.0}']
    assert [result for result, _ in _judged(texts, kind)] == ["Dropped", "Ok", "Dropped"]
