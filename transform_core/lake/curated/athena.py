"""Athena over the curated table: the statements that read and maintain it, and its Glue entry.

Athena reads an Iceberg table through the AWS Glue Data Catalog: a Glue table whose ``Parameters`` hold
``table_type=ICEBERG`` and ``metadata_location``, the table's current ``metadata/*.metadata.json``, from which Athena
takes the schema, the partitioning and the snapshots. ``compact --catalog glue`` keeps that entry current itself
(pyiceberg's ``GlueCatalog`` commits there). A table compacted with the SQL catalog gets one from
:func:`register_curated`, which points Glue at the SQL catalog's current metadata. boto3 (the ``aws`` extra) and
pyiceberg are imported by :func:`register_curated` only. See ``docs/lake.md``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from transform_core.errors import ConfigurationEnvironmentError
from transform_core.lake.catalog import plain_name, s3_root
from transform_core.lake.curated.catalogs import (
    CatalogSettings,
    check_catalog,
    find_catalog,
    find_table,
    open_catalog,
    table_location,
)
from transform_core.lake.curated.schema import CuratedLayout, curated_layout, require_lake
from transform_core.spec import PipelineSpec

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

__all__ = ["Registration", "athena_statements", "glue_names", "register_curated"]

#: What ``UpdateTable`` takes back of what ``GetTable`` returns (the rest is Glue's own bookkeeping).
_TABLE_INPUT_KEYS = ("Name", "Description", "Owner", "Retention", "StorageDescriptor", "PartitionKeys", "TableType")


class Registration(NamedTuple):
    """What :func:`register_curated` did: ``created``, ``updated`` or ``unchanged``, the Glue table, its metadata."""

    action: Literal["created", "updated", "unchanged"]
    table: str
    metadata_location: str


def athena_statements(
    spec: PipelineSpec,
    location: str,
    *,
    database: str,
    table: str | None = None,
    namespace: str | None = None,
    catalog: Literal["sql", "glue"] = "sql",
    day: date | None = None,
) -> str:
    """The Athena statements (engine version 3) that read and maintain the curated table, with comments saying why.

    Args:
        spec: the pipeline spec.
        location: the lake root, ``s3://bucket/prefix``; the table is ``<location>/curated/<namespace>/<table>/``.
        database: the Glue database the statements name.
        table: the Glue table name; default: the curated table's own (the spec's name with ``-`` → ``_``).
        namespace: the table's namespace in the lake's catalog (its folder); default ``transform_core``.
        catalog: the catalog ``compact`` commits to: with ``sql``, Athena's maintenance statements are printed
            commented out, since their commits would go to Glue alone.
        day: the UTC day the example query reads; default: today.

    Raises:
        ValueError: ``location`` is not an ``s3://`` URI, or ``database``/``table`` is not a plain name.
    """
    layout = curated_layout(spec, namespace)
    db, name = glue_names(layout, database, table)
    where = table_location(s3_root(location), layout)
    start = datetime.combine(day or datetime.now(UTC).date(), datetime.min.time(), tzinfo=UTC)
    first, last = _timestamp(start), _timestamp(start + timedelta(days=1))
    quoted, column = f'"{db}"."{name}"', f'"{layout.event_time}"'
    if catalog == "glue":
        writer = ["-- `transform-core compact --catalog glue` commits to that Glue table: Athena reads each commit at once."]
        maintain = ""
    else:
        writer = [
            "-- `transform-core compact` commits to the lake's SQL catalog, which Athena cannot read:",
            "-- `transform-core catalog --zone curated --register` points the Glue table at its current metadata.",
            "-- Run it after each compact; until then Athena reads the table as last registered.",
        ]
        maintain = "-- "
    lines = [
        f"-- The curated table of {spec.name!r} in Athena (engine version 3): an Apache Iceberg table, format version 2,",
        f"-- at {where}/ (data/ and metadata/).",
        f"-- There is no CREATE TABLE to run: Athena finds the table through the Glue table {db}.{name}, whose",
        "-- Parameters table_type=ICEBERG and metadata_location (the current metadata/*.metadata.json) give it the",
        "-- schema, the partitions and the snapshots.",
        *writer,
        "",
        f"-- Partitioned by {layout.granularity}({layout.event_time}): a filter on {layout.event_time} opens only the files",
        "-- of the partitions it can match.",
        f"SELECT count(*) AS n FROM {quoted}",
        f"WHERE {column} >= {first} AND {column} < {last};",
        "",
        "-- Its snapshots: one per compact run that changed something (and one per OPTIMIZE).",
        f'SELECT committed_at, snapshot_id, operation FROM "{db}"."{name}$snapshots" ORDER BY committed_at;',
        "",
        "-- Time travel: the table as it was at a time (a TIMESTAMP without a zone is UTC), or at a snapshot id.",
        f"SELECT count(*) AS n FROM {quoted} FOR TIMESTAMP AS OF (current_timestamp - interval '1' day);",
        f"-- SELECT count(*) AS n FROM {quoted} FOR VERSION AS OF <snapshot_id>;",
        "",
        "-- Maintenance. OPTIMIZE rewrites small data files into larger ones (compact walks past its snapshot).",
        "-- VACUUM expires snapshots older than the table property vacuum_max_snapshot_age_seconds (default 5 days;",
        "-- vacuum_min_snapshots_to_keep, default 1, are kept), deletes the files only they named and orphan files",
        "-- older than that age: no time travel to an expired snapshot. compact keeps its state in its own snapshots:",
        "-- when VACUUM leaves none of them (after an OPTIMIZE), the next compact recomputes every partition.",
    ]
    if catalog != "glue":
        lines += [
            "-- Run them only on a table whose catalog is Glue (compact --catalog glue): here they would commit to Glue",
            "-- alone, unseen by the SQL catalog, and VACUUM would delete as orphans the files of compact runs not yet",
            "-- registered. `transform-core expire` expires snapshots and orphan files through the SQL catalog.",
        ]
    lines += [
        f"{maintain}OPTIMIZE {db}.{name} REWRITE DATA USING BIN_PACK;",
        f"{maintain}VACUUM {db}.{_vacuum_name(name)};",
    ]
    return "\n".join(lines)


def register_curated(
    spec: PipelineSpec,
    location: str,
    *,
    database: str,
    table: str | None = None,
    settings: CatalogSettings,
    glue_endpoint_url: str | None = None,
    region: str | None = None,
) -> Registration:
    """Point a Glue table at the curated table's current metadata, as the lake's SQL catalog has it.

    Creates the Glue database when missing, then registers the table (pyiceberg's ``GlueCatalog.register_table``),
    or moves an existing Glue table's ``metadata_location`` forward (``UpdateTable`` with the ``VersionId`` read,
    so a concurrent change fails it; ``previous_metadata_location`` keeps the one it replaces), or leaves it when it
    points there already.

    Args:
        location: the lake root, ``s3://bucket/prefix``.
        database: the Glue database; table: the Glue table name (default: the curated table's own).
        settings: the lake's catalog (``sql``: ``catalog_file`` names the SQLite file) and S3 access.
        glue_endpoint_url: the Glue endpoint (default: ``settings``'); region: the AWS region (default: S3's).

    Raises:
        ValueError: the catalog is Glue already, the catalog has no curated table or has it elsewhere than under
            ``location``, or the Glue table is not an Iceberg table or points at metadata the lake's catalog never had.
        ConfigurationEnvironmentError: the ``lake`` or ``aws`` extra is missing, or Glue or S3 refused or was unreachable.
    """
    require_lake()
    if settings.kind == "glue":
        raise ValueError("the curated table's catalog is Glue: compact --catalog glue registers it; nothing to register")
    layout = curated_layout(spec, settings.namespace)
    db, name = glue_names(layout, database, table)
    root = s3_root(location)
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as err:
        raise ConfigurationEnvironmentError("registering with Glue needs boto3: pip install 'transform-core[lake,aws]'") from err
    glue_settings = replace(
        settings,
        kind="glue",
        namespace=db,
        glue_endpoint_url=glue_endpoint_url or settings.glue_endpoint_url,
        s3=replace(settings.s3, region=region or settings.s3.region),
    )
    try:
        source = _source_table(root, settings, layout)
        return _point(open_catalog(root, glue_settings), db, name, source)
    except (BotoCoreError, ClientError) as err:
        raise ConfigurationEnvironmentError(f"Glue: {err}") from err
    except OSError as err:  # the metadata file on S3, read by pyiceberg's FileIO
        raise ConfigurationEnvironmentError(f"reading the curated table's metadata: {err}") from err


def _source_table(root: str, settings: CatalogSettings, layout: CuratedLayout) -> Table:
    check_catalog(root, settings)  # an s3:// lake's SQL catalog is a file named with --catalog-file
    found = find_catalog(root, settings)
    source = find_table(found, layout) if found is not None else None
    name = ".".join(layout.identifier)
    if source is None or source.current_snapshot() is None:
        where = settings.catalog_file or "the lake's SQL catalog"
        raise ValueError(f"no curated table {name} with a snapshot in {where}: run transform-core compact first")
    if source.location().rstrip("/") != table_location(root, layout, settings):
        raise ValueError(
            f"the curated table {name} lives at {source.location()}, not at {table_location(root, layout, settings)}"
        )
    return source


def _point(glue: Catalog, database: str, name: str, source: Table) -> Registration:
    """Register ``source``'s metadata as ``database.name`` in Glue, or move the Glue table to it."""
    from pyiceberg.catalog.glue import GlueCatalog

    assert isinstance(glue, GlueCatalog)
    client = glue.glue
    glue.create_namespace_if_not_exists(database)
    full, target = f"{database}.{name}", source.metadata_location
    try:
        current = client.get_table(DatabaseName=database, Name=name)["Table"]
    except client.exceptions.EntityNotFoundException:
        glue.register_table((database, name), target)
        return Registration("created", full, target)
    parameters = current.get("Parameters", {})
    if parameters.get("table_type", "").upper() != "ICEBERG":
        kind = parameters.get("table_type") or current.get("TableType")
        raise ValueError(f"the Glue table {full} is not an Iceberg table ({kind}): drop it, or name another with --table")
    now = parameters.get("metadata_location")
    if now == target:
        return Registration("unchanged", full, target)
    if now not in {entry.metadata_file for entry in source.metadata.metadata_log}:
        raise ValueError(
            f"the Glue table {full} points at {now}, which the lake's catalog never had (a commit through Glue, such "
            "as an Athena OPTIMIZE or VACUUM?): registering would undo it; drop the Glue table to register the lake's state"
        )
    table_input = _table_input(name, current, source, now)
    client.update_table(DatabaseName=database, TableInput=table_input, VersionId=current["VersionId"], SkipArchive=True)
    return Registration("updated", full, target)


def _table_input(name: str, current: dict[str, Any], source: Table, previous: str) -> dict[str, Any]:
    """The Glue ``TableInput`` pointing at ``source``'s metadata, built as pyiceberg's own Glue commit builds it.

    pyiceberg keeps that builder private; using it keeps the columns (with their ``iceberg.field.*`` parameters)
    exactly as ``register_table`` and ``compact --catalog glue`` write them.
    """
    from pyiceberg.catalog.glue import _construct_table_input

    kept = {key: value for key, value in current.items() if key in _TABLE_INPUT_KEYS}
    glue_table: Any = {**current, "Parameters": dict(current.get("Parameters", {}))}  # the builder updates them in place
    built = _construct_table_input(
        name, source.metadata_location, source.properties, source.metadata, glue_table, prev_metadata_location=previous
    )
    return {**kept, **built}


def glue_names(layout: CuratedLayout, database: str, table: str | None) -> tuple[str, str]:
    """The Glue database and table names, checked and lowercased; ``table`` defaults to the curated table's own."""
    return plain_name(database, "database").lower(), plain_name(table if table is not None else layout.table, "table").lower()


def _timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S} UTC'"


def _vacuum_name(name: str) -> str:
    # Athena's VACUUM wants a table name starting with "_" in backticks (and refuses double quotes)
    return f"`{name}`" if name.startswith("_") else name
