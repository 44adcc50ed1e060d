"""iter_chunks streams: a file is read in pieces, twice (hash, then records), and memory follows the chunk, not the file."""

from __future__ import annotations

import gzip
import random
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.jobs.input_files import input_id
from transform_core.jobs.inputs import iter_chunks

if TYPE_CHECKING:
    from transform_core.jobs.inputs import ByteStream

PIECE = 8 << 20  # transform_core.jobs.streams.PIECE: what a read may ask for at most

LINE = b'{"event_id":"3f1c2a9e-8d4b-4c7a-9b1e-2f3a4b5c6d7e","device_id":"dev-0001","seq":1,"value":12.5}'


class Counted:
    """A stream that notes what is asked of it and what it gives."""

    def __init__(self, stream: ByteStream, log: list[int]) -> None:
        self.stream, self.log = stream, log

    def read(self, size: int = -1, /) -> bytes:
        assert 0 < size <= PIECE, "a read of the whole file"
        piece = self.stream.read(size)
        self.log.append(len(piece))
        return piece

    def close(self) -> None:
        self.stream.close()


@pytest.mark.parametrize("compress", [False, True])
def test_the_first_chunk_comes_before_the_file_is_read_through(tmp_path: Path, compress: bool) -> None:
    noise = random.Random(1).randbytes(16 * 400_000).hex().encode()  # so that gzip leaves 20 MB of it
    body = b"".join(b'{"id":"%s","n":%d}\n' % (noise[i * 32 : i * 32 + 32], i) for i in range(400_000)) * 2  # 40 MB
    path = tmp_path / "big.ndjson"
    path.write_bytes(gzip.compress(body, compresslevel=1) if compress else body)
    from transform_core.jobs.inputs import open_local

    opened: list[list[int]] = []

    def open_input(uri: str) -> ByteStream:
        opened.append([])
        return Counted(open_local(uri), opened[-1])

    chunks = iter_chunks([str(path)], chunk_size=1_000, open_input=open_input)
    first = next(chunks)
    assert first.input_id == input_id(body) and len(first.batch) == 1_000
    hashed, reading = opened
    assert sum(hashed) == path.stat().st_size  # the first pass read it all, in pieces
    assert sum(reading) <= 2 * PIECE < path.stat().st_size  # the second has read one or two pieces
    assert sum(len(chunk.batch) for chunk in chunks) == 799_000
    assert sum(reading) == path.stat().st_size
    path.unlink()


_PEAK = """
import sys
from transform_core.jobs.inputs import iter_chunks

def high_water_mark():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) // 1024

before = high_water_mark()
records = sum(len(chunk.batch) for chunk in iter_chunks([sys.argv[1]], chunk_size=int(sys.argv[2])))
print(records, high_water_mark() - before)
"""


def peak_growth(path: Path, chunk_size: int) -> tuple[int, int]:
    """Records read, and how far a fresh process's peak memory (MiB) grew iterating them; deletes the file after."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", _PEAK, str(path), str(chunk_size)], capture_output=True, check=True, text=True
        )
    finally:
        path.unlink()  # pytest keeps the last runs' folders: not with this in them
    records, growth = map(int, out.stdout.split())
    return records, growth


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_memory_does_not_follow_the_file(tmp_path: Path) -> None:
    path = tmp_path / "big.ndjson"
    path.write_bytes((LINE + b"\n") * 1_600_000)  # 160 MB
    records, growth = peak_growth(path, 1_000)
    assert records == 1_600_000
    assert growth < 128, f"peak memory grew by {growth} MiB for a 160 MB file"  # read whole, it grew by about 290


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_a_long_line_costs_about_its_size(tmp_path: Path) -> None:
    item = b'{"t":1795824000000,"v":0.125},'
    path = tmp_path / "long.ndjson"
    path.write_bytes(b'{"samples":[' + item * (32_000_000 // len(item)) + b"{}]}\n")  # one 32 MB record
    records, growth = peak_growth(path, 50_000)
    assert records == 1
    # the line, its base64 text and the batch's copy of it; parsing it whole, as before, took 15 times its size
    assert growth < 6 * 32, f"peak memory grew by {growth} MiB for a 32 MB line"


def test_s3_objects_stream_through_the_lake_storage(s3_bucket: str, moto_server: str, tmp_path: Path) -> None:
    """A ``.gz`` object is read as its bytes (gzip found by its magic), in ranged reads, with the ids of a local copy."""
    import boto3

    from transform_core.lake.storage import list_files, open_stream

    body = b"".join(b'{"n":%d}\n' % n for n in range(50_000))
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    client.put_object(Bucket=s3_bucket, Key="in/a.ndjson.gz", Body=gzip.compress(body))
    client.put_object(Bucket=s3_bucket, Key="in/b.ndjson", Body=b"".join(b'{"n":%d}\n' % n for n in range(25_000)))
    opened: list[list[int]] = []

    def open_input(uri: str) -> ByteStream:
        opened.append([])
        return Counted(open_stream(uri), opened[-1])

    chunks = list(iter_chunks([f"s3://{s3_bucket}/in/"], chunk_size=20_000, open_input=open_input, list_files=list_files))
    assert [(c.source.rsplit("/", 1)[1], len(c.batch)) for c in chunks] == [
        ("a.ndjson.gz", 20_000),
        ("a.ndjson.gz", 20_000),
        ("a.ndjson.gz", 10_000),
        ("b.ndjson", 20_000),
        ("b.ndjson", 5_000),
    ]
    local = tmp_path / "a.ndjson"
    local.write_bytes(body)
    assert [c.batch for c in chunks[:3]] == [c.batch for c in iter_chunks([str(local)], chunk_size=20_000)]
    assert len(opened) == 4 and all(sum(log) > 0 for log in opened)


def test_the_piece_size_is_the_one_reads_are_checked_against() -> None:
    from transform_core.jobs import streams

    assert streams.PIECE == PIECE
