"""load_table and TableCache: every format, the exact suffix text, and every way a table is refused."""

from __future__ import annotations

import decimal
import math
import os
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from transform_core.errors import SpecError
from transform_core.spec.model import EnrichSpec, TableFormat
from transform_core.tables import KeyType, ReferenceTable, TableCache, load_table

DEVICES = pl.DataFrame(
    {
        "device_id": ["d-1", "d-2", "d-3"],
        "site": ["plant-7", "plant-9", None],
        "model": ["X200", "Y100", "X200"],
        "unused": ["a", "b", "c"],
    }
)


def write(path: Path, data: pl.DataFrame | str | bytes, fmt: TableFormat) -> Path:
    """Write ``data`` as ``fmt``: a frame through Polars, text or bytes verbatim."""
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    elif isinstance(data, bytes):
        path.write_bytes(data)
    elif fmt == "csv":
        data.write_csv(path)
    elif fmt == "parquet":
        data.write_parquet(path)
    else:
        data.write_ndjson(path)
    return path


def spec_for(source: Path, fmt: TableFormat, key: str = "device_id", fields: tuple[str, ...] = ("site", "model")) -> EnrichSpec:
    return EnrichSpec(name="devices", source=source, format=fmt, record_key=key, table_key=key, fields=fields)


def load(
    tmp_path: Path, data: pl.DataFrame | str | bytes, fmt: TableFormat, key_type: KeyType = "string", **spec: Any
) -> ReferenceTable:
    source = write(tmp_path / f"table.{fmt}", data, fmt)
    return load_table(spec_for(source, fmt, **spec), key_type)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "ndjson"])
def test_each_format_loads(tmp_path: Path, fmt: TableFormat) -> None:
    table = load(tmp_path, DEVICES, fmt)

    # CSV has no null: Polars writes the missing site as an empty cell, which reads back as the empty string
    missing = '""' if fmt == "csv" else "null"
    expected = pl.DataFrame(
        {
            "__key": ["d-1", "d-2", "d-3"],
            "__suffix": [
                ',"site":"plant-7","model":"X200"',
                ',"site":"plant-9","model":"Y100"',
                f',"site":{missing},"model":"X200"',
            ],
        }
    )
    assert_frame_equal(table.frame, expected)
    assert table.missing_suffix == ',"site":null,"model":null'
    assert table.values == {
        "d-1": ('"plant-7"', '"X200"'),
        "d-2": ('"plant-9"', '"Y100"'),
        "d-3": (missing, '"X200"'),
    }
    assert table.field_names_json == ('"site"', '"model"')
    assert table.rows == 3
    assert table.key_type == "string"


def test_typed_values_become_exact_json(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "id": ["k"],
            'say "hi"': ['quote " backslash \\ é ☃'],
            "floor": [3],
            "ratio": [0.5],
            "active": [True],
            "tags": [["a", "b"]],
            "place": [{"lat": 1.5, "name": "x"}],
            "none": pl.Series([None], dtype=pl.Int64),
        }
    )
    fields = tuple(frame.columns[1:])
    table = load(tmp_path, frame, "parquet", key="id", fields=fields)

    suffix = table.frame.get_column("__suffix")[0]
    assert suffix == (
        r',"say \"hi\"":"quote \" backslash \\ é ☃","floor":3,"ratio":0.5,"active":true,'
        r'"tags":["a","b"],"place":{"lat":1.5,"name":"x"},"none":null'
    )
    assert orjson.loads("{" + suffix[1:] + "}") == frame.drop("id").to_dicts()[0]


def test_csv_values_are_text_and_empty_cells_empty_strings(tmp_path: Path) -> None:
    # CSV has no null and no types: a bare empty cell and a quoted "" are both the empty string, digits stay strings.
    table = load(tmp_path, 'id,site,floor\na,,3\nb,"",04\n', "csv", key="id", fields=("site", "floor"))

    assert table.values == {"a": ('""', '"3"'), "b": ('""', '"04"')}


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("csv", "device_id,site\n7,plant-7\n-3,plant-9\n+12,plant-1\n"),
        ("ndjson", '{"device_id":7,"site":"plant-7"}\n{"device_id":-3,"site":"plant-9"}\n{"device_id":12,"site":"plant-1"}\n'),
        (
            "parquet",
            pl.DataFrame({"device_id": pl.Series([7, -3, 12], dtype=pl.Int32), "site": ["plant-7", "plant-9", "plant-1"]}),
        ),
    ],
)
def test_integer_keys_become_int64(tmp_path: Path, fmt: TableFormat, data: pl.DataFrame | str) -> None:
    table = load(tmp_path, data, fmt, key_type="integer", fields=("site",))

    assert_frame_equal(
        table.frame,
        pl.DataFrame({"__key": [7, -3, 12], "__suffix": [',"site":"plant-7"', ',"site":"plant-9"', ',"site":"plant-1"']}),
    )
    assert table.values == {7: ('"plant-7"',), -3: ('"plant-9"',), 12: ('"plant-1"',)}


