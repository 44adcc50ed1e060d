"""`transform-core dashboard`: the page written, one summary line; an empty lake, a bad choice, no plotly: one line each."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.dashboard.lakes import write_lake
from transform_core.cli import main
from transform_core.engine import Pipeline

EXAMPLE_SPEC = Path(__file__).resolve().parents[2] / "examples" / "iot" / "pipeline.yaml"


def test_the_page_is_written_and_summed_up(pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    written = write_lake(pipeline, tmp_path / "lake", n=400)
    output = tmp_path / "out.html"
    assert main(["dashboard", "--spec", str(EXAMPLE_SPEC), "--lake", str(tmp_path / "lake"), "--output", str(output)]) == 0
    line = capsys.readouterr().out
    ok, failed = written.ok().height, written.failed().height
    assert line.startswith(f"{output} (4.") and f": {ok:,} Ok records (raw zone), {failed:,} rejected, " in line
    assert line.endswith("files; value by site\n")
    assert output.read_text().count('class="plotly-graph-div"') == 5


def test_measure_and_by_reach_the_page(pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_lake(pipeline, tmp_path / "lake", n=200)
    argv = ["dashboard", "--spec", str(EXAMPLE_SPEC), "--lake", str(tmp_path / "lake"), "--output", str(tmp_path / "d.html")]
    assert main([*argv, "--measure", "rssi", "--by", "model"]) == 0
    assert capsys.readouterr().out.endswith("; rssi by model\n")
    assert "Mean of <code>rssi</code>" in (tmp_path / "d.html").read_text()


def test_an_empty_lake_is_said_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "d.html"
    assert main(["dashboard", "--spec", str(EXAMPLE_SPEC), "--lake", str(tmp_path / "none"), "--output", str(output)]) == 0
    assert capsys.readouterr().out == (
        f"{output}: the lake at {tmp_path / 'none'} has no records for 'iot-telemetry' yet (raw/, curated/ and errors/ are empty)\n"
    )
    assert "No records in this lake yet" in output.read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--measure", "site"], "transform-core dashboard: error: --measure 'site' is not a numeric column of the lake"),
        (["--by", "nope"], "transform-core dashboard: error: --by 'nope' is not a column of the lake"),
    ],
)
def test_a_bad_choice_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    argv = ["dashboard", "--spec", str(EXAMPLE_SPEC), "--lake", str(tmp_path), "--output", str(tmp_path / "d.html"), *argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "d.html").exists()


def test_without_plotly_one_line_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)
    assert main(["dashboard", "--spec", str(EXAMPLE_SPEC), "--lake", str(tmp_path), "--output", str(tmp_path / "d.html")]) == 1
    assert capsys.readouterr().err == (
        "transform-core: error: the dashboard needs plotly: pip install 'transform-core[dashboard]'\n"
    )
