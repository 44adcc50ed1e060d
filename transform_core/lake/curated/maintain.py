"""``transform-core expire``: old snapshots of the curated table expired, then the files nothing references deleted.

Expiry removes from the table's metadata, in one catalog commit, the snapshots committed before a cutoff, except the
current one, the last ``retain_last`` of its ancestors, and the ancestors down to the newest snapshot :func:`compact`
committed (its summary holds the consumed state, which :func:`consumed_state` reaches through parent links). Then the
files under the table's location are listed, and those nothing references (no kept snapshot's manifest list,
manifests or live data and delete files, no metadata file the current one lists, no statistics file) are deleted: the
data of the expired snapshots, and the orphans a crashed or outraced run left. A file is deleted only once older than
``orphans_older_than``: a younger one may belong to a run in flight, whose commit is still to come. pyiceberg is
imported on first use only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from transform_core.errors import CommitConflictError
from transform_core.lake.curated.catalogs import (
    CatalogSettings,
    catalog_settings,
    check_catalog,
    find_catalog,
    find_table,
    table_location,
)
from transform_core.lake.curated.compact import ATTEMPTS, FORMAT_KEY
from transform_core.lake.curated.schema import curated_layout, require_lake
from transform_core.lake.storage import check_destination, is_s3
from transform_core.spec import PipelineSpec

if TYPE_CHECKING:
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

__all__ = ["ExpireSummary", "expire"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_Listing = Mapping[str, tuple[int, datetime | None]]  # file → its size in bytes, when it was last written


@dataclass(frozen=True, kw_only=True)
class ExpireSummary:
    """What :func:`expire` did (or, in a dry run, would do) to the curated table."""

    table: str  # namespace.table
    found: bool  # the catalog has the table; when False, nothing was looked at
    dry_run: bool
    snapshot_id: int | None = None  # the table's current snapshot; None: it has none
    expired: Mapping[int, datetime] = field(default_factory=dict)  # snapshot id → when it was committed
    kept: tuple[int, ...] = ()  # the snapshots the table keeps, oldest first
    orphans: Mapping[str, int] = field(default_factory=dict)  # file deleted (dry run: to delete) → its size in bytes
    young: int = 0  # files nothing references, kept because they are younger than orphans_older_than
    attempts: int = 1  # expiry commits tried (more than one after a concurrent writer won)

    @property
    def orphan_bytes(self) -> int:
        """The bytes of the files deleted."""
        return sum(self.orphans.values())


def expire(
    spec: PipelineSpec,
    root: str | None = None,
    *,
    older_than: timedelta = timedelta(days=5),
    retain_last: int = 1,
    orphans_older_than: timedelta = timedelta(days=3),
    dry_run: bool = False,
    now: datetime | None = None,
    endpoint_url: str | None = None,
    catalog: CatalogSettings | None = None,
) -> ExpireSummary:
    """Expire the curated table's old snapshots, then delete the files under its location nothing references.

    Args:
        root: the lake root, a folder or ``s3://bucket/prefix``; default: the spec's ``output.lake``.
        older_than: snapshots committed longer ago than this may be expired.
        retain_last: the current snapshot and its ancestors kept whatever their age (at least 1).
        orphans_older_than: files nothing references are deleted only when last written longer ago than this.
        dry_run: decide what would go, change nothing.
        now: the time both ages count back from (default: the current time).
        endpoint_url: S3 endpoint, overriding the AWS environment variables (when ``catalog`` is not given).
        catalog: which catalog holds the table; default: the SQL catalog in the lake, S3 settings from the environment.

    Raises:
        SpecError: no root given and no ``output.lake`` in the spec.
        ConfigurationEnvironmentError: the ``lake`` extra is missing, an ``s3://`` lake without a catalog file, or
            its bucket does not exist.
        OSError: S3 cannot be reached.
        CommitConflictError: other writers committed first on every attempt.
        ValueError: a negative age, ``retain_last`` below 1, ``now`` without a time zone, a local lake root that does
            not exist, or a table whose location is not the lake's.
    """
    require_lake()
    root = spec.lake_root(root, needed_by="the curated zone")
    if older_than < timedelta(0) or orphans_older_than < timedelta(0):
        raise ValueError(f"ages cannot be negative: older_than={older_than}, orphans_older_than={orphans_older_than}")
    if retain_last < 1:
        raise ValueError(f"retain_last must be at least 1, got {retain_last}")
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError(f"now must carry a time zone, got {now}")
    settings = catalog or catalog_settings(endpoint_url=endpoint_url)
    check_catalog(root, settings)
    if not is_s3(root) and not Path(root).is_dir():
        problem = "a file, not a folder" if Path(root).exists() else "the folder does not exist"
        raise ValueError(f"no lake at {root}: {problem}; give --lake the folder compact wrote the curated table in")
    if is_s3(root):
        check_destination(root, endpoint_url=settings.s3.endpoint_url, write=False)  # the bucket exists and answers
    layout = curated_layout(spec, settings.namespace)
    name = ".".join(layout.identifier)
    found = find_catalog(root, settings)
    table = find_table(found, layout) if found is not None else None
    if table is None:
        return ExpireSummary(table=name, found=False, dry_run=dry_run)
    location = table_location(root, layout, settings)
    if _normal(table.location()) != _normal(location):  # its files are elsewhere: nothing here is its to delete
        where = "--warehouse" if settings.warehouse else "the lake"
        raise ValueError(f"the curated table {name} lives at {table.location()}, not in {where} at {location}")

    table, expired, attempts = _expire_snapshots(table, name, _millis(now - older_than), retain_last, dry_run=dry_run)
    kept = [s for s in table.snapshots() if s.snapshot_id not in expired]
    listed = _listing(table, location)  # before the references are read: see _unreferenced
    unreferenced = _unreferenced(table, kept, location, listed)
    cutoff = now - orphans_older_than
    orphans = {uri: size for uri, (size, written) in unreferenced.items() if written is not None and written < cutoff}
    if not dry_run:
        _delete(table, orphans)
    current = table.current_snapshot()
    return ExpireSummary(
        table=name,
        found=True,
        dry_run=dry_run,
        snapshot_id=current.snapshot_id if current is not None else None,
        expired=expired,
        kept=tuple(s.snapshot_id for s in sorted(kept, key=lambda s: s.timestamp_ms)),
        orphans=orphans,
        young=len(unreferenced) - len(orphans),
        attempts=attempts,
    )


def _expire_snapshots(
    table: Table, name: str, cutoff_ms: int, retain_last: int, *, dry_run: bool
) -> tuple[Table, dict[int, datetime], int]:
    """Remove the expired snapshots in one commit; the table after, what went and the commits tried."""
    from pyiceberg.exceptions import CommitFailedException

    for attempt in range(1, ATTEMPTS + 1):
        expired = _expired(table, cutoff_ms, retain_last)
        if dry_run or not expired:
            return table, expired, attempt
        try:
            table.maintenance.expire_snapshots().by_ids(sorted(expired)).commit()
        except CommitFailedException:
            table.refresh()  # another writer committed first: decide again on what it left
            continue
        except ValueError:
            # the catalog applies the removal to the table as it is at the commit: a concurrent expiry may have
            # removed some of these snapshots already; any other refusal is not a race
            if all(table.refresh().snapshot_by_id(snapshot_id) is not None for snapshot_id in expired):
                raise
            continue
        return table.refresh(), expired, attempt
    raise CommitConflictError(f"the curated table {name} changed under each of {ATTEMPTS} expiry commits; run it again")


def _expired(table: Table, cutoff_ms: int, retain_last: int) -> dict[int, datetime]:
    """The snapshots committed before the cutoff that nothing needs: snapshot id → commit time."""
    ancestors = _ancestors(table)
    keep = {s.snapshot_id for s in ancestors[:retain_last]}
    compacted = next((i for i, s in enumerate(ancestors) if FORMAT_KEY in _summary(s)), None)
    if compacted is not None:  # consumed_state walks parent links: the whole way down to it stays
        keep |= {s.snapshot_id for s in ancestors[: compacted + 1]}
    keep |= {ref.snapshot_id for ref in table.metadata.refs.values()}  # branch and tag heads (pyiceberg refuses them)
    return {
        s.snapshot_id: _EPOCH + timedelta(milliseconds=s.timestamp_ms)
        for s in table.snapshots()
        if s.timestamp_ms < cutoff_ms and s.snapshot_id not in keep
    }


def _ancestors(table: Table) -> list[Snapshot]:
    """The current snapshot and its ancestors, newest first (as far as parent links reach)."""
    chain: list[Snapshot] = []
    snapshot = table.current_snapshot()
    while snapshot is not None:
        chain.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return chain


def _summary(snapshot: Snapshot) -> Mapping[str, str]:
    return snapshot.summary.additional_properties if snapshot.summary is not None else {}


def _listing(table: Table, location: str) -> _Listing:
    """Every file under the table's location, in one listing through the table's own FileIO (the one that deletes).

    Names starting with ``.`` or ``_`` are someone's temporary or marker files and are left out, but a folder such as
    ``_event_time_day=2026-11-28`` is a partition of the table (``storage.list_files`` would skip it).
    """
    from pyarrow.fs import FileSelector, FileType
    from pyiceberg.io.pyarrow import PyArrowFileIO

    io = table.io
    if not isinstance(io, PyArrowFileIO):
        raise ValueError(f"expire lists the table's files through pyiceberg's PyArrowFileIO, not {type(io).__name__}")
    scheme, netloc, path = io.parse_location(location, io.properties)
    infos = io.fs_by_scheme(scheme, netloc).get_file_info(FileSelector(path, recursive=True, allow_not_found=True))
    prefix = "" if scheme == "file" else f"{scheme}://"
    listed: dict[str, tuple[int, datetime | None]] = {}
    for info in infos:
        parts = info.path[len(path.rstrip("/")) :].split("/")
        if info.type == FileType.File and not any(p.startswith((".", "_")) and "=" not in p for p in parts):
            listed[prefix + info.path] = (int(info.size), _utc(info.mtime))
    return listed


def _unreferenced(table: Table, snapshots: Iterable[Snapshot], location: str, listed: _Listing) -> _Listing:
    """The listed files under ``location`` that neither ``snapshots`` nor the table's metadata reference.

    The references are read after the listing: a file a concurrent run commits in between is then referenced, and one
    committed after the references were read is younger than any sensible ``orphans_older_than``.
    """
    referenced = {_normal(uri) for uri in _references(table, snapshots)}
    base = _normal(location) + "/"
    return {uri: entry for uri, entry in listed.items() if _normal(uri).startswith(base) and _normal(uri) not in referenced}


def _references(table: Table, snapshots: Iterable[Snapshot]) -> set[str]:
    """Every file the table needs to read these snapshots, and its metadata files.

    A manifest's deleted entries are not references: a snapshot that deletes a file no longer reads it, and the
    snapshots that did are expired or keep it in their own manifests' live entries.
    """
    metadata = table.metadata
    files = {table.metadata_location, *(entry.metadata_file for entry in metadata.metadata_log)}
    files |= {stats.statistics_path for stats in [*metadata.statistics, *metadata.partition_statistics]}
    manifests: set[str] = set()
    for snapshot in snapshots:
        files.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            if manifest.manifest_path in manifests:  # shared by successive snapshots: read once
                continue
            manifests.add(manifest.manifest_path)
            files |= {entry.data_file.file_path for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)}
    return files | manifests


def _utc(moment: datetime | None) -> datetime | None:
    """A listed time as an aware UTC time; None (no time to judge the age by) keeps the file."""
    if moment is None:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _delete(table: Table, orphans: Iterable[str]) -> None:
    """Delete through the table's FileIO; local folders left empty stay (a run may be about to write into one)."""
    for uri in orphans:
        with contextlib.suppress(FileNotFoundError):
            table.io.delete(uri)


def _normal(uri: str) -> str:
    """One spelling per file: ``file:`` URIs as paths, ``s3a://``/``s3n://`` as ``s3://``, no trailing ``/``."""
    for scheme in ("s3a://", "s3n://"):
        if uri.startswith(scheme):
            uri = "s3://" + uri[len(scheme) :]
    if is_s3(uri):
        return uri.rstrip("/")
    if uri.startswith("file:"):
        uri = "/" + uri[len("file:") :].lstrip("/")
    return os.path.normpath(uri)


def _millis(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)
