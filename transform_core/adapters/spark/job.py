"""``transform-core spark-reprocess``: archived records through a pipeline on Spark, into the lake, idempotent per run id.

1. Driver: the spec is loaded (a bad spec or table fails here, before any Spark work) and Spark's ``binaryFile``
   source lists the inputs.
2. Executors (:mod:`~transform_core.adapters.spark._staged`): each input file is read (by the executor itself when
   it is local or on S3, else by Spark) into records through :mod:`transform_core.jobs.inputs` (the kinds and record
   ids of ``transform-core reprocess``), each chunk goes through the engine, and the lake writer writes the Ok rows
   (Parquet, held across the task's chunks and files) and the rejections (JSON lines) into the run's staging
   folder, ``<lake>/_staging/spark-<table>-<run id>/in-<task>/``; only counts go back to the driver. A dry run
   counts and writes nothing.
3. Driver: the staged files are moved into the lake as ``part-<run id>-<n>.parquet`` and ``.ndjson``, files of an
   earlier attempt with the same run id that were not replaced are deleted, and the staging folder is removed.
4. ``zone="curated"``: driver: the raw partitions the run wrote are committed into the curated Iceberg table by
   :func:`~transform_core.lake.curated.compact`, in one snapshot (each partition read whole by the driver).

A lake outside local folders and S3 (HDFS, ADLS), or ``repartition``, takes Spark's own writers instead: the outcome
rows are persisted, counted by result and rule, and written with ``partitionBy`` (Parquet, ZSTD) and as JSON lines
into ``<staging>/raw`` and ``<staging>/errors``, then moved as in 3.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Literal
from urllib.parse import urlsplit

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from transform_core.adapters.spark._apply import SparkOutcomes, outcome_schema
from transform_core.adapters.spark._bundle import PipelineBundle, bundle_pipeline
from transform_core.adapters.spark._hadoop import HadoopFiles
from transform_core.adapters.spark._outcomes import BLANK, BLANK_LINES, MISSED, RESULT, RULE, FramePlan, OutcomeRun
from transform_core.adapters.spark._staged import (
    COUNTS_DDL,
    StagedWrite,
    add_counts,
    plain_path,
    staged_counts,
    storage_uri,
    task_chunks,
)
from transform_core.engine import load_pipeline
from transform_core.firehose.outcomes import DROPPED, FAILED, OK
from transform_core.jobs.inputs import InputError
from transform_core.jobs.reprocess import ReprocessSummary
from transform_core.lake.curated import CatalogSettings, PartitionSummary, compact
from transform_core.lake.curated.catalogs import check_catalog
from transform_core.spec import PipelineSpec

__all__ = ["SparkReprocessOptions", "SparkRun", "default_run_id", "spark_reprocess", "spark_session"]

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=-]{0,199}")  # as the lake writer's batch ids: it names files
_STAGED = (("raw", ".parquet", ".parquet"), ("errors", ".json", ".ndjson"))  # zone, Spark's suffix, the lake's
#: Rows of the binaryFile source per Arrow batch handed to Python: each row is a whole input file, so one file a batch
#: lets the engine start on a task's first file while the JVM reads the next, and holds one file at a time in memory,
#: not the whole split (128 MB by default). The engine's batch is ``chunk_size`` records, cut from the file in Python.
FILES_PER_ARROW_BATCH = 1
#: Parquet files a write task keeps open at once, one per date partition: a task's rows seldom span more days, and
#: each open file buffers at most its row group (the task's output, in sum).
CONCURRENT_WRITERS = 16


@dataclass(frozen=True, kw_only=True)
class SparkReprocessOptions:
    """What to run and where to write; the defaults are those of ``transform-core reprocess``."""

    spec: str
    lake: str | None = None  # lake root (local folder, s3://, s3a://, hdfs://, …); default: the spec's output.lake
    run_id: str | None = None  # names the output files; default: default_run_id(inputs, options)
    dry_run: bool = False  # count only, write nothing
    zone: Literal["raw", "curated"] = "raw"  # curated: also commit the partitions the run wrote to the curated table
    catalog: CatalogSettings | None = None  # the curated table's catalog; None: the SQL catalog in the lake
    chunk_size: int = 50_000  # records per engine call, as in reprocess (record ids do not depend on it)
    kind: str | None = None  # force the input kind (ndjson, firehose-backup, processing-failed, errors)
    rows_per_file: int = 250_000
    repartition: bool = False  # Spark's writers, Ok rows shuffled by partition first: one writer (fewer files) a partition


@dataclass(frozen=True, kw_only=True)
class SparkRun:
    """What a run came to: its id, the counts and files, the curated partitions it compacted and the table's snapshot."""

    run_id: str
    summary: ReprocessSummary
    curated: tuple[PartitionSummary, ...] = ()
    curated_snapshot: int | None = None


