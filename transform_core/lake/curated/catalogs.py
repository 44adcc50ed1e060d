"""Where the curated table is registered: an embedded SQLite catalog in the lake, or AWS Glue.

``sql`` (the default) keeps the catalog in one SQLite file, ``<root>/_catalog/iceberg.db`` for a local lake, so
everything works without a server; an ``s3://`` lake needs the file named (it is a local file, not shared through S3).
``glue`` is pyiceberg's ``GlueCatalog`` (boto3, the ``aws`` extra). Settings come from the environment in one
function, :func:`catalog_settings`, the way :func:`~transform_core.lake.storage.s3_settings` reads them; everything
else takes them explicitly. Tables live at ``<root>/curated/<namespace>/<table>/`` (``data/`` and ``metadata/``).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from transform_core.errors import ConfigurationEnvironmentError
from transform_core.lake.curated.evolve import evolve
from transform_core.lake.curated.schema import DEFAULT_NAMESPACE, CuratedLayout, require_lake
from transform_core.lake.storage import TEMP_PREFIX, S3Settings, check_folder, is_s3, join, s3_settings

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

__all__ = [
    "CatalogSettings",
    "catalog_settings",
    "check_catalog",
    "file_properties",
    "find_catalog",
    "find_table",
    "load_table",
    "may_have_catalog",
    "open_catalog",
    "table_location",
    "warehouse_of",
]

CatalogKind = Literal["sql", "glue"]
CATALOG_NAME = "transform_core"  # the SQL catalog's rows and Glue's client both carry a name; one is enough
_CATALOG_FILE = ("_catalog", "iceberg.db")  # "_": no reader of the lake looks in there


@dataclass(frozen=True, kw_only=True)
class CatalogSettings:
    """Which catalog holds the curated table and how to reach it and the table's files.

    Attributes:
        kind: ``sql`` (embedded SQLite) or ``glue``.
        namespace: the namespace (Glue database) of the table.
        catalog_file: ``sql``: the SQLite file; None: ``<root>/_catalog/iceberg.db`` (local lakes only).
        s3: credentials, region and endpoint for the table's files on S3.
        glue_endpoint_url: ``glue``: a custom Glue endpoint, e.g. a local test server.
        warehouse: where a table is created: ``<warehouse>/<namespace>/<table>/``; None: ``<root>/curated``. A table
            that exists stays where it is.
    """

    kind: CatalogKind = "sql"
    namespace: str = DEFAULT_NAMESPACE
    catalog_file: str | None = None
    s3: S3Settings = field(default_factory=S3Settings, repr=False)  # credentials stay out of logs
    glue_endpoint_url: str | None = None
    warehouse: str | None = None


def catalog_settings(
    environ: Mapping[str, str] | None = None,
    *,
    kind: CatalogKind = "sql",
    namespace: str | None = None,
    catalog_file: str | None = None,
    endpoint_url: str | None = None,
    warehouse: str | None = None,
) -> CatalogSettings:
    """Catalog settings with S3 and Glue access from the environment (``os.environ`` by default).

    S3 as :func:`~transform_core.lake.storage.s3_settings` reads it (``endpoint_url`` overrides its endpoint); the
    Glue endpoint from ``AWS_ENDPOINT_URL_GLUE``, else ``AWS_ENDPOINT_URL``.
    """
    env = os.environ if environ is None else environ
    return CatalogSettings(
        kind=kind,
        namespace=namespace or DEFAULT_NAMESPACE,
        catalog_file=catalog_file,
        s3=s3_settings(env, endpoint_url=endpoint_url),
        glue_endpoint_url=env.get("AWS_ENDPOINT_URL_GLUE") or env.get("AWS_ENDPOINT_URL") or None,
        warehouse=warehouse.rstrip("/") if warehouse else None,
    )


def open_catalog(root: str, settings: CatalogSettings) -> Catalog:
    """The catalog of the lake at ``root``; the SQLite file is made when it does not exist yet.

    Raises:
        ConfigurationEnvironmentError: an ``s3://`` lake with the ``sql`` catalog and no catalog file, or the
            extras the catalog needs are not installed.
    """
    catalog = _catalog(root, settings, create=True)
    assert catalog is not None  # created when missing
    return catalog


def may_have_catalog(root: str, settings: CatalogSettings) -> bool:
    """Whether the lake may have a curated table, told without pyiceberg: False for a SQL catalog file not made yet."""
    if settings.kind == "glue":
        return True
    if settings.catalog_file is not None:
        return Path(settings.catalog_file).is_file()
    return not is_s3(root) and Path(root, *_CATALOG_FILE).is_file()


def find_catalog(root: str, settings: CatalogSettings) -> Catalog | None:
    """The catalog of the lake at ``root`` if there is one to read: None for a SQLite file not made yet, or an
    ``s3://`` lake with the ``sql`` catalog and no file named (nothing was ever compacted there through it).

    Raises:
        NotADirectoryError: a local ``root`` (with the lake's own SQL catalog) is a file.
    """
    if settings.kind == "sql" and settings.catalog_file is None and is_s3(root):
        return None
    if settings.kind == "sql" and settings.catalog_file is None:
        check_folder(root)  # a file named as the lake holds no catalog, and is no lake either
    return _catalog(root, settings, create=False)


def check_catalog(root: str, settings: CatalogSettings | None) -> None:
    """Refuse a catalog the lake cannot have, before any work: the SQL catalog of an ``s3://`` lake without a file.

    Raises:
        ConfigurationEnvironmentError: that, in one line saying what to do instead.
    """
    settings = settings or CatalogSettings()
    if settings.kind == "sql" and settings.catalog_file is None and is_s3(root):
        raise ConfigurationEnvironmentError(
            f"the SQL catalog of an s3:// lake ({root}) is a local file: use --catalog glue, or name one with --catalog-file"
        )


def _catalog(root: str, settings: CatalogSettings, *, create: bool) -> Catalog | None:
    require_lake()
    check_catalog(root, settings)
    warehouse = warehouse_of(root, settings)
    properties = file_properties(settings.s3) if is_s3(root) or is_s3(warehouse) else {}
    if settings.kind == "glue":
        try:
            from pyiceberg.catalog.glue import GlueCatalog
        except ImportError as err:
            raise ConfigurationEnvironmentError("the Glue catalog needs boto3: pip install 'transform-core[lake,aws]'") from err
        glue = {"glue.region": settings.s3.region, "glue.endpoint": settings.glue_endpoint_url}
        glue |= {"glue.access-key-id": settings.s3.access_key, "glue.secret-access-key": settings.s3.secret_key}
        glue |= {"glue.session-token": settings.s3.session_token, "warehouse": warehouse}
        return GlueCatalog(CATALOG_NAME, **properties, **{key: value for key, value in glue.items() if value})
    file = settings.catalog_file
    path = Path(file) if file is not None else Path(root, *_CATALOG_FILE)
    properties = {**properties, "warehouse": warehouse}
    if not path.is_file():
        if not create:
            return None
        _new_sql_catalog(path.resolve(), properties)
    return _sql_catalog(path.resolve(), properties)


def warehouse_of(root: str, settings: CatalogSettings | None = None) -> str:
    """The folder tables are created under: the settings' ``warehouse``, else ``<root>/curated``."""
    if settings is not None and settings.warehouse:
        return _absolute(settings.warehouse)
    return join(_absolute(root), "curated")


def table_location(root: str, layout: CuratedLayout, settings: CatalogSettings | None = None) -> str:
    """Where a new table's files go: ``<warehouse>/<namespace>/<table>``, whatever the catalog (see :func:`warehouse_of`)."""
    return join(warehouse_of(root, settings), layout.namespace, layout.table)


def load_table(catalog: Catalog, root: str, layout: CuratedLayout, settings: CatalogSettings | None = None) -> Table:
    """The curated table, created with the layout's schema, partitioning and sort order when missing.

    A table made by an earlier version of the spec gets the columns the spec added since (:mod:`.evolve`).

    Raises:
        ValueError: the table exists with another partitioning, a column of another type, or columns the spec lacks.
        CommitConflictError: other writers changed the table under each schema commit.
    """
    from pyiceberg.exceptions import NoSuchTableError, TableAlreadyExistsError

    try:
        table = catalog.load_table(layout.identifier)
    except NoSuchTableError:
        _create_namespace(catalog, layout.namespace)
        schema = layout.iceberg_schema()
        try:
            table = catalog.create_table(
                layout.identifier,
                schema=schema,
                location=table_location(root, layout, settings),
                partition_spec=layout.partition_spec(schema),
                sort_order=layout.sort_order(schema),
                properties={"write.parquet.compression-codec": "zstd", "transform-core.event-time": layout.event_time},
            )
        except TableAlreadyExistsError:  # another run created it first
            table = catalog.load_table(layout.identifier)
    _check_partitioning(table, layout)
    return evolve(table, layout)


def find_table(catalog: Catalog, layout: CuratedLayout) -> Table | None:
    """The curated table if the catalog has it (never created or changed here: it is read with its own schema).

    Raises:
        ValueError: the table exists with another partitioning.
    """
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    try:
        table = catalog.load_table(layout.identifier)
    except (NoSuchTableError, NoSuchNamespaceError):
        return None
    _check_partitioning(table, layout)
    return table


def _create_namespace(catalog: Catalog, namespace: str) -> None:
    try:
        catalog.create_namespace_if_not_exists(namespace)
    except Exception:
        # two runs creating it at once: the SQL catalog's loser gets the database's unique-key error, not pyiceberg's
        if not catalog.namespace_exists(namespace):
            raise


def _check_partitioning(table: Table, layout: CuratedLayout) -> None:
    name = ".".join(layout.identifier)
    field = table.schema().find_field(layout.event_time) if layout.event_time in table.schema().column_names else None
    wanted = [(field.field_id if field else None, layout.granularity)]  # the transforms print as "day" and "hour"
    if [(f.source_id, str(f.transform)) for f in table.spec().fields] != wanted:
        raise ValueError(
            f"the curated table {name} is partitioned as {table.spec()}, not by {layout.granularity}({layout.event_time})"
        )


def _sql_catalog(path: Path, properties: dict[str, str]) -> Catalog:
    from pyiceberg.catalog.sql import SqlCatalog

    return SqlCatalog(CATALOG_NAME, **properties, uri=f"sqlite:///{path}", init_catalog_tables="false")


def _new_sql_catalog(path: Path, properties: dict[str, str]) -> None:
    """Make the SQLite file with the catalog's tables in it, or leave the one another run made first.

    The file is made aside and linked into place (``link`` fails if the name exists), so no run ever opens a
    catalog without its tables, and two runs never race to create them.
    """
    from pyiceberg.catalog.sql import SqlCatalog

    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    try:
        SqlCatalog(CATALOG_NAME, **properties, uri=f"sqlite:///{aside}", init_catalog_tables="true").engine.dispose()
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
    finally:
        if aside.exists():  # a read-only folder has none, and would refuse the unlink: its error is the one to see
            aside.unlink()


def file_properties(s3: S3Settings) -> dict[str, str]:
    """pyiceberg's FileIO properties for S3, from the lake's S3 settings (unset: the AWS SDK's defaults)."""
    region = s3.region or ("us-east-1" if s3.endpoint_url else None)  # as storage.py: no region lookup on a custom endpoint
    options = {
        "s3.access-key-id": s3.access_key,
        "s3.secret-access-key": s3.secret_key,
        "s3.session-token": s3.session_token,
        "s3.region": region,
        "s3.endpoint": s3.endpoint_url,
    }
    return {key: value for key, value in options.items() if value}


def _absolute(root: str) -> str:
    return root if is_s3(root) else str(Path(root).resolve())
