"""The deploy acceptance tests: input validation and least privilege (fast, no converge), then on
one stack of its own names (conftest.STACK_VARS): site.yml from empty, idempotence, drift in
check mode, teardown. The slow ones (more than one converge) run in file order and share the
stack; `make test` runs only the fast ones (`-m "not slow"`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jinja2
import pytest
from parliament import analyze_policy_string

pytestmark = pytest.mark.emulator

REPO = Path(__file__).resolve().parents[3]
# Names of our own (extra vars of every run, see conftest): never the `dev` stack of Molecule
PROJECT = "imgproc-accept"
STACK_VARS = {"project_name": PROJECT, "bucket_name_suffix": "-accept"}
NAME = f"{PROJECT}-dev"  # <project_name>-<environment>: every resource name starts with it
BUCKETS = [
    f"{NAME}-uploads{STACK_VARS['bucket_name_suffix']}",
    f"{NAME}-processed{STACK_VARS['bucket_name_suffix']}",
]
ALARMS_ENABLED = 11  # the catalog without the no-invocations alarm (off on dev)


# --- fast: rejected before any change --------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"lambda_timeout": "soon"}, "lambda_function_timeout"),
        ({"lambda_memory_size": 64}, "memory 128-10240 MB"),
        ({"error_threshold": -1}, "thresholds not a number >= 0"),
        ({"error_threshold": "high"}, "thresholds not a number >= 0"),
        ({"environment": "qa"}, "must be one of: dev, staging, prod, got: qa"),
        ({"project_name": "Bad_Bucket"}, "bucket names must be"),
        ({"bucket_name_suffix": "-x..y"}, "bucket names must be"),
    ],
)
def test_bad_input_fails_before_any_change(offline_playbook, extra, expected):
    """Against an endpoint where nothing answers: any AWS call would be a connection error."""
    run = offline_playbook("site.yml", "-e", json.dumps(extra))
    assert run.returncode != 0 and expected in run.output, run.output[-3000:]
    assert run.changed == 0, run.output[-3000:]
    assert "Run lambda/build.py" not in run.output and "Could not connect" not in run.output


def _execution_policy(kms_key_arn: str = "") -> str:
    template = (REPO / "roles/lambda_function/templates/execution_policy.json.j2").read_text()
    return jinja2.Template(template).render(
        lambda_function_upload_bucket=BUCKETS[0],
        lambda_function_processed_bucket=BUCKETS[1],
        lambda_function_region="us-east-1",
        __lambda_function_account_id="123456789012",
        __lambda_function_log_group=f"/aws/lambda/{NAME}",
        lambda_function_metrics_namespace="ImageProcessor",
        __lambda_function_dlq_arn=f"arn:aws:sqs:us-east-1:123456789012:{NAME}-dlq",
        lambda_function_bucket_kms_key_arn=kms_key_arn,
    )


def assert_least_privilege(text: str) -> None:
    assert analyze_policy_string(text).findings == []
    for statement in json.loads(text)["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        assert all("*" not in action for action in actions), statement
        if "*" in resources:
            # PutMetricData has no resource type: AWS requires "*"; the namespace
            # condition scopes it
            assert actions == ["cloudwatch:PutMetricData"] and resources == ["*"], statement
            assert (
                statement["Condition"]["StringEquals"]["cloudwatch:namespace"] == "ImageProcessor"
            )


@pytest.mark.parametrize(
    "kms_key_arn",
    ["", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
)
def test_function_policy_is_least_privilege(kms_key_arn):
    """The policy the role renders (S3 encryption AES256, and aws:kms with a bucket key)."""
    assert_least_privilege(_execution_policy(kms_key_arn))


# --- slow: one stack, converged from empty ---------------------------------------------------


def leftovers(aws) -> dict[str, list[str]]:
    """Every resource of ours, by type (the test stack's names all start with NAME)."""
    lam, logs, cloudwatch, sns = aws("lambda"), aws("logs"), aws("cloudwatch"), aws("sns")
    found = {
        "s3 buckets": [
            b["Name"] for b in aws("s3").list_buckets()["Buckets"] if b["Name"].startswith(NAME)
        ],
        "lambda functions": [
            f["FunctionName"]
            for f in lam.list_functions()["Functions"]
            if f["FunctionName"].startswith(NAME)
        ],
        # ListLayers fails on LocalStack 4.14 once a layer has no version left: ask for ours
        "lambda layer versions": [
            v["LayerVersionArn"]
            for v in lam.list_layer_versions(LayerName=f"{NAME}-pillow")["LayerVersions"]
        ],
        "log groups": [
            g["logGroupName"]
            for g in logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{NAME}")["logGroups"]
        ],
        "metric filters": [
            f["filterName"]
            for f in logs.describe_metric_filters(filterNamePrefix=NAME)["metricFilters"]
        ],
        "alarms": [
            a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"]
        ],
        "dashboards": [
            d["DashboardName"]
            for d in cloudwatch.list_dashboards(DashboardNamePrefix=NAME)["DashboardEntries"]
        ],
        "sns topics": [
            t["TopicArn"] for t in sns.list_topics()["Topics"] if f":{NAME}-" in t["TopicArn"]
        ],
        "sns subscriptions": [
            s["SubscriptionArn"]
            for s in sns.list_subscriptions()["Subscriptions"]
            if f":{NAME}-" in s["TopicArn"]
        ],
        "sqs queues": aws("sqs").list_queues(QueueNamePrefix=NAME).get("QueueUrls", []),
        "iam roles": [
            r["RoleName"]
            for r in aws("iam").list_roles()["Roles"]
            if r["RoleName"].startswith(NAME)
        ],
    }
    return {kind: names for kind, names in found.items() if names}


@pytest.fixture(scope="module")
def converged(playbook, aws):
    """site.yml from empty: tear any earlier test stack down first."""
    assert playbook("teardown.yml").returncode == 0
    assert leftovers(aws) == {}
    run = playbook("site.yml")
    assert run.returncode == 0, run.output[-4000:]
    return run


@pytest.mark.slow
def test_site_converges_from_empty_and_writes_outputs(converged, aws, outputs_dir):
    outputs = json.loads((outputs_dir / "dev.json").read_text())
    assert outputs["function_name"] == NAME and len(outputs["alarm_names"]) == ALARMS_ENABLED
    assert outputs["upload_bucket"] == BUCKETS[0] and outputs["processed_bucket"] == BUCKETS[1]
    assert outputs["alerts_inbox_queue_url"] and outputs["endpoint_url"]
    alarms = aws("cloudwatch").describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(outputs["alarm_names"])
    assert all(a["AlarmActions"] and a["OKActions"] for a in alarms)
    assert set(leftovers(aws)) == {
        "s3 buckets",
        "lambda functions",
        "lambda layer versions",
        "log groups",
        "metric filters",
        "alarms",
        "dashboards",
        "sns topics",
        "sns subscriptions",
        "sqs queues",
        "iam roles",
    }


@pytest.mark.slow
def test_second_run_changes_nothing(converged, playbook):
    run = playbook("site.yml")
    assert run.returncode == 0 and run.changed == 0, run.output[-4000:]


@pytest.mark.slow
def test_check_mode_on_converged_stack_reports_nothing(converged, playbook):
    run = playbook("site.yml", "--check", "--diff")
    assert run.returncode == 0 and run.changed == 0, run.output[-4000:]


@pytest.mark.slow
def test_deployed_function_policy_is_least_privilege(converged, aws):
    document = aws("iam").get_role_policy(RoleName=f"{NAME}-role", PolicyName=f"{NAME}-runtime")[
        "PolicyDocument"
    ]
    assert_least_privilege(document if isinstance(document, str) else json.dumps(document))


@pytest.mark.slow
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
    removed = body["widgets"].pop()
    cloudwatch.put_dashboard(DashboardName=NAME, DashboardBody=json.dumps(body))

    run = playbook("site.yml", "--check", "--diff", "-v")
    assert run.returncode == 0 and run.changed == 3, run.output[-6000:]
    assert "Threshold: 99" in run.output or '"Threshold": 99' in run.output, run.output[-6000:]
    assert "BlockPublicPolicy" in run.output and removed["properties"]["title"] in run.output
    # exactly those: one alarm, one setting of one bucket (the -v results of the batch modules)
    assert re.search(rf"changed_alarms:\n\s*- {NAME}-throttles\n(?!\s*- )", run.output), run.output[
        -6000:
    ]
    assert (
        len(re.findall(r"changed_settings:\n\s*- public_access_block\n(?!\s*- )", run.output)) == 1
    )
    assert len(re.findall(r"changed_settings: \[\]", run.output)) == 1, run.output[-6000:]
    repair = playbook("site.yml")
    assert repair.returncode == 0 and repair.changed == 3, repair.output[-4000:]
    again = playbook("site.yml", "--check")
    assert again.returncode == 0 and again.changed == 0, again.output[-4000:]


@pytest.mark.slow
def test_teardown_leaves_nothing_and_is_idempotent(converged, playbook, aws):
    run = playbook("teardown.yml")
    assert run.returncode == 0, run.output[-4000:]
    assert leftovers(aws) == {}
    again = playbook("teardown.yml")
    assert again.returncode == 0 and again.changed == 0, again.output[-4000:]
    assert leftovers(aws) == {}
