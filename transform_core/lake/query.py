"""SQL over the lake: Polars SQL on lazy scans, with tables named after the spec.

With ``<table>`` the spec's name with ``-`` replaced by ``_``, the tables are:

    <table>            the curated zone when its Iceberg table has a snapshot, else the raw zone
    raw_<table>        raw/<table>/…/*.parquet
    curated_<table>    the curated Iceberg table (only once something was compacted), optionally as of a snapshot
    errors_<table>     errors/<table>/…/*.ndjson (rejected records)

Partition columns (``year``, ``month``, ``day``, ``hour``) are text, as in the folder names, so a
``WHERE year = '2026' AND month = '11'`` on the raw zone prunes whole folders before any file is opened. The curated
table has them too, computed from its event time; there a filter on the event time prunes (Iceberg's partitions and
file statistics). :func:`partition_hint` says so when a query compares them with numbers instead. A struct's field is
``column.field`` (:mod:`.query_sql` rewrites it for Polars); :func:`describe` lists a table's columns and fields. Why
Polars SQL and not DuckDB is in ``docs/lake.md``.
"""

from __future__ import annotations

import re

import polars as pl

from transform_core.engine.partition import partition_exprs, partition_stamp
from transform_core.errors import QueryError
from transform_core.lake.curated.catalogs import CatalogSettings, catalog_settings, may_have_catalog
from transform_core.lake.query_format import athena_types, dtype_name
from transform_core.lake.query_sql import dotted_fields, failure, struct_paths
from transform_core.lake.storage import is_s3, join, list_files, s3_settings
from transform_core.spec import PipelineSpec

__all__ = ["describe", "lake_tables", "partition_hint", "query"]

PARTITION_KEYS = ("year", "month", "day", "hour")
_WIDTHS = {"year": 4, "month": 2, "day": 2, "hour": 2}  # the folder names' digits
_KEY = r'(?<![\w"])(?:\w+\.)?"?(?P<key>year|month|day|hour)"?(?![\w"])'
_OPERATOR = r"(?:==?|!=|<>|<=?|>=?|(?:not\s+)?in\s*\(|(?:not\s+)?between)"
_NUMBER = r"(?P<number>[-+]?\d+(?:\.\d*)?)(?![\w.'])"
_KEY_NUMBER = re.compile(rf"{_KEY}\s*{_OPERATOR}\s*{_NUMBER}", re.IGNORECASE)
_NUMBER_KEY = re.compile(rf"{_NUMBER}\s*(?:==?|!=|<>|<=?|>=?)\s*{_KEY}", re.IGNORECASE)
_TEXT = re.compile(r"'(?:[^']|'')*'")  # SQL string literals: what they hold is no comparison
_HIVE_SCHEMA: dict[str, pl.DataType] = {key: pl.String() for key in PARTITION_KEYS}
_ERRORS_SCHEMA: dict[str, pl.DataType] = {
    "recordId": pl.String(),
    "approximateArrivalTimestamp": pl.Int64(),
    "rawData": pl.String(),
    "reason": pl.String(),
    "reasons": pl.List(pl.String()),
    "specName": pl.String(),
    "specVersion": pl.Int64(),
    "batchId": pl.String(),
    "errorTimestamp": pl.String(),
}
_FILE = "__file"


