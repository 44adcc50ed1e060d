"""The dashboard page: one self-contained HTML file, its Plotly charts and plotly.js inlined, so it works offline.

plotly (the ``dashboard`` extra) is imported on first use only. Text from the lake (reasons, group names) is
HTML-escaped wherever it appears: in the page's own markup, and in chart labels, which plotly.js reads as a small
HTML subset and shows with entities decoded.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import polars as pl

from transform_core.errors import ConfigurationEnvironmentError
from transform_core.firehose.outcomes import FAILED, OK

if TYPE_CHECKING:
    from transform_core.dashboard.data import DashboardData

__all__ = ["render_dashboard", "require_plotly"]

_DASHBOARD_EXTRA = "the dashboard needs plotly: pip install 'transform-core[dashboard]'"
_COLORS = {OK: "#2a9d52", FAILED: "#d1495b", "raw": "#3b6fb6", "errors": "#d1495b", "curated": "#8a5cc2", "backup": "#8c8c8c"}
_ZONES = ("raw", "curated", "errors", "backup")
_PROBLEMS_SHOWN = 20
_CONFIG = {"displaylogo": False, "responsive": True}
_HEIGHT = 360
_RULE_WIDTH = 48  # characters of a rule shown on its axis; the hover has the whole reason
_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; background: #f5f6f8; color: #1f2430; }
header { background: #1f2430; color: #fff; padding: 18px 28px; }
header h1 { margin: 0; font-size: 20px; font-weight: 600; }
header p { margin: 4px 0 0; color: #c5cad6; font-size: 13px; }
main { padding: 20px 28px 40px; max-width: 1400px; margin: 0 auto; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 12px; margin-bottom: 20px; }
.card { background: #fff; border-radius: 8px; padding: 14px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.card .value { font-size: 24px; font-weight: 600; }
.card .label { font-size: 12px; color: #5b6272; text-transform: uppercase; letter-spacing: .04em; }
.card .detail { font-size: 12px; color: #5b6272; margin-top: 4px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 16px; }
section { background: #fff; border-radius: 8px; padding: 14px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08); min-width: 0; }
section h2 { font-size: 15px; margin: 0 0 2px; }
section p.what { font-size: 12px; color: #5b6272; margin: 0 0 8px; }
.note { padding: 28px 12px; text-align: center; color: #5b6272; font-size: 14px; }
.empty { background: #fff; border-radius: 8px; padding: 28px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.empty h2 { margin-top: 0; }
.problems { margin-top: 16px; }
.problems ul { font-size: 12px; color: #5b6272; margin: 0; padding-left: 18px; word-break: break-all; }
code { background: #eef0f4; padding: 1px 5px; border-radius: 4px; font-size: 12px; }
"""


def require_plotly() -> None:
    """Import plotly, or say which extra installs it.

    Raises:
        ConfigurationEnvironmentError: the ``dashboard`` extra is not installed.
    """
    try:
        import plotly  # noqa: F401
    except ImportError as err:
        raise ConfigurationEnvironmentError(_DASHBOARD_EXTRA) from err


def render_dashboard(data: DashboardData) -> str:
    """The dashboard of ``data`` as one HTML document; plotly.js is inlined once, and left out of an empty lake's page.

    Raises:
        ConfigurationEnvironmentError: plotly is not installed.
    """
    require_plotly()
    title = f"{data.spec_name}: lake dashboard"
    header = (
        f"<header><h1>{_text(title)}</h1><p>lake {_text(data.root)} · read {data.read_at:%Y-%m-%d %H:%M:%S} UTC · "
        "times in UTC</p></header>"
    )
    if data.empty:
        body = _empty(data)
        script = ""
    else:
        import plotly.offline

        body = _cards(data) + '<div class="grid">' + "".join(_sections(data)) + "</div>" + _problems(data)
        script = f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_text(title)}</title><style>{_CSS}</style>{script}</head>"
        f"<body>{header}<main>{body}</main></body></html>\n"
    )


def _text(value: object) -> str:
    """Text for the page's markup."""
    return html.escape(str(value), quote=True)


def _label(value: object, limit: int = 200) -> str:
    """Text for a chart label, cut to ``limit`` characters: plotly.js reads ``<`` and ``&`` as markup and decodes
    ``&lt;``, ``&gt;`` and ``&amp;`` (not ``&quot;``), so quotes stay as they are."""
    text = str(value)
    return html.escape(text if len(text) <= limit else text[: limit - 1] + "…", quote=False)


def _empty(data: DashboardData) -> str:
    return (
        '<div class="empty"><h2>No records in this lake yet</h2>'
        f"<p>The lake at <code>{_text(data.root)}</code> has no files for <code>{_text(data.spec_name)}</code>: "
        "<code>raw/</code>, <code>curated/</code> and <code>errors/</code> are empty, so there is nothing to chart.</p>"
        "<p>Write records into it, then make the dashboard again, for example:</p>"
        f"<p><code>transform-core generate --spec SPEC --output records.ndjson</code><br>"
        f"<code>transform-core reprocess --spec SPEC records.ndjson</code><br>"
        f"<code>transform-core dashboard --spec SPEC</code></p></div>"
    )


