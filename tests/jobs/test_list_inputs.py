"""list_inputs keeps regular files only: FIFOs, sockets, devices and broken links are reported, never opened."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.jobs.input_files import read, records, write
from transform_core.jobs.inputs import InputError, list_inputs

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and Unix sockets are POSIX")


@pytest.fixture
def odd_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder with a record file, a FIFO no one writes to, a listening Unix socket and a broken link."""
    folder = tmp_path / "in"
    write(folder / "a.ndjson", [b'{"a":1}'])
    os.mkfifo(folder / "b.fifo")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "c.sock"))
    (folder / "d.link").symlink_to(folder / "gone")
    yield folder
    server.close()


def test_only_regular_files_are_listed_and_the_others_reported(odd_folder: Path) -> None:
    skipped: list[tuple[str, str]] = []
    files = list_inputs([str(odd_folder)], on_skip=lambda path, reason: skipped.append((path, reason)))
    assert files == [str(odd_folder / "a.ndjson")]
    assert skipped == [
        (str(odd_folder / "b.fifo"), "not a regular file (FIFO)"),
        (str(odd_folder / "c.sock"), "not a regular file (socket)"),
        (str(odd_folder / "d.link"), "cannot stat: No such file or directory"),
    ]


def test_reading_a_folder_with_a_fifo_does_not_wait_for_it(odd_folder: Path) -> None:
    skipped: list[str] = []
    chunks = read(odd_folder, on_skip=lambda path, _: skipped.append(path))
    assert records(chunks) == [b'{"a":1}'] and len(skipped) == 3


def test_globs_skip_them_too(odd_folder: Path) -> None:
    skipped: list[str] = []
    assert list_inputs([f"{odd_folder}/*"], on_skip=lambda path, _: skipped.append(path)) == [str(odd_folder / "a.ndjson")]
    assert sorted(Path(p).name for p in skipped) == ["b.fifo", "c.sock", "d.link"]


@pytest.mark.parametrize("name", ["b.fifo", "/dev/null"])
def test_a_fifo_or_device_named_alone_is_reported_then_an_error(odd_folder: Path, name: str) -> None:
    path = str(odd_folder / name)  # an absolute name stays as it is
    skipped: list[tuple[str, str]] = []
    with pytest.raises(InputError, match=r"matches no regular file \(1 skipped\)"):
        list_inputs([path], on_skip=lambda *args: skipped.append(args))
    assert skipped == [(path, "not a regular file (FIFO)" if name == "b.fifo" else "not a regular file (character device)")]


def test_opening_a_fifo_that_replaced_a_listed_file_fails_at_once(odd_folder: Path) -> None:
    from transform_core.jobs.inputs import open_local

    with pytest.raises(InputError, match=r"not a regular file \(FIFO\)"):
        open_local(str(odd_folder / "b.fifo"))
    with pytest.raises(InputError, match="cannot open"):
        open_local(str(odd_folder / "gone"))
