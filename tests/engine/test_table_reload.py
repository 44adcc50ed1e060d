"""Reference tables reload when their file changes; a bad rewrite keeps the last good table."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from transform_core import RecordBatch, load_pipeline

ROOT = Path(__file__).resolve().parents[2]
RECORD = {
    "event_id": "3f1c2a9e-8d4b-4c7a-9b1e-2f3a4b5c6d7e",
    "device_id": "dev-0001",
    "seq": 1,
    "event_time": "2026-11-27T10:00:00Z",
    "event_type": "alert",
    "value": 1,
}


def site_of(pipeline: object, record: dict[str, object]) -> object:
    data = base64.b64encode(json.dumps(record, separators=(",", ":")).encode()).decode()
    outcome = pipeline.process(RecordBatch(record_ids=["a"], data=[data], arrival_ms=[None])).outcomes  # type: ignore[attr-defined]
    assert outcome["result"][0] == "Ok"
    return json.loads(base64.b64decode(outcome["data"][0]))["site"]


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "examples" / "iot" / "schemas", tmp_path / "schemas")
    (tmp_path / "devices.csv").write_text("device_id,site,model\ndev-0001,plant-1,TH-100\n", encoding="utf-8")
    spec = (ROOT / "examples" / "iot" / "pipeline.yaml").read_text(encoding="utf-8")
    spec = spec.replace("../../reference_data/devices.csv", "devices.csv")
    path = tmp_path / "pipeline.yaml"
    path.write_text(spec, encoding="utf-8")
    return path


def rewrite(table: Path, text: str) -> None:
    table.write_text(text, encoding="utf-8")
    stat = table.stat()
    os.utime(table, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a new stamp without sleeping


def test_a_changed_table_is_used_by_the_next_batch(spec: Path) -> None:
    pipeline = load_pipeline(spec)
    assert site_of(pipeline, RECORD) == "plant-1"
    rewrite(spec.parent / "devices.csv", "device_id,site,model\ndev-0001,plant-2,TH-100\n")
    assert site_of(pipeline, RECORD) == "plant-2"


def test_a_bad_rewrite_keeps_the_last_good_table(spec: Path, caplog: pytest.LogCaptureFixture) -> None:
    pipeline = load_pipeline(spec)
    assert site_of(pipeline, RECORD) == "plant-1"
    rewrite(spec.parent / "devices.csv", "device_id,site,model\ndev-0001,a,b\ndev-0001,c,d\n")  # duplicate key
    with caplog.at_level(logging.WARNING, logger="transform_core"):
        assert site_of(pipeline, RECORD) == "plant-1"
    assert "more than once" in caplog.text and "devices.csv" in caplog.text
