"""The curated zone: raw partitions compacted into deduplicated, time-sorted, right-sized Parquet files.

Layout (``docs/lake.md``, "Curated zone")::

    curated/<table>/year=YYYY/month=MM/day=DD[/hour=HH]/_manifest.json
    curated/<table>/year=YYYY/month=MM/day=DD[/hour=HH]/gen-<hash>/part-<n>.parquet

A partition changes in one atomic write, its manifest, once the new generation's files are whole. A generation is
named after its inputs, so compacting the same raw files again finds its own manifest and writes nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from transform_core.lake.columns import BATCH_ID, INGESTED_AT, SOURCE_RECORD_ID, lake_columns, table_dtypes
from transform_core.lake.storage import delete_files, is_s3, join, list_files, list_sizes, read_bytes, write_atomic
from transform_core.spec import PipelineSpec

__all__ = ["MANIFEST", "CompactSummary", "PartitionSummary", "compact", "curated_files"]

MANIFEST = "_manifest.json"  # "_": Athena, Glue and Spark skip it when scanning the folder
_FORMAT = 1  # bump when the curated output for the same input changes, so old generations get rebuilt
_LINEAGE = (INGESTED_AT, BATCH_ID, SOURCE_RECORD_ID)  # where a copy came from, not what it says


@dataclass(frozen=True, kw_only=True)
class PartitionSummary:
    """What compaction did to one partition (``year=2026/month=11/day=24``)."""

    partition: str
    status: Literal["compacted", "unchanged"]
    raw_files: int
    raw_rows: int  # rows in the raw files it was made from
    rows: int  # rows in the curated partition
    files: tuple[str, ...]  # the curated partition's current files


@dataclass(frozen=True, kw_only=True)
class CompactSummary:
    """What :func:`compact` did, partition by partition."""

    partitions: tuple[PartitionSummary, ...]

    @property
    def compacted(self) -> int:
        """Partitions written by this run."""
        return sum(p.status == "compacted" for p in self.partitions)

    @property
    def duplicates(self) -> int:
        """Rows removed as duplicates in the partitions compacted by this run."""
        return sum(p.raw_rows - p.rows for p in self.partitions if p.status == "compacted")


@dataclass(frozen=True)
class _Job:
    root: str
    table: str
    key: tuple[str, ...]  # empty: the record's content
    event_time: str
    target_rows: int
    endpoint_url: str | None
    staging: str | None


def compact(
    spec: PipelineSpec,
    root: str | None = None,
    *,
    key: str | None = None,
    target_rows: int = 1_000_000,
    partitions: Sequence[str] | None = None,
    endpoint_url: str | None = None,
) -> CompactSummary:
    """Compact raw partitions into the curated zone: deduplicated by ``key``, sorted by event time, atomic per partition.

    The raw files are listed once, at the start; files arriving later are compacted by the next run.

    Args:
        root: the lake root, a folder or ``s3://bucket/prefix``; default: the spec's ``output.lake``.
        key: column(s) naming a record, comma-separated; default: ``event_id`` or ``id`` when the schema declares it,
            else the record's content (all columns but the lineage ones). The most recently ingested copy is kept.
        target_rows: the most rows one curated file holds.
        partitions: e.g. ``year=2026/month=11/day=24``, or ``year=2026/month=11`` for all below it; default: all.
        endpoint_url: S3 endpoint, overriding the AWS environment variables.

    Raises:
        SpecError: no root given and no ``output.lake`` in the spec.
        ValueError: ``target_rows`` below 1, or a key or event time column the raw files do not have.
    """
    root = spec.lake_root(root, needed_by="the curated zone")
    if target_rows < 1:
        raise ValueError(f"target_rows must be at least 1, got {target_rows}")
    job = _Job(
        root=root,
        table=spec.name.replace("-", "_"),
        key=_key_columns(spec, key),
        event_time=spec.event_time.field,
        target_rows=target_rows,
        endpoint_url=endpoint_url,
        staging=None if is_s3(root) else join(root, "_staging"),
    )
    raw_root = join(root, "raw", job.table)
    groups: dict[str, dict[str, int]] = {}
    for uri, size in list_sizes(raw_root, endpoint_url=endpoint_url).items():  # once: later files wait for the next run
        folder, _, name = _relative(raw_root, uri).rpartition("/")
        hive = [part.partition("=")[0] for part in folder.split("/")]
        selected = partitions is None or any(f"{folder}/".startswith(f"{p.strip('/')}/") for p in partitions)
        if name.endswith(".parquet") and hive == list(spec.partitioning.keys) and selected:
            groups.setdefault(folder, {})[name] = size
    return CompactSummary(partitions=tuple(_compact_partition(job, folder, groups[folder]) for folder in sorted(groups)))


def curated_files(spec: PipelineSpec, root: str | None = None, *, endpoint_url: str | None = None) -> list[str]:
    """The current files of every curated partition, as their manifests list them (for ``pl.scan_parquet``)."""
    base = join(spec.lake_root(root, needed_by="the curated zone"), "curated", spec.name.replace("-", "_"))
    folders = sorted({_relative(base, uri).rsplit("/", 2)[0] for uri in list_files(base, endpoint_url=endpoint_url)})
    files: list[str] = []
    for dest in (join(base, *folder.split("/")) for folder in folders):
        manifest = _read_manifest(join(dest, MANIFEST), endpoint_url)
        files.extend(_summary(dest, manifest, "unchanged").files if manifest is not None else ())
    return files


def _compact_partition(job: _Job, folder: str, raw: Mapping[str, int]) -> PartitionSummary:
    dest = join(job.root, "curated", job.table, *folder.split("/"))
    generation, manifest_uri = _generation(job, raw), join(dest, MANIFEST)
    previous = _read_manifest(manifest_uri, job.endpoint_url)
    if previous is not None and previous["generation"] == generation:
        return _summary(dest, previous, "unchanged")
    source = join(job.root, "raw", job.table, *folder.split("/"))
    frames = [pl.read_parquet(io.BytesIO(read_bytes(join(source, name), endpoint_url=job.endpoint_url))) for name in sorted(raw)]
    frame = pl.concat(frames, how="diagonal_relaxed")  # a newer spec version may have added columns
    curated = _sorted(job, _dedupe(job, frame, folder), folder)
    written: list[dict[str, Any]] = []
    for n, start in enumerate(range(0, curated.height, job.target_rows)):
        chunk = curated.slice(start, job.target_rows)
        buffer = io.BytesIO()
        chunk.write_parquet(buffer, compression="zstd")
        path = f"gen-{generation}/part-{n}.parquet"
        write_atomic(join(dest, *path.split("/")), buffer.getvalue(), endpoint_url=job.endpoint_url, staging_dir=job.staging)
        written.append({"path": path, "rows": chunk.height, "bytes": len(buffer.getvalue())})
    manifest = {
        "format": _FORMAT,
        "partition": folder,
        "generation": generation,
        "key": list(job.key) or "content",
        "event_time": job.event_time,
        "target_rows": job.target_rows,
        "rows": curated.height,
        "raw_rows": frame.height,
        "files": written,
        "raw_files": [{"path": name, "bytes": raw[name]} for name in sorted(raw)],
    }
    text = json.dumps(manifest, indent=1).encode() + b"\n"
    write_atomic(manifest_uri, text, endpoint_url=job.endpoint_url, staging_dir=job.staging)  # the swap
    generations = [(_relative(dest, uri).split("/")[0], uri) for uri in list_files(dest, endpoint_url=job.endpoint_url)]
    stale = [uri for gen, uri in generations if gen.startswith("gen-") and gen != f"gen-{generation}"]  # crashed runs' too
    delete_files(stale, endpoint_url=job.endpoint_url)
    return _summary(dest, manifest, "compacted")


def _summary(dest: str, manifest: Mapping[str, Any], status: Literal["compacted", "unchanged"]) -> PartitionSummary:
    return PartitionSummary(
        partition=manifest["partition"],
        status=status,
        raw_files=len(manifest["raw_files"]),
        raw_rows=manifest["raw_rows"],
        rows=manifest["rows"],
        files=tuple(join(dest, *f["path"].split("/")) for f in manifest["files"]),
    )


def _key_columns(spec: PipelineSpec, key: str | None) -> tuple[str, ...]:
    if key is not None:
        names = tuple(name.strip() for name in key.split(","))
        if not all(names):
            raise ValueError(f"key must name one or more columns, comma-separated, got {key!r}")
        return names
    known = lake_columns(spec, table_dtypes(spec)).known
    return next(((name,) for name in ("event_id", "id") if name in known), ())


def _dedupe(job: _Job, frame: pl.DataFrame, folder: str) -> pl.DataFrame:
    """One row per key: the most recently ingested copy. Rows with a null key are all kept (nothing says they match)."""
    missing = [name for name in job.key if name not in frame.columns]
    if missing:
        raise ValueError(f"raw partition {folder}: no key column {', '.join(map(repr, missing))} (columns: {frame.columns})")
    newest_first = frame.sort(list(_LINEAGE), descending=True, nulls_last=True, maintain_order=True)
    if not job.key:
        content = [name for name in frame.columns if name not in _LINEAGE]
        return newest_first.unique(subset=content, keep="first", maintain_order=True)
    unkeyed = pl.any_horizontal(pl.col(name).is_null() for name in job.key)
    keyed = newest_first.filter(~unkeyed).unique(subset=list(job.key), keep="first", maintain_order=True)
    return pl.concat([keyed, newest_first.filter(unkeyed)])


def _sorted(job: _Job, frame: pl.DataFrame, folder: str) -> pl.DataFrame:
    """Sorted by event time, then by the key (or the copy's source) so the same rows always give the same files."""
    name, *path = job.event_time.split(".")  # a dotted path reaches into a struct column
    expr = pl.col(name)
    for field in path:
        expr = expr.struct.field(field)
    try:
        frame.lazy().select(expr).collect_schema()
    except pl.exceptions.PolarsError as err:
        raise ValueError(f"raw partition {folder}: the event time {job.event_time!r} is not a column ({err})") from err
    ties = list(job.key) or [BATCH_ID, SOURCE_RECORD_ID]
    return frame.sort([expr, *ties], nulls_last=True, maintain_order=True)


def _generation(job: _Job, raw: Mapping[str, int]) -> str:
    identity = [_FORMAT, sorted(raw.items()), job.key, job.event_time, job.target_rows]
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _read_manifest(uri: str, endpoint_url: str | None) -> dict[str, Any] | None:
    try:
        manifest: dict[str, Any] = json.loads(read_bytes(uri, endpoint_url=endpoint_url))
    except FileNotFoundError:
        return None
    return manifest


def _relative(base: str, uri: str) -> str:
    """``uri``'s path below ``base``, with ``/`` separators."""
    if is_s3(base):
        return uri[len(base.rstrip("/")) + 1 :]
    return Path(uri).relative_to(base).as_posix()
