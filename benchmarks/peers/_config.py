"""What a hand-written handler reads from a pipeline spec: plain YAML, no transform_core import.

The ``blueprint`` and ``msgspec`` contenders load their settings with this so that their import time and memory
are their own (importing ``transform_core`` pulls in Polars). Only the keys the benchmark specs use are read.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["PeerConfig", "read_config"]


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """The parts of a pipeline spec a per-record handler needs."""

    name: str
    schema: dict[str, Any]
    event_time_field: str
    partition_keys: tuple[str, ...]
    drop_field: str | None
    drop_values: frozenset[Any]
    key_field: str | None
    enrich_fields: tuple[str, ...]
    table: dict[str, tuple[str | None, ...]]  # key -> enrichment values (None for an empty cell)


def read_config(spec_path: str | Path) -> PeerConfig:
    """Read a pipeline spec with at most one CSV reference table keyed by a string field."""
    path = Path(spec_path)
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    base = path.resolve().parent
    schema = json.loads((base / spec["schema"]).read_text(encoding="utf-8"))
    granularity = spec.get("partitioning", {}).get("granularity", "day")
    keys = ("year", "month", "day", "hour") if granularity == "hour" else ("year", "month", "day")
    drop = spec.get("drop")
    enrich = spec.get("enrich") or []
    if len(enrich) > 1 or spec["event_time"].get("format", "iso8601") != "iso8601":
        raise NotImplementedError("the peers handle one CSV table and ISO 8601 event times")
    table: dict[str, tuple[str | None, ...]] = {}
    fields: tuple[str, ...] = ()
    key_field = None
    if enrich:
        source, key_field, fields = base / enrich[0]["source"], enrich[0]["key"], tuple(enrich[0]["fields"])
        with source.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                table[row[key_field]] = tuple(row[name] or None for name in fields)
    return PeerConfig(
        name=spec["name"],
        schema=schema,
        event_time_field=spec["event_time"]["field"],
        partition_keys=keys,
        drop_field=drop["field"] if drop else None,
        drop_values=frozenset(drop["in"]) if drop else frozenset(),
        key_field=key_field,
        enrich_fields=fields,
        table=table,
    )
