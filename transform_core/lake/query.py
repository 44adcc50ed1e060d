"""SQL over the lake: Polars SQL on lazy Hive-partitioned scans, with tables named after the spec.

With ``<table>`` the spec's name with ``-`` replaced by ``_``, the tables are:

    <table>            the curated zone when it has files, else the raw zone
    raw_<table>        raw/<table>/…/*.parquet
    curated_<table>    curated/<table>/…: the files its partition manifests list (only when there are some)
    errors_<table>     errors/<table>/…/*.ndjson (rejected records)

Partition columns (``year``, ``month``, ``day``, ``hour``) are text, as in the folder names, so a
``WHERE year = '2026' AND month = '11'`` prunes whole folders before any file is opened. Why Polars SQL and not
DuckDB is in ``docs/lake.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import polars as pl

from transform_core.errors import QueryError, TransformCoreError
from transform_core.lake.compact import curated_files
from transform_core.lake.storage import is_s3, join, list_files, s3_settings
from transform_core.spec import PipelineSpec

__all__ = ["add_command", "lake_tables", "query", "run"]

PARTITION_KEYS = ("year", "month", "day", "hour")
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
_TABLE_ROWS = 100  # rows the table format prints; csv/json/parquet give them all


def lake_tables(spec: PipelineSpec, *, root: str | None = None, endpoint_url: str | None = None) -> dict[str, pl.LazyFrame]:
    """The lake's tables as lazy frames, keyed by their SQL name; a zone without files has no table.

    Args:
        spec: the pipeline spec; its name gives the table names.
        root: a local folder or ``s3://bucket/prefix``; default: the spec's ``output.lake``.
        endpoint_url: S3 endpoint, overriding ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``.

    Raises:
        SpecError: no root given and no ``output.lake`` in the spec.
    """
    root = spec.lake_root(root, needed_by="a query")
    table = spec.name.replace("-", "_")
    options = _storage_options(endpoint_url) if is_s3(root) else None
    tables: dict[str, pl.LazyFrame] = {}
    zones = {
        "curated": curated_files(spec, root, endpoint_url=endpoint_url),  # as the manifests say: no stale generation
        "raw": _files(join(root, "raw", table), ".parquet", endpoint_url),
    }
    for zone, files in zones.items():
        if files:
            # explicit file lists: list_files skips "_"/"." names, which Polars' own folder scan would read
            frame = pl.scan_parquet(files, hive_partitioning=True, hive_schema=_HIVE_SCHEMA, storage_options=options)
            tables[f"{zone}_{table}"] = frame
            tables.setdefault(table, frame)  # curated first: the plain name is the curated zone when it exists
    errors = _files(join(root, "errors", table), ".ndjson", endpoint_url)
    if errors:
        tables[f"errors_{table}"] = _scan_errors(errors, options)
    return dict(sorted(tables.items()))


def query(spec: PipelineSpec, sql: str, *, root: str | None = None, endpoint_url: str | None = None) -> pl.DataFrame:
    """Run one SQL query over the lake of ``spec`` (tables: see :func:`lake_tables`) and collect the result.

    Raises:
        QueryError: the lake has no files, or the SQL is not valid, names an unknown table or column, or fails.
        SpecError: no root given and no ``output.lake`` in the spec.
    """
    tables = lake_tables(spec, root=root, endpoint_url=endpoint_url)
    where = root if root is not None else str(spec.output.lake)
    if not tables:
        raise QueryError(f"no lake files under {where} for {spec.name!r} (raw/, curated/ or errors/)", sql=sql)
    try:
        return pl.SQLContext(tables).execute(sql, eager=False).collect()
    except pl.exceptions.PolarsError as err:
        # Polars appends the resolved plan to column errors; the first paragraph is the message
        message = str(err).split("\n\n", 1)[0].strip()
        raise QueryError(f"query failed: {message} (tables: {', '.join(tables)})", sql=sql) from err


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


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``query`` subcommand."""
    cmd = commands.add_parser(
        "query",
        help="run SQL over the lake (Polars SQL, partition pruning)",
        description=(
            "Run one SQL query over a pipeline's lake. Tables are named after the spec (name with '-' -> '_'): "
            "<table> (the curated zone if present, else raw), raw_<table>, curated_<table> and errors_<table>. "
            "year, month, day (and hour) are text columns; filtering on them reads only the matching partitions."
        ),
        epilog=(
            "examples:\n"
            "  transform-core query --spec examples/iot/pipeline.yaml \\\n"
            "      \"SELECT day, count(*) AS n FROM iot_telemetry WHERE year = '2026' AND month = '11' GROUP BY day\"\n"
            "  transform-core query --spec pipeline.yaml --lake s3://my-lake --format csv --output sites.csv \\\n"
            '      "SELECT site, avg(value) AS mean FROM raw_iot_telemetry GROUP BY site"\n'
            '  transform-core query --spec pipeline.yaml "SELECT reason, count(*) FROM errors_iot_telemetry GROUP BY reason"'
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("sql", metavar="SQL", help="one SQL query (Polars SQL dialect); quote it for the shell")
    cmd.add_argument("--spec", required=True, metavar="PATH", help="pipeline spec (YAML or JSON); names the tables")
    cmd.add_argument("--lake", metavar="DEST", help="lake root, a folder or s3://bucket/prefix (default: the spec's output.lake)")
    cmd.add_argument(
        "--format",
        choices=["table", "csv", "json", "parquet"],
        default="table",
        help=f"output format (default: table, the first {_TABLE_ROWS} rows; json is an array of row objects)",
    )
    cmd.add_argument("--output", metavar="FILE", help="write the result to FILE instead of stdout (required for parquet)")
    cmd.add_argument("--endpoint-url", metavar="URL", help="S3 endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``transform-core query``: 0 on success, 1 with one error line on stderr otherwise."""
    from transform_core.spec import load_spec

    try:
        if args.format == "parquet" and not args.output:
            raise QueryError("--format parquet needs --output FILE", sql=args.sql)
        frame = query(load_spec(args.spec), args.sql, root=args.lake, endpoint_url=args.endpoint_url)
    except TransformCoreError as err:
        print(f"transform-core: error: {err}", file=sys.stderr)
        return 1
    _write(frame, args.format, args.output)
    return 0


def _write(frame: pl.DataFrame, fmt: str, output: str | None) -> None:
    if fmt == "parquet":
        frame.write_parquet(str(output), compression="zstd")
        return
    if fmt == "csv":
        text = _flat(frame).write_csv()
    elif fmt == "json":
        text = frame.write_json() + "\n"
    else:
        text = _table(frame)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _table(frame: pl.DataFrame) -> str:
    """The frame as a readable text table: every column, the first rows, long text cut, one line a row."""
    # a wide width keeps each row on one line (read wide results with `less -S`) instead of wrapping every cell
    config: dict[str, Any] = {"tbl_rows": _TABLE_ROWS, "tbl_cols": -1, "fmt_str_lengths": 40, "tbl_width_chars": 65_535}
    with pl.Config(**config):
        text = str(frame)
    if frame.height > _TABLE_ROWS:
        text += f"\n{_TABLE_ROWS} of {frame.height:,} rows shown; --format csv or json gives them all"
    return text + "\n"


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested columns (structs, lists) as JSON text, which CSV cannot hold otherwise."""
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    # json_encode works on structs only: wrap the value as {"v": …} and cut the wrapper off
    encode = [
        pl.when(pl.col(name).is_null())
        .then(None)
        .otherwise(pl.struct(pl.col(name).alias("v")).struct.json_encode().str.slice(5).str.head(-1))
        .alias(name)
        for name in nested
    ]
    return frame.with_columns(encode) if encode else frame
