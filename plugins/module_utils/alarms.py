# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of the metric_alarm and metric_alarms modules: module parameters -> the
PutMetricAlarm request, and the shape in which equal alarm configurations compare equal.
Free of boto3 so they can be unit-tested on their own."""

import copy

from ansible.module_utils.common.dict_transformations import snake_dict_to_camel_dict
from ansible_collections.imgops.image_processor.plugins.module_utils.drift import (
    normalise,
    project,
)

COMPARISONS = [
    "GreaterThanOrEqualToThreshold", "GreaterThanThreshold",
    "LessThanThreshold", "LessThanOrEqualToThreshold",
]

# The options of one alarm (metric_alarm's arguments, metric_alarms' suboptions of `alarms`).
ALARM_OPTIONS = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    description=dict(type="str"),
    metric_name=dict(type="str"),
    namespace=dict(type="str"),
    statistic=dict(type="str", choices=["SampleCount", "Average", "Sum", "Minimum", "Maximum"]),
    extended_statistic=dict(type="str"),
    dimensions=dict(type="dict"),
    unit=dict(type="str"),
    period=dict(type="int"),
    evaluation_periods=dict(type="int"),
    datapoints_to_alarm=dict(type="int"),
    threshold=dict(type="float"),
    comparison=dict(type="str", default="GreaterThanOrEqualToThreshold", choices=COMPARISONS),
    treat_missing_data=dict(type="str", default="missing", choices=["breaching", "notBreaching", "ignore", "missing"]),
    metrics=dict(type="list", elements="dict"),
    actions_enabled=dict(type="bool", default=True),
    alarm_actions=dict(type="list", elements="str", default=[]),
    ok_actions=dict(type="list", elements="str", default=[]),
    insufficient_data_actions=dict(type="list", elements="str", default=[]),
)
ALARM_MUTUALLY_EXCLUSIVE = [("metrics", "metric_name"), ("statistic", "extended_statistic")]
ALARM_REQUIRED_IF = [("state", "present", ["threshold", "evaluation_periods"])]


def missing_metric(params):
    """Pure: an alarm to be present needs a metric or metric-math queries."""
    return params.get("state", "present") == "present" and not params.get("metrics") and not params.get("metric_name")


MANAGED_KEYS = (
    "AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
    "InsufficientDataActions", "MetricName", "Namespace", "Statistic", "ExtendedStatistic",
    "Dimensions", "Period", "Unit", "EvaluationPeriods", "DatapointsToAlarm", "Threshold",
    "ComparisonOperator", "TreatMissingData", "Metrics",
)


def build_request(params):
    """Pure: module parameters -> the PutMetricAlarm request."""
    request = {
        "AlarmName": params["name"],
        "AlarmDescription": params.get("description"),
        "ActionsEnabled": params.get("actions_enabled", True),
        "AlarmActions": params.get("alarm_actions") or [],
        "OKActions": params.get("ok_actions") or [],
        "InsufficientDataActions": params.get("insufficient_data_actions") or [],
        "EvaluationPeriods": params.get("evaluation_periods"),
        "DatapointsToAlarm": params.get("datapoints_to_alarm"),
        "Threshold": params.get("threshold"),
        "ComparisonOperator": params.get("comparison"),
        "TreatMissingData": params.get("treat_missing_data"),
    }
    if params.get("metrics"):
        request["Metrics"] = [snake_dict_to_camel_dict(query, capitalize_first=True) for query in params["metrics"]]
    else:
        request.update(
            MetricName=params.get("metric_name"),
            Namespace=params.get("namespace"),
            Statistic=params.get("statistic"),
            ExtendedStatistic=params.get("extended_statistic"),
            Period=params.get("period"),
            Unit=params.get("unit"),
            Dimensions=[{"Name": k, "Value": str(v)} for k, v in (params.get("dimensions") or {}).items()],
        )
    return {key: value for key, value in request.items() if value is not None}


def comparable(alarm):
    """Pure: the managed part of an alarm in a shape where equal configurations compare equal."""
    if alarm is None:
        return None
    shaped = copy.deepcopy(project(alarm, MANAGED_KEYS))
    for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        shaped[key] = sorted(shaped.get(key) or [])
    shaped["Dimensions"] = sorted(shaped.get("Dimensions") or [], key=lambda d: d["Name"])
    for query in shaped.get("Metrics") or []:
        query.setdefault("ReturnData", True)
        metric = query.get("MetricStat", {}).get("Metric", {})
        if "Dimensions" in metric:
            metric["Dimensions"] = sorted(metric["Dimensions"], key=lambda d: d["Name"])
    shaped.setdefault("ActionsEnabled", True)
    shaped.setdefault("TreatMissingData", "missing")
    if shaped.get("DatapointsToAlarm") == shaped.get("EvaluationPeriods"):
        shaped.pop("DatapointsToAlarm", None)  # AWS fills it in when it is not set
    return normalise(shaped)
