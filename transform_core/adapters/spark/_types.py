"""Lake column dtypes (Polars) as Spark SQL types and as the Arrow types Spark accepts back from ``mapInArrow``.

The lake's dtypes are few (``lake/columns.py``): String, Int64, Float64, Boolean, Date, Datetime(µs, UTC), and
structs and lists of them. Spark reads Arrow's 32-bit-offset string and list vectors only (a Polars frame exports
64-bit ones), and a UTC timestamp as its ``TimestampType``.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa
from pyspark.sql import types as T

__all__ = ["arrow_schema", "spark_schema"]

_SCALARS: tuple[tuple[Any, T.DataType, Any], ...] = (
    (pl.String, T.StringType(), pa.string()),
    (pl.Int64, T.LongType(), pa.int64()),
    (pl.Float64, T.DoubleType(), pa.float64()),
    (pl.Boolean, T.BooleanType(), pa.bool_()),
    (pl.Date, T.DateType(), pa.date32()),
)
_UTC_MICROS = pa.timestamp("us", tz="UTC")


def spark_schema(dtypes: dict[str, pl.DataType]) -> T.StructType:
    """The Spark schema of frames with these columns (every column nullable, as in the lake)."""
    return T.StructType([T.StructField(name, _spark(dtype), True) for name, dtype in dtypes.items()])


def arrow_schema(dtypes: dict[str, pl.DataType]) -> pa.Schema:
    """The Arrow schema a ``mapInArrow`` function returns for these columns."""
    return pa.schema([pa.field(name, _arrow(dtype)) for name, dtype in dtypes.items()])


def _spark(dtype: Any) -> T.DataType:
    if isinstance(dtype, pl.Struct):
        return T.StructType([T.StructField(f.name, _spark(f.dtype), True) for f in dtype.fields])
    if isinstance(dtype, pl.List):
        return T.ArrayType(_spark(dtype.inner), True)
    if isinstance(dtype, pl.Datetime):
        return T.TimestampType()  # an instant in µs, as the lake's Datetime(µs, UTC)
    return _scalar(dtype)[1]


def _arrow(dtype: Any) -> Any:
    if isinstance(dtype, pl.Struct):
        return pa.struct([pa.field(f.name, _arrow(f.dtype)) for f in dtype.fields])
    if isinstance(dtype, pl.List):
        return pa.list_(_arrow(dtype.inner))
    if isinstance(dtype, pl.Datetime):
        return _UTC_MICROS
    return _scalar(dtype)[2]


def _scalar(dtype: Any) -> tuple[Any, T.DataType, Any]:
    for entry in _SCALARS:
        if dtype == entry[0]:
            return entry
    raise ValueError(f"no Spark type for the lake dtype {dtype}")
