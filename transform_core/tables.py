"""Reference tables for enrichment: read once, checked, and turned into JSON text to append.

Each table row becomes the text a record's JSON object gets before its closing brace
(``,"site":"plant-7","model":"X200"``), so enriching a record is a join plus a string
concatenation. Every problem with a table is a :class:`SpecError` naming the file and the column;
rows in messages count from 1, a CSV header not counted.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
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
        SpecError: unreadable file, missing column, wrong key type, null or duplicate key,
            or a value JSON cannot hold.
    """
    file = str(spec.source)
    frame = _read(spec, file)
    keys = _keys(frame.get_column(spec.table_key), key_type, spec.format == "csv", file)
    _check_keys(keys, file)
    names_json = tuple(orjson.dumps(name).decode() for name in spec.fields)
    texts = _json_texts(frame.select(spec.fields), file)
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
    """Read the key column and the field columns; CSV as text with empty cells null."""
    try:
        if spec.format == "csv":
            lazy = pl.scan_csv(spec.source, infer_schema=False)
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
    if spec.format == "csv":
        # Polars reads a quoted "" as an empty string and only a bare empty cell as null; treat both as null.
        selected = [pl.when(pl.col(name) != "").then(pl.col(name)).alias(name) for name in wanted]
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


def _check_keys(keys: pl.Series, file: str) -> None:
    """Keys must be present and unique: a join must never drop or multiply records."""
    nulls = keys.is_null()
    if nulls.any():
        raise SpecError(f"{nulls.sum()} null key(s), first in row {nulls.arg_true()[0] + 1}", file=file, key=keys.name)
    duplicated = keys.is_duplicated()
    if duplicated.any():
        values = keys.filter(duplicated).unique(maintain_order=True)
        examples = ", ".join(repr(value) for value in values.head(_EXAMPLES).to_list())
        more = ", ..." if values.len() > _EXAMPLES else ""
        raise SpecError(
            f"{values.len()} key(s) appear more than once ({duplicated.sum()} rows): {examples}{more}",
            file=file,
            key=keys.name,
        )


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
