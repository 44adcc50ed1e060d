"""iter_chunks: every input kind read back as the records that were written, in chunks with stable ids."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable
from pathlib import Path

import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from transform_core.demo.generate import iot_payloads
from transform_core.engine import Pipeline
from transform_core.firehose.outcomes import FAILED
from transform_core.jobs.inputs import InputChunk, InputError, iter_chunks, list_inputs

SPEC = Path(__file__).resolve().parents[2] / "examples" / "iot" / "pipeline.yaml"


def write(path: Path, lines: Iterable[bytes], *, compress: bool = False, end: bytes = b"\n") -> Path:
    body = b"\n".join(lines) + end
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(body, mtime=0) if compress else body)
    return path


def records(batches: Iterable[InputChunk]) -> list[bytes]:
    return [base64.b64decode(data) for b in batches for data in b.batch.data]


def read(*paths: Path | str, **kwargs: object) -> list[InputChunk]:
    return list(iter_chunks([str(p) for p in paths], **kwargs))  # type: ignore[arg-type]


LINES = [b'{"a":1}', b'{"a":2, "b":"x"}', b"[1,2]", b'"text"']


@pytest.mark.parametrize(("name", "compress"), [("plain.ndjson", False), ("zipped.ndjson.gz", True), ("zipped.txt", True)])
def test_ndjson_plain_or_gzip_by_magic_bytes(tmp_path: Path, name: str, compress: bool) -> None:
    path = write(tmp_path / name, LINES, compress=compress)
    (batch,) = read(path)
    assert records([batch]) == LINES
    assert (batch.source, batch.kind, batch.first_line, batch.last) == (str(path), "ndjson", 1, True)
    assert batch.batch.arrival_ms == [None] * len(LINES)
    assert batch.batch.record_ids == [f"{batch.batch_id}-{n}" for n in range(1, 5)]


def test_plain_file_with_a_gz_suffix_is_read_plain(tmp_path: Path) -> None:
    assert records(read(write(tmp_path / "plain.gz", LINES))) == LINES


def test_concatenated_gzip_members_and_no_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "multi.gz"
    path.write_bytes(gzip.compress(b'{"a":1}\n{"a":2}\n') + gzip.compress(b'{"a":3}'))
    assert records(read(path)) == [b'{"a":1}', b'{"a":2}', b'{"a":3}']


def test_corrupt_gzip_raises_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(b'{"a":1}\n' * 1000)[:-20])
    with pytest.raises(InputError) as info:
        read(path)
    assert info.value.file == str(path)


def test_blank_lines_are_not_records_but_keep_line_numbers(tmp_path: Path) -> None:
    (batch,) = read(write(tmp_path / "gaps.ndjson", [b"", b'{"a":1}', b"  ", b'{"a":2}\r', b""]))
    assert records([batch]) == [b'{"a":1}', b'{"a":2}\r']
    assert batch.first_line == 2
    assert batch.batch.record_ids == [f"{batch.batch_id}-2", f"{batch.batch_id}-4"]


def test_a_bad_json_line_is_a_record_the_pipeline_rejects(tmp_path: Path, pipeline: Pipeline) -> None:
    good = iot_payloads(1, seed=3)[0].data
    (batch,) = read(write(tmp_path / "mixed.ndjson", [good, b'{"event_id": "trunc', good]))
    assert records([batch])[1] == b'{"event_id": "trunc'
    result = pipeline.process(batch.batch).outcomes
    assert result["result"][1] == FAILED and result["reason"][1]
    assert result["record_id"].to_list() == batch.batch.record_ids


def test_firehose_backup_newline_delimited_reads_as_ndjson(tmp_path: Path) -> None:
    (batch,) = read(write(tmp_path / "backup", LINES))
    assert batch.kind == "ndjson" and records([batch]) == LINES


def test_firehose_backup_concatenated_values_are_split(tmp_path: Path) -> None:
    path = write(tmp_path / "backup", [b'{"a":1}{"b":"}{"} {"c":[3]}', b'{"d":4}'], end=b"")
    (batch,) = read(path)
    assert batch.kind == "firehose-backup"
    assert records([batch]) == [b'{"a":1}', b'{"b":"}{"}', b'{"c":[3]}', b'{"d":4}']
    assert [i.rsplit("-", 1)[1] for i in batch.batch.record_ids] == ["1.0", "1.1", "1.2", "2"]


def test_concatenated_values_stay_one_record_when_read_as_ndjson(tmp_path: Path) -> None:
    path = write(tmp_path / "backup", [b'{"a":1}{"b":2}'])
    assert records(read(path, kind="ndjson")) == [b'{"a":1}{"b":2}']


def error_line(raw: bytes, **extra: object) -> bytes:
    return orjson.dumps({"rawData": base64.b64encode(raw).decode(), **extra})


@pytest.mark.parametrize(
    ("extra", "kind"),
    [
        (
            {"attemptsMade": 4, "arrivalTimestamp": 1795824060000, "errorCode": "Lambda.X", "lambdaArn": "arn"},
            "processing-failed",
        ),
        ({"recordId": "r1", "reason": "$.value: too big (maximum)", "spec": "iot-telemetry"}, "errors"),
    ],
)
def test_error_files_replay_raw_data(tmp_path: Path, extra: dict[str, object], kind: str) -> None:
    path = write(tmp_path / "errors" / "part-0", [error_line(b'{"a":1}', **extra), error_line(b"not json", **extra), b"{broken"])
    (batch,) = read(path)
    assert batch.kind == kind
    assert records([batch]) == [b'{"a":1}', b"not json", b"{broken"]  # a broken error line stays, to be rejected
    arrival = extra.get("arrivalTimestamp")
    assert batch.batch.arrival_ms == [arrival, arrival, None]
    assert records(read(path, kind="ndjson"))[0] == error_line(b'{"a":1}', **extra)


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


def test_s3_prefixes_use_the_callables_given() -> None:
    store = {
        "s3://bkt/in/2026/11/a.gz": gzip.compress(b'{"a":1}\n'),
        "s3://bkt/in/2026/11/_SUCCESS": b"",
        "s3://bkt/in/.tmp/b": b'{"b":1}\n',
    }
    batches = list(
        iter_chunks(["s3://bkt/in/"], read_bytes=store.__getitem__, list_files=lambda p: [k for k in store if k.startswith(p)])
    )
    assert [b.source for b in batches] == ["s3://bkt/in/2026/11/a.gz"]
    assert records(batches) == [b'{"a":1}']
    with pytest.raises(InputError, match="list_files="):
        list(iter_chunks(["s3://bkt/in/"]))


def test_chunks_at_batch_size_with_first_lines(tmp_path: Path) -> None:
    lines = [f'{{"n":{n}}}'.encode() for n in range(25)]
    batches = read(write(tmp_path / "many.ndjson", lines), chunk_size=10)
    assert [len(b.batch) for b in batches] == [10, 10, 5]
    assert [b.first_line for b in batches] == [1, 11, 21]
    assert [b.last for b in batches] == [False, False, True]
    assert records(batches) == lines
    ids = [i for b in batches for i in b.batch.record_ids]
    assert ids == [f"{b.batch_id}-{b.first_line + k}" for b in batches for k in range(len(b.batch))]
    assert len({b.batch_id for b in batches}) == 3


def test_batch_ids_are_deterministic_and_follow_the_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "in.ndjson", LINES)

    def ids() -> list[list[str]]:
        return [b.batch.record_ids for b in read("in.ndjson", chunk_size=2)]

    monkeypatch.chdir(tmp_path)
    first = ids()
    assert ids() == first
    assert all(len(b.batch_id) == 16 and int(b.batch_id, 16) >= 0 for b in read(path))
    path.write_bytes(path.read_bytes().replace(b'"a":1', b'"a":9'))  # same size, other content
    changed = ids()
    assert all(set(old).isdisjoint(new) for old, new in zip(first, changed, strict=True))
    (tmp_path / "copy.ndjson").write_bytes(path.read_bytes())
    assert read("copy.ndjson")[0].batch_id != read("in.ndjson")[0].batch_id  # another file, other ids


def failed_lines(pipeline: Pipeline, batch: InputChunk, firehose: bool) -> list[bytes]:
    """The rejected records as Firehose's processing-failed/ or transform-core's errors/ lines."""
    outcomes = pipeline.process(batch.batch).outcomes.filter(result=FAILED)
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
    (batch,) = read(source)
    original = pipeline.process(batch.batch).outcomes.filter(result=FAILED)
    assert original.height >= 80  # 100 invalid, less the malformed_base64 kind (valid JSON when written raw)
    errors = write(tmp_path / "failed" / "part-0", failed_lines(pipeline, batch, firehose), compress=firehose)
    replays = read(errors, chunk_size=64)
    assert {b.kind for b in replays} == {"processing-failed" if firehose else "errors"}
    replayed = [pipeline.process(b.batch).outcomes for b in replays]
    got = [row for outcomes in replayed for row in outcomes.select("result", "data", "reason").iter_rows()]
    assert got == list(original.select("result", "data", "reason").iter_rows())


line_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b""))


@given(lines=st.lists(line_bytes, max_size=30), final_newline=st.booleans(), compress=st.booleans(), chunk_size=st.integers(1, 7))
def test_ndjson_lines_read_back_exactly(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], final_newline: bool, compress: bool, chunk_size: int
) -> None:
    assume(compress or not b"\n".join(lines).startswith(b"\x1f\x8b\x08"))  # plain text cannot start like gzip
    path = write(tmp_path_factory.mktemp("prop") / "lines", lines, compress=compress, end=b"\n" if final_newline else b"")
    batches = read(path, chunk_size=chunk_size, kind="ndjson")
    expected = [(n, line) for n, line in enumerate(lines, 1) if line and not line.isspace()]
    assert records(batches) == [line for _, line in expected]
    assert [b.first_line for b in batches] == [n for n, _ in expected[::chunk_size]]
