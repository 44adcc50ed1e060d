"""Batch reprocessing: archived or failed records through the pipeline into the lake, on every core.

Input files (see :mod:`transform_core.jobs.inputs`) are shared out to worker processes, one file at a
time; each worker loads the pipeline once, runs every chunk through it and writes the results with
the :class:`~transform_core.lake.LakeWriter`. File names derive from each chunk's input identity,
so running the same command again rewrites the same files instead of adding duplicates.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any

__all__ = ["Progress", "ReprocessOptions", "ReprocessSummary", "reprocess"]


@dataclass(frozen=True, slots=True)
class ReprocessOptions:
    """What to run and where to write."""

    spec: str
    out: str | None = None  # lake root; default: the spec's output.lake
    dry_run: bool = False  # validate only, write nothing
    workers: int = 0  # processes; 0 = one per core
    chunk_size: int = 50_000  # larger chunks, fewer (and larger) Parquet files per partition
    kind: str | None = None  # force the input kind (ndjson, firehose-backup, processing-failed, errors)
    endpoint_url: str | None = None  # S3 endpoint override


@dataclass(slots=True)
class Progress:
    """Running totals, passed to the progress callback after every chunk."""

    files_total: int
    files_done: int = 0
    records: int = 0
    failed: int = 0
    nbytes: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


@dataclass(slots=True)
class ReprocessSummary:
    """What a run came to."""

    files: int = 0
    records: int = 0
    ok: int = 0
    failed: int = 0
    dropped: int = 0
    nbytes: int = 0
    written: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, other: ReprocessSummary) -> None:
        self.files += other.files
        self.records += other.records
        self.ok += other.ok
        self.failed += other.failed
        self.dropped += other.dropped
        self.nbytes += other.nbytes
        self.written += other.written
        self.reasons.update(other.reasons)


def reprocess(
    inputs: Sequence[str], options: ReprocessOptions, on_progress: Callable[[Progress], None] | None = None
) -> ReprocessSummary:
    """Run every record of ``inputs`` through the pipeline; write the lake unless ``dry_run``.

    Raises:
        SpecError: the spec is invalid (checked once, before any worker starts).
        InputError: an input path matches no file.
    """
    from transform_core.engine import load_pipeline
    from transform_core.jobs.inputs import list_inputs

    load_pipeline(options.spec)  # a bad spec fails here, once, not in every worker
    files = list_inputs(inputs, list_files=_listing(inputs, options.endpoint_url))
    progress = Progress(files_total=len(files))
    summary = ReprocessSummary()
    workers = min(options.workers or os.cpu_count() or 1, len(files)) or 1
    report = on_progress or (lambda _: None)
    if workers == 1:
        for file in files:
            summary.add(_run_file(file, options, lambda chunk: _update(progress, chunk, report)))
            progress.files_done += 1
            report(progress)
    else:
        summary = _run_parallel(files, options, workers, progress, report)
    summary.seconds = progress.seconds
    return summary


def _run_parallel(
    files: list[str], options: ReprocessOptions, workers: int, progress: Progress, report: Callable[[Progress], None]
) -> ReprocessSummary:
    context = multiprocessing.get_context("spawn")  # no fork of a process that has Polars' threads running
    updates: Any = context.Manager().Queue()
    summary = ReprocessSummary()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: set[Future[ReprocessSummary]] = {pool.submit(_worker_file, file, options, updates) for file in files}
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(updates, progress, report)
            for future in done:
                summary.add(future.result())
                progress.files_done += 1
                report(progress)
    _drain(updates, progress, report)
    return summary


def _worker_file(file: str, options: ReprocessOptions, updates: Any) -> ReprocessSummary:
    return _run_file(file, options, updates.put)


_PIPELINES: dict[tuple[Any, ...], Any] = {}  # per worker process: the pipeline and writer, loaded once


def _run_file(file: str, options: ReprocessOptions, on_chunk: Callable[[tuple[int, int, int]], None]) -> ReprocessSummary:
    from transform_core.engine import load_pipeline
    from transform_core.jobs.inputs import iter_chunks

    key = (options.spec, options.out, options.dry_run, options.endpoint_url)
    if key not in _PIPELINES:
        pipeline = load_pipeline(options.spec)
        writer = None
        if not options.dry_run:
            from transform_core.lake import LakeWriter

            writer = LakeWriter(pipeline.spec, options.out, endpoint_url=options.endpoint_url)
        _PIPELINES[key] = (pipeline, writer)
    pipeline, writer = _PIPELINES[key]
    summary = ReprocessSummary(files=1)
    read, listing = _reader([file], options.endpoint_url), _listing([file], options.endpoint_url)
    chunks = iter_chunks([file], chunk_size=options.chunk_size, kind=options.kind, read_bytes=read, list_files=listing)
    for chunk in chunks:
        result = pipeline.process(chunk.batch, respond=False)  # no Lambda response, so no 6 MB limit
        if writer is not None:
            summary.written += writer.write(result, chunk.batch, batch_id=chunk.batch_id).files
        summary.records += len(chunk.batch)
        summary.ok += result.ok
        summary.failed += result.failed
        summary.dropped += result.dropped
        summary.nbytes += chunk.nbytes
        summary.reasons.update(dict(result.top_reasons(50)))
        on_chunk((len(chunk.batch), chunk.nbytes, result.failed))
    return summary


def _update(progress: Progress, chunk: tuple[int, int, int], report: Callable[[Progress], None]) -> None:
    records, nbytes, failed = chunk
    progress.records += records
    progress.nbytes += nbytes
    progress.failed += failed
    report(progress)


def _drain(updates: Any, progress: Progress, report: Callable[[Progress], None]) -> None:
    while True:
        try:
            chunk = updates.get_nowait()
        except queue.Empty:
            return
        _update(progress, chunk, report)


def _listing(inputs: Sequence[str], endpoint_url: str | None) -> Any:
    from transform_core.jobs.inputs import list_local_files

    if not any(path.startswith("s3://") for path in inputs):
        return list_local_files
    from transform_core.lake.storage import list_files

    return partial(list_files, endpoint_url=endpoint_url)


def _reader(inputs: Sequence[str], endpoint_url: str | None) -> Any:
    from transform_core.jobs.inputs import read_local_bytes

    if not any(path.startswith("s3://") for path in inputs):
        return read_local_bytes
    from transform_core.lake.storage import read_bytes

    return partial(read_bytes, endpoint_url=endpoint_url)
