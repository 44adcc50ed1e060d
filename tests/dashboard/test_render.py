"""The dashboard page: one self-contained file, plotly.js inlined once, lake text escaped, an empty lake said plainly."""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

import pytest

from tests.dashboard.lakes import HOSTILE, write_lake
from transform_core.dashboard import read_dashboard, render_dashboard, write_dashboard
from transform_core.engine import Pipeline
from transform_core.errors import ConfigurationEnvironmentError

CHARTS = ("chart-outcomes", "chart-rules", "chart-measure", "chart-partitions", "chart-file-sizes")


@pytest.fixture(scope="module")
def page(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("lake")
    write_lake(pipeline, root, hostile=True)
    return render_dashboard(read_dashboard(pipeline.spec, str(root)))


def test_the_page_holds_plotly_js_once_and_loads_nothing(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("* plotly.js v") == 1 and len(page) > 3_000_000
    assert re.search(r"<(script|img|iframe)[^>]*\ssrc=", page, re.IGNORECASE) is None
    assert re.search(r"<link\b", page, re.IGNORECASE) is None


def test_every_chart_is_drawn(page: str) -> None:
    for div in CHARTS:
        assert f'id="{div}"' in page and f'Plotly.newPlot(                        "{div}"' in page
    assert "value by site" in page and "Mean of <code>value</code>" in page


def test_text_from_the_lake_stays_text(page: str) -> None:
    assert HOSTILE not in page and "<img src=x" not in page  # neither in the markup nor in the charts' JSON
    shown = html.escape(HOSTILE, quote=False).replace("/", "\\u002f").replace('"', '\\"')
    assert f'{shown}\\"]: property is not allowed (additionalProperties)' in page  # as text: plotly.js decodes &lt; &gt;


def test_a_lake_without_rejections_says_so(pipeline: Pipeline, tmp_path: Path) -> None:
    write_lake(pipeline, tmp_path, n=200, invalid=0.0)
    page = render_dashboard(read_dashboard(pipeline.spec, str(tmp_path)))
    assert "No rejected records." in page and 'id="chart-rules"' not in page
    assert 'id="chart-outcomes"' in page


def test_an_empty_lake_gets_a_message_not_charts(pipeline: Pipeline, tmp_path: Path) -> None:
    output = tmp_path / "dashboard.html"
    data = write_dashboard(pipeline.spec, output, str(tmp_path / "lake"))
    page = output.read_text()
    assert data.empty and "No records in this lake yet" in page and "transform-core reprocess --spec SPEC" in page
    assert "Plotly" not in page and len(page) < 20_000
    assert not list(tmp_path.glob(".*.tmp"))


def test_without_plotly_one_line_says_what_to_install(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly raises ImportError
    with pytest.raises(
        ConfigurationEnvironmentError, match=r"^the dashboard needs plotly: pip install 'transform-core\[dashboard\]'$"
    ):
        write_dashboard(pipeline.spec, tmp_path / "d.html", str(tmp_path))
    assert not (tmp_path / "d.html").exists()


def test_files_not_read_are_listed(pipeline: Pipeline, tmp_path: Path) -> None:
    write_lake(pipeline, tmp_path, n=100)
    stray = tmp_path / "raw" / "iot_telemetry" / "year=2026" / "month=11" / "day=19" / "notes.txt"
    stray.write_text("not a raw-zone file")
    page = render_dashboard(read_dashboard(pipeline.spec, str(tmp_path)))
    assert "Not counted: 1 files or records" in page and f"<li>{stray}: not a raw-zone file" in page


def test_a_page_that_cannot_be_written_names_the_file_asked_for_and_leaves_nothing(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "lake"
    write_lake(pipeline, root)
    output = tmp_path / "page.html"

    def full(self: Path, target: Path) -> None:
        raise OSError(28, "No space left on device", str(self))

    monkeypatch.setattr(Path, "replace", full)
    with pytest.raises(OSError) as raised:
        write_dashboard(pipeline.spec, output, str(root))
    assert raised.value.filename == str(output) and raised.value.errno == 28
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake"]  # no temporary file left behind
