"""``python -m transform_core.adapters.runtime_api``: the command line of the Lambda Runtime API loop."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from transform_core.adapters.runtime_api import run

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The loop's argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m transform_core.adapters.runtime_api",
        description="Serve Firehose transformations over the Lambda Runtime API.",
    )
    parser.add_argument("--max-invocations", type=int, default=None, help="stop after N invocations (tests)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the loop (:func:`transform_core.adapters.runtime_api.run`); returns the exit status."""
    args = build_parser().parse_args(argv)
    return run(max_invocations=args.max_invocations)
