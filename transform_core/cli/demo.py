"""``transform-core demo``: synthetic records through a pipeline (IoT telemetry through the example), then a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from transform_core.cli.arguments import fraction, positive_int

if TYPE_CHECKING:
    from transform_core.cli.arguments import Commands

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Register ``demo``."""
    demo = commands.add_parser(
        "demo",
        help="run synthetic records through a pipeline (IoT telemetry through the example) and report",
        description=(
            "Generate records (some invalid, drawn evenly from kinds of bad record): IoT telemetry for the example spec, "
            "records drawn from the spec's own JSON Schema for any other (as transform-core generate writes them). Split "
            "them into Firehose-sized events, run each event through the pipeline, and print the outcome counts against "
            "what the generator meant, the top rejection reasons, the date partitions hit and the throughput (generation "
            "excluded)."
        ),
        epilog=(
            "examples:\n"
            "  transform-core demo                                  # 5000 IoT records through examples/iot/pipeline.yaml\n"
            "  transform-core demo --records 100000 --invalid-fraction 0.2 --seed 7\n"
            "  transform-core demo --spec my-pipeline/pipeline.yaml  # records drawn from that spec's schema"
        ),
    )
    demo.add_argument("--records", type=positive_int, default=5000, metavar="N", help="records to generate (default: 5000)")
    demo.add_argument(
        "--invalid-fraction",
        type=fraction,
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
        type=positive_int,
        default=500,
        metavar="N",
        help="at most N records per Firehose event; events also stay within Firehose's 3 MB buffer (default: 500)",
    )
    demo.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from transform_core.demo import run as demo

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
