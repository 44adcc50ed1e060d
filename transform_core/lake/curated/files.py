"""The curated table's data files: written by Polars' Parquet writer, described as pyiceberg describes its own.

pyiceberg's writer (``_dataframe_to_data_files``, the one ``Table.append`` uses) takes an Arrow table, copies each
partition out of it, casts it to the file schema and writes it with pyarrow: on the example's million rows it took
three times as long as Polars writing the same rows, and several copies of a partition in memory (docs/benchmarks.md).
Here each file is written straight from the Polars frame, with the Iceberg field ids in its Parquet schema
(``PARQUET:field_id``, as pyiceberg writes them), to a local path: the table's own for a local table, else a
temporary file then copied through the table's FileIO (Polars writing to a Python file object holds the GIL and takes
half as long again). Its ``DataFile`` is made from the file's footer by pyiceberg's own functions: the counts, bounds
and truncation of the table's metrics modes are pyiceberg's, the partition value its transform's, the file's name and
location its location provider's.

A table that asks for what this writer does not do is written by pyiceberg's writer instead: column names Avro cannot
hold (pyiceberg renames them in the files), a file format other than Parquet, or a ``write.parquet.*`` property other
than the codec, its level, the page size and the rows of a row group.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import polars as pl

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.manifest import DataFile
    from pyiceberg.partitioning import PartitionKey
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table
    from pyiceberg.types import NestedField

__all__ = ["write_data_files"]

_OWN_PROPERTIES = {  # the write.parquet.* properties Polars' writer is given (any other: pyiceberg's writer)
    "write.parquet.compression-codec",
    "write.parquet.compression-level",
    "write.parquet.page-size-bytes",
    "write.parquet.row-group-limit",
}
_CODECS = {"zstd": "zstd", "snappy": "snappy", "gzip": "gzip", "brotli": "brotli", "uncompressed": "uncompressed"}
_COPY_BYTES = 8 << 20  # a file written locally goes to an object store in pieces this big
_PARTITION = "__partition"  # prefix of the partition values' columns while the rows are split by them


def write_data_files(
    table: Table, frame: pl.DataFrame, target_rows: int, write_uuid: uuid.UUID, counter: Iterator[int]
) -> list[DataFile]:
    """Write the rows as data files of the table, at most ``target_rows`` rows each, in order; nothing is committed.

    Rows of several partitions go to separate files, each partition's rows in their order. Files are named as
    pyiceberg names them (``00000-<n>-<write_uuid>.parquet``, ``n`` from ``counter``). When a file fails, the files
    this call wrote are deleted.

    Raises:
        ValueError: ``target_rows`` below 1, or columns the table does not have or holds as another type.
    """
    if target_rows < 1:
        raise ValueError(f"target_rows must be at least 1, got {target_rows}")
    if not _polars_can_write(table):
        return _pyiceberg_data_files(table, frame, target_rows, write_uuid, counter)
    from pyiceberg.io.pyarrow import _check_pyarrow_schema_compatible
    from pyiceberg.table import TableProperties
    from pyiceberg.table.locations import load_location_provider
    from pyiceberg.utils.properties import property_as_int

    metadata = table.metadata
    schema = metadata.schema()
    arrow_schema = _arrow_schema(frame, schema)
    _check_pyarrow_schema_compatible(schema, arrow_schema, format_version=metadata.format_version)
    locations = load_location_provider(table_location=metadata.location, table_properties=metadata.properties)
    target_bytes = property_as_int(
        metadata.properties, TableProperties.WRITE_TARGET_FILE_SIZE_BYTES, TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT
    )
    options = _parquet_options(metadata.properties)
    files: list[DataFile] = []
    paths: list[str] = []
    try:
        with contextlib.ExitStack() as stack:
            scratch: Path | None = None  # for the files of a table on an object store, made when the first is written
            for key, part in _partitions(frame, table):
                # pyiceberg's writer also splits a file past the table's target size, estimated from the rows in memory
                size = max(1.0, part.estimated_size() / max(1, part.height))
                rows = min(target_rows, max(1, math.floor((target_bytes or 0) / size)))
                for start in range(0, part.height, rows):
                    name = f"00000-{next(counter)}-{write_uuid}.parquet"
                    paths.append(locations.new_data_location(data_file_name=name, partition_key=key))
                    local = _local_path(paths[-1])
                    if local is None:
                        scratch = scratch or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="transform-core-")))
                        written = scratch / name
                    else:
                        local.parent.mkdir(parents=True, exist_ok=True)
                        written = local
                    part.slice(start, rows).write_parquet(written, arrow_schema=arrow_schema, **options)
                    if local is None:  # through the table's FileIO
                        with written.open("rb") as source, table.io.new_output(paths[-1]).create(overwrite=True) as stream:
                            shutil.copyfileobj(source, stream, _COPY_BYTES)
                    files.append(_described(table, paths[-1], written, key))
                    if local is None:
                        written.unlink()
    except BaseException:
        for path in paths:
            with contextlib.suppress(OSError):  # never stored, or already gone
                table.io.delete(path)
        raise
    return files


def _local_path(location: str) -> Path | None:
    """The local file a table location names (a path or a ``file:`` URI), or None for an object store's."""
    parsed = urlsplit(location)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path(location) if not parsed.scheme else None


