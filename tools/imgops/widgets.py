"""What a dashboard widget shows, as plain data: parsed from the dashboard body, filled by the
fetchers in `dashboard.py`, drawn by the renderer. Nothing here talks to AWS."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .insights import LogTable

DEFAULT_STAT = "Average"
DEFAULT_PERIOD = 300


@dataclass(frozen=True)
class MetricQuery:
    """One entry of a metric widget's `metrics` array, as a GetMetricData query."""

    id: str
    label: str
    visible: bool = True
    expression: str | None = None
    namespace: str = ""
    metric_name: str = ""
    dimensions: tuple[tuple[str, str], ...] = ()
    stat: str = DEFAULT_STAT
    period: int = DEFAULT_PERIOD
    color: str | None = None

    def as_api(self, return_data: bool | None = None) -> dict[str, Any]:
        query: dict[str, Any] = {
            "Id": self.id,
            "Label": self.label,
            "ReturnData": self.visible if return_data is None else return_data,
        }
        if self.expression is not None:
            query["Expression"] = self.expression
        else:
            metric = {
                "Namespace": self.namespace,
                "MetricName": self.metric_name,
                "Dimensions": [{"Name": n, "Value": v} for n, v in self.dimensions],
            }
            query["MetricStat"] = {"Metric": metric, "Period": self.period, "Stat": self.stat}
        return query


@dataclass(frozen=True)
class Series:
    query: MetricQuery
    timestamps: tuple[datetime, ...] = ()
    values: tuple[float, ...] = ()
    error: str | None = None  # why there is no data, drawn as "no data: <error>"


@dataclass(frozen=True)
class MetricPanel:
    title: str
    view: str  # timeSeries, singleValue, bar... (others are drawn as timeSeries)
    series: tuple[Series, ...]
    horizontal_annotations: tuple[tuple[str, float], ...] = ()
    error: str | None = None  # the widget itself could not be read


@dataclass(frozen=True)
class AlarmState:
    name: str
    state: str  # OK, ALARM, INSUFFICIENT_DATA, or MISSING when the alarm does not exist
    reason: str = ""
    updated: datetime | None = None


@dataclass(frozen=True)
class AlarmPanel:
    title: str
    alarms: tuple[AlarmState, ...]


@dataclass(frozen=True)
class TextPanel:
    title: str
    text: str


@dataclass(frozen=True)
class LogPanel:
    title: str
    query: str
    table: LogTable | None = None
    error: str | None = None


@dataclass(frozen=True)
class UnsupportedPanel:
    title: str
    widget_type: str


Panel = MetricPanel | AlarmPanel | TextPanel | LogPanel | UnsupportedPanel


@dataclass(frozen=True)
class SeriesSummary:
    label: str
    points: int
    error: str | None


@dataclass
class PanelSummary:
    """What was drawn where: the inspectable half of the figure model."""

    index: int
    kind: str
    title: str
    grid: tuple[int, int, int, int]  # x, y, width, height in grid units
    pixels: tuple[int, int, int, int] = (0, 0, 0, 0)  # left, top, right, bottom in the PNG
    series: list[SeriesSummary] = field(default_factory=list)
    lines_drawn: int = 0
    alarm_states: dict[str, str] = field(default_factory=dict)
    log_rows: int = 0
    log_path: str = ""
    note: str = ""


def parse_metric_queries(properties: Mapping[str, Any]) -> list[MetricQuery]:
    """Expand the `metrics` array: `.` repeats the previous row's value at that position, `...`
    repeats the previous row except for the values that follow it, a lone `{expression}` is math."""
    widget_stat = str(properties.get("stat", DEFAULT_STAT))
    widget_period = int(properties.get("period", DEFAULT_PERIOD))
    queries: list[MetricQuery] = []
    previous: list[str] = []
    for index, row in enumerate(properties.get("metrics", [])):
        values, options = _split_options(row)
        query_id = str(options.get("id") or f"m{index}")
        common = {
            "id": query_id,
            "visible": bool(options.get("visible", True)),
            "color": options.get("color"),
        }
        if "expression" in options:
            label = str(options.get("label") or options["expression"])
            queries.append(MetricQuery(label=label, expression=options["expression"], **common))
            continue
        fields = _expand_shorthand(values, previous)
        if len(fields) < 2:
            raise ValueError(f"metrics[{index}] needs at least a namespace and a metric name")
        previous = fields
        dimensions = tuple(zip(fields[2::2], fields[3::2], strict=False))
        stat = str(options.get("stat", widget_stat))
        label = str(options.get("label") or _default_label(fields[1], stat))
        queries.append(
            MetricQuery(
                label=label,
                namespace=fields[0],
                metric_name=fields[1],
                dimensions=dimensions,
                stat=stat,
                period=int(options.get("period", widget_period)),
                **common,
            )
        )
    return queries


def markdown_to_text(markdown: str) -> str:
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", markdown)  # images → alt text
    text = re.sub(r"\[([^\]]*)\]\(([^)]*)\)", r"\1 (\2)", text)  # links keep their target
    text = re.sub(r"^\s{0,3}#{1,6}\s*", "", text, flags=re.MULTILINE)
    text = re.sub(r"^\s*[-*+]\s+", "• ", text, flags=re.MULTILINE)
    text = re.sub(r"(\*\*|__|\*|_|`)(.+?)\1", r"\2", text)
    text = re.sub(r"^\s*\|?\s*:?-{3,}.*$", "", text, flags=re.MULTILINE)  # table rule lines
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _split_options(row: Sequence[Any]) -> tuple[list[str], dict[str, Any]]:
    if row and isinstance(row[-1], Mapping):
        return [str(value) for value in row[:-1]], dict(row[-1])
    return [str(value) for value in row], {}


def _expand_shorthand(values: list[str], previous: list[str]) -> list[str]:
    if values[:1] == ["..."]:
        tail = values[1:]
        return previous[: max(len(previous) - len(tail), 0)] + tail
    return [
        previous[position] if value == "." and position < len(previous) else value
        for position, value in enumerate(values)
    ]


def _default_label(metric_name: str, stat: str) -> str:
    suffix = f" ({stat})" if stat != DEFAULT_STAT else ""
    return metric_name + suffix
