"""write_data_files: the curated table's data files written by Polars, described as pyiceberg's own writer describes
the same rows (counts, bounds, partition), readable through the table by pyiceberg and by Polars, by field id."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from polars.testing.parametric import column, dataframes

from tests.helpers.curated import SCHEMA, make_spec
from transform_core.lake.curated import CatalogSettings, CuratedLayout, catalog_settings, curated_layout
from transform_core.lake.curated.catalogs import load_table, open_catalog
from transform_core.lake.curated.files import write_data_files

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

WIDE: dict[str, Any] = {
    **SCHEMA,
    "properties": {
        **SCHEMA["properties"],
        "ok": {"type": "boolean"},
        "born": {"type": "string", "format": "date"},
        "xs": {"type": "array", "items": {"type": "number"}},
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}},
        },
    },
}
STATS = ("record_count", "value_counts", "null_value_counts", "nan_value_counts", "lower_bounds", "upper_bounds")
START = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _pyiceberg_planner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLARS_ICEBERG_PLANNER", "pyiceberg")  # as scan_curated asks (no polars_iceberg plugin here)


def new_table(
    root: Path | str, granularity: str = "day", properties: dict[str, str] | None = None, settings: CatalogSettings | None = None
) -> tuple[Table, CuratedLayout]:
    """The curated table of a spec with scalar, date, struct and list columns, created as compact creates it."""
    layout = curated_layout(make_spec(WIDE, partitioning={"granularity": granularity}))
    table = load_table(open_catalog(str(root), settings or catalog_settings({})), str(root), layout)
    if properties:
        table = table.transaction().set_properties(properties).commit_transaction()
    return table, layout


def rows(layout: CuratedLayout, count: int, *, hours: int = 1) -> pl.DataFrame:
    """``count`` rows of every column, nulls and nested nulls among them, event times spread over ``hours`` hours."""
    values = {
        "ts": [START + timedelta(hours=i % hours, seconds=i) for i in range(count)],
        "n": [[1.5, -0.0, 0.0, None, float("inf"), -2.25][i % 6] for i in range(count)],
        "i": [None if i % 7 == 0 else i * 1_000_003 - 2**40 for i in range(count)],
        "note": [None if i % 5 == 0 else f"note {i} ünïcødé {'x' * (i % 40)}" for i in range(count)],
        "point": [None if i % 4 == 0 else {"x": None if i % 3 == 0 else i / 7} for i in range(count)],
        "ok": [None if i % 3 == 0 else i % 2 == 0 for i in range(count)],
        "born": [None if i % 6 == 0 else date(1969, 12, 31) + timedelta(days=i * 37) for i in range(count)],
        "xs": [
            None if i % 5 == 1 else [float(j) - i for j in range(i % 4)] + ([None] if i % 3 == 0 else []) for i in range(count)
        ],
        "items": [
            None
            if i % 6 == 2
            else [{"a": None if j % 2 else f"a{i}", "b": j} for j in range(i % 3)] + ([None] if i % 4 == 0 else [])
            for i in range(count)
        ],
        "_extra": [None if i % 2 else f'{{"k":{i}}}' for i in range(count)],
        "_ingested_at": [START + timedelta(days=3, microseconds=i) for i in range(count)],
        "_source_record_id": [f"r{i}" for i in range(count)],
        "_batch_id": [f"b{i % 3}" for i in range(count)],
    }
    return pl.DataFrame(values, schema=layout.columns)


def pyiceberg_files(table: Table, frame: pl.DataFrame) -> list[DataFile]:
    """What pyiceberg's own writer (the one Table.append uses) makes of the same rows."""
    from pyiceberg.io.pyarrow import _dataframe_to_data_files

    return list(_dataframe_to_data_files(table.metadata, frame.to_arrow(), table.io, counter=itertools.count()))


def described(files: list[DataFile]) -> dict[Any, dict[str, Any]]:
    """Each file's partition → its statistics (one file per partition here)."""
    by_partition = {tuple(f.partition): {name: getattr(f, name) for name in STATS} for f in files}
    assert len(by_partition) == len(files)
    return by_partition


