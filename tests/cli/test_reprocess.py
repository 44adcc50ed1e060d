"""`transform-core reprocess`: the options reach the job, the summary it prints, the progress line, one-line errors."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import pytest

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
