"""The wide-record workload: 60 top-level fields, a nested object, arrays, formats, enums and nullables.

It keeps the benchmark from being tuned to the 13-field IoT record. The schema and the pipeline spec
live in ``benchmarks/wide/`` (regenerate them with ``python -m benchmarks.wide``); the spec enriches
by ``device_id`` from ``reference_data/devices.csv`` like the IoT example. Records are all valid and
come out of ``json.dumps`` with its default separators, like the IoT generator's.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from transform_core.demo.generate import DEVICE_IDS, MODELS, OFFSETS, UNITS, Payload

__all__ = ["FOLDER", "SCHEMA", "SPEC_PATH", "SPEC_YAML", "wide_payloads", "wide_record", "write_spec"]

FOLDER = Path(__file__).parent / "wide"
SPEC_PATH = FOLDER / "pipeline.yaml"

EVENT_TYPES = ("telemetry", "alert", "status", "audit")
SEVERITIES = ("debug", "info", "warning", "error", "critical")
SOURCES = ("kinesis", "api-gateway", "iot-core")
CURRENCIES = ("EUR", "USD", "GBP", "JPY", "INR")
REVISIONS = ("A", "B", "C", "D")
CHANNELS = ("stable", "beta", "nightly")
HEALTH = ("good", "fair", "poor")
SENSORS = ("temp", "hum", "press", "co2", "volt", "curr")
TIMEZONES = ("UTC", "Europe/Paris", "Asia/Kolkata", "America/Los_Angeles", "Asia/Tokyo")
COUNTRIES = ("FR", "DE", "IN", "US", "JP", "GB", "BR", "NP")
GEOHASH = "0123456789bcdefghjkmnpqrstuvwxyz"
NOTES = ("", "ok", "recalibrated after reset", "door B open", "path a/b/c", "battery swapped")
# Strings JSON writes with escapes (about 5% of records hold one: here or a non-ASCII city, sent as \u00c9).
ESCAPED_NOTES = ("recalibrated\tafter reset", 'door "B" open', "line1\nline2")


def _num(lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "number"}
    schema.update({k: v for k, v in (("minimum", lo), ("maximum", hi)) if v is not None})
    return schema


def _int(lo: int | None = None, hi: int | None = None) -> dict[str, Any]:
    return {**_num(lo, hi), "type": "integer"}


def _str(**keywords: Any) -> dict[str, Any]:
    return {"type": "string", **keywords}


def _enum(values: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    out = {**schema, "type": [schema["type"], "null"]}
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


_LOCATION = {
    "type": "object",
    "properties": {
        "lat": _num(-90, 90),
        "lon": _num(-180, 180),
        "alt_m": _nullable(_num(-500, 9000)),
        "accuracy_m": _num(0, 10_000),
        "city": _str(minLength=1, maxLength=64),
        "zone": _str(pattern="^zone-[0-9]{1,2}$"),
        "floor": _int(-5, 200),
        "indoor": {"type": "boolean"},
        "geohash": _str(pattern="^[0-9b-hjkmnp-z]{7}$"),
        "timezone": _enum(TIMEZONES),
    },
    "required": ["lat", "lon"],
    "additionalProperties": False,
}
_READING = {
    "type": "object",
    "properties": {"sensor": _enum(SENSORS), "value": _num(-1000, 1000), "ok": {"type": "boolean"}},
    "required": ["sensor", "value"],
    "additionalProperties": False,
}
_COUNTERS = {
    "type": "object",
    "properties": {"rx": _int(0), "tx": _int(0), "dropped": _int(0)},
    "required": ["rx", "tx"],
    "additionalProperties": False,
}
_PROPERTIES: dict[str, Any] = {
    "event_id": _str(format="uuid"),
    "device_id": _str(pattern="^dev-[0-9]{4}$"),
    "event_time": _str(format="date-time"),
    "event_date": _str(format="date"),
    "seq": _int(0),
    "event_type": _enum(EVENT_TYPES),
    "severity": _enum(SEVERITIES),
    "source": _enum(SOURCES),
    "schema_version": _int(1, 9),
    "tenant_id": _str(pattern="^tn-[a-z0-9]{6}$"),
    "user_email": _nullable(_str(format="email")),
    "client_ip": _str(format="ipv4"),
    "server_ip": _str(format="ipv4"),
    "user_agent": _str(maxLength=256),
    "session_id": _str(format="uuid"),
    "request_id": _str(pattern="^req-[0-9a-f]{16}$"),
    "sku": _str(pattern="^[A-Z]{3}-[0-9]{5}$"),
    "country": _str(pattern="^[A-Z]{2}$"),
    "currency": _enum(CURRENCIES),
    "amount": _num(0, 1_000_000),
    "quantity": _int(1, 1000),
    "discount": _nullable(_num(0, 1)),
    "tax_rate": _num(0, 0.5),
    "price": _num(0),
    "value": _num(-1000, 1000),
    "unit": _enum(UNITS),
    "battery": _nullable(_int(0, 100)),
    "rssi": _int(-150, 0),
    "temperature": _num(-60, 150),
    "humidity": _nullable(_num(0, 100)),
    "pressure": _num(800, 1200),
    "voltage": _num(0, 48),
    "current": _num(-100, 100),
    "power": _num(0, 10_000),
    "energy_kwh": _num(0),
    "co2_ppm": _int(0, 10_000),
    "pm25": _nullable(_num(0, 1000)),
    "noise_db": _num(0, 200),
    "lux": _int(0, 200_000),
    "uptime_s": _int(0),
    "error_count": _int(0),
    "retry_count": _int(0, 10),
    "firmware": _str(pattern="^[0-9]+\\.[0-9]+\\.[0-9]+$"),
    "hardware_rev": _enum(REVISIONS),
    "is_test": {"type": "boolean"},
    "is_charging": {"type": "boolean"},
    "maintenance_due": {"type": ["boolean", "null"]},
    "operator": _nullable(_str(maxLength=64)),
    "note": _str(maxLength=200),
    "labels": {"type": "array", "items": _enum(SENSORS), "maxItems": 6},
    "location": _LOCATION,
    "readings": {"type": "array", "items": _READING, "minItems": 1, "maxItems": 6},
    "history": {"type": "array", "items": _num(0, 1000), "maxItems": 12},
    "counters": _COUNTERS,
    "gateway_id": _str(minLength=1, maxLength=64),
    "firmware_channel": _enum(CHANNELS),
    "battery_health": _nullable(_enum(HEALTH)),
    "signal_quality": _num(0, 1),
    "sampling_ms": _int(10, 60_000),
    "checksum": _str(pattern="^[0-9a-f]{8}$"),
}
_OPTIONAL = ("user_email", "discount", "operator", "pm25", "maintenance_due", "labels", "history", "battery_health")
SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Wide telemetry event",
    "description": "A 60-field record with a nested object and arrays (benchmark workload).",
    "type": "object",
    "properties": _PROPERTIES,
    "required": [name for name in _PROPERTIES if name not in _OPTIONAL],
    "additionalProperties": False,
}
SPEC_YAML = """\
# The wide-record benchmark workload (generated by benchmarks/wide.py; do not edit by hand).
version: 1
name: wide-telemetry
schema: schema.json
event_time: {field: event_time, format: iso8601, on_missing: reject}
partitioning: {granularity: day}
enrich:
  - {name: devices, source: ../../reference_data/devices.csv, key: device_id, fields: [site, model], on_missing: keep}
