"""The whole pipeline on one machine: ingest, the Lambda, Firehose, the raw zone and the curated table.

:class:`LocalPipeline` wires the template's parts together as they run on AWS (``docs/local.md``, "The local
pipeline"):

- :class:`~transform_core.local.ingest.IngestServer`: ``POST /events`` as the template's API Gateway route;
  :meth:`LocalPipeline.put` is the other producer, a record put as the IoT rule puts it (a new UUID as partition key);
- :class:`~transform_core.local.delivery.LocalFirehose`: buffers, invokes, partitions and writes the lake folder,
  its intervals kept by a ticking thread;
- :class:`~transform_core.local.lambda_process.LocalLambda`: the function as Lambda runs it, with the template's
  handler path and ``TRANSFORM_CORE_SPEC``; its log lines go to ``<lake>/_local/lambda.log``;
- the curated step, ``transform_core.lake.curated.compact(spec, lake)`` into the lake's embedded SQLite catalog, as
  the template's scheduled curated job runs it.

:func:`run_local` runs one until a stop event or a duration, compacting every ``compact_every_s`` seconds and writing
a progress line every ``progress_every_s``; then it shuts down in order (stop ingest, flush every buffer, close the
Lambda, compact once more) and returns a :class:`LocalSummary`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TextIO

from transform_core.errors import ConfigurationEnvironmentError, TransformCoreError
from transform_core.local.delivery import DeliverySummary, LocalFirehose
from transform_core.local.delivery_config import DeliverySettings
from transform_core.local.ingest import IngestCounts, IngestServer
from transform_core.local.lambda_process import LocalLambda

if TYPE_CHECKING:
    from transform_core.lake.curated import CompactSummary

__all__ = [
    "CuratedState",
    "Feed",
    "LocalPaths",
    "LocalPipeline",
    "LocalSettings",
    "LocalSummary",
    "enrich_missed_in_log",
    "local_paths",
    "run_local",
]

NAMESPACE = "transform_core"  # compact's default namespace: the curated table is transform_core.<table>


@dataclass(frozen=True, kw_only=True)
class LocalSettings:
    """What runs and how.

    Attributes:
        spec_path: the spec file: ``TRANSFORM_CORE_SPEC`` for the Lambda (its folder is ``LAMBDA_TASK_ROOT``).
        delivery: the Firehose stream (the spec, the lake folder, source, format, buffers).
        host, port: where ``POST /events`` listens (port 0: a free one).
        function_timeout_s: the function's timeout (the template's is 300 s).
        compact_every_s: seconds between curated runs (one more runs at shutdown).
        progress_every_s: seconds between progress lines.
        tick_every_s: how often the stream checks its buffer intervals.
    """

    spec_path: Path
    delivery: DeliverySettings
    host: str = "127.0.0.1"
    port: int = 8080
    function_timeout_s: float = 300.0
    compact_every_s: float = 60.0
    progress_every_s: float = 10.0
    tick_every_s: float = 0.25

    def __post_init__(self) -> None:
        for name in ("function_timeout_s", "compact_every_s", "progress_every_s", "tick_every_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if "://" in self.delivery.lake or "://" in self.delivery.backup_folder:
            raise ValueError(f"the local pipeline writes a local folder, not {self.delivery.lake!r}")


class LocalPaths(NamedTuple):
    """Where everything is: the zones' folders, the curated table, its catalog, the function's log."""

    lake: Path
    raw: Path
    errors: Path
    backup: Path
    curated: Path
    catalog: Path
    lambda_log: Path


def local_paths(delivery: DeliverySettings) -> LocalPaths:
    """The folders and files a local pipeline over ``delivery`` writes."""
    lake = Path(delivery.lake)
    table = delivery.table
    return LocalPaths(
        lake=lake,
        raw=lake / "raw" / table,
        errors=lake / "errors" / table,
        backup=Path(delivery.backup_folder) / "backup" / table,
        curated=lake / "curated" / NAMESPACE / table,
        catalog=lake / "_catalog" / "iceberg.db",
        lambda_log=lake / "_local" / "lambda.log",
    )


class CuratedState(NamedTuple):
    """The curated table after the last run: its name, snapshot and rows, or why there is none.

    Attributes:
        table: ``namespace.table``.
        snapshot_id: the table's current snapshot (None: nothing committed yet).
        rows: rows the snapshot holds (None without one).
        runs: curated runs made, and commits among them.
        refused: records of the raw zone the table cannot hold exactly (they stay in the raw zone).
        note: why the curated step did not run or left something out (None: all went well).
    """

    table: str
    snapshot_id: int | None
    rows: int | None
    runs: int
    commits: int
    refused: int
    note: str | None


@dataclass(frozen=True, kw_only=True)
class LocalSummary:
    """What a local run did: ``elapsed_s`` from start until every buffer was written, ``curated_s`` the last curated
    run.

    ``delivery.records_in == http accepted + direct puts`` and, once closed, ``records_in == ok + failed + dropped``:
    every Ok record is a row of the raw zone or a line of the error prefix (undeliverable), every failed one a line
    of the error prefix (``DeliverySummary``). ``enrich_missed`` comes from the function's log lines of this run
    (:func:`enrich_missed_in_log`).
    """

    delivery: DeliverySummary
    ingest: IngestCounts
    direct_puts: int
    invocations: int
    cold_starts: int
    curated: CuratedState
    paths: LocalPaths
    url: str
    elapsed_s: float
    curated_s: float
    enrich_missed: dict[str, int] = field(default_factory=dict)  # per table keeping misses: Ok records left unenriched


#: Traffic of one's own for :func:`run_local`: called in a thread with the running pipeline and an event set at stop.
Feed = Callable[["LocalPipeline", threading.Event], object]


class LocalPipeline:
    """The template's pipeline on this machine (see the module docstring).

    Args:
        settings: what runs and how.
        progress: where progress and curated lines go (None: nowhere).
    """

    def __init__(self, settings: LocalSettings, *, progress: TextIO | None = None) -> None:
        self.settings = settings
        self.paths = local_paths(settings.delivery)
        self._progress = progress
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._direct_puts = 0
        self._lambda: LocalLambda | None = None
        self._firehose: LocalFirehose | None = None
        self._ingest: IngestServer | None = None
        self._compact_runs = 0
        self._commits = 0
        self._last_compact: CompactSummary | None = None
        self._compact_note: str | None = None
        self._curated_off = False
        self._summary: LocalSummary | None = None
        self._log_from = 0

    def start(self) -> None:
        """Start the Lambda's runtime API, the stream's ticking thread and the HTTP endpoint.

        Raises:
            ConfigurationEnvironmentError: the endpoint's address cannot be bound.
        """
        if self._lambda is not None:
            raise RuntimeError("the local pipeline is started already")
        settings = self.settings
        self.paths.lambda_log.parent.mkdir(parents=True, exist_ok=True)
        self._log_from = self.paths.lambda_log.stat().st_size if self.paths.lambda_log.exists() else 0  # earlier runs'
        self._lambda = LocalLambda(settings.spec_path, timeout_s=settings.function_timeout_s, log=self.paths.lambda_log)
        try:
            self._firehose = LocalFirehose(settings.delivery, self._lambda)
            self._ingest = IngestServer(self._firehose, host=settings.host, port=settings.port)
        except BaseException:
            self._lambda.close()
            raise
        self._started = time.monotonic()
        self._firehose.start_ticking(settings.tick_every_s)
        self._ingest.start()

    @property
    def url(self) -> str:
        """The ingest endpoint's URL."""
        if self._ingest is None:
            raise RuntimeError("the local pipeline is not started")
        return self._ingest.url

    def put(self, data: bytes) -> str:
        """Put one record on the stream as the template's IoT rule does (a new UUID as partition key); its recordId."""
        if self._firehose is None:
            raise RuntimeError("the local pipeline is not started")
        record_id = self._firehose.put(data)
        with self._lock:
            self._direct_puts += 1
        return record_id

    def compact(self) -> CompactSummary | None:
        """One curated run over the raw zone; None when the curated step cannot run (the note says why)."""
        if self._curated_off:
            return None  # the lake extra is missing: said once
        try:
            from transform_core.lake.curated import compact

            summary = compact(self.settings.delivery.spec, str(self.paths.lake))
        except ConfigurationEnvironmentError as err:
            self._curated_off = True
            self._compact_note = f"the curated step did not run: {err}"
            self.say(self._compact_note)
            return None
        except (TransformCoreError, ValueError) as err:  # a changed column type, a lost commit race: the next run retries
            self._compact_runs += 1
            self._compact_note = f"curated run refused: {err}"
            self.say(self._compact_note)
            return None
        self._compact_runs += 1
        self._commits += summary.committed
        self._last_compact = summary
        if summary.problems:
            self._compact_note = "; ".join(f"{p.file}: {p.reason}" for p in summary.problems[:3])
            self.say(f"curated: {len(summary.problems)} raw files kept their partitions out: {self._compact_note}")
        elif summary.committed:
            self._compact_note = None
            self.say(
                f"curated: snapshot {summary.snapshot_id}, {summary.compacted:,} partitions compacted, "
                f"{summary.rows:,} rows written"
            )
        return summary

    def progress_line(self) -> str:
        """One line: records in, batches, Ok/failed/dropped, buffered, objects written."""
        assert self._firehose is not None
        d = self._firehose.summary()
        accepted = self._ingest.counts().accepted if self._ingest is not None else 0
        buffered = d.records_in - d.ok - d.failed - d.dropped
        objects = ", ".join(f"{zone} {len(paths):,}" for zone, paths in d.objects.items())
        return (
            f"records in {d.records_in:,} (HTTP {accepted:,}, direct {self._direct_puts:,}); invocations {d.invocations:,}; "
            f"Ok {d.ok:,}, failed {d.failed:,}, dropped {d.dropped:,}, buffered {buffered:,}; objects {objects}"
        )

    def say_progress(self) -> None:
        """Write :meth:`progress_line` to the progress stream."""
        self.say(self.progress_line())

    def close(self) -> LocalSummary:
        """Stop ingest, flush every buffer, close the Lambda, run the curated step once more; the summary. Idempotent."""
        if self._summary is not None:
            return self._summary
        if self._lambda is None or self._firehose is None or self._ingest is None:
            raise RuntimeError("the local pipeline is not started")
        try:
            self._ingest.stop()
            delivery = self._firehose.close()
        finally:
            self._lambda.close()
        flushed = time.monotonic()
        self.compact()
        self._summary = LocalSummary(
            delivery=delivery,
            ingest=self._ingest.counts(),
            direct_puts=self._direct_puts,
            invocations=self._lambda.invocations,
            cold_starts=self._lambda.cold_starts,
            curated=self._curated_state(),
            paths=self.paths,
            url=self._ingest.url,
            elapsed_s=flushed - self._started,
            curated_s=time.monotonic() - flushed,
            enrich_missed=enrich_missed_in_log(self.paths.lambda_log, self._log_from),
        )
        return self._summary

    def __enter__(self) -> LocalPipeline:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lambda is not None and self._summary is None:
            self.close()

    def _curated_state(self) -> CuratedState:
        spec = self.settings.delivery.spec
        table = f"{NAMESPACE}.{self.settings.delivery.table}"
        last = self._last_compact
        snapshot = last.snapshot_id if last is not None else None
        rows = None
        if snapshot is not None:
            import polars as pl

            from transform_core.lake.curated import scan_curated

            frame = scan_curated(spec, str(self.paths.lake))
            rows = None if frame is None else int(frame.select(pl.len()).collect().item())
        refused = len(last.refused) if last is not None else 0
        return CuratedState(table, snapshot, rows, self._compact_runs, self._commits, refused, self._compact_note)

    def say(self, line: str) -> None:
        """Write one line, stamped with the seconds since start, to the progress stream."""
        if self._progress is not None:
            print(f"[{time.monotonic() - self._started:6.1f} s] {line}", file=self._progress, flush=True)


