"""Ids come from the content and the place in it: not from the path, the compression or the chunk size."""

from __future__ import annotations

import gzip
import os
import shutil
import zlib
from pathlib import Path

import pytest

from tests.jobs.input_files import errors_line, ids, input_id, read, records, write
from transform_core.demo.generate import iot_payloads

PAYLOADS = [p.data for p in iot_payloads(60, 0.2, seed=11)] + [b'{"a":1}{"b":2}{"c":3}', b"not json"]
BODY = b"\n".join(PAYLOADS) + b"\n"


def original(folder: Path) -> Path:
    path = folder / "in.ndjson"
    path.write_bytes(BODY)
    return path


def test_the_input_id_is_a_hash_of_the_decompressed_content(tmp_path: Path) -> None:
    chunks = read(original(tmp_path), chunk_size=7)
    assert {c.input_id for c in chunks} == {input_id(BODY)}
    assert ids(chunks)[:2] == [f"{input_id(BODY)}-1", f"{input_id(BODY)}-2"]
    assert ids(chunks)[-4:] == [f"{input_id(BODY)}-{n}" for n in ("61.0", "61.1", "61.2", "62")]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 50, 50_000])
def test_record_ids_do_not_depend_on_the_chunk_size(tmp_path: Path, chunk_size: int) -> None:
    path = original(tmp_path)
    assert ids(read(path, chunk_size=chunk_size)) == ids(read(path, chunk_size=10))


def disguise(source: Path, how: str) -> Path:
    other = source.parent / "elsewhere" / ("in.ndjson.gz" if "gzip" in how else "renamed.ndjson")
    other.parent.mkdir()
    if how == "copy":
        shutil.copy(source, other)
    elif how == "symlink":
        other.symlink_to(source)
    elif how == "move":
        source.rename(other)
    elif how == "gzip":
        other.write_bytes(gzip.compress(source.read_bytes()))
    elif how == "re-gzip":  # another level, another header, in two members
        data = source.read_bytes()
        other.write_bytes(gzip.compress(data[:1000], compresslevel=1, mtime=1) + gzip.compress(data[1000:], compresslevel=9))
    else:  # raw deflate level 0 in a gzip wrapper: stored blocks
        stream = zlib.compressobj(0, zlib.DEFLATED, 31)
        other.write_bytes(stream.compress(source.read_bytes()) + stream.flush())
    return other


@pytest.mark.parametrize("how", ["copy", "symlink", "move", "gzip", "re-gzip", "stored"])
def test_the_same_content_under_another_name_has_the_same_ids(tmp_path: Path, how: str) -> None:
    source = original(tmp_path)
    first = read(source, chunk_size=10)
    again = read(disguise(source, how), chunk_size=25)
    assert ids(again) == ids(first) and records(again) == records(first)
    assert {c.input_id for c in again} == {first[0].input_id}


def test_other_content_has_other_ids(tmp_path: Path) -> None:
    path = original(tmp_path)
    first = ids(read(path))
    path.write_bytes(BODY.replace(b'"seq": ', b'"seq":  ', 1))
    assert set(first).isdisjoint(ids(read(path)))


def test_the_same_path_and_chunk_size_give_the_same_batch_ids_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = original(tmp_path)
    monkeypatch.chdir(tmp_path)
    relative = [c.batch_id for c in read("in.ndjson", chunk_size=20)]
    assert relative == [c.batch_id for c in read(path, chunk_size=20)] == [f"{input_id(BODY)}-{n}" for n in (1, 21, 41, "61.0")]
    assert len(set(relative)) == len(relative)


def test_a_long_split_line_gives_chunks_their_own_batch_ids(tmp_path: Path) -> None:
    chunks = read(write(tmp_path / "backup", [b"{}" * 5]), chunk_size=2)
    assert [c.first_line for c in chunks] == [1, 1, 1]
    assert [c.batch_id.rsplit("-", 1)[1] for c in chunks] == ["1.0", "1.2", "1.4"]


OWNER = "0123456789abcdef"


def test_an_errors_line_keeps_its_record_id_and_names_its_owner(tmp_path: Path) -> None:
    lines = [
        errors_line(b'{"a":1}', "rid-1", input=OWNER),
        errors_line(b'{"a":2}', "rid-2", input=OWNER),
        errors_line(b'{"a":3}', "rid-3"),  # no input: the errors file's own
        errors_line(b'{"a":4}', "rid-4", input="not-an-input-id"),
        errors_line(b'{"a":5}', "rid-5", input=OWNER),
        b'{"a":6}',
    ]
    path = write(tmp_path / "errors" / "part-x.ndjson", lines)
    chunks = read(path, chunk_size=10)
    own = input_id(path.read_bytes())
    assert [(c.owner, c.kind, c.batch.record_ids) for c in chunks] == [
        (OWNER, "errors", ["rid-1", "rid-2"]),
        (own, "errors", ["rid-3", "rid-4"]),
        (OWNER, "errors", ["rid-5"]),
        (own, "ndjson", [f"{own}-6"]),
    ]
    assert {c.input_id for c in chunks} == {own}
    assert [c.batch_id for c in chunks] == [f"{own}-{n}" for n in (1, 3, 5, 6)]
    assert records(chunks) == [b'{"a":1}', b'{"a":2}', b'{"a":3}', b'{"a":4}', b'{"a":5}', b'{"a":6}']


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    path = original(tmp_path)
    assert len(read(path, path, chunk_size=100)) == 1
