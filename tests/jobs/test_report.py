"""`reprocess --report`: one row per rejected record, from every worker, none lost or doubled, in both formats."""

from __future__ import annotations

import base64
import csv
import gzip
import json
from pathlib import Path

import orjson
import pytest

from tests.jobs.input_files import input_id
from transform_core.cli import main
from transform_core.demo.generate import iot_payloads
from transform_core.jobs.report import COLUMNS, ReportError, ReportTarget, report_format
from transform_core.jobs.reprocess import ReprocessOptions, reprocess
from transform_core.reference import ReferencePipeline
from transform_core.schema import rule_id, split_reason
from transform_core.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "examples" / "iot" / "pipeline.yaml")


def _lines(seed: int, n: int = 400) -> list[bytes]:
    return [p.data for p in iot_payloads(n, 0.15, seed=seed) if not p.corrupt_base64 and b"\n" not in p.data]


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    """Three inputs (NDJSON, gzip NDJSON, Firehose processing-failed lines) and each rejected record's reasons by id,
    as the reference judges them."""
    folder = tmp_path / "in"
    folder.mkdir()
    reference = ReferencePipeline(load_spec(SPEC))
    expected: dict[str, list[str]] = {}
    for i in range(2):
        lines = _lines(i)
        content = b"\n".join(lines) + b"\n"
        file_id = input_id(content)
        (folder / f"part-{i}.ndjson{'.gz' if i else ''}").write_bytes(gzip.compress(content) if i else content)
        for number, line in enumerate(lines, start=1):
            if reasons := reference.failures(line):
                expected[f"{file_id}-{number}"] = reasons
    failed = [base64.b64encode(line).decode() for line in _lines(5, 60)]
    objects = [{"attemptsMade": 1, "errorCode": "Lambda.FunctionError", "errorMessage": "x", "rawData": d} for d in failed]
    content = b"".join(orjson.dumps(o) + b"\n" for o in objects)
    file_id = input_id(content)
    (folder / "processing-failed.json").write_bytes(content)
    for number, data in enumerate(failed, start=1):
        if reasons := reference.failures(base64.b64decode(data)):
            expected[f"{file_id}-{number}"] = reasons
    return folder, expected


def _read(report: Path) -> list[dict[str, list[str]]]:
    if report.suffix == ".csv":
        with open(report, newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
        assert rows and tuple(rows[0]) == COLUMNS
        return rows
    return [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("name", ["rejected.csv", "rejected.ndjson"])
def test_a_dry_run_on_two_workers_lists_each_rejected_record_once(
    inputs: tuple[Path, dict[str, list[str]]], tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, expected = inputs
    (temp := tmp_path / "temp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))  # where the run keeps its workers' parts
    report = tmp_path / "out" / name
    target = ReportTarget(str(report), report_format(str(report)))
    summary = reprocess([str(folder)], ReprocessOptions(spec=SPEC, dry_run=True, workers=2, chunk_size=97, report=target))
    rows = _read(report)
    assert summary.failed == len(expected) == summary.reported == len(rows)
    assert {row["record_id"]: (row["rule"], row["path"], row["message"]) for row in rows} == {
        record_id: (rule_id(reasons[0]), *split_reason(reasons[0])[:2]) for record_id, reasons in expected.items()
    }
    for row in rows:
        assert row["record_id"] == f"{row['record_id'].split('-')[0]}-{row['line']}"  # the line in its own file
        assert Path(row["source"]).parent == folder
        rules = row["rules"] if isinstance(row["rules"], list) else row["rules"].split("; ")
        assert rules == [rule_id(reason) for reason in expected[row["record_id"]]]
    assert not list(temp.iterdir())  # the parts are gone


def test_a_real_run_lists_what_the_errors_zone_holds(inputs: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> None:
    folder, expected = inputs
    lake, report = tmp_path / "lake", tmp_path / "rejected.jsonl"
    args = ["reprocess", "--spec", SPEC, "--lake", str(lake), "--workers", "2", "--chunk-size", "50", "--quiet"]
    assert main([*args, "--report", str(report), str(folder)]) == 0
    stored = {
        json.loads(line)["recordId"]
        for file in (lake / "errors").rglob("*.ndjson")
        for line in file.read_text(encoding="utf-8").splitlines()
    }
    rows = _read(report)
    assert len(rows) == len(expected) == len(stored)
    assert {row["record_id"] for row in rows} == stored == set(expected)


def test_the_line_of_a_processing_failed_object(inputs: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> None:
    folder, _ = inputs
    report = tmp_path / "rejected.ndjson"
    source = folder / "processing-failed.json"
    reprocess(
        [str(source)],
        ReprocessOptions(spec=SPEC, dry_run=True, workers=1, report=ReportTarget(str(report), "ndjson")),
    )
    lines = source.read_bytes().splitlines()
    for row in _read(report):
        data = json.loads(lines[int(row["line"]) - 1])["rawData"]
        assert rule_id(ReferencePipeline(load_spec(SPEC)).process_record(data, None).reason or "") == row["rule"]


def test_the_summary_line_and_the_format_option(
    inputs: tuple[Path, dict[str, list[str]]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, expected = inputs
    report = tmp_path / "rejected.txt"
    args = ["reprocess", "--spec", SPEC, "--dry-run", "--workers", "1", "--report", str(report), str(folder)]
    assert main([*args, "--report-format", "csv"]) == 0
    assert f"report     {len(expected):>12,} rejected records listed in {report}" in capsys.readouterr().out
    assert len(_read(report.rename(report.with_suffix(".csv")))) == len(expected)


@pytest.mark.parametrize(
    ("report", "message"),
    [
        ("rejected.txt", "cannot tell the report's format from its name"),
        ("folder", "is a folder: give the report a file name"),
    ],
)
def test_a_report_that_cannot_be_written_fails_before_the_run(
    inputs: tuple[Path, dict[str, list[str]]], tmp_path: Path, capsys: pytest.CaptureFixture[str], report: str, message: str
) -> None:
    folder, _ = inputs
    (tmp_path / "folder").mkdir()
    lake = tmp_path / "lake"
    args = ["reprocess", "--spec", SPEC, "--lake", str(lake), "--report", str(tmp_path / report), str(folder)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not lake.exists()


def test_report_format() -> None:
    assert [report_format(name) for name in ("a.ndjson", "a.JSONL", "b.csv")] == ["ndjson", "ndjson", "csv"]
    assert report_format("a.csv", "ndjson") == "ndjson"
    with pytest.raises(ReportError, match="--report-format"):
        report_format("a.parquet")


def test_a_report_on_s3(inputs: tuple[Path, dict[str, list[str]]], s3_bucket: str, moto_server: str) -> None:
    import boto3

    folder, expected = inputs
    target = ReportTarget(f"s3://{s3_bucket}/reports/rejected.ndjson", "ndjson")
    options = ReprocessOptions(spec=SPEC, dry_run=True, workers=1, endpoint_url=moto_server, report=target)
    assert reprocess([str(folder)], options).reported == len(expected)
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    body = client.get_object(Bucket=s3_bucket, Key="reports/rejected.ndjson")["Body"].read()
    assert {json.loads(line)["record_id"] for line in body.splitlines()} == set(expected)
