"""Reading the raw zone back as lake rows, whoever wrote each file: transform-core's lake writer, or Firehose.

The raw zone's contract (folders, names, formats, what each column means per producer) is ``docs/raw-zone.md``.
Each file's producer is found from its bytes and columns, never from a setting:

- Parquet with the lineage columns: the lake writer's (``transform-core``), read as written;
- Parquet without them: Firehose's record format conversion (``firehose-parquet``);
- gzip, or NDJSON text under a Firehose name or a ``.json``/``.ndjson``/``.jsonl`` name: Firehose's JSON delivery
  (``firehose-json``), each line a record the Lambda returned.

Firehose's records go through :class:`~transform_core.lake.rows.LakeRows`, as the writer's do, and get lineage
derived from the file (:mod:`transform_core.lake.raw_firehose`). A record the lake refuses is returned with its
reason; a file that cannot be read is returned as a problem. Neither stops the other files.
"""

from __future__ import annotations

import gzip
import io
import posixpath
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Literal, NamedTuple

import polars as pl
from polars.datatypes import DataTypeClass

from transform_core.lake.columns import BATCH_ID, INGESTED_AT, SOURCE_RECORD_ID, LakeColumns
from transform_core.lake.raw_firehose import (
    FIREHOSE_NAME,
    FirehoseRecords,
    firehose_parquet_rows,
    name_time,
    ndjson_records,
    parquet_records,
    split_records,
)
from transform_core.lake.rows import LakeRows
from transform_core.lake.storage import modified_at, read_bytes

__all__ = ["PRODUCERS", "RawProblem", "RawProducer", "RawRead", "RawRefusal", "RawSource", "read_raw"]

RawProducer = Literal["transform-core", "firehose-parquet", "firehose-json"]
#: Who writes a raw-zone file, and how: the lake writer, or Firehose delivering Parquet or NDJSON.
PRODUCERS: tuple[RawProducer, ...] = ("transform-core", "firehose-parquet", "firehose-json")
_LINEAGE = (INGESTED_AT, SOURCE_RECORD_ID, BATCH_ID)
PolarsType = pl.DataType | DataTypeClass
_JSON_EXTENSIONS = (".json", ".ndjson", ".jsonl")


class RawSource(NamedTuple):
    """A file read: its producer, the rows it gave and the records of it the lake refused."""

    file: str
    producer: RawProducer
    rows: int
    refused: int


class RawRefusal(NamedTuple):
    """A Firehose record the lake cannot store exactly.

    Attributes:
        file: the file (path or ``s3://`` URI).
        position: its line (NDJSON) or row (Parquet) in the file, from 1.
        record_id: the ``_source_record_id`` it would have had, ``<file name>#<position>``.
        reason: why, with the rule ``lake_exact`` (as the lake writer's refusals).
        record: the record as one line of JSON: the line delivered (NDJSON), or the row rendered as JSON (Parquet).
    """

    file: str
    position: int
    record_id: str
    reason: str
    record: str


class RawProblem(NamedTuple):
    """A file not read: not a raw-zone file, damaged, unreadable, or outside the partition folders."""

    file: str
    reason: str


class RawRead(NamedTuple):
    """What :func:`read_raw` read.

    Attributes:
        frame: the lake rows of every file read, in the order of the files, each file's rows in its order; columns
            and dtypes exactly ``LakeColumns.dtypes`` (partition columns last, as text from the folders).
        sources: the files read, in order, with their producer and counts.
        refused: the records the lake refused, file by file; none of them is in ``frame``.
        problems: the files not read, each with a one-line reason; none of their rows is in ``frame``.
    """

    frame: pl.DataFrame
    sources: tuple[RawSource, ...]
    refused: tuple[RawRefusal, ...]
    problems: tuple[RawProblem, ...]


class _Unreadable(Exception):
    """A file that is not read, with the reason."""


