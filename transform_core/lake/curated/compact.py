"""``transform-core compact``: the raw zone committed into the curated Iceberg table, one transaction per run.

A run lists the raw zone once. For each raw partition folder it takes a digest of the files' names and sizes (and of
the dedupe rule); the last snapshot this compaction committed records, in its summary, the digest each partition had
when it was consumed. A partition whose digest differs is recomputed whole: every raw file read, whoever wrote it
(:func:`~transform_core.lake.raw.read_raw`), deduplicated (:mod:`.dedupe`), sorted by event time, written as new
data files. A partition with a file that cannot be read is left as the table has it and not marked consumed. Then one overwrite snapshot removes those
partitions' old files and adds the new ones, in one catalog commit: a crash at any point leaves the table at its last
commit, and readers of an older snapshot still find every file (nothing is deleted, only dereferenced). A commit
that loses a race (``CommitFailedException``) deletes the files it wrote, re-reads the table, and tries again.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from transform_core.errors import CommitConflictError
from transform_core.lake.columns import UTC_MICROS
from transform_core.lake.curated.catalogs import CatalogSettings, catalog_settings, check_catalog, load_table, open_catalog
from transform_core.lake.curated.dedupe import DedupeRule, dedupe, dedupe_rule
from transform_core.lake.curated.files import write_data_files
from transform_core.lake.curated.schema import (
    EVENT_TIME,
    CuratedLayout,
    RawPartition,
    curated_layout,
    raw_partition,
    require_lake,
)
from transform_core.lake.raw import RawProblem, RawRefusal, read_raw
from transform_core.lake.storage import is_s3, join, list_sizes
from transform_core.spec import PipelineSpec

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

__all__ = ["FORMAT_KEY", "STATE_PREFIX", "CompactSummary", "PartitionSummary", "compact", "consumed_state"]

FORMAT = "1"  # bump when the same raw files give other curated rows: every partition is then recomputed once
STATE_PREFIX = "transform-core.raw/"  # summary key of one raw partition folder's digest: transform-core.raw/year=…
FORMAT_KEY = "transform-core.format"  # marks the snapshots this compaction commits
ATTEMPTS = 4  # commits lost to a concurrent writer before the run gives up


@dataclass(frozen=True, kw_only=True)
class PartitionSummary:
    """What a run did with one raw partition (``year=2026/month=11/day=24``).

    ``raw_rows``, ``rows`` and ``files`` are None for a partition not compacted (unchanged, or with a problem).
    A partition with a problem file is left as the table has it, and recomputed by the next run.
    """

    partition: str
    status: Literal["compacted", "unchanged", "problem"]
    raw_files: int
    raw_rows: int | None = None  # rows read from its raw files (refused records not included)
    rows: int | None = None  # rows the table holds for it after the run
    files: int | None = None  # data files written for it
    refused: tuple[RawRefusal, ...] = ()  # Firehose records the lake cannot store exactly (docs/raw-zone.md)
    problems: tuple[RawProblem, ...] = ()  # files not read, or rows outside the partition: nothing of it committed


@dataclass(frozen=True, kw_only=True)
class CompactSummary:
    """What :func:`compact` did: the table, each raw partition, and the snapshot the table is at afterwards."""

    table: str  # namespace.table
    partitions: tuple[PartitionSummary, ...]
    snapshot_id: int | None  # the table's current snapshot after the run; None: the table has none yet
    committed: bool  # this run added that snapshot
    attempts: int = 1  # commits tried (more than one after a concurrent writer won)

    @property
    def compacted(self) -> int:
        """Partitions recomputed by this run."""
        return sum(p.status == "compacted" for p in self.partitions)

    @property
    def rows(self) -> int:
        """Rows written by this run."""
        return sum(p.rows or 0 for p in self.partitions)

    @property
    def duplicates(self) -> int:
        """Rows removed as duplicates in the partitions this run recomputed."""
        return sum((p.raw_rows or 0) - (p.rows or 0) for p in self.partitions)

    @property
    def refused(self) -> tuple[RawRefusal, ...]:
        """Records of the partitions compacted that the table cannot hold exactly (counted, never stored)."""
        return tuple(r for p in self.partitions for r in p.refused)

    @property
    def problems(self) -> tuple[RawProblem, ...]:
        """Why the partitions with status ``problem`` were left out of this run."""
        return tuple(problem for p in self.partitions for problem in p.problems)


@dataclass(frozen=True, kw_only=True)
class _Partition:
    """One raw partition read: its rows as the table's columns, or None when a problem keeps it out of the run."""

    frame: pl.DataFrame | None
    refused: tuple[RawRefusal, ...]
    problems: tuple[RawProblem, ...]


