"""A lake Firehose delivered (or ``transform_core.local``): JSON objects in the raw zone, its error output in errors/.

Firehose's error lines hold the record but not the reason the function gave: a ``ProcessingFailedStatus`` record is
judged again by the spec, any other is named by its output type and error code.
"""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from tests.dashboard.lakes import END
from transform_core.dashboard import read_dashboard
from transform_core.dashboard.rejected import ACCEPTED_NOW
from transform_core.demo.generate import firehose_event
from transform_core.demo.schema_records import spec_payloads
from transform_core.engine import Pipeline
from transform_core.schema import rule_id

TABLE = "iot_telemetry"
OBJECT = "iot-telemetry-1-{time}-{n:08d}-0000-4000-8000-000000000000{ext}"


def firehose_object(folder: Path, written: str, n: int, lines: list[bytes], ext: str = ".gz") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = b"".join(lines)
    (folder / OBJECT.format(time=written, n=n, ext=ext)).write_bytes(gzip.compress(data) if ext == ".gz" else data)


def error_line(raw: bytes, code: str, message: str) -> bytes:
    line = {"attemptsMade": 1, "arrivalTimestamp": 1_795_000_000_000, "errorCode": code, "errorMessage": message}
    return json.dumps(line | {"attemptEndingTimestamp": 1_795_000_000_500, "rawData": base64.b64encode(raw).decode()}).encode()


@pytest.fixture(scope="module")
def lake(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    root = tmp_path_factory.mktemp("firehose-lake")
    payloads = spec_payloads(pipeline.spec, 400, 0.25, seed=3, end=END)
    outcomes = pipeline.process_firehose(firehose_event(payloads)).outcomes
    ok = outcomes.filter(pl.col("result") == "Ok")
    for (year, month, day), part in ok.group_by("year", "month", "day"):
        lines = [base64.b64decode(data) for data in part["data"]]  # as the function returned them, newline-ended
        firehose_object(root / "raw" / TABLE / f"year={year}/month={month}/day={day}", "2026-11-20-10-00-00", 1, lines)
    failed = [p.data for p, result in zip(payloads, outcomes["result"], strict=True) if result == "ProcessingFailed"]
    lines = [error_line(raw, "Lambda.ProcessingFailedStatus", "ProcessingFailed status set for record") + b"\n" for raw in failed]
    lines.append(error_line(b'{"ok": "but the function failed"}', "Lambda.FunctionError", "The Lambda function ...") + b"\n")
    folder = root / "errors" / TABLE / "processing-failed" / "year=2026/month=11/day=20"
    firehose_object(folder, "2026-11-20-10-00-05", 2, lines[:50])
    firehose_object(folder, "2026-11-20-10-01-05", 3, lines[50:], ext="")  # Parquet delivery leaves errors uncompressed
    return root, outcomes


def test_ok_records_come_from_firehose_objects(pipeline: Pipeline, lake: tuple[Path, pl.DataFrame]) -> None:
    root, outcomes = lake
    data = read_dashboard(pipeline.spec, str(root))
    assert data.ok_zone == "raw" and data.ok_records == outcomes.filter(pl.col("result") == "Ok").height
    assert data.problems == ()
    assert data.measure is not None and data.measure.frame["records"].sum() == data.ok_records


def test_rejected_records_are_judged_again_for_their_rule(pipeline: Pipeline, lake: tuple[Path, pl.DataFrame]) -> None:
    root, outcomes = lake
    data = read_dashboard(pipeline.spec, str(root))
    failed = outcomes.filter(pl.col("result") == "ProcessingFailed")
    assert data.rejected_records == failed.height + 1
    expected = {rule_id(reason) for reason in failed["reason"]} | {"processing-failed|Lambda.FunctionError"}
    assert set(data.rules["rule"]) <= expected and ACCEPTED_NOW not in set(data.rules["rule"])
    assert "$|json" in set(data.rules["rule"])


def test_times_are_the_objects_names(pipeline: Pipeline, lake: tuple[Path, pl.DataFrame]) -> None:
    data = read_dashboard(pipeline.spec, str(lake[0]))
    times = set(data.outcomes["time"].to_list())
    assert times == {datetime(2026, 11, 20, 10, 0, 0), datetime(2026, 11, 20, 10, 0, 5), datetime(2026, 11, 20, 10, 1, 5)}
    assert data.outcome_bucket is not None and data.outcome_bucket.label == "second"
    errors = data.partitions.filter(pl.col("zone") == "errors")
    assert errors.rows() == [("errors", "2026-11-20", 2, errors["bytes"][0], data.rejected_records)]
    assert data.event_times is not None and data.event_times[1] < END.astimezone(UTC)


def test_a_file_that_is_not_error_output_is_named_not_counted(pipeline: Pipeline, tmp_path: Path) -> None:
    folder = tmp_path / "errors" / TABLE / "processing-failed" / "year=2026/month=11/day=20"
    firehose_object(folder, "2026-11-20-10-00-05", 1, [b"not json\n"], ext="")
    data = read_dashboard(pipeline.spec, str(tmp_path))
    assert data.rejected_records == 0 and len(data.problems) == 1
    assert data.problems[0].startswith(str(folder)) and ": not Firehose error output: " in data.problems[0]
