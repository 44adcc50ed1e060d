"""An input's ledger lists every folder that may hold its files, and a run's end replaces what it did not write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transform_core.lake.ledger import InputLedger
from transform_core.lake.storage import list_files, read_bytes, write_atomic

INPUT = "0123456789abcdef"
OTHER = "fedcba9876543210"


def put(root: str, relative: str) -> str:
    uri = f"{root}/{relative}"
    write_atomic(uri, b"x", staging_dir=None if root.startswith("s3://") else f"{root}/_staging")
    return uri


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "lake")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/lake"


def test_folders_are_recorded_before_files_go_there_and_survive_a_new_ledger_object(root: str) -> None:
    ledger = InputLedger(root, "t", INPUT)
    assert ledger.folders == frozenset()
    ledger.record([f"{root}/raw/t/year=2026/month=01/day=01", f"{root}/errors/t/year=2026/month=01/day=02"])
    ledger.record([f"{root}/raw/t/year=2026/month=01/day=01"])  # known: nothing to write
    again = InputLedger(root, "t", INPUT)  # as a later run reads it
    assert again.folders == {"raw/t/year=2026/month=01/day=01", "errors/t/year=2026/month=01/day=02"}
    assert json.loads(read_bytes(again.uri))["input"] == INPUT


def test_replace_deletes_the_inputs_files_this_run_did_not_write_and_nothing_else(root: str) -> None:
    day1, day2 = "raw/t/year=2026/month=01/day=01", "errors/t/year=2026/month=01/day=02"
    old = [put(root, f"{day1}/part-{INPUT}-1-0.parquet"), put(root, f"{day2}/part-{INPUT}-1.ndjson")]
    kept = put(root, f"{day1}/part-{INPUT}-1-1.parquet")
    others = [put(root, f"{day1}/part-{OTHER}-1-0.parquet"), put(root, f"{day2}/part-legacy.ndjson")]
    ledger = InputLedger(root, "t", INPUT)
    ledger.record([f"{root}/{day1}", f"{root}/{day2}"])
    deleted = ledger.replace([kept], prefix=f"part-{INPUT}-")
    assert sorted(deleted) == sorted(old)
    assert sorted(list_files(f"{root}/raw") + list_files(f"{root}/errors")) == sorted([kept, *others])
    assert InputLedger(root, "t", INPUT).folders == {day1}  # the error day holds none of its files now


def test_a_replay_replaces_only_its_own_earlier_files(root: str) -> None:
    day = "raw/t/year=2026/month=01/day=01"
    original = put(root, f"{day}/part-{INPUT}-1-0.parquet")
    earlier_replay = put(root, f"{day}/part-{INPUT}-r{OTHER}-7-0.parquet")
    ledger = InputLedger(root, "t", INPUT)
    ledger.record([f"{root}/{day}"])
    assert ledger.replace([], prefix=f"part-{INPUT}-r{OTHER}-") == [earlier_replay]
    assert list_files(f"{root}/raw") == [original]
    assert InputLedger(root, "t", INPUT).folders == {day}


def test_a_folder_outside_the_root_is_refused(tmp_path: Path) -> None:
    ledger = InputLedger(str(tmp_path / "lake"), "t", INPUT)
    with pytest.raises(ValueError, match="not under the lake root"):
        ledger.record([str(tmp_path / "elsewhere")])


def test_a_root_written_with_dot_slash_or_doubled_slashes_names_the_same_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for root in ("./lake", "lake//", "lake"):
        ledger = InputLedger(root, "t", INPUT)
        ledger.record([str(Path("lake", "raw", "t", "year=2026", "month=01", "day=01"))])
        assert InputLedger("lake", "t", INPUT).folders == {"raw/t/year=2026/month=01/day=01"}
