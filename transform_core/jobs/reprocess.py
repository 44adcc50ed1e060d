"""Batch reprocessing: archived or failed records through the pipeline into the lake, on every core.

Input files (see :mod:`transform_core.jobs.inputs`) are shared out to worker processes, one file at a time; each
worker loads the pipeline once, runs every chunk through it and writes the results with the
:class:`~transform_core.lake.LakeWriter`.

Every record belongs to an input, named by its content (``input id``): the files written for it are named
``part-<input id>-<first line>…`` and listed in the input's ledger (:mod:`transform_core.lake.ledger`). When a run
over an input ends, the input's files it did not write are deleted, so running the same data again (under any path,
compression or chunk size, after a crash, on another day) replaces what the last run wrote. A replayed error record
keeps its input and its record id: its files are named ``part-<input id>-r<errors file's id>-…``, and an error file
of this lake that a replay read to the end is deleted (its records are now in ``raw/``, or in the replay's own error
file). A file that cannot be read, or fails, is reported in the summary with its reason; the others go on.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transform_core.jobs.report import ReportTarget

__all__ = ["Progress", "ReprocessOptions", "ReprocessSummary", "reprocess"]


@dataclass(frozen=True, slots=True)
class ReprocessOptions:
    """What to run and where to write."""

    spec: str
    out: str | None = None  # lake root; default: the spec's output.lake
    dry_run: bool = False  # validate only, write nothing
    workers: int = 0  # processes; 0 = one per core
    chunk_size: int = 50_000  # records per engine call (raw files hold rows of several chunks: lake.writer.HeldRows)
    kind: str | None = None  # force the input kind (ndjson, firehose-backup, processing-failed, errors)
    endpoint_url: str | None = None  # S3 endpoint override
    report: ReportTarget | None = None  # where each rejected record is listed (transform_core.jobs.report)


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
    replaced: list[str] = field(default_factory=list)  # files of an earlier run over the same inputs, deleted
    reasons: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file, what went wrong): not read to the end
    seconds: float = 0.0
    blank: int = 0  # lines of whitespace only: skipped, not records
    empty: list[str] = field(default_factory=list)  # files read to the end that held no record
    all_rejected: list[str] = field(default_factory=list)  # files whose every record was rejected
    # per reference table with on_missing: keep, the Ok records it holds no row for (their fields null)
    enrich_missed: Counter[str] = field(default_factory=Counter)
    reported: int = 0  # rows of the report: one per rejected record
    listed: list[str] = field(default_factory=list)  # files whose report rows are ready; their counts are these

    def add(self, other: ReprocessSummary) -> None:
        self.files += other.files
        self.records += other.records
        self.ok += other.ok
        self.failed += other.failed
        self.dropped += other.dropped
        self.nbytes += other.nbytes
        self.written += other.written
        self.replaced += other.replaced
        self.reasons.update(other.reasons)
        self.problems += other.problems
        self.blank += other.blank
        self.empty += other.empty
        self.all_rejected += other.all_rejected
        self.listed += other.listed
        self.enrich_missed.update(other.enrich_missed)


def reprocess(
    inputs: Sequence[str], options: ReprocessOptions, on_progress: Callable[[Progress], None] | None = None
) -> ReprocessSummary:
    """Run every record of ``inputs`` through the pipeline; write the lake unless ``dry_run``.

    Raises:
        SpecError: the spec is invalid, or the lake cannot take its records (checked once, before any worker starts,
            in a dry run too); no lake root (a dry run without one checks the rest).
        InputError: an input path matches no file.
        ConfigurationEnvironmentError: the lake's S3 bucket does not exist.
        OSError: the lake cannot be written (a file in the way, read-only, full; a dry run writes nothing and checks
            only that its folder is writable), or S3 cannot be reached.
    """
    from transform_core.engine import load_pipeline
    from transform_core.jobs.inputs import list_inputs

    pipeline = load_pipeline(options.spec)  # a bad spec fails here, once, not in every worker
    _check_lake(pipeline.spec, options)  # and a lake that cannot take the records, dry run or not
    skipped: list[tuple[str, str]] = []  # not regular files (a FIFO, a socket): never opened, reported
    files = list_inputs(inputs, list_files=_listing(inputs, options.endpoint_url), on_skip=lambda *s: skipped.append(s))
    progress = Progress(files_total=len(files))
    summary = ReprocessSummary()
    workers = min(options.workers or os.cpu_count() or 1, len(files)) or 1
    report = on_progress or (lambda _: None)
    if options.report is not None:
        from transform_core.jobs.report import new_parts_folder

        options = replace(options, report=replace(options.report, parts=new_parts_folder()))
    if workers == 1:
        for file in files:
            summary.add(_run_file(file, options, lambda chunk: _update(progress, chunk, report)))
            progress.files_done += 1
            report(progress)
    else:
        summary = _run_parallel(files, options, workers, progress, report)
    summary.problems[:0] = skipped
    if options.report is not None:
        from transform_core.jobs.report import join_parts

        listed = set(summary.listed)  # a file whose worker died is counted nowhere, so listed nowhere
        summary.reported = join_parts(options.report, [f for f in files if f in listed], endpoint_url=options.endpoint_url)
    summary.seconds = progress.seconds
    return summary


def _check_lake(spec: Any, options: ReprocessOptions) -> None:
    """What a real run's lake writer checks when it is built (the root, the table's name, the columns), then the
    destination itself: written to for a real run, looked at for a dry run."""
    from transform_core.errors import SpecError
    from transform_core.lake import LakeWriter
    from transform_core.lake.columns import lake_columns, table_dtypes
    from transform_core.lake.storage import check_destination

    if options.dry_run and options.out is None and spec.output.lake is None:
        lake_columns(spec, table_dtypes(spec))  # no lake to look at: what it would refuse still counts
        return
    try:
        writer = LakeWriter(spec, options.out, endpoint_url=options.endpoint_url)
    except ValueError as err:  # the table's name comes from the spec's
        raise SpecError(f"the lake's table is named after it: {err}", file=spec.spec_file, key="name") from err
    check_destination(writer.root, endpoint_url=options.endpoint_url, write=not options.dry_run)


def _run_parallel(
    files: list[str], options: ReprocessOptions, workers: int, progress: Progress, report: Callable[[Progress], None]
) -> ReprocessSummary:
    context = multiprocessing.get_context("spawn")  # no fork of a process that has Polars' threads running
    updates: Any = context.Queue()
    summary = ReprocessSummary()
    with ProcessPoolExecutor(workers, context, initializer=_start_worker, initargs=(updates, os.getpid())) as pool:
        pending = {pool.submit(_worker_file, file, options): file for file in files}
        while pending:
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(updates, progress, report)
            for future in done:
                file = pending.pop(future)
                try:
                    summary.add(future.result())
                except Exception as err:  # the worker died (killed, out of memory): the file is reported, not lost
                    summary.add(ReprocessSummary(files=1, problems=[(file, f"the worker process failed: {err}")]))
                progress.files_done += 1
                report(progress)
    _drain(updates, progress, report)
    return summary


_updates: Any = None  # in a worker process: the queue its progress goes to


def _start_worker(updates: Any, parent: int) -> None:
    """A worker's initializer: keep the progress queue, and end when the run's process ends rather than outlive it."""
    global _updates
    _updates = updates
    if hasattr(signal, "SIGTERM"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
        except (OSError, AttributeError):
            pass  # not Linux: a run killed hard leaves its workers to finish their file
    if os.getppid() != parent:  # the run's process ended before the line above took effect
        os._exit(1)


def _worker_file(file: str, options: ReprocessOptions) -> ReprocessSummary:
    return _run_file(file, options, _updates.put)


_PIPELINES: dict[tuple[Any, ...], Any] = {}  # per worker process: the pipeline and writer, loaded once


def _run_file(file: str, options: ReprocessOptions, on_chunk: Callable[[tuple[int, int, int]], None]) -> ReprocessSummary:
    """One input file through the pipeline, its output written and its earlier runs' files replaced; a file that
    cannot be read to the end, or fails, is in ``problems`` (what it yielded before is written)."""
    from transform_core.jobs.chunk_results import count_chunk, process_chunk
    from transform_core.jobs.inputs import InputError

    pipeline, writer, rows = _loaded(options)
    summary = ReprocessSummary(files=1)
    output = _Output(writer, rows, options.endpoint_url)
    listed = _report_part(options, file)
    complete = False

    def count_blank(_: str, lines: int) -> None:
        summary.blank += lines

    try:
        for chunk in _chunks(file, options, count_blank):
            result = process_chunk(pipeline, chunk.batch)
            refused = output.write(chunk, result)  # Ok records the lake cannot store exactly: rejected
            count_chunk(summary, len(chunk.batch), chunk.nbytes, result, refused)
            if listed is not None:
                listed.add(chunk, result, refused)
            on_chunk((len(chunk.batch), chunk.nbytes, result.failed + len(refused)))
        complete = True
    except InputError as err:  # damaged past some point: what was read before is written, and stands for the input
        summary.problems.append((file, err.message if err.line is None else f"line {err.line}: {err.message}"))
    except Exception as err:  # the file's output stays as far as it got, until a run over it completes
        summary.problems.append((file, f"{type(err).__name__}: {err}"))
        summary.written += output.written
        _finish(listed, summary, file)
        return summary
    _finish(listed, summary, file)
    try:
        summary.replaced += output.finish(file, complete=complete)  # the rows held across chunks are written first
    except Exception as err:  # as a failure midway: what is written stays, until a run over the input completes
        summary.problems.append((file, f"{type(err).__name__}: {err}"))
        summary.written += output.written
        return summary
    summary.written += output.written
    if complete and not summary.records:
        summary.empty.append(file)
    elif summary.records and summary.failed == summary.records:
        summary.all_rejected.append(file)
    return summary


def _report_part(options: ReprocessOptions, file: str) -> Any:
    """Where the file's rejected records are listed, when the run has a report."""
    if options.report is None:
        return None
    from transform_core.jobs.report import ReportPart

    return ReportPart(options.report, file, options.spec)


