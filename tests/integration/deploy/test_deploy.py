"""site.yml from empty, idempotence, drift in check mode, input validation, least privilege and
teardown, against the dev inventory. The tests run in file order and share one stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from parliament import analyze_policy_string

pytestmark = pytest.mark.emulator

REPO = Path(__file__).resolve().parents[3]
NAME = "image-processor-dev"
BUCKETS = [f"{NAME}-uploads", f"{NAME}-processed"]


@pytest.fixture(scope="module")
def converged(playbook):
    run = playbook("site.yml")
    assert run.returncode == 0, run.output[-4000:]
    return run


def test_site_converges_from_empty_and_writes_outputs(converged, aws):
    outputs = json.loads((REPO / "outputs" / "dev.json").read_text())
    assert (
        outputs["function_name"] == NAME and len(outputs["alarm_names"]) == 11
    )  # no-invocations off
    assert outputs["alerts_inbox_queue_url"] and outputs["endpoint_url"]
    alarms = aws("cloudwatch").describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(outputs["alarm_names"])


def test_second_run_changes_nothing(converged, playbook):
    run = playbook("site.yml")
    assert run.returncode == 0 and run.changed == 0, run.output[-4000:]


def test_check_mode_on_converged_stack_reports_nothing(converged, playbook):
    run = playbook("site.yml", "--check", "--diff")
    assert run.returncode == 0 and run.changed == 0, run.output[-4000:]


def test_check_mode_reports_exactly_the_manual_edits(converged, playbook, aws):
    cloudwatch, s3 = aws("cloudwatch"), aws("s3")
    alarm = cloudwatch.describe_alarms(AlarmNames=[f"{NAME}-throttles"])["MetricAlarms"][0]
    keep = (
        "AlarmName",
        "AlarmDescription",
        "AlarmActions",
        "OKActions",
        "MetricName",
        "Namespace",
        "Statistic",
        "Dimensions",
        "Period",
        "EvaluationPeriods",
        "DatapointsToAlarm",
        "ComparisonOperator",
        "TreatMissingData",
    )
    cloudwatch.put_metric_alarm(**{k: alarm[k] for k in keep if k in alarm}, Threshold=99.0)
    s3.put_public_access_block(
        Bucket=BUCKETS[0],
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True,
        },
    )
    body = json.loads(cloudwatch.get_dashboard(DashboardName=NAME)["DashboardBody"])
    body["widgets"].pop()
    cloudwatch.put_dashboard(DashboardName=NAME, DashboardBody=json.dumps(body))

    run = playbook("site.yml", "--check", "--diff")
    assert run.returncode == 0 and run.changed == 3, run.output[-6000:]
    assert '"Threshold": 99' in run.output or "Threshold: 99" in run.output
    assert "BlockPublicPolicy" in run.output and "Recent failures" in run.output

    repair = playbook("site.yml")
    assert repair.returncode == 0 and repair.changed == 3, repair.output[-4000:]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"lambda_timeout": "soon"}, "lambda_function_timeout"),
        ({"error_threshold": -1}, "thresholds not a number >= 0"),
        ({"environment": "qa"}, "s3_buckets_environment"),
        ({"project_name": "Bad_Bucket"}, "bucket names must be"),
    ],
)
def test_bad_input_fails_before_any_change(converged, playbook, extra, expected):
    run = playbook("site.yml", "-e", json.dumps(extra))
    assert run.returncode != 0 and expected in run.output, run.output[-3000:]
    assert "changed=0" in run.output and "Run lambda/build.py" not in run.output


def test_function_policy_is_least_privilege(converged, aws):
    document = aws("iam").get_role_policy(RoleName=f"{NAME}-role", PolicyName=f"{NAME}-runtime")[
        "PolicyDocument"
    ]
    text = document if isinstance(document, str) else json.dumps(document)
    assert analyze_policy_string(text).findings == []
    for statement in json.loads(text)["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert all("*" not in action for action in actions), statement
        if statement["Resource"] == "*":
            # PutMetricData has no resource type: AWS requires "*"; the namespace
            # condition scopes it
            assert actions == ["cloudwatch:PutMetricData"]
            assert (
                statement["Condition"]["StringEquals"]["cloudwatch:namespace"] == "ImageProcessor"
            )


def test_teardown_leaves_nothing_and_is_idempotent(converged, playbook, aws):
    run = playbook("teardown.yml")
    assert run.returncode == 0, run.output[-4000:]
    again = playbook("teardown.yml")
    assert again.returncode == 0 and again.changed == 0, again.output[-4000:]
    assert not [b for b in aws("s3").list_buckets()["Buckets"] if b["Name"].startswith(NAME)]
    assert not [
        f for f in aws("lambda").list_functions()["Functions"] if f["FunctionName"].startswith(NAME)
    ]
    assert not [
        layer
        for layer in aws("lambda").list_layers()["Layers"]
        if layer["LayerName"].startswith(NAME)
    ]
    assert not aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{NAME}")[
        "logGroups"
    ]
    assert not aws("cloudwatch").describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"]
    assert not aws("cloudwatch").list_dashboards(DashboardNamePrefix=NAME)["DashboardEntries"]
    assert not [t for t in aws("sns").list_topics()["Topics"] if f":{NAME}-" in t["TopicArn"]]
    assert not aws("sqs").list_queues(QueueNamePrefix=NAME).get("QueueUrls")
    assert not [r for r in aws("iam").list_roles()["Roles"] if r["RoleName"].startswith(NAME)]