def read_raw(files: Sequence[str], columns: LakeColumns, *, endpoint_url: str | None = None) -> RawRead:
    """The lake rows of raw-zone files of any producer (see the module docstring), read whole and eagerly.

    Args:
        files: local paths or ``s3://`` URIs of files below ``…/year=YYYY/month=MM/day=DD[/hour=HH]/``.
        columns: the lake's column plan (:func:`~transform_core.lake.columns.lake_columns`).
        endpoint_url: S3 endpoint, overriding the AWS environment variables.

    Returns:
        the rows, the files read, the records refused and the files not read (:class:`RawRead`).

    Raises:
        ConfigurationEnvironmentError: an ``s3://`` file without pyarrow installed.
    """
    reader = _Reader(columns, endpoint_url)
    frames: list[pl.DataFrame] = []
    sources: list[RawSource] = []
    refused: list[RawRefusal] = []
    problems: list[RawProblem] = []
    for file in files:
        try:
            producer, frame, file_refused = reader.read(file)
        except _Unreadable as err:
            problems.append(RawProblem(file, str(err)))
            continue
        frames.append(frame)
        refused += file_refused
        sources.append(RawSource(file, producer, frame.height, len(file_refused)))
    frame = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=columns.dtypes)
    return RawRead(frame, tuple(sources), tuple(refused), tuple(problems))


class _Reader:
    """Reads one file at a time for :func:`read_raw` (the LakeRows are built once per call)."""

    def __init__(self, columns: LakeColumns, endpoint_url: str | None) -> None:
        self.columns = columns
        self.endpoint_url = endpoint_url
        self.rows = LakeRows(columns)
        self._parquet_rows: LakeRows | None = None

    def read(self, file: str) -> tuple[RawProducer, pl.DataFrame, list[RawRefusal]]:
        name = posixpath.basename(file)
        keys = _partition_keys(file, self.columns.partition_keys)
        try:
            data = read_bytes(file, endpoint_url=self.endpoint_url)
        except OSError as err:
            raise _Unreadable(f"cannot be read: {_one_line(err)}") from err
        if data[:4] == b"PAR1":
            try:
                frame = pl.read_parquet(io.BytesIO(data))
            except (pl.exceptions.PolarsError, OSError) as err:
                raise _Unreadable(f"not a readable Parquet file: {_one_line(err)}") from err
            lineage = [column for column in _LINEAGE if column in frame.columns]
            if len(lineage) == len(_LINEAGE):
                return "transform-core", self._own(frame, keys), []
            if lineage:
                missing = ", ".join(column for column in _LINEAGE if column not in lineage)
                raise _Unreadable(f"Parquet with {', '.join(lineage)} but without {missing}: not a raw-zone file")
            return "firehose-parquet", *self._firehose_parquet(file, frame, keys)
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as err:
                raise _Unreadable(f"damaged gzip: {_one_line(err)}") from err
            return "firehose-json", *self._firehose_json(file, data, keys)
        if name.endswith((".parquet", ".gz")):
            raise _Unreadable(
                f"named {name.rsplit('.', 1)[-1]!r} but its bytes are not {'Parquet' if name.endswith('.parquet') else 'gzip'}"
            )
        firehose = FIREHOSE_NAME.fullmatch(name)
        if name.endswith(_JSON_EXTENSIONS) or (firehose is not None and not firehose["extension"]):
            return "firehose-json", *self._firehose_json(file, data, keys)
        raise _Unreadable("not a raw-zone file: neither Parquet, gzip, nor NDJSON under a Firehose or .json/.ndjson/.jsonl name")

    def _own(self, frame: pl.DataFrame, keys: dict[str, str]) -> pl.DataFrame:
        """The lake writer's rows as written: a column or struct field the spec added since is null.

        A column the spec does not declare, or one of another type, makes the file a problem: its values are never
        dropped or cast without a word.
        """
        unknown = [name for name in frame.columns if name not in self.columns.dtypes or name in keys]
        if unknown:
            raise _Unreadable(f"column {unknown[0]!r} is not a column of the spec's lake: declare it again, or move the file out")
        exprs: list[pl.Expr] = []
        for name, dtype in self.columns.dtypes.items():
            if name in keys:
                exprs.append(pl.lit(keys[name], dtype=pl.String).alias(name))
            elif name in frame.columns:
                expr = _conform(pl.col(name), frame.schema[name], dtype)
                if expr is None:
                    raise _Unreadable(f"column {name!r} is {frame.schema[name]} in the file and {dtype} in the spec's lake")
                exprs.append(expr.alias(name))
            else:
                exprs.append(pl.lit(None, dtype=dtype).alias(name))
        try:
            return frame.select(exprs)
        except pl.exceptions.PolarsError as err:
            raise _Unreadable(f"its columns do not fit the lake's: {_one_line(err)}") from err

    def _firehose_parquet(self, file: str, frame: pl.DataFrame, keys: dict[str, str]) -> tuple[pl.DataFrame, list[RawRefusal]]:
        try:
            records = parquet_records(frame, self.columns)
        except pl.exceptions.PolarsError as err:
            raise _Unreadable(f"its columns do not fit the lake's: {_one_line(err)}") from err
        if self._parquet_rows is None:
            self._parquet_rows = firehose_parquet_rows(self.columns)
        return self._split(file, self._parquet_rows, records, keys)

    def _firehose_json(self, file: str, data: bytes, keys: dict[str, str]) -> tuple[pl.DataFrame, list[RawRefusal]]:
        return self._split(file, self.rows, ndjson_records(data), keys)

    def _split(
        self, file: str, rows: LakeRows, records: FirehoseRecords, keys: dict[str, str]
    ) -> tuple[pl.DataFrame, list[RawRefusal]]:
        name = posixpath.basename(file)
        ingested_at = name_time(name) or self._modified(file)
        frame, refused = split_records(rows, records, name=name, ingested_at=ingested_at, keys=keys)
        lines = dict(zip(records.numbers, records.lines, strict=True))
        refusals = [
            RawRefusal(file, number, f"{name}#{number}", reason, lines[number].decode(errors="replace").rstrip("\n"))
            for number, reason in refused
        ]
        return frame.select(list(self.columns.dtypes)), refusals

    def _modified(self, file: str) -> datetime:
        """When the file was last written (S3: the object's LastModified), to the microsecond, in UTC."""
        try:
            return modified_at(file, endpoint_url=self.endpoint_url)
        except OSError as err:
            raise _Unreadable(f"cannot tell when it was written: {_one_line(err)}") from err


