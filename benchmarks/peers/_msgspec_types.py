"""The ``msgspec`` contender's hand-written types: what a user would write for the IoT and the wide schema.

Formats become anchored patterns (``\\Z``, not ``$``, which would also match before a trailing
newline); calendar checks happen after decoding (see ``msgspec``). Fields are declared in
the producers' key order, so re-encoding a record keeps its keys in place. ``additionalProperties:
true`` on the IoT record is served by declaring the one extra field producers send (``source``).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

__all__ = ["DATE", "IotEvent", "WideEvent"]

UUID = Annotated[str, Meta(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")]
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
DATE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
DateTime = Annotated[str, Meta(pattern=DATE + "[Tt]" + _TIME + r"\Z")]
Date = Annotated[str, Meta(pattern=DATE + r"\Z")]
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPv4 = Annotated[str, Meta(pattern=rf"^{_OCTET}(\.{_OCTET}){{3}}\Z")]
Email = Annotated[str, Meta(pattern=r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+\Z")]
DeviceId = Annotated[str, Meta(pattern=r"^dev-[0-9]{4}\Z")]
Unit = Literal["celsius", "percent", "hpa", "lux", "ppm", "volt"]


def number(lo: float | None = None, hi: float | None = None) -> Any:
    """A JSON Schema ``number``: int or float (kept as sent, so ``5`` stays ``5``), bounded."""
    int_lo = None if lo is None else math.ceil(lo)  # an int bound must be an int: x <= 0.5 means x <= 0
    int_hi = None if hi is None else math.floor(hi)
    return Annotated[int, Meta(ge=int_lo, le=int_hi)] | Annotated[float, Meta(ge=lo, le=hi)]


def integer(lo: int | None = None, hi: int | None = None) -> Any:
    """A JSON Schema ``integer`` within int64 and the bounds."""
    return Annotated[int, Meta(ge=-(2**63) if lo is None else lo, le=2**63 - 1 if hi is None else hi)]


class Tags(Struct, forbid_unknown_fields=True):
    fw: str | UnsetType = UNSET
    zone: str | UnsetType = UNSET


class IotEvent(Struct, kw_only=True):
    event_id: UUID
    device_id: DeviceId
    gateway_id: Annotated[str, Meta(min_length=1, max_length=64)] | UnsetType = UNSET
    seq: integer(0)  # type: ignore[valid-type]
    event_time: DateTime
    event_type: Literal["telemetry", "alert", "heartbeat"]
    value: number(-1000, 1000)  # type: ignore[valid-type]
    unit: Unit | UnsetType = UNSET
    battery: integer(0, 100) | None | UnsetType = UNSET  # type: ignore[valid-type]
    rssi: integer(-150, 0) | UnsetType = UNSET  # type: ignore[valid-type]
    lat: number(-90, 90) | UnsetType = UNSET  # type: ignore[valid-type]
    lon: number(-180, 180) | UnsetType = UNSET  # type: ignore[valid-type]
    tags: Tags | UnsetType = UNSET
    source: Any = UNSET


Sensor = Literal["temp", "hum", "press", "co2", "volt", "curr"]


class Location(Struct, forbid_unknown_fields=True, kw_only=True):
    lat: number(-90, 90)  # type: ignore[valid-type]
    lon: number(-180, 180)  # type: ignore[valid-type]
    alt_m: number(-500, 9000) | None | UnsetType = UNSET  # type: ignore[valid-type]
    accuracy_m: number(0, 10_000) | UnsetType = UNSET  # type: ignore[valid-type]
    city: Annotated[str, Meta(min_length=1, max_length=64)] | UnsetType = UNSET
    zone: Annotated[str, Meta(pattern=r"^zone-[0-9]{1,2}\Z")] | UnsetType = UNSET
    floor: integer(-5, 200) | UnsetType = UNSET  # type: ignore[valid-type]
    indoor: bool | UnsetType = UNSET
    geohash: Annotated[str, Meta(pattern=r"^[0-9b-hjkmnp-z]{7}\Z")] | UnsetType = UNSET
    timezone: Literal["UTC", "Europe/Paris", "Asia/Kolkata", "America/Los_Angeles", "Asia/Tokyo"] | UnsetType = UNSET


class Reading(Struct, forbid_unknown_fields=True, kw_only=True):
    sensor: Sensor
    value: number(-1000, 1000)  # type: ignore[valid-type]
    ok: bool | UnsetType = UNSET


class Counters(Struct, forbid_unknown_fields=True, kw_only=True):
    rx: integer(0)  # type: ignore[valid-type]
    tx: integer(0)  # type: ignore[valid-type]
    dropped: integer(0) | UnsetType = UNSET  # type: ignore[valid-type]


class WideEvent(Struct, forbid_unknown_fields=True, kw_only=True):
    event_id: UUID
    device_id: DeviceId
    event_time: DateTime
    event_date: Date
    seq: integer(0)  # type: ignore[valid-type]
    event_type: Literal["telemetry", "alert", "status", "audit"]
    severity: Literal["debug", "info", "warning", "error", "critical"]
    source: Literal["kinesis", "api-gateway", "iot-core"]
    schema_version: integer(1, 9)  # type: ignore[valid-type]
    tenant_id: Annotated[str, Meta(pattern=r"^tn-[a-z0-9]{6}\Z")]
    user_email: Email | None | UnsetType = UNSET
    client_ip: IPv4
    server_ip: IPv4
    user_agent: Annotated[str, Meta(max_length=256)]
    session_id: UUID
    request_id: Annotated[str, Meta(pattern=r"^req-[0-9a-f]{16}\Z")]
    sku: Annotated[str, Meta(pattern=r"^[A-Z]{3}-[0-9]{5}\Z")]
    country: Annotated[str, Meta(pattern=r"^[A-Z]{2}\Z")]
    currency: Literal["EUR", "USD", "GBP", "JPY", "INR"]
    amount: number(0, 1_000_000)  # type: ignore[valid-type]
    quantity: integer(1, 1000)  # type: ignore[valid-type]
    discount: number(0, 1) | None | UnsetType = UNSET  # type: ignore[valid-type]
    tax_rate: number(0, 0.5)  # type: ignore[valid-type]
    price: number(0)  # type: ignore[valid-type]
    value: number(-1000, 1000)  # type: ignore[valid-type]
    unit: Unit
    battery: integer(0, 100) | None  # type: ignore[valid-type]
    rssi: integer(-150, 0)  # type: ignore[valid-type]
    temperature: number(-60, 150)  # type: ignore[valid-type]
    humidity: number(0, 100) | None  # type: ignore[valid-type]
    pressure: number(800, 1200)  # type: ignore[valid-type]
    voltage: number(0, 48)  # type: ignore[valid-type]
    current: number(-100, 100)  # type: ignore[valid-type]
    power: number(0, 10_000)  # type: ignore[valid-type]
    energy_kwh: number(0)  # type: ignore[valid-type]
    co2_ppm: integer(0, 10_000)  # type: ignore[valid-type]
    pm25: number(0, 1000) | None | UnsetType = UNSET  # type: ignore[valid-type]
    noise_db: number(0, 200)  # type: ignore[valid-type]
    lux: integer(0, 200_000)  # type: ignore[valid-type]
    uptime_s: integer(0)  # type: ignore[valid-type]
    error_count: integer(0)  # type: ignore[valid-type]
    retry_count: integer(0, 10)  # type: ignore[valid-type]
    firmware: Annotated[str, Meta(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+\Z")]
    hardware_rev: Literal["A", "B", "C", "D"]
    is_test: bool
    is_charging: bool
    maintenance_due: bool | None | UnsetType = UNSET
    operator: Annotated[str, Meta(max_length=64)] | None | UnsetType = UNSET
    note: Annotated[str, Meta(max_length=200)]
    labels: Annotated[list[Sensor], Meta(max_length=6)] | UnsetType = UNSET
    location: Location
    readings: Annotated[list[Reading], Meta(min_length=1, max_length=6)]
    history: Annotated[list[number(0, 1000)], Meta(max_length=12)] | UnsetType = UNSET  # type: ignore[valid-type]
    counters: Counters
    gateway_id: Annotated[str, Meta(min_length=1, max_length=64)]
    firmware_channel: Literal["stable", "beta", "nightly"]
    battery_health: Literal["good", "fair", "poor"] | None | UnsetType = UNSET
    signal_quality: number(0, 1)  # type: ignore[valid-type]
    sampling_ms: integer(10, 60_000)  # type: ignore[valid-type]
    checksum: Annotated[str, Meta(pattern=r"^[0-9a-f]{8}\Z")]
