"""reprocess: inputs in, lake out, idempotent, on one or more worker processes (the command: tests/cli/test_reprocess.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from transform_core.demo.generate import iot_payloads
from transform_core.jobs.reprocess import Progress, ReprocessOptions, reprocess

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "examples" / "iot" / "pipeline.yaml")


def write_inputs(folder: Path) -> int:
    """Two NDJSON inputs (one gzip) with invalid records; returns the record count."""
    folder.mkdir()
    total = 0
    for i, opener in enumerate([open, gzip.open]):
        payloads = [p.data for p in iot_payloads(1200, 0.1, seed=i) if not p.corrupt_base64]
        with opener(folder / f"part-{i}.ndjson{'.gz' if i else ''}", "wb") as out:  # type: ignore[operator]
            out.write(b"\n".join(payloads) + b"\n")
        total += len(payloads)
    return total


def lake_files(lake: Path) -> list[str]:
    return sorted(str(p.relative_to(lake)) for p in lake.rglob("*") if p.is_file() and "_staging" not in p.parts)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_record_is_accounted_for_and_a_rerun_changes_nothing(tmp_path: Path, workers: int) -> None:
    total = write_inputs(tmp_path / "in")
    lake = tmp_path / "lake"
    options = ReprocessOptions(spec=SPEC, out=str(lake), workers=workers, chunk_size=500)
    seen: list[Progress] = []
    summary = reprocess([str(tmp_path / "in")], options, seen.append)
    assert summary.records == total == summary.ok + summary.failed + summary.dropped
    assert summary.failed > 0 and summary.files == 2
    assert seen[-1].files_done == 2 and seen[-1].records == total
    parquet = pl.scan_parquet(str(lake / "raw" / "**" / "*.parquet"), hive_partitioning=False).collect()
    assert parquet.height == summary.ok
    errors = [json.loads(line) for f in (lake / "errors").rglob("*.ndjson") for line in f.read_text().splitlines()]
    assert len(errors) == summary.failed and all(e["reason"] for e in errors)
    files = lake_files(lake)
    again = reprocess([str(tmp_path / "in")], options)
    assert (again.ok, again.failed) == (summary.ok, summary.failed)
    assert lake_files(lake) == files  # same names: overwritten, not duplicated
    # enrichment misses: as many as the lake's rows without the table's fields, the same on any number of workers
    assert summary.enrich_missed == {"devices": parquet["site"].null_count()} == again.enrich_missed
    assert summary.enrich_missed["devices"] > 0


def test_replaying_the_errors_output_rejects_them_again_unless_fixed(tmp_path: Path) -> None:
    write_inputs(tmp_path / "in")
    lake = tmp_path / "lake"
    first = reprocess([str(tmp_path / "in")], ReprocessOptions(spec=SPEC, out=str(lake), workers=1))
    replay = reprocess([str(lake / "errors")], ReprocessOptions(spec=SPEC, dry_run=True, workers=1))
    assert replay.records == first.failed and replay.failed == first.failed


def test_rejects_replayed_after_a_schema_fix_land_in_the_lake(tmp_path: Path) -> None:
    """Records rejected for `value > 1000` pass once the schema allows more; replaying errors/ writes them."""
    schema = json.loads((ROOT / "examples" / "iot" / "schemas" / "iot_event.schema.json").read_text())
    strict_spec = {
        "version": 1,
        "name": "iot-telemetry",
        "schema": schema,
        "event_time": {"field": "event_time"},
        "enrich": [
            {"name": "devices", "source": str(ROOT / "reference_data" / "devices.csv"), "key": "device_id", "fields": ["site"]}
        ],
    }
    fixed_schema = json.loads(json.dumps(schema))
    fixed_schema["properties"]["value"]["maximum"] = 1_000_000
    fixed_spec = {**strict_spec, "schema": fixed_schema}
    strict_path, fixed_path = tmp_path / "strict.json", tmp_path / "fixed.json"
    strict_path.write_text(json.dumps(strict_spec))
    fixed_path.write_text(json.dumps(fixed_spec))
    record = {
        "event_id": "3f1c2a9e-8d4b-4c7a-9b1e-2f3a4b5c6d7e",
        "device_id": "dev-0001",
        "seq": 1,
        "event_time": "2026-11-27T10:00:00Z",
        "event_type": "alert",
        "value": 5000,
    }
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "records.ndjson").write_text(json.dumps(record) + "\n")
    lake = tmp_path / "lake"
    first = reprocess([str(tmp_path / "in")], ReprocessOptions(spec=str(strict_path), out=str(lake), workers=1))
    assert (first.ok, first.failed) == (0, 1)
    fixed = reprocess([str(lake / "errors")], ReprocessOptions(spec=str(fixed_path), out=str(lake), workers=1))
    assert (fixed.ok, fixed.failed) == (1, 0)
    rows = pl.scan_parquet(str(lake / "raw" / "**" / "*.parquet"), hive_partitioning=False).collect()
    assert rows.height == 1
    assert rows["value"][0] == 5000 and rows["site"][0] == site_of("dev-0001")


def site_of(device: str) -> str:
    for line in (ROOT / "reference_data" / "devices.csv").read_text().splitlines():
        if line.startswith(device + ","):
            return line.split(",")[1]
    raise AssertionError(device)


def test_the_summary_counts_blank_lines_and_names_empty_and_wholly_rejected_files(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    good = [p.data for p in iot_payloads(30, 0.0, seed=2) if not p.corrupt_base64]
    (folder / "a-good.ndjson").write_bytes(b"\n".join([good[0], b"", *good[1:], b" "]) + b"\n")
    (folder / "b-empty.ndjson").write_bytes(b"\n\n")
    (folder / "c-wrong.ndjson").write_bytes(b'{"x":1}\n\nnot json\n')
    for workers in (1, 2):
        summary = reprocess([str(folder)], ReprocessOptions(spec=SPEC, dry_run=True, workers=workers))
        assert (summary.records, summary.blank) == (len(good) + 2, 2 + 2 + 1)
        assert summary.empty == [str(folder / "b-empty.ndjson")]
        assert summary.all_rejected == [str(folder / "c-wrong.ndjson")]


def test_a_lake_that_cannot_be_written_fails_the_run_before_any_file(tmp_path: Path) -> None:
    write_inputs(tmp_path / "in")
    (tmp_path / "lake").write_text("a file where the lake should be")
    with pytest.raises(NotADirectoryError) as refused:
        reprocess([str(tmp_path / "in")], ReprocessOptions(spec=SPEC, out=str(tmp_path / "lake" / "sub"), workers=1))
    assert refused.value.filename == str(tmp_path / "lake")


def test_a_record_the_lake_refuses_is_no_longer_counted_as_unenriched() -> None:
    from tests.helpers.agreement import batch_of
    from transform_core import load_pipeline
    from transform_core.jobs.chunk_results import enrich_missed_kept

    known, unknown = (
        json.dumps(
            {"event_id": "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", "device_id": device, "seq": 1}
            | {"event_time": "2026-11-27T10:00:00Z", "event_type": "telemetry", "value": 1.5}
        ).encode()
        for device in ("dev-0001", "dev-9999")  # the table ends at dev-9899
    )
    result = load_pipeline(SPEC).process(batch_of([unknown, known, unknown, unknown]), respond=False)
    assert result.enrich_missed == {"devices": 3}
    assert enrich_missed_kept(result, []) == {"devices": 3}
    assert enrich_missed_kept(result, [(1, "refused"), (3, "refused")]) == {"devices": 2}  # row 1 was no miss
