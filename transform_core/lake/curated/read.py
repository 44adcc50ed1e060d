"""Reading the curated table: a Polars lazy frame through Iceberg, at its current snapshot or as of an earlier one.

Polars plans the scan with pyiceberg, which prunes partitions and files by the filters on the event time before any
data file is opened. Polars looks for its Iceberg planner plugin first and warns when it is missing;
``POLARS_ICEBERG_PLANNER=pyiceberg`` (set here unless already set) asks for pyiceberg's planner outright.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import polars as pl

from transform_core.lake.curated.catalogs import CatalogSettings, catalog_settings, file_properties, find_catalog, find_table
from transform_core.lake.curated.schema import curated_layout, require_lake
from transform_core.lake.storage import is_s3
from transform_core.spec import PipelineSpec

if TYPE_CHECKING:
    from pyiceberg.table import Table

__all__ = ["curated_table", "iso_instant", "scan_curated", "snapshot_as_of"]

_PLANNER = "POLARS_ICEBERG_PLANNER"


def curated_table(
    spec: PipelineSpec, root: str | None = None, *, catalog: CatalogSettings | None = None, endpoint_url: str | None = None
) -> Table | None:
    """The pipeline's curated table, or None when nothing was ever compacted (nothing is created here).

    Raises:
        SpecError: no root given and no ``output.lake`` in the spec.
        ConfigurationEnvironmentError: the ``lake`` extra is missing.
        ValueError: the table exists with another schema than the spec's lake columns.
    """
    require_lake()
    root = spec.lake_root(root, needed_by="the curated zone")
    settings = catalog or catalog_settings(endpoint_url=endpoint_url)
    found = find_catalog(root, settings)
    return find_table(found, curated_layout(spec, settings.namespace)) if found is not None else None


def scan_curated(
    spec: PipelineSpec,
    root: str | None = None,
    *,
    as_of: str | None = None,
    catalog: CatalogSettings | None = None,
    endpoint_url: str | None = None,
) -> pl.LazyFrame | None:
    """The curated table as a lazy frame, or None when it has no snapshot yet.

    Args:
        as_of: a snapshot id, or an ISO 8601 time (UTC unless it says otherwise): the table as it was then.

    Raises:
        ValueError: ``as_of`` names no snapshot of the table, or there is no table to travel in.
    """
    root = spec.lake_root(root, needed_by="the curated zone")
    settings = catalog or catalog_settings(endpoint_url=endpoint_url)
    table = curated_table(spec, root, catalog=settings)
    if table is None or table.current_snapshot() is None:
        if as_of is not None:
            raise ValueError(f"--as-of {as_of}: the curated table of {spec.name!r} has no snapshot yet")
        return None
    snapshot_id = snapshot_as_of(table, as_of) if as_of is not None else None
    os.environ.setdefault(_PLANNER, "pyiceberg")
    options = file_properties(settings.s3) if is_s3(root) else None
    return pl.scan_iceberg(table, snapshot_id=snapshot_id, storage_options=options)


def snapshot_as_of(table: Table, as_of: str) -> int:
    """The id of the snapshot ``as_of`` names: a snapshot id, or the one current at an ISO 8601 time.

    Raises:
        ValueError: no such snapshot, a time before the first one, or neither an id nor a time.
    """
    if as_of.isdigit():
        if table.snapshot_by_id(int(as_of)) is None:
            ids = ", ".join(str(s.snapshot_id) for s in table.snapshots()[-5:])
            raise ValueError(f"--as-of {as_of}: no such snapshot (the latest: {ids})")
        return int(as_of)
    try:
        moment = iso_instant(as_of)
    except ValueError:
        raise ValueError(f"--as-of {as_of!r}: neither a snapshot id nor an ISO 8601 time") from None
    snapshot = table.snapshot_as_of_timestamp(int(moment.timestamp() * 1000))
    if snapshot is None:
        raise ValueError(f"--as-of {as_of}: the curated table has no snapshot that early")
    return snapshot.snapshot_id


def iso_instant(text: str) -> datetime:
    """An ISO 8601 date or time (``Z`` or ``z`` for UTC) as a timezone-aware instant, UTC unless it has an offset.

    Raises:
        ValueError: not an ISO 8601 date or time (``datetime.fromisoformat``'s error).
    """
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
