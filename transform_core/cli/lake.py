"""``transform-core compact``, ``expire`` and ``catalog``: the lake's curated Iceberg table and its Glue table; ``query``
(SQL over the lake) is registered with them, from :mod:`.query`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from transform_core.cli import query
from transform_core.cli.arguments import (
    PROG,
    add_catalog_options,
    add_endpoint_option,
    catalog_options,
    plural,
    print_error,
)

if TYPE_CHECKING:
    from transform_core.cli.arguments import Commands

__all__ = ["add_commands"]

_SHOWN = 20  # refused records compact names one by one


def add_commands(commands: Commands) -> None:
    """Register ``compact``, ``expire``, ``query`` and ``catalog``."""
    _add_compact(commands)
    _add_expire(commands)
    query.add_command(commands)
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
        epilog=(
            "examples:\n"
            "  transform-core compact --spec examples/iot/pipeline.yaml\n"
            "  transform-core compact --spec pipeline.yaml --partition year=2026/month=11/day=24 --key event_id\n"
            "  transform-core compact --spec pipeline.yaml --lake s3://my-lake --catalog glue --namespace telemetry"
        ),
    )
    job.add_argument("--spec", required=True, metavar="PATH", help="pipeline spec (YAML or JSON)")
    job.add_argument("--lake", metavar="ROOT", help="lake root, a folder or s3://bucket/prefix (default: the spec's output.lake)")
    job.add_argument(
        "--key",
        metavar="COLUMNS",
        help="the columns naming a record, comma-separated (default: the spec's curated.key, else event_id or id if "
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
        line = f"{p.status:<10} {p.partition}  {plural(p.raw_files, 'raw file')}"
        if p.status == "compacted":
            line += f", {p.raw_rows or 0:,} → {plural(p.rows or 0, 'row')}, {plural(p.files or 0, 'data file')}"
        if p.refused:
            line += f", {plural(len(p.refused), 'record')} refused"
        print(line)
    unchanged = sum(p.status == "unchanged" for p in summary.partitions)
    snapshot = f"snapshot {summary.snapshot_id}" if summary.snapshot_id is not None else "no snapshot yet"
    state = "committed" if summary.committed else "nothing to commit"
    problems = sum(p.status == "problem" for p in summary.partitions)
    print(
        f"{plural(len(summary.partitions), 'partition')}, {summary.compacted:,} compacted, {unchanged:,} unchanged"
        + (f", {problems:,} left out by a problem" if problems else "")
        + f", {plural(summary.rows, 'row')} written, {plural(summary.duplicates, 'duplicate')} removed"
        + (f", {plural(len(summary.refused), 'record')} refused" if summary.refused else "")
    )
    print(f"{summary.table} {snapshot} ({state})")
    for refusal in summary.refused[:_SHOWN]:  # kept in the raw zone, as delivered; never in the table
        print(f"refused {refusal.record_id}: {refusal.reason}", file=sys.stderr)
    if len(summary.refused) > _SHOWN:
        print(f"refused: {plural(len(summary.refused) - _SHOWN, 'more record')}", file=sys.stderr)
    for problem in summary.problems:
        print(f"{PROG} compact: {problem.file}: {problem.reason}", file=sys.stderr)
    if summary.problems:
        return print_error(
            f"{problems:,} of {plural(len(summary.partitions), 'partition')} not compacted (the table keeps what it had "
            "for them): fix the files named above, or move them out of raw/, and run again",
            command="compact",
        )
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
    print(f"{summary.table}: {plural(len(summary.expired), 'snapshot')} {would}expired, {len(summary.kept):,} kept ({current})")
    print(
        f"{plural(len(summary.orphans), 'unreferenced file')} {would}deleted ({summary.orphan_bytes:,} bytes), "
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
