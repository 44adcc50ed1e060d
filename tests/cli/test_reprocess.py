"""`transform-core reprocess`: the options reach the job, the summary it prints, the progress line, one-line errors."""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from transform_core.cli import main
from transform_core.cli import reprocess as reprocess_cli
from transform_core.demo.generate import iot_payloads
from transform_core.jobs.reprocess import Progress, ReprocessOptions, reprocess

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "examples" / "iot" / "pipeline.yaml")


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """A folder of two NDJSON inputs, one gzip, with invalid records."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        data = b"\n".join(p.data for p in iot_payloads(600, 0.1, seed=i) if not p.corrupt_base64) + b"\n"
        (folder / f"part-{i}.ndjson{'.gz' if i else ''}").write_bytes(gzip.compress(data) if i else data)
    return folder


def summary_counts(out: str) -> dict[str, int]:
    """The summary's count lines (files, records, ok, rejected, dropped, written) as numbers."""
    found = re.findall(r"^(files|records|ok|rejected|dropped|written) +([\d,]+)", out, flags=re.MULTILINE)
    return {name: int(count.replace(",", "")) for name, count in found}


def test_the_summary_agrees_with_the_job(inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = tmp_path / "lake"
    assert main(["reprocess", "--spec", SPEC, "--lake", str(lake), "--workers", "1", "--batch-size", "300", str(inputs)]) == 0
    out = capsys.readouterr().out
    again = reprocess([str(inputs)], ReprocessOptions(spec=SPEC, dry_run=True, workers=1, chunk_size=300))
    expected = {"files": 2, "records": again.records, "ok": again.ok, "rejected": again.failed, "dropped": again.dropped}
    counts = summary_counts(out)
    assert counts == {**expected, "written": counts["written"]} and counts["written"] > 0
    assert "dry run" not in out and re.search(r"^elapsed +[\d.]+ s$", out, flags=re.MULTILINE)
    top = out.split("top rejection rules\n", 1)[1].splitlines()
    assert 0 < len(top) <= 10 and sum(int(line.split()[0].replace(",", "")) for line in top) <= again.failed
    assert any(lake.rglob("*.parquet"))
    missed = again.enrich_missed["devices"]
    assert missed > 0 and f"\nunenriched {missed:>12,} of the ok records, their fields null: devices {missed:,}\n" in out


def test_dry_run_writes_nothing_and_says_so(inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = tmp_path / "lake"
    assert main(["reprocess", "--spec", SPEC, "--out", str(lake), "--dry-run", "--workers", "1", str(inputs)]) == 0
    out = capsys.readouterr().out
    assert "(dry run: nothing written)" in out and summary_counts(out)["written"] == 0
    assert not lake.exists()


def test_a_missing_input_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reprocess", "--spec", SPEC, "--dry-run", str(tmp_path / "nope" / "*.ndjson")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("transform-core: error: ") and "nope" in err and err.count("\n") == 1


def test_the_progress_line_rewrites_itself(capsys: pytest.CaptureFixture[str]) -> None:
    reprocess_cli._progress_line(Progress(files_total=4, files_done=1, records=2000, failed=500, nbytes=10**6, started=0.0))
    err = capsys.readouterr().err
    assert err.startswith("\r[1/4 files] 2,000 records  ") and "rejected 25.0%" in err and not err.endswith("\n")


def test_a_file_not_read_in_full_is_listed_and_the_exit_status_says_so(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = (inputs / "part-1.ndjson.gz").read_bytes()
    (inputs / "part-1.ndjson.gz").write_bytes(whole[: len(whole) // 2])  # a truncated gzip
    os.mkfifo(inputs / "pipe.ndjson")  # not a regular file: never opened
    lake = tmp_path / "lake"
    assert main(["reprocess", "--spec", SPEC, "--lake", str(lake), "--workers", "2", str(inputs)]) == 1
    out = capsys.readouterr().out
    assert "2 files not read in full" in out
    assert re.search(r"part-1\.ndjson\.gz: line \d+: the gzip stream is truncated", out), out
    assert re.search(r"pipe\.ndjson: not a regular file", out), out
    counts = summary_counts(out)
    assert counts["records"] > 600 and counts["ok"] + counts["rejected"] + counts["dropped"] == counts["records"]


def test_files_not_read_in_full_are_said_on_stderr_in_one_line(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(inputs / "pipe.ndjson")  # never opened: reported
    assert main(["reprocess", "--spec", SPEC, "--lake", str(tmp_path / "lake"), "--workers", "1", str(inputs)]) == 1
    err = capsys.readouterr().err
    assert err == (
        "transform-core reprocess: error: 1 input file not read in full (listed above): fix the cause and run the same "
        "command again (what they wrote is replaced)\n"
    )


# --- what the counts alone would hide -----------------------------------------------------------------------------------


def test_blank_lines_are_counted_in_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = [p.data for p in iot_payloads(20, 0.0, seed=1) if not p.corrupt_base64]
    source = tmp_path / "in.ndjson"
    source.write_bytes(b"\n".join([records[0], b"", b"  \t", *records[1:], b"\r"]) + b"\n")
    assert main(["reprocess", "--spec", SPEC, "--dry-run", "--workers", "1", str(source)]) == 0
    out, err = capsys.readouterr()
    assert summary_counts(out)["records"] == len(records) and err == ""
    assert re.search(r"^blank +3 lines skipped \(whitespace only\)$", out, flags=re.MULTILINE), out


def test_an_input_without_records_is_said_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.ndjson").write_bytes(b"")
    (tmp_path / "blank.ndjson").write_bytes(b"\n \n\r\n")
    argv = ["reprocess", "--spec", SPEC, "--lake", str(tmp_path / "lake"), "--workers", "1"]
    assert main([*argv, str(tmp_path / "blank.ndjson"), str(tmp_path / "empty.ndjson")]) == 0
    out, err = capsys.readouterr()
    assert summary_counts(out)["records"] == 0 and re.search(r"^blank +3 lines skipped", out, flags=re.MULTILINE)
    assert err == (
        "transform-core reprocess: warning: 2 input files held no records (nothing, or blank lines only): "
        f"{tmp_path / 'blank.ndjson'}, {tmp_path / 'empty.ndjson'}\n"
    )


def test_an_input_whose_every_record_is_rejected_is_said_on_stderr(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong.ndjson"
    wrong.write_bytes(b'{"a":1}\n{"b":2}\nnot json\n')
    argv = ["reprocess", "--spec", SPEC, "--lake", str(tmp_path / "lake"), "--workers", "1", str(inputs / "part-0.ndjson")]
    assert main([*argv, str(wrong)]) == 0  # a warning: the other input is fine
    out, err = capsys.readouterr()
    assert summary_counts(out)["rejected"] > 3
    assert err == f"transform-core reprocess: warning: every record of 1 input file was rejected (top rules above): {wrong}\n"


@pytest.mark.parametrize(("limit", "status"), [("0.05", 1), ("0.5", 0), ("1", 0)])
def test_max_reject_rate_sets_the_exit_status(limit: str, status: int, inputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["reprocess", "--spec", SPEC, "--dry-run", "--workers", "1", "--max-reject-rate", limit, str(inputs)]
    assert main(argv) == status
    out, err = capsys.readouterr()
    counts = summary_counts(out)
    rate = counts["rejected"] / counts["records"]
    assert 0.05 < rate < 0.5  # the inputs are about 10% invalid
    if status:
        assert err == (
            f"transform-core reprocess: error: {rate:.1%} of the records were rejected ({counts['rejected']:,} of "
            f"{counts['records']:,}), more than --max-reject-rate {limit}\n"
        )
    else:
        assert err == ""


def test_max_reject_rate_is_a_fraction(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["reprocess", "--spec", SPEC, "--max-reject-rate", "5%", "x.ndjson"])
    assert exited.value.code == 2 and "--max-reject-rate: not a number: '5%'" in capsys.readouterr().err


# --- a dry run checks what the real run checks --------------------------------------------------------------------------


@pytest.fixture
def spec_with(tmp_path: Path) -> Any:
    """A copy of the example spec with a schema property added, and the name and lake given."""

    def make(prop: str, *, name: str = "iot-telemetry", closed: bool = False) -> str:
        schema = json.loads((ROOT / "examples" / "iot" / "schemas" / "iot_event.schema.json").read_text())
        schema["properties"][prop] = {"type": "string"}
        if closed:
            schema["additionalProperties"] = False
        (tmp_path / "schema.json").write_text(json.dumps(schema))
        spec = {"version": 1, "name": name, "schema": "schema.json", "event_time": {"field": "event_time"}}
        (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(spec | {"output": {"lake": "lake"}}))
        return str(tmp_path / "pipeline.yaml")

    return make


@pytest.mark.parametrize("dry_run", [True, False])
@pytest.mark.parametrize(("prop", "closed"), [("year", False), ("_extra", False), ("day", True)])
def test_a_property_named_like_a_lake_column_is_refused_saying_what_to_rename(
    prop: str, closed: bool, dry_run: bool, spec_with: Any, inputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_with(prop, closed=closed)
    assert main(["reprocess", "--spec", spec, *(["--dry-run"] if dry_run else []), "--workers", "1", str(inputs)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"transform-core: error: {Path(spec).parent / 'schema.json'}: /properties/{prop}: property {prop!r} has the name "
        "of a column the lake adds (_extra, _ingested_at, _source_record_id, _batch_id, year, month, day): rename the "
        "property (in the schema and in the records)"
        + ("" if closed else ", or take it out of the schema's properties: the lake then keeps its value in _extra")
        + "\n"
    )


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_spec_name_that_cannot_name_the_table_is_refused_by_the_dry_run_too(
    dry_run: bool, spec_with: Any, inputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_with("note", name="iot telemetry!")
    assert main(["reprocess", "--spec", spec, *(["--dry-run"] if dry_run else []), "--workers", "1", str(inputs)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"transform-core: error: {spec}: name: the lake's table is named after it: table must be a plain name")
    assert err.count("\n") == 1


def test_a_dry_run_refuses_a_lake_that_is_a_file(inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "lake").write_text("")
    assert main(["reprocess", "--spec", SPEC, "--dry-run", "--lake", str(tmp_path / "lake"), str(inputs)]) == 1
    assert capsys.readouterr().err.startswith(f"transform-core: error: {tmp_path / 'lake'} is a file, not a folder")


def test_a_dry_run_without_a_lake_checks_the_rest(spec_with: Any, inputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = Path(spec_with("note"))
    spec.write_text(spec.read_text().replace("output:\n  lake: lake\n", ""))
    assert main(["reprocess", "--spec", str(spec), "--dry-run", "--workers", "1", str(inputs)]) == 0
    assert main(["reprocess", "--spec", str(spec), "--workers", "1", str(inputs)]) == 1
    assert capsys.readouterr().err.endswith("output.lake: the lake writer needs output.lake, or a lake root passed in\n")


# --- spark-reprocess: the inputs before the JVM -------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["nope.ndjson", "nope/*.ndjson", "file://{tmp}/nope.ndjson"])
def test_spark_reprocess_refuses_a_missing_input_before_a_jvm_starts(
    missing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_jvm(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a JVM started")

    fake = types.ModuleType("transform_core.adapters.spark.job")
    for name in ("SparkReprocessOptions", "spark_reprocess", "spark_session"):
        setattr(fake, name, no_jvm)
    monkeypatch.setitem(sys.modules, "transform_core.adapters.spark.job", fake)
    path = missing.format(tmp=tmp_path) if missing.startswith("file:") else str(tmp_path / missing)
    assert main(["spark-reprocess", "--spec", SPEC, "--lake", str(tmp_path / "lake"), path]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"transform-core: error: {tmp_path}/nope") and err.count("\n") == 1
    assert err.endswith(("no such file or folder\n", "matches no input file\n"))
