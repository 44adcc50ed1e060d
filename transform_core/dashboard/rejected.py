"""The errors zone as rejected records, whoever wrote it: the lake writer, or Firehose's error output.

- The lake writer's ``errors/<table>/year=…/month=…/day=…/part-*.ndjson``: each line holds the reason the spec gave
  the record and ``errorTimestamp``, read through :func:`~transform_core.lake.query.lake_tables`.
- Firehose's error output, ``errors/<table>/<error output type>/year=…/…`` (gzip or not; ``transform_core.local``
  writes the same): each line holds an ``errorCode`` and the record's ``rawData``, not the reason the function gave.
  A ``Lambda.ProcessingFailedStatus`` record is judged again by the spec's engine, which names the rule it fails now;
  any other record is named by its output type and code (``processing-failed|Lambda.FunctionError``,
  ``format-conversion-failed|DataFormatConversion.MalformedData``).

Either way a record's time is when it was written to the lake: ``errorTimestamp``, or the time in the object's name
(the time of its attempt, or of its arrival, when the name has none).
"""

from __future__ import annotations

import gzip
import posixpath
import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
import polars as pl

from transform_core.firehose.outcomes import FAILED
from transform_core.lake.raw_firehose import name_time
from transform_core.lake.storage import read_bytes
from transform_core.schema import rule_id
from transform_core.spec import PipelineSpec

__all__ = ["ACCEPTED_NOW", "REJECTED_SCHEMA", "Rejected", "read_rejected"]

#: The rule of a record in Firehose's error output that the spec accepts now (the spec changed since).
ACCEPTED_NOW = "(accepted by the spec now)"
PROCESSING_FAILED = "Lambda.ProcessingFailedStatus"
#: One row per rejected record: when the lake got it, its reason (or Firehose's message), its rule, its partition.
REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "time": pl.Datetime("us"),
    "reason": pl.String(),
    "rule": pl.String(),
    "partition": pl.String(),
}
_CODES = ("errorCode", "lastErrorCode", "ErrorCode")
_MESSAGES = ("errorMessage", "lastErrorMessage", "ErrorMessage")


class Rejected(NamedTuple):
    """The errors zone's records (:data:`REJECTED_SCHEMA`) and the files not read, each ``(file, why)``."""

    frame: pl.DataFrame
    problems: tuple[tuple[str, str], ...]


def read_rejected(
    spec: PipelineSpec,
    writer_errors: pl.LazyFrame | None,
    firehose_files: Sequence[str],
    *,
    prefix: str,
    label: Callable[[str], str],
    endpoint_url: str | None = None,
) -> Rejected:
    """The rejected records of the lake writer's error files and of Firehose's error objects.

    Args:
        spec: the pipeline spec; it judges again the records Firehose's objects hold.
        writer_errors: the lake writer's errors table (``errors_<table>`` of ``lake_tables``), or None.
        firehose_files: the other files of the errors zone.
        prefix: the errors zone's folder of the table, ``<root>/errors/<table>``.
        label: a function from a file to its partition label.
        endpoint_url: S3 endpoint, overriding the AWS environment variables.
    """
    frames: list[pl.DataFrame] = []
    if writer_errors is not None:
        date = pl.concat_str([pl.col("year"), pl.col("month"), pl.col("day")], separator="-")
        frame = writer_errors.select(
            pl.col("errorTimestamp").dt.replace_time_zone(None).alias("time"), "reason", date.alias("partition")
        ).collect()
        rules = {reason: rule_id(reason) for reason in frame["reason"].unique().to_list() if reason}
        rule = pl.col("reason").replace_strict(rules, default="(no reason)", return_dtype=pl.String)
        frames.append(frame.with_columns(rule.alias("rule")).select(list(REJECTED_SCHEMA)))
    rows: list[dict[str, Any]] = []
    problems: list[tuple[str, str]] = []
    for file in firehose_files:
        try:
            rows += _lines(file, read_bytes(file, endpoint_url=endpoint_url), _output_type(file, prefix), label(file))
        except (OSError, EOFError, zlib.error, orjson.JSONDecodeError) as err:
            problems.append((file, f"not Firehose error output: {' '.join(str(err).split()) or type(err).__name__}"))
    if rows:
        frames.append(_judged(spec, rows))
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=REJECTED_SCHEMA)
    return Rejected(frame, tuple(problems))


def _lines(file: str, data: bytes, kind: str, partition: str) -> list[dict[str, Any]]:
    """The records of one Firehose error object of an output type."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    written = name_time(posixpath.basename(file))
    rows = []
    for line in data.splitlines():
        if not line.strip():
            continue
        value = orjson.loads(line)
        if not isinstance(value, dict):
            raise orjson.JSONDecodeError("a line is not a JSON object", line.decode(errors="replace"), 0)
        code = next((str(value[k]) for k in _CODES if k in value), "unknown")
        message = next((str(value[k]) for k in _MESSAGES if k in value), None)
        moment = written or _ms(value.get("attemptEndingTimestamp")) or _ms(value.get("arrivalTimestamp"))
        rows.append(
            {
                "time": moment.replace(tzinfo=None) if moment else None,
                "code": code,
                "message": message,
                "rule": f"{kind}|{code}",
                "raw": value.get("rawData") if isinstance(value.get("rawData"), str) else "",
                "arrival": value.get("arrivalTimestamp") if isinstance(value.get("arrivalTimestamp"), int) else None,
                "partition": partition,
            }
        )
    return rows


def _judged(spec: PipelineSpec, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Firehose's records with their rule: a ``ProcessingFailedStatus`` one judged again by the engine."""
    failed = [i for i, row in enumerate(rows) if row["code"] == PROCESSING_FAILED]
    if failed:
        from transform_core.engine import Pipeline
        from transform_core.firehose.batch import RecordBatch

        batch = RecordBatch(
            record_ids=[str(i) for i in failed],
            data=[rows[i]["raw"] for i in failed],
            arrival_ms=[rows[i]["arrival"] for i in failed],
        )
        outcomes = Pipeline(spec).process(batch, respond=False).outcomes  # no response to build, none shed
        for i, (result, reason) in zip(failed, outcomes.select("result", "reason").iter_rows(), strict=True):
            rows[i]["message"] = reason
            rows[i]["rule"] = rule_id(reason) if result == FAILED and reason else ACCEPTED_NOW
    return pl.DataFrame(
        {
            "time": [row["time"] for row in rows],
            "reason": [row["message"] or row["code"] for row in rows],
            "rule": [row["rule"] for row in rows],
            "partition": [row["partition"] for row in rows],
        },
        schema=REJECTED_SCHEMA,
    )


def _output_type(file: str, prefix: str) -> str:
    """The folder under ``errors/<table>/`` that names the error output type (``processing-failed``), if any."""
    parts = file.replace("\\", "/")[len(prefix.replace("\\", "/")) :].strip("/").split("/")
    return parts[0] if len(parts) > 1 and "=" not in parts[0] else "error-output"


def _ms(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 253_402_300_800_000:
        return datetime.fromtimestamp(value / 1000, UTC)
    return None
