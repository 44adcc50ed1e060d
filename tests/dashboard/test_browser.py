"""The dashboard in headless Chromium: it loads offline with no console error, and its screenshot shows the charts.

The page is driven over the DevTools protocol (``tests/dashboard/chromium.py``): uncaught exceptions, console errors
and browser log errors are collected from the moment the page starts loading, and every request it makes is listed.
Skipped where ``/usr/bin/chromium`` is absent; ``.ci/run`` installs it.
"""

from __future__ import annotations

import colorsys
import statistics
from pathlib import Path

import pytest

from tests.dashboard.chromium import CHROMIUM, PageLoad, load_page, png_pixels
from tests.dashboard.lakes import write_lake
from transform_core.dashboard import write_dashboard
from transform_core.engine import Pipeline

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)")

CHARTS = "document.querySelectorAll('.js-plotly-plot .plot-container').length"


def colour_share(png: bytes) -> tuple[float, float, int]:
    """The share of clearly coloured pixels (saturation over 0.4: bars, lines; text and frames are grey), the standard
    deviation of brightness, and the number of distinct colours of a screenshot."""
    _, _, pixels = png_pixels(png)
    sample = pixels[::7]
    coloured = sum(colorsys.rgb_to_hsv(r / 255, g / 255, b / 255)[1] > 0.4 for r, g, b in sample)
    brightness = [(r + g + b) / 3 for r, g, b in sample]
    return coloured / len(sample), statistics.pstdev(brightness), len(set(sample))


def assert_clean(load: PageLoad, page: Path) -> None:
    assert load.errors == []
    assert load.warnings == []
    assert load.requests == [page.resolve().as_uri()]  # offline: nothing but the file itself


def test_the_dashboard_loads_cleanly_and_shows_its_charts(pipeline: Pipeline, tmp_path: Path) -> None:
    write_lake(pipeline, tmp_path / "lake", hostile=True)  # a rejection reason full of markup, charted as text
    page = tmp_path / "dashboard.html"
    write_dashboard(pipeline.spec, page, str(tmp_path / "lake"))
    load = load_page(page, CHARTS, 5)
    assert_clean(load, page)
    assert load.drawn == 5
    (tmp_path / "dashboard.png").write_bytes(load.screenshot)
    coloured, spread, colours = colour_share(load.screenshot)
    assert coloured > 0.03, coloured  # bars and lines drawn
    assert spread > 20 and colours > 100, (spread, colours)


def test_an_empty_lake_page_loads_cleanly_and_shows_no_chart(pipeline: Pipeline, tmp_path: Path) -> None:
    page = tmp_path / "dashboard.html"
    write_dashboard(pipeline.spec, page, str(tmp_path / "no-lake"))
    load = load_page(page, "document.querySelectorAll('.empty').length", 1)
    assert_clean(load, page)
    coloured, spread, _ = colour_share(load.screenshot)
    assert load.drawn == 1 and coloured < 0.005 and spread > 5  # the message, no chart


def test_the_check_sees_console_errors_and_requests(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><body><p id=done>x</p><img src=missing.png>"
        "<script>console.error('by hand'); console.warn('careful'); undefinedFunction();</script></body></html>"
    )
    load = load_page(page, "document.querySelectorAll('#done').length", 1)
    assert "console.error: by hand" in load.errors
    assert any(e.startswith("exception: ReferenceError: undefinedFunction is not defined") for e in load.errors)
    assert any("missing.png" in e for e in load.errors)  # the failed load, as the browser logs it
    assert load.warnings == ["console.warn: careful"]
    assert load.requests == [page.as_uri(), (tmp_path / "missing.png").as_uri()]