@dataclass(frozen=True, kw_only=True)
class _Job:
    spec: PipelineSpec
    root: str
    layout: CuratedLayout
    rule: DedupeRule
    target_rows: int
    endpoint_url: str | None
    raw: Mapping[str, Mapping[str, int]]  # folder → file name → size, as listed once
    digests: Mapping[str, str]  # folder → digest of its files and the rule
    columns: tuple[str, ...]  # the table's top-level columns, in its order


def compact(
    spec: PipelineSpec,
    root: str | None = None,
    *,
    key: str | None = None,
    target_rows: int = 1_000_000,
    partitions: Sequence[str] | None = None,
    endpoint_url: str | None = None,
    catalog: CatalogSettings | None = None,
) -> CompactSummary:
    """Commit the raw partitions that changed since the last run into the curated table, in one snapshot.

    Args:
        root: the lake root, a folder or ``s3://bucket/prefix``; default: the spec's ``output.lake``.
        key: column(s) naming a record, comma-separated, overriding ``curated.key``; see :mod:`.dedupe`.
        target_rows: the most rows one data file holds.
        partitions: e.g. ``year=2026/month=11/day=24``, or ``year=2026/month=11`` for all below it; default: all.
        endpoint_url: S3 endpoint, overriding the AWS environment variables (and, for the raw files, ``catalog``'s).
        catalog: which catalog holds the table; default: the SQL catalog in the lake, S3 settings from the environment.

    Raises:
        SpecError: no root given and no ``output.lake`` in the spec.
        ConfigurationEnvironmentError: the ``lake`` extra is missing, or an ``s3://`` lake without a catalog file.
        CommitConflictError: other writers committed first on every attempt.
        ValueError: ``target_rows`` below 1, a key that names no column, raw files the table cannot hold.
    """
    require_lake()
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    root = spec.lake_root(root, needed_by="the curated zone")
    if target_rows < 1:
        raise ValueError(f"target_rows must be at least 1, got {target_rows}")
    settings = catalog or catalog_settings(endpoint_url=endpoint_url)
    endpoint_url = endpoint_url or settings.s3.endpoint_url  # the raw files and the table's: one S3
    check_catalog(root, settings)  # before any listing
    layout = curated_layout(spec, settings.namespace)
    rule = dedupe_rule(spec, layout, key)
    raw = _list_raw(spec, root, partitions, endpoint_url)  # once: later files wait for the next run
    digests = {folder: _digest(files, rule, target_rows) for folder, files in raw.items()}
    table = load_table(open_catalog(root, settings), root, layout, settings)  # with the spec's new columns added
    job = _Job(
        spec=spec,
        root=root,
        layout=layout,
        rule=rule,
        target_rows=target_rows,
        endpoint_url=endpoint_url,
        raw=raw,
        digests=digests,
        columns=tuple(field.name for field in table.schema().fields),
    )
    for attempt in range(1, ATTEMPTS + 1):
        consumed = consumed_state(table)
        changed = [folder for folder in sorted(raw) if consumed.get(folder) != digests[folder]]
        if not changed:
            return _summary(job, table, {}, committed=False, attempts=attempt)
        try:
            done, compacted = _commit(job, table, consumed, changed)
        except (CommitFailedException, ValidationException):
            table = table.refresh()  # another run committed first: what does it leave to do?
            continue
        committed = any(p.status == "compacted" for p in compacted.values())
        return _summary(job, done, compacted, committed=committed, attempts=attempt)
    name = ".".join(layout.identifier)
    raise CommitConflictError(f"the curated table {name} changed under each of {ATTEMPTS} commits of this run; run it again")


def consumed_state(table: Table) -> dict[str, str]:
    """Raw partition folder → digest, as the last snapshot committed by :func:`compact` recorded them.

    Snapshots other writers added since (a rewrite by Athena's ``OPTIMIZE``, say) are walked past.
    """
    snapshot = table.current_snapshot()
    while snapshot is not None:
        summary = snapshot.summary.additional_properties if snapshot.summary is not None else {}
        if FORMAT_KEY in summary:
            if summary[FORMAT_KEY] != FORMAT:
                return {}  # another format: every partition is recomputed
            return {k[len(STATE_PREFIX) :]: v for k, v in summary.items() if k.startswith(STATE_PREFIX)}
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return {}


