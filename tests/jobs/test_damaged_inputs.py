"""A damaged input gives every record read before the damage, in chunks, then an InputError naming file, line and cause."""

from __future__ import annotations

import gzip
import io
import pickle
import zlib
from pathlib import Path

import pytest

from tests.jobs.input_files import input_id, records
from transform_core.jobs.inputs import InputChunk, InputError, iter_chunks, read_file_chunks

LINES = [f'{{"n":{n},"pad":"{"x" * (n % 50)}"}}'.encode() for n in range(30_000)]
BODY = b"\n".join(LINES) + b"\n"
GZIP = gzip.compress(BODY, compresslevel=6, mtime=0)


def readable(compressed: bytes) -> bytes:
    """What can be decompressed before the damage, fed a byte at a time (as zcat writes out what it read)."""
    member = zlib.decompressobj(31)
    out = []
    for i in range(len(compressed)):
        try:
            out.append(member.decompress(compressed[i : i + 1]))
        except zlib.error:
            break
    return b"".join(out)


def read_until_error(path: Path, **kwargs: object) -> tuple[list[InputChunk], InputError]:
    chunks: list[InputChunk] = []
    with pytest.raises(InputError) as info:
        for chunk in iter_chunks([str(path)], **kwargs):  # type: ignore[arg-type]
            chunks.append(chunk)
    return chunks, info.value


def test_a_truncated_gzip_yields_every_whole_line_before_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "cut.ndjson.gz"
    path.write_bytes(GZIP[: len(GZIP) * 2 // 3])
    chunks, error = read_until_error(path)  # 10,000 a chunk: the records held at the cut are not lost
    whole = readable(path.read_bytes()).split(b"\n")[:-1]  # the last line read is cut short
    assert 10_000 < len(whole) < len(LINES)
    assert records(chunks) == whole
    assert [len(c.batch) for c in chunks] == [10_000, len(whole) - 10_000]
    assert not any(c.last for c in chunks)
    assert (error.file, error.line) == (str(path), len(whole) + 1)
    assert "truncated" in error.message and str(error).startswith(f"{path}: line {len(whole) + 1}: ")
    assert {c.input_id for c in chunks} == {input_id(readable(path.read_bytes()))}


def test_a_corrupt_gzip_yields_what_decompresses_before_the_damage(tmp_path: Path) -> None:
    damaged = bytearray(GZIP)
    for i in range(len(GZIP) // 2, len(GZIP) // 2 + 64):
        damaged[i] ^= 0x5A
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(damaged))
    chunks, error = read_until_error(path, chunk_size=7_000)
    whole = readable(bytes(damaged)).split(b"\n")[:-1]
    assert len(whole) > 7_000 and records(chunks) == whole
    assert "gzip" in error.message and error.line == len(whole) + 1


def test_a_crc_mismatch_is_damage_after_the_member_is_read(tmp_path: Path) -> None:
    damaged = bytearray(gzip.compress(b'{"a":1}\n{"a":2}\n'))
    damaged[-8] ^= 1  # the CRC-32 in the trailer
    path = tmp_path / "crc.gz"
    path.write_bytes(bytes(damaged))
    chunks, error = read_until_error(path)
    assert records(chunks) == [b'{"a":1}', b'{"a":2}'] and error.line == 3


def test_bytes_after_the_last_member_that_are_not_gzip_are_damage(tmp_path: Path) -> None:
    path = tmp_path / "tail.gz"
    path.write_bytes(gzip.compress(b'{"a":1}\n') + b"garbage")
    chunks, error = read_until_error(path)
    assert records(chunks) == [b'{"a":1}'] and error.line == 2 and "gzip" in error.message


class Failing(io.RawIOBase):
    """A stream that fails after ``limit`` bytes, as a network read or a bad disk can."""

    def __init__(self, data: bytes, limit: int) -> None:
        self.data, self.limit, self.position = data, limit, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.position >= self.limit:
            raise OSError(5, "Input/output error")
        end = min(self.position + (size if size >= 0 else len(self.data)), self.limit)
        piece, self.position = self.data[self.position : end], end
        return piece


@pytest.mark.parametrize("compress", [False, True])
def test_a_read_that_fails_midway_yields_the_lines_before_it(compress: bool) -> None:
    data = GZIP if compress else BODY
    limit = len(data) // 2
    chunks: list[InputChunk] = []
    with pytest.raises(InputError) as info:
        for chunk in iter_chunks(["s3://b/k"], open_input=lambda _: Failing(data, limit), list_files=lambda p: [p]):
            chunks.append(chunk)
    got = records(chunks)
    assert 0 < len(got) < len(LINES) and got == LINES[: len(got)]
    assert info.value.line == len(got) + 1 and "Input/output error" in info.value.message


def test_an_input_that_changes_between_the_passes_is_damage() -> None:
    contents = iter([BODY, b"".join(line + b"\n" for line in LINES[:15_000])])
    chunks: list[InputChunk] = []
    with pytest.raises(InputError, match="changed while it was read") as info:
        for chunk in iter_chunks(["s3://b/k"], open_input=lambda _: io.BytesIO(next(contents)), list_files=lambda p: [p]):
            chunks.append(chunk)
    assert records(chunks) == LINES[:15_000] and info.value.line == 15_001


def test_read_file_chunks_breaks_off_the_same_way() -> None:
    cut = GZIP[: len(GZIP) // 3]
    got: list[InputChunk] = []
    with pytest.raises(InputError, match="truncated"):
        for chunk in read_file_chunks("s3://b/cut.gz", cut, chunk_size=5_000):
            got.append(chunk)
    assert records(got) == readable(cut).split(b"\n")[:-1]


def test_an_input_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(InputError("truncated", file="a.gz", line=12)))
    assert (error.message, error.file, error.line, str(error)) == ("truncated", "a.gz", 12, "a.gz: line 12: truncated")