def lake_tables(
    spec: PipelineSpec,
    *,
    root: str | None = None,
    endpoint_url: str | None = None,
    catalog: CatalogSettings | None = None,
    as_of: str | None = None,
) -> dict[str, pl.LazyFrame]:
    """The lake's tables as lazy frames, keyed by their SQL name; a zone without files has no table.

    Args:
        spec: the pipeline spec; its name gives the table names.
        root: a local folder or ``s3://bucket/prefix``; default: the spec's ``output.lake``.
        endpoint_url: S3 endpoint, overriding ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``.
        catalog: the curated table's catalog; default: the SQL catalog in the lake.
        as_of: the curated table as of a snapshot id or an ISO 8601 time (see ``scan_curated``).

    Raises:
        SpecError: no root given and no ``output.lake`` in the spec.
        QueryError: ``as_of`` names no snapshot of the curated table.
    """
    root = spec.lake_root(root, needed_by="a query")
    table = spec.name.replace("-", "_")
    options = _storage_options(endpoint_url) if is_s3(root) else None
    tables: dict[str, pl.LazyFrame] = {}
    curated = _curated(spec, root, catalog or catalog_settings(endpoint_url=endpoint_url), as_of)
    if curated is not None:
        tables[f"curated_{table}"] = tables[table] = curated
    raw = _files(join(root, "raw", table), ".parquet", endpoint_url)
    if raw:
        # explicit file lists: list_files skips "_"/"." names, which Polars' own folder scan would read
        frame = pl.scan_parquet(raw, hive_partitioning=True, hive_schema=_HIVE_SCHEMA, storage_options=options)
        tables[f"raw_{table}"] = frame
        tables.setdefault(table, frame)  # the plain name is the curated zone when it exists
    errors = _files(join(root, "errors", table), ".ndjson", endpoint_url)
    if errors:
        tables[f"errors_{table}"] = _scan_errors(errors, options)
    return dict(sorted(tables.items()))


def query(
    spec: PipelineSpec,
    sql: str,
    *,
    root: str | None = None,
    endpoint_url: str | None = None,
    catalog: CatalogSettings | None = None,
    as_of: str | None = None,
) -> pl.DataFrame:
    """Run one SQL query over the lake of ``spec`` (tables and arguments: see :func:`lake_tables`) and collect the result.

    Raises:
        QueryError: the lake has no files, ``as_of`` names no snapshot, or the SQL is not valid, names an unknown
            table or column, or fails.
        SpecError: no root given and no ``output.lake`` in the spec.
    """
    try:
        tables = lake_tables(spec, root=root, endpoint_url=endpoint_url, catalog=catalog, as_of=as_of)
    except QueryError as err:
        raise QueryError(str(err), sql=sql) from err
    where = root if root is not None else str(spec.output.lake)
    if not tables:
        raise QueryError(f"no lake files under {where} for {spec.name!r} (raw/, curated/ or errors/)", sql=sql)
    # the columns of the tables the SQL names: what a dotted name or an error message may refer to
    named = {name: frame for name, frame in tables.items() if name in sql}
    schemas = _schemas(named) if "." in sql else {}
    try:
        return pl.SQLContext(tables).execute(dotted_fields(sql, schemas), eager=False).collect()
    except pl.exceptions.PolarsError as err:
        message = failure(err, schemas or _schemas(named))
        hint = partition_hint(sql, empty=True)
        raise QueryError(f"query failed: {message} (tables: {', '.join(tables)}){f'; {hint}' if hint else ''}", sql=sql) from err


def describe(
    spec: PipelineSpec,
    table: str,
    *,
    root: str | None = None,
    endpoint_url: str | None = None,
    catalog: CatalogSettings | None = None,
    as_of: str | None = None,
) -> pl.DataFrame:
    """The columns of one lake table (see :func:`lake_tables`): ``column`` (struct fields by dotted path), ``type``
    (Polars) and ``athena`` (the Glue/Athena type of the lake's columns; null in the errors table).

    Raises:
        QueryError: the lake has no table of that name (the message lists those it has).
        SpecError: no root given and no ``output.lake`` in the spec.
    """
    tables = lake_tables(spec, root=root, endpoint_url=endpoint_url, catalog=catalog, as_of=as_of)
    if table not in tables:
        where = root if root is not None else str(spec.output.lake)
        found = ", ".join(tables) or f"none: no lake files under {where}"
        raise QueryError(f"no table {table!r} in the lake (tables: {found})", sql="")
    try:
        schema = tables[table].collect_schema()
    except pl.exceptions.PolarsError as err:
        raise QueryError(f"describe {table}: {failure(err, {})}", sql="") from err
    athena = {} if table.startswith("errors_") else athena_types(spec)
    rows = [
        (path, dtype_name(dtype), athena.get(path))
        for name, dtype in schema.items()
        for path, dtype in struct_paths(dtype, name).items()
    ]
    return pl.DataFrame(rows, schema={"column": pl.String, "type": pl.String, "athena": pl.String}, orient="row")


