"""The S3 objects a local Firehose stream writes: their names, their buffers and their bytes.

- Names ("Configure Amazon S3 object name format"): ``<evaluated prefix><stream name>-<stream version>-<yyyy>-<MM>-
  <dd>-<HH>-<mm>-<ss>-<uuid><file extension>``, the time when the object is written, in UTC.
- JSON delivery ("Understand data delivery in Amazon Data Firehose"): the records as the processor returned them,
  concatenated (the engine ends each with a newline), GZIP when the destination compresses.
- Parquet ("Convert input data format in Amazon Data Firehose"): each record read as the OpenX JSON deserializer
  with ``CaseInsensitive`` reads it (keys lowercased, properties the table does not declare dropped) into the
  columns of the Glue table (:func:`transform_core.lake.catalog.glue_columns` with ``producer="firehose-parquet"``),
  SNAPPY inside the file; a record whose values do not fit the column types is not written: it goes to the error
  output as ``format-conversion-failed``.
- Every object is written aside and renamed into place (:func:`transform_core.lake.storage.write_atomic`), so a
  crash or Ctrl-C never leaves half an object.
"""

from __future__ import annotations

import gzip
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import polars as pl

from transform_core.lake.catalog import glue_columns, glue_struct_fields
from transform_core.lake.storage import join, write_atomic
from transform_core.local.delivery_config import DeliverySettings
from transform_core.local.delivery_records import SourceRecord

__all__ = ["ObjectBuffer", "ParquetConverter", "encode", "glue_dtype", "object_name", "write_object"]

_INT64 = (-(2**63), 2**63 - 1)
_SCALARS: dict[str, pl.DataType] = {"string": pl.String(), "bigint": pl.Int64(), "double": pl.Float64(), "boolean": pl.Boolean()}


@dataclass
class ObjectBuffer:
    """Records waiting to become one object under one prefix: the source record and the bytes to write of each.

    Attributes:
        zone: ``raw``, ``errors`` or ``backup``.
        opened_at: when its first record came (epoch seconds), for the buffer interval.
        partition_keys: the keys its prefix reads (one partition's).
        error_output_type: what ``!{firehose:error-output-type}`` stands for in an ``errors`` buffer.
    """

    zone: str
    opened_at: float
    partition_keys: dict[str, str] = field(default_factory=dict)
    error_output_type: str | None = None
    records: list[tuple[SourceRecord, bytes]] = field(default_factory=list)
    nbytes: int = 0

    def add(self, record: SourceRecord, data: bytes) -> None:
        """Buffer one record."""
        self.records.append((record, data))
        self.nbytes += len(data)

    def oldest_arrival_ms(self) -> int:
        """The arrival time of the oldest record, which ``!{timestamp:…}`` in the prefix reads."""
        return min(record.arrival_ms for record, _ in self.records)


def object_name(settings: DeliverySettings, written_at: float, extension: str) -> str:
    """A Firehose object name (the part after the prefix), with the time ``written_at`` (epoch seconds) in UTC."""
    stamp = datetime.fromtimestamp(written_at, UTC)
    return f"{settings.name}-{settings.stream_version}-{stamp:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{extension}"


def encode(lines: Sequence[bytes], *, gzipped: bool) -> bytes:
    """Records concatenated as Firehose concatenates them, GZIP-compressed or not."""
    body = b"".join(lines)
    return gzip.compress(body, mtime=0) if gzipped else body


def write_object(root: str, prefix: str, name: str, data: bytes) -> str:
    """Write one object under the folder standing for its bucket, atomically; returns its path."""
    path = join(root, *[part for part in prefix.split("/") if part], name)
    write_atomic(path, data)
    return path


class ParquetConverter:
    """Record format conversion to Parquet with the Glue table's columns."""

    def __init__(self, settings: DeliverySettings) -> None:
        self.columns = [(c["Name"], c["Type"]) for c in glue_columns(settings.spec, producer="firehose-parquet")]
        self.schema = pl.Schema({name: glue_dtype(glue) for name, glue in self.columns})

    def convert(self, lines: Sequence[bytes]) -> tuple[bytes | None, list[int]]:
        """The Parquet file of the records that convert (None when none does), and the positions of those that don't."""
        rows: list[dict[str, Any]] = []
        failed: list[int] = []
        for position, line in enumerate(lines):
            try:
                rows.append(self.row(line))
            except (ValueError, TypeError):
                failed.append(position)
        if not rows:
            return None, failed
        buffer = io.BytesIO()
        pl.DataFrame(rows, schema=self.schema).write_parquet(buffer, compression="snappy")
        return buffer.getvalue(), failed

    def row(self, line: bytes) -> dict[str, Any]:
        """One record as its table row.

        Raises:
            ValueError: not a JSON object, or a value that does not fit its column.
        """
        record = orjson.loads(line)
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        lowered = {key.lower(): value for key, value in record.items()}
        return {name: _value(lowered.get(name), glue) for name, glue in self.columns}


def glue_dtype(glue: str) -> pl.DataType:
    """The Polars type of a Glue type string of the firehose producers (``string``, ``bigint``, ``double``,
    ``boolean``, ``struct<…>``, ``array<…>``).

    Raises:
        ValueError: another type.
    """
    if glue.startswith("struct<") and glue.endswith(">"):
        return pl.Struct({name: glue_dtype(inner) for name, inner in glue_struct_fields(glue)})
    if glue.startswith("array<") and glue.endswith(">"):
        return pl.List(glue_dtype(glue[6:-1]))
    if glue in _SCALARS:
        return _SCALARS[glue]
    raise ValueError(f"no Parquet conversion for the Glue type {glue!r}")


def _value(value: Any, glue: str) -> Any:
    """``value`` as the column holds it; raises ValueError when it does not fit (a conversion failure)."""
    if value is None:
        return None
    if glue == "string":  # a JSON-text column: a string's content, any other value as its JSON text
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    if glue == "bigint":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not _INT64[0] <= value <= _INT64[1]:
            raise ValueError(f"{value!r} is not a bigint")
        return value
    if glue == "double":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{value!r} is not a double")
        return float(value)
    if glue == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not a boolean")
        return value
    if glue.startswith("struct<"):
        if not isinstance(value, dict):
            raise ValueError(f"{value!r} is not a struct")
        lowered = {key.lower(): item for key, item in value.items()}
        return {name: _value(lowered.get(name), inner) for name, inner in glue_struct_fields(glue)}
    if glue.startswith("array<"):
        if not isinstance(value, list):
            raise ValueError(f"{value!r} is not an array")
        return [_value(item, glue[6:-1]) for item in value]
    raise ValueError(f"no Parquet conversion for the Glue type {glue!r}")
