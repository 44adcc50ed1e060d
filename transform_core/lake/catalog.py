"""The Glue/Athena catalog entry of a pipeline's raw zone: Athena DDL, Glue ``TableInput``, registration with boto3.

The raw zone has one of three shapes, named by its producer (``docs/raw-zone.md``):

- ``transform-core``: what :class:`~transform_core.lake.LakeWriter` writes: the lake's columns (``lake_columns``),
  ``_extra`` and the lineage columns, ZSTD Parquet;
- ``firehose-parquet``: what Firehose's record format conversion writes, and the Glue table it converts with: the
  record's columns only, date-times and dates as text, Parquet;
- ``firehose-json``: Firehose delivering the Lambda's NDJSON: the same columns, read by Hive's JSON SerDe.

All are generated from the spec; the date partitions use partition projection, so Athena needs no crawler,
``MSCK REPAIR`` or registered partitions. boto3 (the ``aws`` extra) is imported by :func:`register` only. See
``docs/deploy.md``.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Literal

import polars as pl

from transform_core.errors import ConfigurationEnvironmentError, SpecError
from transform_core.lake.columns import lake_columns, table_dtypes
from transform_core.lake.raw import PRODUCERS, RawProducer
from transform_core.lake.raw_firehose import delivered_dtypes
from transform_core.lake.storage import s3_settings
from transform_core.spec import PipelineSpec

__all__ = [
    "DEFAULT_YEARS",
    "PRODUCERS",
    "RawProducer",
    "athena_ddl",
    "create_table_request",
    "glue_columns",
    "glue_struct_fields",
    "glue_partition_keys",
    "glue_table_input",
    "register",
    "table_name",
]

DEFAULT_YEARS = (1970, 2099)  # projection.year.range: event times outside it are in the lake but not in Athena
SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
#: Firehose's JSON delivery is read with Hive's JSON SerDe (Amazon Athena User Guide, "OpenX JSON SerDe": OpenX
#: results "can be non-deterministic"; the guide's workaround is the Hive JSON SerDe). See docs/raw-zone.md.
JSON_SERDE = "org.apache.hive.hcatalog.data.JsonSerDe"
JSON_INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
JSON_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
_RANGES = {"month": ("1,12", 2), "day": ("1,31", 2), "hour": ("0,23", 2)}
_NAME = re.compile(r"[A-Za-z0-9_]{1,255}")  # Athena: letters, digits and underscore only (lowercased by Glue)
_FIELD_BAD = re.compile(r"[\s:,<>`]")  # characters a Hive type string cannot carry in a struct field name


@functools.cache  # read for every struct value of every record a local delivery converts
def glue_struct_fields(glue: str) -> tuple[tuple[str, str], ...]:
    """The ``(name, type)`` of each field of a Glue ``struct<name:type,…>`` type string, nested types whole."""
    parts, depth, current = [], 0, ""
    for char in glue[len("struct<") : -1]:
        depth += {"<": 1, ">": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    fields = [*parts, current] if current else parts
    return tuple((name, inner) for name, inner in (part.split(":", 1) for part in fields))


def glue_columns(spec: PipelineSpec, *, producer: RawProducer = "transform-core") -> list[dict[str, str]]:
    """The table's data columns as Glue ``{"Name", "Type"}`` (partition keys excluded: see :func:`glue_partition_keys`).

    ``transform-core``: every column the lake writer stores, in its order. ``firehose-parquet`` and
    ``firehose-json``: the record's columns (declared properties, enrichment fields) without ``_extra`` and the
    lineage columns, date-times and dates as ``string``, every name lowercase as Firehose's deserializer reads keys.

    Raises:
        SpecError: a column or struct field name Glue cannot hold, or two names differing only in case
            (Glue and Athena fold names to lowercase).
        ValueError: an unknown ``producer``.
    """
    columns = lake_columns(spec, table_dtypes(spec))
    if _producer(producer) == "transform-core":
        keys = set(columns.partition_keys)
        data = {name: dtype for name, dtype in columns.dtypes.items() if name not in keys}
    else:
        data = delivered_dtypes(columns)
    _check_names(spec, data, "")
    lower = producer != "transform-core"
    return [
        {"Name": name.lower() if lower else name, "Type": _glue_type(spec, dtype, f"/properties/{name}", lower=lower)}
        for name, dtype in data.items()
    ]


def glue_partition_keys(spec: PipelineSpec) -> list[dict[str, str]]:
    """The Hive partition keys (``year``, ``month``, ``day``[, ``hour``]), all Glue ``string``, outermost first."""
    return [{"Name": key, "Type": "string"} for key in spec.partitioning.keys]


def athena_ddl(
    spec: PipelineSpec,
    location: str,
    *,
    database: str,
    table: str | None = None,
    years: tuple[int, int] = DEFAULT_YEARS,
    producer: RawProducer = "transform-core",
) -> str:
    """Athena ``CREATE EXTERNAL TABLE IF NOT EXISTS`` for the raw zone, with partition projection on the date keys.

    Args:
        spec: the pipeline spec.
        location: the lake root, ``s3://bucket/prefix``; the table is ``<location>/raw/<table>/``.
        database: the Glue database.
        table: the table name in the lake layout; default: the spec's name with ``-`` → ``_``.
        years: the first and last year partition projection covers.
        producer: the raw zone's shape: ``transform-core`` (the lake writer's), ``firehose-parquet`` or
            ``firehose-json`` (Firehose's deliveries).

    Raises:
        SpecError: see :func:`glue_columns`.
        ValueError: ``location`` is not an ``s3://`` URI, ``database``/``table`` is not a plain name, or an unknown
            ``producer``.
    """
    name, root = table_name(spec, table), _table_location(spec, location, table)
    cols = ",\n".join(f"  {_quote(c['Name'])} {c['Type']}" for c in glue_columns(spec, producer=producer))
    parts = ", ".join(f"{_quote(c['Name'])} {c['Type']}" for c in glue_partition_keys(spec))
    props = ",\n".join(f"  '{key}'='{value}'" for key, value in _table_properties(spec, root, years, producer).items())
    serde, input_format, output_format, classification = _storage(producer)
    if classification == "json":
        storage = f"ROW FORMAT SERDE '{serde}'\nSTORED AS INPUTFORMAT '{input_format}'\nOUTPUTFORMAT '{output_format}'"
    else:
        storage = "STORED AS PARQUET"
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {_quote(plain_name(database, 'database'))}.{_quote(name)} (\n{cols}\n)\n"
        f"PARTITIONED BY ({parts})\n{storage}\nLOCATION '{root}'\nTBLPROPERTIES (\n{props}\n)"
    )


def glue_table_input(
    spec: PipelineSpec,
    location: str,
    *,
    table: str | None = None,
    years: tuple[int, int] = DEFAULT_YEARS,
    producer: RawProducer = "transform-core",
) -> dict[str, Any]:
    """The Glue ``TableInput`` for the raw zone (arguments as for :func:`athena_ddl`), as ``CreateTable`` takes it.

    With ``firehose-parquet`` it is the table Firehose's record format conversion reads its schema from.
    """
    root = _table_location(spec, location, table)
    serde, input_format, output_format, classification = _storage(producer)
    return {
        "Name": table_name(spec, table),
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"EXTERNAL": "TRUE", "classification": classification, **_table_properties(spec, root, years, producer)},
        "PartitionKeys": glue_partition_keys(spec),
        "StorageDescriptor": {
            "Columns": glue_columns(spec, producer=producer),
            "Location": root,
            "InputFormat": input_format,
            "OutputFormat": output_format,
            "Compressed": False,
            "SerdeInfo": {"SerializationLibrary": serde, "Parameters": {"serialization.format": "1"}},
        },
    }


def create_table_request(
    spec: PipelineSpec,
    location: str,
    *,
    database: str,
    table: str | None = None,
    years: tuple[int, int] = DEFAULT_YEARS,
    producer: RawProducer = "transform-core",
) -> dict[str, Any]:
    """The Glue ``CreateTable`` request, ``DatabaseName`` and ``TableInput``, as ``aws glue create-table --cli-input-json`` reads it.

    Arguments and errors as for :func:`athena_ddl`.
    """
    database = plain_name(database, "database")
    table_input = glue_table_input(spec, location, table=table, years=years, producer=producer)
    return {"DatabaseName": database, "TableInput": table_input}


def table_name(spec: PipelineSpec, table: str | None = None) -> str:
    """The Glue table name: ``table``, default the spec's name with ``-`` → ``_``, lowercased as Glue stores it.

    Raises:
        ValueError: the name is not letters, digits and underscores.
    """
    return plain_name(table if table is not None else spec.name.replace("-", "_"), "table").lower()


def register(
    spec: PipelineSpec,
    location: str,
    *,
    database: str,
    table: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    producer: RawProducer = "transform-core",
) -> Literal["created", "updated"]:
    """Create the Glue database if missing, then create the table (shaped for ``producer``), or update it when it exists.

    Credentials and endpoint default to boto3's own lookup (``AWS_*`` variables, profile, role; the endpoint from
    ``AWS_ENDPOINT_URL_GLUE`` or ``AWS_ENDPOINT_URL``); the region to ``AWS_REGION``, else boto3's lookup.

    Returns:
        whether the table was created or updated.

    Raises:
        ConfigurationEnvironmentError: boto3 is not installed (the ``aws`` extra), or Glue refused or was unreachable.
    """
    table_input = glue_table_input(spec, location, table=table, producer=producer)
    database = plain_name(database, "database")
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as err:
        raise ConfigurationEnvironmentError("registering with Glue needs boto3: pip install 'transform-core[aws]'") from err
    try:
        # boto3 alone ignores AWS_REGION, which Lambda and the rest of transform-core use
        glue = boto3.client("glue", endpoint_url=endpoint_url, region_name=region or s3_settings().region)
        try:
            glue.get_database(Name=database)
        except glue.exceptions.EntityNotFoundException:
            glue.create_database(DatabaseInput={"Name": database})
        try:
            glue.create_table(DatabaseName=database, TableInput=table_input)
            return "created"
        except glue.exceptions.AlreadyExistsException:
            glue.update_table(DatabaseName=database, TableInput=table_input)
            return "updated"
    except (BotoCoreError, ClientError) as err:
        raise ConfigurationEnvironmentError(f"Glue: {err}") from err


def _glue_type(spec: PipelineSpec, dtype: pl.DataType, key: str, *, lower: bool = False) -> str:
    if isinstance(dtype, pl.Struct):
        _check_names(spec, {field.name: field.dtype for field in dtype.fields}, key)
        fields = ",".join(
            f"{f.name.lower() if lower else f.name}:{_glue_type(spec, _instance(f.dtype), f'{key}/properties/{f.name}', lower=lower)}"
            for f in dtype.fields
        )
        return f"struct<{fields}>"
    if isinstance(dtype, pl.List):
        return f"array<{_glue_type(spec, _instance(dtype.inner), f'{key}/items', lower=lower)}>"
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    scalars = {pl.String: "string", pl.Int64: "bigint", pl.Float64: "double", pl.Boolean: "boolean", pl.Date: "date"}
    for polars_type, glue_type in scalars.items():
        if dtype == polars_type:
            return glue_type
    raise SpecError(f"no Glue type for the lake dtype {dtype}", file=spec.schema_file, key=key)


def _instance(dtype: Any) -> pl.DataType:
    return dtype if isinstance(dtype, pl.DataType) else dtype()


def _check_names(spec: PipelineSpec, names: dict[str, Any], key: str) -> None:
    seen: dict[str, str] = {}
    for name in names:
        if not name or _FIELD_BAD.search(name):
            message = f"{name!r} cannot be a Glue column or struct field name (whitespace, ':', ',', '<', '>' or '`')"
            raise SpecError(message, file=spec.schema_file, key=f"{key}/properties/{name}")
        if name.lower() in seen:
            message = f"{name!r} and {seen[name.lower()]!r} are the same column to Glue and Athena (names are lowercased)"
            raise SpecError(message, file=spec.schema_file, key=f"{key}/properties/{name}")
        seen[name.lower()] = name


def _storage(producer: str) -> tuple[str, str, str, str]:
    """The SerDe, input format, output format and classification of the raw table ``producer`` writes."""
    if _producer(producer) == "firehose-json":
        return JSON_SERDE, JSON_INPUT_FORMAT, JSON_OUTPUT_FORMAT, "json"
    return SERDE, INPUT_FORMAT, OUTPUT_FORMAT, "parquet"


def _producer(producer: str) -> RawProducer:
    for known in PRODUCERS:
        if producer == known:
            return known
    raise ValueError(f"producer must be one of {', '.join(PRODUCERS)}, got {producer!r}")


def _table_properties(spec: PipelineSpec, root: str, years: tuple[int, int], producer: RawProducer) -> dict[str, str]:
    if years[0] > years[1] or years[0] < 1 or years[1] > 9999:
        raise ValueError(f"years must be a range within 1..9999, got {years}")
    props = {"projection.enabled": "true"}
    for key in spec.partitioning.keys:
        value_range, digits = (f"{years[0]},{years[1]}", 4) if key == "year" else _RANGES[key]
        props |= {f"projection.{key}.type": "integer", f"projection.{key}.range": value_range}
        props[f"projection.{key}.digits"] = str(digits)
    template = "/".join(f"{key}=${{{key}}}" for key in spec.partitioning.keys)
    props["storage.location.template"] = f"{root}{template}/"
    if _producer(producer) == "transform-core":  # Firehose's compression is set on the stream, not in the table
        props["parquet.compression"] = "ZSTD"
    return props


def _table_location(spec: PipelineSpec, location: str, table: str | None) -> str:
    # the folder the writer uses keeps the name's case; Glue's table name is lowercase
    folder = table if table is not None else spec.name.replace("-", "_")
    return f"{s3_root(location)}/raw/{plain_name(folder, 'table')}/"


def s3_root(location: str) -> str:
    """The lake location, ``s3://bucket[/prefix]`` without its trailing ``/``, checked for use in SQL and Glue.

    Raises:
        ValueError: not an ``s3://`` URI, or one holding a quote or a backslash.
    """
    if not location.startswith("s3://") or len(location) <= len("s3://") or "'" in location or "\\" in location:
        raise ValueError(f"the lake location must be an s3://bucket[/prefix] URI without quotes, got {location!r}")
    return location.rstrip("/")


def plain_name(name: str, what: str) -> str:
    """``name`` when it is letters, digits and underscores (what Athena and Glue take), else ValueError naming ``what``."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{what} name must be letters, digits and underscores (as Athena wants), got {name!r}")
    return name


def _quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"