def _commit(
    job: _Job, table: Table, consumed: Mapping[str, str], changed: list[str]
) -> tuple[Table, dict[str, PartitionSummary]]:
    """Recompute the changed partitions and commit them in one overwrite snapshot; the table after and the results."""
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    written: list[DataFile] = []
    compacted: dict[str, PartitionSummary] = {}
    ranges: list[RawPartition] = []
    try:
        write_uuid, counter = uuid.uuid4(), itertools.count()
        for folder in changed:  # one partition in memory at a time
            part = raw_partition(folder, job.layout.granularity)
            read = _read_partition(job, part)
            if read.frame is None:
                compacted[folder] = PartitionSummary(
                    partition=folder,
                    status="problem",
                    raw_files=len(job.raw[folder]),
                    refused=read.refused,
                    problems=read.problems,
                )
                continue
            raw_rows, kept, refused = read.frame.height, dedupe(read.frame, job.rule), read.refused
            del read  # the raw frame, before the write
            files = write_data_files(table, kept, job.target_rows, write_uuid, counter)
            written.extend(files)
            ranges.append(part)
            compacted[folder] = PartitionSummary(
                partition=folder,
                status="compacted",
                raw_files=len(job.raw[folder]),
                raw_rows=raw_rows,
                rows=kept.height,
                files=len(files),
                refused=refused,
            )
            del kept
        if not ranges:  # every changed partition has a problem: nothing to commit
            return table, compacted
        state = {**consumed, **{part.folder: job.digests[part.folder] for part in ranges}}
        properties = {
            FORMAT_KEY: FORMAT,
            "transform-core.rule": job.rule.describe(),
            "transform-core.partitions-compacted": str(len(ranges)),
            "transform-core.duplicates-removed": str(sum((p.raw_rows or 0) - (p.rows or 0) for p in compacted.values())),
            **{f"{STATE_PREFIX}{folder}": digest for folder, digest in sorted(state.items())},
        }
        transaction = _without_rebase(table).transaction()
        with transaction.update_snapshot(snapshot_properties=properties).overwrite() as overwrite:
            overwrite.delete_by_predicate(_ranges_filter(job.layout.event_time, ranges))
            for old in _current_files(table, job.layout, ranges):
                overwrite.delete_data_file(old)
            for new in written:
                overwrite.append_data_file(new)
    except BaseException:
        _delete(table, written)  # nothing was committed: the files are nobody's
        raise
    try:
        return transaction.commit_transaction(), compacted
    except (CommitFailedException, ValidationException):
        _delete(table, written)  # the commit did not land; any other error may have landed it: keep the files
        raise


def _without_rebase(table: Table) -> Table:
    """The table, committing once: pyiceberg would otherwise replay a lost commit onto the winner's snapshot.

    A replay keeps this run's summary (the consumed state it read before the other writer's commit); the run must
    instead re-read that state and recompute what is left, so the retry lives in :func:`compact`.
    """
    from pyiceberg.table import Table as IcebergTable
    from pyiceberg.table import TableProperties

    properties = {**table.metadata.properties, TableProperties.COMMIT_NUM_RETRIES: "0"}  # read at commit; not stored
    metadata = table.metadata.model_copy(update={"properties": properties})
    return IcebergTable(table.name(), metadata, table.metadata_location, table.io, table.catalog)


def _current_files(table: Table, layout: CuratedLayout, ranges: list[RawPartition]) -> list[DataFile]:
    """The table's data files in the partitions of ``ranges`` (each file holds one partition)."""
    files = [task.file for task in table.scan(row_filter=_ranges_filter(layout.event_time, ranges)).plan_files()]
    wanted = {_ordinal(part, layout) for part in ranges}
    stray = [f.file_path for f in files if f.partition[0] not in wanted]
    if stray:
        raise ValueError(f"the curated table has data files outside its {layout.granularity} partitions: {stray[:3]}")
    return files


def _ranges_filter(column: str, ranges: Iterable[RawPartition]) -> Any:
    from pyiceberg.expressions import AlwaysFalse, And, GreaterThanOrEqual, LessThan, Or, Reference
    from pyiceberg.expressions.literals import literal

    term = Reference(name=column)
    expr: Any = AlwaysFalse()
    for part in ranges:
        start, end = literal(part.start.isoformat()), literal(part.end.isoformat())
        expr = Or(expr, And(GreaterThanOrEqual(term=term, value=start), LessThan(term=term, value=end)))
    return expr


