"""Does handing the raw event bytes to the engine beat the managed runtime's own parse of the event?

Usage: ``.venv/bin/python -m benchmarks.runtime_parse [--rounds 15] [--records 8650] [--no-round-trip]``

In process, for one ~5 MB Firehose event (``iot_payloads(8650, 0.02, seed)``), medians of interleaved rounds:

- *managed*: the runtime parses the body (awslambdaric uses simplejson; json and orjson for comparison), then the
  handler runs ``pipeline.process_firehose(event)``;
- *raw*: ``pipeline.process_firehose_bytes(body)`` (the custom runtime's path).

Then whole invocations over a Runtime API on 127.0.0.1, timed by the server from handing out the event to
receiving the response, the runtimes taking turns: awslambdaric (the managed runtime's own loop, when installed)
calling ``adapters.firehose.handler``; this project's loop given a managed-style handler; and the loop as shipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

from benchmarks.cpus import usable_cpus
from transform_core import RecordBatch, load_pipeline
from transform_core.demo.generate import firehose_event, iot_payloads

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "iot" / "pipeline.yaml"
WARMUP = 2

try:
    import simplejson
except ImportError:  # awslambdaric's parser; installed with it
    simplejson = None

# This project's loop, given a handler that parses the way the managed runtime does, then calls process_firehose.
MANAGED_STYLE_LOOP = """
import sys
from transform_core.adapters import firehose, runtime_api
try:
    from simplejson import loads
except ImportError:
    from json import loads
from transform_core.firehose.batch import RecordBatch
def managed_style(body):
    return RecordBatch.from_firehose_event(loads(body))
client = runtime_api.RuntimeApiClient(runtime_api.os.environ[runtime_api.RUNTIME_API_ENV])
runtime_api.serve(firehose.pipeline_from_env(), client, max_invocations=int(sys.argv[1]), read_batch=managed_style)
"""


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU ms per contender; each round runs every contender once, in a rotating order.

    CPU time (all of the process's threads) is the steadier figure on a busy machine; Lambda bills wall time.
    """
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds + WARMUP):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            started, started_cpu = time.perf_counter(), time.process_time()
            contenders[name]()
            if r >= WARMUP:
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - started_cpu)
    return {name: (median_ms(wall[name]), median_ms(cpu[name])) for name in contenders}


class _Api(ThreadingHTTPServer):
    """One runtime's Runtime API: GET next waits for :meth:`invoke`'s event and notes when the runtime asked."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.events: queue.Queue[bytes] = queue.Queue()
        self.answers: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.asks: queue.Queue[float] = queue.Queue()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a runtime terminated at the end resets its connection: not news

    def invoke(self, body: bytes, pid: int) -> tuple[float, float, float | None, str, bytes]:
        """One invocation: seconds to the response, seconds until the runtime asks for the next event, CPU seconds."""
        cpu = _cpu_s(pid)
        started = time.perf_counter()
        self.events.put(body)
        kind, answer = self.answers.get(timeout=120)
        responded = time.perf_counter()
        asked = self.asks.get(timeout=120)  # Lambda bills until the runtime is back in GET next
        after = _cpu_s(pid)
        used = after - cpu if after is not None and cpu is not None else None
        return responded - started, asked - started, used, kind, answer


def _cpu_s(pid: int) -> float | None:
    """CPU seconds used so far by every thread of a process (Linux schedstat, ns resolution), None elsewhere."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just ended
    return total / 1e9


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as the real Runtime API (Go sets TCP_NODELAY): no delayed-ACK stalls
    server: _Api

    def do_GET(self) -> None:  # noqa: N802
        self.server.asks.put(time.perf_counter())
        body = self.server.events.get()  # a runtime waits here between rounds, as it would in Lambda
        self._answer(body, {"Lambda-Runtime-Aws-Request-Id": str(uuid.uuid4()), "Lambda-Runtime-Deadline-Ms": "4102444800000"})

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer(b'{"status":"OK"}', {}, 202)
        self.server.answers.put((self.path.rsplit("/", 1)[-1], body))

    def _answer(self, body: bytes, headers: dict[str, str], status: int = 200) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def round_trips(body: bytes, expected: bytes, rounds: int) -> dict[str, tuple[float, float, float | None]]:
    """Median ms per invocation (to the response, to the next GET, CPU) for each runtime process, taking turns."""
    invocations = str(rounds + WARMUP + 1)  # one more, so that the last measured one ends in a GET next
    raw_loop = [sys.executable, "-m", "transform_core.adapters.runtime_api", "--max-invocations", invocations]
    commands = {
        "transform-core loop, managed-style parse": [sys.executable, "-c", MANAGED_STYLE_LOOP, invocations],
        "transform-core loop, raw bytes": raw_loop,
    }
    if simplejson is not None and importlib.util.find_spec("awslambdaric") is not None:
        awslambdaric = [sys.executable, "-m", "awslambdaric", "transform_core.adapters.firehose.handler"]
        commands = {"awslambdaric + handler (managed)": awslambdaric, **commands}
    apis = {name: _Api() for name in commands}
    for api in apis.values():
        threading.Thread(target=api.serve_forever, daemon=True).start()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    with tempfile.TemporaryFile() as stderr:
        try:
            for name, command in commands.items():
                env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": apis[name].address, "TRANSFORM_CORE_SPEC": str(SPEC)}
                processes[name] = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
            for api in apis.values():
                api.asks.get(timeout=120)  # each runtime is up and waiting for its first event
            samples: dict[str, list[tuple[float, float, float | None]]] = {name: [] for name in commands}
            names = list(commands)
            for r in range(rounds + WARMUP):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    to_response, to_next, cpu, kind, answer = apis[name].invoke(body, processes[name].pid)
                    if kind != "response" or answer != expected:
                        stderr.seek(0)
                        raise SystemExit(f"{name} answered {kind}: {answer[:300]!r}\n{stderr.read().decode()[-2000:]}")
                    if r >= WARMUP:
                        samples[name].append((to_response, to_next, cpu))
        finally:
            for process in processes.values():
                process.terminate()  # each is waiting in GET next
                process.wait(timeout=30)
            for api in apis.values():
                api.shutdown()
                api.server_close()
    return {name: _medians(s) for name, s in samples.items()}


