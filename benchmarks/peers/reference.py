"""``reference``: transform-core's per-record reference implementation, called once per record.

The reference is the oracle of the differential tests: orjson, fastjsonschema with transform-core's
format checks, a duplicate-key check, minifying and dict lookups. The handler builds
the response dict record by record, as a Powertools-style handler would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transform_core.reference import ReferencePipeline
from transform_core.spec import load_spec

__all__ = ["make_handler"]


def make_handler(spec_path: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A per-record handler for the spec at ``spec_path``."""
    spec = load_spec(spec_path)
    reference = ReferencePipeline(spec)
    keys = spec.partitioning.keys

    def transform(record: dict[str, Any]) -> dict[str, Any]:
        arrival = record.get("approximateArrivalTimestamp")
        outcome = reference.process_record(record["data"], arrival if type(arrival) is int else None)
        out: dict[str, Any] = {"recordId": record["recordId"], "result": outcome.result, "data": outcome.data}
        if outcome.partition is not None:
            out["metadata"] = {"partitionKeys": dict(zip(keys, outcome.partition, strict=True))}
        return out

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        return {"records": [transform(record) for record in event["records"]]}

    return handler
