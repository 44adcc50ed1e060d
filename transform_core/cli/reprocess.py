"""``transform-core reprocess`` and ``spark-reprocess``: archived or failed records through a pipeline into the lake."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from transform_core.cli.arguments import (
    PROG,
    add_catalog_options,
    add_endpoint_option,
    add_job_options,
    catalog_options,
    fraction,
    plural,
    positive_int,
    print_error,
    setting,
)

if TYPE_CHECKING:
    from transform_core.cli.arguments import Commands
    from transform_core.jobs.reprocess import Progress, ReprocessSummary

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Register ``reprocess`` and ``spark-reprocess``."""
    _add_reprocess(commands)
    _add_spark_reprocess(commands)


def _add_reprocess(commands: Commands) -> None:
    job = commands.add_parser(
        "reprocess",
        help="run archived or failed records through a pipeline into the lake",
        description=(
            "Read records from NDJSON files (plain or gzip), Firehose S3 backups, Firehose processing-failed/ error files "
            "or transform-core's own errors/ output — local files, globs, folders or s3:// prefixes — run them through the "
            "pipeline on every core, and write valid records as date-partitioned Parquet and rejected ones to errors/. "
            "Output file names come from each input's identity, so running the same command again overwrites instead of "
            "duplicating."
        ),
        epilog=(
            "examples:\n"
            "  transform-core reprocess --spec examples/iot/pipeline.yaml --dry-run records.ndjson\n"
            "  transform-core reprocess --spec pipeline.yaml --lake my-lake 'archive/2026/11/*.gz' --max-reject-rate 0.05\n"
            "  transform-core reprocess --spec pipeline.yaml --lake s3://my-lake s3://my-bucket/processing-failed/2026/11/"
        ),
    )
    add_job_options(
        job,
        inputs="files, globs, folders or s3://bucket/prefix URIs",
        spec="pipeline spec (YAML or JSON)",
        lake="lake root, a folder or s3://bucket/prefix (default: the spec's output.lake)",
        chunk_size="records per chunk, each one pipeline call (default: 50000)",
    )
    job.add_argument("--workers", type=positive_int, default=None, metavar="N", help="processes (default: one per core)")
    add_endpoint_option(job)
    job.add_argument("--quiet", action="store_true", help="no progress line")
    _add_max_reject_rate(job)
    job.add_argument(
        "--report",
        metavar="FILE",
        help="list every rejected record in FILE, one row each: source, line, record_id, rule, path, message and all the "
        "rules it fails; NDJSON (.ndjson, .jsonl) or CSV (.csv), a local path or s3:// URI; dropped records are not "
        "listed. Works with --dry-run",
    )
    job.add_argument("--report-format", choices=["ndjson", "csv"], help="the report's format (default: from its extension)")
    job.set_defaults(run=_run_reprocess)


def _run_reprocess(args: argparse.Namespace) -> int:
    from transform_core.jobs.reprocess import ReprocessOptions, reprocess

    report = None
    if args.report is not None:
        from transform_core.jobs.report import ReportTarget, check_destination, report_format

        check_destination(args.report)  # before the run, not after it
        report = ReportTarget(args.report, report_format(args.report, args.report_format))
    elif args.report_format is not None:
        return print_error("--report-format needs --report FILE", command="reprocess")
    options = ReprocessOptions(
        spec=args.spec,
        out=args.out,
        dry_run=args.dry_run,
        workers=args.workers or 0,
        chunk_size=args.chunk_size,
        kind=args.kind,
        endpoint_url=args.endpoint_url,
        report=report,
    )
    show = None if args.quiet or not sys.stderr.isatty() else _progress_line
    summary = reprocess(args.inputs, options, show)
    if show is not None:
        print(file=sys.stderr)
    _print_summary(summary, dry_run=args.dry_run)
    if report is not None:
        print(
            f"report     {summary.reported:>12,} rejected {'record' if summary.reported == 1 else 'records'} listed in {report.dest}"
        )
    return _verdict(summary, args.max_reject_rate)


