"""The pure checks of `tools.imgops verify`: each passes on what the roles deploy and names the
broken thing when one setting is off."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tools.imgops.alerts import Alert
from tools.imgops.failures import FailureRecord
from tools.imgops.stack import ToolError
from tools.imgops.verify import (
    AlarmContext,
    CheckResult,
    Expectations,
    PolicyScope,
    VariantFacts,
    check_alarms,
    check_alert,
    check_dashboard,
    check_encryption,
    check_environment,
    check_execution_policy,
    check_failure_records,
    check_function_configuration,
    check_invoke_config,
    check_layers,
    check_lifecycle,
    check_log_group,
    check_metric_filters,
    check_notification,
    check_public_access_block,
    check_reserved_concurrency,
    check_subscriptions,
    check_tls_only_policy,
    check_variants,
    check_versioning,
    dashboard_metrics,
    load_catalog,
    load_expectations,
    notified_qualifiers,
    print_results,
)

REPO = Path(__file__).resolve().parents[3]
ACCOUNT, REGION = "000000000000", "us-east-1"
FN = "image-processor-dev"
FN_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FN}"
DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{FN}-dlq"
CRITICAL = f"arn:aws:sns:{REGION}:{ACCOUNT}:{FN}-critical"
WARNING = f"arn:aws:sns:{REGION}:{ACCOUNT}:{FN}-warning"
INBOX = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{FN}-alerts-inbox"
LOG_GROUP = f"/aws/lambda/{FN}"
UPLOADS, PROCESSED = f"{FN}-uploads", f"{FN}-processed"
CATALOG = load_catalog()
ENABLED = [f"{FN}-{e['id']}" for e in CATALOG if "enabled_by" not in e]

EXPECT_JSON: dict[str, Any] = {
    "buckets": {
        "encryption": "AES256",
        "kms_key_id": "",
        "versioning": False,
        "noncurrent_version_expiration_days": 30,
        "abort_incomplete_multipart_days": 7,
        "notification_prefix": "",
        "notification_suffixes": [],
    },
    "function": {
        "runtime": "python3.12",
        "handler": "lambda_function.lambda_handler",
        "memory_size": 1024,
        "timeout": 60,
        "architecture": "x86_64",
        "reserved_concurrency": None,
        "use_layer": True,
        "layer_name": f"{FN}-pillow",
        "environment": {
            "PROCESSED_BUCKET": PROCESSED,
            "OUTPUT_KEY_TEMPLATE": "{stem}/{variant}.{ext}",
            "METRICS_NAMESPACE": "ImageProcessor",
            "LOG_LEVEL": "DEBUG",
        },
        "async_retry_attempts": 2,
        "async_max_event_age_seconds": 3600,
        "bucket_kms_key_arn": "",
        "log_retention_days": 3,
    },
    "alerts": {"email_subscribers": [], "alerts_inbox_enabled": True},
    "alarms": {
        "name_prefix": FN,
        "names": ENABLED,
        "filter_name_prefix": FN,
        "error_alarm_fires_on_one_failure": True,
    },
    "dashboard": {"enabled": True},
}
EXP = Expectations.from_json(EXPECT_JSON)


def expect(**changes: Any) -> Expectations:
    data = copy.deepcopy(EXPECT_JSON)
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        data[section][key] = value
    return Expectations.from_json(data)


def only(problems: list[str], *fragments: str) -> None:
    """Exactly one problem, naming every fragment."""
    assert len(problems) == 1, problems
    for fragment in fragments:
        assert fragment in problems[0], problems[0]


# ---- expectations ----------------------------------------------------------------------------


def test_expectations_parse_sections_and_reject_unknown_keys() -> None:
    assert EXP.memory_size == 1024 and EXP.alarm_names == tuple(ENABLED)
    assert load_expectations(json.dumps(EXPECT_JSON), "dev") == EXP
    broken = copy.deepcopy(EXPECT_JSON)
    broken["function"]["memory"] = 512
    with pytest.raises(ToolError, match=r"function\.memory"):
        Expectations.from_json(broken)
    with pytest.raises(ToolError, match="not JSON"):
        load_expectations("{nope", "dev")


def test_the_group_vars_file_only_uses_keys_the_tool_knows() -> None:
    """Every key of image_processor_verify_expectations is one Expectations.from_json accepts."""
    import yaml

    data = yaml.safe_load((REPO / "playbooks/group_vars/all/verify.yml").read_text())
    rendered_keys = {
        section: dict.fromkeys(values, 0)
        for section, values in data["image_processor_verify_expectations"].items()
    }
    known = {section: set(values) for section, values in EXPECT_JSON.items()}
    assert {s: set(v) for s, v in rendered_keys.items()} == known


# ---- buckets ---------------------------------------------------------------------------------


def test_encryption() -> None:
    sse = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    assert check_encryption("b", {"ServerSideEncryptionConfiguration": sse}, EXP) == []
    only(check_encryption("b", None, EXP), "bucket b", "no default encryption")
    kms = expect(buckets__encryption="aws:kms", buckets__kms_key_id="arn:aws:kms:r:1:key/abc")
    problems = check_encryption("b", {"ServerSideEncryptionConfiguration": sse}, kms)
    assert problems[0] == "bucket b: SSE algorithm AES256, expected aws:kms", problems
    with_key = {
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": "arn:aws:kms:r:1:key/other",
                }
            }
        ]
    }
    only(
        check_encryption("b", {"ServerSideEncryptionConfiguration": with_key}, kms),
        "KMS key arn:aws:kms:r:1:key/other",
    )


def test_public_access_block() -> None:
    names = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    good = {"PublicAccessBlockConfiguration": dict.fromkeys(names, True)}
    assert check_public_access_block("b", good) == []
    bad = copy.deepcopy(good)
    bad["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] = False
    only(check_public_access_block("b", bad), "RestrictPublicBuckets")
    only(check_public_access_block("b", None), "BlockPublicAcls", "RestrictPublicBuckets")


def tls_policy(bucket: str, secure: str = "false", effect: str = "Deny") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": effect,
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": secure}},
                }
            ],
        }
    )


def test_tls_only_policy() -> None:
    template = (REPO / "roles/s3_buckets/templates/tls_only_policy.json.j2").read_text()
    deployed = template.replace("{{ bucket }}", "b")
    assert check_tls_only_policy("b", deployed) == []
    assert check_tls_only_policy("b", tls_policy("b")) == []
    only(check_tls_only_policy("b", None), "no bucket policy")
    only(check_tls_only_policy("b", tls_policy("b", secure="true")), "aws:SecureTransport")
    only(check_tls_only_policy("b", tls_policy("b", effect="Allow")), "no Deny")
    only(check_tls_only_policy("b", tls_policy("other")), "arn:aws:s3:::b/*")


def test_versioning() -> None:
    assert check_versioning("b", None, False) == []
    assert check_versioning("b", "Enabled", True) == []
    only(check_versioning("b", "Suspended", True), "Suspended", "expected Enabled")
    only(check_versioning("b", "Enabled", False), "expected off")


LIFECYCLE = [
    {
        "ID": "abort-incomplete-multipart-uploads",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    },
    {
        "ID": "expire-noncurrent-versions",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
    },
]


def test_lifecycle() -> None:
    assert check_lifecycle("b", LIFECYCLE, EXP) == []
    disabled = copy.deepcopy(LIFECYCLE)
    disabled[0]["Status"] = "Disabled"
    only(check_lifecycle("b", disabled, EXP), "aborting incomplete multipart uploads after 7")
    scoped = copy.deepcopy(LIFECYCLE)
    scoped[1]["Filter"] = {"Prefix": "tmp/"}
    only(check_lifecycle("b", scoped, EXP), "noncurrent versions after 30")
    assert len(check_lifecycle("b", None, EXP)) == 2
    only(
        check_lifecycle("b", LIFECYCLE, expect(buckets__abort_incomplete_multipart_days=3)),
        "(found 7)",
    )


def notification(*rules: tuple[str, str], arn: str = FN_ARN) -> dict[str, Any]:
    configs = []
    for prefix, suffix in rules:
        filters = [
            {"Name": n, "Value": v} for n, v in (("Prefix", prefix), ("Suffix", suffix)) if v
        ]
        configs.append(
            {
                "Id": "image-upload",
                "LambdaFunctionArn": arn,
                "Events": ["s3:ObjectCreated:*"],
                **({"Filter": {"Key": {"FilterRules": filters}}} if filters else {}),
            }
        )
    return {"LambdaFunctionConfigurations": configs}


def test_notification() -> None:
    assert check_notification(UPLOADS, notification(("", "")), FN_ARN, EXP) == []
    only(
        check_notification(UPLOADS, {}, FN_ARN, EXP),
        f"upload bucket notification: no LambdaFunctionConfiguration for {FN_ARN}",
    )
    only(
        check_notification(UPLOADS, notification(("", ""), arn=FN_ARN + "-other"), FN_ARN, EXP),
        "no",
    )
    # A versioned ARN is the same function
    assert check_notification(UPLOADS, notification(("", ""), arn=FN_ARN + ":1"), FN_ARN, EXP) == []
    filtered = expect(
        buckets__notification_prefix="in/", buckets__notification_suffixes=[".jpg", ".png"]
    )
    good = notification(("in/", ".jpg"), ("in/", ".png"))
    assert check_notification(UPLOADS, good, FN_ARN, filtered) == []
    only(
        check_notification(UPLOADS, notification(("in/", ".jpg")), FN_ARN, filtered),
        "prefix 'in/' suffix '.png'",
    )
    problems = check_notification(UPLOADS, notification(("", "")), FN_ARN, filtered)
    assert len(problems) == 3 and any("unexpected rule prefix ''" in p for p in problems)
    wrong_events = notification(("", ""))
    wrong_events["LambdaFunctionConfigurations"][0]["Events"] = ["s3:ObjectRemoved:*"]
    only(check_notification(UPLOADS, wrong_events, FN_ARN, EXP), "s3:ObjectCreated:*")


# ---- function --------------------------------------------------------------------------------


CONFIG = {
    "FunctionName": FN,
    "Runtime": "python3.12",
    "Handler": "lambda_function.lambda_handler",
    "MemorySize": 1024,
    "Timeout": 60,
    "Architectures": ["x86_64"],
    "State": "Active",
}


def test_function_configuration() -> None:
    assert check_function_configuration(CONFIG, EXP) == []
    only(check_function_configuration({**CONFIG, "MemorySize": 512}, EXP), "memory 512", "1024")
    only(check_function_configuration({**CONFIG, "Runtime": "python3.11"}, EXP), "runtime")
    only(check_function_configuration({**CONFIG, "Handler": "x.y"}, EXP), "handler 'x.y'")
    only(check_function_configuration({**CONFIG, "Timeout": 3}, EXP), "timeout 3")
    only(check_function_configuration({**CONFIG, "Architectures": ["arm64"]}, EXP), "arm64")


def test_environment() -> None:
    env = dict(EXPECT_JSON["function"]["environment"])
    assert check_environment(FN, env, EXP, PROCESSED) == []
    only(
        check_environment(FN, {**env, "PROCESSED_BUCKET": "missing"}, EXP, PROCESSED),
        "PROCESSED_BUCKET='missing'",
    )
    only(check_environment(FN, {**env, "LOG_LEVEL": "INFO"}, EXP, PROCESSED), "LOG_LEVEL='INFO'")
    without = {k: v for k, v in env.items() if k != "METRICS_NAMESPACE"}
    only(check_environment(FN, without, EXP, PROCESSED), "METRICS_NAMESPACE missing")
    only(
        check_environment(FN, {**env, "DEBUG_HACK": "1"}, EXP, PROCESSED), "DEBUG_HACK", "contracts"
    )


def test_layers_and_concurrency() -> None:
    layer = [{"Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{FN}-pillow:3"}]
    assert check_layers(FN, layer, EXP) == []
    only(check_layers(FN, [], EXP), f"layer {FN}-pillow not attached")
    bundled = expect(function__use_layer=False)
    assert check_layers(FN, [], bundled) == []
    only(check_layers(FN, layer, bundled), "bundled")
    assert check_reserved_concurrency(FN, None, None) == []
    only(check_reserved_concurrency(FN, None, 50), "reserved concurrency none, expected 50")
    only(check_reserved_concurrency(FN, 10, None), "10, expected none")


def test_invoke_config() -> None:
    good = {
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 3600,
        "DestinationConfig": {"OnFailure": {"Destination": DLQ}},
    }
    assert check_invoke_config(FN, good, DLQ, EXP) == []
    only(check_invoke_config(FN, None, DLQ, EXP), "no async invoke configuration")
    only(
        check_invoke_config(FN, {**good, "DestinationConfig": {}}, DLQ, EXP),
        "OnFailure destination None",
        DLQ,
    )
    only(check_invoke_config(FN, {**good, "MaximumRetryAttempts": 0}, DLQ, EXP), "MaximumRetry")


SCOPE = PolicyScope(
    upload_bucket=UPLOADS,
    processed_bucket=PROCESSED,
    log_group_arn=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}",
    dlq_arn=DLQ,
    namespace="ImageProcessor",
)


def deployed_policy(kms: str = "") -> dict[str, Any]:
    """roles/lambda_function/templates/execution_policy.json.j2, rendered by hand."""
    text = (REPO / "roles/lambda_function/templates/execution_policy.json.j2").read_text()
    text = text.split("{% if")[0].rstrip() + "\n  ]\n}"
    for name, value in {
        "lambda_function_upload_bucket": UPLOADS,
        "lambda_function_processed_bucket": PROCESSED,
        "lambda_function_region": REGION,
        "__lambda_function_account_id": ACCOUNT,
        "__lambda_function_log_group": LOG_GROUP,
        "lambda_function_metrics_namespace": "ImageProcessor",
        "__lambda_function_dlq_arn": DLQ,
    }.items():
        text = text.replace("{{ " + name + " }}", value)
    document = json.loads(text)
    if kms:
        document["Statement"].append(
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": kms}
        )
    return document


def test_execution_policy_as_deployed_is_least_privilege() -> None:
    assert check_execution_policy("r", {"p": deployed_policy()}, [], SCOPE) == []
    kms = "arn:aws:kms:us-east-1:0:key/k"
    scope = PolicyScope(**{**SCOPE.__dict__, "kms_key_arn": kms})
    assert check_execution_policy("r", {"p": deployed_policy(kms)}, [], scope) == []
    assert check_execution_policy("r", {"p": deployed_policy()}, [], scope) == [
        f"role r: no kms:Decrypt on {kms}",
        f"role r: no kms:GenerateDataKey on {kms}",
    ]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda s: s[0].update(Action="s3:*"), "wildcard action s3:*"),
        (lambda s: s[0].update(Resource="*"), "s3:GetObject on resource *"),
        (lambda s: s[1].update(Resource="arn:aws:s3:::*/*"), "resource arn:aws:s3:::*/*"),
        (lambda s: s[3].pop("Condition"), "without condition StringEquals cloudwatch:namespace"),
        (
            lambda s: s[3].update(Condition={"StringEquals": {"cloudwatch:namespace": "Other"}}),
            "cloudwatch:namespace = ImageProcessor",
        ),
        (lambda s: s.append({"Effect": "Allow", "Action": "*", "Resource": DLQ}), "action *"),
        (lambda s: s.pop(4), f"no sqs:SendMessage on {DLQ}"),
        (
            lambda s: s[2].update(Resource="arn:aws:logs:us-east-1:0:log-group:/aws/lambda/x:*"),
            "not one of the stack's ARNs",
        ),
    ],
)
def test_execution_policy_breakage_is_named(change: Any, fragment: str) -> None:
    document = deployed_policy()
    change(document["Statement"])
    problems = check_execution_policy("r", {"p": document}, [], SCOPE)
    assert any(fragment in p for p in problems), problems


def test_execution_policy_managed_policies_and_none() -> None:
    basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    only(check_execution_policy("r", {"p": deployed_policy()}, [basic], SCOPE), basic)
    assert "no inline policy" in check_execution_policy("r", {}, [], SCOPE)[-1]


def test_log_group() -> None:
    assert check_log_group(LOG_GROUP, [{"logGroupName": LOG_GROUP, "retentionInDays": 3}], 3) == []
    only(check_log_group(LOG_GROUP, [], 3), "does not exist")
    only(check_log_group(LOG_GROUP, [{"logGroupName": LOG_GROUP}], 3), "retention None")


# ---- topics, alarms, filters, dashboard ------------------------------------------------------


def test_subscriptions() -> None:
    inbox = [{"Protocol": "sqs", "Endpoint": INBOX}]
    assert check_subscriptions(CRITICAL, inbox, EXP, INBOX) == []
    only(check_subscriptions(CRITICAL, [], EXP, INBOX), "alerts inbox", "is not subscribed")
    email = expect(alerts__alerts_inbox_enabled=False, alerts__email_subscribers=["a@example.com"])
    mail = [{"Protocol": "email", "Endpoint": "a@example.com"}]
    assert check_subscriptions(CRITICAL, mail, email, None) == []
    only(check_subscriptions(CRITICAL, [], email, None), "no email subscription for a@example.com")
    only(check_subscriptions(CRITICAL, mail, email, INBOX), "inbox disabled")


CONTEXT = AlarmContext(FN, FN, "ImageProcessor", {"critical": CRITICAL, "warning": WARNING})


def deployed_alarms() -> dict[str, dict[str, Any]]:
    """What roles/cloudwatch_alarms puts for each enabled catalog entry."""
    alarms = {}
    for entry in CATALOG:
        if "enabled_by" in entry:
            continue
        topic = CRITICAL if entry["severity"] == "critical" else WARNING
        alarm: dict[str, Any] = {
            "AlarmName": f"{FN}-{entry['id']}",
            "AlarmActions": [topic],
            "OKActions": [topic],
            "ActionsEnabled": True,
            "ComparisonOperator": entry["comparison"],
        }
        if entry["signal"] == "math":
            alarm["Metrics"] = [{"Id": "rate", "Expression": entry["expression"]}]
        else:
            alarm["Namespace"] = "AWS/Lambda" if entry["signal"] == "lambda" else "ImageProcessor"
            alarm["MetricName"] = entry["metric_name"]
            alarm["Dimensions"] = (
                [{"Name": "FunctionName", "Value": FN}] if entry["signal"] != "log" else []
            )
        alarms[alarm["AlarmName"]] = alarm
    return alarms


def test_alarms_as_deployed() -> None:
    assert check_alarms(deployed_alarms(), CATALOG, ENABLED, ENABLED, CONTEXT) == []


def test_alarm_without_actions_is_named() -> None:
    alarms = deployed_alarms()
    alarms[f"{FN}-errors"]["AlarmActions"] = []
    only(
        check_alarms(alarms, CATALOG, ENABLED, ENABLED, CONTEXT),
        f"alarm {FN}-errors: AlarmActions [] does not contain the critical topic {CRITICAL}",
    )


def test_alarm_on_the_wrong_topic_metric_or_missing() -> None:
    alarms = deployed_alarms()
    alarms[f"{FN}-throttles"]["OKActions"] = [CRITICAL]
    alarms[f"{FN}-memory-used"]["Dimensions"] = [{"Name": "FunctionName", "Value": "other"}]
    del alarms[f"{FN}-timeouts"]
    problems = check_alarms(alarms, CATALOG, ENABLED, ENABLED, CONTEXT)
    assert len(problems) == 3, problems
    assert any(f"{FN}-throttles: OKActions" in p and WARNING in p for p in problems)
    assert any(
        "memory-used: watches ImageProcessor/MemoryUsedPercent{FunctionName=other}" in p
        for p in problems
    )
    assert f"alarm {FN}-timeouts does not exist" in problems


def test_switched_off_alarm_must_not_exist_and_outputs_must_agree() -> None:
    alarms = deployed_alarms()
    alarms[f"{FN}-no-invocations"] = {"AlarmName": f"{FN}-no-invocations"}
    only(
        check_alarms(alarms, CATALOG, ENABLED, ENABLED, CONTEXT),
        "no-invocations exists though it is switched off",
        "enable_no_invocation_alarm",
    )
    only(
        check_alarms(deployed_alarms(), CATALOG, ENABLED, ENABLED[:-1], CONTEXT),
        "outputs alarm_names",
    )
    with_flag = [*ENABLED, f"{FN}-no-invocations"]
    only(
        check_alarms(deployed_alarms(), CATALOG, with_flag, with_flag, CONTEXT),
        "no-invocations does not exist",
    )


def deployed_filters() -> list[dict[str, Any]]:
    return [
        {
            "filterName": f"{FN}-log-{e['id']}",
            "filterPattern": e["filter_pattern"],
            "metricTransformations": [
                {
                    "metricName": e["metric_name"],
                    "metricNamespace": "ImageProcessor",
                    "metricValue": "1",
                }
            ],
        }
        for e in CATALOG
        if e["signal"] == "log"
    ]


def test_metric_filters() -> None:
    assert check_metric_filters(deployed_filters(), CATALOG, FN, LOG_GROUP, "ImageProcessor") == []
    filters = deployed_filters()
    filters[0]["filterPattern"] = '"timed out"'
    only(
        check_metric_filters(filters, CATALOG, FN, LOG_GROUP, "ImageProcessor"),
        "pattern '\"timed out\"'",
    )
    only(
        check_metric_filters(deployed_filters()[1:], CATALOG, FN, LOG_GROUP, "ImageProcessor"),
        f"metric filter {FN}-log-timeouts does not exist",
    )
    problems = check_metric_filters(deployed_filters(), CATALOG, FN, LOG_GROUP, "Other")
    assert len(problems) == 5 and all("expected [('Other'" in p for p in problems)


def dashboard_body() -> dict[str, Any]:
    return {
        "widgets": [
            {
                "type": "metric",
                "properties": {
                    "metrics": [
                        ["AWS/Lambda", "Invocations", "FunctionName", FN],
                        ["...", {"stat": "p95"}],
                        ["ImageProcessor", "Timeouts"],
                        [{"expression": "m0 * 2"}],
                    ]
                },
            },
            {"type": "alarm", "properties": {"alarms": ["arn:alarm:a"]}},
            {"type": "log", "properties": {"query": f"SOURCE '{LOG_GROUP}' | fields @message"}},
        ]
    }


def test_dashboard() -> None:
    body = dashboard_body()
    invocations = ("AWS/Lambda", "Invocations", frozenset({("FunctionName", FN)}))
    timeouts = ("ImageProcessor", "Timeouts", frozenset())
    assert dashboard_metrics(body) == [invocations, timeouts]
    log_metrics = {("ImageProcessor", "Timeouts")}
    listed = {invocations, timeouts}
    assert check_dashboard("d", body, listed, LOG_GROUP, {"arn:alarm:a"}, log_metrics) == ([], [])
    problems, notes = check_dashboard(
        "d", body, {timeouts}, LOG_GROUP, {"arn:alarm:a"}, log_metrics
    )
    only(problems, f"metric AWS/Lambda/Invocations{{FunctionName={FN}}} does not exist")
    # Listed with other dimensions is not the metric shown
    other = ("AWS/Lambda", "Invocations", frozenset({("FunctionName", FN), ("Resource", FN)}))
    assert check_dashboard("d", body, {other, timeouts}, LOG_GROUP, {"arn:alarm:a"}, log_metrics)[0]
    # A log-filter metric that no line has matched yet is a note
    problems, notes = check_dashboard(
        "d", body, {invocations}, LOG_GROUP, {"arn:alarm:a"}, log_metrics
    )
    assert problems == [] and notes == ["Timeouts"]
    only(check_dashboard("d", body, listed, LOG_GROUP, set(), log_metrics)[0], "arn:alarm:a")
    only(
        check_dashboard("d", body, listed, "/aws/lambda/x", {"arn:alarm:a"}, log_metrics)[0],
        "log widget",
    )
    only(
        check_dashboard("d", None, set(), LOG_GROUP, set(), log_metrics)[0],
        "dashboard d does not exist",
    )


def test_dashboard_template_metrics_parse() -> None:
    """The role's template uses forms dashboard_metrics understands (stat options per row)."""
    body = {
        "widgets": [
            {
                "type": "metric",
                "properties": {
                    "stat": "Average",
                    "metrics": [
                        ["AWS/Lambda", "Duration", "FunctionName", FN, {"stat": "p50"}],
                        ["AWS/Lambda", "Duration", "FunctionName", FN, {"stat": "p95"}],
                    ],
                },
            }
        ]
    }
    assert dashboard_metrics(body) == [
        ("AWS/Lambda", "Duration", frozenset({("FunctionName", FN)}))
    ]


