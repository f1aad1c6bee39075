"""The pure "has it changed" helpers of our modules: equal configurations compare equal,
real edits do not."""

import copy

import pytest
from alarm_fixtures import alarm_params
from ansible_collections.imgops.image_processor.plugins.module_utils import drift
from ansible_collections.imgops.image_processor.plugins.modules import (
    cloudwatch_dashboard,
    lambda_invoke_config,
    metric_alarm,
    s3_bucket_config,
)

BODY = {
    "widgets": [
        {"type": "metric", "x": 0, "y": 0, "properties": {"metrics": [["AWS/Lambda", "Errors"]]}}
    ]
}


def test_dashboard_body_ignores_formatting_and_key_order():
    reordered = (
        '{"widgets":[{"properties":{"metrics":[["AWS/Lambda","Errors"]]},'
        '"y":0.0,"x":0,"type":"metric"}]}'
    )
    assert not cloudwatch_dashboard.body_changed(BODY, reordered)


def test_dashboard_body_sees_a_real_edit():
    edited = copy.deepcopy(BODY)
    edited["widgets"][0]["properties"]["metrics"][0][1] = "Throttles"
    assert cloudwatch_dashboard.body_changed(BODY, edited)
    assert cloudwatch_dashboard.body_changed(BODY, None)


def _as_described(request):
    """What DescribeAlarms answers for a request: the fields AWS adds, whole numbers as floats."""
    described = copy.deepcopy(request)
    described.update(
        AlarmArn="arn:alarm",
        StateValue="OK",
        InsufficientDataActions=[],
        Threshold=float(request["Threshold"]),
    )
    return described


def test_single_metric_alarm_round_trip_is_no_change():
    request = metric_alarm.build_request(alarm_params())
    assert metric_alarm.comparable(_as_described(request)) == metric_alarm.comparable(request)


def test_metric_math_alarm_round_trip_is_no_change():
    """amazon.aws.cloudwatch_metric_alarm 11.x reports these changed on every run."""
    queries = [
        {
            "id": "e",
            "return_data": False,
            "metric_stat": {
                "metric": {
                    "namespace": "AWS/Lambda",
                    "metric_name": "Errors",
                    "dimensions": [{"name": "FunctionName", "value": "fn"}],
                },
                "period": 10,
                "stat": "Sum",
            },
        },
        {"id": "rate", "expression": "100 * e", "return_data": True},
    ]
    params = alarm_params(
        metrics=queries,
        metric_name=None,
        namespace=None,
        statistic=None,
        period=None,
        dimensions=None,
    )
    request = metric_alarm.build_request(params)
    assert (
        "MetricName" not in request
        and request["Metrics"][0]["MetricStat"]["Metric"]["MetricName"] == "Errors"
    )
    assert metric_alarm.comparable(_as_described(request)) == metric_alarm.comparable(request)


def test_alarm_without_dimensions_equals_empty_dimensions():
    request = metric_alarm.build_request(alarm_params(dimensions=None))
    described = _as_described(request)
    described["Dimensions"] = []
    assert metric_alarm.comparable(described) == metric_alarm.comparable(request)


@pytest.mark.parametrize(
    "edit", [{"threshold": 4.0}, {"period": 60}, {"alarm_actions": []}, {"statistic": "Maximum"}]
)
def test_alarm_edit_is_drift(edit):
    before = metric_alarm.build_request(alarm_params())
    after = metric_alarm.build_request(alarm_params(**edit))
    assert metric_alarm.comparable(_as_described(before)) != metric_alarm.comparable(after)


def _bucket_params(**overrides):
    params = dict(
        encryption="AES256",
        encryption_key_id=None,
        block_public_access=True,
        policy='{"Version": "2012-10-17"}',
        versioning=False,
        lifecycle_rules=[
            {
                "id": "r",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
            }
        ],
    )
    params.update(overrides)
    return params


def test_bucket_as_aws_answers_is_no_drift():
    desired = s3_bucket_config.desired_settings(_bucket_params())
    assert desired["lifecycle"][0]["ID"] == "r"
    current = copy.deepcopy(desired)
    current["encryption"]["Rules"][0]["BucketKeyEnabled"] = False
    current["versioning"] = None  # never versioned
    assert s3_bucket_config.drifted(desired, current) == []


def test_bucket_edit_names_exactly_the_drifted_setting():
    desired = s3_bucket_config.desired_settings(_bucket_params())
    current = copy.deepcopy(desired)
    current["public_access_block"]["BlockPublicPolicy"] = False
    assert s3_bucket_config.drifted(desired, current) == ["public_access_block"]


def test_unset_bucket_options_are_not_managed():
    assert (
        s3_bucket_config.desired_settings(
            dict(
                encryption=None,
                block_public_access=None,
                policy=None,
                versioning=None,
                lifecycle_rules=None,
            )
        )
        == {}
    )


def test_async_config_compares_without_aws_extras():
    params = dict(
        maximum_retry_attempts=2,
        maximum_event_age_seconds=3600,
        on_failure_destination="arn:q",
        on_success_destination=None,
    )
    current = {
        "FunctionArn": "arn:fn",
        "LastModified": "now",
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 3600,
        "DestinationConfig": {"OnFailure": {"Destination": "arn:q"}, "OnSuccess": {}},
    }
    assert lambda_invoke_config.comparable_async_config(
        current
    ) == lambda_invoke_config.desired_async_config(params)
    params["maximum_retry_attempts"] = 0
    assert lambda_invoke_config.comparable_async_config(
        current
    ) != lambda_invoke_config.desired_async_config(params)


