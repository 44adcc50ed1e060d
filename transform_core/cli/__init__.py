"""The ``transform-core`` command line: one subcommand per task.

Each subcommand imports what it needs (Polars, the engine) when it runs, so ``transform-core --help`` stays quick.
Errors transform-core raises on purpose (a bad spec, a missing file) print one line and exit with status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transform_core.errors import TransformCoreError

if TYPE_CHECKING:
    from transform_core.jobs.reprocess import ReprocessSummary

__all__ = ["build_parser", "main"]

_PROG = "transform-core"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except TransformCoreError as err:
        print(f"{_PROG}: error: {err}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="transform-core: validate, enrich and partition records for Kinesis Firehose (the Lambda transform step).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_demo(commands)
    _add_reprocess(commands)
    _add_spark_reprocess(commands)
    from transform_core.lake import catalog, compact, query  # each registers its own subcommand

    compact.add_command(commands)
    query.add_command(commands)
    catalog.add_command(commands)
    from transform_core.deploy import layer

    layer.add_command(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("transform-core")
    except PackageNotFoundError:
        return "(not installed)"


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="run synthetic IoT telemetry through the example pipeline and report",
        description=(
            "Generate IoT telemetry records (some invalid, drawn evenly from eight kinds of bad record), split them into "
            "Firehose-sized events, run each event through the pipeline, and print the outcome counts, the top rejection "
            "reasons, the date partitions hit and the throughput (generation excluded)."
        ),
    )
    demo.add_argument("--records", type=_positive_int, default=5000, metavar="N", help="records to generate (default: 5000)")
    demo.add_argument(
        "--invalid-fraction",
        type=_fraction,
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
        type=_positive_int,
        default=500,
        metavar="N",
        help="at most N records per Firehose event; events also stay within Firehose's 3 MB buffer (default: 500)",
    )
    demo.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
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


def _add_reprocess(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    )
    _add_job_options(
        job,
        inputs="files, globs, folders or s3://bucket/prefix URIs",
        spec="pipeline spec (YAML or JSON)",
        lake="lake root, a folder or s3://bucket/prefix (default: the spec's output.lake)",
        batch_size="records per pipeline call (default: 50000)",
    )
    job.add_argument("--workers", type=_positive_int, default=None, metavar="N", help="processes (default: one per core)")
    job.add_argument("--endpoint-url", metavar="URL", help="S3 endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)")
    job.add_argument("--quiet", action="store_true", help="no progress line")
    job.set_defaults(run=_run_reprocess)


def _run_reprocess(args: argparse.Namespace) -> int:
    from transform_core.jobs.reprocess import ReprocessOptions, reprocess

    options = ReprocessOptions(
        spec=args.spec,
        out=args.out,
        dry_run=args.dry_run,
        workers=args.workers or 0,
        batch_size=args.batch_size,
        kind=args.kind,
        endpoint_url=args.endpoint_url,
    )
    show = None if args.quiet or not sys.stderr.isatty() else _progress_line
    summary = reprocess(args.inputs, options, show)
    if show is not None:
        print(file=sys.stderr)
    _print_summary(summary, dry_run=args.dry_run)
    return 0


def _add_job_options(job: argparse.ArgumentParser, *, inputs: str, spec: str, lake: str, batch_size: str) -> None:
    """The options reprocess and spark-reprocess share: what to read, with which spec, where to write."""
    job.add_argument("inputs", nargs="+", metavar="INPUT", help=inputs)
    job.add_argument("--spec", required=True, metavar="PATH", help=spec)
    job.add_argument("--lake", "--out", dest="out", metavar="ROOT", help=lake)
    job.add_argument("--dry-run", action="store_true", help="validate and count only; write nothing")
    job.add_argument("--batch-size", type=_positive_int, default=50_000, metavar="N", help=batch_size)
    job.add_argument(
        "--kind",
        choices=["ndjson", "firehose-backup", "processing-failed", "errors"],
        help="input format for every file (default: detected per file from its first line)",
    )


def _print_summary(summary: ReprocessSummary, *, dry_run: bool) -> None:
    """A reprocessing run's counts, files, throughput and top rejection rules."""
    seconds = max(summary.seconds, 1e-9)
    print(f"files      {summary.files:>12,}")
    print(
        f"records    {summary.records:>12,}  ({summary.records / seconds:,.0f} records/s, {summary.nbytes / seconds / 1e6:,.1f} MB/s)"
    )
    print(f"ok         {summary.ok:>12,}")
    print(f"rejected   {summary.failed:>12,}")
    print(f"dropped    {summary.dropped:>12,}")
    print(f"written    {len(summary.written):>12,} files{'  (dry run: nothing written)' if dry_run else ''}")
    print(f"elapsed    {summary.seconds:>12.2f} s")
    if summary.reasons:
        print("top rejection rules")
        for rule, count in summary.reasons.most_common(10):
            print(f"  {count:>10,}  {rule}")


