"""``transform-core generate``: sample NDJSON records for any spec, valid ones and invalid ones of known kinds."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from transform_core.cli.arguments import fraction, non_negative_int, plural

if TYPE_CHECKING:
    from transform_core.cli.arguments import Commands

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Register ``generate``."""
    cmd = commands.add_parser(
        "generate",
        help="write sample NDJSON records for a spec: valid ones drawn from its JSON Schema, and invalid ones",
        description=(
            "Write NDJSON records for any pipeline spec, one per line: valid records drawn from its JSON Schema, with "
            "event times in the three days before --end and enrichment keys taken from its reference tables (about 5% "
            "carry a value of its drop rule, if it has one), and invalid ones broken in one way each: wrong_type, "
            "missing_required, out_of_range, enum_violation, bad_format, not_json (drawn evenly among the kinds the schema "
            "has a place for). Each record is checked against the spec before it is written. The same --seed and --end "
            "give the same records. Feed them to reprocess, or to a Firehose stream."
        ),
        epilog=(
            "examples:\n"
            "  transform-core generate --spec examples/iot/pipeline.yaml --count 10 | head -3\n"
            "  transform-core generate --spec my-pipeline/pipeline.yaml --count 10000 --invalid 0.05 --output records.ndjson\n"
            "  transform-core generate --spec pipeline.yaml --count 500 --seed 1 --end 2026-11-27T00:00:00Z --output day.ndjson"
        ),
    )
    cmd.add_argument("--spec", required=True, metavar="PATH", help="pipeline spec (YAML or JSON)")
    cmd.add_argument("--count", type=non_negative_int, default=1000, metavar="N", help="records to write (default: 1000)")
    cmd.add_argument(
        "--invalid",
        "--invalid-fraction",
        dest="invalid",
        type=fraction,
        default=0.1,
        metavar="FRACTION",
        help="share of invalid records, 0..1 (default: 0.1)",
    )
    cmd.add_argument(
        "--seed", type=int, default=0, metavar="N", help="random seed; the same seed and --end give the same records (default: 0)"
    )
    cmd.add_argument(
        "--end",
        type=_instant,
        default=None,
        metavar="TIME",
        help="end of the event-time window, ISO 8601, UTC unless it has an offset (default: now); records fall in the "
        "three days before it",
    )
    cmd.add_argument("--output", default="-", metavar="FILE", help="where to write, - for stdout (default: -)")
    cmd.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from transform_core.demo.schema_records import WINDOW, spec_payloads
    from transform_core.spec import load_spec

    spec = load_spec(args.spec)
    end: datetime = args.end or datetime.now(UTC).replace(microsecond=0)
    payloads = spec_payloads(spec, args.count, args.invalid, args.seed, end=end)
    data = b"".join(payload.data + b"\n" for payload in payloads)
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        where, report = "stdout", sys.stderr
    else:
        Path(args.output).write_bytes(data)
        where, report = args.output, sys.stdout
    kinds = Counter(payload.kind for payload in payloads)
    valid, dropped = kinds.pop("valid", 0), kinds.pop("dropped", 0)
    invalid = ", ".join(f"{kind} {count:,}" for kind, count in sorted(kinds.items()))
    window = f"{_utc(end - WINDOW)} to {_utc(end)}"
    print(
        f"{plural(len(payloads), 'record')} for {spec.name} to {where}, event times from {window}: {valid:,} valid, "
        f"{dropped:,} to drop, {sum(kinds.values()):,} invalid" + (f" ({invalid})" if invalid else ""),
        file=report,
    )
    return 0


def _instant(text: str) -> datetime:
    """An ISO 8601 time; UTC unless it has an offset."""
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _utc(stamp: datetime) -> str:
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
