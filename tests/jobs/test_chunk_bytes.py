"""iter_chunks(as_bytes=True): plain lines come as their bytes, in the chunks and with the ids base64 reading gives."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.jobs.input_files import errors_line, processing_failed_line
from transform_core.demo.generate import iot_payloads
from transform_core.engine.payloads import PayloadBatch
from transform_core.firehose.batch import RecordBatch
from transform_core.jobs.inputs import InputChunk, iter_chunks

ODD = b"\n{}{}\nnot json\n\xff\xfe\n" + processing_failed_line(b'{"a":1}') + b"\n" + errors_line(b"{}", "r-1") + b"\n"


def as_text(chunk: InputChunk[RecordBatch | PayloadBatch]) -> tuple[object, ...]:
    """The chunk with its batch as base64 text, every other field as it is."""
    batch = chunk.batch
    data = [base64.b64encode(p).decode() for p in batch.payloads.to_list()] if isinstance(batch, PayloadBatch) else batch.data
    fields = (chunk.source, chunk.input_id, chunk.owner, chunk.first_line, chunk.kind, chunk.nbytes, chunk.last, chunk.batch_id)
    return (list(batch.record_ids), list(data), list(batch.arrival_ms), *fields)


@pytest.mark.parametrize("kind", [None, "ndjson", "firehose-backup", "processing-failed", "errors"])
def test_the_same_records_and_ids_as_base64_chunks(tmp_path: Path, kind: str | None) -> None:
    body = b"\n".join(p.data for p in iot_payloads(230, 0.2, seed=5)) + ODD
    path = tmp_path / "part.ndjson"
    path.write_bytes(body)
    expected = list(iter_chunks([str(path)], chunk_size=100, kind=kind))
    got = list(iter_chunks([str(path)], chunk_size=100, kind=kind, as_bytes=True))
    assert [as_text(c) for c in got] == [as_text(c) for c in expected]
    for chunk in got:  # a chunk of replayed records stays base64 text; any other holds the lines' bytes
        assert isinstance(chunk.batch, RecordBatch if chunk.kind in ("processing-failed", "errors") else PayloadBatch)
    if kind in (None, "ndjson", "firehose-backup"):
        first = got[0].batch
        assert isinstance(first, PayloadBatch) and first.payloads.to_list()[:2] == body.split(b"\n")[:2]
