"""iter_chunks: every input kind read back as the records that were written, in chunks, from local files or S3."""

from __future__ import annotations

import base64
import gzip
import io
import json
from pathlib import Path

import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.jobs.input_files import LINES, errors_line, input_id, processing_failed_line, read, records, write
from transform_core.demo.generate import iot_payloads
from transform_core.engine import Pipeline
from transform_core.firehose.outcomes import FAILED
from transform_core.jobs.inputs import InputChunk, InputError, iter_chunks, list_inputs


@pytest.mark.parametrize(("name", "compress"), [("plain.ndjson", False), ("zipped.ndjson.gz", True), ("zipped.txt", True)])
def test_ndjson_plain_or_gzip_by_magic_bytes(tmp_path: Path, name: str, compress: bool) -> None:
    path = write(tmp_path / name, LINES, compress=compress)
    (chunk,) = read(path)
    assert records([chunk]) == LINES
    assert (chunk.source, chunk.kind, chunk.first_line, chunk.last) == (str(path), "ndjson", 1, True)
    assert chunk.input_id == chunk.owner == input_id(b"\n".join(LINES) + b"\n")
    assert chunk.batch_id == f"{chunk.input_id}-1"
    assert chunk.batch.arrival_ms == [None] * len(LINES)
    assert chunk.batch.record_ids == [f"{chunk.input_id}-{n}" for n in range(1, 5)]
    assert chunk.nbytes == sum(map(len, LINES))


def test_plain_file_with_a_gz_suffix_is_read_plain(tmp_path: Path) -> None:
    assert records(read(write(tmp_path / "plain.gz", LINES))) == LINES


def test_concatenated_gzip_members_and_no_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "multi.gz"
    path.write_bytes(gzip.compress(b'{"a":1}\n{"a":2}\n') + b"\0\0" + gzip.compress(b'{"a":3}'))  # zero padding between
    assert records(read(path)) == [b'{"a":1}', b'{"a":2}', b'{"a":3}']


def test_a_bad_json_line_is_a_record_the_pipeline_rejects(tmp_path: Path, pipeline: Pipeline) -> None:
    good = iot_payloads(1, seed=3)[0].data
    (chunk,) = read(write(tmp_path / "mixed.ndjson", [good, b'{"event_id": "trunc', good]))
    assert records([chunk])[1] == b'{"event_id": "trunc'
    result = pipeline.process(chunk.batch).outcomes
    assert result["result"][1] == FAILED and result["reason"][1]
    assert result["record_id"].to_list() == chunk.batch.record_ids


def test_firehose_backup_newline_delimited_reads_as_ndjson(tmp_path: Path) -> None:
    (chunk,) = read(write(tmp_path / "backup", LINES))
    assert chunk.kind == "ndjson" and records([chunk]) == LINES


@pytest.mark.parametrize("kind", [None, "firehose-backup"])
def test_firehose_backup_concatenated_values_are_split(tmp_path: Path, kind: str | None) -> None:
    path = write(tmp_path / "backup", [b'{"a":1}{"b":"}{"} {"c":[3]}', b'{"d":4}'], end=b"")
    (chunk,) = read(path, kind=kind)
    assert chunk.kind == (kind or "ndjson")
    assert records([chunk]) == [b'{"a":1}', b'{"b":"}{"}', b'{"c":[3]}', b'{"d":4}']
    assert [i.rsplit("-", 1)[1] for i in chunk.batch.record_ids] == ["1.0", "1.1", "1.2", "2"]
    assert chunk.nbytes == len(b'{"a":1}{"b":"}{"}{"c":[3]}{"d":4}')


@pytest.mark.parametrize(
    ("line", "values"),
    [
        (b"[1][2,3]\t{}", [b"[1]", b"[2,3]", b"{}"]),  # arrays too, any JSON whitespace between
        (b'{"a":1}{"b":2} tail{', [b'{"a":1}', b'{"b":2}', b"tail{"]),  # the rest of the line is one more record
        (b'{"a":1}{"b":2}{"c":', [b'{"a":1}', b'{"b":2}', b'{"c":']),
        (b'{"a":1}{"b":', [b'{"a":1}{"b":']),  # not two values before the rest: a record as it is
        (b'{"a":"}{"}', [b'{"a":"}{"}']),  # one value, braces in a string
        (b'{"a":1} 2{"b":2}', [b'{"a":1} 2{"b":2}']),  # one object, then not one: a record as it is
        (b'{"a":NaN}{"b":2}', [b'{"a":NaN}{"b":2}']),  # not JSON: a record as it is
        ('{"é":1}{"ü":"}{"}\r'.encode(), ['{"é":1}'.encode(), '{"ü":"}{"}'.encode()]),
    ],
)
def test_values_split_from_a_line(tmp_path: Path, line: bytes, values: list[bytes]) -> None:
    chunks = read(write(tmp_path / "backup", [line]))
    assert records(chunks) == values
    labels = [i.rsplit("-", 1)[1] for i in chunks[0].batch.record_ids]
    assert labels == (["1"] if len(values) == 1 else [f"1.{k}" for k in range(len(values))])


