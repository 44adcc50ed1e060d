"""The Spark benchmark's parts on the smoke input: the Spark contender judges as reprocess does; the table reads right.

Starts one local Spark (about 20 s), so it carries the ``spark`` marker; no test asserts a time.
"""

from __future__ import annotations

import polars as pl
import pytest

from benchmarks.reprocess_bench import COUNTS, SMOKE_RECORDS, dataset, run_reprocess
from benchmarks.spark_bench import format_table, medians, run_spark


@pytest.mark.spark
def test_the_spark_contender_counts_and_writes_what_reprocess_does(tmp_path_factory: pytest.TempPathFactory) -> None:
    files = dataset(SMOKE_RECORDS, files=2, folder=tmp_path_factory.mktemp("input"))
    single = run_reprocess(files, tmp_path_factory.mktemp("single"), dry_run=False, workers=1)
    out = tmp_path_factory.mktemp("spark")
    spark = run_spark(files, out, dry_run=False, master="local[2]")
    assert {k: spark[k] for k in COUNTS} == {k: single[k] for k in COUNTS}
    assert spark["records"] == SMOKE_RECORDS and spark["session_s"] > 0
    lake = pl.scan_parquet(str(out / "lake" / "raw" / "**" / "*.parquet"), hive_partitioning=False).collect()
    assert lake.height == spark["ok"] and set(lake["_batch_id"]) == {"bench"}


def test_the_table_shows_medians_and_the_ratio_to_reprocess() -> None:
    counts = {"records": 10, "ok": 8, "failed": 1, "dropped": 1}
    rounds = [
        {
            "reprocess": {**counts, "wall_s": w, "run_s": w - 1, "tree_peak_rss_mb": 100.0},
            "spark": {**counts, "wall_s": 3 * w, "run_s": 3 * w - 1, "session_s": 5.0, "tree_peak_rss_mb": 900.0},
        }
        for w in (10.0, 12.0, 40.0)  # one noisy round: the median ignores it
    ]
    table = format_table(medians(rounds), input_bytes=12_000_000)
    header, _, reprocess, spark = ([cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines())
    first, second = dict(zip(header, reprocess, strict=True)), dict(zip(header, spark, strict=True))
    assert (first["wall s"], first["session start s"], first["wall vs reprocess"]) == ("12.0", "–", "1.00×")
    assert (second["wall s"], second["session start s"], second["wall vs reprocess"], second["MB/s"]) == (
        "36.0",
        "5.0",
        "3.00×",
        "0.3",
    )
