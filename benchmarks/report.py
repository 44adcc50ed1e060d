"""The one table ``make bench`` prints, the Lambda cost estimate, and the JSON written under results/."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.cpus import usable_cpus

__all__ = [
    "LAMBDA_MEMORY_MB",
    "PRICE_PER_GB_S",
    "Row",
    "cost_per_million",
    "format_table",
    "machine",
    "write_json",
    "write_result",
]

LAMBDA_MEMORY_MB = 1769  # about one vCPU
PRICE_PER_GB_S = 0.0000166667  # Lambda x86 price per GB-second (first pricing tier)
BASELINES = ("reference", "best msgspec")  # each gets a "vs" column: its e2e over the row's
#: A baseline that is the faster of several contenders on each workload: the engine is judged against the best peer.
FASTEST_OF = {"best msgspec": ("msgspec", "msgspec-lean")}
_PACKAGES = ("polars", "orjson", "msgspec", "fastjsonschema", "jsonschema", "pyyaml")


@dataclass(slots=True)
class Row:
    """One table row: a contender on a workload (or its cold start)."""

    workload: str
    contender: str
    records: int
    event_bytes: int
    e2e_ms: float | None  # median end to end; for cold start, process start to exit
    handler_ms: float | None  # median handler only; for cold start, the first invocation end to end
    parse_ms: float | None = None
    serialize_ms: float | None = None
    peak_rss_mb: float | None = None
    rounds: int = 0
    note: str = ""
    vs: dict[str, float | None] | None = None  # speed-up against each baseline: its e2e / this e2e

    @property
    def records_per_s(self) -> float | None:
        """Records per second, end to end."""
        return self.records / (self.e2e_ms / 1000) if self.e2e_ms else None

    @property
    def us_per_record(self) -> float | None:
        """Microseconds per record, end to end: on one pinned CPU (``--cpus 1``), the CPU time a record is billed."""
        return self.e2e_ms * 1000 / self.records if self.e2e_ms and self.records else None

    @property
    def mb_per_s(self) -> float | None:
        """Event megabytes (10^6 bytes) per second, end to end."""
        return self.event_bytes / 1e6 / (self.e2e_ms / 1000) if self.e2e_ms else None


def cost_per_million(e2e_ms: float, records: int) -> float:
    """Estimated Lambda compute cost (USD) per million records at :data:`LAMBDA_MEMORY_MB`."""
    return e2e_ms / 1000 * (LAMBDA_MEMORY_MB / 1024) * PRICE_PER_GB_S * 1e6 / records


def add_ratios(rows: list[Row]) -> None:
    """Fill ``row.vs`` from the baselines' rows of the same workload (same run)."""
    e2e = {(r.workload, r.contender): r.e2e_ms for r in rows if r.e2e_ms}
    for row in rows:
        row.vs = {}
        for base in BASELINES:
            times = [e2e[(row.workload, c)] for c in FASTEST_OF.get(base, (base,)) if (row.workload, c) in e2e]
            row.vs[base] = min(times) / row.e2e_ms if times and row.e2e_ms else None