def partition_hint(sql: str, *, empty: bool) -> str | None:
    """What to write instead when ``sql`` compares a partition column with a number, or None.

    ``day = 7`` compares the text ``'07'`` with ``7`` and never holds. The hint is given when the result is ``empty``,
    or when a number has fewer digits than the folder names (which is never equal, whatever the result).
    """
    bare = _TEXT.sub("''", sql)
    compared = [(m["key"].lower(), m["number"]) for pattern in (_KEY_NUMBER, _NUMBER_KEY) for m in pattern.finditer(bare)]
    if not compared:
        return None
    short = [(key, number) for key, number in compared if len(number.lstrip("+-")) < _WIDTHS[key]]
    if not empty and not short:
        return None
    key, number = (short or compared)[0]
    padded = number.lstrip("+-").split(".")[0].zfill(_WIDTHS[key])
    return (
        f"year, month, day and hour are text, as in the folder names: compare them with zero-padded text "
        f"({key} = '{padded}', not {key} = {number})"
    )


def _curated(spec: PipelineSpec, root: str, settings: CatalogSettings, as_of: str | None) -> pl.LazyFrame | None:
    """The curated table with the raw zone's partition columns (text, computed from its event time), if it has a
    snapshot; a lake without a curated catalog does not need the ``lake`` extra."""
    if not may_have_catalog(root, settings):
        if as_of is not None:
            raise QueryError(f"--as-of {as_of}: the lake has no curated table", sql="")
        return None
    from transform_core.lake.curated import curated_layout, scan_curated

    try:
        frame = scan_curated(spec, root, as_of=as_of, catalog=settings)
    except ValueError as err:
        raise QueryError(str(err), sql="") from err
    if frame is None:
        return None
    event_time = curated_layout(spec, settings.namespace).event_time
    stamp = partition_stamp(pl.col(event_time).dt.epoch("us"))
    return frame.with_columns(partition_exprs(stamp, spec.partitioning.keys))


def _schemas(tables: dict[str, pl.LazyFrame]) -> dict[str, pl.Schema]:
    """Each table's columns; a table whose first file cannot be read is left out (the query says why, if it reads it)."""
    schemas: dict[str, pl.Schema] = {}
    for name, frame in tables.items():
        try:
            schemas[name] = frame.collect_schema()
        except pl.exceptions.PolarsError:
            continue
    return schemas


def _files(prefix: str, suffix: str, endpoint_url: str | None) -> list[str]:
    return [f for f in list_files(prefix, endpoint_url=endpoint_url) if f.endswith(suffix)]


def _scan_errors(files: list[str], options: dict[str, str] | None) -> pl.LazyFrame:
    """The errors/ NDJSON files as one frame; partition columns come from each file's folder names."""
    frame = pl.scan_ndjson(files, schema=_ERRORS_SCHEMA, include_file_paths=_FILE, storage_options=options)
    keys = [pl.col(_FILE).str.extract(rf"[/\\]{key}=([^/\\]+)[/\\]").alias(key) for key in ("year", "month", "day")]
    stamp = pl.col("errorTimestamp").str.to_datetime(time_unit="us", time_zone="UTC")
    return frame.with_columns(stamp, *keys).drop(_FILE)


def _storage_options(endpoint_url: str | None) -> dict[str, str]:
    """Polars (object_store) options from :func:`s3_settings`; unset values leave the AWS defaults in charge."""
    settings = s3_settings(endpoint_url=endpoint_url)
    options = {
        "aws_access_key_id": settings.access_key,
        "aws_secret_access_key": settings.secret_key,
        "aws_session_token": settings.session_token,
        "aws_region": settings.region,
    }
    if settings.endpoint_url:
        options["aws_endpoint_url"] = settings.endpoint_url
        options["aws_region"] = settings.region or "us-east-1"  # as storage.py: no region lookup against a custom endpoint
        if settings.endpoint_url.startswith("http://"):
            options["aws_allow_http"] = "true"
    return {key: value for key, value in options.items() if value}
