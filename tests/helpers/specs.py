"""The specs the differential tests share: the IoT example and three that reach the engine's rarer paths (combinators,
hourly partitions, arrival-time fallback, epoch event times, integer join keys, drop values compared as JSON does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
IOT_SPEC = ROOT / "examples" / "iot" / "pipeline.yaml"
DEVICES = str(ROOT / "reference_data" / "devices.csv")
BANDS = str(ROOT / "tests" / "data" / "battery_bands.csv")  # integer keys 0-100 but 50, joined on seq

EXOTIC_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"reading": {"type": ["number", "null"], "minimum": -1000, "exclusiveMaximum": 1000}},
    "properties": {
        "event_id": {"type": "string", "format": "uuid"},
        "device_id": {"type": "string", "pattern": "^dev-[0-9]{4}$", "maxLength": 8},
        "gateway_id": {"type": "string", "minLength": 2, "maxLength": 64},
        "seq": {"type": "integer", "multipleOf": 2},
        "event_time": {"type": "string", "format": "date-time"},
        "event_type": {"type": ["string", "null"], "enum": ["telemetry", "alert", "heartbeat", None]},
        "value": {"$ref": "#/$defs/reading"},
        "unit": {"type": "string", "const": "celsius"},
        "battery": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 100}, {"type": "null"}]},
        "rssi": {"type": ["integer", "string"], "maximum": 0, "maxLength": 3},
        "lat": {"not": {"type": "string"}},
        "lon": {"type": "number", "minimum": -180, "maximum": 180},
        "tags": {
            "type": "object",
            "properties": {"fw": {"type": "string"}, "zone": {"type": "string", "format": "date"}},
            "required": ["fw"],
            "additionalProperties": False,
        },
        "nested": {"type": "array", "items": {"type": "object"}, "uniqueItems": True},
        "note": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2},
        "source": {"type": "string", "format": "email"},
    },
    "required": ["event_id", "device_id", "value"],
}

SPECS: dict[str, Any] = {
    "iot-example": IOT_SPEC,
    "exotic": {
        "version": 1,
        "name": "exotic",
        "schema": EXOTIC_SCHEMA,
        "event_time": {"field": "event_time", "on_missing": "arrival_time"},
        "partitioning": {"granularity": "hour"},
        "enrich": [
            {"name": "devices", "source": DEVICES, "key": "device_id", "fields": ["site", "model"], "on_missing": "reject"}
        ],
        "drop": {"field": "event_type", "in": ["heartbeat"]},
    },
    "epoch-millis": {
        "version": 1,
        "name": "epoch",
        "schema": {**EXOTIC_SCHEMA, "properties": {**EXOTIC_SCHEMA["properties"], "seq": {"type": "integer"}}},
        "event_time": {"field": "seq", "format": "epoch_millis", "on_missing": "arrival_time"},
        "enrich": [
            {
                "name": "bands",
                "source": BANDS,
                "key": {"record": "seq", "table": "battery"},
                "fields": ["band"],
                "on_missing": "reject",
            }
        ],
    },
    "epoch-seconds": {
        "version": 1,
        "name": "epoch",
        "schema": {"type": "object", "properties": {"value": {"type": ["number", "string"]}, "site": {"type": "string"}}},
        "event_time": {"field": "value", "format": "epoch_seconds"},
        "enrich": [{"name": "devices", "source": DEVICES, "key": {"record": "site", "table": "device_id"}, "fields": ["model"]}],
        "drop": {"field": "value", "in": [100, 2**53, "5"]},  # numbers compared as JSON does: 100 == 1e2, "5" != 5
    },
}
