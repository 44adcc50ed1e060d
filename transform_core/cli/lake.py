"""``transform-core compact``, ``query`` and ``catalog``: the lake's curated Iceberg table, SQL over it, its Glue table."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transform_core.cli.arguments import add_catalog_options, catalog_options, print_error
from transform_core.errors import QueryError

if TYPE_CHECKING:
    import polars as pl

    from transform_core.cli.arguments import Commands

__all__ = ["add_commands"]

_TABLE_ROWS = 100  # rows the query's table format prints; csv/json/parquet give them all


def add_commands(commands: Commands) -> None:
    """Register ``compact``, ``query`` and ``catalog``."""
    _add_compact(commands)
    _add_query(commands)
    _add_catalog(commands)


# --- compact ----------------------------------------------------------------------------------------------------------


def _add_compact(commands: Commands) -> None:
    job = commands.add_parser(
        "compact",
        help="commit raw lake partitions into the curated Iceberg table, deduplicated and time-sorted",
        description=(
            "Commit the raw/<table>/ partitions whose files changed since the last run into the curated Apache Iceberg "
            "table (partitioned by day or hour of the event time), in one snapshot: each changed partition is read whole, "
            "duplicates removed by a key (the copy with the greatest curated.version, else the latest event time, wins), "
            "sorted by event time and replaced. Re-running with nothing new commits nothing; raw files arriving during a "
            "run go into the next one."
        ),
    )
    job.add_argument("--spec", required=True, metavar="PATH", help="pipeline spec (YAML or JSON)")
    job.add_argument("--lake", metavar="ROOT", help="lake root, a folder or s3://bucket/prefix (default: the spec's output.lake)")
    job.add_argument(
        "--key",
        metavar="COLUMNS",
        help="column(s) naming a record, comma-separated (default: the spec's curated.key, else event_id or id if "
        "declared, else the record's content)",
    )
    job.add_argument("--target-rows", type=int, default=1_000_000, metavar="N", help="most rows per data file (default: 1000000)")
    job.add_argument(
        "--partition",
        action="append",
        metavar="PATH",
        help="compact only this partition and those under it, e.g. year=2026/month=11/day=24 (repeatable; default: all)",
    )
    add_catalog_options(job)
    job.add_argument("--endpoint-url", metavar="URL", help="S3 endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)")
    job.set_defaults(run=_run_compact)


def _run_compact(args: argparse.Namespace) -> int:
    from transform_core.lake.curated import compact
    from transform_core.spec import load_spec

    spec = load_spec(args.spec)
    try:
        options = {"key": args.key, "target_rows": args.target_rows, "endpoint_url": args.endpoint_url}
        summary = compact(spec, args.lake, partitions=args.partition, catalog=catalog_options(args), **options)
    except ValueError as err:
        return print_error(err, command="compact")
    for p in summary.partitions:
        line = f"{p.status:<10} {p.partition}  {p.raw_files:,} raw files"
        if p.status == "compacted":
            line += f", {p.raw_rows or 0:,} → {p.rows or 0:,} rows, {p.files or 0:,} data files"
        print(line)
    unchanged = len(summary.partitions) - summary.compacted
    snapshot = f"snapshot {summary.snapshot_id}" if summary.snapshot_id is not None else "no snapshot yet"
    state = "committed" if summary.committed else "nothing to commit"
    print(
        f"{len(summary.partitions):,} partitions, {summary.compacted:,} compacted, {unchanged:,} unchanged, "
        f"{summary.rows:,} rows written, {summary.duplicates:,} duplicates removed"
    )
    print(f"{summary.table} {snapshot} ({state})")
    return 0


# --- query ------------------------------------------------------------------------------------------------------------


def _add_query(commands: Commands) -> None:
    cmd = commands.add_parser(
        "query",
        help="run SQL over the lake (Polars SQL, partition pruning)",
        description=(
            "Run one SQL query over a pipeline's lake. Tables are named after the spec (name with '-' -> '_'): "
            "<table> (the curated Iceberg table if compacted, else raw), raw_<table>, curated_<table> and errors_<table>. "
            "year, month, day (and hour) are text columns; on raw_<table> filtering on them reads only the matching "
            "partitions, on the curated table a filter on the event time does."
        ),
        epilog=(
            "examples:\n"
            "  transform-core query --spec examples/iot/pipeline.yaml \\\n"
            "      \"SELECT day, count(*) AS n FROM iot_telemetry WHERE year = '2026' AND month = '11' GROUP BY day\"\n"
            "  transform-core query --spec pipeline.yaml --lake s3://my-lake --format csv --output sites.csv \\\n"
            '      "SELECT site, avg(value) AS mean FROM raw_iot_telemetry GROUP BY site"\n'
            '  transform-core query --spec pipeline.yaml "SELECT reason, count(*) FROM errors_iot_telemetry GROUP BY reason"'
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("sql", metavar="SQL", help="one SQL query (Polars SQL dialect); quote it for the shell")
    cmd.add_argument("--spec", required=True, metavar="PATH", help="pipeline spec (YAML or JSON); names the tables")
    cmd.add_argument("--lake", metavar="DEST", help="lake root, a folder or s3://bucket/prefix (default: the spec's output.lake)")
    cmd.add_argument(
        "--format",
        choices=["table", "csv", "json", "parquet"],
        default="table",
        help=f"output format (default: table, the first {_TABLE_ROWS} rows; json is an array of row objects)",
    )
    cmd.add_argument("--output", metavar="FILE", help="write the result to FILE instead of stdout (required for parquet)")
    cmd.add_argument(
        "--as-of",
        metavar="SNAPSHOT",
        help="read the curated table as of a snapshot id or an ISO 8601 time (UTC unless it has an offset)",
    )
    add_catalog_options(cmd)
    cmd.add_argument("--endpoint-url", metavar="URL", help="S3 endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)")
    cmd.set_defaults(run=_run_query)


def _run_query(args: argparse.Namespace) -> int:
    from transform_core.lake.query import query
    from transform_core.spec import load_spec

    if args.format == "parquet" and not args.output:
        raise QueryError("--format parquet needs --output FILE", sql=args.sql)
    options = {"root": args.lake, "endpoint_url": args.endpoint_url, "as_of": args.as_of}
    frame = query(load_spec(args.spec), args.sql, catalog=catalog_options(args), **options)
    _write(frame, args.format, args.output)
    return 0


def _write(frame: pl.DataFrame, fmt: str, output: str | None) -> None:
    if fmt == "parquet":
        frame.write_parquet(str(output), compression="zstd")
        return
    if fmt == "csv":
        text = _flat(frame).write_csv()
    elif fmt == "json":
        text = frame.write_json() + "\n"
    else:
        text = _table(frame)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _table(frame: pl.DataFrame) -> str:
    """The frame as a readable text table: every column, the first rows, long text cut, one line a row."""
    import polars as pl

    # a wide width keeps each row on one line (read wide results with `less -S`) instead of wrapping every cell
    config: dict[str, Any] = {"tbl_rows": _TABLE_ROWS, "tbl_cols": -1, "fmt_str_lengths": 40, "tbl_width_chars": 65_535}
    with pl.Config(**config):
        text = str(frame)
    if frame.height > _TABLE_ROWS:
        text += f"\n{_TABLE_ROWS} of {frame.height:,} rows shown; --format csv or json gives them all"
    return text + "\n"


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


# --- catalog ----------------------------------------------------------------------------------------------------------


def _add_catalog(commands: Commands) -> None:
    cmd = commands.add_parser(
        "catalog",
        help="print the Athena DDL or Glue table JSON for the lake's raw zone, or register it in Glue",
        description=(
            "Describe a pipeline's raw zone (<location>/raw/<table>/) as a Glue/Athena table: columns typed exactly as "
            "the lake writer stores them, Parquet SerDe, year/month/day[/hour] string partition keys with partition "
            "projection (no crawler or MSCK REPAIR needed). Prints Athena DDL (default) or the Glue CreateTable JSON; "
            "--register creates or updates the table with boto3 (the 'aws' extra). --producer firehose-parquet describes "
            "the raw zone as Firehose delivers it (and the Glue table its record format conversion reads); "
            "firehose-json the same columns over Firehose's NDJSON, with Hive's JSON SerDe."
        ),
        epilog=(
            "examples:\n"
            "  transform-core catalog --spec examples/iot/pipeline.yaml --location s3://my-lake --database telemetry\n"
            "  transform-core catalog --spec pipeline.yaml --location s3://my-lake --database telemetry \\\n"
            "      --format glue-json > table.json && aws glue create-table --cli-input-json file://table.json\n"
            "  transform-core catalog --spec pipeline.yaml --location s3://my-lake --database telemetry --register\n"
            "  transform-core catalog --spec pipeline.yaml --location s3://my-raw-bucket --database telemetry \\\n"
            "      --producer firehose-parquet --format glue-json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("--spec", required=True, metavar="PATH", help="pipeline spec (YAML or JSON)")
    cmd.add_argument("--location", required=True, metavar="URI", help="lake root, s3://bucket/prefix")
    cmd.add_argument("--database", required=True, metavar="NAME", help="Glue database (letters, digits, underscore)")
    cmd.add_argument("--table", metavar="NAME", help="table name (default: the spec's name with '-' -> '_')")
    cmd.add_argument(
        "--format",
        choices=["ddl", "glue-json"],
        help="print Athena DDL or Glue CreateTable JSON (default: ddl; with --register, nothing unless given)",
    )
    cmd.add_argument(
        "--producer",
        choices=["transform-core", "firehose-parquet", "firehose-json"],
        default="transform-core",
        help=(
            "who writes raw/<table>/: transform-core (the lake writer: lineage columns, _extra; the default), "
            "firehose-parquet (Firehose's record format conversion) or firehose-json (Firehose's NDJSON delivery)"
        ),
    )
    cmd.add_argument("--register", action="store_true", help="create the database if missing and create or update the table")
    cmd.add_argument("--endpoint-url", metavar="URL", help="Glue endpoint (default: boto3's, e.g. AWS_ENDPOINT_URL_GLUE)")
    cmd.add_argument("--region", metavar="REGION", help="AWS region (default: AWS_REGION, else boto3's lookup)")
    cmd.set_defaults(run=_run_catalog)


def _run_catalog(args: argparse.Namespace) -> int:
    from transform_core.lake.catalog import athena_ddl, create_table_request, register, table_name
    from transform_core.spec import load_spec

    try:
        spec = load_spec(args.spec)
        fmt = args.format or (None if args.register else "ddl")
        shape = {"database": args.database, "table": args.table, "producer": args.producer}
        if fmt == "ddl":
            print(athena_ddl(spec, args.location, **shape) + ";")
        elif fmt == "glue-json":
            print(json.dumps(create_table_request(spec, args.location, **shape), indent=2))
        if args.register:
            action = register(spec, args.location, endpoint_url=args.endpoint_url, region=args.region, **shape)
            print(f"{action} table {args.database}.{table_name(spec, args.table)}", file=sys.stderr)
    except ValueError as err:
        return print_error(err)
    return 0