def test_key_may_also_be_a_field(tmp_path: Path) -> None:
    table = load(tmp_path, DEVICES, "parquet", fields=("device_id", "site"))

    assert table.values["d-1"] == ('"d-1"', '"plant-7"')


def test_empty_table_loads_with_typed_columns(tmp_path: Path) -> None:
    table = load(tmp_path, "device_id,site\n", "csv", key_type="integer", fields=("site",))

    assert table.rows == 0
    assert table.frame.schema == pl.Schema({"__key": pl.Int64, "__suffix": pl.String})


# (format, data, spec overrides, key type, column the error must name, text it must contain)
REFUSED: dict[str, tuple[TableFormat, pl.DataFrame | str | bytes, dict[str, Any], KeyType, str, str]] = {
    "missing key column": ("csv", "id,site,model\na,b,c\n", {}, "string", "device_id", "the table has: id, site, model"),
    "missing field": ("parquet", DEVICES.drop("model"), {}, "string", "model", "the table has: device_id, site, unused"),
    "empty key csv": ("csv", "device_id,site,model\na,b,c\n,d,e\n", {}, "string", "device_id", "1 empty key, first in row 2"),
    "blank line csv": ("csv", "device_id,site,model\na,b,c\n\n", {}, "string", "device_id", "1 empty key, first in row 2"),
    "empty integer key csv": ("csv", "device_id,site,model\n1,b,c\n,d,e\n", {}, "integer", "device_id", "'' in row 2"),
    "null key ndjson": (
        "ndjson",
        '{"device_id":"a","site":1,"model":2}\n{"site":3,"model":4}\n',
        {},
        "string",
        "device_id",
        "row 2",
    ),
    "duplicate keys": (
        "csv",
        "device_id,site,model\na,1,1\nb,1,1\na,2,2\nc,1,1\nb,3,3\na,4,4\n",
        {},
        "string",
        "device_id",
        "2 keys appear more than once (5 rows): 'a', 'b'",
    ),
    "duplicate integer keys": (
        "csv",
        "device_id,site,model\n1,a,a\n01,b,b\n",
        {},
        "integer",
        "device_id",
        "1 key appears more than once (2 rows): 1",
    ),
    "non-integer csv key": (
        "csv",
        "device_id,site,model\n1,a,a\n7.5,b,b\n",
        {},
        "integer",
        "device_id",
        "'7.5' in row 2 is not an integer",
    ),
    "padded csv key": ("csv", "device_id,site,model\n 1,a,a\n", {}, "integer", "device_id", "' 1' in row 1 is not an integer"),
    "string key, integer wanted": ("parquet", DEVICES, {}, "integer", "device_id", "must hold integers"),
    "integer key, string wanted": ("ndjson", '{"device_id":1,"site":"a","model":"b"}\n', {}, "string", "device_id", "got Int64"),
    "float key": ("parquet", DEVICES.with_columns(device_id=pl.lit(1.5)), {}, "integer", "device_id", "got Float64"),
    "unsigned key above Int64": (
        "parquet",
        pl.DataFrame({"device_id": pl.Series([1, 2**63], dtype=pl.UInt64), "site": ["a", "b"], "model": ["c", "d"]}),
        {},
        "integer",
        "device_id",
        "9223372036854775808 in row 2",
    ),
    "NaN value": ("parquet", DEVICES.with_columns(site=pl.Series([1.0, math.nan, 2.0])), {}, "string", "site", "row 2 holds nan"),
    "inf value": ("parquet", DEVICES.with_columns(site=pl.lit(math.inf)), {}, "string", "site", "row 1 holds inf"),
    "NaN inside a list": (
        "parquet",
        DEVICES.with_columns(model=pl.Series([[1.0], [], [2.0, -math.inf]])),
        {},
        "string",
        "model",
        "row 3 holds [2.0, -inf]",
    ),
    "decimal value": (
        "parquet",
        DEVICES.with_columns(model=pl.Series([decimal.Decimal("1.5")] * 3, dtype=pl.Decimal(10, 2))),
        {},
        "string",
        "model",
        "row 1 holds Decimal('1.50')",
    ),
    "binary value": ("parquet", DEVICES.with_columns(site=pl.lit(b"\x00")), {}, "string", "site", "cannot be written as JSON"),
    "unsigned value above Int64": (
        "parquet",
        DEVICES.with_columns(model=pl.Series([1, 2**64 - 1, 2], dtype=pl.UInt64)),
        {},
        "string",
        "model",
        "row 2 holds 18446744073709551615 (UInt64), beyond the signed 64-bit integers",
    ),
    "ndjson integer above Int64": (
        "ndjson",
        '{"device_id":"a","site":"x","model":1}\n{"device_id":"b","site":"y","model":9223372036854775808}\n',
        {},
        "string",
        "model",
        "row 2 holds 9223372036854775808 (Int128), beyond the signed 64-bit integers",
    ),
    "ndjson integer rounded among numbers": (
        "ndjson",
        '{"device_id":"a","site":"x","model":1.5}\n{"device_id":"b","site":"y","model":9007199254740993}\n',
        {},
        "string",
        "model",
        "row 2 holds 9007199254740993, which Polars reads as 9007199254740992.0 in the column's type Float64",
    ),
    "ndjson number among strings": (
        "ndjson",
        '{"device_id":"a","site":"x","model":"X200"}\n{"device_id":"b","site":"y","model":200}\n',
        {},
        "string",
        "model",
        "row 2 holds 200, which Polars reads as '200' in the column's type String",
    ),
    "ndjson integer rounded in a list": (
        "ndjson",
        '{"device_id":"a","site":"x","model":[9007199254740993, 0.5]}\n',
        {},
        "string",
        "model",
        "row 1 holds [9007199254740993, 0.5]",
    ),
    "nanoseconds": (
        "parquet",
        DEVICES.with_columns(model=pl.Series([0, 1_000, 1_001]).cast(pl.Datetime("ns"))),
        {},
        "string",
        "model",
        "row 3 holds",
    ),
}


