"""The Firehose-invoked Lambda handler.

Configure it with ``TRANSFORM_CORE_SPEC`` (path of the pipeline spec), and ``TRANSFORM_CORE_DELIVERY`` for a stream
delivering to Iceberg (:mod:`transform_core.adapters.delivery`). The spec is loaded once, at init, so a broken spec
(or one its environment contradicts) fails the cold start instead of every batch. The handler returns the
response as JSON **bytes**: the Python runtime posts bytes unchanged, which saves serializing a
multi-megabyte dict again. Each batch logs one JSON line: counts and the top rejection rules. With
``metrics: {emf: true}`` in the spec that same line is also a CloudWatch Embedded Metric Format document
(``_aws`` plus the metric values), so CloudWatch extracts the metrics from the log with no API call and no
extra line. Then each rejected record logs a line of its own (record id, rule, path, message, every rule it breaks), at most
``TRANSFORM_CORE_REJECTION_LINES`` (default 50) a batch and one line counting the rest. An event that is not a
Firehose transformation event raises ``ValueError``: the invocation fails, never answers an empty batch. The fields,
the Logs Insights queries and the alarms are in ``docs/operations.md``.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any

from transform_core.adapters.layer_check import check_layer

check_layer()  # before the compiled wheels load: a layer for another Python or architecture fails here, in one line

import orjson  # noqa: E402

from transform_core.adapters.allocator import keep_freed_pages  # noqa: E402

keep_freed_pages()  # before the engine's imports load Polars

import polars as pl  # noqa: E402

from transform_core.adapters.delivery import delivery_from_env  # noqa: E402
from transform_core.engine import BatchResult, Pipeline  # noqa: E402
from transform_core.errors import ConfigurationEnvironmentError  # noqa: E402
from transform_core.firehose.batch import RecordBatch  # noqa: E402
from transform_core.schema import rule_id, split_reason  # noqa: E402
from transform_core.spec import MetricsSpec, PipelineSpec, load_spec  # noqa: E402

__all__ = [
    "DEFAULT_REJECTION_LINES",
    "EMF_METRICS",
    "ENRICHMENT_MISSES",
    "REASONS_PER_LINE",
    "REJECTION_LINES_ENV",
    "SPEC_ENV",
    "batch_log",
    "handler",
    "input_bytes",
    "loaded_pipeline",
    "log_line",
    "pipeline_from_env",
    "rejection_lines_from_env",
    "rejection_log_lines",
]

SPEC_ENV = "TRANSFORM_CORE_SPEC"
REJECTION_LINES_ENV = "TRANSFORM_CORE_REJECTION_LINES"
DEFAULT_REJECTION_LINES = 50  # a batch's rejected records logged one by one; the rest are counted in one line
REASONS_PER_LINE = 10  # a rejected record's failing rules in its line; a record breaking more says how many more

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
# With a reference table that keeps misses (``on_missing: keep``): the batch's Ok records left without its fields,
# all such tables together, and ``EnrichmentMisses.<table>`` per table (a name CloudWatch takes: ASCII, not too long).
ENRICHMENT_MISSES = "EnrichmentMisses"
_METRIC_NAME = re.compile(r"[!-~][ -~]{0,254}")


def pipeline_from_env(environ: Mapping[str, str] = os.environ) -> Pipeline:
    """Load the pipeline named by ``TRANSFORM_CORE_SPEC`` (the one place env vars are read), delivering as
    ``TRANSFORM_CORE_DELIVERY`` says (:func:`~transform_core.adapters.delivery.delivery_from_env`)."""
    path = environ.get(SPEC_ENV)
    if not path:
        raise ConfigurationEnvironmentError(f"set {SPEC_ENV} to the path of the pipeline spec")
    return Pipeline(delivery_from_env(load_spec(path), environ))


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


def rejection_lines_from_env(environ: Mapping[str, str] = os.environ) -> int:
    """How many rejected records a batch logs one line each for: ``TRANSFORM_CORE_REJECTION_LINES`` (default 50; 0
    logs none).

    Raises:
        ConfigurationEnvironmentError: the variable holds anything but a whole number.
    """
    value = environ.get(REJECTION_LINES_ENV, "").strip()
    if not value:
        return DEFAULT_REJECTION_LINES
    if not (value.isascii() and value.isdigit()):
        raise ConfigurationEnvironmentError(
            f"set {REJECTION_LINES_ENV} to a whole number of rejected records to log a batch (0: none), not {value!r}"
        )
    return int(value)


def handler(event: Mapping[str, Any], context: Any = None) -> bytes:
    """Lambda entry point: a Firehose transformation event in, the response as JSON bytes out.

    Raises:
        ValueError: ``event`` is not a Firehose transformation event (a function wired to another trigger) or a
            record has no usable recordId: Lambda reports the invocation failed, and Firehose retries the batch.
    """
    pipeline = loaded_pipeline()
    rejection_lines = rejection_lines_from_env()
    started = time.perf_counter()
    batch = RecordBatch.from_firehose_event(event)
    result = pipeline.process(batch)
    elapsed_ms = (time.perf_counter() - started) * 1000
    request_id = getattr(context, "aws_request_id", None)
    sys.stdout.write(
        batch_log(
            result,
            batch,
            pipeline.spec,
            event["invocationId"],
            elapsed_ms,
            request_id=request_id if isinstance(request_id, str) else None,
            rejection_lines=rejection_lines,
        )
    )
    return result.body


def batch_log(
    result: BatchResult,
    batch: RecordBatch,
    spec: PipelineSpec,
    invocation_id: str | None,
    elapsed_ms: float,
    *,
    request_id: str | None = None,
    rejection_lines: int = DEFAULT_REJECTION_LINES,
) -> str:
    """All a batch logs, as JSON lines each ending in a newline: :func:`log_line` (with the spec's metrics), then
    :func:`rejection_log_lines`. The managed handler and the Runtime API loop both write this.

    A batch without rejected records costs nothing beyond its one line.
    """
    line = log_line(
        result,
        invocation_id,
        elapsed_ms,
        spec.name,
        metrics=spec.metrics,
        input_size=input_bytes(batch.data) if spec.metrics.emf else None,
        request_id=request_id,
    )
    if not result.failed or rejection_lines <= 0:
        return line + "\n"
    context: dict[str, Any] = {"pipeline": spec.name, "invocationId": invocation_id}
    if request_id is not None:
        context["requestId"] = request_id
    return "\n".join([line, *rejection_log_lines(result, rejection_lines, context), ""])


def input_bytes(data: Sequence[str]) -> int:
    """The decoded size of a batch's payloads (:attr:`RecordBatch.data`), from their base64 lengths (nothing is
    decoded).

    Exact for canonical base64; a payload that is not (that record fails) is counted as if it were.
    """
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
        "enrich_missed": result.enrich_missed,
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
    units = dict(EMF_METRICS)
    if missed := result.enrich_missed:
        per_table = {f"{ENRICHMENT_MISSES}.{table}": n for table, n in missed.items()}
        misses = {ENRICHMENT_MISSES: sum(missed.values())} | {k: n for k, n in per_table.items() if _METRIC_NAME.fullmatch(k)}
        values |= misses
        units |= dict.fromkeys(misses, "Count")
    dimension_values = {"pipeline": pipeline}  # every name spec.METRIC_DIMENSIONS allows
    return {
        "_aws": {
            "Timestamp": time.time_ns() // 1_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": metrics.namespace,
                    "Dimensions": [list(metrics.dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit} for name, unit in units.items()],
                }
            ],
        },
        **{name: dimension_values[name] for name in metrics.dimensions},
        **values,
    }


def rejection_log_lines(result: BatchResult, limit: int, context: Mapping[str, Any]) -> list[str]:
    """A JSON line for each of the first ``limit`` records the batch returned ``ProcessingFailed``, in batch order,
    then, if there were more, one line counting the others.

    A record's line holds ``context`` (pipeline, invocationId, requestId), its ``recordId``, ``rule`` (the rule id of
    ``top_rejections``: ``$.readings[*].value|maximum``), ``path`` (``$.readings[2].value``) and ``error`` (``must be
    at most 1000``) of its first failing rule, then ``reasons``: every rule it breaks, that one first, at most
    :data:`REASONS_PER_LINE` (``reasons_not_logged`` counts the others).
    """
    if not result.failed or limit <= 0:
        return []
    # an outcome frame's reason is set exactly where the result is ProcessingFailed: one filter finds the records
    rejected = pl.col("reason").is_not_null()
    shown = result.outcomes.select(pl.int_range(pl.len()).alias("row"), "record_id", "reason").filter(rejected).head(limit)
    lines = []
    for row, record_id, reason in shown.iter_rows():
        path, error, _ = split_reason(reason)
        reasons = result.all_reasons(row)
        entry = {"level": "WARNING", "message": "record rejected", **context, "recordId": record_id}
        entry |= {"rule": rule_id(reason), "path": path, "error": error, "reasons": reasons[:REASONS_PER_LINE]}
        if len(reasons) > REASONS_PER_LINE:
            entry["reasons_not_logged"] = len(reasons) - REASONS_PER_LINE
        lines.append(orjson.dumps(entry).decode())
    if result.failed > len(shown):
        more = {"level": "WARNING", "message": "more records rejected", **context, "logged": len(shown)}
        lines.append(orjson.dumps(more | {"not_logged": result.failed - len(shown)}).decode())
    return lines


if os.environ.get(SPEC_ENV):  # inside Lambda: load at init, outside the billed first invocation
    _PIPELINE = pipeline_from_env()
    rejection_lines_from_env()  # a bad value fails the cold start, not each batch
