"""LakeWriter.write of a batch given as bytes (reprocess's plain lines) writes what it writes for the same records in
base64: the same Parquet rows, and the same errors/ lines, rawData in base64."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.helpers.curated import make_spec
from transform_core.engine import Pipeline
from transform_core.engine.payloads import PayloadBatch
from transform_core.firehose.batch import RecordBatch
from transform_core.lake import LakeWriter

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ts": {"type": "string", "format": "date-time"},
        "n": {"type": "number"},
        "i": {"type": "integer"},
        "point": {"type": "object", "properties": {"i": {"type": "integer"}}},
        "any": {},
    },
    "required": ["ts"],
}
TEXTS = [
    '{"ts":"2026-01-01T00:00:00Z","n":0.1,"i":7,"point":{"i":-3},"any":[1, 2.50]}',
    '{ "ts" : "2026-01-02t10:00:00z", "n": 1E2, "über": {"k": "\\u00e9"} }',
    '{"ts":"2026-01-01T00:00:00Z","i":2.0000000000000001}',
    '{"ts":"not a time"}',
    "not json",
    '{"ts":"2026-01-03T00:00:00+01:00","i":2.0,"n":-0.0}',
]


def lake_of(root: Path, as_bytes: bool) -> tuple[pl.DataFrame, list[dict[str, Any]], tuple[tuple[int, str], ...]]:
    spec = make_spec(SCHEMA, output={"lake": str(root)})
    pipeline, writer = Pipeline(spec), LakeWriter(spec)
    ids, arrival = [f"r{i}" for i in range(len(TEXTS))], [1_700_000_000_000 + i for i in range(len(TEXTS))]
    payloads = [text.encode() for text in TEXTS]
    batch: RecordBatch | PayloadBatch
    if as_bytes:  # as reprocess reads plain lines
        batch = PayloadBatch(payloads=pl.Series(payloads, dtype=pl.Binary), record_ids=ids, arrival_ms=arrival)
        result = pipeline.process_payloads(batch.payloads, ids, arrival)
    else:
        batch = RecordBatch(record_ids=ids, data=[base64.b64encode(p).decode() for p in payloads], arrival_ms=arrival)
        result = pipeline.process(batch, respond=False)
    written = writer.write(result, batch, batch_id="b1", input_id="0" * 16)
    rows = pl.read_parquet(root / "raw", hive_partitioning=True).drop("_ingested_at").sort("_source_record_id")
    errors = [orjson.loads(line) for path in sorted(root.glob("errors/**/*.ndjson")) for line in path.read_bytes().splitlines()]
    for error in errors:
        del error["errorTimestamp"]
    return rows, errors, written.refused


def test_bytes_and_base64_write_the_same_lake(tmp_path: Path) -> None:
    rows, errors, refused = lake_of(tmp_path / "bytes", as_bytes=True)
    want_rows, want_errors, want_refused = lake_of(tmp_path / "base64", as_bytes=False)
    assert_frame_equal(rows, want_rows)
    assert errors == want_errors and refused == want_refused
    assert rows["_source_record_id"].to_list() == ["r0", "r1", "r5"]
    assert rows["_extra"].to_list() == [None, '{"über":{"k": "\\u00e9"}}', None]  # values as sent
    assert rows["any"].to_list() == ["[1, 2.50]", None, None] and rows["i"].to_list() == [7, None, 2]
    assert [e["recordId"] for e in errors] == ["r2", "r3", "r4"] and [r for r, _ in refused] == [2]
    assert [base64.b64decode(e["rawData"]).decode() for e in errors] == [TEXTS[2], TEXTS[3], TEXTS[4]]


@pytest.mark.parametrize("as_bytes", [True, False])
def test_every_record_is_accounted_for(tmp_path: Path, as_bytes: bool) -> None:
    rows, errors, _ = lake_of(tmp_path, as_bytes)
    assert rows.height + len(errors) == len(TEXTS)