def _num(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def format_table(rows: list[Row]) -> str:
    """A Markdown table with a legend underneath."""
    header = (
        "workload",
        "contender",
        "records",
        "e2e ms",
        "handler ms",
        "rec/s",
        "µs/rec",
        "MB/s",
        *(f"vs {base}" for base in BASELINES),
        "peak RSS MB",
        "$/M rec",
    )
    lines = [header]
    for r in rows:
        cold = r.workload.startswith("cold start")
        cost = None if cold or r.e2e_ms is None else cost_per_million(r.e2e_ms, r.records)
        vs = r.vs or {}
        lines.append(
            (
                r.workload,
                r.contender + (f" ({r.note})" if r.note else ""),
                f"{r.records:,}",
                _num(r.e2e_ms, ".1f"),
                _num(r.handler_ms, ".1f"),
                "" if cold else _num(r.records_per_s, ",.0f"),
                "" if cold else _num(r.us_per_record, ".2f"),
                "" if cold else _num(r.mb_per_s, ".1f"),
                *(_ratio(vs.get(base)) for base in BASELINES),
                _num(r.peak_rss_mb, ".0f"),
                "" if cost is None else f"{cost:.4f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    left = {0, 1}

    def render(cells: tuple[str, ...]) -> str:
        return (
            "| "
            + " | ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
            + " |"
        )

    rule = "|" + "|".join("-" * (w + 1) + (":" if i not in left else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([render(lines[0]), rule, *(render(line) for line in lines[1:])])


def legend(rounds: dict[str, int], pyarrow: bool | None, idle_s: float = 0.0) -> str:
    """What the columns mean, the price used, and the machine."""
    m = machine()
    return "\n".join(
        [
            "e2e = the runtime's json.loads of the event + handler + json.dumps of a returned dict (bytes pass unchanged); "
            f"medians of interleaved rounds ({', '.join(f'{k}: {v}' for k, v in rounds.items())})"
            + (f", each invocation after {idle_s:g} s asleep." if idle_s else "."),
            f"{' / '.join(f'vs {base}' for base in BASELINES)} = that contender's e2e median / this row's, same run "
            "(2.00× = twice as fast); best msgspec = the faster of msgspec and msgspec-lean on that workload. "
            "µs/rec = e2e median / records: with --cpus 1 the invocation runs on one pinned CPU, so this is the CPU "
            "time a record costs on a 1,769 MB function (at most: other jobs on that CPU add to it). "
            "MB/s = event bytes (10^6) per second, e2e. Peak RSS = high-water mark (VmHWM) of a fresh process that loads "
            "the contender and handles the event twice.",
            "cold start = fresh process: imports, spec load (9,900-row device table), first event of the 500-record workload; "
            "e2e ms = process start to exit (interpreter start included), handler ms = first invocation e2e."
            + ("" if pyarrow is None else f" The engine's Lambda import path imports pyarrow: {'yes' if pyarrow else 'no'}."),
            f"$/M rec = e2e median × {LAMBDA_MEMORY_MB:,} MB ({LAMBDA_MEMORY_MB / 1024:.3f} GB) × ${PRICE_PER_GB_S:.10f} per GB-s "
            "(Lambda x86) per million records; request charges not included. A function of that size has one vCPU: "
            "`python -m benchmarks --cpus 1` measures what it gets.",
            f"machine: {m['cpus']} CPUs"
            + (f" (pinned with --cpus, of {m['machine_cpus']})" if m["cpus"] != m["machine_cpus"] else "")
            + f" {m['cpu']}, Python {m['python']}, "
            + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
        ]
    )


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = "-"
    return {
        "cpu": cpu,
        "cpus": usable_cpus(),
        "machine_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
    }


def write_json(folder: Path, rows: list[Row], extra: dict[str, Any]) -> Path:
    """Write ``bench-<UTC time>.json`` with every row, the samples' settings and the machine."""
    rows_out = []
    for r in rows:
        entry = asdict(r)
        entry.update(records_per_s=r.records_per_s, us_per_record=r.us_per_record, mb_per_s=r.mb_per_s)
        if r.e2e_ms is not None and not r.workload.startswith("cold start"):
            entry["usd_per_million_records"] = cost_per_million(r.e2e_ms, r.records)
        rows_out.append(entry)
    document = {
        "machine": machine(),
        "lambda": {"memory_mb": LAMBDA_MEMORY_MB, "usd_per_gb_s": PRICE_PER_GB_S, "architecture": "x86_64"},
        "rows": rows_out,
        **extra,
    }
    return write_result(folder, "bench", document)


def write_result(folder: Path, kind: str, document: dict[str, Any]) -> Path:
    """Write ``document`` as ``<kind>-<UTC time>.json`` under ``folder`` (made if missing); the suites' results."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / time.strftime(f"{kind}-%Y%m%dT%H%M%SZ.json", time.gmtime())
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of cells (the header first) as a Markdown table: the first column left-aligned, the others right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))) + " |"
        for row in rows
    ]
    rule = "|" + "|".join("-" * (w + 1) + ("-" if i == 0 else ":") for i, w in enumerate(widths)) + "|"
    return "\n".join([lines[0], rule, *lines[1:]])


def round_medians(rounds: Sequence[Mapping[str, Mapping[str, Any]]], keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per contender: the figures of its first round, with the median over the rounds of each of ``keys`` it has."""
    summary: dict[str, dict[str, Any]] = {}
    for name in rounds[0]:
        runs = [r[name] for r in rounds]
        summary[name] = dict(runs[0]) | {key: statistics.median(run[key] for run in runs) for key in keys if key in runs[0]}
    return summary
