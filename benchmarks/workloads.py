"""The benchmark workloads, all from the project's generators (deterministic for a seed).

- ``5MB``: the largest event Firehose sends, a full 3 MB Lambda buffer: as many IoT records as fit
  in 3,000,000 bytes of raw payload (about 9,000), a 5 MB event whose enriched response stays
  under Lambda's 6 MB limit, so nothing is shed.
- ``500``: a 500-record IoT event.
- ``wide``: 60-field records (``benchmarks/wide.py``) filling a 3 MB buffer.
- ``spaced``: a full 3 MB buffer of IoT records every one written by ``json.dumps``' defaults, as a Python producer
  (boto3) sends them.
- ``kinesis``: the template's default buffer (2 MiB of IoT records) in the shape Firehose sends from a Kinesis data
  stream, the template's source: ``sourceKinesisStreamArn`` and each record's ``kinesisRecordMetadata``, a 5.3 MB
  request.

IoT workloads come at 0%, 2% and 50% invalid; the wide one is clean. In smoke mode (CI) the same
workloads are built small, so the suite runs in seconds and still checks every response.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.wide import SPEC_PATH as WIDE_SPEC
from benchmarks.wide import wide_payloads
from transform_core.demo.generate import Payload, firehose_event, iot_payloads

__all__ = ["IOT_SPEC", "NAMES", "Workload", "assert_fits", "build", "build_all"]

ROOT = Path(__file__).resolve().parent.parent
IOT_SPEC = ROOT / "examples" / "iot" / "pipeline.yaml"
BUFFER_BYTES = 3_000_000  # Firehose's largest Lambda buffer of raw record data
KINESIS_BUFFER_BYTES = 2 * 1024 * 1024  # the template's default LambdaBufferSizeMB, read as MiB (the larger)
SMOKE_BUFFER_BYTES = 100_000
RESPONSE_LIMIT = 6_000_000  # Lambda's synchronous response limit

#: Workload names in table order: (kind, invalid fraction).
NAMES: dict[str, tuple[str, float]] = {
    "5MB clean": ("buffer", 0.0),
    "5MB 2% bad": ("buffer", 0.02),
    "5MB 50% bad": ("buffer", 0.5),
    "500 clean": ("small", 0.0),
    "500 2% bad": ("small", 0.02),
    "500 50% bad": ("small", 0.5),
    "wide clean": ("wide", 0.0),
    "kinesis clean": ("kinesis", 0.0),
    "5MB spaced": ("spaced", 0.0),
}


@dataclass(frozen=True, slots=True)
class Workload:
    """One Firehose event and the spec it runs against.

    Attributes:
        event_bytes: the event as the Lambda runtime receives it (``json.dumps``).
        payload_bytes: raw record data before base64 (what Firehose buffers count).
    """

    name: str
    spec_path: str
    event: dict[str, Any]
    event_bytes: bytes
    records: int
    payload_bytes: int
    invalid_fraction: float


def build(name: str, *, smoke: bool = False) -> Workload:
    """Build the named workload (see :data:`NAMES`); cached, so a workload is generated once per process."""
    return _build(name, smoke)


def build_all(*, smoke: bool = False) -> list[Workload]:
    """Every workload, in table order."""
    return [build(name, smoke=smoke) for name in NAMES]


@functools.cache
def _build(name: str, smoke: bool) -> Workload:
    kind, fraction = NAMES[name]
    buffer = SMOKE_BUFFER_BYTES if smoke else BUFFER_BYTES
    if kind == "buffer":
        payloads = fill_buffer(lambda n: iot_payloads(n, fraction, seed=1), buffer)
    elif kind == "kinesis":
        payloads = fill_buffer(lambda n: iot_payloads(n, fraction, seed=4), SMOKE_BUFFER_BYTES if smoke else KINESIS_BUFFER_BYTES)
    elif kind == "spaced":
        payloads = fill_buffer(lambda n: [_spaced(p) for p in iot_payloads(n, fraction, seed=5)], buffer)
    elif kind == "small":
        payloads = iot_payloads(100 if smoke else 500, fraction, seed=2)
    else:
        payloads = fill_buffer(lambda n: wide_payloads(n, seed=3), buffer)
    event = firehose_event(payloads, kinesis_source=kind == "kinesis")
    event_bytes = json.dumps(event).encode()
    size = sum(len(p.data) for p in payloads)
    if kind in ("buffer", "wide", "spaced") and not smoke:
        assert 2_900_000 < size < BUFFER_BYTES, size
    if kind == "kinesis" and not smoke:
        assert 5_000_000 < len(event_bytes) < RESPONSE_LIMIT, f"the Kinesis-source event has {len(event_bytes):,} bytes"
    if kind == "buffer" and not smoke:
        assert 4_500_000 < len(event_bytes) < 5_500_000, f"the 5 MB event has {len(event_bytes):,} bytes"
    spec = WIDE_SPEC if kind == "wide" else IOT_SPEC
    return Workload(name, str(spec), event, event_bytes, len(payloads), size, fraction)


def _spaced(payload: Payload) -> Payload:
    """The record as Python's ``json.dumps`` writes it by default (``", "``, ``": "``, ASCII escapes): boto3 producers."""
    return Payload(json.dumps(json.loads(payload.data)).encode(), payload.kind)


def fill_buffer(make: Callable[[int], list[Payload]], limit: int) -> list[Payload]:
    """The longest generated batch whose raw payload stays under ``limit`` bytes (within two records).

    ``make(n)`` draws a fresh batch for each ``n`` (which records are invalid depends on ``n``), so the
    size is searched for rather than cut from one long list: the invalid fraction stays exact.
    """
    n = 1000
    best: list[Payload] = []
    for _ in range(12):
        payloads = make(n)
        size = sum(len(p.data) for p in payloads)
        average = size / len(payloads)
        if size < limit and len(payloads) > len(best):
            best = payloads
            if limit - size < 2 * average:
                break
        n = max(1, n + int((limit - size) / average) - (1 if size >= limit else 0))
    return best


@functools.cache
def _engine(spec_path: str) -> Any:
    from transform_core import load_pipeline

    return load_pipeline(spec_path)


def assert_fits(workload: Workload) -> bytes:
    """Run the engine once: its response must be under 6 MB with nothing shed. Returns the body."""
    result = _engine(workload.spec_path).process_firehose(workload.event)
    assert result.shed == 0, f"{workload.name}: the engine shed {result.shed} records for response size"
    assert len(result.body) < RESPONSE_LIMIT, f"{workload.name}: response of {len(result.body):,} bytes"
    body: bytes = result.body
    return body


def write_events(workloads: list[Workload], folder: Path) -> dict[str, Path]:
    """Write each workload's event bytes to ``folder`` (for subprocess measurements)."""
    paths: dict[str, Path] = {}
    for workload in workloads:
        path = folder / (workload.name.replace(" ", "_").replace("%", "pct") + ".json")
        path.write_bytes(workload.event_bytes)
        paths[workload.name] = path
    return paths


if __name__ == "__main__":
    for w in build_all():
        print(f"{w.name:12} {w.records:6,} records  {w.payload_bytes:10,} payload  {len(w.event_bytes):10,} event bytes")
