"""Reference tables for enrichment: read once, checked, and turned into JSON text to append.

Each table row becomes the text a record's JSON object gets before its closing brace
(``,"site":"plant-7","model":"X200"``), so enriching a record is a join plus a string
concatenation. Every problem with a table is a :class:`SpecError` naming the file and the column;
rows in messages count from 1, a CSV header not counted. That includes a value the records or the lake
could not carry exactly: an integer beyond Int64 (the lake's integer column), sub-microsecond time, NaN, a
Decimal, or an NDJSON value Polars reads as another one (``9007199254740993`` in a column of numbers).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import orjson
import polars as pl
from polars.datatypes import DataTypeClass

from transform_core.errors import SpecError
from transform_core.spec import EnrichSpec

__all__ = ["KEY_COLUMN", "SUFFIX_COLUMN", "KeyType", "ReferenceTable", "TableCache", "load_table"]

KeyType = Literal["string", "integer"]

KEY_COLUMN = "__key"
SUFFIX_COLUMN = "__suffix"
_EXAMPLES = 5  # duplicated keys quoted in an error message
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# eq=False: callers (the cache, the engine's reload check) care about identity, and comparing whole tables is slow.
@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class ReferenceTable:
    """One loaded table: unique keys and the JSON text each key adds to a record.

    Attributes:
        missing_suffix: the suffix for a key that is not in the table (every field ``null``).
        values: key → JSON text of each field value, in ``spec.fields`` order.
        suffixes: key → the text spliced into a matching record (``,"site":"plant-7"``).
        field_names_json: the field names as JSON strings (``'"site"'``).
    """

    spec: EnrichSpec
    key_type: KeyType
    missing_suffix: str
    values: dict[str | int, tuple[str, ...]] = field(repr=False)  # can be large
    suffixes: dict[str | int, str] = field(repr=False)  # key -> its suffix, in table order
    field_names_json: tuple[str, ...]
    rows: int

    def texts_for(self, key: Any) -> tuple[str, ...] | None:
        """The JSON text of each field for a record's key; None when the key is not of the table's type (``True`` is
        no integer key, ``"7"`` no integer either) or not in the table."""
        wanted = str if self.key_type == "string" else int
        return self.values.get(key) if type(key) is wanted else None

    @property
    def frame(self) -> pl.DataFrame:
        """``__key`` (String or Int64, unique) and ``__suffix`` (String), one row per table row (for inspection)."""
        key_dtype = pl.Int64 if self.key_type == "integer" else pl.String
        return pl.DataFrame(
            [
                pl.Series(KEY_COLUMN, list(self.suffixes), dtype=key_dtype),
                pl.Series(SUFFIX_COLUMN, list(self.suffixes.values()), dtype=pl.String),
            ]
        )


def load_table(spec: EnrichSpec, key_type: KeyType) -> ReferenceTable:
    """Read ``spec.source``, check it and precompute the JSON text of every enrichment value.

    Args:
        spec: the table's spec; ``table_key`` is the key column, ``fields`` the columns added.
        key_type: ``"integer"`` makes the key Int64 (CSV cells are parsed strictly), else String.

    Raises:
        SpecError: unreadable file, missing column, wrong key type, null, empty (CSV) or duplicate key,
            or a value JSON or the lake cannot hold exactly.
    """
    file = str(spec.source)
    frame = _read(spec, file)
    keys = _keys(frame.get_column(spec.table_key), key_type, spec.format == "csv", file)
    _check_keys(keys, file, spec.format == "csv")
    fields = frame.select(spec.fields)
    _check_lake_exact(fields, file)
    if spec.format == "ndjson":
        _check_as_sent(spec.source, fields, file)
    names_json = tuple(orjson.dumps(name).decode() for name in spec.fields)
    texts = _json_texts(fields, file)
    suffixes = ["".join(f",{name}:{text}" for name, text in zip(names_json, row, strict=True)) for row in texts]
    return ReferenceTable(
        spec=spec,
        key_type=key_type,
        missing_suffix="".join(f",{name}:null" for name in names_json),
        values=dict(zip(keys.to_list(), texts, strict=True)),
        suffixes=dict(zip(keys.to_list(), suffixes, strict=True)),
        field_names_json=names_json,
        rows=frame.height,
    )


class TableCache:
    """Loaded tables, reloaded when their file's mtime or size changes (one ``os.stat`` per ``get``).

    Meant to live as long as a warm Lambda; it is not thread-safe.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[EnrichSpec, KeyType], tuple[tuple[int, int], ReferenceTable]] = {}

    def get(self, spec: EnrichSpec, key_type: KeyType) -> ReferenceTable:
        """Return the table for ``spec``, loading it on first use and again after its file changed.

        Raises:
            SpecError: the file is gone or a (re)load fails; the previous table is kept, and the
                next ``get`` tries again.
        """
        try:
            stat = os.stat(spec.source)
        except OSError as err:
            raise SpecError(f"cannot read table: {err.strerror}", file=str(spec.source), key=spec.table_key) from err
        stamp = (stat.st_mtime_ns, stat.st_size)
        entry = self._entries.get((spec, key_type))
        if entry is not None and entry[0] == stamp:
            return entry[1]
        # The stamp is taken before reading: a write during the load leaves an old stamp, so it reloads next time.
        table = load_table(spec, key_type)
        self._entries[(spec, key_type)] = (stamp, table)
        return table