def _cards(data: DashboardData) -> str:
    zone = {"raw": "raw zone: every record written", "curated": "curated table (deduplicated)"}.get(data.ok_zone or "", "")
    sizes = data.files.group_by("zone").agg(pl.len().alias("files"), pl.col("bytes").sum())
    by_zone = {zone_name: (files, size) for zone_name, files, size in sizes.iter_rows()}
    files = sum(files for files, _ in by_zone.values())
    size = sum(size for _, size in by_zone.values())
    file_detail = ", ".join(f"{name} {count:,} ({_bytes(b)})" for name, (count, b) in sorted(by_zone.items()))
    rule = f"drop rule <code>{_text(data.drop_rule)}</code>" if data.drop_rule else "the spec drops nothing"
    if data.dropped_records is None:
        dropped_value, dropped = "not counted", f"{rule}: dropped records are not written to the lake, so it cannot count them"
    else:
        dropped_value, dropped = f"{data.dropped_records:,}", f"{rule}: counted by the run that wrote the lake"
    span = "none"
    if data.event_times is not None:
        first, last = data.event_times
        span = f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}"
    cards = [
        ("Ok records", f"{data.ok_records:,}", zone),
        ("Rejected records", f"{data.rejected_records:,}", "errors zone: ProcessingFailed records and Firehose's error output"),
        ("Dropped records", dropped_value, dropped),
        ("Files", f"{files:,}", f"{_bytes(size)}: {file_detail}" if file_detail else "none"),
        ("Event times", "", span),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="label">{_text(label)}</div>'
            + (f'<div class="value">{_text(value)}</div>' if value else "")
            + f'<div class="detail">{detail if label == "Dropped records" else _text(detail)}</div></div>'
            for label, value, detail in cards
        )
        + "</div>"
    )


def _problems(data: DashboardData) -> str:
    if not data.problems:
        return ""
    shown = "".join(f"<li>{_text(problem)}</li>" for problem in data.problems[:_PROBLEMS_SHOWN])
    more = len(data.problems) - _PROBLEMS_SHOWN
    rest = f"<li>and {more:,} more</li>" if more > 0 else ""
    return (
        f'<section class="problems"><h2>Not counted: {len(data.problems):,} files or records</h2>'
        '<p class="what">Files of the lake that could not be read, and records the lake refuses to store as they are; '
        f"none of them is in the charts.</p><ul>{shown}{rest}</ul></section>"
    )


def _sections(data: DashboardData) -> list[str]:
    return [
        _section("Records by outcome", _outcome_what(data), "chart-outcomes", _outcomes(data), "No records in the lake."),
        _section(
            "Top rejection rules",
            "Rejected records in the errors zone by path and rule (<code>$.path|rule</code>); hover for a reason.",
            "chart-rules",
            _rules(data),
            "No rejected records.",
        ),
        _measure_section(data),
        _section(
            "Partitions",
            "Size of each partition folder by zone; hover for files and rows. Raw partitions are event days (or hours), "
            "error partitions the days the errors were written.",
            "chart-partitions",
            _partitions(data),
            "No files.",
        ),
        _section(
            "File sizes",
            "How many data files of each size: many small files make reads slow (compact merges them).",
            "chart-file-sizes",
            _file_sizes(data),
            "No files.",
        ),
    ]


def _section(title: str, what: str, div_id: str, figure: Any, empty: str) -> str:
    if figure is None:
        content = f'<div class="note">{_text(empty)}</div>'
    else:
        content = figure.to_html(
            full_html=False, include_plotlyjs=False, div_id=div_id, config=_CONFIG, default_height=f"{_HEIGHT}px"
        )
    return f'<section><h2>{_text(title)}</h2><p class="what">{what}</p>{content}</section>'


def _outcome_what(data: DashboardData) -> str:
    step = f" per {data.outcome_bucket.label}" if data.outcome_bucket else ""
    return (
        f"Records{step} by when the lake received them (<code>_ingested_at</code>; for rejected records "
        f"<code>errorTimestamp</code> or the time in a Firehose object's name): Ok from the "
        f"{'curated table' if data.ok_zone == 'curated' else 'raw zone'}, rejected from the errors zone."
    )


def _layout(figure: Any, **kwargs: Any) -> Any:
    figure.update_layout(
        template="plotly_white",
        height=_HEIGHT,
        margin={"l": 60, "r": 20, "t": 44, "b": 50},
        legend={"orientation": "h", "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom"},
        font={"family": "system-ui, sans-serif", "size": 12},
        **kwargs,
    )
    return figure


