"""read_file_chunks: a file's bytes read by someone else (Spark) give exactly iter_chunks' chunks and ids."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import pytest

from tests.jobs.input_files import errors_line, processing_failed_line
from transform_core.demo.generate import iot_payloads
from transform_core.jobs.inputs import iter_chunks, read_file_chunks

ODD = b"\n{}{}\nnot json\n\x0b\n" + processing_failed_line(b'{"a":1}') + b"\n" + errors_line(b"{}", "r-1", input="0" * 16) + b"\n"


@pytest.mark.parametrize("compress", [False, True])
def test_the_same_chunks_as_reading_the_file(tmp_path: Path, compress: bool) -> None:
    body = b"\xef\xbb\xbf" + b"\n".join(p.data for p in iot_payloads(230, 0.2, seed=3)) + ODD
    path = tmp_path / "part.ndjson"
    path.write_bytes(gzip.compress(body) if compress else body)
    expected = list(iter_chunks([str(path)], chunk_size=100))
    got = list(read_file_chunks(str(path), path.read_bytes(), chunk_size=100))
    assert [c.batch_id for c in got] == [c.batch_id for c in expected] and len(got) == 5  # 100, 100, 34, then a chunk per kind
    assert got == expected


def test_the_ids_do_not_depend_on_the_name_spark_gives_the_file(tmp_path: Path) -> None:
    """Spark names a file ``file:/…``, ``s3a://…`` or ``hdfs://…``: the records' ids are those reprocess gives."""
    body = b"\n".join(p.data for p in iot_payloads(50, 0.2, seed=4)) + ODD
    path = tmp_path / "part.ndjson"
    path.write_bytes(body)
    expected = list(iter_chunks([str(path)], chunk_size=20))
    for name in (f"file://{path}", "s3a://bucket/elsewhere/part.ndjson.gz", "hdfs://nn/x"):
        got = list(read_file_chunks(name, gzip.compress(body), chunk_size=20))
        assert {c.source for c in got} == {name}
        assert [dataclasses.replace(c, source=str(path)) for c in got] == expected


def test_bad_arguments_fail_at_the_call_not_on_first_use() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        read_file_chunks("x", b"{}", chunk_size=0)
    with pytest.raises(ValueError, match="unknown input kind"):
        read_file_chunks("x", b"{}", kind="csv")