def _medians(samples: list[tuple[float, float, float | None]]) -> tuple[float, float, float | None]:
    cpu = [c for _, _, c in samples if c is not None]
    return (
        median_ms([s[0] for s in samples]),
        median_ms([s[1] for s in samples]),
        median_ms(cpu) if len(cpu) == len(samples) else None,
    )


def table(title: str, columns: Sequence[str], rows: Mapping[str, Sequence[float | None]]) -> str:
    """One row per path; the last column is the first column's difference to the first row."""
    lines = [title, f"  {'path':<58}" + "".join(f" {c:>13}" for c in (*columns, "vs first"))]
    base = next(iter(rows.values()))[0] or 0.0
    for name, values in rows.items():
        cells = "".join(f" {v:>13.2f}" if v is not None else f" {'-':>13}" for v in values)
        lines.append(f"  {name:<58}{cells} {(values[0] or 0.0) - base:>+13.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--records", type=int, default=8650)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-round-trip", action="store_true", help="skip the Runtime API round trips")
    args = parser.parse_args(argv)

    pipeline = load_pipeline(SPEC)
    body = json.dumps(firehose_event(iot_payloads(args.records, 0.02, args.seed))).encode()
    expected = pipeline.process_firehose(json.loads(body)).body
    assert pipeline.process_firehose_bytes(body).body == expected  # same response before timing anything
    print(
        f"event: {args.records} records, {len(body) / 1e6:.2f} MB; response {len(expected) / 1e6:.2f} MB; {usable_cpus()} cores"
    )

    parsers: dict[str, Callable[[bytes], Any]] = {"json.loads": json.loads, "orjson.loads": orjson.loads}
    if simplejson is not None:
        parsers = {"simplejson.loads (awslambdaric)": simplejson.loads, **parsers}

    def view(parse: Callable[[bytes], Any]) -> Callable[[], object]:
        return lambda: RecordBatch.from_firehose_event(parse(body))

    def managed(parse: Callable[[bytes], Any]) -> Callable[[], object]:
        return lambda: pipeline.process_firehose(parse(body))

    views: dict[str, Callable[[], object]] = {f"{n} + from_firehose_event": view(p) for n, p in parsers.items()}
    views["RecordBatch.from_event_bytes"] = lambda: RecordBatch.from_event_bytes(body)
    print(table("\nevent bytes -> RecordBatch", ("wall ms", "cpu ms"), interleaved(views, args.rounds)))

    handlers: dict[str, Callable[[], object]] = {f"managed: {n} + process_firehose": managed(p) for n, p in parsers.items()}
    handlers["raw: process_firehose_bytes"] = lambda: pipeline.process_firehose_bytes(body)
    print(table("\nparse + handler, in process", ("wall ms", "cpu ms"), interleaved(handlers, args.rounds)))

    if not args.no_round_trip:
        trips = round_trips(body, expected, args.rounds)
        title = "\nwhole invocation over a loopback Runtime API (server clock; cpu: the runtime process)"
        print(table(title, ("to next ms", "to response", "cpu ms"), {n: (t[1], t[0], t[2]) for n, t in trips.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
