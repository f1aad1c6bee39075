"""Render a deployed CloudWatch dashboard to PNG + self-contained HTML.

Read back with GetDashboard (what is deployed, not what the role meant to deploy), fetch each
widget's data, draw every widget on the 24-column grid with matplotlib. `render_dashboard` returns
the Figure with a per-widget summary so tests can inspect what was drawn.
"""

from __future__ import annotations

import base64
import html
import io
import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
from botocore.exceptions import BotoCoreError, ClientError
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .grid import GRID_COLUMNS, Placement, figure_rect, grid_rows, place_widgets
from .insights import UnsupportedQuery, run_query
from .stack import Stack, ToolError
from .widgets import (
    AlarmPanel,
    AlarmState,
    LogPanel,
    MetricPanel,
    MetricQuery,
    Panel,
    PanelSummary,
    Series,
    SeriesSummary,
    TextPanel,
    UnsupportedPanel,
    markdown_to_text,
    parse_metric_queries,
)

COLUMN_PX = 64
ROW_PX = 40
HEADER_PX = 40
DPI = 100
PANEL_PAD = 0.12  # grid units kept free around each panel
FONT_PT = 7
TITLE_PX = 16
STATE_COLORS = {
    "OK": "#2e7d32",
    "ALARM": "#c62828",
    "INSUFFICIENT_DATA": "#757575",
    "MISSING": "#ef6c00",
}
AWS_ERRORS = (ClientError, BotoCoreError)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def last(cls, duration: timedelta, now: datetime | None = None) -> Window:
        end = now or datetime.now(UTC)
        return cls(end - duration, end)


@dataclass
class RenderedDashboard:
    figure: Figure
    panels: list[PanelSummary]
    width_px: int
    height_px: int

    def png_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=DPI)
        return buffer.getvalue()


# ---- reading what is deployed ----------------------------------------------------------------


def fetch_dashboard_body(cloudwatch: Any, name: str) -> dict[str, Any]:
    try:
        body = cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"]
    except ClientError as error:
        if error.response["Error"]["Code"] in ("ResourceNotFound", "ResourceNotFoundException"):
            raise ToolError(
                f"dashboard {name!r} is not deployed; run the deployment (make deploy)"
            ) from None
        raise
    return json.loads(body)


def collect_panels(
    body: Mapping[str, Any],
    cloudwatch: Any,
    logs: Any,
    window: Window,
    default_log_groups: Sequence[str] = (),
    prefer_log_fallback: bool = False,
) -> list[Panel]:
    return [
        _collect_panel(widget, cloudwatch, logs, window, default_log_groups, prefer_log_fallback)
        for widget in body.get("widgets", [])
    ]


def _collect_panel(
    widget: Mapping[str, Any],
    cloudwatch: Any,
    logs: Any,
    window: Window,
    default_log_groups: Sequence[str],
    prefer_log_fallback: bool,
) -> Panel:
    kind = widget.get("type", "")
    properties = widget.get("properties", {})
    title = str(properties.get("title", ""))
    if kind == "metric":
        annotations = tuple(
            (str(a.get("label", "")), float(a["value"]))
            for a in properties.get("annotations", {}).get("horizontal", [])
            if "value" in a
        )
        view = str(properties.get("view", "timeSeries"))
        try:
            queries = parse_metric_queries(properties)
        except (ValueError, TypeError) as error:
            return MetricPanel(title or "metrics", view, (), annotations, error=str(error))
        title = title or ", ".join(q.label for q in queries if q.visible)
        return MetricPanel(title, view, fetch_series(cloudwatch, queries, window), annotations)
    if kind == "alarm":
        arns = [str(arn) for arn in properties.get("alarms", [])]
        return AlarmPanel(title or "Alarms", fetch_alarm_states(cloudwatch, arns))
    if kind == "text":
        return TextPanel(title, markdown_to_text(str(properties.get("markdown", ""))))
    if kind == "log":
        query = str(properties.get("query", ""))
        try:
            table = run_query(
                logs,
                query,
                int(window.start.timestamp() * 1000),
                int(window.end.timestamp() * 1000),
                default_log_groups,
                prefer_fallback=prefer_log_fallback,
            )
        except (UnsupportedQuery, *AWS_ERRORS) as error:
            return LogPanel(title or "Logs", query, error=_reason(error))
        return LogPanel(title or "Logs", query, table)
    return UnsupportedPanel(title or kind, kind)


