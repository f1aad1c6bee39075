"""Render a dashboard deployed to a running LocalStack (`AWS_ENDPOINT_URL`, default :4566).

No skip when nothing answers: selected with `-m emulator`, these tests must then fail.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tools.imgops.dashboard import (
    COLUMN_PX,
    HEADER_PX,
    ROW_PX,
    Window,
    collect_panels,
    fetch_dashboard_body,
    render_dashboard,
)
from tools.imgops.stack import make_client

pytestmark = pytest.mark.emulator

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
REGION = "us-east-1"


def client(service: str) -> Any:
    return make_client(service, REGION, ENDPOINT)


@pytest.fixture
def deployed_dashboard() -> Iterator[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]
    namespace, function, log_group = f"ToolsTest{run}", f"fn-{run}", f"/aws/lambda/fn-{run}"
    cloudwatch, logs = client("cloudwatch"), client("logs")
    now = datetime.now(UTC)
    dims = [{"Name": "FunctionName", "Value": function}]
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": name, "Dimensions": dims, "Value": value + minute, "Timestamp": at}
            for minute in range(0, 30, 5)
            for at in [now - timedelta(minutes=minute)]
            for name, value in (("ImagesProcessed", 10.0), ("ProcessingTime", 200.0))
        ],
    )
    alarm_ok, alarm_firing = f"{function}-throughput", f"{function}-errors"
    for alarm, threshold in ((alarm_ok, 1e9), (alarm_firing, 0.0)):
        cloudwatch.put_metric_alarm(
            AlarmName=alarm,
            Namespace=namespace,
            MetricName="ImagesProcessed",
            Dimensions=dims,
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=threshold,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching" if threshold else "breaching",
        )
        # Whatever the evaluation sees (data or none) keeps these states; set now, not in a minute.
        state = "OK" if threshold else "ALARM"
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue=state, StateReason="test")
    logs.create_log_group(logGroupName=log_group)
    logs.create_log_stream(logGroupName=log_group, logStreamName="s1")
    stamp = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=log_group,
        logStreamName="s1",
        logEvents=[
            {"timestamp": stamp - 3000 + i, "message": json.dumps({"level": lvl, "message": msg})}
            for i, (lvl, msg) in enumerate(
                [("INFO", "ok"), ("ERROR", "bad image a"), ("INFO", "ok"), ("ERROR", "bad image b")]
            )
        ],
    )
    arn = f"arn:aws:cloudwatch:{REGION}:000000000000:alarm:"
    metric = [namespace, "ImagesProcessed", "FunctionName", function]
    widgets = [
        {
            "type": "text",
            "x": 0,
            "y": 0,
            "width": 24,
            "height": 2,
            "properties": {"markdown": "# Image processor\nRunbook: **docs/runbook.md**"},
        },
        {
            "type": "metric",
            "x": 0,
            "y": 2,
            "width": 12,
            "height": 6,
            "properties": {
                "title": "Throughput",
                "view": "timeSeries",
                "stat": "Sum",
                "period": 300,
                "region": REGION,
                "metrics": [
                    [*metric, {"id": "m1", "label": "processed"}],
                    [".", "ProcessingFailures", ".", ".", {"id": "m2", "label": "failures"}],
                    [{"expression": "100*m2/m1", "id": "e1", "label": "failure %"}],
                ],
                "annotations": {"horizontal": [{"label": "target", "value": 20}]},
            },
        },
        {
            "type": "metric",
            "x": 12,
            "y": 2,
            "width": 12,
            "height": 6,
            "properties": {
                "title": "Latency",
                "period": 300,
                "region": REGION,
                "metrics": [
                    [namespace, "ProcessingTime", "FunctionName", function, {"stat": "p95"}],
                    ["...", {"stat": "Average"}],
                ],
            },
        },
        {
            "type": "metric",
            "x": 0,
            "y": 8,
            "width": 8,
            "height": 6,
            "properties": {
                "title": "Throttles",
                "stat": "Sum",
                "period": 60,
                "metrics": [["AWS/Lambda", "Throttles", "FunctionName", f"absent-{run}"]],
            },
        },
        {
            "type": "alarm",
            "x": 8,
            "y": 8,
            "width": 8,
            "height": 6,
            "properties": {"title": "Alarms", "alarms": [arn + alarm_ok, arn + alarm_firing]},
        },
        {
            "type": "log",
            "x": 16,
            "y": 8,
            "width": 8,
            "height": 6,
            "properties": {
                "title": "Errors",
                "region": REGION,
                "view": "table",
                "query": f"SOURCE '{log_group}' | fields @timestamp, level, message "
                "| filter level = 'ERROR' | sort @timestamp desc | limit 20",
            },
        },
    ]
    name = f"tools-test-{run}"
    cloudwatch.put_dashboard(DashboardName=name, DashboardBody=json.dumps({"widgets": widgets}))
    yield {"name": name, "log_group": log_group, "firing": alarm_firing, "ok": alarm_ok}
    cloudwatch.delete_dashboards(DashboardNames=[name])
    cloudwatch.delete_alarms(AlarmNames=[alarm_ok, alarm_firing])
    logs.delete_log_group(logGroupName=log_group)


def saturated_pixels(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Pixels of a plotted colour: grid, text and frame are grey, a drawn series is not."""
    pixels = np.asarray(image.crop(box), dtype=int)
    return int(((pixels.max(axis=2) - pixels.min(axis=2)) > 60).sum())


