"""What the subcommands share: argument types, the reprocess jobs' common options, the one-line error report, counts
with their nouns, and the parser each subcommand gets (its own usage on a bad flag, paths normalised, ``--debug``)."""

from __future__ import annotations

import argparse
import sys
import traceback
from contextvars import ContextVar
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from transform_core.lake.curated import CatalogSettings

    Commands: TypeAlias = argparse._SubParsersAction["CommandParser"]

__all__ = [
    "DEBUG",
    "PROG",
    "CommandParser",
    "add_as_of_option",
    "add_catalog_options",
    "add_debug_option",
    "add_job_options",
    "catalog_options",
    "fraction",
    "normalise_paths",
    "plural",
    "positive_int",
    "print_error",
    "setting",
]

PROG = "transform-core"
# --debug of the command running: an error printed in one line then shows its traceback first
DEBUG: ContextVar[bool] = ContextVar("transform_core_cli_debug", default=False)
# the options that name local files or folders (as their dest); URIs and "-" (stdin, stdout) are left as given
_PATHS = ("spec", "out", "lake", "output", "catalog_file", "warehouse", "inputs", "input", "template", "project_root", "report")


def print_error(err: Exception | str, *, command: str | None = None) -> int:
    """Print ``transform-core[ COMMAND]: error: ERR`` on stderr, on one line; returns the exit status 1.

    With ``--debug``, an exception's traceback comes first."""
    if isinstance(err, BaseException) and DEBUG.get():
        traceback.print_exception(err, file=sys.stderr)
    prog = PROG if command is None else f"{PROG} {command}"
    text = " ".join(str(err).split())  # a library's message may span lines (a YAML parser's, say)
    print(f"{prog}: error: {text}", file=sys.stderr)
    return 1


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``n`` with its noun, singular for one: ``1 file``, ``2 files``, ``1,200 entries`` (``many`` when not +s)."""
    return f"{n:,} {noun if n == 1 else many or noun + 's'}"


class HelpFormatter(argparse.HelpFormatter):
    """Wraps a description to the terminal, and keeps an epilog's lines (its examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: an option it does not know is its error, shown with its usage, not the top level's
    (argparse hands a subcommand's unknown arguments up to ``transform-core``, whose usage names no option)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"formatter_class": HelpFormatter, **kwargs})

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    """``--debug`` on ``parser`` and on every subcommand under it, so it goes before or after the command."""
    top = parser.prog == PROG
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,  # a subcommand's must not undo the top level's
        help="on an error, print its traceback too (for a bug report)",
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in {id(sub): sub for sub in action.choices.values()}.values():  # an alias shares its parser
                add_debug_option(sub)


def normalise_paths(args: argparse.Namespace) -> None:
    """Write the local paths among ``args`` the one way messages show them and the lake compares them: ``./lake/``
    and ``lake//`` are ``lake``. URIs (``s3://…``, ``file:``) and ``-`` are kept as given."""

    def normal(value: Any) -> Any:
        if not isinstance(value, str) or not value or value == "-" or "://" in value or value.startswith("file:"):
            return value
        return str(PurePath(value))

    for name in _PATHS:
        value = getattr(args, name, None)
        if isinstance(value, list):
            setattr(args, name, [normal(v) for v in value])
        elif value is not None:
            setattr(args, name, normal(value))


def add_job_options(job: argparse.ArgumentParser, *, inputs: str, spec: str, lake: str, chunk_size: str) -> None:
    """The options reprocess and spark-reprocess share: what to read, with which spec, where to write."""
    job.add_argument("inputs", nargs="+", metavar="INPUT", help=inputs)
    job.add_argument("--spec", required=True, metavar="PATH", help=spec)
    job.add_argument("--lake", "--out", dest="out", metavar="ROOT", help=lake)
    job.add_argument("--dry-run", action="store_true", help="validate and count only; write nothing")
    # --batch-size: the option's earlier name, still accepted
    job.add_argument(
        "--chunk-size", "--batch-size", dest="chunk_size", type=positive_int, default=50_000, metavar="N", help=chunk_size
    )
    job.add_argument(
        "--kind",
        choices=["ndjson", "firehose-backup", "processing-failed", "errors"],
        help="input format for every file (default: detected per file from its first line)",
    )


def add_as_of_option(cmd: argparse.ArgumentParser) -> None:
    """``--as-of``: the curated table as of a snapshot id or a time."""
    cmd.add_argument(
        "--as-of",
        metavar="SNAPSHOT",
        help="read the curated table as of a snapshot id or an ISO 8601 time (UTC unless it has an offset)",
    )


def add_catalog_options(cmd: argparse.ArgumentParser) -> None:
    """``--catalog``, ``--catalog-file``, ``--namespace`` and ``--warehouse``: where the curated Iceberg table is."""
    cmd.add_argument(
        "--catalog",
        choices=["sql", "glue"],
        default="sql",
        help="the curated table's catalog: sql, a SQLite file in the lake (default), or AWS Glue",
    )
    cmd.add_argument(
        "--catalog-file",
        metavar="PATH",
        help="the SQL catalog's SQLite file (default: <lake>/_catalog/iceberg.db; needed for an s3:// lake)",
    )
    cmd.add_argument("--namespace", metavar="NAME", help="the table's namespace (Glue database; default: transform_core)")
    cmd.add_argument(
        "--warehouse",
        metavar="URI",
        help="where the curated table is created, <URI>/<namespace>/<table>/, e.g. another bucket than the raw zone's "
        "(default: <lake>/curated)",
    )


def catalog_options(args: argparse.Namespace) -> CatalogSettings:
    """The catalog settings of :func:`add_catalog_options`' options, S3 and Glue access from the environment."""
    from transform_core.lake.curated import catalog_settings

    endpoint_url = getattr(args, "endpoint_url", None)
    return catalog_settings(
        kind=args.catalog,
        namespace=args.namespace,
        catalog_file=args.catalog_file,
        endpoint_url=endpoint_url,
        warehouse=args.warehouse,
    )


def add_endpoint_option(cmd: argparse.ArgumentParser) -> None:
    """``--endpoint-url``: the S3 endpoint, overriding the AWS environment variables."""
    cmd.add_argument("--endpoint-url", metavar="URL", help="S3 endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)")


def _int_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An integer of at least 0."""
    return _int_at_least(text, 0)


def non_negative(text: str) -> float:
    """A finite number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive(text: str) -> float:
    """A finite number above 0."""
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def fraction(text: str) -> float:
    """A number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def setting(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` as ``(key, value)``; the value may be empty or hold more ``=``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value
