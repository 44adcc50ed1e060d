"""Raw-zone files as Firehose delivers them (docs/raw-zone.md): the records a pipeline returned as Ok, one object
per partition folder under Firehose's object names; Parquet with the columns of the Glue table the catalog
generates (names lowercased, undeclared properties dropped), NDJSON as the Lambda's lines, gzip or not."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tests.helpers.glue import glue_parts
from transform_core.engine import BatchResult, Pipeline
from transform_core.lake import catalog

STAMP = "2026-11-27-10-11-12"  # the time in every object name made here


def firehose_name(k: int, extension: str) -> str:
    """A Firehose object name: ``<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><extension>``."""
    return f"iot-telemetry-stream-3-{STAMP}-{uuid.UUID(int=k)}{extension}"


def ok_parts(result: BatchResult, keys: tuple[str, ...]) -> list[tuple[tuple[str, ...], list[bytes]]]:
    """The enriched lines the Lambda returned for its Ok records, by partition, in input order (sorted partitions)."""
    ok = result.outcomes.filter(pl.col("result") == "Ok")
    parts = ok.partition_by(list(keys), maintain_order=True, as_dict=True)
    return [
        (tuple(str(v) for v in values), [base64.b64decode(data) for data in part["data"]])
        for values, part in sorted(parts.items(), key=lambda item: tuple(str(v) for v in item[0]))
    ]


def folder(root: Path, table: str, keys: tuple[str, ...], values: tuple[str, ...]) -> Path:
    path = root.joinpath("raw", table, *(f"{k}={v}" for k, v in zip(keys, values, strict=True)))
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_ndjson(root: Path, table: str, result: BatchResult, keys: tuple[str, ...], *, gzipped: bool) -> list[str]:
    """Firehose's JSON delivery: the Lambda's lines concatenated, one object per partition, GZIP or not."""
    files = []
    for k, (values, lines) in enumerate(ok_parts(result, keys)):
        body = b"".join(lines)
        path = folder(root, table, keys, values) / firehose_name(k, ".json.gz" if gzipped else "")
        path.write_bytes(gzip.compress(body) if gzipped else body)
        files.append(str(path))
    return files


def arrow_type(glue: str) -> pa.DataType:
    """The Parquet type Firehose's conversion writes for a Glue type string."""
    if glue.startswith("struct<"):
        return pa.struct(
            [pa.field(name, arrow_type(inner)) for name, inner in (p.split(":", 1) for p in glue_parts(glue, "struct<") or [])]
        )
    if glue.startswith("array<"):
        return pa.list_(arrow_type(glue[6:-1]))
    return {"string": pa.string(), "bigint": pa.int64(), "double": pa.float64(), "boolean": pa.bool_()}[glue]


def lowered(value: Any) -> Any:
    """A JSON value with every key lowercased, as Firehose's OpenX deserializer reads it (CaseInsensitive)."""
    if isinstance(value, dict):
        return {key.lower(): lowered(item) for key, item in value.items()}
    if isinstance(value, list):
        return [lowered(item) for item in value]
    return value


def firehose_row(record: dict[str, Any], schema: pa.Schema) -> dict[str, Any]:
    """A record as Firehose's conversion stores it: the table's columns only; a JSON-text column as its text."""
    row = {}
    for field in schema:
        value = lowered(record).get(field.name)
        if pa.types.is_string(field.type) and value is not None and not isinstance(value, str):
            value = json.dumps(value, separators=(",", ":"))
        row[field.name] = value
    return row


def write_parquet(root: Path, pipeline: Pipeline, result: BatchResult, **write_options: Any) -> list[str]:
    """Firehose's record format conversion: SNAPPY Parquet with the Glue table's columns, one object per partition."""
    glue = catalog.glue_columns(pipeline.spec, producer="firehose-parquet")
    schema = pa.schema([pa.field(c["Name"], arrow_type(c["Type"])) for c in glue])
    keys = pipeline.spec.partitioning.keys
    files = []
    for k, (values, lines) in enumerate(ok_parts(result, keys)):
        rows = [firehose_row(json.loads(line), schema) for line in lines]
        path = folder(root, pipeline.spec.name.replace("-", "_"), keys, values) / firehose_name(k, ".parquet")
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, compression="snappy", **write_options)
        files.append(str(path))
    return files
