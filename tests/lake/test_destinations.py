"""Where a job writes is checked before it starts (check_destination, check_folder), and a listing tells a missing
S3 bucket from an empty prefix; compact's --partition values are checked against the spec's keys."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from transform_core.errors import ConfigurationEnvironmentError
from transform_core.lake import list_files
from transform_core.lake.curated.schema import check_partition_filter
from transform_core.lake.storage import check_destination, check_folder

DAY = ("year", "month", "day")
HOUR = ("year", "month", "day", "hour")


def test_a_local_destination_is_made_and_written_once_and_left_clean(tmp_path: Path) -> None:
    lake = tmp_path / "new" / "lake"
    check_destination(str(lake))
    assert lake.is_dir() and list((lake / "_staging").iterdir()) == []


def test_a_dry_run_looks_without_making_anything(tmp_path: Path) -> None:
    check_destination(str(tmp_path / "new" / "lake"), write=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("write", [True, False])
def test_a_file_on_the_way_is_named(tmp_path: Path, write: bool) -> None:
    (tmp_path / "taken").write_text("")
    with pytest.raises(NotADirectoryError) as refused:
        check_destination(str(tmp_path / "taken" / "lake"), write=write)
    assert (refused.value.errno, refused.value.filename) == (errno.ENOTDIR, str(tmp_path / "taken"))


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_a_write_that_fails_is_named_by_the_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    from transform_core.lake import storage

    def refused(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        raise OSError(code, os.strerror(code), str(file))

    monkeypatch.setattr(storage, "open", refused, raising=False)
    with pytest.raises(OSError) as failed:
        check_destination(str(tmp_path / "lake"))
    assert (failed.value.errno, failed.value.filename) == (code, str(tmp_path / "lake"))
    assert list((tmp_path / "lake" / "_staging").iterdir()) == []


def test_a_read_only_file_system_is_found_without_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flags = os.statvfs(tmp_path).f_flag | os.ST_RDONLY
    monkeypatch.setattr(os, "statvfs", lambda path: type("Stat", (), {"f_flag": flags})())
    with pytest.raises(OSError) as failed:
        check_destination(str(tmp_path / "lake"), write=False)
    assert (failed.value.errno, failed.value.filename) == (errno.EROFS, str(tmp_path))


def test_check_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    check_folder(str(tmp_path / "missing" / "deeper"))  # missing is fine: it can be made
    check_folder("s3://bucket/prefix")
    for below in ("file", "file/a/b"):
        with pytest.raises(NotADirectoryError, match="not a folder"):
            check_folder(str(tmp_path / below))


def test_a_listing_below_a_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "lake").write_text("")
    assert list_files(str(tmp_path / "lake")) == [str(tmp_path / "lake")]  # a file lists itself
    with pytest.raises(NotADirectoryError) as refused:
        list_files(str(tmp_path / "lake" / "raw" / "t"))
    assert refused.value.filename == str(tmp_path / "lake")
    assert list_files(str(tmp_path / "missing" / "raw")) == []


def test_s3_tells_a_missing_bucket_from_an_empty_prefix(s3_bucket: str) -> None:
    assert list_files(f"s3://{s3_bucket}/nothing/here") == []
    check_destination(f"s3://{s3_bucket}/lake")
    for check in (list_files, check_destination):
        with pytest.raises(ConfigurationEnvironmentError, match=f"S3 bucket '{s3_bucket}-x' does not exist"):
            check(f"s3://{s3_bucket}-x/lake")


# --- compact --partition ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keys", "value"),
    [
        ("year=2026", DAY, "year=2026"),
        ("year=2026/month=11/", DAY, "year=2026/month=11"),
        ("/year=2026/month=11/day=24", DAY, "year=2026/month=11/day=24"),
        ("year=2026/month=11/day=24/hour=00", HOUR, "year=2026/month=11/day=24/hour=00"),
    ],
)
def test_a_partition_filter_of_the_folders_form_is_taken(text: str, keys: tuple[str, ...], value: str) -> None:
    assert check_partition_filter(text, keys) == value


@pytest.mark.parametrize(
    ("text", "keys", "wrong"),
    [
        ("2025-12-01", DAY, "'2025-12-01' is not year=YYYY"),
        ("", DAY, None),
        ("year=26", DAY, "'year=26' is not year=YYYY"),
        ("year=2026/month=1", DAY, "'month=1' is not month=MM"),
        ("year=2026/month=13", DAY, "'month=13' is not month=MM"),
        ("year=2026/month=11/day=00", DAY, "'day=00' is not day=DD"),
        ("year=2026/month=11/day=24/hour=24", HOUR, "'hour=24' is not hour=HH"),
        ("year=2026/month=11/day=24/hour=01", DAY, None),
        ("year=2026/day=24", DAY, "'day=24' is not month=MM"),
        ("year=2026/month=+1", DAY, "'month=+1' is not month=MM"),
    ],
)
def test_a_partition_filter_of_another_form_is_refused(text: str, keys: tuple[str, ...], wrong: str | None) -> None:
    form = "year=YYYY[/month=MM[/day=DD]]" if keys == DAY else "year=YYYY[/month=MM[/day=DD[/hour=HH]]]"
    said = f"{wrong}; " if wrong else ""
    with pytest.raises(ValueError) as refused:
        check_partition_filter(text, keys)
    assert str(refused.value) == f"--partition {text!r}: {said}expected {form}, e.g. year=2026/month=11/day=24"