def commit(table: Table, files: list[DataFile]) -> Table:
    transaction = table.transaction()
    with transaction.update_snapshot().fast_append() as append:
        for data_file in files:
            append.append_data_file(data_file)
    return transaction.commit_transaction()


def field_ids(table: Table, path: str) -> list[tuple[str, int]]:
    """(field path, field id) of every field of a Parquet file's schema, as pyarrow reads them from its footer."""

    def walk(field: pa.Field, prefix: str) -> Iterator[tuple[str, int]]:
        name = f"{prefix}{field.name}"
        yield name, int(field.metadata[b"PARQUET:field_id"])
        if pa.types.is_struct(field.type):
            for i in range(field.type.num_fields):
                yield from walk(field.type.field(i), f"{name}.")
        elif pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            yield from walk(field.type.value_field, f"{name}.")

    return [pair for field in pq.read_schema(table.io.new_input(path).open()) for pair in walk(field, "")]


@pytest.mark.parametrize("granularity", ["day", "hour"])
def test_the_statistics_are_those_of_pyiceberg_s_writer(tmp_path: Path, granularity: str) -> None:
    table, layout = new_table(tmp_path, granularity)
    frame = rows(layout, 300, hours=30)

    mine = write_data_files(table, frame, 1_000, uuid.uuid4(), itertools.count())

    theirs = pyiceberg_files(table, frame)
    assert described(mine) == described(theirs)
    kinds = {(f.content, f.file_format, f.sort_order_id, f.equality_ids, f.key_metadata) for f in [*mine, *theirs]}
    assert len(kinds) == 1


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_rows_are_described_as_pyiceberg_describes_them(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    table, layout = new_table(tmp_path_factory.mktemp("table"), "hour")
    frame = data.draw(dataframes([column(name, dtype=dtype) for name, dtype in layout.columns.items()], max_size=20))
    offsets = st.one_of(st.integers(0, 3 * 3_600_000_000 - 1), st.none())  # a null event time: pyiceberg's null partition
    times = [
        None if us is None else START + timedelta(microseconds=us)
        for us in data.draw(st.lists(offsets, min_size=frame.height, max_size=frame.height))
    ]
    frame = frame.with_columns(ts=pl.Series(times, dtype=layout.columns["ts"]))

    mine = write_data_files(table, frame, 1_000, uuid.uuid4(), itertools.count())

    assert described(mine) == described(pyiceberg_files(table, frame))


def test_the_files_carry_the_table_s_field_ids(tmp_path: Path) -> None:
    table, layout = new_table(tmp_path)
    mine = write_data_files(table, rows(layout, 50), 1_000, uuid.uuid4(), itertools.count())
    theirs = pyiceberg_files(table, rows(layout, 50))

    ids = field_ids(table, mine[0].file_path)
    assert ids == field_ids(table, theirs[0].file_path)
    assert dict(ids)["items.element.b"] == table.schema().find_field("items.element.b").field_id
    assert len(ids) == len(table.schema()._lazy_id_to_field)  # every field, nested ones too
    assert pq.read_metadata(table.io.new_input(mine[0].file_path).open()).created_by.startswith("Polars")


def test_the_table_reads_back_the_rows_through_pyiceberg_and_polars(tmp_path: Path) -> None:
    table, layout = new_table(tmp_path)
    frame = rows(layout, 400, hours=60)
    table = commit(table, write_data_files(table, frame, 70, uuid.uuid4(), itertools.count()))

    by_polars = pl.scan_iceberg(table).collect()  # how transform-core reads the table (scan_curated)
    by_pyiceberg = pl.from_arrow(table.scan().to_arrow())

    assert_frame_equal(by_polars.sort("_source_record_id"), frame.sort("_source_record_id"))
    assert isinstance(by_pyiceberg, pl.DataFrame)
    # pyiceberg 0.12 reads a null list of structs as an empty one (and writes it so: the files here keep the null)
    emptied = frame.with_columns(pl.col("items").fill_null(pl.lit([], dtype=layout.columns["items"])))
    assert_frame_equal(by_pyiceberg.sort("_source_record_id"), emptied.sort("_source_record_id"))


def test_columns_are_found_by_field_id_after_a_rename(tmp_path: Path) -> None:
    table, layout = new_table(tmp_path)
    frame = rows(layout, 40)
    table = commit(table, write_data_files(table, frame, 1_000, uuid.uuid4(), itertools.count()))
    with table.update_schema() as update:
        update.rename_column("note", "remark")
        update.rename_column("items.a", "name")

    read = pl.scan_iceberg(table).collect().sort("_source_record_id")

    assert read["remark"].to_list() == frame.sort("_source_record_id")["note"].to_list()
    names = read["items"].list.eval(pl.element().struct.field("name"))
    assert names.to_list() == frame.sort("_source_record_id")["items"].list.eval(pl.element().struct.field("a")).to_list()


def test_the_bounds_prune_files_by_event_time(tmp_path: Path) -> None:
    from pyiceberg.expressions import GreaterThanOrEqual

    table, layout = new_table(tmp_path, "hour")
    table = commit(table, write_data_files(table, rows(layout, 120, hours=4), 1_000, uuid.uuid4(), itertools.count()))
    later = (START + timedelta(hours=3)).isoformat()

    planned = list(table.scan(row_filter=GreaterThanOrEqual("ts", later)).plan_files())

    assert [task.file.partition[0] for task in planned] == [int(START.timestamp()) // 3600 + 3]


@pytest.mark.parametrize(("granularity", "step"), [("day", 86_400), ("hour", 3_600)])
def test_one_file_per_partition_its_value_the_transform_s(tmp_path: Path, granularity: str, step: int) -> None:
    table, layout = new_table(tmp_path, granularity)
    frame = rows(layout, 200, hours=50).sample(fraction=1.0, shuffle=True, seed=3)  # partitions interleaved

    files = write_data_files(table, frame, 1_000, uuid.uuid4(), itertools.count())

    for data_file in files:
        written = pl.read_parquet(table.io.new_input(data_file.file_path).open())
        assert {int(t.timestamp()) // step for t in written["ts"]} == {data_file.partition[0]}
        expected = frame.filter(pl.col("ts").dt.epoch("s") // step == data_file.partition[0])
        assert_frame_equal(written, expected)  # the rows of the partition, in their order
    assert sum(f.record_count for f in files) == frame.height
    assert len(files) == frame.select((pl.col("ts").dt.epoch("s") // step).n_unique()).item()


def test_files_hold_at_most_target_rows_in_order_named_as_pyiceberg_names_them(tmp_path: Path) -> None:
    table, layout = new_table(tmp_path)
    frame = rows(layout, 250)
    write_uuid = uuid.uuid4()

    files = write_data_files(table, frame, 100, write_uuid, itertools.count(7))

    assert [f.record_count for f in files] == [100, 100, 50]
    assert [Path(f.file_path).name for f in files] == [f"00000-{n}-{write_uuid}.parquet" for n in (7, 8, 9)]
    assert all(f.file_path.startswith(f"{table.location()}/data/ts_day=2026-11-24/") for f in files)
    read = pl.concat([pl.read_parquet(table.io.new_input(f.file_path).open()) for f in files])
    assert_frame_equal(read, frame)
    assert all(f.file_size_in_bytes == len(table.io.new_input(f.file_path)) for f in files)


def test_a_table_on_s3_gets_the_same_files_through_its_file_io(s3_bucket: str, tmp_path: Path) -> None:
    settings = catalog_settings(catalog_file=str(tmp_path / "catalog.db"))
    table, layout = new_table(f"s3://{s3_bucket}/lake", "hour", settings=settings)
    frame = rows(layout, 120, hours=3)

    mine = write_data_files(table, frame, 1_000, uuid.uuid4(), itertools.count())

    assert all(f.file_path.startswith(f"s3://{s3_bucket}/lake/curated/") for f in mine) and len(mine) == 3
    assert described(mine) == described(pyiceberg_files(table, frame))
    read = pl.concat([pl.read_parquet(table.io.new_input(f.file_path).open()) for f in mine])
    assert_frame_equal(read, frame.sort("ts"))  # each hour's rows, in their order
    assert all(f.file_size_in_bytes == len(table.io.new_input(f.file_path)) for f in mine)


def test_long_strings_get_bounds_that_hold_every_value(tmp_path: Path) -> None:
    from pyiceberg.conversions import from_bytes
    from pyiceberg.types import StringType

    table, layout = new_table(tmp_path)
    notes = ["é" * 3000 + "a", "b" * 5000, "bb" + "\U0010ffff" * 20, "a"]
    frame = rows(layout, len(notes)).with_columns(note=pl.Series(notes))
    note = table.schema().find_field("note").field_id

    (data_file,) = write_data_files(table, frame, 1_000, uuid.uuid4(), itertools.count())

    lower = from_bytes(StringType(), data_file.lower_bounds[note])
    upper = from_bytes(StringType(), data_file.upper_bounds[note])  # pyarrow writes none past 4 KiB; Polars a prefix
    assert all(lower <= value <= upper for value in notes)


def test_the_table_s_codec_and_level_are_used(tmp_path: Path) -> None:
    table, layout = new_table(tmp_path, properties={"write.parquet.compression-codec": "snappy"})
    (data_file,) = write_data_files(table, rows(layout, 20), 1_000, uuid.uuid4(), itertools.count())
    metadata = pq.read_metadata(table.io.new_input(data_file.file_path).open())
    assert metadata.row_group(0).column(0).compression == "SNAPPY"


@pytest.mark.parametrize(
    "properties",
    [{"write.parquet.bloom-filter-enabled.column.note": "true"}, {"write.parquet.compression-codec": "lz4"}],
)
def test_a_table_asking_for_more_gets_pyiceberg_s_writer(tmp_path: Path, properties: dict[str, str]) -> None:
    table, layout = new_table(tmp_path, properties=properties)
    frame = rows(layout, 30)
    if "write.parquet.bloom-filter-enabled.column.note" in properties:
        with pytest.warns(UserWarning, match="not implemented"):  # pyiceberg's own words
            files = write_data_files(table, frame, 1_000, uuid.uuid4(), itertools.count())
    else:
        files = write_data_files(table, frame, 1_000, uuid.uuid4(), itertools.count())
    assert pq.read_metadata(table.io.new_input(files[0].file_path).open()).created_by.startswith("parquet-cpp-arrow")


def test_a_column_the_table_lacks_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    table, layout = new_table(tmp_path)
    with pytest.raises(ValueError, match="no column 'stray'"):
        write_data_files(table, rows(layout, 5).with_columns(stray=pl.lit(1)), 1_000, uuid.uuid4(), itertools.count())
    with pytest.raises(ValueError, match="target_rows"):
        write_data_files(table, rows(layout, 5), 0, uuid.uuid4(), itertools.count())
    assert not list(Path(table.location().removeprefix("file://")).rglob("*.parquet"))


def test_a_failing_file_takes_the_call_s_earlier_files_with_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transform_core.lake.curated import files as module

    table, layout = new_table(tmp_path)
    described = module._described
    calls = []

    def fails_second(*args: Any) -> Any:
        calls.append(args[1])
        if len(calls) == 2:  # the second file is stored, then its footer found wanting
            raise OSError("disk full")
        return described(*args)

    monkeypatch.setattr(module, "_described", fails_second)
    with pytest.raises(OSError, match="disk full"):
        write_data_files(table, rows(layout, 30), 10, uuid.uuid4(), itertools.count())
    assert len(calls) == 2
    assert not list(Path(table.location().removeprefix("file://")).rglob("*.parquet"))
