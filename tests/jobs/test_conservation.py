"""Every record is accounted for, through reprocess, reruns, a crash and replays: a property over generated inputs.

Records in = rows in raw/ + records in errors/ + dropped. Each raw row holds the values its record sent (integers
exact, numbers the nearest double, strings, nested values, undeclared members as sent), each rejected record's
original bytes are in errors/, and no record id is stored twice. The same holds after a rerun, a rerun under another
chunk size, a crash then a rerun, and two replays of the errors.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.exact import Sent, expected_row, sent_records
from transform_core.demo.generate import iot_payloads
from transform_core.jobs.reprocess import ReprocessOptions, ReprocessSummary, reprocess
from transform_core.lake import writer as writer_module

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "examples" / "iot" / "pipeline.yaml")
TABLE = "iot_telemetry"
# every kind of bad record but bad base64, which is a matter of the Firehose event, not of a file's line
INVALID = [p.data for p in iot_payloads(400, 1.0, seed=11) if p.kind != "malformed_base64"]
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Line:
    """One line of an input file and the records it holds (their original bytes, and the sent text if valid)."""

    text: bytes
    records: tuple[bytes, ...]
    sent: tuple[Sent | None, ...]


def _one_line(sent: Sent) -> Sent:
    return Sent(text=sent.text.replace("\n", " "), extras=sent.extras)  # separators may hold a newline


@st.composite
def lines(draw: st.DrawFn) -> Line:
    kind = draw(st.sampled_from(["sent", "sent", "sent", "invalid", "blank", "control", "pair", "wrapped"]))
    if kind == "sent":
        sent = _one_line(draw(sent_records()))
        return Line(sent.text.encode(), (sent.text.encode(),), (sent,))
    if kind == "invalid":
        bad = draw(st.sampled_from(INVALID))
        bad = bad.replace(b"\n", b" ")
        return Line(bad, (bad,), (None,))
    if kind == "blank":
        return Line(draw(st.sampled_from([b"", b"  ", b"\t \r"])), (), ())
    if kind == "control":  # not JSON whitespace: a record, rejected
        text = draw(st.sampled_from([b"\x0b", b"\x0c", b" \x0b "]))
        return Line(text, (text,), (None,))
    if kind == "pair":  # a Firehose backup line: two records, concatenated
        first, second = (_one_line(draw(sent_records())) for _ in range(2))
        text = f"{first.text}{second.text}".encode()
        if not (_json(first.text) and _json(second.text)):  # no telling where a broken value ends: one record
            return Line(text, (text,), (None,))
        return Line(text, (first.text.encode(), second.text.encode()), (first, second))
    sent = _one_line(draw(sent_records()))  # a line of Firehose's processing-failed output
    wrapper = {"attemptsMade": 4, "arrivalTimestamp": 1795824060000, "errorCode": "Lambda.FunctionError", "errorMessage": "x"}
    wrapper["rawData"] = base64.b64encode(sent.text.encode()).decode()
    return Line(orjson.dumps(wrapper), (sent.text.encode(),), (sent,))


def _json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Input:
    lines: tuple[Line, ...]
    bom: bool
    gzipped: bool

    @property
    def content(self) -> bytes:
        return (BOM if self.bom else b"") + b"\n".join(line.text for line in self.lines) + b"\n"

    def originals(self) -> dict[str, tuple[bytes, Sent | None]]:
        """Record id -> (original bytes, the sent record if generated valid)."""
        input_id = hashlib.sha256(self.content).hexdigest()[:16]
        found: dict[str, tuple[bytes, Sent | None]] = {}
        for number, line in enumerate(self.lines, start=1):
            count = len(line.records)
            labels = [f"{number}.{k}" for k in range(count)] if count > 1 else [str(number)] * count
            for label, record, sent in zip(labels, line.records, line.sent, strict=True):
                found[f"{input_id}-{label}"] = (record, sent)
        return found


inputs = st.builds(Input, st.lists(lines(), min_size=1, max_size=14).map(tuple), st.booleans(), st.booleans())


def write_inputs(folder: Path, files: list[Input]) -> list[str]:
    paths = []
    for i, item in enumerate(files):
        path = folder / f"in{i}.ndjson{'.gz' if item.gzipped else ''}"
        path.write_bytes(gzip.compress(item.content, mtime=0) if item.gzipped else item.content)
        paths.append(str(path))
    return paths


def run(paths: list[str], lake: Path, chunk_size: int) -> ReprocessSummary:
    return reprocess(paths, ReprocessOptions(spec=SPEC, out=str(lake), workers=1, chunk_size=chunk_size))


def lake_contents(lake: Path) -> tuple[dict[str, dict[str, Any]], dict[str, bytes]]:
    """Raw rows by record id and rejected records' original bytes by record id; no id may be stored twice."""
    rows: list[dict[str, Any]] = []
    raw_files = list((lake / "raw").rglob("*.parquet")) if (lake / "raw").exists() else []
    if raw_files:
        rows = pl.read_parquet(raw_files).to_dicts()
    errors: list[tuple[str, bytes]] = []
    for file in (lake / "errors").rglob("*.ndjson") if (lake / "errors").exists() else []:
        for text in file.read_bytes().splitlines():
            error = json.loads(text)
            errors.append((error["recordId"], base64.b64decode(error["rawData"])))
    ids = Counter([row["_source_record_id"] for row in rows] + [record_id for record_id, _ in errors])
    assert max(ids.values(), default=1) == 1, [i for i, n in ids.items() if n > 1]
    return {row["_source_record_id"]: row for row in rows}, dict(errors)


