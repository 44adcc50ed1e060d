"""Firehose's side of the raw zone: its object names, the columns it delivers, and its files as lake rows.

Firehose writes the raw zone itself in production (``docs/raw-zone.md``): the records the Lambda returned, either as
newline-delimited JSON or as Parquet converted with the Glue table's columns. Both become lake rows here through
:class:`~transform_core.lake.rows.LakeRows`, the code the lake writer stores records with, so a value is stored
the same way whoever delivered it, or its record is refused with the same ``lake_exact`` reason. A Parquet row is
rendered as one JSON object first (in Polars, numbers in their shortest round-trip text), which LakeRows reads back
exactly; date-times Firehose delivers as text are parsed then, as the writer parses them.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import NamedTuple

import orjson
import polars as pl
from polars.datatypes import DataTypeClass

from transform_core.lake.columns import EXTRA, LAKE_EXACT, LakeColumns
from transform_core.lake.rows import ROW, LakeRows
from transform_core.schema import format_reason

__all__ = [
    "FIREHOSE_NAME",
    "FirehoseRecords",
    "delivered_dtypes",
    "firehose_parquet_rows",
    "name_time",
    "ndjson_records",
    "parquet_records",
    "split_records",
]

#: Firehose's S3 object names: ``<stream>-<stream version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><file extension>``
#: (Amazon Data Firehose Developer Guide, "Configure Amazon S3 object name format").
FIREHOSE_NAME = re.compile(
    r"(?P<stream>.+)-(?P<version>[0-9]+)-(?P<time>[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2})"
    r"-(?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?P<extension>(?:\.[^/]*)?)"
)
_BLANK = b" \t\r"  # a line of JSON whitespace only is no record (the newline is the separator)


class FirehoseRecords(NamedTuple):
    """One Firehose file's records, ready for :func:`split_records`.

    Attributes:
        numbers: each record's position in the file, from 1: its line (NDJSON) or row (Parquet).
        lines: each record as one line of JSON ending in a newline.
        texts: JSON-text columns taken as Firehose stored them (Parquet), one value per record; empty for NDJSON.
        refused: ``(number, reason)`` of the records refused before any parsing (a Parquet NaN or infinity).
    """

    numbers: list[int]
    lines: list[bytes]
    texts: dict[str, pl.Series]
    refused: list[tuple[int, str]]


def name_time(name: str) -> datetime | None:
    """The UTC time in a Firehose object name (``…-2026-11-27-10-11-12-<uuid>…``), or None for another name.

    Firehose writes the time in UTC unless the stream sets ``CustomTimeZone``, which this cannot tell.
    """
    match = FIREHOSE_NAME.fullmatch(name)
    if match is None:
        return None
    try:
        return datetime.strptime(match["time"], "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def delivered_dtypes(columns: LakeColumns) -> dict[str, pl.DataType]:
    """The columns of the Glue table Firehose converts records with: the record's, in the lake's order.

    The declared properties and the enrichment fields, with the lake's dtypes except that date-times and dates are
    text at every level (Firehose's OpenX deserializer reads only some timestamp spellings: ``docs/raw-zone.md``).
    No ``_extra`` and no lineage: Firehose keeps only the table's columns.
    """
    return {name: _dates_as_text(dtype) for name, dtype in columns.dtypes.items() if name in columns.known}


def ndjson_records(data: bytes) -> FirehoseRecords:
    """The records of a Firehose NDJSON file (decompressed): one a line, blank lines skipped, lines counted from 1."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    numbers: list[int] = []
    lines: list[bytes] = []
    for number, line in enumerate(data.split(b"\n"), 1):
        if line.strip(_BLANK):
            numbers.append(number)
            lines.append(line + b"\n")
    return FirehoseRecords(numbers, lines, {}, [])


def parquet_records(frame: pl.DataFrame, columns: LakeColumns) -> FirehoseRecords:
    """The rows of a Firehose Parquet file as JSON lines named like the spec's properties.

    Columns match properties by name, ignoring case (Glue and Firehose's deserializer lowercase names); a property
    without a column is null. JSON-text columns are returned apart (``texts``), as stored: Firehose rendered them, so
    the text as sent is lost. So is ``_extra``, when the file has columns no property matches (a Glue table that
    declares more than the spec): the JSON object of their non-null values, null when they are all null.
    """
    lower: dict[str, str] = {}
    for name in frame.columns:
        lower.setdefault(name.lower(), name)
    parts: list[pl.Expr] = []
    flags: list[pl.Expr] = []  # per column: true where a number is NaN or infinite
    texts: dict[str, pl.Series] = {}
    taken: set[str] = set()
    n = frame.height
    for name in (column for column in columns.dtypes if column in columns.known):
        source = name if name in frame.columns else lower.get(name.lower())
        if source is not None:
            taken.add(source)
        if source is None:
            if name in columns.json_text:
                texts[name] = pl.Series(name, [None] * n, dtype=pl.String)
        elif name in columns.json_text:
            texts[name] = frame.select(_as_text(pl.col(source), frame.schema[source]).alias(name)).to_series()
        else:
            expr, flag = _json_ready(pl.col(source), frame.schema[source], columns.parsed.get(name))
            parts.append(expr.alias(name))
            flags += [flag.fill_null(False).alias(name)] if flag is not None else []
    undeclared = [name for name in frame.columns if name not in taken]
    if undeclared:
        texts[EXTRA] = frame.select(_extra(frame, undeclared)).to_series()
    lines = frame.select(pl.struct(parts).struct.json_encode()).to_series() if parts else pl.Series(["{}"] * n, dtype=pl.String)
    numbers = list(range(1, n + 1))
    refused: list[tuple[int, str]] = []
    if flags:
        flagged = frame.select(flags)
        for i in flagged.select(pl.any_horizontal(pl.all())).to_series().arg_true().to_list():
            name = next(column for column, bad in zip(flagged.columns, flagged.row(i), strict=True) if bad)
            path = f"$.{name}" if name.isidentifier() else f'$["{name}"]'
            refused.append((i + 1, format_reason(path, "NaN or an infinity, which a JSON record cannot carry", LAKE_EXACT)))
    data = [text.encode() + b"\n" for text in lines.to_list()]
    return FirehoseRecords(numbers, data, texts, refused)


def split_records(
    rows: LakeRows, records: FirehoseRecords, *, name: str, ingested_at: datetime, keys: dict[str, str]
) -> tuple[pl.DataFrame, list[tuple[int, str]]]:
    """A Firehose file's lake rows and its refused records ``(number, reason)``, lineage derived from ``name``.

    ``_source_record_id`` is ``<name>#<number>``, ``_batch_id`` the name, ``_ingested_at`` the given time, the
    partition columns ``keys`` (from the file's folders). ``rows`` reads every column but the ``texts`` ones.
    """
    early = {number for number, _ in records.refused}
    kept = [i for i, number in enumerate(records.numbers) if number not in early]
    numbers = [records.numbers[i] for i in kept]
    ok = pl.DataFrame(
        {
            "data": pl.Series([records.lines[i] for i in kept], dtype=pl.Binary).bin.encode("base64"),
            "record_id": [f"{name}#{number}" for number in numbers],
            ROW: pl.Series(numbers, dtype=pl.Int64),
            **{key: pl.Series([value] * len(numbers), dtype=pl.String) for key, value in keys.items()},
        }
    )
    split = rows.split(ok, name, ingested_at)
    refused = sorted([*records.refused, *split.refused])
    frame = split.frame
    if records.texts:
        late = {int(number) for number, _ in split.refused}
        stored = [i for i, number in zip(kept, numbers, strict=True) if number not in late]
        frame = frame.with_columns(series.gather(stored) for series in records.texts.values())
    return frame, refused


def firehose_parquet_rows(columns: LakeColumns) -> LakeRows:
    """The :class:`LakeRows` for Firehose Parquet lines: JSON-text columns and ``_extra`` left to :func:`parquet_records`."""
    plan = dataclasses.replace(
        columns,
        dtypes={name: dtype for name, dtype in columns.dtypes.items() if name not in columns.json_text},
        json_text=(),
        extras_possible=False,
    )
    return LakeRows(plan)


def _dates_as_text(dtype: pl.DataType | DataTypeClass) -> pl.DataType:
    if isinstance(dtype, pl.Datetime) or dtype == pl.Date:
        return pl.String()
    if isinstance(dtype, pl.Struct):
        return pl.Struct({field.name: _dates_as_text(field.dtype) for field in dtype.fields})
    if isinstance(dtype, pl.List):
        return pl.List(_dates_as_text(dtype.inner))
    return dtype if isinstance(dtype, pl.DataType) else dtype()


def _json_ready(
    expr: pl.Expr, dtype: pl.DataType | DataTypeClass, lake: pl.DataType | DataTypeClass | None
) -> tuple[pl.Expr, pl.Expr | None]:
    """A file column as JSON renders it for the lake dtype ``lake`` (None: undeclared), and where it cannot be.

    Timestamps become RFC 3339 text in UTC (Hive's are zone-less UTC), dates ``YYYY-MM-DD``, struct fields take the
    lake's names (matched ignoring case; fields the lake has no place for are left out, as the writer does). The
    second value is true where a float is NaN or infinite, which JSON renders as null.
    """
    if isinstance(dtype, pl.Datetime):
        utc = expr.dt.replace_time_zone("UTC") if dtype.time_zone is None else expr.dt.convert_time_zone("UTC")
        return utc.dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ"), None
    if dtype == pl.Date:
        return expr.dt.to_string("%Y-%m-%d"), None
    if dtype.is_float():
        return expr, ~expr.is_finite()
    if isinstance(dtype, pl.Struct):
        fields = {f.name.lower(): f for f in lake.fields} if isinstance(lake, pl.Struct) else None
        parts: list[pl.Expr] = []
        flags: list[pl.Expr] = []
        for field in dtype.fields:
            target = fields.get(field.name.lower()) if fields is not None else None
            if fields is not None and target is None:
                continue
            value, flag = _json_ready(expr.struct.field(field.name), field.dtype, target.dtype if target else None)
            parts.append(value.alias(target.name if target else field.name))
            flags += [flag] if flag is not None else []
        if not parts:
            return pl.lit(None), None
        struct = pl.when(expr.is_null()).then(None).otherwise(pl.struct(parts))
        return struct, (pl.any_horizontal(flags).fill_null(False) if flags else None)
    if isinstance(dtype, pl.List):
        inner, flag = _json_ready(pl.element(), dtype.inner, lake.inner if isinstance(lake, pl.List) else None)
        flagged = expr.list.eval(flag).list.any() if flag is not None else None
        return expr.list.eval(inner), flagged
    return expr, None


def _extra(frame: pl.DataFrame, names: list[str]) -> pl.Expr:
    """The JSON object text of the non-null values of the columns ``names`` in each row; null when there are none."""
    members = [
        pl.when(pl.col(name).is_not_null()).then(
            pl.lit(orjson.dumps(name).decode() + ":") + _as_text(pl.col(name), frame.schema[name], json=True)
        )
        for name in names
    ]
    joined = pl.concat_list(members).list.drop_nulls().list.join(",")
    return pl.when(joined == "").then(None).otherwise(pl.lit("{") + joined + pl.lit("}")).alias(EXTRA)


def _as_text(expr: pl.Expr, dtype: pl.DataType | DataTypeClass, *, json: bool = False) -> pl.Expr:
    """A JSON-text column's value as Firehose stored it: text as is, anything else as its JSON (``json``: text too)."""
    if dtype == pl.String and not json:
        return expr
    # json_encode works on structs only: wrap the value as {"v": …} and cut the wrapper off
    encoded = pl.struct(expr.alias("v")).struct.json_encode().str.slice(5).str.head(-1)
    return pl.when(expr.is_null()).then(None).otherwise(encoded)
