"""The demo: synthetic records through a pipeline in Firehose-sized events, then a report.

The example spec gets IoT telemetry (:mod:`~transform_core.demo.generate`); any other spec gets records drawn from its
own JSON Schema (:mod:`~transform_core.demo.schema_records`). Generation happens before the clock starts; throughput
counts only the pipeline's work on the events.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple, TextIO

import orjson
import polars as pl

from transform_core import load_pipeline
from transform_core.demo.generate import Payload, firehose_batches, iot_payloads
from transform_core.demo.schema_records import spec_payloads
from transform_core.errors import ConfigurationEnvironmentError
from transform_core.firehose.outcomes import DROPPED, FAILED, OK
from transform_core.spec import PipelineSpec

__all__ = ["DemoSummary", "demo_payloads", "example_spec", "run_demo"]

#: Where the example spec lives in a source checkout (the wheel does not ship ``examples/``).
EXAMPLE_SPEC = Path(__file__).resolve().parents[2] / "examples" / "iot" / "pipeline.yaml"
_PARTITION_KEYS = ("year", "month", "day", "hour")
_TOP = 10


class DemoSummary(NamedTuple):
    """What a demo run produced: outcome counts and the pipeline's wall time."""

    records: int
    ok: int
    failed: int
    dropped: int
    shed: int
    elapsed_s: float
    enrich_missed: dict[str, int]  # per table that keeps misses: the Ok records it held no row for


def example_spec() -> Path:
    """The example pipeline spec of the source checkout this package runs from.

    Raises:
        ConfigurationEnvironmentError: when there is no checkout around the package (e.g. installed from a wheel).
    """
    if not EXAMPLE_SPEC.is_file():
        raise ConfigurationEnvironmentError(
            f"cannot find the example spec at {EXAMPLE_SPEC}: the default needs a source checkout of transform-core "
            "(the wheel does not ship examples/); pass --spec PATH"
        )
    return EXAMPLE_SPEC


def demo_payloads(
    spec_path: Path, spec: PipelineSpec, count: int, *, invalid_fraction: float = 0.1, seed: int = 0
) -> list[Payload]:
    """``count`` records for the spec: IoT telemetry for the example spec, else drawn from its schema."""
    if spec_path.resolve() == EXAMPLE_SPEC:
        return iot_payloads(count, invalid_fraction, seed)
    return spec_payloads(spec, count, invalid_fraction, seed)


def run_demo(spec: Path, *, records: int, invalid_fraction: float, seed: int, batch_records: int, out: TextIO) -> DemoSummary:
    """Generate ``records`` records, run them through ``spec`` event by event, and print a report to ``out``.

    The example spec gets IoT telemetry, any other spec records drawn from its schema. Events hold at most
    ``batch_records`` records and 3 MB of record data (Firehose's largest Lambda buffer).
    """
    started = time.perf_counter()
    pipeline = load_pipeline(spec)  # first, so a bad spec fails before any work
    print(f"transform-core demo: {spec} (loaded in {time.perf_counter() - started:.2f} s)", file=out)

    started = time.perf_counter()
    iot = spec.resolve() == EXAMPLE_SPEC
    payloads = demo_payloads(spec, pipeline.spec, records, invalid_fraction=invalid_fraction, seed=seed)
    events = firehose_batches(payloads, max_records=batch_records)
    event_bytes = sum(len(orjson.dumps(event)) for event in events)
    generated_s = time.perf_counter() - started
    kinds = Counter(p.kind for p in payloads)
    dropped = kinds["heartbeat"] + kinds["dropped"]
    invalid = records - kinds["valid"] - dropped
    print(
        f"generated {records:,} records ({invalid:,} invalid, {dropped:,} {'heartbeats' if iot else 'to drop'}) in "
        f"{len(events):,} Firehose event{'s' * (len(events) != 1)}, {event_bytes / 1e6:.2f} MB of event JSON [{generated_s:.2f} s, not timed below]",
        file=out,
    )

    started = time.perf_counter()
    results = [pipeline.process_firehose(event) for event in events]
    elapsed = time.perf_counter() - started

    summary = DemoSummary(
        records=records,
        ok=sum(r.ok for r in results),
        failed=sum(r.failed for r in results),
        dropped=sum(r.dropped for r in results),
        shed=sum(r.shed for r in results),
        elapsed_s=elapsed,
        enrich_missed={
            t.name: sum(r.enrich_missed[t.name] for r in results) for t in pipeline.spec.enrich if t.on_missing == "keep"
        },
    )
    outcomes = pl.concat([r.outcomes for r in results], how="vertical_relaxed") if results else None
    # each generator knows what the spec should make of each record
    _print_counts(summary, expected=(kinds["valid"], invalid, dropped), out=out)
    if outcomes is not None:
        _print_reasons(outcomes, out)
        _print_partitions(outcomes, out)
    seconds = max(elapsed, 1e-9)
    print(
        f"\nthroughput: {records:,} records in {elapsed:.3f} s over {len(events):,} invocation{'s' * (len(events) != 1)} = "
        f"{records / seconds:,.0f} records/s, {event_bytes / 1e6 / seconds:.1f} MB/s of event JSON",
        file=out,
    )
    return summary


def _print_counts(summary: DemoSummary, *, expected: tuple[int, int, int], out: TextIO) -> None:
    print("\nresults", file=out)
    for label, count in ((OK, summary.ok), (FAILED, summary.failed), (DROPPED, summary.dropped)):
        print(f"  {label:<17}{count:>9,}", file=out)
    if summary.shed:
        print(f"  (of the failed, {summary.shed:,} were shed to keep a response under Lambda's 6 MB)", file=out)
    for table, count in summary.enrich_missed.items():
        print(f"  (of the Ok, {count:,} had no row in reference table {table!r}: its fields are null)", file=out)
    ok, failed, dropped = expected
    verdict = (
        "as generated" if (summary.ok + summary.shed, summary.failed - summary.shed, summary.dropped) == expected else "DIFFERS"
    )
    print(f"  generator expected ok {ok:,} / failed {failed:,} / dropped {dropped:,}: {verdict}", file=out)


def _print_reasons(outcomes: pl.DataFrame, out: TextIO) -> None:
    failed = outcomes.filter(pl.col("result") == FAILED)
    if failed.is_empty():
        return
    reasons = failed.group_by("reason").len().sort(["len", "reason"], descending=[True, False], nulls_last=True)
    print(f"\ntop rejection reasons ({min(_TOP, len(reasons))} of {len(reasons):,} distinct)", file=out)
    for reason, count in reasons.head(_TOP).iter_rows():
        text = "(no reason given)" if reason is None else reason if len(reason) <= 110 else reason[:107] + "..."
        print(f"  {count:>7,}  {text}", file=out)


def _print_partitions(outcomes: pl.DataFrame, out: TextIO) -> None:
    keys = [k for k in _PARTITION_KEYS if k in outcomes.columns]
    ok = outcomes.filter(pl.col("result") == OK)
    if not keys or ok.is_empty():
        return
    partitions = ok.group_by(keys).len().sort(["len", *keys], descending=[True, *([False] * len(keys))])
    print(f"\npartitions hit ({min(_TOP, len(partitions))} of {len(partitions):,}, by records)", file=out)
    for row in partitions.head(_TOP).iter_rows(named=True):
        print(f"  {'/'.join(f'{k}={row[k]}' for k in keys):<36}{row['len']:>7,}", file=out)
