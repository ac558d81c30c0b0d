"""The report's page: the data of ``_data`` drawn with plotly, in one self-contained HTML file.

plotly.js is embedded once in the page (no network at all: no CDN, no MathJax, no web fonts),
and each chart is a plain ``<div id="chart-…">`` drawn by ``Plotly.newPlot``.
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from stacktune.evaluation import PREDICTION_SAMPLE
from stacktune.report._data import EXAMPLE_ROWS, Chart, ExampleView, ImportanceChart, ReportData, written_at

#: How each kind of marker looks: (legend name, marker symbol, color, size).
STYLES: dict[str, tuple[str, str, str, int]] = {
    "baseline": ("baseline (the program as written)", "star", "#e3a008", 16),
    "best": ("best", "diamond", "#c81e1e", 13),
    "Pareto front": ("Pareto front", "circle", "#1c64f2", 10),
    "complete": ("complete trial", "circle", "#9ca3af", 8),
    "raced out": ("stopped by the race (estimated)", "circle-open", "#ff8a4c", 9),
    "pruned": ("pruned or stopped", "x", "#6b7280", 8),
    "failed": ("failed", "x", "#c81e1e", 8),
    "fixed": ("fixed by the best configuration", "triangle-up", "#0e9f6e", 10),
    "broke": ("broken by the best configuration", "triangle-down", "#c81e1e", 10),
    "same": ("no change", "circle", "#9ca3af", 6),
}

_CONFIG = {"displaylogo": False, "responsive": True}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; color: #111827; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #e5e7eb; padding-bottom: .3rem; }
p.caption { color: #374151; max-width: 60rem; } p.note { color: #92400e; background: #fffbeb; padding: .5rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .92rem; }
td, th { border: 1px solid #e5e7eb; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f9fafb; } td.text { max-width: 28rem; white-space: pre-wrap; word-break: break-word; }
.chart { width: 100%; height: 460px; }
"""


def _figure(chart: Chart) -> go.Figure:
    figure = go.Figure()
    if chart.line:
        xs, ys = zip(*chart.line, strict=True)
        figure.add_trace(
            go.Scatter(
                x=list(xs),
                y=list(ys),
                mode="lines",
                name=chart.line_name,
                line={"color": "#1c64f2", "width": 1.5, "shape": chart.line_shape},
                hoverinfo="skip",
            )
        )
    for kind, (name, symbol, color, size) in STYLES.items():
        points = [p for p in chart.points if p.kind == kind]
        if not points:
            continue
        figure.add_trace(
            go.Scatter(
                x=[p.x for p in points],
                y=[p.y for p in points],
                mode="markers",
                name=f"{name} ({len(points)})",
                marker={"symbol": symbol, "color": color, "size": size, "line": {"width": 1, "color": color}},
                hovertext=[p.hover for p in points],
                hoverinfo="text",
            )
        )
    figure.update_layout(
        xaxis_title=chart.x_title,
        yaxis_title=chart.y_title,
        hoverlabel={"align": "left", "font": {"family": "monospace", "size": 12}},
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 20, "b": 60},
        template="plotly_white",
    )
    if chart.x_is_trial:
        figure.update_xaxes(tickformat="d")
    return figure


def _importance_figure(chart: ImportanceChart) -> go.Figure:
    labels = [label if len(label) <= 60 else label[:59] + "…" for label, _ in chart.bars]
    shares = [share for _, share in chart.bars]
    figure = go.Figure(
        go.Bar(
            x=shares[::-1],
            y=labels[::-1],
            orientation="h",
            marker={"color": "#1c64f2"},
            hovertext=[f"{html.escape(label)}: {share:.1%}" for label, share in chart.bars][::-1],
            hoverinfo="text",
        )
    )
    figure.update_layout(
        xaxis_title=f"share of the variation of {chart.result.objective} explained",
        xaxis_tickformat=".0%",
        margin={"l": 20, "r": 20, "t": 20, "b": 50},
        template="plotly_white",
        height=max(220, 60 + 36 * len(labels)),
    )
    figure.update_yaxes(automargin=True)
    return figure


def _div(figure: go.Figure, chart_id: str) -> str:
    div: str = pio.to_html(
        figure,
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        div_id=f"chart-{chart_id}",
        config=_CONFIG,
        default_height="100%",
    )
    height = figure.layout.height or 460
    return f'<div class="chart" style="height:{height}px" data-points="{_count(figure)}">{div}</div>'


def _count(figure: go.Figure) -> int:
    """The markers (or bars) a figure draws: what the browser test counts on the page."""
    total = 0
    for trace in figure.data:
        if isinstance(trace, go.Bar) or (trace.mode or "").find("markers") >= 0:
            total += len(trace.x or ())
    return total