@pytest.mark.parametrize(
    ("requested", "current", "expected"), [(None, 5, 5), (-1, 5, None), (10, None, 10), (0, 3, 0)]
)
def test_reserved_concurrency(requested, current, expected):
    assert lambda_invoke_config.desired_reservation(requested, current) == expected


def test_normalise_drops_empties_and_whole_floats():
    assert drift.normalise({"b": [], "a": 3.0, "c": {"d": None}, "e": 2.5}) == {"a": 3, "e": 2.5}


# --- s3_bucket_config: ownership, tags and the Lambda notifications ------------------------

UPLOAD_RULE = {
    "id": "image-upload",
    "lambda_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:f",
    "events": ["s3:ObjectCreated:*"],
    "prefix": "",
    "suffix": ".jpg",
}


def test_bucket_ownership_and_tags_are_managed_when_given():
    desired = s3_bucket_config.desired_settings(
        dict(object_ownership="BucketOwnerEnforced", tags={"Project": "p", "Count": 3})
    )
    assert desired == {
        "object_ownership": "BucketOwnerEnforced",
        "tags": {"Project": "p", "Count": "3"},
    }
    assert (
        s3_bucket_config.drifted(
            desired,
            {"object_ownership": "BucketOwnerEnforced", "tags": {"Project": "p", "Count": "3"}},
        )
        == []
    )
    assert s3_bucket_config.drifted(
        desired, {"object_ownership": "ObjectWriter", "tags": {"Project": "p"}}
    ) == [
        "object_ownership",
        "tags",
    ]


def test_notification_as_s3_answers_it_is_no_drift():
    desired = s3_bucket_config.desired_settings(dict(lambda_notifications=[UPLOAD_RULE]))
    answer = {
        "LambdaFunctionConfigurations": [
            {
                "Id": "image-upload",
                "LambdaFunctionArn": UPLOAD_RULE["lambda_function_arn"],
                "Events": ["s3:ObjectCreated:*"],
                # capitalised names; the empty prefix community.aws.s3_bucket_notification wrote
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": "Suffix", "Value": ".jpg"},
                            {"Name": "Prefix", "Value": ""},
                        ]
                    }
                },
            },
            {
                "Id": "someone-else",
                "LambdaFunctionArn": "arn:other",
                "Events": ["s3:ObjectRemoved:*"],
            },
        ]
    }
    current = {
        "lambda_notifications": s3_bucket_config.own_notifications(
            desired["lambda_notifications"], answer
        )
    }
    assert s3_bucket_config.drifted(desired, current) == []
    current["lambda_notifications"][0]["Events"] = ["s3:ObjectCreated:Put"]
    assert s3_bucket_config.drifted(desired, current) == ["lambda_notifications"]


def test_notification_write_keeps_what_is_not_ours():
    ours = [s3_bucket_config.desired_notification(UPLOAD_RULE)]
    current = {
        "ResponseMetadata": {},
        "QueueConfigurations": [{"Id": "q", "QueueArn": "arn:q", "Events": ["s3:ObjectCreated:*"]}],
        "LambdaFunctionConfigurations": [
            {
                "Id": "image-upload",
                "LambdaFunctionArn": "arn:old",
                "Events": ["s3:ObjectCreated:*"],
            },
            {
                "Id": "someone-else",
                "LambdaFunctionArn": "arn:other",
                "Events": ["s3:ObjectRemoved:*"],
            },
        ],
    }
    merged = s3_bucket_config.merged_notifications(ours, current)
    assert set(merged) == {"QueueConfigurations", "LambdaFunctionConfigurations"}
    assert [c["Id"] for c in merged["LambdaFunctionConfigurations"]] == [
        "someone-else",
        "image-upload",
    ]
    assert merged["LambdaFunctionConfigurations"][1]["Filter"] == {
        "Key": {"FilterRules": [{"Name": "suffix", "Value": ".jpg"}]}
    }


# --- lambda_invoke_config: the invoke permissions ------------------------------------------

S3_PERMISSION = {
    "statement_id": "s3-upload-bucket-invoke",
    "action": "lambda:InvokeFunction",
    "principal": "s3.amazonaws.com",
    "source_arn": "arn:aws:s3:::uploads",
    "source_account": "123456789012",
}
POLICY = (
    '{"Version": "2012-10-17", "Id": "default", "Statement": ['
    '{"Sid": "s3-upload-bucket-invoke", "Effect": "Allow", "Action": "lambda:InvokeFunction",'
    ' "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",'
    ' "Principal": {"Service": "s3.amazonaws.com"},'
    ' "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads"},'
    ' "StringEquals": {"AWS:SourceAccount": "123456789012"}}},'
    '{"Sid": "other", "Effect": "Allow", "Action": "lambda:InvokeFunction",'
    ' "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",'
    ' "Principal": {"Service": "sns.amazonaws.com"}}]}'
)


def test_deployed_permission_compares_equal_and_other_statements_are_ignored():
    wanted = lambda_invoke_config.desired_permissions([S3_PERMISSION])
    assert lambda_invoke_config.current_permissions(POLICY, set(wanted)) == wanted
    assert lambda_invoke_config.current_permissions(None, set(wanted)) == {}


def test_changed_source_arn_is_drift():
    wanted = lambda_invoke_config.desired_permissions(
        [dict(S3_PERMISSION, source_arn="arn:aws:s3:::other")]
    )
    assert lambda_invoke_config.current_permissions(POLICY, set(wanted)) != wanted
