"""Odd values in the event's envelope.

A record's ``data`` that is not base64 text fails that record alone, as the reference judges it. Firehose always
sends base64, but a test event, a replay tool or a hand-written one may not. A lone surrogate (``"\\ud800"`` in the
event's JSON, which the json module reads into a ``str`` that UTF-8 cannot encode) failed the whole batch until
2026-11-28: Polars refused it while building the data column.

A recordId that is not such a string refuses the event with a ValueError that names the record: the response could
not name it. Until 2026-11-28 a number failed with Polars' own TypeError, and a null one was answered as ``"None"``.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers.agreement import agreed_outcomes
from tests.helpers.not_firehose import firehose_event
from transform_core.demo.generate import iot_payloads
from transform_core.engine import Pipeline
from transform_core.firehose.batch import RecordBatch
from transform_core.firehose.outcomes import FAILED, OK
from transform_core.reference import ReferencePipeline
from transform_core.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "iot" / "pipeline.yaml"
GOOD = base64.b64encode(iot_payloads(1, seed=3)[0].data).decode()

ODD_DATA: dict[str, Any] = {
    "lone surrogate": json.loads('"\\ud800"'),
    "surrogate inside base64": "eA==" + json.loads('"\\udfff"'),
    "null": None,
    "number": 12,
    "array": ["eA=="],
    "object": {"data": "eA=="},
    "non-ASCII text": "é",
    "empty": "",
}


def event(odd: Any) -> dict[str, Any]:
    """The odd data between two good records."""
    return firehose_event(
        [
            {"recordId": "before", "approximateArrivalTimestamp": 1_795_824_000_000, "data": GOOD},
            {"recordId": "odd", "approximateArrivalTimestamp": 1_795_824_000_001, "data": odd},
            {"recordId": "after", "approximateArrivalTimestamp": 1_795_824_000_002, "data": GOOD},
        ]
    )


@pytest.mark.parametrize("name", sorted(ODD_DATA))
def test_odd_data_fails_its_record_alone(name: str) -> None:
    spec = load_spec(SPEC)
    engine, reference = Pipeline(spec), ReferencePipeline(spec)
    batch = RecordBatch.from_firehose_event(event(ODD_DATA[name]))

    outcomes = agreed_outcomes(engine, reference, batch)
    assert outcomes["result"].to_list() == [OK, FAILED, OK]
    assert outcomes["reason"][1] is not None

    body = orjson.loads(engine.process(batch).body)
    assert [r["recordId"] for r in body["records"]] == ["before", "odd", "after"]
    assert [r["result"] for r in body["records"]] == [OK, FAILED, OK]


def test_the_data_column_is_the_data_as_sent() -> None:
    batch = RecordBatch.from_firehose_event(event("eA=="))
    assert batch.data_column().to_list() == batch.data == [GOOD, "eA==", GOOD]
    cleaned = RecordBatch.from_firehose_event(event(ODD_DATA["lone surrogate"]))
    assert cleaned.data_column().to_list() == cleaned.data == [GOOD, "", GOOD]


@pytest.mark.parametrize(
    ("record_id", "shown"),
    [(7, "7"), (None, "None"), (json.loads('"\\ud800"'), "'\\ud800'"), (["r"], "['r']")],
)
def test_a_record_id_that_is_not_a_string_refuses_the_event(record_id: Any, shown: str) -> None:
    event = firehose_event([{"recordId": "fine", "data": GOOD}, {"recordId": record_id, "data": GOOD}])
    message = f"not a Firehose transformation event: record 1 has recordId {shown}; Firehose sends UTF-8 strings"
    with pytest.raises(ValueError, match=re.escape(message)):
        RecordBatch.from_firehose_event(event)
    with pytest.raises(ValueError, match=re.escape(message)):  # the raw-bytes path, through the general one
        RecordBatch.from_event_bytes(json.dumps(event).encode())