def _conform(expr: pl.Expr, have: PolarsType, want: PolarsType) -> pl.Expr | None:
    """``expr`` (of dtype ``have``) as ``want``, where ``want`` only adds struct fields (null); None when it does more."""
    if have == want:
        return expr
    if have == pl.Null:
        return expr.cast(want)
    if isinstance(have, pl.Struct) and isinstance(want, pl.Struct):
        inner = {f.name: f.dtype for f in have.fields}
        if not set(inner) <= {f.name for f in want.fields}:
            return None
        fields: list[pl.Expr] = []
        for f in want.fields:
            field = _conform(expr.struct.field(f.name), inner[f.name], f.dtype) if f.name in inner else pl.lit(None, f.dtype)
            if field is None:
                return None
            fields.append(field.alias(f.name))
        return pl.when(expr.is_not_null()).then(pl.struct(fields))
    if isinstance(have, pl.List) and isinstance(want, pl.List):
        element = _conform(pl.element(), have.inner, want.inner)
        return None if element is None else expr.list.eval(element)
    return None


def _partition_keys(file: str, keys: tuple[str, ...]) -> dict[str, str]:
    """The partition values in a file's folders (``…/year=2026/month=11/day=27/<name>``), innermost winning."""
    found: dict[str, str] = {}
    for part in file.split("/")[:-1]:
        key, sep, value = part.partition("=")
        if sep and key in keys:
            found[key] = value
    missing = [key for key in keys if not found.get(key)]
    if missing:
        folders = "/".join(f"{key}=…" for key in keys)
        raise _Unreadable(f"not in a {folders} folder (no {', '.join(missing)})")
    return {key: found[key] for key in keys}


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
