"""``blueprint``: the AWS blueprint style. stdlib json and base64, jsonschema's Draft7Validator with format
checks (rfc3339-validator installed, or date-time goes unchecked), a dict lookup for enrichment, and
a Python dict per output record that the runtime serializes with the json module.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft7Validator, FormatChecker

from benchmarks.peers._config import read_config

__all__ = ["make_handler"]


def make_handler(spec_path: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A per-record handler for the spec at ``spec_path``."""
    config = read_config(spec_path)
    validator = Draft7Validator(config.schema, format_checker=FormatChecker())
    table, fields, key_field = config.table, config.enrich_fields, config.key_field
    missing = (None,) * len(fields)
    keys, time_field = config.partition_keys, config.event_time_field
    drop_field, drop_values = config.drop_field, config.drop_values

    def transform(record: dict[str, Any]) -> dict[str, Any]:
        out = {"recordId": record["recordId"], "result": "ProcessingFailed", "data": record["data"]}
        try:
            payload = json.loads(base64.b64decode(record["data"], validate=True))
        except (binascii.Error, ValueError):  # bad base64, bad UTF-8, bad JSON
            return out
        if not validator.is_valid(payload):
            return out
        if drop_field is not None and payload.get(drop_field) in drop_values:
            out["result"] = "Dropped"
            return out
        try:
            utc = datetime.fromisoformat(payload[time_field].upper()).astimezone(UTC)
        except (ValueError, OverflowError):
            return out
        if key_field is not None:
            payload.update(zip(fields, table.get(payload.get(key_field), missing), strict=True))
        text = json.dumps(payload, separators=(",", ":")) + "\n"
        out["result"] = "Ok"
        out["data"] = base64.b64encode(text.encode()).decode()
        parts = (f"{utc.year:04d}", f"{utc.month:02d}", f"{utc.day:02d}", f"{utc.hour:02d}")
        out["metadata"] = {"partitionKeys": dict(zip(keys, parts, strict=False))}
        return out

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        return {"records": [transform(record) for record in event["records"]]}

    return handler
