"""The renderer on synthetic panels: the figure model and the pixels agree with the data."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import numpy as np
from PIL import Image

from tools.imgops.dashboard import (
    COLUMN_PX,
    HEADER_PX,
    ROW_PX,
    Window,
    _html_page,
    render_dashboard,
)
from tools.imgops.grid import place_widgets
from tools.imgops.insights import LogTable
from tools.imgops.widgets import (
    AlarmPanel,
    AlarmState,
    LogPanel,
    MetricPanel,
    MetricQuery,
    Series,
    TextPanel,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
WINDOW = Window.last(timedelta(hours=1), NOW)
WIDGETS = [
    {"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6},
    {"type": "metric", "x": 12, "y": 0, "width": 12, "height": 6},
    {"type": "alarm", "x": 0, "y": 6, "width": 8, "height": 4},
    {"type": "text", "x": 8, "y": 6, "width": 8, "height": 4},
    {"type": "log", "x": 16, "y": 6, "width": 8, "height": 4},
]


def series(label: str, values: list[float], error: str | None = None) -> Series:
    stamps = tuple(NOW - timedelta(minutes=5 * i) for i in reversed(range(len(values))))
    return Series(MetricQuery(id=label, label=label), stamps, tuple(values), error)


PANELS = [
    MetricPanel(
        "with data",
        "timeSeries",
        (series("a", [1, 3, 2, 5]), series("b", [], "InternalError: p95")),
    ),
    MetricPanel("empty", "timeSeries", (series("c", []),)),
    AlarmPanel("alarms", (AlarmState("x", "ALARM"), AlarmState("y", "OK"))),
    TextPanel("about", "plain text"),
    LogPanel("errors", "q", LogTable(("@timestamp", "message"), (("t", "bad"),), "Logs Insights")),
]


def saturated(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    pixels = np.asarray(image.crop(box), dtype=int)
    return int(((pixels.max(axis=2) - pixels.min(axis=2)) > 60).sum())


def test_figure_model_and_pixels() -> None:
    rendered = render_dashboard("dash", WIDGETS, PANELS, WINDOW)
    image = Image.open(io.BytesIO(rendered.png_bytes())).convert("RGB")
    assert image.size == (24 * COLUMN_PX, HEADER_PX + 10 * ROW_PX)
    assert [p.kind for p in rendered.panels] == ["metric", "metric", "alarm", "text", "log"]
    with_data, empty, alarms, text, log = rendered.panels
    assert with_data.lines_drawn == 1 and [s.points for s in with_data.series] == [4, 0]
    assert "no data: b: InternalError: p95" in with_data.note
    assert empty.lines_drawn == 0 and empty.note == "no data: c: no datapoints in the window"
    assert alarms.alarm_states == {"x": "ALARM", "y": "OK"}
    assert (log.log_rows, log.log_path) == (1, "Logs Insights")
    # Panels sit where the grid says, inside their cells, and never overlap.
    left, top, right, bottom = with_data.pixels
    assert (
        0 <= left < right <= 12 * COLUMN_PX and HEADER_PX <= top < bottom <= HEADER_PX + 6 * ROW_PX
    )
    assert empty.pixels[0] >= 12 * COLUMN_PX
    assert saturated(image, with_data.pixels) > 100
    assert saturated(image, empty.pixels) == 0
    assert saturated(image, text.pixels) == 0


def test_html_is_self_contained_and_lists_every_widget() -> None:
    page = _html_page("dash", b"\x89PNG fake", PANELS, place_widgets(WIDGETS))
    assert 'src="data:image/png;base64,iVBORyBmYWtl"' in page
    assert page.count("<section") == len(PANELS)
    assert "grid-column:13/span 12;grid-row:1/span 6" in page
    assert "no data: InternalError: p95" in page and ">ALARM</span>" in page
    assert "<td>bad</td>" in page and "<pre>plain text</pre>" in page
