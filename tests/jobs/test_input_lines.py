"""iter_chunks decides each line on its own: its kind, whether it is blank, and the byte order mark that opens a file."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tests.jobs.input_files import errors_line, input_id, processing_failed_line, read, records, write
from transform_core.demo.generate import iot_payloads
from transform_core.engine import Pipeline
from transform_core.firehose.outcomes import FAILED, OK
from transform_core.jobs.inputs import InputError

BOM = b"\xef\xbb\xbf"


def test_an_ndjson_record_with_a_raw_data_field_is_a_record(tmp_path: Path) -> None:
    lines = [b'{"rawData":"aGVsbG8=","device":"d1"}', b'{"rawData":"d29ybGQ=","recordId":"x"}', b'{"device":"d2"}']
    chunks = read(write(tmp_path / "records.ndjson", lines))
    assert records(chunks) == lines  # the records themselves, not their rawData
    assert {c.kind for c in chunks} == {"ndjson"}


def test_a_processing_failed_file_with_a_damaged_first_line_replays_the_others(tmp_path: Path) -> None:
    lines = [b'{"attemptsMade":4,"rawDa', processing_failed_line(b'{"a":1}'), processing_failed_line(b'{"a":2}')]
    damaged, replayed = read(write(tmp_path / "processing-failed" / "part", lines))
    assert (damaged.kind, replayed.kind) == ("ndjson", "processing-failed")
    assert records([damaged, replayed]) == [lines[0], b'{"a":1}', b'{"a":2}']
    assert replayed.batch.arrival_ms == [1795824060000, 1795824060000]
    assert replayed.first_line == 2 and replayed.last and not damaged.last


def test_a_backup_whose_first_line_holds_one_record_still_splits_the_others(tmp_path: Path) -> None:
    chunks = read(write(tmp_path / "backup", [b'{"a":1}', b'{"b":2}{"c":3}', b'{"d":4} {"e":5}']))
    assert records(chunks) == [b'{"a":1}', b'{"b":2}', b'{"c":3}', b'{"d":4}', b'{"e":5}']
    assert [i.rsplit("-", 1)[1] for i in chunks[0].batch.record_ids] == ["1", "2.0", "2.1", "3.0", "3.1"]


def test_kinds_mixed_in_one_file_go_out_in_chunks_of_one_kind(tmp_path: Path) -> None:
    lines = [b'{"a":1}', processing_failed_line(b'{"b":2}'), errors_line(b'{"c":3}', "r-3"), b'{"d":4}{"e":5}']
    chunks = read(write(tmp_path / "mixed", lines), chunk_size=10)
    assert [(c.kind, c.first_line, len(c.batch)) for c in chunks] == [
        ("ndjson", 1, 1),
        ("processing-failed", 2, 1),
        ("errors", 3, 1),
        ("ndjson", 4, 2),
    ]
    assert records(chunks) == [b'{"a":1}', b'{"b":2}', b'{"c":3}', b'{"d":4}', b'{"e":5}']
    forced = read(write(tmp_path / "mixed", lines), kind="ndjson")
    assert records(forced) == lines and {c.kind for c in forced} == {"ndjson"}


def test_only_json_whitespace_makes_a_blank_line(tmp_path: Path, pipeline: Pipeline) -> None:
    lines = [b"\x0b", b"\x0c", b" \t\r", b"", b'{"a":1}', b" \x0b ", b"\r"]
    chunks = read(write(tmp_path / "odd.ndjson", lines))
    assert records(chunks) == [b"\x0b", b"\x0c", b'{"a":1}', b" \x0b "]
    assert [i.rsplit("-", 1)[1] for i in chunks[0].batch.record_ids] == ["1", "2", "5", "6"]
    outcomes = pipeline.process(chunks[0].batch).outcomes
    assert outcomes["result"].to_list() == [FAILED] * 4  # rejected with a reason, never lost
    assert all(outcomes["reason"].to_list())


def test_blank_lines_are_not_records_but_keep_line_numbers(tmp_path: Path) -> None:
    (chunk,) = read(write(tmp_path / "gaps.ndjson", [b"", b'{"a":1}', b"  ", b'{"a":2}\r', b""]))
    assert records([chunk]) == [b'{"a":1}', b'{"a":2}\r']
    assert chunk.first_line == 2
    assert chunk.batch.record_ids == [f"{chunk.input_id}-2", f"{chunk.input_id}-4"]


@pytest.mark.parametrize("compress", [False, True])
def test_a_byte_order_mark_opening_the_file_is_not_part_of_the_first_record(
    tmp_path: Path, pipeline: Pipeline, compress: bool
) -> None:
    payloads = [p.data for p in iot_payloads(3, seed=5)]
    body = BOM + b"\n".join(payloads) + b"\n"
    path = tmp_path / "bom.ndjson"
    path.write_bytes(gzip.compress(body) if compress else body)
    (chunk,) = read(path)
    assert records([chunk]) == payloads
    assert chunk.input_id == input_id(body)  # the mark counts in the content's hash
    assert chunk.nbytes == sum(map(len, payloads))
    results = pipeline.process(chunk.batch).outcomes["result"].to_list()
    assert results == pipeline.process(read(write(tmp_path / "plain", payloads))[0].batch).outcomes["result"].to_list()
    assert OK in results


def test_only_the_mark_opening_the_file_is_stripped(tmp_path: Path) -> None:
    (chunk,) = read(write(tmp_path / "bom", [BOM, b'{"a":1}', BOM + b'{"b":2}']))  # a mark alone, then one inside
    assert records([chunk]) == [b'{"a":1}', BOM + b'{"b":2}']
    assert chunk.first_line == 2


@pytest.mark.parametrize("kind", [None, "ndjson", "firehose-backup", "processing-failed", "errors"])
def test_each_files_blank_lines_are_told_once_it_is_read(tmp_path: Path, kind: str | None) -> None:
    record = processing_failed_line(b'{"a":1}') if kind in ("processing-failed", "errors") else b'{"a":1}'
    first = write(tmp_path / "first", [b"", record, b" \t", record, b"\r"])
    blank_only = write(tmp_path / "blank-only", [b"", b"  "])
    told: list[tuple[str, int]] = []
    chunks = read(first, blank_only, tmp_path / "first", kind=kind, on_blank=lambda *t: told.append(t))
    assert len(records(chunks)) == 2
    assert told == [(str(first), 3), (str(blank_only), 2)]  # a file without records too; a file named twice, read once


def test_a_file_that_breaks_off_tells_its_blank_lines_before_the_break(tmp_path: Path) -> None:
    whole = gzip.compress(b'{"a":1}\n\n\n{"b":2}\n' * 2000)
    damaged = tmp_path / "damaged.ndjson.gz"
    damaged.write_bytes(whole[: len(whole) // 2])
    told: list[tuple[str, int]] = []
    with pytest.raises(InputError):
        read(damaged, on_blank=lambda *t: told.append(t))
    assert len(told) == 1 and told[0][1] > 0