def _read(spec: EnrichSpec, file: str) -> pl.DataFrame:
    """Read the key column and the field columns; CSV as text, an empty cell the empty string (CSV has no null)."""
    try:
        if spec.format == "csv":
            lazy = pl.scan_csv(spec.source, infer_schema=False, empty_string_is_null=False)
        elif spec.format == "parquet":
            lazy = pl.scan_parquet(spec.source)
        else:
            # Infer from every line: the default 100 fails on a type change further down.
            lazy = pl.scan_ndjson(spec.source, infer_schema_length=None)
        columns = lazy.collect_schema().names()
    except (OSError, pl.exceptions.PolarsError) as err:
        raise SpecError(f"cannot read {spec.format} table: {err}", file=file) from err
    for column in (spec.table_key, *spec.fields):
        if column not in columns:
            raise SpecError(f"no column {column!r}; the table has: {', '.join(columns) or '(none)'}", file=file, key=column)
    wanted = list(dict.fromkeys((spec.table_key, *spec.fields)))  # the key may also be a field
    selected = [pl.col(name) for name in wanted]
    try:
        return lazy.select(selected).collect()
    except (OSError, pl.exceptions.PolarsError) as err:
        raise SpecError(f"cannot read {spec.format} table: {err}", file=file) from err


def _keys(column: pl.Series, key_type: KeyType, from_text: bool, file: str) -> pl.Series:
    """The key column as String or Int64; ``from_text`` (CSV) keys are parsed, others must be typed."""
    dtype = column.dtype
    if key_type == "string":
        if isinstance(dtype, pl.Categorical | pl.Enum):
            return column.cast(pl.String)
        if dtype != pl.String:
            raise SpecError(f"key column must hold strings for a string record key, got {dtype}", file=file, key=column.name)
        return column
    if not (dtype.is_integer() or (from_text and dtype == pl.String)):
        raise SpecError(f"key column must hold integers for an integer record key, got {dtype}", file=file, key=column.name)
    keys = column.cast(pl.Int64, strict=False)
    # Text that does not parse, or an unsigned value above Int64's range, becomes null here.
    bad = column.is_not_null() & keys.is_null()
    if bad.any():
        row = bad.arg_true()[0]
        raise SpecError(f"key {column[row]!r} in row {row + 1} is not an integer (Int64)", file=file, key=column.name)
    return keys


def _check_keys(keys: pl.Series, file: str, from_csv: bool) -> None:
    """Keys must be present and unique: a join must never drop or multiply records.

    A CSV key cell must not be empty: a blank line reads as a row of empty cells, and no record key is meant to
    match it.
    """
    nulls = keys.is_null()
    if from_csv and keys.dtype == pl.String:
        nulls |= keys == ""
    if nulls.any():
        kind = "empty" if from_csv else "null"
        n = nulls.sum()
        raise SpecError(f"{n} {kind} key{'s' * (n != 1)}, first in row {nulls.arg_true()[0] + 1}", file=file, key=keys.name)
    duplicated = keys.is_duplicated()
    if duplicated.any():
        values = keys.filter(duplicated).unique(maintain_order=True)
        examples = ", ".join(repr(value) for value in values.head(_EXAMPLES).to_list())
        more = ", ..." if values.len() > _EXAMPLES else ""
        raise SpecError(
            f"{values.len()} {'key appears' if values.len() == 1 else 'keys appear'} more than once "
            f"({duplicated.sum()} rows): {examples}{more}",
            file=file,
            key=keys.name,
        )


