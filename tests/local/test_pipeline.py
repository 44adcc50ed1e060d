"""transform-core local: the whole pipeline through the real command, every record accounted for, a clean shutdown."""

from __future__ import annotations

import base64
import gzip
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest

from tests.helpers.lake import EXAMPLE
from transform_core import PipelineSpec, RecordBatch, load_spec
from transform_core.cli import main
from transform_core.demo.generate import Payload, iot_payloads
from transform_core.lake.columns import lake_columns, table_dtypes
from transform_core.lake.raw import read_raw
from transform_core.lake.storage import TEMP_PREFIX, list_files
from transform_core.local.send import send_lines
from transform_core.reference import ReferencePipeline

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--processor-buffer-mb", "0.2", "--processor-interval", "0.5", "--s3-interval", "1", "--compact-every", "1"]


@pytest.fixture(scope="module")
def spec() -> PipelineSpec:
    return load_spec(EXAMPLE)


class Running:
    """The command in a subprocess, its endpoint's URL, and its stderr lines as they come."""

    def __init__(self, process: subprocess.Popen[str], url: str, lines: queue.Queue[str], pump: threading.Thread) -> None:
        self.process, self.url, self._lines, self._pump = process, url, lines, pump

    def stop(self, signum: int) -> tuple[str, str]:
        """Send ``signum``; its stdout and stderr once it exits."""
        self.process.send_signal(signum)
        assert self.process.stdout is not None
        out = self.process.stdout.read()
        self.process.wait(timeout=60)
        self._pump.join(10)
        self.process.stdout.close()
        if self.process.stderr is not None:
            self.process.stderr.close()
        return out, "".join(self._lines.queue)


