"""Writing input files and reading their chunks back, for the tests of :mod:`transform_core.jobs.inputs`."""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Iterable
from pathlib import Path

import orjson

from transform_core.jobs.inputs import InputChunk, iter_chunks

LINES = [b'{"a":1}', b'{"a":2, "b":"x"}', b"[1,2]", b'"text"']


def write(path: Path, lines: Iterable[bytes], *, compress: bool = False, end: bytes = b"\n") -> Path:
    body = b"\n".join(lines) + end
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(body, mtime=0) if compress else body)
    return path


def records(chunks: Iterable[InputChunk]) -> list[bytes]:
    return [base64.b64decode(data) for chunk in chunks for data in chunk.batch.data]


def ids(chunks: Iterable[InputChunk]) -> list[str]:
    return [record_id for chunk in chunks for record_id in chunk.batch.record_ids]


def read(*paths: Path | str, **kwargs: object) -> list[InputChunk]:
    return list(iter_chunks([str(p) for p in paths], **kwargs))  # type: ignore[arg-type]


def input_id(content: bytes) -> str:
    """What an input's id must be: sha256 over its decompressed content, 16 hex characters."""
    return hashlib.sha256(content).hexdigest()[:16]


def processing_failed_line(raw: bytes, **extra: object) -> bytes:
    """A line of Firehose's processing-failed/ output (the "Handle data transformation failure" page)."""
    fields = {"attemptsMade": 4, "arrivalTimestamp": 1795824060000, "errorCode": "Lambda.FunctionError"}
    return orjson.dumps({**fields, "errorMessage": "boom", "rawData": base64.b64encode(raw).decode(), **extra})


def errors_line(raw: bytes, record_id: str, **extra: object) -> bytes:
    """A line of transform-core's errors/ output."""
    fields = {"recordId": record_id, "rawData": base64.b64encode(raw).decode(), "reason": "$.value: too big (maximum)"}
    return orjson.dumps({**fields, "specName": "iot-telemetry", **extra})
