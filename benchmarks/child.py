"""One fresh process, one contender: ``python -m benchmarks.child CONTENDER SPEC EVENT_FILE [REPEAT]``.

Used for cold start (import + load + first invocation in a new interpreter) and for peak RSS of a
process handling an event. Only the standard library is imported before the clock starts, and
the contender's own imports count against it. ``engine`` runs through its real Lambda adapter
(``transform_core.adapters.firehose``, which loads the spec at import, as at Lambda init),
``engine-raw`` through what the Runtime API loop imports and calls. The last line printed is a
JSON object with the figures.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB.

    On Linux it is VmHWM, the high-water mark of the process's own memory. ``ru_maxrss`` would do
    elsewhere, but on Linux a child that a large parent starts with vfork + exec (as ``subprocess``
    does) inherits the parent's peak in ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load(contender: str, spec: str) -> Callable[[Any], Any]:
    if contender in ("engine", "engine-raw"):
        os.environ["TRANSFORM_CORE_SPEC"] = spec
        from transform_core.adapters import firehose

        if contender == "engine-raw":  # what the Runtime API loop imports and calls
            from transform_core.adapters import runtime_api

            pipeline = runtime_api._init_pipeline()
            return lambda body: pipeline.process_firehose_bytes(body).body
        return lambda event: firehose.handler(event, None)
    from benchmarks.peers import make_handler

    return make_handler(contender, spec)


def main(argv: list[str]) -> dict[str, Any]:
    """Load the contender, invoke it ``REPEAT`` times (default 1) end to end, and report."""
    contender, spec, event_file = argv[:3]
    repeat = int(argv[3]) if len(argv) > 3 else 1
    loaded = time.perf_counter()
    handler = _load(contender, spec)
    ready = time.perf_counter()
    event_bytes = Path(event_file).read_bytes()
    rss_ready = peak_rss_mb()
    invocations = []
    for _ in range(repeat):
        started = time.perf_counter()
        event = event_bytes if contender == "engine-raw" else json.loads(event_bytes)  # the managed runtime's parse
        parsed = time.perf_counter()
        out = handler(event)
        handled = time.perf_counter()
        body = out if isinstance(out, bytes) else json.dumps(out).encode()
        invocations.append({"e2e_s": time.perf_counter() - started, "handler_s": handled - parsed, "bytes": len(body)})
        del event, out, body
    return {
        "contender": contender,
        "stdlib_s": loaded - _STARTED,
        "init_s": ready - loaded,
        "first": invocations[0],
        "invocations": invocations,
        "rss_ready_mb": rss_ready,
        "peak_rss_mb": peak_rss_mb(),
        "pyarrow_imported": "pyarrow" in sys.modules,
        "polars_imported": "polars" in sys.modules,
    }


if __name__ == "__main__":
    result = main(sys.argv[1:])
    sys.stdout.write("\n" + json.dumps(result) + "\n")