# ---- behaviour -------------------------------------------------------------------------------


def variants(full: tuple[int, int], thumb: tuple[int, int]) -> list[VariantFacts]:
    formats = {
        "compressed": ("JPEG", "image/jpeg"),
        "low": ("JPEG", "image/jpeg"),
        "webp": ("WEBP", "image/webp"),
        "png": ("PNG", "image/png"),
        "thumbnail": ("JPEG", "image/jpeg"),
    }
    return [
        VariantFacts(name, f"a/{name}", ctype, fmt, *(thumb if name == "thumbnail" else full))
        for name, (fmt, ctype) in formats.items()
    ]


def test_variants_good() -> None:
    assert check_variants("a.jpg", (640, 480), variants((640, 480), (300, 225))) == []
    # Portrait after EXIF rotation
    assert check_variants("s.jpg", (480, 640), variants((480, 640), (225, 300))) == []
    # Long side over MAX_DIMENSION is scaled down, aspect kept
    assert check_variants("big.jpg", (8000, 6000), variants((4096, 3072), (300, 225))) == []
    # Smaller than the thumbnail: not upscaled
    assert check_variants("tiny.png", (100, 50), variants((100, 50), (100, 50))) == []


def test_variants_broken() -> None:
    only(
        check_variants("a.jpg", (640, 480), variants((640, 480), (300, 300))),
        "does not keep the aspect",
    )
    only(
        check_variants("a.jpg", (640, 480), variants((640, 480), (400, 300))),
        "does not fit 300x300",
    )
    squashed = variants((640, 480), (300, 225))
    squashed[0] = VariantFacts("compressed", "a/compressed", "image/jpeg", "JPEG", 640, 400)
    only(check_variants("a.jpg", (640, 480), squashed), "a/compressed: 640x400, expected 640x480")
    problems = check_variants("big.jpg", (8000, 6000), variants((8000, 6000), (300, 225)))
    assert len(problems) == 4 and all("side over 4096" in p for p in problems)
    wrong = variants((640, 480), (300, 225))
    wrong[2] = VariantFacts("webp", "a/webp", "image/webp", "JPEG", 640, 480)
    only(check_variants("a.jpg", (640, 480), wrong), "a/webp", "format JPEG, expected WEBP")
    only(
        check_variants("a.jpg", (640, 480), variants((640, 480), (300, 225))[:3]),
        "png, thumbnail missing",
    )


