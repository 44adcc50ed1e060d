"""The errors/ rows list every rule a rejected record breaks (``reasons``), its ``reason`` first."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.agreement import batch_of
from transform_core.engine import Pipeline
from transform_core.lake import LakeWriter

GOOD = b'{"event_id":"3f1c2a9e-8d4b-4c7a-9b1e-2f3a4b5c6d7e","device_id":"dev-0001","seq":1,'
GOOD += b'"event_time":"2026-11-27T10:00:00Z","event_type":"telemetry","value":1.5}'
TWO_RULES = GOOD.replace(b'"seq":1', b'"seq":-1').replace(b'"value":1.5', b'"value":5000')


def test_an_error_row_lists_every_failing_rule(pipeline: Pipeline, tmp_path: Path) -> None:
    batch = batch_of([GOOD, TWO_RULES, b"[]"])
    summary = LakeWriter(pipeline.spec, str(tmp_path)).write(pipeline.process(batch), batch, batch_id="r1")
    errors = [json.loads(line) for line in Path(summary.files[-1]).read_text().splitlines()]
    assert [(row["recordId"], row["reason"], row["reasons"]) for row in errors] == [
        (
            "r1",
            "$.seq: must be at least 0 (minimum)",
            ["$.seq: must be at least 0 (minimum)", "$.value: must be at most 1000 (maximum)"],
        ),
        ("r2", "$: expected object, got array (type)", ["$: expected object, got array (type)"]),
    ]
