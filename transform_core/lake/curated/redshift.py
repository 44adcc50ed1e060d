"""Amazon Redshift over the curated table: the external schema that maps its Glue database, and queries over it.

Redshift (Serverless, or a provisioned RA3 cluster through Redshift Spectrum) reads Apache Iceberg tables through the
AWS Glue Data Catalog, as Athena does: ``CREATE EXTERNAL SCHEMA … FROM DATA CATALOG DATABASE '<glue database>'``
makes every table of that database a table of the schema, the curated Iceberg table among them, and an IAM role
gives Redshift the Glue and S3 reads. Redshift only reads the table; ``compact`` and ``expire`` write and maintain
it. See ``docs/lake.md``, "How Redshift reads it".
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import polars as pl

from transform_core.lake.catalog import s3_root
from transform_core.lake.curated.athena import glue_names
from transform_core.lake.curated.catalogs import table_location
from transform_core.lake.curated.schema import curated_layout
from transform_core.spec import PipelineSpec

__all__ = ["external_schema_statement", "redshift_statements"]

#: ``IAM_ROLE default`` is the namespace's (or cluster's) default IAM role.
DEFAULT_ROLE = "default"
_ROLE = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
_PLAIN = re.compile(r"[a-z_][a-z0-9_]*")  # a name that navigates a SUPER value without quotes


def external_schema_statement(database: str, *, iam_role: str = DEFAULT_ROLE, region: str | None = None) -> str:
    """``CREATE EXTERNAL SCHEMA IF NOT EXISTS <database> FROM DATA CATALOG DATABASE '<database>' IAM_ROLE …;``.

    The Redshift schema takes the Glue database's name.

    Args:
        database: the Glue database holding the curated table (letters, digits, underscores).
        iam_role: the role's ARN, or ``default`` for the namespace's default IAM role.
        region: the Glue catalog's region when it is not Redshift's own.

    Raises:
        ValueError: a database name, role ARN or region Redshift would not take.
    """
    db = _names_only(database)
    if iam_role != DEFAULT_ROLE and not _ROLE.fullmatch(iam_role):
        raise ValueError(f"--iam-role must be an IAM role ARN (arn:aws:iam::<account>:role/<name>) or default, got {iam_role!r}")
    if region is not None and not _REGION.fullmatch(region):
        raise ValueError(f"--region must be an AWS region such as eu-west-1, got {region!r}")
    role = "default" if iam_role == DEFAULT_ROLE else f"'{iam_role}'"
    where = f" REGION '{region}'" if region else ""
    return f"CREATE EXTERNAL SCHEMA IF NOT EXISTS {db} FROM DATA CATALOG DATABASE '{db}' IAM_ROLE {role}{where};"


def redshift_statements(
    spec: PipelineSpec,
    location: str,
    *,
    database: str,
    table: str | None = None,
    namespace: str | None = None,
    iam_role: str = DEFAULT_ROLE,
    region: str | None = None,
    day: date | None = None,
) -> str:
    """The Redshift statements that map the curated table's Glue database and query the table, with comments.

    Args:
        spec: the pipeline spec.
        location: the lake root, ``s3://bucket/prefix`` (named in the comments: the role reads the table there).
        database: the Glue database holding the curated table; the Redshift schema takes its name.
        table: the Glue table name; default: the curated table's own (the spec's name with ``-`` → ``_``).
        namespace: the table's namespace in the lake's catalog (its folder); default ``transform_core``.
        iam_role: the role Redshift assumes to read Glue and S3 (an ARN), or ``default``.
        region: the Glue catalog's region when it is not Redshift's own.
        day: the UTC day the example queries read; default: today.

    Raises:
        ValueError: ``location`` is not an ``s3://`` URI, or a name, role or region Redshift would not take.
    """
    layout = curated_layout(spec, namespace)
    db, name = glue_names(layout, database, table)
    create = external_schema_statement(db, iam_role=iam_role, region=region)
    where = table_location(s3_root(location), layout)
    start = datetime.combine(day or datetime.now(UTC).date(), datetime.min.time(), tzinfo=UTC)
    quoted, time = f'"{db}"."{name}"', f'"{layout.event_time.lower()}"'
    one_day = f"{time} >= {_timestamptz(start)} AND {time} < {_timestamptz(start + timedelta(days=1))}"
    lines = [
        f"-- The curated table of {spec.name!r} in Amazon Redshift (Serverless, or a provisioned cluster through Redshift",
        f"-- Spectrum): an Apache Iceberg table at {where}/.",
        f"-- Redshift reads Iceberg tables through the AWS Glue Data Catalog: the schema {db} below maps the Glue database",
        f"-- {db}, where the Glue table {db}.{name} must exist (compact --catalog glue keeps it current; with the SQL",
        "-- catalog, run catalog --zone curated --register after each compact).",
        "-- The IAM role, attached to the namespace or cluster, reads the Glue database and the table's files under",
        f"-- {where}/ (deploy/template.yaml makes one with EnableRedshift=true).",
        "-- IAM_ROLE default is the namespace's default IAM role.",
        create,
        "",
        f"-- Partitioned by {layout.granularity}({layout.event_time}): Redshift reads the Iceberg metadata and skips the files",
        "-- of the partitions a filter on it cannot match.",
        f"SELECT count(*) AS n FROM {quoted} WHERE {one_day};",
        "",
        *_per_hour(layout.columns, quoted, time, one_day),
        *_nested(layout.columns, quoted),
        "-- Strings are varchar(16384) in Redshift: longer text (an _extra holding many undeclared properties) is cut there.",
        "-- Time travel, in Redshift releases that have it (Time travel queries on Iceberg tables in Amazon Redshift):",
        f"-- SELECT count(*) AS n FROM {quoted} AS OF TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}';",
    ]
    return "\n".join(lines)


def _per_hour(columns: dict[str, pl.DataType], quoted: str, time: str, one_day: str) -> list[str]:
    """Rows per hour of the day, with the mean of the first floating-point column when there is one."""
    number = next((name.lower() for name, dtype in columns.items() if dtype == pl.Float64), None)
    mean = f', avg("{number}") AS mean_{_alias(number)}' if number else ""
    return [
        "-- Per hour of that day" + (f", with the mean {number}." if number else "."),
        f"SELECT date_trunc('hour', {time}) AS hour, count(*) AS n{mean} FROM {quoted}",
        f"WHERE {one_day} GROUP BY 1 ORDER BY 1;",
        "",
    ]


def _nested(columns: dict[str, pl.DataType], quoted: str) -> list[str]:
    """An example reaching into the first struct column (Redshift reads structs, lists and maps as SUPER)."""
    for name, dtype in columns.items():
        if not isinstance(dtype, pl.Struct) or not _PLAIN.fullmatch(name.lower()):
            continue
        field = next((f.name.lower() for f in dtype.fields if _PLAIN.fullmatch(f.name.lower())), None)
        if field is not None:
            return [
                "-- Struct and list columns are SUPER in Redshift: reach into them with dots, through a table alias.",
                f"SELECT t.{name.lower()}.{field}, count(*) AS n FROM {quoted} AS t GROUP BY 1 ORDER BY 2 DESC LIMIT 10;",
                "",
            ]
    return []


def _names_only(database: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]{1,127}", database):
        raise ValueError(f"database name must be letters, digits and underscores (as Glue and Redshift want), got {database!r}")
    return database.lower()


def _alias(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name)


def _timestamptz(moment: datetime) -> str:
    return f"'{moment:%Y-%m-%d %H:%M:%S}+00'::timestamptz"