def test_concatenated_values_stay_one_record_when_read_as_ndjson(tmp_path: Path) -> None:
    path = write(tmp_path / "backup", [b'{"a":1}{"b":2}'])
    assert records(read(path, kind="ndjson")) == [b'{"a":1}{"b":2}']


@pytest.mark.parametrize("kind", ["processing-failed", "errors"])
def test_error_files_replay_raw_data(tmp_path: Path, kind: str) -> None:
    if kind == "errors":
        lines = [errors_line(b'{"a":1}', "r1"), errors_line(b"not json", "r2"), b"{broken"]
    else:
        lines = [processing_failed_line(b'{"a":1}'), processing_failed_line(b"not json"), b"{broken"]
    path = write(tmp_path / "errors" / "part-0", lines)
    replayed, broken = read(path)
    assert (replayed.kind, broken.kind) == (kind, "ndjson")
    assert records([replayed, broken]) == [b'{"a":1}', b"not json", b"{broken"]  # a broken line stays, to be rejected
    arrival = None if kind == "errors" else 1795824060000
    assert replayed.batch.arrival_ms == [arrival, arrival] and broken.batch.arrival_ms == [None]
    if kind == "errors":
        assert replayed.batch.record_ids == ["r1", "r2"]
    assert broken.batch.record_ids == [f"{broken.input_id}-3"]
    assert records(read(path, kind="ndjson"))[0] == lines[0]
    assert records(read(path, kind=kind)) == [b'{"a":1}', b"not json", b"{broken"]


def test_unknown_kind_and_bad_batch_size_raise(tmp_path: Path) -> None:
    path = write(tmp_path / "a.ndjson", LINES)
    with pytest.raises(ValueError, match="unknown input kind"):
        read(path, kind="csv")
    with pytest.raises(ValueError, match="chunk_size"):
        read(path, chunk_size=0)


def test_folders_recurse_and_skip_hidden_and_underscore_names(tmp_path: Path) -> None:
    for name in ["b/2.ndjson", "a.ndjson.gz", "b/c/3.ndjson", ".hidden", "_SUCCESS", "_tmp/x.ndjson", "b/.git/y"]:
        write(tmp_path / name, [name.encode()], compress=name.endswith(".gz"))
    assert records(read(tmp_path)) == [b"a.ndjson.gz", b"b/2.ndjson", b"b/c/3.ndjson"]
    assert list_inputs([str(tmp_path / "b"), str(tmp_path / "b" / "2.ndjson")]) == [
        str(tmp_path / "b" / "2.ndjson"),
        str(tmp_path / "b" / "c" / "3.ndjson"),
    ]
    assert records(read(tmp_path / "_SUCCESS")) == [b"_SUCCESS"]  # named explicitly, it is read


def test_globs_match_files_and_folders(tmp_path: Path) -> None:
    for name in ["d/1.ndjson.gz", "d/2.ndjson.gz", "d/3.ndjson", "e/sub/4.ndjson.gz"]:
        write(tmp_path / name, [name.encode()], compress=name.endswith(".gz"))
    assert records(read(f"{tmp_path}/d/*.ndjson.gz")) == [b"d/1.ndjson.gz", b"d/2.ndjson.gz"]
    assert records(read(f"{tmp_path}/**/*.gz")) == [b"d/1.ndjson.gz", b"d/2.ndjson.gz", b"e/sub/4.ndjson.gz"]
    assert records(read(f"{tmp_path}/e*")) == [b"e/sub/4.ndjson.gz"]


@pytest.mark.parametrize("missing", ["nothing-here.ndjson", "*.parquet"])
def test_a_missing_path_or_empty_glob_raises(tmp_path: Path, missing: str) -> None:
    with pytest.raises(InputError, match="no such file|matches no input"):
        read(tmp_path / missing)


STORE = {
    "s3://bkt/in/2026/11/a.gz": gzip.compress(b'{"a":1}\n'),
    "s3://bkt/in/2026/11/_SUCCESS": b"",
    "s3://bkt/in/.tmp/b": b'{"b":1}\n',
}


def listing(prefix: str) -> list[str]:
    return [key for key in STORE if key.startswith(prefix)]


def test_s3_prefixes_use_the_callables_given() -> None:
    chunks = list(iter_chunks(["s3://bkt/in/"], open_input=lambda uri: io.BytesIO(STORE[uri]), list_files=listing))
    assert [c.source for c in chunks] == ["s3://bkt/in/2026/11/a.gz"]
    assert records(chunks) == [b'{"a":1}']
    whole = list(iter_chunks(["s3://bkt/in/"], read_bytes=STORE.__getitem__, list_files=listing))
    assert whole == chunks
    with pytest.raises(InputError, match="list_files="):
        list(iter_chunks(["s3://bkt/in/"]))
    with pytest.raises(InputError, match="open_input="):
        list(iter_chunks(["s3://bkt/in/"], list_files=listing))


