"""The engine's Pipeline as a whole: a spec whose records without an event time take their arrival time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.events import load_event
from transform_core import load_pipeline
from transform_core.firehose.outcomes import OK

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SPEC = REPO / "examples" / "iot" / "pipeline.yaml"
SCHEMA = REPO / "examples" / "iot" / "schemas" / "iot_event.schema.json"
DAY_KEYS = ("year", "month", "day")


def arrival_time_spec(folder: Path, *, keep_format: bool) -> Path:
    """The example pipeline, except that a record without event_time is partitioned by its arrival time."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    schema["required"].remove("event_time")
    if not keep_format:
        del schema["properties"]["event_time"]["format"]
    (folder / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    spec = EXAMPLE_SPEC.read_text(encoding="utf-8")
    spec = spec.replace("schemas/iot_event.schema.json", "schema.json").replace("on_missing: reject", "on_missing: arrival_time")
    spec = spec.replace("../../reference_data/devices.csv", str(REPO / "reference_data" / "devices.csv"))
    path = folder / "pipeline.yaml"
    path.write_text(spec, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "keep_format",
    [
        False,
        True,
    ],
    ids=["event_time-without-format", "event_time-format-date-time"],
)
def test_kinesis_iso_arrival_time_partitions_records_without_event_time(tmp_path: Path, keep_format: bool) -> None:
    pipeline = load_pipeline(arrival_time_spec(tmp_path, keep_format=keep_format))
    assert pipeline.spec.event_time.on_missing == "arrival_time"

    records = pipeline.handle_firehose(load_event("kinesis_source.json"))["records"]

    assert [r["result"] for r in records] == [OK, OK, OK, OK]
    days = [tuple(r["metadata"]["partitionKeys"][k] for k in DAY_KEYS) for r in records]
    assert days == [
        ("2026", "11", "27"),  # its own event_time
        ("2026", "11", "28"),  # arrival 2026-11-28T00:00:00.000Z
        ("2026", "11", "27"),  # arrival 2026-11-28T00:30:00.250+01:00 is the 27th in UTC
        ("2026", "11", "27"),  # event_time 2026-11-28T01:02:03+05:45
    ]
