"""The compaction benchmark's parts on a small raw zone: the input has its re-deliveries, both compactions keep the same
rows in measured child processes (today's alone when the clone lacks the old commit), the table reads right.

Runs in smoke mode under ``make test`` (2,000 raw rows, a few seconds); no test asserts a time.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from benchmarks.compact_bench import (
    NEW,
    OLD,
    RawZone,
    check_rows,
    contenders,
    format_table,
    measure,
    medians,
    old_tree,
    raw_zone,
)

ROWS = 2_000


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> RawZone:
    return raw_zone(ROWS, folder=tmp_path_factory.mktemp("input"))


def test_the_raw_zone_holds_two_percent_re_deliveries_and_is_reused(zone: RawZone) -> None:
    raw = pl.concat([pl.read_parquet(f) for f in zone.files])
    assert raw.height == zone.rows == ROWS and zone.unique == ROWS - 40
    assert raw["event_id"].n_unique() == zone.unique
    copies = raw.filter(pl.col("event_id").is_duplicated())
    assert copies.height == 2 * (ROWS - zone.unique)
    assert copies.group_by("event_id").agg(pl.col("_source_record_id").n_unique(), pl.col("_batch_id").n_unique()).select(
        pl.col("_source_record_id").max(), pl.col("_batch_id").min()
    ).row(0) == (1, 2)  # a re-delivery: the same recordId, another batch
    assert len({f.parent.name for f in zone.files}) == 4  # four days
    assert raw_zone(ROWS, folder=zone.root.parent.parent).files == zone.files  # reused, not regenerated


def test_each_compaction_keeps_the_distinct_records_in_a_measured_process(zone: RawZone, tmp_path: Path) -> None:
    chosen = contenders(old_tree())  # without the old commit (a shallow clone), today's alone
    results = {c.name: measure(c, zone, tmp_path) for c in chosen}
    check_rows(results, zone)
    for name, result in results.items():
        assert result["data_files"] == 4, name  # one a day
        assert result["wall_s"] >= result["run_s"] > result["import_s"] > 0
        assert result["peak_rss_mb"] > 0 and result["cpu_s"] > 0
    assert list(results)[-1] == NEW and not list(tmp_path.iterdir())  # every lake removed after its run


def test_wrong_counts_are_refused(zone: RawZone) -> None:
    check_rows({NEW: {"rows_in": zone.rows, "rows_out": zone.unique}}, zone)
    with pytest.raises(AssertionError, match=f"{NEW} read"):
        check_rows({NEW: {"rows_in": zone.rows, "rows_out": zone.rows}}, zone)


def test_the_table_shows_medians_and_the_ratio_to_the_manifest_compaction() -> None:
    counts = {"rows_in": 100, "rows_out": 98, "data_files": 4, "import_s": 0.1, "peak_rss_mb": 300.0}
    rounds = [
        {
            OLD: {**counts, "wall_s": w, "cpu_s": w, "run_s": w - 0.1},
            NEW: {**counts, "wall_s": 2 * w, "cpu_s": 3 * w, "run_s": 2 * w - 0.1, "peak_rss_mb": 500.0},
        }
        for w in (1.0, 1.5, 9.0)  # one noisy round: the median ignores it
    ]
    table = format_table(medians(rounds))
    header, _, old, new = ([cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines())
    first, second = dict(zip(header, old, strict=True)), dict(zip(header, new, strict=True))
    assert (first["wall s"], first["wall vs manifest"]) == ("1.50", "1.00×")
    assert (second["wall s"], second["wall vs manifest"], second["CPU vs manifest"], second["peak RSS MB"]) == (
        "3.00",
        "2.00×",
        "3.00×",
        "500",
    )


def test_a_clone_without_the_old_commit_runs_today_s_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import benchmarks.compact_bench as bench

    monkeypatch.setattr(bench, "OLD_COMMIT", "0" * 40)  # as in a shallow clone: not there
    assert old_tree(tmp_path) is None
    assert [c.name for c in contenders(None)] == [NEW]
