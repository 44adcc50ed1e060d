"""write_training_set: a training set from a real curated table (raw files through the engine, then compact), split by
event time into train and validation, as CSV for SageMaker's built-in algorithms or as Parquet (the command:
tests/cli/test_export.py)."""

from __future__ import annotations

import json
import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.helpers.curated import make_spec, read_curated, write_texts
from tests.helpers.training import SCHEMA, START, record
from transform_core.lake.curated import compact, curated_table
from transform_core.lake.curated.export import TrainingSet, TrainingSetSummary, parse_instant, write_training_set
from transform_core.spec import PipelineSpec

NUMERIC = ["n", "i", "b"]  # the table's numeric and boolean columns, in order


def make_table(root: Path, texts: list[str], batch_id: str = "b1") -> PipelineSpec:
    spec = make_spec(SCHEMA)
    write_texts(spec, root, texts, batch_id)
    compact(spec, str(root))
    return spec


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineSpec, Path]:
    """60 records over four days, every 7th without a target."""
    root = tmp_path_factory.mktemp("lake")
    return make_table(root, [record(k, target=k % 7 != 3) for k in range(60)]), root


def with_target(spec: PipelineSpec, root: Path, **options: Any) -> pl.DataFrame:
    return read_curated(spec, root, **options).filter(pl.col("n").is_not_null())


