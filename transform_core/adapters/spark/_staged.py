"""Executor side of ``spark-reprocess``: input files through the engine into the run's staging folder; counts out.

Each input file is read as ``reprocess`` reads it (same kinds, same ids; plain lines go to the engine as their
bytes) and written by the lake writer as ``reprocess`` writes: rows held across chunks, and here across the task's
files too (a task packs small inputs together), written as files of ``rows_per_file`` rows encoded by Polars. The
rows never pass through the JVM; Spark hands out the files and gets back one small table of counts per task
(:data:`COUNTS`). Each task writes below a folder of its own, ``<staging>/in-<hash of its first input's path>/``,
laid out as a lake (``raw/<table>/<partition>/``, ``errors/<table>/<date>/``), so no two tasks name the same file;
the driver moves them into the lake under the run's names. Rows and error lines carry the run id and the run's time
(``LakeWriter.write``'s ``lineage``), as Spark's writers give them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa

from transform_core.adapters.spark._bundle import PipelineBundle, load
from transform_core.adapters.spark._outcomes import FramePlan
from transform_core.jobs.chunk_results import count_chunk, lake_refusals, process_chunk
from transform_core.jobs.inputs import BlankReport, InputChunk, read_file_chunks
from transform_core.jobs.reprocess import ReprocessSummary
from transform_core.lake.storage import join, read_bytes
from transform_core.lake.writer import HeldRows, LakeWriter

__all__ = [
    "COUNTS",
    "COUNTS_DDL",
    "StagedWrite",
    "add_counts",
    "task_folder",
    "plain_path",
    "staged_counts",
    "storage_uri",
    "task_chunks",
]

#: One row per count a task makes: ``kind`` (records, ok, failed, dropped, blank, rule, missed), ``key`` (the
#: rule or the reference table, else null) and ``n``.
COUNTS = pa.schema([("kind", pa.string()), ("key", pa.string()), ("n", pa.int64())])
COUNTS_DDL = "kind string, key string, n bigint"  # the same, as Spark's mapInArrow takes it
_TOTALS = ("records", "ok", "failed", "dropped", "blank")  # the bytes are the files' as stored: the driver lists them


@dataclass(frozen=True, kw_only=True)
class StagedWrite:
    """Where and how the executors write; ``staging`` None: a dry run, which writes nothing."""

    staging: str | None  # the run's staging folder as lake.storage names it: a local path or s3://
    table: str
    rows_per_file: int
    chunk_size: int
    kind: str | None


def task_folder(staging: str, path: str) -> str:
    """The staging folder of the task whose first input file is ``path``: no two tasks share one."""
    return join(staging, "in-" + hashlib.sha256(path.encode()).hexdigest()[:20])


def staged_counts(
    bundle: PipelineBundle, plan: FramePlan, target: StagedWrite, batches: Iterable[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function: each ``(path[, content])`` row's records through the engine and, unless a dry
    run, into the lake writer under :func:`task_folder`; then the task's counts (:data:`COUNTS`). Without a
    ``content`` column the executor reads the file itself (:func:`storage_uri`): its bytes never pass the JVM."""
    loaded = load(bundle)
    summary = ReprocessSummary()

    def count_blank(_: str, lines: int) -> None:
        summary.blank += lines

    writer: LakeWriter | None = None
    held = HeldRows()  # across the task's files: many small inputs still make files of rows_per_file rows
    chunks = task_chunks(batches, chunk_size=target.chunk_size, kind=target.kind, on_blank=count_blank, as_bytes=True)
    for file, path, chunk in chunks:
        if writer is None and target.staging is not None:
            root = task_folder(target.staging, path)
            writer = LakeWriter(loaded.spec, root, table=target.table, rows_per_file=target.rows_per_file)
        result = process_chunk(loaded.pipeline, chunk.batch)
        if writer is None:
            refused = lake_refusals(loaded.rows, chunk.batch, result)
        else:
            # the file's number in the task keeps two inputs of the same content apart (their chunk ids agree)
            name, lineage = f"f{file}-{chunk.batch_id}", (plan.batch_id, plan.ingested_at)
            refused = list(writer.write(result, chunk.batch, batch_id=name, held=held, lineage=lineage).refused)
        count_chunk(summary, len(chunk.batch), chunk.nbytes, result, refused)
    if writer is not None:
        writer.flush(held)
    rows: list[tuple[str, str | None, int]] = [(kind, None, getattr(summary, kind)) for kind in _TOTALS]
    rows += [("rule", rule, n) for rule, n in summary.reasons.items()]
    rows += [("missed", table, n) for table, n in summary.enrich_missed.items()]
    yield pa.RecordBatch.from_pylist([dict(zip(COUNTS.names, row, strict=True)) for row in rows], schema=COUNTS)


def task_chunks(
    batches: Iterable[pa.RecordBatch], *, chunk_size: int, kind: str | None, on_blank: BlankReport, as_bytes: bool
) -> Iterator[tuple[int, str, InputChunk[Any]]]:
    """Each chunk of each ``(path[, content])`` row's file, read as ``reprocess`` reads it, with the file's number in
    the task and its path. Without a ``content`` column the executor reads the file itself (:func:`storage_uri`)."""
    file = 0
    for batch in batches:
        contents = batch.column("content") if "content" in batch.schema.names else None
        for i, path in enumerate(batch.column("path").to_pylist()):
            file += 1
            raw = contents[i].as_py() if contents is not None else read_bytes(str(storage_uri(path)))
            chunks = read_file_chunks(
                plain_path(path), raw, chunk_size=chunk_size, kind=kind, on_blank=on_blank, as_bytes=as_bytes
            )
            for chunk in chunks:
                yield file, path, chunk


def add_counts(rows: Iterable[tuple[str, str | None, int]], summary: ReprocessSummary) -> None:
    """Add the ``(kind, key, n)`` rows the tasks sent to the run's summary."""
    for kind, key, n in rows:
        if kind == "rule":
            summary.reasons[str(key)] += n
        elif kind == "missed":
            summary.enrich_missed[str(key)] += n
        else:
            setattr(summary, kind, getattr(summary, kind) + n)


def storage_uri(uri: str) -> str | None:
    """A file Spark listed, as :mod:`transform_core.lake.storage` reads it (a local path or ``s3://``), or None when
    only Spark's own filesystems reach it (HDFS, ADLS, …): then Spark reads the content for the executors."""
    scheme = urlsplit(uri).scheme
    if scheme in ("s3", "s3a", "s3n"):
        return "s3://" + uri.split("://", 1)[1]
    return plain_path(uri) if scheme in ("", "file") else None


def plain_path(uri: str) -> str:
    """A ``file:`` URI as a local path, as ``reprocess`` names files; other URIs as they are."""
    return unquote(urlsplit(uri).path) if uri.startswith("file:") else uri