def _add_spark_reprocess(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    )
    _add_job_options(
        job,
        inputs="files, folders or Hadoop globs; local paths or URIs",
        spec="pipeline spec (YAML or JSON), a local file on the driver",
        lake="lake root: a folder, s3://bucket/prefix (s3a://, hdfs://, …) (default: the spec's output.lake)",
        batch_size="records per engine call and per input chunk; record ids depend on it, as in reprocess (default: 50000)",
    )
    job.add_argument(
        "--run-id",
        metavar="ID",
        help="names this run's output files (letters, digits, '.', '_', '=', '-'); default: a hash of the inputs, "
        "the spec path, --kind and --batch-size, so the same command replaces its own output",
    )
    job.add_argument(
        "--zone",
        choices=["raw", "curated"],
        default="raw",
        help="raw (default): write the raw zone; curated: then compact the partitions this run wrote into curated/ "
        "(dedupe, time order, one Spark task per partition; local or S3 lakes)",
    )
    job.add_argument(
        "--rows-per-file", type=_positive_int, default=250_000, metavar="N", help="most rows per Parquet file (default: 250000)"
    )
    job.add_argument(
        "--repartition",
        action="store_true",
        help="shuffle valid rows by date partition before writing: fewer, larger files (one writer per partition)",
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
        type=_setting,
        help="a Spark setting for the session (repeatable), e.g. spark.driver.memory=4g",
    )
    job.set_defaults(run=_run_spark_reprocess)


def _run_spark_reprocess(args: argparse.Namespace) -> int:
    from transform_core.engine import load_pipeline

    load_pipeline(args.spec)  # a bad spec fails in a second, before a JVM starts
    from transform_core.adapters.spark.job import SparkReprocessOptions, spark_reprocess, spark_session

    options = SparkReprocessOptions(
        spec=args.spec,
        lake=args.out,
        run_id=args.run_id,
        dry_run=args.dry_run,
        zone=args.zone,
        batch_size=args.batch_size,
        kind=args.kind,
        rows_per_file=args.rows_per_file,
        repartition=args.repartition,
    )
    spark = spark_session(args.master, dict(args.conf))
    run = spark_reprocess(spark, args.inputs, options)
    print(f"run id     {run.run_id:>12}")
    _print_summary(run.summary, dry_run=args.dry_run)
    if run.curated:
        compacted = sum(p.status == "compacted" for p in run.curated)
        print(f"curated    {len(run.curated):>12,} partitions ({compacted:,} compacted)")
    return 0


def _progress_line(progress: object) -> None:
    p: Any = progress
    rejected = p.failed / p.records if p.records else 0.0
    line = (
        f"\r[{p.files_done}/{p.files_total} files] {p.records:,} records  "
        f"{p.nbytes / max(p.seconds, 1e-9) / 1e6:,.1f} MB/s  rejected {rejected:.1%}  {p.seconds:.1f} s"
    )
    print(line, end="", file=sys.stderr, flush=True)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value
