"""The Firehose-invoked Lambda handler.

Configure it with ``TRANSFORM_CORE_SPEC`` (path of the pipeline spec). The spec is loaded once,
at init, so a broken spec fails the cold start instead of every batch. The handler returns the
response as JSON **bytes**: the Python runtime posts bytes unchanged, which saves serializing a
multi-megabyte dict again. Each batch logs one JSON line: counts and the top rejection rules. With
``metrics: {emf: true}`` in the spec that same line is also a CloudWatch Embedded Metric Format document
(``_aws`` plus the metric values), so CloudWatch extracts the metrics from the log with no API call and no
extra line. The fields and the alarms to set on them are in ``docs/operations.md``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from itertools import repeat
from operator import itemgetter
from typing import Any

import orjson

from transform_core.adapters.allocator import keep_freed_pages

keep_freed_pages()  # before the engine's imports load Polars

from transform_core.engine import BatchResult, Pipeline, load_pipeline  # noqa: E402
from transform_core.errors import ConfigurationEnvironmentError  # noqa: E402
from transform_core.spec import MetricsSpec  # noqa: E402

__all__ = ["EMF_METRICS", "SPEC_ENV", "handler", "input_bytes", "loaded_pipeline", "log_line", "pipeline_from_env"]

SPEC_ENV = "TRANSFORM_CORE_SPEC"

# The EMF metrics of a batch, name -> CloudWatch unit. RecordsOk + RecordsFailed + RecordsDropped is the batch's
# record count; RecordsShed is the part of RecordsFailed returned failed only to keep the response under 6 MB.
EMF_METRICS: dict[str, str] = {
    "RecordsOk": "Count",
    "RecordsFailed": "Count",
    "RecordsDropped": "Count",
    "RecordsShed": "Count",
    "InputBytes": "Bytes",
    "ResponseBytes": "Bytes",
    "BatchLatency": "Milliseconds",
}
_DATA = itemgetter("data")


def pipeline_from_env(environ: Mapping[str, str] = os.environ) -> Pipeline:
    """Load the pipeline named by ``TRANSFORM_CORE_SPEC`` (the one place env vars are read)."""
    path = environ.get(SPEC_ENV)
    if not path:
        raise ConfigurationEnvironmentError(f"set {SPEC_ENV} to the path of the pipeline spec")
    return load_pipeline(path)


_PIPELINE: Pipeline | None = None  # the container's pipeline, kept between warm invocations


def loaded_pipeline() -> Pipeline:
    """The container's pipeline: the one loaded at init, else the one ``TRANSFORM_CORE_SPEC`` names, loaded now and kept.

    Raises:
        ConfigurationEnvironmentError: ``TRANSFORM_CORE_SPEC`` is not set.
        SpecError: the spec it names cannot be loaded.
    """
    global _PIPELINE
    if _PIPELINE is None:
        _PIPELINE = pipeline_from_env()
    return _PIPELINE


def handler(event: Mapping[str, Any], context: Any = None) -> bytes:
    """Lambda entry point: a Firehose transformation event in, the response as JSON bytes out."""
    pipeline = loaded_pipeline()
    spec = pipeline.spec
    started = time.perf_counter()
    result = pipeline.process_firehose(event)
    elapsed_ms = (time.perf_counter() - started) * 1000
    line = log_line(
        result,
        event.get("invocationId"),
        elapsed_ms,
        spec.name,
        metrics=spec.metrics,
        input_size=input_bytes(event) if spec.metrics.emf else None,
        request_id=request_id if isinstance(request_id := getattr(context, "aws_request_id", None), str) else None,
    )
    sys.stdout.write(line + "\n")
    return result.body


def input_bytes(event: Mapping[str, Any]) -> int:
    """The decoded size of the event's record payloads, from their base64 lengths (nothing is decoded).

    Exact for canonical base64; a payload that is not (that record fails) is counted as if it were.
    """
    records = event.get("records") or []
    try:
        data = list(map(_DATA, records))
    except (KeyError, TypeError):
        data = [r.get("data") if isinstance(r, Mapping) else None for r in records]
    if not all(type(d) is str for d in data):
        data = [d for d in data if isinstance(d, str)]
    padding = sum(map(str.endswith, data, repeat("="))) + sum(map(str.endswith, data, repeat("==")))
    return sum(map(len, data)) * 3 // 4 - padding


def log_line(
    result: BatchResult,
    invocation_id: str | None,
    elapsed_ms: float,
    pipeline: str,
    *,
    metrics: MetricsSpec | None = None,
    input_size: int | None = None,
    request_id: str | None = None,
) -> str:
    """One structured JSON log line describing a batch.

    With ``metrics.emf`` the line is also an Embedded Metric Format document: the ``_aws`` metadata, the
    dimension values and the :data:`EMF_METRICS` values (``InputBytes`` is ``input_size``, 0 when not given).
    """
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
    if request_id is not None:
        entry["requestId"] = request_id
    if metrics is not None and metrics.emf:
        entry.update(_emf(result, elapsed_ms, pipeline, metrics, input_size or 0))
    return orjson.dumps(entry).decode()


def _emf(result: BatchResult, elapsed_ms: float, pipeline: str, metrics: MetricsSpec, input_size: int) -> dict[str, Any]:
    """The EMF part of a batch's line: metadata, dimension values and metric values."""
    values: dict[str, int | float] = {
        "RecordsOk": result.ok,
        "RecordsFailed": result.failed,
        "RecordsDropped": result.dropped,
        "RecordsShed": result.shed,
        "InputBytes": input_size,
        "ResponseBytes": len(result.body),
        "BatchLatency": round(elapsed_ms, 3),
    }
    dimension_values = {"pipeline": pipeline}  # every name spec.METRIC_DIMENSIONS allows
    return {
        "_aws": {
            "Timestamp": time.time_ns() // 1_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": metrics.namespace,
                    "Dimensions": [list(metrics.dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit} for name, unit in EMF_METRICS.items()],
                }
            ],
        },
        **{name: dimension_values[name] for name in metrics.dimensions},
        **values,
    }


if os.environ.get(SPEC_ENV):  # inside Lambda: load at init, outside the billed first invocation
    _PIPELINE = pipeline_from_env()