def sort_all(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def read_channels(summary: TrainingSetSummary) -> tuple[pl.DataFrame, pl.DataFrame]:
    if summary.files[0].endswith(".parquet"):
        train, validation = (pl.read_parquet(f) for f in summary.files)
        return train, validation
    schema = {"n": pl.Float64, "i": pl.Int64, "b": pl.Int8}
    train, validation = (
        pl.read_csv(f, has_header=False, new_columns=list(summary.columns), schema_overrides=schema) for f in summary.files
    )
    return train, validation


# --- the split --------------------------------------------------------------------------------------------------------


def test_the_split_is_by_time_and_complete(table: tuple[PipelineSpec, Path], tmp_path: Path) -> None:
    spec, root = table
    columns = ("n", "ts", "i", "b", "note", "point")
    summary = write_training_set(spec, str(root), TrainingSet(target="n", features=columns[1:], format="parquet"), tmp_path)

    rows = read_curated(spec, root)
    assert summary.train_rows + summary.validation_rows + summary.left_out == rows.height == 60
    assert (summary.no_target, summary.no_event_time) == (rows["n"].null_count(), 0) == (9, 0)
    train, validation = read_channels(summary)
    assert (train.height, validation.height) == (summary.train_rows, summary.validation_rows)
    assert train["ts"].max() < summary.split_at <= validation["ts"].min()  # type: ignore[operator]
    kept = with_target(spec, root).select(columns)
    assert_frame_equal(sort_all(pl.concat([train, validation])), sort_all(kept))
    # --validation-fraction 0.2: the latest fifth at least, starting at a row's event time
    share = math.ceil(0.2 * kept.height)
    assert share <= summary.validation_rows <= share + 1 and summary.split_at in kept["ts"].to_list()


def test_validation_from_splits_at_that_instant(table: tuple[PipelineSpec, Path], tmp_path: Path) -> None:
    spec, root = table
    split = parse_instant("2026-11-25T12:00:00+02:00")  # 10:00 UTC
    summary = write_training_set(spec, str(root), TrainingSet(target="n", validation_from=split), tmp_path)

    kept = with_target(spec, root)
    assert summary.split_at == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert summary.train_rows == kept.filter(pl.col("ts") < split).height > 0
    assert summary.validation_rows == kept.filter(pl.col("ts") >= split).height > 0


def test_a_split_leaving_a_channel_empty_is_refused(table: tuple[PipelineSpec, Path], tmp_path: Path) -> None:
    spec, root = table
    late = TrainingSet(target="n", validation_from=datetime(2030, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match=r"splitting at 2030-01-01T00:00:00Z leaves validation empty \(the rows' event"):
        write_training_set(spec, str(root), late, tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written


@settings(max_examples=8)
@given(
    minutes=st.lists(st.integers(0, 3 * 24 * 60), min_size=2, max_size=25),
    targets=st.lists(st.booleans(), min_size=25, max_size=25),
    fraction=st.floats(0.05, 0.95),
)
def test_every_row_is_in_one_place(minutes: list[int], targets: list[bool], fraction: float) -> None:
    """train + validation + left out = the table, train before the split and validation from it on, whatever the
    event times (ties included) and the fraction; or, when the times allow no split, a refusal."""
    texts = [
        json.dumps({"ts": f"{START + timedelta(minutes=m):%Y-%m-%dT%H:%M:%SZ}", "i": k} | ({"n": k} if t else {}))
        for k, (m, t) in enumerate(zip(minutes, targets, strict=False))
    ]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        spec = make_table(root / "lake", texts)
        rows = read_curated(spec, root / "lake")
        kept = rows.filter(pl.col("n").is_not_null())
        training = TrainingSet(target="n", features=("ts", "i"), format="parquet", validation_fraction=fraction)
        try:
            summary = write_training_set(spec, str(root / "lake"), training, root / "out")
        except ValueError as err:  # only when the earliest instant alone holds the train share (or no row has a target)
            times = kept["ts"].sort()
            assert kept.is_empty() or (times == times[0]).sum() > math.floor((1 - fraction) * (kept.height - 1)), err
            assert kept.is_empty() or "leaves train empty" in str(err)
            return
        train, validation = read_channels(summary)
    assert train.height + validation.height + summary.left_out == rows.height
    assert summary.left_out == rows.height - kept.height
    assert train["ts"].max() < summary.split_at <= validation["ts"].min()  # type: ignore[operator]
    assert validation.height >= fraction * kept.height
    assert_frame_equal(sort_all(pl.concat([train, validation])), sort_all(kept.select("n", "ts", "i")))


# --- formats ----------------------------------------------------------------------------------------------------------


def test_csv_has_no_header_the_target_first_and_numbers_only(table: tuple[PipelineSpec, Path], tmp_path: Path) -> None:
    spec, root = table
    summary = write_training_set(spec, str(root), TrainingSet(target="n"), tmp_path)

    assert summary.columns == ("n", *[c for c in NUMERIC if c != "n"])  # default features: numeric and boolean
    assert summary.files == (str(tmp_path / "train" / "train.csv"), str(tmp_path / "validation" / "validation.csv"))
    lines = Path(summary.files[0]).read_text().splitlines()
    assert len(lines) == summary.train_rows
    first = lines[0].split(",")
    float(first[0])  # a number, not a column name: no header
    assert all(
        cell in {"", "0", "1"} or cell.lstrip("-").replace(".", "", 1).isdigit() for line in lines for cell in line.split(",")
    )
    assert any(line.split(",")[1] == "" for line in lines)  # a null feature is an empty field (XGBoost: missing)
    train, validation = read_channels(summary)
    kept = with_target(spec, root).with_columns(pl.col("b").cast(pl.Int8))
    expected = kept.filter(pl.col("ts") < summary.split_at).select(summary.columns)
    assert_frame_equal(sort_all(train), sort_all(expected))
    assert_frame_equal(sort_all(validation), sort_all(kept.filter(pl.col("ts") >= summary.split_at).select(summary.columns)))


def test_parquet_round_trips_names_and_types(table: tuple[PipelineSpec, Path], tmp_path: Path) -> None:
    spec, root = table
    training = TrainingSet(target="b", features=("point", "note", "n", "ts"), format="parquet")
    summary = write_training_set(spec, str(root), training, tmp_path)

    train, validation = read_channels(summary)
    table_rows = read_curated(spec, root)
    assert train.schema == {name: table_rows.schema[name] for name in ("b", "point", "note", "n", "ts")}
    assert_frame_equal(sort_all(pl.concat([train, validation])), sort_all(table_rows.select(train.columns)))
    assert summary.left_out == 0  # b is never null


@pytest.mark.parametrize(
    ("training", "message"),
    [
        (TrainingSet(target="n", features=("note",)), "--features: 'note' is a string: CSV holds numbers and booleans only"),
        (TrainingSet(target="n", features=("i", "point")), "--features: 'point' is a struct: CSV holds numbers"),
        (TrainingSet(target="n", features=("ts",)), "--features: 'ts' is a timestamp: CSV holds numbers"),
        (TrainingSet(target="note"), "--target: 'note' is a string: CSV holds numbers"),
        (
            TrainingSet(target="nope"),
            "--target: the curated table has no column 'nope' (its columns: ts, n, i, b, note, point, _extra",
        ),
        (TrainingSet(target="n", features=("i", "x")), "--features: the curated table has no column 'x'"),
    ],
)
def test_columns_csv_cannot_hold_are_refused(
    table: tuple[PipelineSpec, Path], tmp_path: Path, training: TrainingSet, message: str
) -> None:
    spec, root = table
    with pytest.raises(ValueError) as refused:
        write_training_set(spec, str(root), training, tmp_path)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target": ""}, "--target: name the column to predict"),
        ({"target": "n", "features": ()}, "--features: name one column or more"),
        ({"target": "n", "features": ("i", "i")}, "--features: i named twice"),
        ({"target": "n", "features": ("n",)}, "--features: 'n' is the target"),
        ({"target": "n", "validation_fraction": 1.0}, "--validation-fraction must be between 0 and 1"),
        ({"target": "n", "validation_fraction": 0.0}, "--validation-fraction must be between 0 and 1"),
        ({"target": "n", "validation_from": datetime(2026, 1, 1)}, "validation_from must be timezone-aware"),
    ],
)
def test_a_training_set_checks_itself(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingSet(**options)


# --- the output folder, time travel -----------------------------------------------------------------------------------


def test_a_rerun_replaces_the_files_and_other_files_are_refused(table: tuple[PipelineSpec, Path], tmp_path: Path) -> None:
    spec, root = table
    first = write_training_set(spec, str(root), TrainingSet(target="n"), tmp_path)
    again = write_training_set(spec, str(root), TrainingSet(target="n"), tmp_path)
    assert again == first and sorted(p.name for p in (tmp_path / "train").iterdir()) == ["train.csv"]

    with pytest.raises(ValueError, match=r"holds other files \(train.csv\); a channel reads them all: empty it"):
        write_training_set(spec, str(root), TrainingSet(target="n", format="parquet"), tmp_path)
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["train.csv"]


def test_as_of_exports_an_earlier_snapshot(tmp_path: Path) -> None:
    spec = make_table(tmp_path / "lake", [record(k) for k in range(30)])
    table = curated_table(spec, str(tmp_path / "lake"))
    assert table is not None and table.current_snapshot() is not None
    first = table.current_snapshot()
    assert first is not None
    write_texts(spec, tmp_path / "lake", [record(k) for k in range(30, 50)], "b2")
    compact(spec, str(tmp_path / "lake"))

    now = write_training_set(spec, str(tmp_path / "lake"), TrainingSet(target="n"), tmp_path / "now")
    by_id = write_training_set(
        spec, str(tmp_path / "lake"), TrainingSet(target="n"), tmp_path / "id", as_of=str(first.snapshot_id)
    )
    moment = datetime.fromtimestamp(first.timestamp_ms / 1000, UTC).isoformat()
    by_time = write_training_set(spec, str(tmp_path / "lake"), TrainingSet(target="n"), tmp_path / "time", as_of=moment)

    assert now.train_rows + now.validation_rows == 50
    assert by_id.train_rows + by_id.validation_rows == 30
    assert (by_time.split_at, by_time.train_rows, by_time.validation_rows) == (
        by_id.split_at,
        by_id.train_rows,
        by_id.validation_rows,
    )
    old = read_curated(spec, tmp_path / "lake", as_of=str(first.snapshot_id))
    train, validation = read_channels(by_id)
    assert_frame_equal(
        sort_all(pl.concat([train, validation])), sort_all(old.select(by_id.columns).with_columns(pl.col("b").cast(pl.Int8)))
    )
    with pytest.raises(ValueError, match="--as-of 1: no such snapshot"):
        write_training_set(spec, str(tmp_path / "lake"), TrainingSet(target="n"), tmp_path / "x", as_of="1")


def test_a_lake_without_a_curated_table_says_so(tmp_path: Path) -> None:
    spec = make_spec(SCHEMA)
    write_texts(spec, tmp_path, [record(0)], "b1")  # a raw zone, never compacted
    with pytest.raises(ValueError, match="the curated table of 't' has no snapshot yet: run transform-core compact first"):
        write_training_set(spec, str(tmp_path), TrainingSet(target="n"), tmp_path / "out")
