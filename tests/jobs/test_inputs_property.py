"""Generated inputs mixing every kind of line read back as exactly the expected records, under ids that follow the content.

Each file mixes records (JSON objects, and bytes that are not JSON), blank lines, ``\\x0b``/``\\x0c`` lines, values
concatenated on a line, Firehose processing-failed lines and transform-core errors lines, maybe after a byte order
mark, plain or gzip (in one member or several). The records must be the expected ones, byte for byte, with the
expected ids, owners and kinds, whatever the chunk size, the compression and the path.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
from typing import NamedTuple

import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.jobs.input_files import errors_line, processing_failed_line
from transform_core.jobs.inputs import InputChunk, iter_chunks, read_file_chunks

BOM = b"\xef\xbb\xbf"
OWNERS = ["0123456789abcdef", "fedcba9876543210"]


class Expected(NamedTuple):
    """A record the reader must yield: its bytes, the id it must get, its owner (None: the input), kind and arrival."""

    data: bytes
    suffix: str  # after the line number in its id: "" or ".<k>"; unused when ``record_id`` is kept
    record_id: str | None
    owner: str | None
    kind: str
    arrival: int | None


scalars = st.one_of(st.integers(-(10**6), 10**6), st.text(alphabet='ab{}[]" \\', max_size=6), st.booleans(), st.none())
objects = st.dictionaries(st.sampled_from(["a", "b", "value", "rawDat"]), scalars, max_size=3).map(orjson.dumps)
arrays = st.lists(scalars, max_size=3).map(orjson.dumps)
not_json = st.binary(max_size=24).map(lambda b: b.translate(None, delete=b'\n{}[]"\xef'))  # nothing that splits or replays
blank = st.sampled_from([b"", b" ", b"\t", b"\r", b" \t\r"])
vertical = st.sampled_from([b"\x0b", b"\x0c", b" \x0b\r"])
separators = st.sampled_from([b"", b" ", b"\t", b" \r "])


def record(line: bytes) -> list[Expected]:
    return [Expected(line, "", None, None, "ndjson", None)] if line.strip(b" \t\r") else []


@st.composite
def lines(draw: st.DrawFn) -> tuple[bytes, list[Expected]]:
    """One line, and the records it holds."""
    shape = draw(st.sampled_from(["record", "not json", "blank", "vertical", "split", "failed", "error"]))
    if shape == "record":
        line = draw(st.one_of(objects, arrays)) + draw(st.sampled_from([b"", b"\r"]))
    elif shape == "not json":
        line = draw(not_json)
    elif shape in ("blank", "vertical"):
        line = draw(blank if shape == "blank" else vertical)
    elif shape == "split":
        values = draw(st.lists(st.one_of(objects, arrays), min_size=2, max_size=4))
        line = b"".join(value + draw(separators) for value in values)
        return line, [Expected(value, f".{k}", None, None, "ndjson", None) for k, value in enumerate(values)]
    elif shape == "failed":
        payload = draw(st.binary(max_size=20))
        return processing_failed_line(payload), [Expected(payload, "", None, None, "processing-failed", 1795824060000)]
    else:
        payload, owner = draw(st.binary(max_size=20)), draw(st.sampled_from([None, *OWNERS]))
        record_id = draw(st.text(alphabet="abc-0123", min_size=1, max_size=8))
        line = errors_line(payload, record_id, **({} if owner is None else {"input": owner}))
        return line, [Expected(payload, "", record_id, owner, "errors", None)]
    return line, record(line)


class Case(NamedTuple):
    body: bytes  # the decompressed content
    expected: list[tuple[int, Expected]]  # with the number of its line


@st.composite
def cases(draw: st.DrawFn) -> Case:
    drawn = draw(st.lists(lines(), max_size=25))
    bom = draw(st.booleans())
    end = draw(st.sampled_from([b"\n", b""]))
    body = (BOM if bom else b"") + b"\n".join(line for line, _ in drawn) + (end if drawn else b"")
    return Case(body, [(number, item) for number, (_, held) in enumerate(drawn, 1) for item in held])


def compress(body: bytes, cuts: list[int]) -> bytes:
    """``body`` as gzip members, one per stretch between the cut offsets."""
    edges = sorted({0, len(body), *(cut % (len(body) + 1) for cut in cuts)})
    return b"".join(gzip.compress(body[a:b], mtime=0) for a, b in zip(edges, edges[1:], strict=False)) or gzip.compress(b"")


def flat(chunks: list[InputChunk]) -> list[tuple[bytes, str, str, str, int | None]]:
    return [
        (base64.b64decode(data), record_id, chunk.owner, chunk.kind, arrival)
        for chunk in chunks
        for record_id, data, arrival in zip(chunk.batch.record_ids, chunk.batch.data, chunk.batch.arrival_ms, strict=True)
    ]


@given(case=cases(), sizes=st.lists(st.integers(1, 7), min_size=2, max_size=2), cuts=st.lists(st.integers(0, 10**4), max_size=3))
def test_every_record_exactly_once_under_ids_that_follow_the_content(
    tmp_path_factory: pytest.TempPathFactory, case: Case, sizes: list[int], cuts: list[int]
) -> None:
    assume(not case.body.startswith(b"\x1f\x8b"))  # plain text cannot start like gzip
    input_id = hashlib.sha256(case.body).hexdigest()[:16]
    want = [
        (e.data, e.record_id or f"{input_id}-{number}{e.suffix}", e.owner or input_id, e.kind, e.arrival)
        for number, e in case.expected
    ]
    folder = tmp_path_factory.mktemp("inputs")
    plain, zipped = folder / "plain.ndjson", folder / "sub" / "other.gz"
    plain.write_bytes(case.body)
    zipped.parent.mkdir()
    zipped.write_bytes(compress(case.body, cuts))
    for size in sizes:
        for path in (plain, zipped):
            chunks = list(iter_chunks([str(path)], chunk_size=size))
            assert flat(chunks) == want  # bytes, ids, owners, kinds and arrival times
            assert all(0 < len(c.batch) <= size and c.input_id == input_id for c in chunks)
            assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True] * bool(chunks)
            again = read_file_chunks("s3://elsewhere/x", path.read_bytes(), chunk_size=size)
            assert [dataclasses.replace(c, source=str(path)) for c in again] == chunks
