"""The lake dashboard: one self-contained HTML page of charts from a pipeline's lake (``transform-core dashboard``).

:func:`read_dashboard` (:mod:`.data`) aggregates the lake with Polars into small frames; :func:`render_dashboard`
(:mod:`.page`) draws them with Plotly, plotly.js inlined, so the page works offline. plotly is the ``dashboard`` extra,
imported on first use only.
"""

from __future__ import annotations

from pathlib import Path

from transform_core.dashboard.data import Bucket, DashboardData, Measure, default_measure, read_dashboard
from transform_core.dashboard.page import render_dashboard, require_plotly
from transform_core.spec import PipelineSpec

__all__ = [
    "Bucket",
    "DashboardData",
    "Measure",
    "default_measure",
    "read_dashboard",
    "render_dashboard",
    "require_plotly",
    "write_dashboard",
]


def write_dashboard(
    spec: PipelineSpec,
    output: str | Path,
    root: str | None = None,
    *,
    measure: str | None = None,
    by: str | None = None,
    endpoint_url: str | None = None,
    dropped: int | None = None,
) -> DashboardData:
    """Read the lake of ``spec`` and write its dashboard to ``output`` (a local HTML file); returns what it shows.

    Arguments are those of :func:`read_dashboard`. The file is written whole under a temporary name, then renamed.

    Raises:
        ConfigurationEnvironmentError: plotly is not installed (checked before the lake is read).
        SpecError: no root given and no ``output.lake`` in the spec.
        ValueError: see :func:`read_dashboard`.
    """
    require_plotly()
    data = read_dashboard(spec, root, measure=measure, by=by, endpoint_url=endpoint_url, dropped=dropped)
    path = Path(output)
    staging = path.with_name(f".{path.name}.tmp")
    try:
        staging.write_text(render_dashboard(data), encoding="utf-8")
        staging.replace(path)
    except OSError as err:  # name the file the user asked for, not the temporary one
        staging.unlink(missing_ok=True)
        raise type(err)(err.errno, err.strerror, str(path)) from err
    return data