def assert_conserved(lake: Path, files: list[Input], dropped: int) -> None:
    originals = {record_id: found for item in files for record_id, found in item.originals().items()}
    raw, errors = lake_contents(lake)
    missing = sorted(originals.keys() - raw.keys() - errors.keys())
    assert len(raw) + len(errors) + dropped == len(originals), missing
    for record_id, row in raw.items():
        _, sent = originals[record_id]
        assert sent is not None, f"{record_id} was generated invalid but is in raw/"
        want = expected_row(sent)
        assert want is not None, f"{record_id}: the lake stored a value it cannot hold exactly"
        assert {name: row[name] for name in want} == want, record_id
    for record_id, data in errors.items():
        assert data == originals[record_id][0], record_id


@pytest.mark.slow
@settings(
    max_examples=25, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
)
@given(
    files=st.lists(inputs, min_size=1, max_size=2, unique_by=lambda i: i.content),
    sizes=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    crash_at=st.integers(1, 3),
)
def test_every_record_is_accounted_for_through_reruns_crashes_and_replays(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    files: list[Input],
    sizes: tuple[int, int],
    crash_at: int,
) -> None:
    folder = tmp_path_factory.mktemp("conservation")
    paths, lake = write_inputs(folder, files), folder / "lake"
    first = run(paths, lake, sizes[0])
    assert not first.problems
    assert_conserved(lake, files, first.dropped)
    stored = lake_contents(lake)

    assert run(paths, lake, sizes[0]).dropped == first.dropped  # the same run again
    assert lake_contents(lake) == _without_ingest_time(stored, lake)
    run(paths, lake, sizes[1])  # another chunk size
    assert_conserved(lake, files, first.dropped)

    write, calls = writer_module.LakeWriter.write, 0

    def dies(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == crash_at:
            raise OSError("the disk is full")
        return write(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(writer_module.LakeWriter, "write", dies)
        run(paths, lake, sizes[1] + 1)
    rerun = run(paths, lake, sizes[0])
    assert not rerun.problems and rerun.dropped == first.dropped
    assert_conserved(lake, files, first.dropped)

    for _ in range(2):  # the errors replayed: nothing changes, nothing piles up
        if (lake / "errors").exists():
            replay = run([str(lake / "errors")], lake, sizes[1])
            assert not replay.problems and replay.ok == 0
        assert_conserved(lake, files, first.dropped)


def _without_ingest_time(stored: Any, lake: Path) -> Any:
    """``stored`` with each raw row's ingest time as the lake holds it now (a rerun writes the rows again)."""
    raw, errors = stored
    now, _ = lake_contents(lake)
    return {record_id: {**row, "_ingested_at": now[record_id]["_ingested_at"]} for record_id, row in raw.items()}, errors