def spark_reprocess(spark: SparkSession, inputs: Sequence[str], options: SparkReprocessOptions) -> SparkRun:
    """Run every record of ``inputs`` through the pipeline on ``spark``; write the lake unless ``dry_run``.

    Args:
        spark: the session (``GlueContext.spark_session`` on Glue).
        inputs: files, folders (read recursively) and Hadoop globs, local or on any filesystem Spark reaches.

    Raises:
        SpecError: the spec or a reference table is invalid (before any Spark work), or no lake root.
        InputError: an input does not exist or matches no file.
        ValueError: a run id or table name that is not a plain name, or ``zone="curated"`` on a lake outside local
            folders and S3.
        ConfigurationEnvironmentError: ``zone="curated"`` on an ``s3://`` lake with the SQL catalog and no catalog file.
    """
    started = time.perf_counter()
    pipeline = load_pipeline(options.spec)
    spec = pipeline.spec
    paths = [_absolute(path) for path in inputs]
    run_id = options.run_id or default_run_id(paths, options)
    if not _RUN_ID.fullmatch(run_id):
        raise ValueError(f"run id must be a plain name (letters, digits, '.', '_', '=', '-'), got {run_id!r}")
    table = spec.name.replace("-", "_")  # the lake writer's table name
    if not _RUN_ID.fullmatch(table):
        raise ValueError(f"the table name {table!r} (from the spec's name) must be a plain name to name folders")
    root = _absolute(spec.lake_root(options.lake, needed_by="spark-reprocess"))
    if options.zone == "curated" and not options.dry_run:
        check_catalog(_storage_root(root), options.catalog)  # fail now, not after the raw write
    bundle = bundle_pipeline(pipeline)
    settings = {
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(FILES_PER_ARROW_BATCH),
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # as the lake writer (Spark's default is INT96)
        # a task writes its date partitions side by side (a writer each, up to CONCURRENT_WRITERS, then Spark sorts the
        # rest) rather than sorting all its rows by partition first: the planned write would add that sort
        "spark.sql.optimizer.plannedWrite.enabled": "false",
        "spark.sql.maxConcurrentOutputFileWriters": str(CONCURRENT_WRITERS),
    }
    with _session_conf(spark, settings):
        files = _read_files(spark, paths)
        listing = files.select("path", "length").collect()  # binaryFile reads no content for this
        if not listing:
            raise InputError("matches no input file", file=", ".join(inputs))
        summary = ReprocessSummary(files=len(listing), nbytes=sum(row["length"] for row in listing))
        summary.enrich_missed.update({table.name: 0 for table in spec.enrich if table.on_missing == "keep"})
        now = datetime.now(UTC)
        plan = FramePlan(base64=True, batch_id=run_id, ingested_at=now)
        partitions: list[str] = []
        if options.dry_run or _executors_write(root, options):
            summary.written, partitions = _staged_run(spark, files, listing, bundle, plan, root, table, options, summary)
        else:
            # reading and processing in one Python stage: records never make a round trip through the JVM
            lake, schema = outcome_schema(pipeline)
            read = partial(_file_outcomes, bundle, plan, options.chunk_size, options.kind)
            frame = files.select("path", "content").mapInArrow(read, schema).persist(StorageLevel.MEMORY_AND_DISK)
            outcomes = SparkOutcomes(frame=frame, lake_columns=tuple(lake.dtypes), partition_keys=lake.partition_keys)
            try:  # the count and both writes read the outcomes once computed
                _count(outcomes, summary)
                summary.written, partitions = _write(spark, outcomes, spec, root, table, run_id, now, options)
            finally:
                outcomes.frame.unpersist()
    run = SparkRun(run_id=run_id, summary=summary)
    if options.zone == "curated" and partitions:
        # the driver commits: one snapshot for the run, each raw partition read whole (as transform-core compact)
        done = compact(spec, _storage_root(root), partitions=partitions, catalog=options.catalog)
        run = SparkRun(run_id=run_id, summary=summary, curated=done.partitions, curated_snapshot=done.snapshot_id)
    summary.seconds = time.perf_counter() - started
    return run


def spark_session(master: str | None = None, conf: Mapping[str, str] | None = None) -> SparkSession:
    """The active session, or a new one with ``master`` and ``conf``.

    A local master started from here runs its Python workers on this interpreter (Spark's default is ``python3`` on
    PATH, which may not have transform-core); under spark-submit, the submitted settings decide.
    """
    builder = SparkSession.builder.appName("transform-core spark-reprocess")
    if master:
        builder = builder.master(master)
    started_here = "PYSPARK_GATEWAY_PORT" not in os.environ  # spark-submit starts the JVM itself and sets it
    if started_here and (master or "local").startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        os.environ["PYSPARK_PYTHON"] = sys.executable  # read when the context starts (the spark.pyspark.python conf is not)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def default_run_id(inputs: Sequence[str], options: SparkReprocessOptions) -> str:
    """``run-`` and a hash of the inputs, the spec's path and the read options: the same command, the same files.

    The spec's path, not its content: rerunning after a fix to the spec or a table replaces the earlier run's output.
    """
    identity = [sorted(_absolute(path) for path in inputs), _absolute(options.spec), options.kind, options.chunk_size]
    return "run-" + hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]