def _ordinal(part: RawPartition, layout: CuratedLayout) -> int:
    """The partition value Iceberg's transform gives the range: days (or hours) since 1970-01-01."""
    seconds = int(part.start.timestamp())
    return seconds // 86_400 if layout.granularity == "day" else seconds // 3_600


def _read_partition(job: _Job, part: RawPartition) -> _Partition:
    """Every raw file of one partition, of any producer, as the table's columns; ``_event_time`` computed when the
    table has it. Columns in the table's order (a column the spec added since comes last)."""
    layout, folder = job.layout, part.folder
    source = join(job.root, "raw", layout.table, *folder.split("/"))
    read = read_raw([join(source, name) for name in sorted(job.raw[folder])], layout.raw, endpoint_url=job.endpoint_url)
    if read.problems:
        return _Partition(frame=None, refused=read.refused, problems=read.problems)
    keys = set(layout.raw.partition_keys)
    frame = read.frame.drop(*keys)
    if layout.event_time_expr is not None:
        micros = layout.event_time_expr
        if job.spec.event_time.on_missing == "arrival_time":  # the raw partition is the arrival's: its start stands in
            micros = micros.fill_null(int(part.start.timestamp()) * 1_000_000)
        frame = frame.with_columns(micros.cast(UTC_MICROS).alias(EVENT_TIME))
    outside = frame.filter(~pl.col(layout.event_time).is_between(part.start, part.end, closed="left").fill_null(False))
    if outside.height:
        value = outside.get_column(layout.event_time)[0]
        problem = RawProblem(source, f"{outside.height:,} rows have an event time outside the partition (e.g. {value})")
        return _Partition(frame=None, refused=read.refused, problems=(problem,))
    return _Partition(frame=frame.select(job.columns), refused=read.refused, problems=())


def _list_raw(
    spec: PipelineSpec, root: str, partitions: Sequence[str] | None, endpoint_url: str | None
) -> dict[str, dict[str, int]]:
    """Raw partition folder → file name → size, for the selected folders laid out as the spec partitions."""
    base = join(root, "raw", spec.name.replace("-", "_"))
    groups: dict[str, dict[str, int]] = {}
    for uri, size in list_sizes(base, endpoint_url=endpoint_url).items():
        folder, _, name = _relative(base, uri).rpartition("/")
        hive = [part.partition("=")[0] for part in folder.split("/")]
        selected = partitions is None or any(f"{folder}/".startswith(f"{p.strip('/')}/") for p in partitions)
        # "_" and "." names are no one's data (temporary files, _SUCCESS, .crc), as for Athena and Spark
        if not name.startswith(("_", ".")) and hive == list(spec.partitioning.keys) and selected:
            groups.setdefault(folder, {})[name] = size
    return groups


def _digest(files: Mapping[str, int], rule: DedupeRule, target_rows: int) -> str:
    """What a partition was made from: its files' names and sizes, the rule and the file size (16 hex digits)."""
    identity = [FORMAT, rule.describe(), rule.event_time, target_rows, sorted(files.items())]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]


def _summary(
    job: _Job, table: Table, compacted: Mapping[str, PartitionSummary], *, committed: bool, attempts: int
) -> CompactSummary:
    partitions = tuple(
        compacted.get(folder) or PartitionSummary(partition=folder, status="unchanged", raw_files=len(job.raw[folder]))
        for folder in sorted(job.raw)
    )
    snapshot = table.current_snapshot()
    return CompactSummary(
        table=".".join(job.layout.identifier),
        partitions=partitions,
        snapshot_id=snapshot.snapshot_id if snapshot is not None else None,
        committed=committed,
        attempts=attempts,
    )


def _delete(table: Table, files: list[DataFile]) -> None:
    for data_file in files:
        with contextlib.suppress(OSError):  # left behind, it is an orphan file: harmless, found by orphan-file maintenance
            table.io.delete(data_file.file_path)


def _relative(base: str, uri: str) -> str:
    """``uri``'s path below ``base``, with ``/`` separators."""
    if is_s3(base):
        return uri[len(base.rstrip("/")) + 1 :]
    return Path(uri).relative_to(base).as_posix()