def fetch_series(
    cloudwatch: Any, queries: Sequence[MetricQuery], window: Window
) -> tuple[Series, ...]:
    visible = [q for q in queries if q.visible]
    try:
        results = _get_metric_data(cloudwatch, [q.as_api() for q in queries], window)
        return tuple(_series(q, results) for q in visible)
    except AWS_ERRORS:
        pass  # one query the backend cannot answer must not blank its neighbours: ask one by one
    inputs = [q.as_api(return_data=False) for q in queries if q.expression is None]
    series: list[Series] = []
    for query in visible:
        others = [i for i in inputs if i["Id"] != query.id] if query.expression else []
        try:
            results = _get_metric_data(
                cloudwatch, [query.as_api(return_data=True), *others], window
            )
        except AWS_ERRORS as error:
            series.append(Series(query, error=_reason(error)))
        else:
            series.append(_series(query, results))
    return tuple(series)


def fetch_alarm_states(cloudwatch: Any, arns: Sequence[str]) -> tuple[AlarmState, ...]:
    names = [arn.rsplit(":alarm:", 1)[-1] for arn in arns]
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), 100):
        answer = cloudwatch.describe_alarms(
            AlarmNames=names[start : start + 100], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        for alarm in answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", []):
            found[alarm["AlarmName"]] = alarm
    return tuple(
        AlarmState(
            name,
            found[name]["StateValue"],
            found[name].get("StateReason", ""),
            found[name].get("StateUpdatedTimestamp"),
        )
        if name in found
        else AlarmState(name, "MISSING", "no such alarm")
        for name in names
    )


def _get_metric_data(
    cloudwatch: Any, queries: list[dict[str, Any]], window: Window
) -> dict[str, dict[str, list[Any]]]:
    merged: dict[str, dict[str, list[Any]]] = {}
    request: dict[str, Any] = {
        "MetricDataQueries": queries,
        "StartTime": window.start,
        "EndTime": window.end,
        "ScanBy": "TimestampAscending",
    }
    while True:
        answer = cloudwatch.get_metric_data(**request)
        for result in answer.get("MetricDataResults", []):
            entry = merged.setdefault(result["Id"], {"timestamps": [], "values": []})
            entry["timestamps"].extend(result.get("Timestamps", []))
            entry["values"].extend(result.get("Values", []))
        if not answer.get("NextToken"):
            return merged
        request["NextToken"] = answer["NextToken"]


def _series(query: MetricQuery, results: Mapping[str, Mapping[str, list[Any]]]) -> Series:
    result = results.get(query.id)
    if result is None:
        return Series(query, error="not returned by GetMetricData")
    points = sorted(zip(result["timestamps"], result["values"], strict=True))
    return Series(query, tuple(t for t, _ in points), tuple(float(v) for _, v in points))


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        message = str(detail.get("Message", "")).split(" (reached max retries")[0]
        return f"{detail.get('Code', 'ClientError')}: {message}"[:160]
    return str(error)[:160] or type(error).__name__


# ---- drawing -----------------------------------------------------------------------------------


def render_dashboard(
    name: str, widgets: Sequence[Mapping[str, Any]], panels: Sequence[Panel], window: Window
) -> RenderedDashboard:
    placements = place_widgets(widgets)
    rows = max(grid_rows(placements), 1)
    width_px, height_px = GRID_COLUMNS * COLUMN_PX, HEADER_PX + rows * ROW_PX
    figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    grid_share = rows * ROW_PX / height_px
    figure.text(
        0.005,
        1 - (HEADER_PX / 2) / height_px,
        f"{name}   {window.start:%Y-%m-%d %H:%M} – {window.end:%H:%M} UTC",
        fontsize=11,
        weight="bold",
        va="center",
    )
    summaries: list[tuple[PanelSummary, Axes]] = []
    for index, (placement, panel) in enumerate(zip(placements, panels, strict=True)):
        left, bottom, width, height = figure_rect(placement, rows, PANEL_PAD)
        margin_left, margin_bottom, margin_right = _margins(panel)
        axes = figure.add_axes(
            (
                left + margin_left / width_px,
                bottom * grid_share + margin_bottom / height_px,
                width - (margin_left + margin_right) / width_px,
                height * grid_share - (margin_bottom + TITLE_PX) / height_px,
            )
        )
        summary = PanelSummary(
            index,
            _kind(panel),
            panel.title,
            (placement.x, placement.y, placement.width, placement.height),
        )
        _draw_panel(axes, panel, summary, window, placement)
        summaries.append((summary, axes))
    figure.canvas.draw()
    for summary, axes in summaries:
        box = axes.get_window_extent()
        summary.pixels = (
            round(box.x0),
            round(height_px - box.y1),
            round(box.x1),
            round(height_px - box.y0),
        )
    return RenderedDashboard(figure, [s for s, _ in summaries], width_px, height_px)


def _margins(panel: Panel) -> tuple[int, int, int]:
    """Pixels kept free left, below and right of the axes for tick labels (the title: TITLE_PX)."""
    if isinstance(panel, MetricPanel) and panel.view != "singleValue":
        return 44, 18, 6
    return 2, 2, 2


def _kind(panel: Panel) -> str:
    return {
        MetricPanel: "metric",
        AlarmPanel: "alarm",
        TextPanel: "text",
        LogPanel: "log",
        UnsupportedPanel: "unsupported",
    }[type(panel)]


def _draw_panel(
    axes: Axes, panel: Panel, summary: PanelSummary, window: Window, placement: Placement
) -> None:
    axes.set_title(panel.title, fontsize=FONT_PT + 1, loc="left", pad=3)
    match panel:
        case MetricPanel(view="singleValue"):
            _draw_single_values(axes, panel, summary)
        case MetricPanel():
            _draw_time_series(axes, panel, summary, window)
        case AlarmPanel():
            _draw_alarms(axes, panel, summary)
        case TextPanel():
            _boxed(axes)
            _draw_lines(axes, panel.text.splitlines(), placement)
        case LogPanel():
            _draw_log_table(axes, panel, summary, placement)
        case UnsupportedPanel():
            _boxed(axes)
            summary.note = f"widget type {panel.widget_type!r} is not drawn"
            _draw_lines(axes, [summary.note], placement)


def _draw_time_series(
    axes: Axes, panel: MetricPanel, summary: PanelSummary, window: Window
) -> None:
    missing: list[str] = []
    for series in panel.series:
        reason = series.error or ("" if series.values else "no datapoints in the window")
        summary.series.append(SeriesSummary(series.query.label, len(series.values), series.error))
        if reason:
            missing.append(f"no data: {series.query.label}: {reason}")
            continue
        style = "-o" if len(series.values) > 1 else "o"
        axes.plot(
            series.timestamps,
            series.values,
            style,
            markersize=2.5,
            linewidth=1.4,
            label=series.query.label,
            color=series.query.color,
        )
        summary.lines_drawn += 1
    if panel.error:
        missing.append(f"no data: {panel.error}")
    for label, value in panel.horizontal_annotations:
        axes.axhline(value, color="#c62828", linestyle="--", linewidth=0.8)
        axes.annotate(
            label, (0.01, value), xycoords=("axes fraction", "data"), fontsize=FONT_PT - 1
        )
    axes.set_xlim(window.start, window.end)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    axes.tick_params(labelsize=FONT_PT - 1)
    axes.grid(True, linewidth=0.3)
    if summary.lines_drawn:
        axes.legend(fontsize=FONT_PT - 1, loc="upper left", framealpha=0.6)
    if missing:
        summary.note = "; ".join(missing)
        axes.text(
            0.5,
            0.5 if not summary.lines_drawn else 0.08,
            "\n".join(textwrap.shorten(m, 90) for m in missing),
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=FONT_PT - 1,
            color="#555555",
            clip_on=True,
        )


def _draw_single_values(axes: Axes, panel: MetricPanel, summary: PanelSummary) -> None:
    _boxed(axes)
    cells = max(len(panel.series), 1)
    for position, series in enumerate(panel.series):
        summary.series.append(SeriesSummary(series.query.label, len(series.values), series.error))
        value = f"{series.values[-1]:,.4g}" if series.values else "–"
        center = (position + 0.5) / cells
        axes.text(
            center, 0.55, value, ha="center", va="center", fontsize=18, transform=axes.transAxes
        )
        caption = (
            series.query.label
            if not series.error
            else f"{series.query.label}\nno data: {series.error}"
        )
        axes.text(
            center,
            0.2,
            textwrap.shorten(caption, 60),
            ha="center",
            va="center",
            fontsize=FONT_PT - 1,
            transform=axes.transAxes,
            clip_on=True,
        )


def _draw_alarms(axes: Axes, panel: AlarmPanel, summary: PanelSummary) -> None:
    _boxed(axes)
    count = max(len(panel.alarms), 1)
    row_height = min(1 / count, 0.2)
    for position, alarm in enumerate(panel.alarms):
        summary.alarm_states[alarm.name] = alarm.state
        top = 1 - position * row_height
        color = _state_color(alarm.state)
        axes.add_patch(
            Rectangle((0.01, top - row_height * 0.9), 0.2, row_height * 0.8, color=color)
        )
        axes.text(
            0.11,
            top - row_height * 0.5,
            alarm.state.replace("INSUFFICIENT_DATA", "NO DATA"),
            ha="center",
            va="center",
            color="white",
            fontsize=FONT_PT - 1,
            weight="bold",
            transform=axes.transAxes,
        )
        axes.text(
            0.23,
            top - row_height * 0.5,
            alarm.name,
            va="center",
            fontsize=FONT_PT,
            transform=axes.transAxes,
            clip_on=True,
        )


def _state_color(state: str) -> str:
    return STATE_COLORS.get(state, STATE_COLORS["INSUFFICIENT_DATA"])


def _draw_log_table(
    axes: Axes, panel: LogPanel, summary: PanelSummary, placement: Placement
) -> None:
    _boxed(axes)
    if panel.table is None:
        summary.note = f"no data: {panel.error}"
        _draw_lines(axes, [summary.note], placement)
        return
    summary.log_rows, summary.log_path = len(panel.table.rows), panel.table.path
    lines = [" │ ".join(panel.table.columns)] + [" │ ".join(row) for row in panel.table.rows]
    if not panel.table.rows:
        lines.append("(no matching lines in the window)")
    lines.append(f"via {panel.table.path}")
    _draw_lines(axes, lines, placement, monospace=True)


def _draw_lines(
    axes: Axes, lines: list[str], placement: Placement, monospace: bool = False
) -> None:
    """Fit text into the panel: wrap prose, cut table rows, drop what does not fit."""
    char_px = FONT_PT * DPI / 72 * (0.62 if monospace else 0.55)
    columns = max(int(placement.width * COLUMN_PX / char_px) - 2, 10)
    max_lines = max(int(placement.height * ROW_PX / (FONT_PT * DPI / 72 * 1.45)) - 2, 1)
    fitted: list[str] = []
    for line in lines:
        pieces = [line[:columns]] if monospace else (textwrap.wrap(line, columns) or [""])
        fitted.extend(pieces)
    if len(fitted) > max_lines:
        fitted = [*fitted[: max_lines - 1], "…"]
    axes.text(
        0.01,
        0.98,
        "\n".join(fitted),
        va="top",
        ha="left",
        fontsize=FONT_PT,
        family="monospace" if monospace else "sans-serif",
        transform=axes.transAxes,
        clip_on=True,
    )


def _boxed(axes: Axes) -> None:
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_facecolor("#fafafa")


# ---- files -------------------------------------------------------------------------------------


def write_report(
    rendered: RenderedDashboard,
    panels: Sequence[Panel],
    widgets: Sequence[Mapping[str, Any]],
    out_dir: Path,
    stem: str,
    title: str,
) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    png = rendered.png_bytes()
    png_path, html_path = out_dir / f"{stem}.png", out_dir / f"{stem}.html"
    png_path.write_bytes(png)
    html_path.write_text(_html_page(title, png, panels, place_widgets(widgets)))
    return png_path, html_path


def _html_page(
    title: str, png: bytes, panels: Sequence[Panel], placements: Sequence[Placement]
) -> str:
    cells = "\n".join(
        f'<section style="grid-column:{p.x + 1}/span {p.width};grid-row:{p.y + 1}/span {p.height}">'
        f"<h2>{html.escape(panel.title)}</h2>{_html_panel(panel)}</section>"
        for p, panel in zip(placements, panels, strict=True)
    )
    image = base64.b64encode(png).decode("ascii")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1rem; color: #222; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
.grid {{ display: grid; grid-template-columns: repeat({GRID_COLUMNS}, 1fr);
         grid-auto-rows: minmax(1.5rem, auto); gap: .4rem; margin-top: 1rem; }}
section {{ border: 1px solid #ddd; padding: .4rem; overflow: auto; font-size: .8rem; }}
h2 {{ font-size: .9rem; margin: 0 0 .3rem; }}
table {{ border-collapse: collapse; }} td, th {{ border-bottom: 1px solid #eee; padding: 0 .3rem;
 text-align: left; vertical-align: top; }}
.state {{ color: white; padding: 0 .3rem; border-radius: .2rem; font-weight: bold; }}
.nodata {{ color: #777; }} pre {{ white-space: pre-wrap; margin: 0; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<img alt="dashboard" src="data:image/png;base64,{image}">
<div class="grid">
{cells}
</div></body></html>
"""


def _html_panel(panel: Panel) -> str:
    match panel:
        case MetricPanel():
            rows = "".join(
                f"<tr><td>{html.escape(s.query.label)}</td>"
                + (
                    f"<td>{len(s.values)}</td><td>{s.values[-1]:.4g}</td><td>{min(s.values):.4g}</td>"
                    f"<td>{max(s.values):.4g}</td></tr>"
                    if s.values
                    else f'<td colspan="4" class="nodata">no data: '
                    f"{html.escape(s.error or 'no datapoints in the window')}</td></tr>"
                )
                for s in panel.series
            )
            error = (
                f'<p class="nodata">no data: {html.escape(panel.error)}</p>' if panel.error else ""
            )
            return (
                f"{error}<table><tr><th>series</th><th>points</th><th>latest</th><th>min</th>"
                f"<th>max</th></tr>{rows}</table>"
            )
        case AlarmPanel():
            return (
                "<table>"
                + "".join(
                    f'<tr><td><span class="state" style="background:{_state_color(a.state)}">'
                    f"{a.state}</span></td><td>{html.escape(a.name)}</td>"
                    f"<td>{html.escape(a.reason)}</td></tr>"
                    for a in panel.alarms
                )
                + "</table>"
            )
        case TextPanel():
            return f"<pre>{html.escape(panel.text)}</pre>"
        case LogPanel(table=None):
            return f'<p class="nodata">no data: {html.escape(panel.error or "")}</p>'
        case LogPanel(table=table) if table is not None:
            head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                for row in table.rows
            )
            return (
                f"<p><em>via {html.escape(table.path)}</em></p><table><tr>{head}</tr>{body}</table>"
            )
        case _:
            return '<p class="nodata">not drawn</p>'


# ---- the command --------------------------------------------------------------------------------


def render_deployed(
    stack: Stack, since: timedelta, out_dir: Path
) -> tuple[RenderedDashboard, Path, Path]:
    window = Window.last(since)
    body = fetch_dashboard_body(stack.client("cloudwatch"), stack.dashboard_name)
    widgets = body.get("widgets", [])
    panels = collect_panels(
        body,
        stack.client("cloudwatch"),
        stack.client("logs"),
        window,
        default_log_groups=[stack.log_group],
        prefer_log_fallback=stack.is_emulated,
    )
    rendered = render_dashboard(stack.dashboard_name, widgets, panels, window)
    png_path, html_path = write_report(
        rendered,
        panels,
        widgets,
        out_dir,
        f"{stack.environment}-dashboard",
        f"{stack.dashboard_name} ({stack.environment})",
    )
    return rendered, png_path, html_path