def _finish(listed: Any, summary: ReprocessSummary, file: str) -> None:
    if listed is not None:
        listed.finish()
        summary.listed.append(file)


class _Output:
    """Where one input file's chunks go: the files written per owning input, and the ledgers that list them."""

    def __init__(self, writer: Any, rows: Any, endpoint_url: str | None) -> None:
        self.writer, self.rows, self.endpoint_url = writer, rows, endpoint_url
        self.files: dict[str, list[str]] = {}  # owner -> files written
        self.held: dict[str, Any] = {}  # owner -> its Ok rows held across chunks (lake.writer.HeldRows), and its ledger
        self.input_id: str | None = None

    @property
    def written(self) -> list[str]:
        return [file for files in self.files.values() for file in files]

    def write(self, chunk: Any, result: Any) -> list[tuple[int, str]]:
        """Write the chunk's outcomes (a dry run writes nothing); returns the Ok records the lake refuses."""
        self.input_id = chunk.input_id
        if self.writer is None:
            from transform_core.jobs.chunk_results import lake_refusals

            return lake_refusals(self.rows, chunk.batch, result)
        from transform_core.lake.ledger import InputLedger
        from transform_core.lake.writer import HeldRows

        owner = chunk.owner
        if owner not in self.held:
            ledger = InputLedger(self.writer.root, self.writer.table, owner, endpoint_url=self.endpoint_url)
            self.held[owner] = HeldRows(ledger=ledger)
        # the chunk's id is <input id>-<its first record's label>: unique within the input, the same on every run
        batch_id = chunk.batch_id if owner == chunk.input_id else f"{owner}-r{chunk.batch_id}"
        written = self.writer.write(result, chunk.batch, batch_id=batch_id, input_id=owner, held=self.held[owner])
        self.files.setdefault(owner, []).extend(written.files)
        return list(written.refused)

    def finish(self, file: str, *, complete: bool) -> list[str]:
        """Write the rows held across chunks; delete what earlier runs over the same input wrote and this one did not;
        retire a replayed error file of this lake read to the end. Returns the files deleted."""
        if self.writer is None or self.input_id is None:
            return []
        for owner, held in self.held.items():
            self.files.setdefault(owner, []).extend(self.writer.flush(held))
        deleted: list[str] = []
        for owner, held in self.held.items():
            # a run over an input replaces all its files; a replay only those of earlier replays of the same file
            prefix = f"part-{owner}-" if owner == self.input_id else f"part-{owner}-r{self.input_id}-"
            deleted += held.ledger.replace(self.files.get(owner, []), prefix=prefix)
        if complete and _under(file, f"{self.writer.root}/errors/{self.writer.table}") and file not in self.written:
            from transform_core.lake.storage import delete_files

            delete_files([file], endpoint_url=self.endpoint_url)
            deleted.append(file)
        return deleted


