"""Response equality: every contender must return what the engine returns, record for record."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import orjson

__all__ = ["ResponseMismatch", "as_posted", "assert_same_response"]


class ResponseMismatch(AssertionError):
    """A contender's response differs from the engine's."""


def as_posted(response: dict[str, Any] | bytes) -> bytes:
    """The bytes the Lambda runtime posts for a handler's return value (a dict goes through ``json.dumps``)."""
    return response if isinstance(response, bytes) else json.dumps(response).encode()


def assert_same_response(expected: dict[str, Any] | bytes, actual: dict[str, Any] | bytes, label: str) -> None:
    """Compare two Firehose responses as Firehose reads them.

    Same recordIds in the same order, same results, same data (compared decoded, so a difference
    shows as record text) and the same partition keys; no other keys anywhere.

    Raises:
        ResponseMismatch: naming the first differing record and field.
    """
    want, got = _records(expected, label), _records(actual, label)
    if len(want) != len(got):
        raise ResponseMismatch(f"{label}: {len(got)} records, expected {len(want)}")
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        if w == g:
            continue
        for key in sorted(set(w) | set(g)):
            if w.get(key) != g.get(key):
                shown = (_show(w.get(key)), _show(g.get(key))) if key == "data" else (w.get(key), g.get(key))
                raise ResponseMismatch(
                    f"{label}: record {i} ({w.get('recordId')}) differs in {key!r}:\n  expected {shown[0]!r}\n  got      {shown[1]!r}"
                )
    if len(as_posted(actual)) >= 6_000_000:
        raise ResponseMismatch(f"{label}: the posted response has {len(as_posted(actual)):,} bytes, over Lambda's limit")


def _records(response: dict[str, Any] | bytes, label: str) -> list[dict[str, Any]]:
    parsed = orjson.loads(as_posted(response))
    if set(parsed) != {"records"}:
        raise ResponseMismatch(f"{label}: top-level keys {sorted(parsed)}, expected ['records']")
    records: list[dict[str, Any]] = parsed["records"]
    return records


def _show(data: Any) -> Any:
    """Decoded record text when ``data`` is valid base64, else the string itself."""
    if not isinstance(data, str):
        return data
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return data