def test_chunks_at_batch_size_with_first_lines(tmp_path: Path) -> None:
    lines = [f'{{"n":{n}}}'.encode() for n in range(25)]
    chunks = read(write(tmp_path / "many.ndjson", lines), chunk_size=10)
    assert [len(c.batch) for c in chunks] == [10, 10, 5]
    assert [c.first_line for c in chunks] == [1, 11, 21]
    assert [c.last for c in chunks] == [False, False, True]
    assert records(chunks) == lines
    ids = [i for c in chunks for i in c.batch.record_ids]
    assert ids == [f"{c.input_id}-{c.first_line + k}" for c in chunks for k in range(len(c.batch))]
    assert [c.batch_id for c in chunks] == [f"{chunks[0].input_id}-{n}" for n in (1, 11, 21)]


def failed_lines(pipeline: Pipeline, chunk: InputChunk, firehose: bool) -> list[bytes]:
    """The rejected records as Firehose's processing-failed/ or transform-core's errors/ lines."""
    outcomes = pipeline.process(chunk.batch).outcomes.filter(result=FAILED)
    lines = []
    for row in outcomes.iter_rows(named=True):
        if firehose:
            line = {"attemptsMade": 1, "arrivalTimestamp": 1795824060000, "errorCode": "Lambda.ProcessingFailed"}
            line |= {"errorMessage": row["reason"], "rawData": row["data"], "lambdaArn": "arn:aws:lambda:x"}
        else:
            line = {"recordId": row["record_id"], "rawData": row["data"], "reason": row["reason"], "spec": "iot-telemetry"}
        lines.append(json.dumps(line).encode())
    return lines


@pytest.mark.parametrize("firehose", [True, False], ids=["processing-failed", "errors"])
def test_replaying_rejected_records_gives_the_same_results(tmp_path: Path, pipeline: Pipeline, firehose: bool) -> None:
    source = write(tmp_path / "in.ndjson.gz", [p.data for p in iot_payloads(400, invalid_fraction=0.25, seed=7)], compress=True)
    (chunk,) = read(source)
    original = pipeline.process(chunk.batch).outcomes.filter(result=FAILED)
    assert original.height >= 80  # 100 invalid, less the malformed_base64 kind (valid JSON when written raw)
    errors = write(tmp_path / "failed" / "part-0", failed_lines(pipeline, chunk, firehose), compress=firehose)
    replays = read(errors, chunk_size=64)
    assert {c.kind for c in replays} == {"processing-failed" if firehose else "errors"}
    replayed = [pipeline.process(c.batch).outcomes for c in replays]
    got = [row for outcomes in replayed for row in outcomes.select("result", "data", "reason").iter_rows()]
    assert got == list(original.select("result", "data", "reason").iter_rows())
    if not firehose:  # a replayed error keeps its record id, and belongs to the input it came from
        assert [i for c in replays for i in c.batch.record_ids] == original["record_id"].to_list()
        assert {c.owner for c in replays} == {replays[0].input_id}


line_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b""))


@given(lines=st.lists(line_bytes, max_size=30), final_newline=st.booleans(), compress=st.booleans(), chunk_size=st.integers(1, 7))
def test_ndjson_lines_read_back_exactly(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], final_newline: bool, compress: bool, chunk_size: int
) -> None:
    body = b"\n".join(lines)
    assume(compress or not body.startswith(b"\x1f\x8b\x08"))  # plain text cannot start like gzip
    assume(not body.startswith(b"\xef\xbb\xbf"))  # a byte order mark opening the content is not part of the first line
    path = write(tmp_path_factory.mktemp("prop") / "lines", lines, compress=compress, end=b"\n" if final_newline else b"")
    chunks = read(path, chunk_size=chunk_size, kind="ndjson")
    expected = [(n, line) for n, line in enumerate(lines, 1) if line.strip(b" \t\r")]
    assert records(chunks) == [line for _, line in expected]
    assert [c.first_line for c in chunks] == [n for n, _ in expected[::chunk_size]]
    assert [i for c in chunks for i in c.batch.record_ids] == [f"{chunks[0].input_id}-{n}" for n, _ in expected]


def test_a_processing_failed_line_in_another_destinations_spelling_is_replayed(tmp_path: Path) -> None:
    """Firehose's format-conversion failures write ``lastErrorCode``; they replay as processing-failed lines do."""
    line = orjson.dumps(
        {"attemptsMade": 1, "lastErrorCode": "DataFormatConversion.X", "rawData": base64.b64encode(b"{}").decode()}
    )
    (chunk,) = read(write(tmp_path / "failed", [line]))
    assert (chunk.kind, records([chunk])) == ("processing-failed", [b"{}"])


def test_deeply_nested_lines_are_records_as_they_are(tmp_path: Path) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    lines = [b'{"rawData":' + deep + b"}", deep + deep, b'{"a":1}{"b":' + deep + b"}"]
    assert records(read(write(tmp_path / "deep", lines))) == lines


def test_an_errors_line_keeps_even_an_empty_record_id(tmp_path: Path) -> None:
    (chunk,) = read(write(tmp_path / "errors", [errors_line(b"{}", "")]))
    assert chunk.batch.record_ids == [""] and chunk.kind == "errors"
