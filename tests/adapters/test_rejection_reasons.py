"""A rejected record's log line lists every rule it breaks (``reasons``), capped at REASONS_PER_LINE."""

from __future__ import annotations

import json

from tests.helpers.agreement import batch_of
from transform_core.adapters import firehose
from transform_core.engine import Pipeline

GOOD = b'{"event_id":"3f1c2a9e-8d4b-4c7a-9b1e-2f3a4b5c6d7e","device_id":"dev-0001","seq":1,'
GOOD += b'"event_time":"2026-11-27T10:00:00Z","event_type":"telemetry","value":1.5}'


def test_the_line_lists_every_rule_the_first_being_the_records_rule(pipeline: Pipeline) -> None:
    bad = GOOD.replace(b'"seq":1', b'"seq":-1').replace(b'"value":1.5', b'"value":5000')
    result = pipeline.process(batch_of([GOOD, bad]))
    (line,) = [json.loads(text) for text in firehose.rejection_log_lines(result, 50, {"pipeline": "p"})]
    assert line["recordId"] == "r1"
    assert (line["rule"], line["path"], line["error"]) == ("$.seq|minimum", "$.seq", "must be at least 0")
    assert line["reasons"] == ["$.seq: must be at least 0 (minimum)", "$.value: must be at most 1000 (maximum)"]
    assert "reasons_not_logged" not in line


def test_a_record_breaking_many_rules_logs_the_first_ones_and_counts_the_rest(pipeline: Pipeline) -> None:
    extra = b",".join(b'"x%d":1' % i for i in range(15))
    # tags allows no undeclared member: each of the 15 is a rule broken, after seq's
    bad = GOOD.replace(b'"seq":1', b'"seq":-1')[:-1] + b',"tags":{' + extra + b"}}"
    result = pipeline.process(batch_of([bad]))
    (line,) = [json.loads(text) for text in firehose.rejection_log_lines(result, 50, {})]
    assert len(line["reasons"]) == firehose.REASONS_PER_LINE
    assert line["reasons"][:2] == [
        "$.seq: must be at least 0 (minimum)",
        "$.tags.x0: property is not allowed (additionalProperties)",
    ]
    assert line["reasons_not_logged"] == 16 - firehose.REASONS_PER_LINE
