"""transform-core export: the summary lines, one-line refusals and the options' rules (the logic:
tests/lake/test_export.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers.curated import write_texts
from tests.helpers.training import SCHEMA, record
from transform_core.cli import main
from transform_core.lake.curated import compact
from transform_core.spec import load_spec


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spec file whose output.lake holds a curated table of 40 records, every 7th without a target."""
    folder = tmp_path_factory.mktemp("pipeline")
    path = folder / "pipeline.yaml"
    document = {"version": 1, "name": "t", "schema": SCHEMA, "event_time": {"field": "ts"}, "output": {"lake": "lake"}}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    spec = load_spec(path)
    write_texts(spec, folder / "lake", [record(k, target=k % 7 != 3) for k in range(40)], "b1")
    compact(spec)
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_summary_names_the_columns_the_split_the_counts_and_the_files(
    spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["export", "--spec", str(spec_file), "--target", "n", "--output", str(tmp_path)]
    code, out, err = run([*argv, "--validation-from", "2026-11-25T12:00:00+02:00"], capsys)

    assert (code, err) == (0, "")
    columns, summary = out.splitlines()
    assert columns == "columns: n (target), i, b"
    train, validation = tmp_path / "train" / "train.csv", tmp_path / "validation" / "validation.csv"
    rows = [len(f.read_text().splitlines()) for f in (train, validation)]
    assert summary == (
        f"train {rows[0]} rows (event time before 2026-11-25T10:00:00Z), validation {rows[1]} rows (from it on), "
        f"6 left out (6 without n, 0 without an event time); 2 files: {train}, {validation}"
    )
    assert sum(rows) + 6 == 40


def test_features_and_format(spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["export", "--spec", str(spec_file), "--target", "b", "--features", "note, n,point", "--format", "parquet"]
    code, out, _ = run([*argv, "--validation-fraction", "0.5", "--output", str(tmp_path)], capsys)

    assert code == 0
    assert out.splitlines()[0] == "columns: b (target), note, n, point"
    assert (tmp_path / "train" / "train.parquet").is_file() and (tmp_path / "validation" / "validation.parquet").is_file()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--features", "i,note"], "'note' is a string: CSV holds numbers and booleans only"),
        (["--target", "note"], "--target: 'note' is a string"),
        (["--validation-fraction", "0"], "--validation-fraction must be between 0 and 1 (both excluded), got 0.0"),
        (["--validation-from", "yesterday"], "not an ISO 8601 time: 'yesterday'"),
        (["--as-of", "12"], "--as-of 12: no such snapshot"),
    ],
)
def test_refusals_are_one_line_and_status_1(
    spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    argv = ["export", "--spec", str(spec_file), "--target", "n", "--output", str(tmp_path / "out"), *options]
    code, out, err = run(argv, capsys)

    assert (code, out) == (1, "")
    assert err.startswith("transform-core export: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_the_two_splits_exclude_each_other(spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["export", "--spec", str(spec_file), "--target", "n", "--output", str(tmp_path)]
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--validation-from", "2026-11-25", "--validation-fraction", "0.3"])
    assert exited.value.code == 2
    assert "not allowed with argument --validation-from" in capsys.readouterr().err