def test_render_deployed_dashboard(deployed_dashboard: dict[str, Any]) -> None:
    cloudwatch, logs = client("cloudwatch"), client("logs")
    body = fetch_dashboard_body(cloudwatch, deployed_dashboard["name"])
    window = Window.last(timedelta(hours=1))
    panels = collect_panels(body, cloudwatch, logs, window, prefer_log_fallback=True)
    rendered = render_dashboard(deployed_dashboard["name"], body["widgets"], panels, window)

    image = Image.open(io.BytesIO(rendered.png_bytes())).convert("RGB")
    assert image.size == (24 * COLUMN_PX, HEADER_PX + 14 * ROW_PX)
    assert (rendered.width_px, rendered.height_px) == image.size
    assert [p.kind for p in rendered.panels] == [
        "text",
        "metric",
        "metric",
        "metric",
        "alarm",
        "log",
    ]
    assert [p.grid for p in rendered.panels][1:3] == [(0, 2, 12, 6), (12, 2, 12, 6)]

    throughput, latency, throttles = rendered.panels[1:4]
    by_label = {s.label: s for s in throughput.series}
    assert by_label["processed"].points >= 2 and by_label["processed"].error is None
    assert by_label["failures"].points == 0  # never published: drawn as "no data", no line
    assert throughput.lines_drawn == 1 + (by_label["failure %"].points > 0)
    assert "no data: failures" in throughput.note
    # p95 may fail on the emulator: then it says why instead of taking Average down with it.
    p95, average = latency.series
    assert average.points >= 2 and average.error is None
    assert p95.points >= 2 or (p95.error and "no data" in latency.note)
    assert latency.lines_drawn == 1 + (p95.points > 0)
    assert throttles.lines_drawn == 0 and throttles.note.startswith("no data")

    assert saturated_pixels(image, throughput.pixels) > 50
    assert saturated_pixels(image, latency.pixels) > 50
    assert saturated_pixels(image, throttles.pixels) == 0
    assert saturated_pixels(image, rendered.panels[0].pixels) == 0

    alarms = rendered.panels[4]
    assert alarms.alarm_states == {
        deployed_dashboard["ok"]: "OK",
        deployed_dashboard["firing"]: "ALARM",
    }
    pixels = np.asarray(image.crop(alarms.pixels), dtype=int)
    red = (pixels[..., 0] > 150) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    green = (pixels[..., 1] > 100) & (pixels[..., 0] < 80) & (pixels[..., 2] < 80)
    assert red.sum() > 100 and green.sum() > 100

    log_panel = rendered.panels[5]
    assert log_panel.log_rows == 2
    assert log_panel.log_path in ("Logs Insights",) or log_panel.log_path.startswith(
        "FilterLogEvents fallback"
    )
