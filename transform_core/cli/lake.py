"""``transform-core compact``, ``query`` and ``catalog``: the lake's curated Iceberg table, SQL over it, its Glue table."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transform_core.cli.arguments import PROG, add_catalog_options, add_endpoint_option, catalog_options, print_error
from transform_core.errors import QueryError

if TYPE_CHECKING:
    import polars as pl

    from transform_core.cli.arguments import Commands

__all__ = ["add_commands"]

_SHOWN = 20  # refused records compact names one by one
_TABLE_ROWS = 100  # rows the query's table format prints; csv/json/parquet give them all


def add_commands(commands: Commands) -> None:
    """Register ``compact``, ``expire``, ``query`` and ``catalog``."""
    _add_compact(commands)
    _add_expire(commands)
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
        help="compact only this partition and those under it: year=YYYY[/month=MM[/day=DD[/hour=HH]]], zero-padded, e.g. "
        "year=2026/month=11/day=24 (repeatable; default: all)",
    )
    add_catalog_options(job)
    add_endpoint_option(job)
    job.set_defaults(run=_run_compact)


def _run_compact(args: argparse.Namespace) -> int:
    from transform_core.lake.curated import compact
    from transform_core.lake.curated.schema import check_partition_filter
    from transform_core.spec import load_spec

    spec = load_spec(args.spec)
    try:
        keys = spec.partitioning.keys  # a --partition of another form would select nothing, silently
        partitions = None if args.partition is None else [check_partition_filter(p, keys) for p in args.partition]
        options = {"key": args.key, "target_rows": args.target_rows, "endpoint_url": args.endpoint_url}
        summary = compact(spec, args.lake, partitions=partitions, catalog=catalog_options(args), **options)
    except ValueError as err:
        return print_error(err, command="compact")
    for p in summary.partitions:
        line = f"{p.status:<10} {p.partition}  {p.raw_files:,} raw files"
        if p.status == "compacted":
            line += f", {p.raw_rows or 0:,} → {p.rows or 0:,} rows, {p.files or 0:,} data files"
        if p.refused:
            line += f", {len(p.refused):,} records refused"
        print(line)
    unchanged = sum(p.status == "unchanged" for p in summary.partitions)
    snapshot = f"snapshot {summary.snapshot_id}" if summary.snapshot_id is not None else "no snapshot yet"
    state = "committed" if summary.committed else "nothing to commit"
    problems = sum(p.status == "problem" for p in summary.partitions)
    print(
        f"{len(summary.partitions):,} partitions, {summary.compacted:,} compacted, {unchanged:,} unchanged"
        + (f", {problems:,} left out by a problem" if problems else "")
        + f", {summary.rows:,} rows written, {summary.duplicates:,} duplicates removed"
        + (f", {len(summary.refused):,} records refused" if summary.refused else "")
    )
    print(f"{summary.table} {snapshot} ({state})")
    for refusal in summary.refused[:_SHOWN]:  # kept in the raw zone, as delivered; never in the table
        print(f"refused {refusal.record_id}: {refusal.reason}", file=sys.stderr)
    if len(summary.refused) > _SHOWN:
        print(f"refused: {len(summary.refused) - _SHOWN:,} more records", file=sys.stderr)
    for problem in summary.problems:
        print(f"{PROG} compact: {problem.file}: {problem.reason}", file=sys.stderr)
    if summary.problems:
        print(
            f"{PROG} compact: {problems:,} of {len(summary.partitions):,} partitions not compacted (the table keeps what it "
            "had for them): fix the files named above, or move them out of raw/, and run again",
            file=sys.stderr,
        )
        return 1
    return 0


# --- expire -----------------------------------------------------------------------------------------------------------


def _add_expire(commands: Commands) -> None:
    from transform_core.cli.arguments import positive_int

    cmd = commands.add_parser(
        "expire",
        aliases=["vacuum"],
        help="expire old snapshots of the curated Iceberg table and delete the files nothing references",
        description=(
            "Remove the curated table's snapshots committed longer ago than --older-than, in one catalog commit, except "
            "the current one, the last --retain-last and those compact's state needs. Then delete the files under the "
            "table's location that no kept snapshot and no metadata file references (the data only expired snapshots "
            "read, the orphans a crashed or outraced run left) once they are older than --orphans-older-than: a younger "
            "one may belong to a run still in flight. query --as-of reaches the kept snapshots only. Safe to run on a "
            "schedule: a lake without a curated table has nothing to expire. vacuum is Athena's name for the same."
        ),
        epilog=(
            "examples:\n"
            "  transform-core expire --spec examples/iot/pipeline.yaml --dry-run\n"
            "  transform-core expire --spec pipeline.yaml --older-than 36h --retain-last 5\n"
            "  transform-core expire --spec pipeline.yaml --lake s3://my-lake --catalog glue --namespace telemetry"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("--spec", required=True, metavar="PATH", help="pipeline spec (YAML or JSON)")
    cmd.add_argument("--lake", metavar="ROOT", help="lake root, a folder or s3://bucket/prefix (default: the spec's output.lake)")
    cmd.add_argument(
        "--older-than",
        type=_duration,
        default="5d",
        metavar="DURATION",
        help="expire snapshots committed longer ago than this: a whole number and s, m, h or d, e.g. 90m, 36h "
        "(default: 5d, as Athena's VACUUM)",
    )
    cmd.add_argument(
        "--retain-last",
        type=positive_int,
        default=1,
        metavar="N",
        help="keep the current snapshot and the N-1 before it, whatever their age (default: 1)",
    )
    cmd.add_argument(
        "--orphans-older-than",
        type=_duration,
        default="3d",
        metavar="DURATION",
        help="delete a file nothing references only once last written longer ago than this (default: 3d, as Iceberg's "
        "remove_orphan_files); shorter may delete the files of a compact still running",
    )
    cmd.add_argument("--dry-run", action="store_true", help="list the snapshots and files that would go; change nothing")
    add_catalog_options(cmd)
    add_endpoint_option(cmd)
    cmd.set_defaults(run=_run_expire)


def _run_expire(args: argparse.Namespace) -> int:
    from transform_core.lake.curated import expire
    from transform_core.spec import load_spec

    spec = load_spec(args.spec)
    try:
        ages = {"older_than": args.older_than, "retain_last": args.retain_last, "orphans_older_than": args.orphans_older_than}
        summary = expire(
            spec, args.lake, dry_run=args.dry_run, endpoint_url=args.endpoint_url, catalog=catalog_options(args), **ages
        )
    except ValueError as err:
        return print_error(err, command="expire")
    if not summary.found:
        print(f"{summary.table}: no curated table yet, nothing to expire")
        return 0
    if summary.dry_run:
        for snapshot_id, committed in summary.expired.items():
            print(f"would expire snapshot {snapshot_id} (committed {committed:%Y-%m-%dT%H:%M:%SZ})")
        for uri, size in summary.orphans.items():
            print(f"would delete {uri} ({size:,} bytes)")
    would = "would be " if summary.dry_run else ""
    current = f"current snapshot {summary.snapshot_id}" if summary.snapshot_id is not None else "no snapshot"
    print(f"{summary.table}: {len(summary.expired):,} snapshots {would}expired, {len(summary.kept):,} kept ({current})")
    print(
        f"{len(summary.orphans):,} unreferenced files {would}deleted ({summary.orphan_bytes:,} bytes), "
        f"{summary.young:,} younger than {_span(args.orphans_older_than)} kept"
    )
    if summary.dry_run:
        print("dry run: nothing changed")
    return 0


_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


def _duration(text: str) -> timedelta:
    """``90m``, ``36h``, ``5d``, ``0s``: a whole number and a unit."""
    import re

    match = re.fullmatch(r"(\d+)([dhms])", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (a whole number and s, m, h or d, e.g. 90m, 36h, 5d)")
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def _span(age: timedelta) -> str:
    """A duration the way :func:`_duration` reads it, in its largest whole unit."""
    seconds = int(age.total_seconds())
    unit = next((unit for unit, size in _UNITS.items() if seconds % size == 0), "s") if seconds else "s"
    return f"{seconds // _UNITS[unit]}{unit}"


# --- query ------------------------------------------------------------------------------------------------------------


def _add_query(commands: Commands) -> None:
    cmd = commands.add_parser(
        "query",
        help="run SQL over the lake (Polars SQL, partition pruning)",
        description=(
            "Run one SQL query over a pipeline's lake. Tables are named after the spec (name with '-' -> '_'): "
            "<table> (the curated Iceberg table if compacted, else raw), raw_<table>, curated_<table> and errors_<table>. "
            "year, month, day (and hour) are zero-padded text columns (day = '07'; a query comparing them with numbers "
            "gets a hint on stderr); on raw_<table> filtering on them reads only the matching partitions, on the curated "
            "table a filter on the event time does."
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
    add_endpoint_option(cmd)
    cmd.set_defaults(run=_run_query)


def _run_query(args: argparse.Namespace) -> int:
    from transform_core.lake.query import partition_hint, query
    from transform_core.spec import load_spec

    if args.format == "parquet" and not args.output:
        raise QueryError("--format parquet needs --output FILE", sql=args.sql)
    options = {"root": args.lake, "endpoint_url": args.endpoint_url, "as_of": args.as_of}
    frame = query(load_spec(args.spec), args.sql, catalog=catalog_options(args), **options)
    _write(frame, args.format, args.output)
    if (hint := partition_hint(args.sql, empty=frame.height == 0)) is not None:
        print(f"{PROG} query: hint: {hint}", file=sys.stderr)
    return 0


def _write(frame: pl.DataFrame, fmt: str, output: str | None) -> None:
    import os
    import re

    import polars as pl

    text = ""  # parquet: written by Polars, never to stdout (--output is required)
    if fmt == "csv":
        text = _flat(frame).write_csv()
    elif fmt == "json":
        text = frame.write_json() + "\n"
    elif fmt == "table":
        text = _table(frame)
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
        help="print the Athena statements or Glue table JSON for the lake's raw or curated zone, or register it in Glue",
        description=(
            "Describe a pipeline's raw zone (<location>/raw/<table>/) as a Glue/Athena table: columns typed exactly as "
            "the lake writer stores them, Parquet SerDe, year/month/day[/hour] string partition keys with partition "
            "projection (no crawler or MSCK REPAIR needed). Prints Athena DDL (default) or the Glue CreateTable JSON; "
            "--register creates or updates the table with boto3 (the 'aws' extra). --producer firehose-parquet describes "
            "the raw zone as Firehose delivers it (and the Glue table its record format conversion reads); "
            "firehose-json the same columns over Firehose's NDJSON, with Hive's JSON SerDe. --zone curated prints the "
            "Athena statements that read and maintain the curated Iceberg table (<location>/curated/<namespace>/<table>/); "
            "--register points a Glue table at its current metadata, read from the lake's SQL catalog (--catalog-file)."
        ),
        epilog=(
            "examples:\n"
            "  transform-core catalog --spec examples/iot/pipeline.yaml --location s3://my-lake --database telemetry\n"
            "  transform-core catalog --spec pipeline.yaml --location s3://my-lake --database telemetry \\\n"
            "      --format glue-json > table.json && aws glue create-table --cli-input-json file://table.json\n"
            "  transform-core catalog --spec pipeline.yaml --location s3://my-lake --database telemetry --register\n"
            "  transform-core catalog --spec pipeline.yaml --location s3://my-raw-bucket --database telemetry \\\n"
            "      --producer firehose-parquet --format glue-json\n"
            "  transform-core catalog --spec pipeline.yaml --location s3://my-lake --database telemetry --zone curated \\\n"
            "      --catalog-file /var/lib/lake/iceberg.db --register\n"
            "  transform-core catalog --spec deploy/function/pipeline.yaml --format cloudformation \\\n"
            "      --template deploy/template.yaml"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("--spec", required=True, metavar="PATH", help="pipeline spec (YAML or JSON)")
    # not required with --format cloudformation, whose table takes its bucket and database from the template
    cmd.add_argument("--location", metavar="URI", help="lake root, s3://bucket/prefix")
    cmd.add_argument("--database", metavar="NAME", help="Glue database (letters, digits, underscore)")
    cmd.add_argument("--table", metavar="NAME", help="table name (default: the spec's name with '-' -> '_')")
    cmd.add_argument(
        "--format",
        choices=["ddl", "glue-json", "redshift", "cloudformation"],
        help=(
            "print Athena DDL or Glue CreateTable JSON (default: ddl; with --register, nothing unless given); redshift "
            "(with --zone curated): Redshift's external schema over the Glue database and queries over the table; "
            "cloudformation: the GlueTable resource of deploy/template.yaml (Firehose's raw zone, --spec only)"
        ),
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
    cmd.add_argument(
        "--zone",
        choices=["raw", "curated"],
        default="raw",
        help="raw/<table>/ (the default) or the curated Iceberg table compact writes (Athena reads it through Glue)",
    )
    cmd.add_argument(
        "--template",
        metavar="PATH",
        help="--format cloudformation: put the GlueTable resource in place of this template's (deploy/template.yaml)",
    )
    cmd.add_argument("--register", action="store_true", help="create the database if missing and create or update the table")
    cmd.add_argument("--endpoint-url", metavar="URL", help="Glue endpoint (default: boto3's, e.g. AWS_ENDPOINT_URL_GLUE)")
    cmd.add_argument("--region", metavar="REGION", help="AWS region (default: AWS_REGION, else boto3's lookup)")
    cmd.add_argument(
        "--iam-role",
        metavar="ARN",
        help="--format redshift: the IAM role Redshift reads Glue and S3 with (default: the namespace's default role)",
    )
    add_catalog_options(cmd)  # --zone curated: where compact committed the table
    cmd.set_defaults(run=_run_catalog)


def _run_catalog(args: argparse.Namespace) -> int:
    from transform_core.lake.catalog import athena_ddl, create_table_request, register, table_name
    from transform_core.spec import load_spec

    try:
        if args.format == "cloudformation":
            return _cloudformation_table(args)
        if args.location is None or args.database is None:
            raise ValueError("--location and --database are required (except with --format cloudformation)")
        if args.template is not None:
            raise ValueError("--template goes with --format cloudformation")
        if args.iam_role is not None and args.format != "redshift":
            raise ValueError("--iam-role goes with --format redshift")
        if args.zone == "curated":
            return _curated_catalog(args)
        if args.format == "redshift":
            raise ValueError("--format redshift describes the curated table: add --zone curated")
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


def _cloudformation_table(args: argparse.Namespace) -> int:
    """``--format cloudformation``: the template's ``GlueTable``, for both of its ``DeliveryFormat`` values."""
    from transform_core.deploy.template import RESOURCE, raw_table_yaml, replace_raw_table
    from transform_core.spec import load_spec

    given = {
        "--location": args.location,
        "--database": args.database,
        "--table": args.table,
        "--register": args.register or None,
        "--producer": None if args.producer == "transform-core" else args.producer,
        "--zone": None if args.zone == "raw" else args.zone,
        "--iam-role": args.iam_role,
    }
    if extra := [name for name, value in given.items() if value is not None]:
        # the template names the bucket, database and table, and picks the producer by its DeliveryFormat
        raise ValueError(f"--format cloudformation takes --spec (and --template) only, not {', '.join(extra)}")
    spec = load_spec(args.spec)
    if args.template is None:
        sys.stdout.write(raw_table_yaml(spec))
        return 0
    template = Path(args.template)
    try:
        text = template.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"cannot read the template {template}: {err.strerror}") from err
    replaced = replace_raw_table(text, spec)
    if replaced != text:
        template.write_text(replaced, encoding="utf-8")
    print(f"{template}: {RESOURCE} {'updated' if replaced != text else 'unchanged'}", file=sys.stderr)
    return 0