@pytest.mark.parametrize(("fmt", "data", "overrides", "key_type", "column", "text"), REFUSED.values(), ids=REFUSED.keys())
def test_refused_table_names_file_and_column(
    tmp_path: Path,
    fmt: TableFormat,
    data: pl.DataFrame | str | bytes,
    overrides: dict[str, Any],
    key_type: KeyType,
    column: str,
    text: str,
) -> None:
    with pytest.raises(SpecError) as caught:
        load(tmp_path, data, fmt, key_type=key_type, **overrides)

    assert caught.value.file == str(tmp_path / f"table.{fmt}")
    assert caught.value.key == column
    assert str(caught.value).startswith(f"{tmp_path / f'table.{fmt}'}: {column}: ")
    assert text in str(caught.value)


def test_values_the_lake_holds_exactly_load(tmp_path: Path) -> None:
    # unsigned values within Int64, integers among numbers that doubles hold exactly, microsecond times
    ndjson = '{"id":"a","n":[9007199254740992, 0.5],"m":{"x":1}}\n{"id":"b","n":[1],"m":{"y":"z"}}\n'
    table = load(tmp_path, ndjson, "ndjson", key="id", fields=("n", "m"))
    parquet = pl.DataFrame(
        {
            "device_id": ["d-1"],
            "site": pl.Series([2**63 - 1], dtype=pl.UInt64),
            "model": pl.Series([1_000]).cast(pl.Datetime("ns")),
        }
    )

    assert table.values == {"a": ("[9007199254740992.0,0.5]", '{"x":1,"y":null}'), "b": ("[1.0]", '{"x":null,"y":"z"}')}
    assert load(tmp_path, parquet, "parquet").values == {"d-1": ("9223372036854775807", '"1970-01-01T00:00:00.000001"')}


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("parquet", b"not a parquet file"),
        ("parquet", b""),
        ("csv", ""),
        ("csv", "device_id,site,model\na,b,c,d,e\n"),
        ("csv", "device_id,site,model\na,caf\xe9,c\n".encode("latin-1")),
        ("ndjson", '{"device_id":"a"}\n{oops\n'),
        ("ndjson", '{"device_id":"a","site":340282366920938463463374607431768211456}\n'),
    ],
    ids=["corrupt parquet", "empty parquet", "empty csv", "ragged csv", "latin-1 csv", "broken ndjson", "ndjson beyond 128 bits"],
)
def test_unreadable_table_is_a_chained_spec_error(tmp_path: Path, fmt: TableFormat, data: str | bytes) -> None:
    with pytest.raises(SpecError, match=f"cannot read {fmt} table") as caught:
        load(tmp_path, data, fmt)

    assert caught.value.file == str(tmp_path / f"table.{fmt}")
    assert isinstance(caught.value.__cause__, pl.exceptions.PolarsError)


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read csv table") as caught:
        load_table(spec_for(tmp_path / "gone.csv", "csv"), "string")

    assert isinstance(caught.value.__cause__, OSError)


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])  # the file is rewritten each example
@given(values=st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=5))
def test_suffix_round_trips_any_text(tmp_path: Path, values: list[str | None]) -> None:
    frame = pl.DataFrame({"id": [str(i) for i in range(len(values))], "v": pl.Series(values, dtype=pl.String)})
    table = load(tmp_path, frame, "parquet", key="id", fields=("v",))

    decoded = [orjson.loads("{" + suffix[1:] + "}")["v"] for suffix in table.frame.get_column("__suffix")]
    assert decoded == values