def record(key: str | None) -> FailureRecord:
    return FailureRecord(key, "RetriesExhausted", "CorruptImage", "bad", 3, None)


def test_failure_records() -> None:
    assert (
        check_failure_records(
            "v/invalid_image.jpg", [record("other"), record("v/invalid_image.jpg")], 5
        )
        == []
    )
    only(
        check_failure_records("v/invalid_image.jpg", [record("other")], 62),
        "no failure record",
        "62 s",
    )
    two = [record("v/invalid_image.jpg")] * 2
    only(check_failure_records("v/invalid_image.jpg", two, 5), "2 failure records", "exactly one")


def test_alert() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    fired = Alert("inbox", since + timedelta(seconds=5), f"{FN}-errors", "ALARM", "OK", "r")
    assert check_alert(f"{FN}-errors", [fired], "inbox", since) == []
    only(check_alert(f"{FN}-errors", [fired], "email", since), "SES mailbox")
    old = Alert("inbox", since - timedelta(minutes=5), f"{FN}-errors", "ALARM", "OK", "r")
    only(check_alert(f"{FN}-errors", [old], "inbox", since), "alerts inbox: no ALARM message")
    ok = Alert("inbox", since + timedelta(seconds=5), f"{FN}-errors", "OK", "ALARM", "r")
    only(check_alert(f"{FN}-errors", [ok], "inbox", since), f"{FN}-errors")


def test_print_results_marks_each_check(capsys: pytest.CaptureFixture[str]) -> None:
    print_results(
        [
            CheckResult("bucket a", (), "fine"),
            CheckResult("alarms", ("alarm x: AlarmActions [] ...",)),
            CheckResult("alert by email", skipped="real AWS"),
        ]
    )
    out = capsys.readouterr().out
    assert "✓ bucket a" in out and "✗ alarms" in out and "- alert by email" in out
    assert "1 passed, 1 failed, 1 skipped" in out


def test_notified_qualifiers_decide_which_invoke_config_counts() -> None:
    """The OnFailure destination is per qualifier: a notification on version 1 needs version 1's
    invoke config (the unqualified one does not cover it)."""
    assert notified_qualifiers(notification(("", "")), FN) == [None]
    assert notified_qualifiers(notification(("", ""), arn=FN_ARN + ":1"), FN) == ["1"]
    assert notified_qualifiers(notification(("", ""), arn=FN_ARN + "-other"), FN) == []
    only(check_invoke_config(f"{FN}:1", None, DLQ, EXP), f"{FN}:1", "failures are lost")
