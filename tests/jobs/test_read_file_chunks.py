"""read_file_chunks: a file's bytes read by someone else (Spark) give exactly iter_chunks' batches and ids."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from transform_core.demo.generate import iot_payloads
from transform_core.jobs.inputs import iter_chunks, read_file_chunks


@pytest.mark.parametrize("compress", [False, True])
def test_the_same_batches_as_reading_the_file(tmp_path: Path, compress: bool) -> None:
    body = b"\n".join(p.data for p in iot_payloads(230, 0.2, seed=3)) + b"\n{}{}\nnot json\n"
    path = tmp_path / "part.ndjson"
    path.write_bytes(gzip.compress(body) if compress else body)
    expected = list(iter_chunks([str(path)], chunk_size=100))
    got = list(read_file_chunks(str(path), path.read_bytes(), chunk_size=100))
    assert [b.batch_id for b in got] == [b.batch_id for b in expected] and len(got) == 3
    assert got == expected


def test_bad_arguments_fail_at_the_call_not_on_first_use() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        read_file_chunks("x", b"{}", chunk_size=0)
    with pytest.raises(ValueError, match="unknown input kind"):
        read_file_chunks("x", b"{}", kind="csv")
