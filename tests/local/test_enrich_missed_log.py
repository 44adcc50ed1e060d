"""The local pipeline's enrichment misses, read back from the function's log lines of one run."""

from __future__ import annotations

import json
from pathlib import Path

from transform_core.local.pipeline import enrich_missed_in_log


def batch_line(invocation: str, **missed: int) -> str:
    return json.dumps({"level": "INFO", "message": "batch transformed", "invocationId": invocation, "enrich_missed": missed})


def test_the_lines_of_this_run_add_up_per_table_and_a_retried_batch_counts_once(tmp_path: Path) -> None:
    log = tmp_path / "lambda.log"
    earlier = batch_line("old", devices=50) + "\n"
    lines = [
        batch_line("a", devices=2, sites=0),
        json.dumps({"level": "WARNING", "message": "record rejected", "invocationId": "a"}),
        "Traceback (most recent call last):",
        batch_line("b", devices=1, sites=4),
        batch_line("b", devices=1, sites=4),  # Firehose invoked the batch again: the same invocationId
        batch_line("c"),
    ]
    log.write_text(earlier + "\n".join(lines) + "\n", encoding="utf-8")

    assert enrich_missed_in_log(log, len(earlier)) == {"devices": 3, "sites": 4}
    assert enrich_missed_in_log(log) == {"devices": 53, "sites": 4}
    assert enrich_missed_in_log(tmp_path / "none.log") == {}
