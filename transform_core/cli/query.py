"""``transform-core query``: SQL over a pipeline's lake, a table's columns, or a prompt to explore it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from transform_core.cli.arguments import (
    PROG,
    add_as_of_option,
    add_catalog_options,
    add_endpoint_option,
    catalog_options,
    positive_int,
)
from transform_core.errors import QueryError

if TYPE_CHECKING:
    import polars as pl

    from transform_core.cli.arguments import Commands

__all__ = ["TABLE_ROWS", "add_command"]

TABLE_ROWS = 100  # rows the table format prints; csv/json/parquet give them all


def add_command(commands: Commands) -> None:
    """Register ``query``."""
    cmd = commands.add_parser(
        "query",
        help="run SQL over the lake (Polars SQL, partition pruning), describe its tables, or explore it at a prompt",
        description=(
            "Run one SQL query over a pipeline's lake. Tables are named after the spec (name with '-' -> '_'): "
            "<table> (the curated Iceberg table if compacted, else raw), raw_<table>, curated_<table> and errors_<table>. "
            "year, month, day (and hour) are zero-padded text columns (day = '07'; a query comparing them with numbers "
            "gets a hint on stderr); on raw_<table> filtering on them reads only the matching partitions, on the curated "
            "table a filter on the event time does. A struct's field is column.field (tags.zone), named so in the "
            "result. Without SQL on a terminal (or with -i) it opens a prompt: statements end with ';', .help lists "
            "the dot commands."
        ),
        epilog=(
            "examples:\n"
            "  transform-core query --spec examples/iot/pipeline.yaml \\\n"
            "      \"SELECT day, count(*) AS n FROM iot_telemetry WHERE year = '2026' AND month = '11' GROUP BY day\"\n"
            "  transform-core query --spec pipeline.yaml --lake s3://my-lake --format csv --output sites.csv \\\n"
            '      "SELECT site, avg(value) AS mean FROM raw_iot_telemetry GROUP BY site"\n'
            '  transform-core query --spec pipeline.yaml "SELECT tags.zone, count(*) AS n FROM iot_telemetry GROUP BY tags.zone"\n'
            '  transform-core query --spec pipeline.yaml --max-width 30 "SELECT rawData, reason FROM errors_iot_telemetry"\n'
            "  transform-core query --spec pipeline.yaml --describe iot_telemetry\n"
            "  transform-core query --spec pipeline.yaml            # a prompt with history: .tables, .describe T, .help"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument(
        "sql", metavar="SQL", nargs="?", help="one SQL query (Polars SQL dialect); quote it for the shell; none: the prompt"
    )
    cmd.add_argument("--spec", required=True, metavar="PATH", help="pipeline spec (YAML or JSON); names the tables")
    cmd.add_argument("--lake", metavar="DEST", help="lake root, a folder or s3://bucket/prefix (default: the spec's output.lake)")
    cmd.add_argument(
        "--format",
        choices=["table", "csv", "json", "parquet"],
        default="table",
        help=f"output format (default: table, the first {TABLE_ROWS} rows; json is an array of row objects)",
    )
    cmd.add_argument("--output", metavar="FILE", help="write the result to FILE instead of stdout (required for parquet)")
    cmd.add_argument(
        "--max-width",
        type=positive_int,
        metavar="N",
        help="cut the table format's text cells at N characters (default: every value in full)",
    )
    cmd.add_argument(
        "--describe",
        metavar="TABLE",
        help="print TABLE's columns instead of a result: struct fields dotted, Polars and Athena types",
    )
    cmd.add_argument(
        "-i",
        "--interactive",
        action="store_true",
        help="read statements from stdin at a prompt (the default without SQL on a terminal), each ended by ';'",
    )
    add_as_of_option(cmd)
    add_catalog_options(cmd)
    add_endpoint_option(cmd)
    cmd.set_defaults(run=_run_query)


def _run_query(args: argparse.Namespace) -> int:
    from transform_core.lake.query import describe, partition_hint, query
    from transform_core.spec import load_spec

    sql = args.sql or ""
    if args.format == "parquet" and not args.output:
        raise QueryError("--format parquet needs --output FILE", sql=sql)
    given = [name for name, value in (("SQL", args.sql), ("--describe", args.describe), ("-i", args.interactive)) if value]
    if len(given) > 1:
        raise QueryError(f"query takes one of SQL, --describe TABLE and -i, not {' and '.join(given)}", sql=sql)
    if not given and not sys.stdin.isatty():
        raise QueryError("query needs SQL, --describe TABLE or -i (to read statements from stdin)", sql=sql)
    prompt = not given or args.interactive
    if prompt and (args.format != "table" or args.output):
        raise QueryError("the prompt prints tables: --format and --output go with SQL or --describe TABLE", sql=sql)
    spec = load_spec(args.spec)
    options = {"root": args.lake, "endpoint_url": args.endpoint_url, "as_of": args.as_of, "catalog": catalog_options(args)}
    if prompt:
        from transform_core.cli.query_shell import Shell

        return Shell(spec, options, max_width=args.max_width).run(sys.stdin, sys.stdout)
    if args.describe is not None:
        columns = describe(spec, args.describe, **options)
        _write(columns.fill_null("") if args.format == "table" else columns, args.format, args.output, args.max_width)
        return 0
    frame = query(spec, sql, **options)
    _write(frame, args.format, args.output, args.max_width)
    if (hint := partition_hint(sql, empty=frame.height == 0)) is not None:
        print(f"{PROG} query: hint: {hint}", file=sys.stderr)
    return 0


def _write(frame: pl.DataFrame, fmt: str, output: str | None, max_width: int | None = None) -> None:
    import os
    import re

    import polars as pl

    from transform_core.lake.query_format import text_table

    text = ""  # parquet: written by Polars, never to stdout (--output is required)
    if fmt == "csv":
        text = _flat(frame).write_csv()
    elif fmt == "json":
        text = frame.write_json() + "\n"
    elif fmt == "table":
        text = text_table(frame, rows=TABLE_ROWS, max_width=max_width)
    if not output:
        sys.stdout.write(text)
        return
    try:
        if fmt == "parquet":
            frame.write_parquet(output, compression="zstd")
        else:
            Path(output).write_text(text, encoding="utf-8")
    except OSError as err:
        if err.filename is not None:
            raise
        raise OSError(err.errno, err.strerror or str(err), output) from err  # a failed write names no file: say which
    except pl.exceptions.ComputeError as err:  # Polars' Parquet writer wraps the system's error
        if (io := re.search(r"\(os error (\d+)\)", str(err))) is None:
            raise
        raise OSError(int(io[1]), os.strerror(int(io[1])), output) from err


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested columns (structs, lists) as JSON text, which CSV cannot hold otherwise."""
    import polars as pl

    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    # json_encode works on structs only: wrap the value as {"v": …} and cut the wrapper off
    encode = [
        pl.when(pl.col(name).is_null())
        .then(None)
        .otherwise(pl.struct(pl.col(name).alias("v")).struct.json_encode().str.slice(5).str.head(-1))
        .alias(name)
        for name in nested
    ]
    return frame.with_columns(encode) if encode else frame