def _curated_catalog(args: argparse.Namespace) -> int:
    """``--zone curated``: the Athena statements over the curated table, and its Glue registration."""
    from transform_core.lake.curated import catalog_settings, curated_layout
    from transform_core.lake.curated.athena import athena_statements, register_curated
    from transform_core.lake.curated.redshift import redshift_statements
    from transform_core.spec import load_spec

    spec = load_spec(args.spec)
    if args.format == "glue-json":
        raise ValueError("--format glue-json describes the raw zone; --register makes the curated table's Glue entry")
    if args.producer != "transform-core":
        raise ValueError("--producer describes the raw zone; the curated table is what compact wrote")
    settings = catalog_settings(kind=args.catalog, namespace=args.namespace, catalog_file=args.catalog_file)
    shape = {"database": args.database, "table": args.table}
    own = f"{settings.namespace}.{curated_layout(spec, settings.namespace).table}"
    named = f"{args.database}.{args.table or own.partition('.')[2]}"
    if settings.kind == "glue" and named.lower() != own.lower():  # compact --catalog glue named the Glue table
        raise ValueError(f"with --catalog glue the curated table is {own} in Glue (--namespace), not {named}")
    if args.format == "redshift":
        role = {"iam_role": args.iam_role or "default", "region": args.region}
        statements = redshift_statements(spec, args.location, namespace=settings.namespace, **role, **shape)
    else:
        statements = athena_statements(spec, args.location, namespace=settings.namespace, catalog=settings.kind, **shape)
    if args.format in {"ddl", "redshift"} or not args.register:
        print(statements)
    if args.register and settings.kind == "glue":
        print(f"{own} is in Glue already (compact --catalog glue): nothing to register", file=sys.stderr)
    elif args.register:
        endpoint = {"glue_endpoint_url": args.endpoint_url, "region": args.region}
        done = register_curated(spec, args.location, settings=settings, **endpoint, **shape)
        print(f"{done.action} table {done.table} ({done.metadata_location})", file=sys.stderr)
    return 0