def _described(table: Table, path: str, local: Path, key: PartitionKey | None) -> DataFile:
    """The data file at ``path`` (a copy of ``local``), described from its footer as pyiceberg's writer describes its own."""
    import pyarrow.parquet as pq
    from pyiceberg.io.pyarrow import (
        compute_statistics_plan,
        data_file_statistics_from_parquet_metadata,
        parquet_path_to_id_mapping,
    )
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
    from pyiceberg.typedef import Record

    metadata, schema = table.metadata, table.metadata.schema()
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=pq.read_metadata(local),
        stats_columns=compute_statistics_plan(schema, metadata.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(schema),
    )
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=key.partition if key is not None else Record(),
        file_size_in_bytes=local.stat().st_size,
        sort_order_id=None,  # as pyiceberg's writer leaves it
        spec_id=metadata.default_spec_id,
        equality_ids=None,
        key_metadata=None,
        **statistics.to_serialized_dict(),
    )


def _pyiceberg_data_files(
    table: Table, frame: pl.DataFrame, target_rows: int, write_uuid: uuid.UUID, counter: Iterator[int]
) -> list[DataFile]:
    """pyiceberg's own writer, the one ``Table.append`` uses (its public writers commit as they go)."""
    from pyiceberg.io.pyarrow import _check_pyarrow_schema_compatible, _dataframe_to_data_files

    files: list[DataFile] = []
    for start in range(0, frame.height, target_rows):
        arrow = frame.slice(start, target_rows).to_arrow()
        if start == 0:
            _check_pyarrow_schema_compatible(table.schema(), arrow.schema, format_version=table.format_version)
        files.extend(_dataframe_to_data_files(table.metadata, arrow, table.io, write_uuid=write_uuid, counter=counter))  # type: ignore[arg-type]
    return files


def _polars_can_write(table: Table) -> bool:
    from pyiceberg.schema import sanitize_column_names
    from pyiceberg.table import TableProperties

    properties = table.metadata.properties
    file_format = properties.get(TableProperties.WRITE_FILE_FORMAT, TableProperties.WRITE_FILE_FORMAT_DEFAULT)
    codec = properties.get(TableProperties.PARQUET_COMPRESSION, TableProperties.PARQUET_COMPRESSION_DEFAULT)
    others = [name for name in properties if name.startswith("write.parquet.") and name not in _OWN_PROPERTIES]
    schema = table.metadata.schema()
    return file_format.lower() == "parquet" and codec in _CODECS and not others and sanitize_column_names(schema) == schema


def _parquet_options(properties: dict[str, str]) -> dict[str, Any]:
    """Polars' ``write_parquet`` options for the table's properties, as pyiceberg gives them to pyarrow."""
    import pyarrow as pa
    from pyiceberg.table import TableProperties
    from pyiceberg.utils.properties import property_as_int

    codec = _CODECS[properties.get(TableProperties.PARQUET_COMPRESSION, TableProperties.PARQUET_COMPRESSION_DEFAULT)]
    level = property_as_int(properties, TableProperties.PARQUET_COMPRESSION_LEVEL)
    if level is None and codec != "uncompressed" and pa.Codec.supports_compression_level(codec):
        level = pa.Codec.default_compression_level(codec)  # pyiceberg leaves the level to pyarrow; Polars' default differs
    return {
        "compression": codec,
        "compression_level": level,
        "statistics": True,
        "row_group_size": property_as_int(
            properties, TableProperties.PARQUET_ROW_GROUP_LIMIT, TableProperties.PARQUET_ROW_GROUP_LIMIT_DEFAULT
        ),
        "data_page_size": property_as_int(
            properties, TableProperties.PARQUET_PAGE_SIZE_BYTES, TableProperties.PARQUET_PAGE_SIZE_BYTES_DEFAULT
        ),
    }