class TestTableCache:
    @staticmethod
    def spec(tmp_path: Path) -> EnrichSpec:
        return spec_for(write(tmp_path / "devices.csv", DEVICES, "csv"), "csv")

    def test_returns_the_same_table_while_the_file_is_unchanged(self, tmp_path: Path) -> None:
        cache, spec = TableCache(), self.spec(tmp_path)

        assert cache.get(spec, "string") is cache.get(spec, "string")

    def test_key_types_are_cached_apart(self, tmp_path: Path) -> None:
        cache = TableCache()
        spec = spec_for(write(tmp_path / "ids.csv", "device_id,site,model\n1,a,b\n", "csv"), "csv")

        assert cache.get(spec, "string").values == {"1": ('"a"', '"b"')}
        assert cache.get(spec, "integer").values == {1: ('"a"', '"b"')}

    def test_reloads_after_a_rewrite_of_another_size(self, tmp_path: Path) -> None:
        cache, spec = TableCache(), self.spec(tmp_path)
        first = cache.get(spec, "string")
        write(spec.source, DEVICES.head(1), "csv")

        second = cache.get(spec, "string")

        assert second is not first
        assert second.rows == 1
        assert cache.get(spec, "string") is second

    def test_reloads_after_a_same_size_rewrite_with_a_new_mtime(self, tmp_path: Path) -> None:
        cache, spec = TableCache(), self.spec(tmp_path)
        first = cache.get(spec, "string")
        before = os.stat(spec.source)
        write(spec.source, DEVICES.with_columns(model=pl.col("model").str.to_lowercase()), "csv")
        os.utime(spec.source, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        assert os.stat(spec.source).st_size == before.st_size

        assert cache.get(spec, "string").values["d-1"] == ('"plant-7"', '"x200"')
        assert first.values["d-1"] == ('"plant-7"', '"X200"')

    def test_a_failed_reload_raises_and_a_fixed_file_loads_again(self, tmp_path: Path) -> None:
        cache, spec = TableCache(), self.spec(tmp_path)
        cache.get(spec, "string")
        write(spec.source, "device_id,site,model\na,1,1\na,2,2\n", "csv")

        with pytest.raises(SpecError, match="more than once"):
            cache.get(spec, "string")
        write(spec.source, "device_id,site,model\na,1,1\n", "csv")

        assert cache.get(spec, "string").values == {"a": ('"1"', '"1"')}

    def test_a_deleted_file_is_a_spec_error(self, tmp_path: Path) -> None:
        cache, spec = TableCache(), self.spec(tmp_path)
        cache.get(spec, "string")
        spec.source.unlink()

        with pytest.raises(SpecError, match="cannot read table") as caught:
            cache.get(spec, "string")

        assert isinstance(caught.value.__cause__, FileNotFoundError)