def _check_lake_exact(frame: pl.DataFrame, file: str) -> None:
    """Values the lake's column for the field cannot hold exactly fail the load, not every batch that joins them."""
    for column in frame.get_columns():
        dtype, bad, hint = column.dtype, None, ""
        if dtype.is_integer() and dtype not in (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32):
            bad = column > _INT64_MAX if dtype.is_unsigned_integer() else (column < _INT64_MIN) | (column > _INT64_MAX)
            hint = "beyond the signed 64-bit integers of the lake's Int64 column; store such values as strings"
        elif (isinstance(dtype, pl.Datetime) and dtype.time_unit == "ns") or dtype == pl.Time:
            bad = column.dt.nanosecond() % 1000 != 0
            hint = "finer than the microseconds JSON text keeps here; round the column to microseconds or store text"
        if bad is not None and bad.any():
            row = bad.arg_true()[0]
            raise SpecError(f"row {row + 1} holds {column[row]!r} ({dtype}), {hint}", file=file, key=column.name)


def _check_as_sent(source: Path, frame: pl.DataFrame, file: str) -> None:
    """Each NDJSON value as Polars read it must be the value in the file.

    Polars reads a column as one type: integers among numbers become doubles (``9007199254740993`` becomes
    ``9007199254740992.0``) and anything among strings becomes a string (``5`` becomes ``"5"``). Objects may lack
    members that other rows' objects have (they read as null).
    """
    lines = [line for line in Path(source).read_bytes().splitlines() if line.strip()]
    if len(lines) != frame.height:  # Polars split the file otherwise; it read the values, and the checks above hold
        return
    names, dtypes = frame.columns, frame.dtypes
    for row, (line, values) in enumerate(zip(lines, frame.iter_rows(), strict=True)):
        try:
            sent = json.loads(line, parse_float=Decimal)
        except (ValueError, RecursionError):
            return  # Polars read a line Python's parser refuses; nothing to compare
        if not isinstance(sent, dict):
            return
        for name, dtype, value in zip(names, dtypes, values, strict=True):
            if not _same(sent.get(name), value):
                raise SpecError(
                    f"row {row + 1} holds {_text(sent.get(name))}, which Polars reads as {value!r} in the column's "
                    f"type {dtype}; give the column's values one JSON type (or write them as strings)",
                    file=file,
                    key=name,
                )


def _same(sent: Any, read: Any) -> bool:
    """A JSON value (numbers exact) and the value Polars read for it are the same value of the same JSON type."""
    if sent is None or isinstance(sent, bool | str):
        return type(read) is type(sent) and read == sent
    if isinstance(sent, int):
        return isinstance(read, int | float) and not isinstance(read, bool) and read == sent  # exact for big ints
    if isinstance(sent, Decimal):
        return isinstance(read, float) and read == float(sent)
    if isinstance(sent, list):
        return isinstance(read, list) and len(read) == len(sent) and all(map(_same, sent, read))
    if isinstance(sent, dict) and isinstance(read, dict):
        return all(_same(value, read.get(name)) for name, value in sent.items()) and all(
            value is None for name, value in read.items() if name not in sent
        )
    return False


def _text(value: Any) -> str:
    """A JSON value (numbers exact) as short text for a message."""
    text = _render(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _render(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(_render, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(name, ensure_ascii=False)}: {_render(item)}" for name, item in value.items()) + "}"
    return str(value) if isinstance(value, Decimal) else json.dumps(value, ensure_ascii=False)


def _json_texts(frame: pl.DataFrame, file: str) -> list[tuple[str, ...]]:
    """The JSON text of every value, row by row, in column order."""
    columns = frame.columns
    # orjson writes NaN and inf as null without complaint, so columns that can hold floats are checked first.
    float_columns = [i for i, dtype in enumerate(frame.dtypes) if _holds_float(dtype)]
    texts: list[tuple[str, ...]] = []
    for row_index, row in enumerate(frame.rows()):
        for i in float_columns:
            if not _finite(row[i]):
                raise SpecError(f"row {row_index + 1} holds {row[i]!r}, which JSON cannot represent", file=file, key=columns[i])
        try:
            texts.append(tuple(orjson.dumps(value).decode() for value in row))
        except orjson.JSONEncodeError as err:
            i = _first_unserializable(row)
            raise SpecError(
                f"row {row_index + 1} holds {row[i]!r} ({frame.dtypes[i]}), which cannot be written as JSON; "
                "cast the column to a JSON type (string, number, boolean, list, struct)",
                file=file,
                key=columns[i],
            ) from err
    return texts


def _holds_float(dtype: pl.DataType | DataTypeClass) -> bool:
    if dtype.is_float():
        return True
    if isinstance(dtype, pl.List | pl.Array):
        return _holds_float(dtype.inner)
    if isinstance(dtype, pl.Struct):
        return any(_holds_float(member.dtype) for member in dtype.fields)
    return False


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    return True


def _first_unserializable(row: tuple[Any, ...]) -> int:
    for i, value in enumerate(row):
        try:
            orjson.dumps(value)
        except orjson.JSONEncodeError:
            return i
    raise AssertionError("orjson failed on the row but on none of its values")
