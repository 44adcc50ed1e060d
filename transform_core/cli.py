"""The ``transform-core`` command line: one subcommand per task.

Each subcommand imports what it needs (Polars, the engine) when it runs, so ``transform-core --help`` stays quick.
Errors transform-core raises on purpose (a bad spec, a missing file) print one line and exit with status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from transform_core.errors import TransformCoreError

__all__ = ["build_parser", "main"]

_PROG = "transform-core"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except TransformCoreError as err:
        print(f"{_PROG}: error: {err}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="transform-core: validate, enrich and partition records for Kinesis Firehose (the Lambda transform step).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_demo(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("transform-core")
    except PackageNotFoundError:
        return "(not installed)"


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="run synthetic IoT telemetry through the example pipeline and report",
        description=(
            "Generate IoT telemetry records (some invalid, drawn evenly from eight kinds of bad record), split them into "
            "Firehose-sized events, run each event through the pipeline, and print the outcome counts, the top rejection "
            "reasons, the date partitions hit and the throughput (generation excluded)."
        ),
    )
    demo.add_argument("--records", type=_positive_int, default=5000, metavar="N", help="records to generate (default: 5000)")
    demo.add_argument(
        "--invalid-fraction",
        type=_fraction,
        default=0.1,
        metavar="F",
        help="share of invalid records, 0..1 (default: 0.1)",
    )
    demo.add_argument(
        "--spec",
        type=Path,
        default=None,
        metavar="PATH",
        help="pipeline spec (YAML or JSON; default: examples/iot/pipeline.yaml of this source checkout)",
    )
    demo.add_argument(
        "--seed", type=int, default=0, metavar="N", help="random seed; the same seed gives the same records (default: 0)"
    )
    demo.add_argument(
        "--batch-records",
        type=_positive_int,
        default=500,
        metavar="N",
        help="at most N records per Firehose event; events also stay within Firehose's 3 MB buffer (default: 500)",
    )
    demo.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from transform_core import demo

    spec: Path = args.spec if args.spec is not None else demo.example_spec()
    demo.run_demo(
        spec,
        records=args.records,
        invalid_fraction=args.invalid_fraction,
        seed=args.seed,
        batch_records=args.batch_records,
        out=sys.stdout,
    )
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value