def _verdict(summary: ReprocessSummary, max_reject_rate: float | None, command: str = "reprocess") -> int:
    """Say on stderr, one line each, what the counts alone may hide; returns the exit status."""
    warning = f"{PROG} {command}: warning:"
    if summary.empty:
        print(
            f"{warning} {plural(len(summary.empty), 'input file')} held no records (nothing, or blank lines only): {_names(summary.empty)}",
            file=sys.stderr,
        )
    if summary.all_rejected:
        print(
            f"{warning} every record of {plural(len(summary.all_rejected), 'input file')} was rejected (top rules above): "
            f"{_names(summary.all_rejected)}",
            file=sys.stderr,
        )
    errors = []
    if summary.problems:
        errors.append(
            f"{plural(len(summary.problems), 'input file')} not read in full (listed above): fix the cause and run the "
            "same command again (what they wrote is replaced)"
        )
    rate = summary.failed / summary.records if summary.records else 0.0
    if max_reject_rate is not None and rate > max_reject_rate:
        errors.append(
            f"{rate:.1%} of the records were rejected ({summary.failed:,} of {summary.records:,}), more than "
            f"--max-reject-rate {max_reject_rate:g}"
        )
    return print_error("; ".join(errors), command=command) if errors else 0


def _names(files: list[str], shown: int = 3) -> str:
    more = f" and {len(files) - shown:,} more" if len(files) > shown else ""
    return ", ".join(files[:shown]) + more


def _add_spark_reprocess(commands: Commands) -> None:
    job = commands.add_parser(
        "spark-reprocess",
        help="reprocess on Spark (Glue, EMR, Databricks or local): inputs through a pipeline into the lake",
        description=(
            "The reprocess job on Spark, for backfills larger than one machine. Spark's binaryFile source lists and reads "
            "the inputs (NDJSON, gzip, Firehose S3 backups, processing-failed/ or errors/ files: local, s3://, s3a://, "
            "hdfs://, folders read recursively, Hadoop globs); every executor runs the same engine on Arrow batches "
            "(mapInArrow). Valid records go to <lake>/raw/<table>/year=/month=/day=/ as Parquet written with partitionBy, "
            "rejections to <lake>/errors/<table>/ as NDJSON. Output files are named part-<run id>-<n>: running again with "
            "the same run id replaces that run's files (and removes those it no longer writes), other runs' files are "
            "never touched. Needs the spark extra (pip install 'transform-core[spark]') and Java 17. Run it directly "
            "(--master, default local[*]) or through spark-submit. See docs/spark.md."
        ),
        epilog=(
            "examples:\n"
            "  transform-core spark-reprocess --spec examples/iot/pipeline.yaml --master 'local[2]' --dry-run records.ndjson\n"
            "  transform-core spark-reprocess --spec pipeline.yaml --lake s3://my-lake --zone curated \\\n"
            "      --catalog-file iceberg.db s3://my-bucket/backup/2026/"
        ),
    )
    add_job_options(
        job,
        inputs="files, folders or Hadoop globs; local paths or URIs",
        spec="pipeline spec (YAML or JSON), a local file on the driver",
        lake="lake root: a folder, s3://bucket/prefix (s3a://, hdfs://, …) (default: the spec's output.lake)",
        chunk_size="records per input chunk, each one engine call, as in reprocess (default: 50000)",
    )
    job.add_argument(
        "--run-id",
        metavar="ID",
        help="names this run's output files (letters, digits, '.', '_', '=', '-'); default: a hash of the inputs, "
        "the spec path, --kind and --chunk-size, so the same command replaces its own output",
    )
    job.add_argument(
        "--zone",
        choices=["raw", "curated"],
        default="raw",
        help="raw (default): write the raw zone; curated: then commit the partitions this run wrote into the curated "
        "Iceberg table (dedupe, time order; on the driver, as transform-core compact; local or S3 lakes)",
    )
    add_catalog_options(job)
    job.add_argument(
        "--rows-per-file", type=positive_int, default=250_000, metavar="N", help="most rows per Parquet file (default: 250000)"
    )
    job.add_argument(
        "--repartition",
        action="store_true",
        help="write with Spark's own writers, valid rows shuffled by date partition first: fewer, larger files when many "
        "small inputs touch the same days, at the cost of the rows passing through the JVM",
    )
    job.add_argument(
        "--master",
        metavar="URL",
        help="Spark master, e.g. local[2] (default: spark-submit's, else local[*]); local masters run executors on this Python",
    )
    job.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=setting,
        help="a Spark setting for the session (repeatable), e.g. spark.driver.memory=4g",
    )
    _add_max_reject_rate(job)
    job.set_defaults(run=_run_spark_reprocess)


def _add_max_reject_rate(job: argparse.ArgumentParser) -> None:
    job.add_argument(
        "--max-reject-rate",
        type=fraction,
        metavar="FRACTION",
        help="exit with status 1 when more than this share of the records read is rejected, e.g. 0.05 (default: any)",
    )


