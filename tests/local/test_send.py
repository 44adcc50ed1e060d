"""send: each NDJSON line one request over kept-alive connections, the answers counted, the exit status."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local.delivery_fakes import Stream
from transform_core.cli import main
from transform_core.local.ingest import KINESIS_RECORD_LIMIT_BYTES, IngestServer
from transform_core.local.send import ndjson_lines, send_lines

OVERSIZED = b"x" * KINESIS_RECORD_LIMIT_BYTES  # 400: over 1 MiB with its partition key
FAILING = b'"fail"'  # 500: the stream raises


@pytest.fixture
def stream() -> Stream:
    return Stream(fail=FAILING)


@pytest.fixture
def server(stream: Stream) -> Iterator[IngestServer]:
    with IngestServer(stream, port=0) as server:
        yield server


def records(n: int) -> list[bytes]:
    return [b'{"n": %d}' % i for i in range(n)]


def test_every_line_is_one_request_and_each_answer_is_counted(server: IngestServer, stream: Stream) -> None:
    lines = [*records(40), OVERSIZED, FAILING, OVERSIZED]
    summary = send_lines(lines, server.url, connections=3)
    assert (summary.sent, summary.ok, summary.client_errors, summary.server_errors, summary.failed) == (43, 40, 2, 1, 3)
    assert summary.statuses == {200: 40, 400: 2, 500: 1} and summary.errors == {}
    assert sorted(data for data, _ in stream.records) == sorted(records(40))
    assert server.counts().requests == 43


def test_connections_are_kept_alive(server: IngestServer, stream: Stream) -> None:
    accepted: list[object] = []
    original = server._server.process_request  # count the connections the server accepts

    def counting(request: socket.socket, client_address: object) -> None:
        accepted.append(client_address)
        original(request, client_address)  # type: ignore[arg-type]

    server._server.process_request = counting  # type: ignore[method-assign]
    summary = send_lines(records(200), server.url, connections=2)
    assert summary.ok == 200 and len(accepted) == 2


def test_a_rate_spaces_the_requests(server: IngestServer) -> None:
    summary = send_lines(records(11), server.url, rate=100, connections=4)
    assert summary.ok == 11 and summary.elapsed_s >= 0.1  # the 11th request is due 10/100 s after the first


def test_a_stop_ends_the_sending(server: IngestServer, stream: Stream) -> None:
    stop = threading.Event()
    put = stream.put

    def put_then_stop(data: bytes, **kwargs: str | None) -> str:
        if len(stream.records) == 4:
            stop.set()
        return put(data, **kwargs)  # type: ignore[arg-type]

    stream.put = put_then_stop  # type: ignore[method-assign]
    summary = send_lines(records(1000), server.url, connections=2, stop=stop)
    assert 5 <= summary.sent <= 5 + 2 and summary.ok == summary.sent  # the requests under way when it stopped


def test_a_server_that_is_not_there_is_counted_unanswered() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed
    summary = send_lines(records(3), f"http://127.0.0.1:{port}/events", connections=1)
    assert (summary.sent, summary.ok, summary.failed) == (3, 0, 3)
    assert sum(summary.errors.values()) == 3 and all("ConnectionRefusedError" in error for error in summary.errors)


def test_blank_lines_are_no_records_and_line_endings_are_not_sent() -> None:
    stream = io.BytesIO(b'{"a": 1}\r\n\n  \n{"b": 2}\n{"c": 3}')
    assert list(ndjson_lines(stream)) == [b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']


@pytest.mark.parametrize("url", ["https://example.com/events", "127.0.0.1:8080/events", "http:///events"])
def test_only_plain_http_urls(url: str) -> None:
    with pytest.raises(ValueError, match="http://host"):
        send_lines([b"{}"], url)


def test_the_command_prints_the_counts_and_exits_1_when_any_failed(
    server: IngestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.ndjson"
    good.write_bytes(b"\n".join(records(25)) + b"\n")
    assert main(["send", str(good), "--url", server.url]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"sent 25 records to {server.url} in ") and "25 answered 200, 0 4xx, 0 5xx, 0 unanswered" in out

    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(b"\n".join([*records(5), OVERSIZED, FAILING]))
    assert main(["send", str(bad), "--url", server.url, "--rate", "1000"]) == 1
    out = capsys.readouterr().out
    assert "5 answered 200, 1 4xx, 1 5xx, 0 unanswered" in out and "  400: 1\n  500: 1\n" in out


def test_the_command_reads_stdin(server: IngestServer, stream: Stream, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\n".join(records(4)))))
    assert main(["send", "-", "--url", server.url]) == 0
    assert len(stream.records) == 4


def test_a_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", str(tmp_path / "nope.ndjson")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("transform-core send: error: cannot read ") and err.count("\n") == 1


@pytest.mark.parametrize("rate", ["0", "-1", "fast", "inf"])
def test_a_rate_must_be_a_positive_number(rate: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["send", "-", "--rate", rate])
    assert "--rate" in capsys.readouterr().err
