"""The ``transform-core`` command line: one subcommand per task, one module per group of subcommands.

``demo`` (:mod:`.demo`), ``init`` (:mod:`.init`), ``generate`` (:mod:`.generate`), ``explain`` (:mod:`.explain`),
``reprocess`` and ``spark-reprocess`` (:mod:`.reprocess`), ``compact``, ``expire`` (alias ``vacuum``) and ``catalog`` (:mod:`.lake`), ``query`` (:mod:`.query`, its prompt:
:mod:`.query_shell`), ``export`` (:mod:`.export`),
``dashboard`` (:mod:`.dashboard`), ``local`` and ``send`` (:mod:`.local`), ``layer build`` (:mod:`.layer`);
:mod:`.runtime` parses the arguments of ``python -m transform_core.adapters.runtime_api``. Each subcommand imports
what it needs (Polars, the engine) when it runs, so ``transform-core --help`` stays quick. Errors transform-core raises
on purpose (a bad spec, a missing file) print one line and exit with status 1; so do the errors of the environment the
libraries raise (a missing bucket, no credentials, a full disk: :mod:`.errors`); ``--debug``, before or after the
command, prints the traceback as well.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from transform_core.cli.arguments import DEBUG, PROG, CommandParser, add_debug_option, normalise_paths, print_error
from transform_core.cli.errors import describe, environment_errors, with_advice
from transform_core.errors import TransformCoreError

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = build_parser().parse_args(argv)
    normalise_paths(args)
    run: Callable[[argparse.Namespace], int] = args.run
    debugging = DEBUG.set(args.debug)
    try:
        return run(args)
    except TransformCoreError as err:
        if args.debug:
            raise
        return print_error(with_advice(err))
    except environment_errors() as err:  # evaluated only when one propagates: the types of the libraries loaded by then
        if args.debug:
            raise
        return print_error(describe(err))
    finally:
        DEBUG.reset(debugging)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    # here, not at import: the Runtime API loop's cold start imports transform_core.cli.runtime and nothing else
    from transform_core.cli import dashboard, demo, explain, export, generate, init, lake, layer, local, reprocess

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="transform-core: validate, enrich and partition records for Kinesis Firehose (the Lambda transform step).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True, parser_class=CommandParser)
    demo.add_commands(commands)
    init.add_commands(commands)
    generate.add_commands(commands)
    explain.add_commands(commands)
    reprocess.add_commands(commands)
    lake.add_commands(commands)
    export.add_commands(commands)
    dashboard.add_commands(commands)
    local.add_commands(commands)
    layer.add_commands(commands)
    add_debug_option(parser)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("transform-core")
    except PackageNotFoundError:
        return "(not installed)"
