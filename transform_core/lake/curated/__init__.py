"""The curated zone: the raw zone deduplicated into one Apache Iceberg table per pipeline (``docs/lake.md``).

:func:`compact` commits the raw partitions that changed into the table, one snapshot per run; :func:`scan_curated`
reads it with Polars, at any snapshot; :func:`expire` (:mod:`.maintain`) removes old snapshots and the files nothing
references. The table's layout is :mod:`.schema`, its catalog :mod:`.catalogs`, the copy kept of a record
:mod:`.dedupe`. pyiceberg and pyarrow (the ``lake`` extra) are imported on first use only.
"""

from __future__ import annotations

from transform_core.lake.curated.catalogs import CatalogSettings, catalog_settings
from transform_core.lake.curated.compact import CompactSummary, PartitionSummary, compact
from transform_core.lake.curated.maintain import ExpireSummary, expire
from transform_core.lake.curated.read import curated_table, scan_curated
from transform_core.lake.curated.schema import CuratedLayout, curated_layout

__all__ = [
    "CatalogSettings",
    "CompactSummary",
    "CuratedLayout",
    "ExpireSummary",
    "PartitionSummary",
    "catalog_settings",
    "compact",
    "curated_layout",
    "curated_table",
    "expire",
    "scan_curated",
]
