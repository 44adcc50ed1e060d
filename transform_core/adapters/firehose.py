"""The Firehose-invoked Lambda handler.

Configure it with ``TRANSFORM_CORE_SPEC`` (path of the pipeline spec). The spec is loaded once,
at init, so a broken spec fails the cold start instead of every batch. The handler returns the
response as JSON **bytes**: the Python runtime posts bytes unchanged, which saves serializing a
multi-megabyte dict again. Each batch logs one JSON line: counts and the top rejection rules.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import orjson

from transform_core.engine import BatchResult, Pipeline, load_pipeline
from transform_core.errors import ConfigurationEnvironmentError

__all__ = ["SPEC_ENV", "handler", "log_line", "pipeline_from_env"]

SPEC_ENV = "TRANSFORM_CORE_SPEC"


def pipeline_from_env(environ: Mapping[str, str] = os.environ) -> Pipeline:
    """Load the pipeline named by ``TRANSFORM_CORE_SPEC`` (the one place env vars are read)."""
    path = environ.get(SPEC_ENV)
    if not path:
        raise ConfigurationEnvironmentError(f"set {SPEC_ENV} to the path of the pipeline spec")
    return load_pipeline(path)


_PIPELINE: Pipeline | None = None


def handler(event: Mapping[str, Any], context: Any = None) -> bytes:
    """Lambda entry point: a Firehose transformation event in, the response as JSON bytes out."""
    global _PIPELINE
    if _PIPELINE is None:
        _PIPELINE = pipeline_from_env()
    started = time.perf_counter()
    result = _PIPELINE.process_firehose(event)
    elapsed_ms = (time.perf_counter() - started) * 1000
    sys.stdout.write(log_line(result, event.get("invocationId"), elapsed_ms, _PIPELINE.spec.name) + "\n")
    return result.body


def log_line(result: BatchResult, invocation_id: str | None, elapsed_ms: float, pipeline: str) -> str:
    """One structured JSON log line describing a batch."""
    entry: dict[str, Any] = {
        "level": "INFO" if not result.shed else "WARNING",
        "message": "batch transformed",
        "pipeline": pipeline,
        "invocationId": invocation_id,
        "records": len(result.outcomes),
        "ok": result.ok,
        "failed": result.failed,
        "dropped": result.dropped,
        "shed_for_response_size": result.shed,
        "response_bytes": len(result.body),
        "elapsed_ms": round(elapsed_ms, 3),
        "top_rejections": dict(result.top_reasons()),
    }
    return orjson.dumps(entry).decode()


if os.environ.get(SPEC_ENV):  # inside Lambda: load at init, outside the billed first invocation
    _PIPELINE = pipeline_from_env()
