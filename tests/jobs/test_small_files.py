"""reprocess over records spread across many days: one raw file per input and partition, whatever the chunk size."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from transform_core.jobs.reprocess import ReprocessOptions, ReprocessSummary, reprocess
from transform_core.lake import writer as writer_module

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "examples" / "iot" / "pipeline.yaml")
TABLE = "iot_telemetry"
DAYS = 41


def _records(path: Path, n: int) -> Path:
    """``n`` valid records, their event times spread over ``DAYS`` days, every tenth one a heartbeat (dropped)."""
    lines = []
    for i in range(n):
        record = {
            "event_id": str(uuid.UUID(int=i)),
            "device_id": f"dev-{i % 7:04d}",
            "seq": i,
            "event_time": f"{date(2025, 1, 1) + timedelta(days=i % DAYS)}T12:00:00Z",
            "event_type": "heartbeat" if i % 10 == 9 else "telemetry",
            "value": i / 8,
        }
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(source: Path, lake: Path, chunk_size: int) -> ReprocessSummary:
    options = ReprocessOptions(spec=SPEC, out=str(lake), workers=1, chunk_size=chunk_size)
    return reprocess([str(source)], options)


def _raw(lake: Path) -> tuple[list[Path], Counter[str]]:
    files = sorted((lake / "raw" / TABLE).rglob("*.parquet"))
    ids = Counter[str](pl.read_parquet(files)["_source_record_id"].to_list()) if files else Counter[str]()
    return files, ids


def test_a_partition_gets_one_file_across_chunks_and_a_rerun_under_another_chunk_size_replaces_it(tmp_path: Path) -> None:
    source, lake = _records(tmp_path / "spread.ndjson", 2_000), tmp_path / "lake"
    first = _run(source, lake, chunk_size=100)  # 20 chunks, each touching every day
    assert (first.records, first.ok, first.failed, first.dropped) == (2_000, 1_800, 0, 200)
    files, ids = _raw(lake)
    folders = {file.parent for file in files}
    assert len(folders) == DAYS and len(files) == len(folders)  # one file per partition, not one per chunk
    assert sorted(map(str, files)) == sorted(f for f in first.written if f.endswith(".parquet"))
    assert len(ids) == 1_800 and set(ids.values()) == {1}
    again = _run(source, lake, chunk_size=170)
    files_again, ids_again = _raw(lake)
    assert ids_again == ids and len(files_again) == len(folders)
    assert set(again.replaced) == set(first.written) - set(again.written)  # the first run's names, deleted


def test_a_file_whose_held_rows_cannot_be_written_is_reported_and_the_next_file_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _records(tmp_path / "a.ndjson", 300), _records(tmp_path / "b.ndjson", 200)
    flush = writer_module.LakeWriter.flush
    calls = 0

    def full_once(self: writer_module.LakeWriter, held: writer_module.HeldRows) -> tuple[str, ...]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("No space left on device")
        return flush(self, held)

    monkeypatch.setattr(writer_module.LakeWriter, "flush", full_once)
    lake = tmp_path / "lake"
    options = ReprocessOptions(spec=SPEC, out=str(lake), workers=1, chunk_size=100)
    summary = reprocess([str(first), str(second)], options)
    assert summary.problems == [(str(first), "OSError: No space left on device")]
    assert summary.records == summary.ok + summary.failed + summary.dropped == 500
    _, ids = _raw(lake)
    second_id = hashlib.sha256(second.read_bytes()).hexdigest()[:16]  # the input id: the content's
    assert len(ids) == 180 and {record_id.split("-")[0] for record_id in ids} == {second_id}  # the second file's Ok records
