"""``transform-core layer build``: package transform-core as an AWS Lambda layer zip."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from transform_core.cli.arguments import print_error
from transform_core.errors import TransformCoreError

if TYPE_CHECKING:
    from transform_core.cli.arguments import Commands

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Register ``layer`` (with ``build``)."""
    from transform_core.deploy.layer import ARCHES, DEFAULT_ARCH, DEFAULT_PYTHON, PYTHONS

    layer = commands.add_parser(
        "layer",
        help="package transform-core as an AWS Lambda layer",
        description="Package transform-core and its runtime dependencies as an AWS Lambda layer.",
        epilog="example:\n  transform-core layer build --arch arm64 --python 3.12",
    )
    actions = layer.add_subparsers(title="layer commands", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="build the layer zip for an architecture and Python version",
        description=(
            "Build a Lambda layer zip (python/… layout) from manylinux wheels for the target architecture and CPython, "
            "not the build machine's: transform-core from this source tree plus the versions of polars, orjson, msgspec, "
            "fastjsonschema and pyyaml that uv.lock pins (never pyarrow). Shared libraries are stripped when the "
            "machine's architecture matches; caches, tests, stubs and installer records are dropped; "
            "python/transform_core_layer.json records the Python, architecture and versions, and the handler refuses "
            "to start on another Python or architecture. At the zip's root, transform-core-runtime is the exec wrapper "
            "that runs the raw-bytes Runtime API loop (AWS_LAMBDA_EXEC_WRAPPER=/opt/transform-core-runtime). "
            "Prints the unzipped and zipped sizes; exits 1 (writing "
            "nothing) when the unzipped size is over --budget-mb."
        ),
        epilog=(
            "examples:\n"
            "  transform-core layer build              # transform-core-layer-x86_64-py3.13.zip, as the template runs\n"
            "  transform-core layer build --arch arm64 --python 3.12 --output dist/layer-arm64.zip"
        ),
    )
    build.add_argument(
        "--arch", choices=ARCHES, default=DEFAULT_ARCH, help=f"Lambda architecture (default: {DEFAULT_ARCH}, the template's)"
    )
    build.add_argument(
        "--python",
        choices=PYTHONS,
        default=DEFAULT_PYTHON,
        help=f"Lambda Python runtime (default: {DEFAULT_PYTHON}, the template's)",
    )
    build.add_argument(
        "--output",
        metavar="PATH.zip",
        help="where to write the zip (default: transform-core-layer-<arch>-py<python>.zip in the current folder)",
    )
    build.add_argument(
        "--budget-mb",
        type=float,
        default=200,
        metavar="MB",
        help="fail when the unzipped layer is larger (default: 200, leaving room under Lambda's 250 MB)",
    )
    build.add_argument("--project-root", metavar="DIR", help="transform-core source tree (default: this checkout)")
    build.set_defaults(run=_run_build)


def _run_build(args: argparse.Namespace) -> int:
    """Build the layer; exit status 1 when it is over budget or a step failed."""
    from transform_core.deploy.layer import build_layer

    output = args.output or f"transform-core-layer-{args.arch}-py{args.python}.zip"

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        report = build_layer(
            arch=args.arch,
            python=args.python,
            output=output,
            budget_mb=args.budget_mb,
            project_root=args.project_root,
            log=progress,
        )
    except TransformCoreError as err:
        return print_error(err, command="layer build")
    print(report.summary())
    print(f"unzipped: {report.unzipped_bytes} bytes ({_mb(report.unzipped_bytes)}); budget {args.budget_mb:g} MB")
    print(f"zipped:   {report.zipped_bytes} bytes ({_mb(report.zipped_bytes)})")
    return 0


def _mb(size: int) -> str:
    from transform_core.deploy.layer import MB

    return f"{size / MB:.1f} MB"