def _under(file: str, folder: str) -> bool:
    """``file`` lies below ``folder`` (local paths compared absolute)."""
    if "://" not in folder:
        file, folder = os.path.abspath(file), os.path.abspath(folder)
    return file.startswith(folder.rstrip("/") + "/")


def _chunks(file: str, options: ReprocessOptions, on_blank: Callable[[str, int], None]) -> Any:
    from transform_core.jobs.inputs import iter_chunks

    opened, listing = _opener([file], options.endpoint_url), _listing([file], options.endpoint_url)
    return iter_chunks(
        [file],
        chunk_size=options.chunk_size,
        kind=options.kind,
        open_input=opened,
        list_files=listing,
        on_blank=on_blank,
        as_bytes=True,  # plain lines go to the engine as bytes: no base64 encode and decode
    )


def _loaded(options: ReprocessOptions) -> tuple[Any, Any, Any]:
    """The pipeline, the lake writer (None for a dry run) and its row builder, loaded once per worker process."""
    from transform_core.engine import load_pipeline
    from transform_core.lake.columns import lake_columns, table_dtypes
    from transform_core.lake.rows import LakeRows

    key = (options.spec, options.out, options.dry_run, options.endpoint_url)
    if key not in _PIPELINES:
        pipeline = load_pipeline(options.spec)
        writer = None
        if not options.dry_run:
            from transform_core.lake import LakeWriter

            writer = LakeWriter(pipeline.spec, options.out, endpoint_url=options.endpoint_url)
        rows = writer.rows if writer is not None else LakeRows(lake_columns(pipeline.spec, table_dtypes(pipeline.spec)))
        _PIPELINES[key] = (pipeline, writer, rows)
    result: tuple[Any, Any, Any] = _PIPELINES[key]
    return result


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


def _opener(inputs: Sequence[str], endpoint_url: str | None) -> Any:
    """How input files are opened as streams: local files, or S3 objects."""
    from transform_core.jobs.inputs import open_local

    if not any(path.startswith("s3://") for path in inputs):
        return open_local
    from transform_core.lake.storage import open_stream

    return partial(open_stream, endpoint_url=endpoint_url)
