"""``python -m benchmarks.local_bench``: records per second through the local pipeline, HTTP ingest included.

The workload is the demo's: IoT telemetry with 10% invalid records (``transform_core.demo.generate.iot_payloads``,
about 5% heartbeats the spec drops), generated before the clock starts. Each run starts ``transform-core local``'s
pipeline (:class:`transform_core.local.pipeline.LocalPipeline`: the Lambda's runtime process, Firehose with the
template's buffers, the HTTP endpoint) on a fresh temporary lake, then:

- ``http``: every record is one ``POST /events``, sent by ``transform-core send`` in its own process (4 kept-alive
  connections, no rate limit), as a producer on the same machine would;
- ``demo split``: as ``transform-core local --demo`` feeds it, in the pipeline's own process: half over HTTP (2
  connections), half put directly as the IoT rule does, both unpaced.

The clock runs from the first record sent until every record is written (``close()``: ingest stopped, every buffer
flushed into the raw zone and the error prefix), the Lambda's cold start included; the curated run that follows is
timed on its own. Three runs of each; the median is reported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

from transform_core import load_spec
from transform_core.demo.generate import Payload, iot_payloads
from transform_core.local.delivery_config import DeliverySettings
from transform_core.local.pipeline import LocalPipeline, LocalSettings
from transform_core.local.traffic import DemoFeed

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "iot" / "pipeline.yaml"


class Run(NamedTuple):
    records: int
    sent_s: float  # the last record accepted
    delivered_s: float  # every record written to the raw zone or the error prefix
    curated_s: float  # the curated run after it

    @property
    def rate(self) -> float:
        return self.records / self.delivered_s


def one_run(payloads: list[Payload], mode: str) -> Run:
    spec = load_spec(SPEC)
    with tempfile.TemporaryDirectory(prefix="local-bench-") as folder:
        delivery = DeliverySettings(spec=spec, lake=str(Path(folder) / "lake"))  # the template's buffers
        pipeline = LocalPipeline(LocalSettings(spec_path=SPEC, delivery=delivery, port=0, compact_every_s=3600))
        pipeline.start()
        records = Path(folder) / "records.ndjson"
        records.write_bytes(b"".join(p.data + b"\n" for p in payloads))
        started = time.perf_counter()
        if mode == "http":
            send = [sys.executable, "-m", "transform_core.cli", "send", str(records), "--url", pipeline.url]
            sent_by = subprocess.run(send, capture_output=True, text=True, check=False)
            assert sent_by.returncode == 0 and f"{len(payloads):,} answered 200" in sent_by.stdout, sent_by
        else:
            DemoFeed(payloads, rate=1e12)(pipeline, threading.Event())
        sent = time.perf_counter() - started
        result = pipeline.close()
        done = time.perf_counter() - started
    d = result.delivery
    assert d.records_in == len(payloads) == d.ok + d.failed + d.dropped and d.ok == d.delivered, d
    return Run(len(payloads), sent, done - result.curated_s, result.curated_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.local_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50_000, help="records a run (default: 50000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each mode (default: 3)")
    args = parser.parse_args(argv)
    payloads = iot_payloads(args.records, 0.1, seed=0)
    print(f"{args.records:,} records a run, {args.runs} runs a mode; python {sys.version.split()[0]}")
    for mode in ("http", "demo split"):
        runs = [one_run(payloads, mode) for _ in range(args.runs)]
        for n, run in enumerate(runs, 1):
            print(
                f"  {mode:<10} run {n}: sent in {run.sent_s:.2f} s, delivered in {run.delivered_s:.2f} s "
                f"= {run.rate:,.0f} records/s; curated run {run.curated_s:.2f} s"
            )
        print(f"{mode}: median {statistics.median(r.rate for r in runs):,.0f} records/s end to end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
