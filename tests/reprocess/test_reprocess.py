"""`transform-core reprocess`: inputs in, lake out, idempotent, on one or more worker processes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from transform_core.cli import main
from transform_core.generate import iot_payloads
from transform_core.reprocess import Progress, ReprocessOptions, reprocess

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "examples" / "iot" / "pipeline.yaml")


def write_inputs(folder: Path) -> int:
    """Two NDJSON inputs (one gzip) with invalid records; returns the record count."""
    folder.mkdir()
    total = 0
    for i, opener in enumerate([open, gzip.open]):
        payloads = [p.data for p in iot_payloads(1200, 0.1, seed=i) if not p.corrupt_base64]
        with opener(folder / f"part-{i}.ndjson{'.gz' if i else ''}", "wb") as out:  # type: ignore[operator]
            out.write(b"\n".join(payloads) + b"\n")
        total += len(payloads)
    return total


def lake_files(lake: Path) -> list[str]:
    return sorted(str(p.relative_to(lake)) for p in lake.rglob("*") if p.is_file() and "_staging" not in p.parts)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_record_is_accounted_for_and_a_rerun_changes_nothing(tmp_path: Path, workers: int) -> None:
    total = write_inputs(tmp_path / "in")
    lake = tmp_path / "lake"
    options = ReprocessOptions(spec=SPEC, out=str(lake), workers=workers, batch_size=500)
    seen: list[Progress] = []
    summary = reprocess([str(tmp_path / "in")], options, seen.append)
    assert summary.records == total == summary.ok + summary.failed + summary.dropped
    assert summary.failed > 0 and summary.files == 2
    assert seen[-1].files_done == 2 and seen[-1].records == total
    parquet = pl.scan_parquet(str(lake / "raw" / "**" / "*.parquet"), hive_partitioning=False).collect()
    assert parquet.height == summary.ok
    errors = [json.loads(line) for f in (lake / "errors").rglob("*.ndjson") for line in f.read_text().splitlines()]
    assert len(errors) == summary.failed and all(e["reason"] for e in errors)
    files = lake_files(lake)
    again = reprocess([str(tmp_path / "in")], options)
    assert (again.ok, again.failed) == (summary.ok, summary.failed)
    assert lake_files(lake) == files  # same names: overwritten, not duplicated


def test_replaying_the_errors_output_rejects_them_again_unless_fixed(tmp_path: Path) -> None:
    write_inputs(tmp_path / "in")
    lake = tmp_path / "lake"
    first = reprocess([str(tmp_path / "in")], ReprocessOptions(spec=SPEC, out=str(lake), workers=1))
    replay = reprocess([str(lake / "errors")], ReprocessOptions(spec=SPEC, dry_run=True, workers=1))
    assert replay.records == first.failed and replay.failed == first.failed


def test_dry_run_writes_nothing_and_the_cli_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_inputs(tmp_path / "in")
    lake = tmp_path / "lake"
    assert main(["reprocess", "--spec", SPEC, "--out", str(lake), "--dry-run", "--workers", "1", str(tmp_path / "in")]) == 0
    out = capsys.readouterr().out
    assert "records" in out and "dry run" in out and "top rejection rules" in out
    assert not lake.exists()


def test_a_missing_input_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reprocess", "--spec", SPEC, "--dry-run", str(tmp_path / "nope" / "*.ndjson")]) == 1
    assert "nope" in capsys.readouterr().err