def start(lake: Path, *options: str) -> Running:
    """The command in a subprocess on a free port, once it says where it listens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "transform_core.cli", "local", "--spec", str(EXAMPLE), "--lake", str(lake), "--port", "0"]
    process = subprocess.Popen([*command, *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None
    reader = threading.Thread(target=pump, args=(process.stderr, lines), daemon=True)
    reader.start()
    while True:
        try:
            line = lines.get(timeout=60)
        except queue.Empty:
            process.kill()
            raise AssertionError("the command did not say where it listens") from None
        if match := re.search(r"POST (http://\S+)", line):
            return Running(process, match[1], lines, reader)


def pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def count(text: str, label: str) -> int:
    match = re.search(rf"{label} ([\d,]+)", text)
    assert match is not None, f"{label!r} not in {text}"
    return int(match[1].replace(",", ""))


def meant(payloads: list[Payload]) -> tuple[int, int, int]:
    """Ok, failed, dropped, as the generator meant them (a record it corrupts in an event's base64 is valid here)."""
    ok = sum(p.kind == "valid" or p.corrupt_base64 for p in payloads)
    dropped = sum(p.kind == "heartbeat" for p in payloads)
    return ok, len(payloads) - ok - dropped, dropped


def error_lines(lake: Path) -> int:
    total = 0
    for path in list_files(str(lake / "errors")):
        body = Path(path).read_bytes()
        total += len((gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body).splitlines())
    return total


def leftovers(lake: Path) -> list[Path]:
    """Temporary or hidden files anywhere under the lake: what an interrupted write leaves."""
    return [p for p in lake.rglob("*") if p.is_file() and (p.name.startswith((".", TEMP_PREFIX)) or ".tmp" in p.name)]


@pytest.mark.parametrize(
    ("options", "signum"),
    [((), signal.SIGINT), (("--format", "json", "--gzip", "--source", "direct-put"), signal.SIGTERM)],
    ids=["parquet-kinesis-sigint", "json-gzip-direct-put-sigterm"],
)
def test_a_signal_delivers_every_record_then_the_curated_table_and_query_agree(
    spec: PipelineSpec, tmp_path: Path, options: tuple[str, ...], signum: signal.Signals
) -> None:
    lake = tmp_path / "lake"
    running = start(lake, *SMALL, *options)
    payloads = iot_payloads(600, invalid_fraction=0.15, seed=11)
    assert send_lines([p.data for p in payloads], running.url, connections=3).ok == 600
    out, progress = running.stop(signum)
    assert running.process.returncode == 0, progress

    ok, failed, dropped = meant(payloads)
    assert count(out, "local: [\\d.]+ s,") == 600 and count(out, "ingest  ") == 600
    assert (count(out, "Ok"), count(out, "failed"), count(out, "dropped")) == (ok, failed, dropped)
    assert "shutting down" in progress

    raw = read_raw(list_files(str(lake / "raw")), lake_columns(spec, table_dtypes(spec)))
    assert not raw.problems and not raw.refused
    assert raw.frame.height == ok and error_lines(lake) == failed  # records in = raw rows + error lines + dropped
    assert raw.frame.height + error_lines(lake) + dropped == 600
    # enrichment misses: as the reference counts them, and as many rows of the raw zone without the table's fields
    batch = RecordBatch([str(i) for i in range(600)], [base64.b64encode(p.data).decode() for p in payloads], [None] * 600)
    missed = ReferencePipeline(spec).enrich_missed(batch)["devices"]
    assert missed > 0 and f"unenriched {missed:,} of the Ok records, their fields null: devices {missed:,}" in out
    assert raw.frame["site"].null_count() == missed

    from transform_core.lake.curated import scan_curated

    curated = scan_curated(spec, str(lake))
    assert curated is not None
    assert sorted(curated.collect()["event_id"]) == sorted(raw.frame["event_id"])
    assert f"{ok:,} rows" in out

    command = shlex.split(out.split("query\n", 1)[1].splitlines()[0])
    answered = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    days = [int(row.split("┆")[-1].strip(" │")) for row in answered.splitlines() if row.startswith("│ 2026")]
    assert len(days) == 4 and sum(days) == ok

    assert leftovers(lake) == []
    assert (lake / "_catalog" / "iceberg.db").is_file() and (lake / "_local" / "lambda.log").stat().st_size > 0


def test_the_demo_runs_in_process_and_says_where_everything_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = tmp_path / "lake"
    assert main(["local", "--demo", "--duration", "2", "--lake", str(lake), "--compact-every", "1"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "demo     3,200 of 3,200 generated records sent: 1,600 over HTTP, 1,600 put directly" in out
    assert re.search(r"expected Ok [\d,]+, failed [\d,]+, dropped [\d,]+: as generated", out)
    assert "  raw " in out and str(lake / "raw" / "iot_telemetry") in out
    assert re.search(r"curated  transform_core\.iot_telemetry snapshot \d+: [\d,]+ rows", out)
    dashboard = out.split("dashboard ", 1)[1].splitlines()[0]
    assert dashboard.startswith("(skipped: ") or Path(dashboard).is_file()
    assert re.match(r"\[ +0\.\d s\] POST http://127\.0\.0\.1:\d+/events  lake ", captured.err)  # where it listens
    assert leftovers(lake) == []


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["local"], "--spec is required"),
        (["local", "--spec", str(EXAMPLE), "--gzip"], "--gzip goes with --format json"),
        (["local", "--spec", str(EXAMPLE), "--lake", "s3://bucket/lake"], "writes a local folder"),
        (["local", "--spec", str(EXAMPLE), "--processor-buffer-mb", "5"], "processor_buffer must be 0.2-3 MB"),
        (["local", "--spec", str(EXAMPLE), "--compact-every", "0"], "compact_every_s must be positive"),
    ],
)
def test_a_bad_option_is_one_line(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("transform-core local: error: ") and says in err and err.count("\n") == 1


def test_a_port_in_use_is_one_line_and_starts_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    threads = threading.active_count()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["local", "--spec", str(EXAMPLE), "--lake", str(tmp_path), "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"transform-core: error: cannot listen on 127.0.0.1:{port}: ") and err.count("\n") == 1
    assert threading.active_count() == threads  # the Lambda's Runtime API stopped again
