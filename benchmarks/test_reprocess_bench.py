"""The reprocessing benchmark's parts on a small input: both contenders judge alike, the measurement works.

Runs in smoke mode under ``make test`` (about 5,000 records); no test asserts a time.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from benchmarks.reprocess_bench import COUNTS, SMOKE_RECORDS, check_counts, dataset, measure, run_reference, run_reprocess


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return dataset(SMOKE_RECORDS, files=2, folder=tmp_path_factory.mktemp("input"))


def test_the_input_is_cached_and_two_percent_invalid(files: list[Path]) -> None:
    lines = [line for f in files for line in f.read_bytes().splitlines()]
    assert len(lines) == SMOKE_RECORDS
    assert dataset(SMOKE_RECORDS, files=2, folder=files[0].parent.parent) == files  # reused, not regenerated
    assert sum(b"\xff" in line for line in lines) > 0  # the NDJSON form of a corrupted record


def test_transform_core_and_the_reference_agree(files: list[Path], tmp_path: Path) -> None:
    engine = run_reprocess(files, tmp_path / "tc", dry_run=False, workers=1)
    dry = run_reprocess(files, tmp_path / "dry", dry_run=True, workers=1)
    reference = run_reference(files, tmp_path / "ref", workers=1)
    pooled = run_reference(files, tmp_path / "pool", workers=2)
    for counts in (dry, reference, pooled):
        assert {k: counts[k] for k in COUNTS} == {k: engine[k] for k in COUNTS}
    assert engine["records"] == SMOKE_RECORDS == engine["ok"] + engine["failed"] + engine["dropped"]
    assert engine["failed"] == round(SMOKE_RECORDS / 2 * 0.02) * 2
    assert dry["files_written"] == 0 and not (tmp_path / "dry" / "lake").exists()
    lake = pl.scan_parquet(str(tmp_path / "tc" / "lake" / "raw" / "**" / "*.parquet"), hive_partitioning=False).collect()
    assert lake.height == engine["ok"]
    written = sum(len(f.read_bytes().splitlines()) for f in (tmp_path / "ref").glob("ok-*.ndjson"))
    assert written == reference["ok"]


def test_a_contender_runs_in_a_measured_child_process(files: list[Path], tmp_path: Path) -> None:
    result = measure("reference 1 proc", files, tmp_path)
    assert result["records"] == SMOKE_RECORDS
    assert result["wall_s"] >= result["run_s"] > 0
    assert result["processes"] >= 1 and result["largest_process_hwm_mb"] > 0
    assert result["tree_peak_rss_mb"] >= result["largest_process_hwm_mb"] * 0.5


def test_differing_counts_are_refused() -> None:
    same = {"records": 3, "ok": 2, "failed": 1, "dropped": 0}
    check_counts({"a": same, "b": dict(same)})
    with pytest.raises(AssertionError, match="b counts"):
        check_counts({"a": same, "b": {**same, "ok": 1, "dropped": 1}})


def test_spread_days_spreads_the_event_dates(tmp_path: Path) -> None:
    import re

    spread = dataset(400, files=2, folder=tmp_path, spread_days=30)
    assert spread[0].parent.name == "iot-400x2-30d"
    days = {m for f in spread for m in re.findall(rb'"event_time":"([0-9-]{10})', f.read_bytes())}
    assert 20 <= len(days) <= 30 and min(days) >= b"2024-01-01" and max(days) <= b"2024-01-30"
