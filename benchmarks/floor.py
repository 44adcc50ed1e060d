"""What the project's speed targets leave for the engine, against the library calls an exact engine cannot skip.

Usage: ``.venv/bin/python -m benchmarks.floor [--rounds 15] [--smoke]``

For each clean workload with a target against the ``msgspec`` contender (5 MB, 500 records, wide), in one process
and interleaved rounds: ``msgspec``'s invocation end to end and the engine's, then the budget the target sets
(``msgspec``'s time over the ratio; for the 5 MB event also 3 µs a record of handler time), next to the *floor*: one
call each, on the workload's own records, of what any engine of this design must do whatever else it does:

- ``runtime parse``: the managed runtime's ``json.loads`` of the event (it is inside every end-to-end time);
- ``event view``: the records' ``data`` read from the event into a Polars column;
- ``base64 decode``: Polars' decode of the batch (the engine splits it across two threads);
- ``typed decode``: msgspec decoding every payload into the schema's record type: JSON syntax, types, required
  properties, enums, bounds; one C-level ``map``, holding the GIL;
- ``minify``: msgspec's formatter on the records with whitespace between tokens (the response carries each
  record minified: a pretty-printed record would break the NDJSON the delivery stream writes);
- ``enriched base64``: Polars' encode of the enriched records, which the response carries;
- ``response``: the response body written from the outcome frame (:func:`transform_core.firehose.response.build_response`).

The parse, the view, the typed decode and the minify hold the GIL: in one process nothing runs alongside them but
Polars work, which the engine splits across cores or runs while Python works where it can. Not counted, though no
engine of this design avoids them: finding the duplicate keys and undeclared properties, the field columns, the
pattern, format and enrichment checks, the date-time parse, the partition keys.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable

from transform_core.adapters.allocator import keep_freed_pages

keep_freed_pages()  # as the Lambda adapters do, before Polars loads (nothing changes if it is loaded already)

import msgspec  # noqa: E402
import polars as pl  # noqa: E402

from benchmarks.measure import invoke  # noqa: E402
from benchmarks.peers import Handler, make_handler  # noqa: E402
from benchmarks.workloads import Workload, build  # noqa: E402
from transform_core import RecordBatch, load_pipeline  # noqa: E402
from transform_core.firehose.response import build_response  # noqa: E402

__all__ = ["TARGETS", "floor_parts", "main"]

#: The project's targets: the engine's speed-up over ``msgspec`` on each clean workload (end to end), and its handler
#: time a record on the 5 MB event (µs).
TARGETS = {"5MB clean": 3.0, "500 clean": 1.5, "wide clean": 3.0}
HANDLER_US_PER_RECORD = 3.0
SERIAL = ("runtime parse", "event view", "typed decode", "minify")  # hold the GIL: nothing overlaps them
POLARS = ("base64 decode", "enriched base64", "response")  # Polars: split across cores, or overlapped with Python


def floor_parts(workload: Workload) -> dict[str, Callable[[], object]]:
    """The floor's calls on ``workload``'s records, each ready to time (see the module's docstring)."""
    pipeline = load_pipeline(workload.spec_path)
    batch = RecordBatch.from_firehose_event(workload.event)
    source = pl.Series("_source", batch.data, dtype=pl.String)
    payloads: list[bytes] = source.str.decode("base64").to_list()
    decode = pipeline.schema.decoder.decode
    spaced = [p for p in payloads if msgspec.json.format(p, indent=-1) != p]
    outcomes = pipeline.process(batch, respond=False).outcomes
    enriched = outcomes["data"].str.decode("base64").cast(pl.String)
    keys = pipeline.spec.partitioning.keys

    def minify() -> list[bytes]:
        return [msgspec.json.format(p, indent=-1) for p in spaced]

    parts: dict[str, Callable[[], object]] = {
        "runtime parse": lambda: json.loads(workload.event_bytes),
        "event view": lambda: pl.Series("_source", RecordBatch.from_firehose_event(workload.event).data, dtype=pl.String),
        "base64 decode": lambda: source.str.decode("base64", strict=False),
        "typed decode": lambda: list(map(decode, payloads)),
        "minify": minify,
        "enriched base64": lambda: enriched.str.encode("base64"),
        "response": lambda: build_response(outcomes, source, keys, not_base64=[], record_ids=batch.record_ids),
    }
    return parts


def measure(workload: Workload, rounds: int) -> dict[str, float]:
    """Median ms of ``msgspec`` and the engine end to end, the engine's handler, and each floor part, interleaved."""
    contenders: dict[str, Handler] = {name: make_handler(name, workload.spec_path) for name in ("msgspec", "engine")}
    parts = floor_parts(workload)
    samples: dict[str, list[float]] = {name: [] for name in [*contenders, "engine handler", *parts]}
    for handler in contenders.values():  # warm-up
        invoke(handler, workload.event_bytes)
    order = random.Random(workload.name)
    jobs = [*contenders, *parts]
    for _ in range(rounds):
        for name in order.sample(jobs, len(jobs)):
            gc.collect()
            if name in contenders:
                sample, _ = invoke(contenders[name], workload.event_bytes)
                samples[name].append(sample.e2e)
                if name == "engine":
                    samples["engine handler"].append(sample.handler)
            else:
                started = time.perf_counter()
                parts[name]()
                samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def report(workload: Workload, ms: dict[str, float]) -> str:
    """One workload's lines: the budget, the floor, what is left, and where the engine stands."""
    ratio = TARGETS[workload.name]
    budget = ms["msgspec"] / ratio
    serial = sum(ms[name] for name in SERIAL)
    everything = serial + sum(ms[name] for name in POLARS)
    lines = [
        f"{workload.name}: {workload.records:,} records; msgspec {ms['msgspec']:.1f} ms end to end, engine {ms['engine']:.1f} ms "
        f"({ms['msgspec'] / ms['engine']:.2f}x msgspec; target {ratio:g}x: a budget of {budget:.1f} ms)",
        *(f"  {name:16} {ms[name]:7.2f} ms" for name in (*SERIAL, *POLARS)),
        f"  floor, GIL-bound parts: {serial:.1f} ms ({serial / budget:.0%} of the budget); all parts, one after another: "
        f"{everything:.1f} ms ({everything / budget:.0%})",
    ]
    if workload.name == "5MB clean":
        handler_budget = HANDLER_US_PER_RECORD * workload.records / 1000
        handler_serial = serial - ms["runtime parse"]
        handler = ms["engine handler"]
        lines.append(
            f"  handler: {handler:.1f} ms ({handler * 1000 / workload.records:.1f} µs a record); "
            f"target {HANDLER_US_PER_RECORD:g} µs a record: {handler_budget:.1f} ms, of which the GIL-bound floor "
            f"(without the runtime's parse) takes {handler_serial:.1f} ms ({handler_serial / handler_budget:.0%})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per workload (default 15)")
    parser.add_argument("--smoke", action="store_true", help="the small workloads of the CI smoke run, 2 rounds")
    args = parser.parse_args(argv)
    rounds = 2 if args.smoke else args.rounds
    print(f"medians of {rounds} interleaved rounds; ms")
    for name in TARGETS:
        workload = build(name, smoke=args.smoke)
        print(report(workload, measure(workload, rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
