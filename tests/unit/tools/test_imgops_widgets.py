from __future__ import annotations

import pytest

from tools.imgops.widgets import markdown_to_text, parse_metric_queries


def test_metric_rows_expand_shorthand_and_widget_defaults() -> None:
    queries = parse_metric_queries(
        {
            "stat": "Sum",
            "period": 60,
            "metrics": [
                ["ImageProcessor", "ImagesProcessed", "FunctionName", "img-dev", {"id": "m1"}],
                [".", "ProcessingFailures", ".", ".", {"id": "m2", "visible": False}],
                ["...", "img-prod", {"stat": "p95", "period": 300, "label": "prod failures"}],
                [{"expression": "100*m2/m1", "id": "e1", "label": "failure %"}],
            ],
        }
    )
    first, second, third, expression = queries
    assert (first.namespace, first.metric_name, first.dimensions) == (
        "ImageProcessor",
        "ImagesProcessed",
        (("FunctionName", "img-dev"),),
    )
    assert (first.stat, first.period, first.label) == ("Sum", 60, "ImagesProcessed (Sum)")
    assert second.metric_name == "ProcessingFailures" and second.dimensions == first.dimensions
    assert not second.visible
    assert third.metric_name == "ProcessingFailures"
    assert third.dimensions == (("FunctionName", "img-prod"),)
    assert (third.stat, third.period, third.label, third.id) == ("p95", 300, "prod failures", "m2")
    assert expression.expression == "100*m2/m1" and expression.label == "failure %"


def test_api_form_of_queries() -> None:
    metric, expression = parse_metric_queries(
        {"metrics": [["AWS/Lambda", "Errors", "FunctionName", "f"], [{"expression": "m0*2"}]]}
    )
    assert metric.as_api() == {
        "Id": "m0",
        "Label": "Errors",
        "ReturnData": True,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": "Errors",
                "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
            },
            "Period": 300,
            "Stat": "Average",
        },
    }
    assert expression.as_api(return_data=False) == {
        "Id": "m1",
        "Label": "m0*2",
        "ReturnData": False,
        "Expression": "m0*2",
    }


def test_a_row_without_metric_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="metrics\\[0\\]"):
        parse_metric_queries({"metrics": [["OnlyNamespace"]]})


def test_markdown_to_text() -> None:
    markdown = (
        "# Image processor\n\n\n**Runbook**: see [the runbook](https://x/runbook) or "
        "`make alerts`\n"
        "- first\n* second\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert markdown_to_text(markdown) == (
        "Image processor\n\nRunbook: see the runbook (https://x/runbook) or make alerts\n"
        "• first\n• second\n\n| a | b |\n\n| 1 | 2 |"
    )
