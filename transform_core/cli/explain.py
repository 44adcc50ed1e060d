"""``transform-core explain``: what a pipeline makes of one record, and why."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transform_core.cli.arguments import positive_int

if TYPE_CHECKING:
    from transform_core.cli.arguments import Commands
    from transform_core.explain import Explanation

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Register ``explain``."""
    cmd = commands.add_parser(
        "explain",
        help="show what a pipeline makes of one record: outcome, failing rules, enrichment, partition, output",
        description=(
            "Run one record through the pipeline and show its outcome (Ok, Dropped or ProcessingFailed), every rule it "
            "fails with the path and message (the first decides the outcome), the reference-table lookups it gets or "
            "misses, its partition keys and, when Ok, the record the pipeline outputs. The record is JSON text in a file "
            "or on stdin, a line of Firehose's processing-failed/ output or of transform-core's errors/ output (its "
            "rawData is the record), or that rawData given with --base64. Exit status: 0 for Ok or Dropped, 1 for a "
            "rejected record, or when the command cannot run (one line on stderr)."
        ),
        epilog=(
            "examples:\n"
            "  transform-core explain --spec my-pipeline/pipeline.yaml --line 1 records.ndjson\n"
            '  echo \'{"device_id": "dev-0001"}\' | transform-core explain --spec examples/iot/pipeline.yaml\n'
            "  transform-core explain --spec examples/iot/pipeline.yaml --base64 eyJhIjogMX0= --format json"
        ),
    )
    cmd.add_argument("record", nargs="?", default=None, metavar="RECORD_FILE", help="the record's file, - for stdin (default)")
    cmd.add_argument("--spec", required=True, metavar="PATH", help="pipeline spec (YAML or JSON)")
    cmd.add_argument(
        "--line", type=positive_int, metavar="N", help="take line N of the file (1-based), as reprocess --report names it"
    )
    cmd.add_argument("--base64", metavar="STRING", help="the record's base64 data (a processing-failed line's rawData)")
    cmd.add_argument("--format", choices=["text", "json"], default="text", help="text (default) or one JSON object")
    cmd.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    import orjson

    from transform_core.engine import load_pipeline
    from transform_core.explain import RecordInput, explain, read_record
    from transform_core.firehose.outcomes import FAILED

    if args.base64 is not None:
        if args.record is not None or args.line is not None:
            raise _usage("--base64 takes the record itself: give no RECORD_FILE and no --line with it")
        record = RecordInput(args.base64.strip(), None, "base64")
    else:
        record = read_record(_record_bytes(args.record or "-", args.line))
    pipeline = load_pipeline(args.spec)
    found = explain(pipeline, record)
    if args.format == "json":
        print(orjson.dumps(found.as_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        _print_text(found, pipeline.spec, record.origin)
    return 1 if found.outcome == FAILED else 0


def _record_bytes(source: str, line: int | None) -> bytes:
    """The file's (or stdin's) bytes, or its line ``line``.

    Raises:
        InputError: no such file, no such line, or several records where one was meant.
    """
    from transform_core.jobs.inputs import InputError

    name = "stdin" if source == "-" else source
    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except FileNotFoundError:
        raise InputError("no such file", file=name) from None
    if raw[:2] == b"\x1f\x8b":
        import gzip

        raw = gzip.decompress(raw)
    lines = raw.splitlines()
    if line is not None:
        if line > len(lines):
            raise InputError(f"has {len(lines):,} lines: --line {line} is past the end", file=name)
        return lines[line - 1]
    if sum(1 for text in lines if text.strip()) > 1 and not _one_value(raw) and _one_value(lines[0]):
        raise InputError(f"holds {len(lines):,} lines of records: choose one with --line N", file=name)
    return raw


def _one_value(raw: bytes) -> bool:
    import orjson

    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


def _usage(message: str) -> Exception:
    from transform_core.errors import TransformCoreError

    return TransformCoreError(f"explain: {message}")


def _print_text(found: Explanation, spec: Any, origin: str) -> None:
    """The explanation as aligned lines on stdout."""
    outcome: str = found.outcome
    if outcome == "Dropped" and spec.drop is not None:
        outcome += f" (drop: {spec.drop.field} is one of {', '.join(map(str, spec.drop.values))})"
    read = "" if origin == "record" else f"  (the rawData of a {origin} line)" if origin != "base64" else "  (from --base64)"
    print(f"outcome     {outcome}{read}")
    if found.failures:
        count = len(found.failures)
        print(f"failing     {count} {'rule' if count == 1 else 'rules'}; the first decides the outcome")
        width = max(len(f.rule) for f in found.failures)
        for failure in found.failures:
            print(f"  {failure.rule:<{width}}  {failure.path}: {failure.message}")
    for lookup in found.enrichment:
        key = _json(lookup.key)
        if lookup.fields is None:
            then = "rejected" if lookup.on_missing == "reject" else "its fields are null"
            print(f"enrichment  {lookup.table}: {lookup.key_field} {key} is not in the table ({then})")
        else:
            fields = ", ".join(f"{name}={_json(value)}" for name, value in lookup.fields.items())
            print(f"enrichment  {lookup.table}: {lookup.key_field} {key} found: {fields}")
    if found.partition is not None:
        print("partition   " + "/".join(f"{key}={value}" for key, value in found.partition.items()))
    if found.output is not None:
        print(f"output      {found.output.rstrip()}")


def _json(value: Any) -> str:
    import orjson

    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits
        return str(value)