def _outcomes(data: DashboardData) -> Any:
    if data.outcomes.is_empty():
        return None
    import plotly.graph_objects as go

    figure = go.Figure()
    for outcome, name in ((OK, "Ok"), (FAILED, "Rejected (errors zone)")):
        part = data.outcomes.filter(pl.col("outcome") == outcome)
        if not part.is_empty():
            figure.add_bar(x=part["time"].to_list(), y=part["records"].to_list(), name=name, marker_color=_COLORS[outcome])
    return _layout(figure, barmode="stack", yaxis_title="records", xaxis_title="received (UTC)")


def _rules(data: DashboardData) -> Any:
    if data.rules.is_empty():
        return None
    import plotly.graph_objects as go

    rules = data.rules.reverse()  # the largest on top
    figure = go.Figure(
        go.Bar(
            x=rules["records"].to_list(),
            y=[_label(rule, _RULE_WIDTH) for rule in rules["rule"].to_list()],
            orientation="h",
            marker_color=_COLORS[FAILED],
            hovertext=[_label(example) for example in rules["example"].to_list()],
            hovertemplate="%{y}: %{x:,} records<br>%{hovertext}<extra></extra>",
        )
    )
    return _layout(figure, xaxis_title="records", yaxis={"automargin": True}, showlegend=False)


def _measure_section(data: DashboardData) -> str:
    measure = data.measure
    if measure is None:
        return _section("Measure over time", "", "chart-measure", None, f"No chart: {data.measure_note}.")
    import plotly.graph_objects as go

    by = f" by <code>{_text(measure.by)}</code>" if measure.by else ""
    what = (
        f"Mean of <code>{_text(measure.column)}</code> per {measure.bucket.label} of event time{by} (the "
        f"{'largest groups, the rest as other' if measure.by else 'Ok records'}); choose with --measure and --by."
    )
    totals = measure.frame.group_by("group").agg(pl.col("records").sum()).sort("records", "group", descending=[True, False])
    order = [g for g in totals["group"].to_list() if g not in ("other", "(none)")]
    order += [g for g in ("other", "(none)") if g in totals["group"].to_list()]
    figure = go.Figure()
    for group in order:
        part = measure.frame.filter(pl.col("group") == group)
        figure.add_scatter(
            x=part["time"].to_list(),
            y=part["mean"].to_list(),
            customdata=part["records"].to_list(),
            name=_label(group, 40),
            mode="lines+markers",
            marker_size=4,
            hovertemplate="%{x}<br>mean %{y:.4g} over %{customdata:,} records<extra>%{fullData.name}</extra>",
        )
    _layout(figure, yaxis_title=f"mean {_label(measure.column)}", xaxis_title="event time (UTC)")
    title = f"{measure.column} by {measure.by}" if measure.by else f"{measure.column} over time"
    return _section(title, what, "chart-measure", figure, "")


def _partitions(data: DashboardData) -> Any:
    if data.partitions.is_empty():
        return None
    import plotly.graph_objects as go

    scale, unit = _unit(max(data.partitions["bytes"].to_list(), default=0))
    figure = go.Figure()
    for zone in _ZONES:
        part = data.partitions.filter(pl.col("zone") == zone)
        if part.is_empty():
            continue
        rows = ["" if r is None else f"{r:,} rows, " for r in part["rows"].to_list()]
        figure.add_bar(
            x=part["partition"].to_list(),
            y=[b / scale for b in part["bytes"].to_list()],
            customdata=[f"{rows[i]}{files:,} files" for i, files in enumerate(part["files"].to_list())],
            name=zone,
            marker_color=_COLORS[zone],
            hovertemplate=f"%{{x}}: %{{y:.3g}} {unit}, %{{customdata}}<extra>{zone}</extra>",
        )
    return _layout(figure, barmode="group", yaxis_title=unit, xaxis={"title": "partition", "type": "category"})


def _file_sizes(data: DashboardData) -> Any:
    if data.files.is_empty():
        return None
    import plotly.graph_objects as go

    scale, unit = _unit(max(data.files["bytes"].to_list(), default=0))
    figure = go.Figure()
    for zone in _ZONES:
        sizes = data.files.filter(pl.col("zone") == zone)["bytes"].to_list()
        if sizes:
            figure.add_histogram(x=[b / scale for b in sizes], name=zone, marker_color=_COLORS[zone], opacity=0.8)
    return _layout(figure, barmode="overlay", xaxis_title=f"file size ({unit})", yaxis_title="files")


def _unit(largest: int) -> tuple[float, str]:
    for scale, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if largest >= scale:
            return scale, unit
    return 1, "bytes"


def _bytes(size: int) -> str:
    scale, unit = _unit(size)
    return f"{size / scale:.3g} {unit}" if unit != "bytes" else f"{size:,} bytes"