def _read_files(spark: SparkSession, paths: list[str]) -> DataFrame:
    try:
        return spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(paths)
    except AnalysisException as err:
        raise InputError(str(err).splitlines()[0], file=", ".join(paths)) from err


def _file_outcomes(
    bundle: PipelineBundle, plan: FramePlan, chunk_size: int, kind: str | None, batches: Iterable[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """Executors: each file's records, read as ``reprocess`` reads them (same kinds, same ids), through the engine;
    then a row counting the blank lines the files held, if any."""
    run = OutcomeRun(bundle, plan)
    blank: list[int] = []
    chunks = task_chunks(batches, chunk_size=chunk_size, kind=kind, on_blank=lambda _, n: blank.append(n), as_bytes=False)
    for _, _, chunk in chunks:
        yield from run.arrow(chunk.batch)
    if sum(blank):
        yield from run.blank_lines(sum(blank))


def _executors_write(root: str, options: SparkReprocessOptions) -> bool:
    """Whether the executors write the run's files themselves (:mod:`~transform_core.adapters.spark._staged`): into
    a local or S3 lake, unless the rows are to be shuffled by partition first (``repartition``)."""
    return not options.repartition and storage_uri(root) is not None


def _staged_run(
    spark: SparkSession,
    files: DataFrame,
    listing: list[Row],
    bundle: PipelineBundle,
    plan: FramePlan,
    root: str,
    table: str,
    options: SparkReprocessOptions,
    summary: ReprocessSummary,
) -> tuple[list[str], list[str]]:
    """The executors read, process and (unless a dry run) write each input file into the run's staging folder, and
    send back counts; the driver adds them up and moves the staged files into the lake. The files written and the raw
    partitions."""
    hadoop = None if options.dry_run else HadoopFiles(spark, root)
    staging = _staging(root, table, plan.batch_id)
    if hadoop is not None:
        hadoop.delete(staging, recursive=True)  # a dead attempt's leftovers
    target = StagedWrite(
        staging=None if options.dry_run else _storage_root(staging),
        table=table,
        rows_per_file=options.rows_per_file,
        chunk_size=options.chunk_size,
        kind=options.kind,
    )
    # the executors read local and S3 files themselves; Spark reads the others for them
    columns = ["path"] if all(storage_uri(row["path"]) is not None for row in listing) else ["path", "content"]
    counted = files.select(*columns).mapInArrow(partial(staged_counts, bundle, plan, target), COUNTS_DDL).collect()
    add_counts(((row["kind"], row["key"], int(row["n"])) for row in counted), summary)
    if hadoop is None:
        return [], []
    written, partitions = _commit(hadoop, staging, root, table, plan.batch_id, from_executors=True)
    hadoop.delete(staging, recursive=True)
    return written, partitions


def _staging(root: str, table: str, run_id: str) -> str:
    return f"{root.rstrip('/')}/_staging/spark-{table}-{run_id}"  # "_": no reader of the lake looks in there


def _count(outcomes: SparkOutcomes, summary: ReprocessSummary) -> None:
    """One action computes (and persists) every outcome; the counts by result, rule and tables missed come back, and
    the blank lines skipped."""
    counted = outcomes.frame.groupBy(RESULT, RULE, MISSED).agg(F.count(F.lit(1)).alias("n"), F.sum(BLANK_LINES).alias("blank"))
    for row in counted.collect():
        count = int(row["n"])
        if row[RESULT] == BLANK:  # not records
            summary.blank += int(row["blank"])
            continue
        summary.records += count
        if row[RESULT] == OK:
            summary.ok += count
            summary.enrich_missed.update(dict.fromkeys(row[MISSED] or (), count))
        elif row[RESULT] == DROPPED:
            summary.dropped += count
        elif row[RESULT] == FAILED:
            summary.failed += count
            summary.reasons[row[RULE]] += count


def _write(
    spark: SparkSession,
    outcomes: SparkOutcomes,
    spec: PipelineSpec,
    root: str,
    table: str,
    run_id: str,
    now: datetime,
    options: SparkReprocessOptions,
) -> tuple[list[str], list[str]]:
    """Write the run to its staging folder, then move it into the lake; the files written and the raw partitions."""
    files = HadoopFiles(spark, root)
    staging = _staging(root, table, run_id)
    files.delete(staging, recursive=True)  # a dead attempt's leftovers
    valid = outcomes.valid
    if options.repartition:
        valid = valid.repartition(*outcomes.partition_keys)
    parquet = valid.write.mode("overwrite").partitionBy(*outcomes.partition_keys).option("compression", "zstd")
    parquet.option("maxRecordsPerFile", options.rows_per_file).parquet(f"{staging}/raw")
    errors = outcomes.rejected.select(
        F.col("record_id").alias("recordId"),
        F.col("arrival_ms").alias("approximateArrivalTimestamp"),
        F.col("raw_data").alias("rawData"),
        F.col("reason"),
        F.col("reasons"),
        F.lit(spec.name).alias("specName"),
        F.lit(spec.version).alias("specVersion"),
        F.lit(run_id).alias("batchId"),
        F.lit(now.isoformat().replace("+00:00", "Z")).alias("errorTimestamp"),
        *(F.lit(f"{now:%Y}").alias("year"), F.lit(f"{now:%m}").alias("month"), F.lit(f"{now:%d}").alias("day")),
    )
    # the lines of the lake writer's errors/ files, in the folder of the run's date; rejections are few: one writer,
    # after a shuffle (coalesce(1) would scan every cached outcome row in that one task)
    lines = errors.repartition(1).write.mode("overwrite").partitionBy("year", "month", "day").option("ignoreNullFields", "false")
    lines.option("maxRecordsPerFile", options.rows_per_file).json(f"{staging}/errors")
    written, partitions = _commit(files, staging, root, table, run_id)
    files.delete(staging, recursive=True)
    return written, partitions


def _commit(
    files: HadoopFiles, staging: str, root: str, table: str, run_id: str, *, from_executors: bool = False
) -> tuple[list[str], list[str]]:
    """Move the staged files into the lake under the run's names; remove the run's earlier files that were not
    replaced. ``from_executors``: staged by the executors, a lake layout per input (else by Spark's writers)."""
    written: list[str] = []
    partitions: list[str] = []
    for zone, staged_suffix, suffix in _STAGED:
        lake_root = files.qualify(f"{root.rstrip('/')}/{zone}/{table}")
        mine = re.compile(rf"part-{re.escape(run_id)}-[0-9]+{re.escape(suffix)}")
        earlier = {path for path in files.list(lake_root) if mine.fullmatch(path.rsplit("/", 1)[-1])}
        if from_executors:
            folders = _staged_by_executors(files, staging, zone, table, suffix)
        else:
            folders = _staged_by_spark(files, staging, zone, staged_suffix)
        for folder, staged in sorted(folders.items()):
            for n, path in enumerate(sorted(staged)):
                dest = f"{lake_root}/{folder}/part-{run_id}-{n}{suffix}"
                files.move(path, dest)
                written.append(dest)
                earlier.discard(dest)
        for stale in sorted(earlier):
            files.delete(stale)
        if zone == "raw":
            partitions = sorted(folders)
    return [plain_path(path) for path in written], partitions


def _staged_by_spark(files: HadoopFiles, staging: str, zone: str, suffix: str) -> dict[str, list[str]]:
    """Partition folder → the files Spark's writers staged there: ``<staging>/<zone>/<folder>/part-….<suffix>``."""
    staged_root = files.qualify(f"{staging}/{zone}")
    folders: dict[str, list[str]] = {}
    for path in files.list(staged_root):
        if path.endswith(suffix):
            folders.setdefault(path.removeprefix(staged_root + "/").rpartition("/")[0], []).append(path)
    return folders


def _staged_by_executors(files: HadoopFiles, staging: str, zone: str, table: str, suffix: str) -> dict[str, list[str]]:
    """Partition folder → the files the executors staged there: ``<staging>/in-…/<zone>/<table>/<folder>/part-…``."""
    staged_root = files.qualify(staging)
    folders: dict[str, list[str]] = {}
    for path in files.list(staged_root):
        parts = path.removeprefix(staged_root + "/").split("/", 3)
        if len(parts) == 4 and parts[0].startswith("in-") and parts[1:3] == [zone, table] and path.endswith(suffix):
            folders.setdefault(parts[3].rpartition("/")[0], []).append(path)
    return folders


def _absolute(path: str) -> str:
    """Local paths absolute (Spark would resolve them against its own working folder); URIs as they are."""
    return path if "://" in path or path.startswith("file:") else os.path.abspath(path)


def _storage_root(root: str) -> str:
    """The lake root as :mod:`transform_core.lake.storage` (the compactor) names it: a local path or ``s3://``."""
    found = storage_uri(root)
    if found is None:
        scheme = urlsplit(root).scheme
        raise ValueError(f"the curated zone is written through local folders and S3 only, not {scheme}:// ({root})")
    return found


@contextlib.contextmanager
def _session_conf(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """Set SQL settings for the job, then put the caller's values back."""
    before = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in before.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)