def _run_spark_reprocess(args: argparse.Namespace) -> int:
    from transform_core.engine import load_pipeline

    load_pipeline(args.spec)  # a bad spec fails in a second, before a JVM starts
    _check_local_inputs(args.inputs)  # and so does a missing input
    from transform_core.adapters.spark.job import SparkReprocessOptions, spark_reprocess, spark_session

    options = SparkReprocessOptions(
        spec=args.spec,
        lake=args.out,
        run_id=args.run_id,
        dry_run=args.dry_run,
        zone=args.zone,
        chunk_size=args.chunk_size,
        kind=args.kind,
        rows_per_file=args.rows_per_file,
        repartition=args.repartition,
        catalog=catalog_options(args),
    )
    spark = spark_session(args.master, dict(args.conf))
    try:
        run = spark_reprocess(spark, args.inputs, options)
    except ValueError as err:  # a run id or a table name that cannot name files
        return print_error(err, command="spark-reprocess")
    print(f"run id     {run.run_id:>12}")
    _print_summary(run.summary, dry_run=args.dry_run)
    if run.curated:
        compacted = sum(p.status == "compacted" for p in run.curated)
        partitions = "partition" if len(run.curated) == 1 else "partitions"
        print(f"curated    {len(run.curated):>12,} {partitions} ({compacted:,} compacted), snapshot {run.curated_snapshot}")
    return _verdict(run.summary, args.max_reject_rate, "spark-reprocess")


def _check_local_inputs(inputs: list[str]) -> None:
    """Local inputs (paths, ``file:`` URIs) exist and globs match, as reprocess lists them; other URIs and Hadoop's
    ``{a,b}`` globs are Spark's to list.

    Raises:
        InputError: an input is missing or matches no file.
    """
    from urllib.parse import unquote, urlsplit

    from transform_core.jobs.inputs import list_inputs

    paths = [unquote(urlsplit(path).path) if path.startswith("file:") else path for path in inputs]
    list_inputs([path for path in paths if "://" not in path and "{" not in path])


def _print_summary(summary: ReprocessSummary, *, dry_run: bool) -> None:
    """A reprocessing run's counts, files, throughput and top rejection rules, on stdout."""
    seconds = max(summary.seconds, 1e-9)
    print(f"files      {summary.files:>12,}")
    print(
        f"records    {summary.records:>12,}  ({summary.records / seconds:,.0f} records/s, {summary.nbytes / seconds / 1e6:,.1f} MB/s)"
    )
    print(f"ok         {summary.ok:>12,}")
    print(f"rejected   {summary.failed:>12,}")
    print(f"dropped    {summary.dropped:>12,}")
    if summary.blank:
        print(f"blank      {summary.blank:>12,} {'line' if summary.blank == 1 else 'lines'} skipped (whitespace only)")
    if summary.enrich_missed:
        tables = ", ".join(f"{table} {n:,}" for table, n in summary.enrich_missed.items())
        print(f"unenriched {summary.enrich_missed.total():>12,} of the ok records, their fields null: {tables}")
    print(
        f"written    {len(summary.written):>12,} {_files(len(summary.written))}{'  (dry run: nothing written)' if dry_run else ''}"
    )
    if summary.replaced:
        print(f"replaced   {len(summary.replaced):>12,} {_files(len(summary.replaced))} of earlier runs over the same inputs")
    print(f"elapsed    {summary.seconds:>12.2f} s")
    if summary.reasons:
        print("top rejection rules")
        for rule, count in summary.reasons.most_common(10):
            print(f"  {count:>10,}  {rule}")
    if summary.problems:
        print(f"{len(summary.problems):,} {_files(len(summary.problems))} not read in full (what was read is counted above)")
        for file, problem in summary.problems:
            print(f"  {file}: {problem}")


def _files(n: int) -> str:
    return "file" if n == 1 else "files"


def _progress_line(p: Progress) -> None:
    """Rewrite the one progress line on stderr: files done, records, throughput, rejected share, seconds."""
    rejected = p.failed / p.records if p.records else 0.0
    line = (
        f"\r[{p.files_done}/{p.files_total} files] {p.records:,} records  "
        f"{p.nbytes / max(p.seconds, 1e-9) / 1e6:,.1f} MB/s  rejected {rejected:.1%}  {p.seconds:.1f} s"
    )
    print(line, end="", file=sys.stderr, flush=True)