def run_local(
    pipeline: LocalPipeline,
    *,
    stop: threading.Event,
    duration_s: float | None = None,
    feed: Feed | None = None,
    started: Callable[[LocalPipeline], None] | None = None,
) -> LocalSummary:
    """Start ``pipeline``, run it until ``stop`` is set or ``duration_s`` has passed, then close it.

    Args:
        pipeline: not started yet.
        stop: set it (from a signal handler, say) to shut down.
        duration_s: shut down after this many seconds (None: only on ``stop``).
        feed: traffic of one's own, run in a thread; when the duration ends it sends the rest of what it planned, on
            ``stop`` it is told to stop (its event set); either way it is waited for before ingest stops.
        started: called once everything runs (to say where the endpoint listens, say).

    Returns:
        the summary of :meth:`LocalPipeline.close`.
    """
    settings = pipeline.settings
    pipeline.start()
    feed_stop = threading.Event()
    feeder: threading.Thread | None = None
    failure: list[BaseException] = []
    finished = False  # the duration ran out (not a stop, not an error)
    try:
        if started is not None:
            started(pipeline)
        if feed is not None:

            def run_feed() -> None:
                try:
                    feed(pipeline, feed_stop)
                except BaseException as err:  # raised once the pipeline is closed
                    failure.append(err)

            feeder = threading.Thread(target=run_feed, name="local-feed", daemon=True)
            feeder.start()
        began = time.monotonic()
        deadline = None if duration_s is None else began + duration_s
        next_progress = began + settings.progress_every_s
        next_compact = began + settings.compact_every_s
        while not stop.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                finished = True
                break
            if now >= next_compact:
                pipeline.compact()
                next_compact = time.monotonic() + settings.compact_every_s
            if now >= next_progress:
                pipeline.say_progress()
                while next_progress <= now:
                    next_progress += settings.progress_every_s
            wake = min(next_progress, next_compact, deadline if deadline is not None else next_progress)
            stop.wait(max(0.0, wake - time.monotonic()))
    finally:
        while feeder is not None and finished and feeder.is_alive() and not stop.is_set():
            feeder.join(0.1)  # at the duration's end the feed sends what it planned (a busy machine sends it late)
        feed_stop.set()
        if feeder is not None:
            feeder.join()
        pipeline.say("shutting down: ingest stops, every buffer is flushed, the Lambda closes, then a last curated run")
        summary = pipeline.close()
    if failure:
        raise failure[0]
    return summary


def enrich_missed_in_log(log: Path, start: int = 0) -> dict[str, int]:
    """The ``enrich_missed`` counts of the function's batch lines in ``log`` from byte ``start``, added up per table.

    A batch Firehose invoked again (same ``invocationId``) counts once, as its last line says; lines that are not the
    handler's JSON (a traceback, say) are skipped.
    """
    import orjson

    if not log.exists():
        return {}
    with log.open("rb") as file:
        file.seek(start)
        text = file.read()
    batches: dict[object, dict[str, int]] = {}
    for n, line in enumerate(text.splitlines()):
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("message") == "batch transformed":
            batches[entry.get("invocationId") or n] = entry.get("enrich_missed") or {}
    totals: dict[str, int] = {}
    for missed in batches.values():
        for table, count in missed.items():
            totals[table] = totals.get(table, 0) + count
    return totals