"""


def write_spec(folder: Path = FOLDER) -> None:
    """Write ``schema.json`` and ``pipeline.yaml`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.json").write_text(json.dumps(SCHEMA, indent=2) + "\n", encoding="utf-8")
    (folder / "pipeline.yaml").write_text(SPEC_YAML, encoding="utf-8")


def wide_record(rng: random.Random, seq: int) -> dict[str, Any]:
    """One valid wide record (numbers rounded so no float needs an exponent)."""
    r = rng
    suffix, tz = r.choice(OFFSETS)
    local = (datetime(2026, 11, 24, tzinfo=UTC) + timedelta(seconds=r.uniform(0, 4 * 86_400))).astimezone(tz)
    record: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=r.getrandbits(128), version=4)),
        "device_id": f"dev-{r.randrange(DEVICE_IDS):04d}",
        "event_time": local.strftime("%Y-%m-%dT%H:%M:%S") + f".{local.microsecond // 1000:03d}" + suffix,
        "event_date": local.strftime("%Y-%m-%d"),
        "seq": seq,
        "event_type": r.choice(EVENT_TYPES),
        "severity": r.choice(SEVERITIES),
        "source": r.choice(SOURCES),
        "schema_version": r.randint(1, 9),
        "tenant_id": "tn-" + "".join(r.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=6)),
        "user_email": None if r.random() < 0.3 else f"user{r.randrange(10**5)}@example{r.randint(1, 9)}.com",
        "client_ip": ".".join(str(r.randrange(256)) for _ in range(4)),
        "server_ip": f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randint(1, 254)}",
        "user_agent": f"sensor-agent/{r.randint(1, 5)}.{r.randint(0, 20)} (linux; {r.choice(MODELS)})",
        "session_id": str(uuid.UUID(int=r.getrandbits(128), version=4)),
        "request_id": f"req-{r.getrandbits(64):016x}",
        "sku": "".join(r.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=3)) + f"-{r.randrange(10**5):05d}",
        "country": r.choice(COUNTRIES),
        "currency": r.choice(CURRENCIES),
        "amount": round(r.uniform(0, 50_000), 2),
        "quantity": r.randint(1, 1000),
        "discount": None if r.random() < 0.5 else round(r.random(), 2),
        "tax_rate": r.choice((0, 0.05, 0.1, 0.2, 0.25)),
        "price": round(r.uniform(0.5, 2000), 2) if r.random() < 0.8 else r.randint(1, 2000),
        "value": round(r.uniform(-50.0, 150.0), 3) if r.random() < 0.85 else r.randint(0, 100),
        "unit": r.choice(UNITS),
        "battery": None if r.random() < 0.1 else r.randint(0, 100),
        "rssi": r.randint(-120, -30),
        "temperature": round(r.uniform(-20, 60), 2),
        "humidity": None if r.random() < 0.1 else round(r.uniform(5, 95), 1),
        "pressure": round(r.uniform(950, 1050), 1),
        "voltage": round(r.uniform(3, 24), 3),
        "current": round(r.uniform(-5, 30), 3),
        "power": round(r.uniform(0, 5000), 1) if r.random() < 0.7 else r.randint(0, 5000),
        "energy_kwh": round(r.uniform(0, 1e5), 3),
        "co2_ppm": r.randint(350, 5000),
        "pm25": None if r.random() < 0.2 else round(r.uniform(0, 300), 1),
        "noise_db": round(r.uniform(20, 120), 1),
        "lux": r.randint(0, 100_000),
        "uptime_s": r.randint(0, 10**8),
        "error_count": r.randint(0, 50),
        "retry_count": r.randint(0, 10),
        "firmware": f"{r.randint(1, 3)}.{r.randint(0, 9)}.{r.randint(0, 20)}",
        "hardware_rev": r.choice(REVISIONS),
        "is_test": r.random() < 0.05,
        "is_charging": r.random() < 0.3,
        "maintenance_due": r.choice((True, False, None)),
        "operator": None if r.random() < 0.5 else f"ops/{r.choice(COUNTRIES).lower()}-{r.randint(1, 99)}",
        "note": r.choice(ESCAPED_NOTES if r.random() < 0.03 else NOTES),
        "labels": r.sample(SENSORS, r.randint(0, 4)),
        "location": _location(r),
        "readings": [
            {"sensor": r.choice(SENSORS), "value": round(r.uniform(-100, 900), 2), "ok": r.random() < 0.95}
            for _ in range(r.randint(1, 6))
        ],
        "history": [round(r.uniform(0, 1000), 1) for _ in range(r.randint(0, 12))],
        "counters": {"rx": r.randint(0, 10**9), "tx": r.randint(0, 10**9), "dropped": r.randint(0, 1000)},
        "gateway_id": f"gw-{r.randint(1, 40):02d}-{r.choice('abcd')}",
        "firmware_channel": r.choice(CHANNELS),
        "battery_health": r.choice((*HEALTH, None)),
        "signal_quality": round(r.random(), 3),
        "sampling_ms": r.choice((100, 250, 1000, 5000, 60_000)),
        "checksum": f"{r.getrandbits(32):08x}",
    }
    for name in _OPTIONAL:
        if r.random() < 0.05:
            del record[name]
    return record


def _location(r: random.Random) -> dict[str, Any]:
    location: dict[str, Any] = {
        "lat": round(r.uniform(-89.9, 89.9), 5),
        "lon": round(r.uniform(-179.9, 179.9), 5),
        "alt_m": None if r.random() < 0.2 else round(r.uniform(-10, 3000), 1),
        "accuracy_m": round(r.uniform(1, 500), 1),
        "city": "Saint-Étienne" if r.random() < 0.02 else r.choice(("Paris", "Pune", "Osaka", "Denver", "Recife", "Kathmandu")),
        "zone": f"zone-{r.randint(1, 12)}",
        "floor": r.randint(-2, 40),
        "indoor": r.random() < 0.6,
        "geohash": "".join(r.choices(GEOHASH, k=7)),
        "timezone": r.choice(TIMEZONES),
    }
    if r.random() < 0.1:
        del location[r.choice(("alt_m", "floor", "geohash"))]
    return location


def wide_payloads(n: int, seed: int = 0) -> list[Payload]:
    """``n`` valid wide records as payloads (JSON with ``json.dumps``' default separators)."""
    rng = random.Random(seed)
    return [Payload(json.dumps(wide_record(rng, seq)).encode()) for seq in range(n)]


if __name__ == "__main__":
    write_spec()
