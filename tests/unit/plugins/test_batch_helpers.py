"""The pure planning helpers of the batch modules (metric_alarms, metric_filters, sns_topics):
one describe for the whole set, and per item exactly the changes a loop of single calls
would make."""

import copy
import json

import pytest
from alarm_fixtures import alarm_params
from ansible_collections.imgops.image_processor.plugins.modules import (
    metric_alarms,
    metric_filters,
    sns_topics,
)


def _alarm(name, **overrides):
    return alarm_params(name, **{"state": "present", **overrides})


def _described(params):
    described = metric_alarms.build_request(params)
    described.update(
        AlarmArn=f"arn:alarm:{params['name']}",
        StateValue="OK",
        Threshold=float(described["Threshold"]),
    )
    return described


def test_alarm_plan_changes_only_what_differs():
    wanted = [
        _alarm("a"),
        _alarm("b", threshold=4.0),
        _alarm("c"),
        _alarm("d", state="absent"),
        _alarm("e", state="absent"),
    ]
    current = {name: _described(_alarm(name)) for name in ("a", "b", "d")}
    actions = {name: action for name, action, *_ in metric_alarms.plan(wanted, current)}
    assert actions == {"a": None, "b": "put", "c": "put", "d": "delete", "e": None}


def test_alarm_plan_diff_is_per_alarm():
    (step,) = metric_alarms.plan([_alarm("b", threshold=4.0)], {"b": _described(_alarm("b"))})
    _name, _action, request, before, after = step
    assert request["Threshold"] == 4.0 and before["Threshold"] == 3 and after["Threshold"] == 4


def test_alarm_plan_round_trip_is_no_change():
    wanted = [_alarm("a"), _alarm("p95", statistic=None, extended_statistic="p95")]
    current = {p["name"]: _described(p) for p in wanted}
    assert [action for _n, action, *_ in metric_alarms.plan(wanted, current)] == [None, None]


def test_alarm_duplicates():
    assert metric_alarms.duplicates([_alarm("a"), _alarm("b"), _alarm("a"), _alarm("a")]) == ["a"]
    assert metric_alarms.duplicates([_alarm("a"), _alarm("b")]) == []


def _filter(name, **overrides):
    params = dict(
        name=name,
        pattern='{ $.level = "CRITICAL" }',
        metric_name="CriticalErrors",
        metric_namespace="ImageProcessor",
        metric_value="1",
        default_value=None,
        unit=None,
    )
    params.update(overrides)
    return params


def _described_filter(group, params):
    """What DescribeMetricFilters answers: the request plus creationTime and logGroupName."""
    described = copy.deepcopy(metric_filters.build_request(group, params))
    described.update(creationTime=1, logGroupName=group)
    return described


def test_filter_round_trip_is_no_change():
    described = _described_filter("/g", _filter("f"))
    described["metricTransformations"][0]["unit"] = "None"  # what some answers carry for no unit
    assert metric_filters.comparable(described) == metric_filters.comparable(
        metric_filters.build_request("/g", _filter("f"))
    )


@pytest.mark.parametrize(
    "edit",
    [
        {"pattern": '"Task timed out"'},
        {"metric_name": "Other"},
        {"metric_value": "2"},
        {"metric_namespace": "Else"},
        {"default_value": 0.0},
    ],
)
def test_filter_edit_is_drift(edit):
    current = {"f": _described_filter("/g", _filter("f"))}
    ((_name, action, *_),) = metric_filters.plan("/g", [_filter("f", **edit)], current, "present")
    assert action == "put"


def test_filter_plan_present_and_absent():
    current = {"a": _described_filter("/g", _filter("a"))}
    present = metric_filters.plan("/g", [_filter("a"), _filter("b")], current, "present")
    assert [(name, action) for name, action, *_ in present] == [("a", None), ("b", "put")]
    absent = metric_filters.plan("/g", [_filter("a"), _filter("b")], current, "absent")
    assert [(name, action) for name, action, *_ in absent] == [("a", "delete"), ("b", None)]


POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "arn:t"}],
}
INBOX = {"protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:1:inbox"}


def _topic(**overrides):
    params = dict(
        name="t",
        display_name="T",
        policy=json.dumps(POLICY),
        subscriptions=[INBOX],
        purge_subscriptions=True,
    )
    params.update(overrides)
    return params


def _subscribed(protocol, endpoint, arn="arn:sub"):
    return {"Protocol": protocol, "Endpoint": endpoint, "SubscriptionArn": arn, "TopicArn": "arn:t"}


def test_topic_as_aws_answers_is_no_change():
    attributes = {
        "DisplayName": "T",
        "Policy": json.dumps(POLICY, indent=2, sort_keys=True),
        "TopicArn": "arn:t",
        "SubscriptionsConfirmed": "1",
    }
    step = sns_topics.plan_topic(_topic(), attributes, [_subscribed("sqs", INBOX["endpoint"])])
    assert not sns_topics.topic_changed(step) and step["before"] == step["after"]


def test_topic_missing_is_created_with_its_subscriptions():
    step = sns_topics.plan_topic(_topic(), None, [])
    assert (
        step["create"]
        and step["subscribe"] == [INBOX]
        and set(step["attributes"]) == {"DisplayName", "Policy"}
    )
    assert step["before"] is None


def test_topic_edits_name_exactly_the_drift():
    attributes = {"DisplayName": "old", "Policy": json.dumps(POLICY)}
    stray = _subscribed("email", "someone@example.com", arn="arn:stray")
    pending = _subscribed("email", "pending@example.com", arn="PendingConfirmation")
    step = sns_topics.plan_topic(_topic(), attributes, [stray, pending])
    assert list(step["attributes"]) == ["DisplayName"]
    assert step["subscribe"] == [INBOX] and step["unsubscribe"] == [
        stray
    ]  # pending cannot be removed
    kept = sns_topics.plan_topic(_topic(purge_subscriptions=False), attributes, [stray])
    assert kept["unsubscribe"] == []


def test_unset_topic_attributes_are_not_managed():
    step = sns_topics.plan_topic(
        _topic(display_name=None, policy=None, subscriptions=[]), {"DisplayName": "x"}, []
    )
    assert not sns_topics.topic_changed(step)