def _arrow_schema(frame: pl.DataFrame, schema: Schema) -> pa.Schema:
    """The frame's Arrow schema with each field's Iceberg id in its metadata, which Polars writes into the Parquet schema.

    Raises:
        ValueError: a column, or a field of a struct, the table does not have.
    """
    import pyarrow as pa

    fields = []
    for field in frame.head(0).to_arrow().schema:
        if field.name not in schema.column_names:
            raise ValueError(f"the curated table has no column {field.name!r}")
        fields.append(_with_field_ids(field, schema.find_field(field.name)))
    return pa.schema(fields)


def _with_field_ids(field: pa.Field, iceberg: NestedField) -> pa.Field:
    import pyarrow as pa
    from pyiceberg.io.pyarrow import PYARROW_PARQUET_FIELD_ID_KEY
    from pyiceberg.types import ListType, StructType

    kind, target = field.type, iceberg.field_type
    if pa.types.is_struct(kind) and isinstance(target, StructType):
        children = []
        for child in (kind.field(i) for i in range(kind.num_fields)):
            found = target.field_by_name(child.name)
            if found is None:
                raise ValueError(f"the curated table's column {iceberg.name!r} has no field {child.name!r}")
            children.append(_with_field_ids(child, found))
        kind = pa.struct(children)
    elif (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and isinstance(target, ListType):
        element = _with_field_ids(kind.value_field, target.element_field)
        kind = pa.large_list(element) if pa.types.is_large_list(kind) else pa.list_(element)
    return field.with_type(kind).with_metadata({PYARROW_PARQUET_FIELD_ID_KEY: str(iceberg.field_id).encode()})


def _partitions(frame: pl.DataFrame, table: Table) -> Iterator[tuple[PartitionKey | None, pl.DataFrame]]:
    """The rows of each partition of the table's spec with its key, in order; the frame itself when it holds one.

    Raises:
        ValueError: a partition field's source is not a top-level column of the frame.
    """
    from pyiceberg.partitioning import PartitionFieldValue, PartitionKey

    spec, schema = table.spec(), table.schema()
    if spec.is_unpartitioned():
        yield None, frame
        return
    sources = []
    for field in spec.fields:
        name = schema.find_column_name(field.source_id)
        if name is None or name not in frame.columns:
            raise ValueError(f"the partition field {field.name} needs the column {name!r}, a top-level one")
        transform = field.transform.pyarrow_transform(schema.find_field(field.source_id).field_type)  # as pyiceberg's writer
        sources.append((field, frame.get_column(name), transform))
    key = _one_key(sources)
    if key is not None:  # a compaction's usual case: nothing copied
        groups = [(key, frame)]
    else:
        values = [pl.Series(f"{_PARTITION}{i}", transform(column.to_arrow())) for i, (_, column, transform) in enumerate(sources)]
        names = [value.name for value in values]
        groups = [
            (g.select(names).row(0), g.drop(names)) for g in frame.with_columns(values).partition_by(names, maintain_order=True)
        ]
    for values_of_key, group in groups:
        field_values = [PartitionFieldValue(field, value) for (field, _, _), value in zip(sources, values_of_key, strict=True)]
        yield PartitionKey(field_values=field_values, partition_spec=spec, schema=schema), group


def _one_key(sources: list[tuple[Any, pl.Series, Any]]) -> tuple[Any, ...] | None:
    """The partition key of every row, from each source column's least and greatest values; None when the rows may be
    in more than one partition (values apart, a null, a transform other than year, month, day or hour, which keep the
    order of the values they transform)."""
    from pyiceberg.transforms import TimeTransform

    key = []
    for field, column, transform in sources:
        if not isinstance(field.transform, TimeTransform) or column.null_count() or column.is_empty():
            return None
        ends = column.to_frame().select(pl.first().min().append(pl.first().max())).to_series()
        first, last = pl.Series(transform(ends.to_arrow())).to_list()
        if first != last:
            return None
        key.append(first)
    return tuple(key)