def _e(text: object) -> str:
    return html.escape(str(text))


def _chart_section(chart: Chart) -> str:
    return f"<h3>{_e(chart.title)}</h3>\n<p class='caption'>{_e(chart.caption)}</p>\n{_div(_figure(chart), chart.id)}"


def _importance_section(charts: tuple[ImportanceChart, ...], note: str) -> str:
    parts = [
        "<h2>What mattered</h2>",
        "<p class='caption'>For each objective, the share of its variation across trials that each variable "
        "explains (parameter importance). A long bar: changing this variable changed the objective most.</p>",
    ]
    if note:
        parts.append(f"<p class='note'>{_e(note)}</p>")
    for chart in charts:
        result = chart.result
        used = f"{result.n_trials} trials" + (
            f", {result.n_estimated} of them stopped by the race, at their estimated score"
            if result.n_estimated
            else ""
        )
        left_out = f" Left out (set in only some trials): {', '.join(result.left_out)}." if result.left_out else ""
        parts.append(f"<h3>{_e(result.objective)}</h3>")
        parts.append(f"<p class='caption'>Evaluator: {_e(result.evaluator)}, over {_e(used)}.{_e(left_out)}</p>")
        if result.note:
            parts.append(f"<p class='note'>No importance for {_e(result.objective)}: {_e(result.note)}.</p>")
        else:
            parts.append(_div(_importance_figure(chart), chart.id))
    return "\n".join(parts)


def _example_table(view: ExampleView, change: str, title: str) -> str:
    rows = view.changed(change)
    if not rows:
        return f"<p>{_e(title)}: none.</p>"
    in_sample = [row for row in rows if row.input is not None or row.best_prediction is not None]
    shown = in_sample[:EXAMPLE_ROWS]
    indices = ", ".join(str(row.index) for row in rows)
    parts = [f"<h3>{_e(title)}: {len(rows)}</h3>", f"<p>Examples {_e(indices)}.</p>"]
    if shown:
        parts.append(
            "<table><tr><th>example</th><th>input</th><th>baseline answered</th><th>best answered</th>"
            "<th>score</th></tr>"
        )
        for row in shown:
            parts.append(
                f"<tr><td>{row.index}</td><td class='text'>{_e(row.input or '')}</td>"
                f"<td class='text'>{_e(row.baseline_prediction or '')}</td>"
                f"<td class='text'>{_e(row.best_prediction or '')}</td>"
                f"<td>{row.baseline_score:.3g} → {row.best_score:.3g}</td></tr>"
            )
        parts.append("</table>")
    if len(shown) < len(in_sample):
        parts.append(f"<p class='caption'>The first {len(shown)} of them are listed.</p>")
    if len(in_sample) < len(rows):
        parts.append(
            f"<p class='caption'>{len(rows) - len(in_sample)} of them are beyond the stored sample "
            f"(inputs and answers are kept for the first {PREDICTION_SAMPLE} examples only).</p>"
        )
    return "\n".join(parts)


def _examples_section(view: ExampleView) -> str:
    parts = ["<h2>Which examples changed</h2>"]
    if view.note or view.chart is None:
        parts.append(f"<p class='note'>{_e(view.note)}</p>")
        return "\n".join(parts)
    parts.append(_chart_section(view.chart))
    parts.append(_example_table(view, "fixed", "Fixed (the baseline missed them, the best gets them)"))
    parts.append(_example_table(view, "broke", "Broken (the baseline got them, the best misses them)"))
    return "\n".join(parts)


def _table(rows: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td class='text'>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def render(data: ReportData) -> str:
    """The whole page."""
    sections: list[str] = [
        f"<h1>{_e(data.title)}</h1>",
        "".join(f"<p>{_e(line)}</p>" for line in data.summary),
    ]
    for heading, configuration in data.configurations:
        sections.append(f"<h3>{_e(heading)}</h3>{_table(list(configuration.items()))}")
    sections.append("<h2>Trade-offs</h2>")
    sections.extend(_chart_section(chart) for chart in data.tradeoffs)
    sections.append("<h2>What the search spent</h2>")
    sections.extend(_chart_section(chart) for chart in data.history)
    sections.extend(f"<p class='note'>{_e(note)}</p>" for note in data.history_notes)
    sections.append(_table(data.spend))
    sections.append(_importance_section(data.importances, data.importance_note))
    sections.append(_examples_section(data.examples))
    sections.append(f"<p class='caption'>Written by stacktune on {_e(written_at())}.</p>")
    head: dict[str, Any] = {"title": _e(data.title), "css": _CSS, "js": get_plotlyjs()}
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{head['title']}</title><style>{head['css']}</style>"
        f"<script type='text/javascript'>{head['js']}</script></head>\n<body>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


__all__ = ["STYLES", "render"]
