"""`python -m tools.imgops verify ENV --expect JSON`: prove that the deployed stack is configured as
the inventory says and behaves as designed (Molecule's verify step, `make verify`).

Everything is fetched once per check group; each `check_*` function is pure (API answers and
expectations in, the list of problems out, each naming exactly what is wrong), so the rules are
unit-tested on good and broken data. The expectations come from the Ansible variable
`image_processor_verify_expectations` (playbooks/group_vars/all/verify.yml); without `--expect`
they are rendered from the inventory with `ansible`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError
from PIL import Image, ImageOps
from rich.markup import escape

from .alerts import Alert, collect_alerts, peek_queue
from .demo import IMAGES_DIR, INVALID_IMAGE, find_error_alarm, sample_images
from .failures import FailureRecord, parse_failure_message
from .report import console
from .stack import Stack, ToolError
from .upload import CLOCK_SLACK, UploadResult, upload_and_wait, upload_files, wait_for_variants
from .widgets import parse_metric_queries

REPO = Path(__file__).resolve().parents[2]
CATALOG_FILE = REPO / "roles" / "cloudwatch_alarms" / "files" / "alarm_catalog.yml"
POLL_SECONDS = 2.0

# docs/contracts.md: every variable the function reads
CONTRACT_VARIABLES = frozenset(
    {
        "PROCESSED_BUCKET",
        "OUTPUT_KEY_TEMPLATE",
        "METRICS_NAMESPACE",
        "LOG_LEVEL",
        "MAX_INPUT_BYTES",
        "MAX_INPUT_PIXELS",
        "MAX_DIMENSION",
        "JPEG_QUALITY",
        "LOW_JPEG_QUALITY",
        "WEBP_QUALITY",
        "THUMBNAIL_SIZE",
        "BACKGROUND_COLOR",
    }
)
DEFAULT_MAX_DIMENSION = 4096
DEFAULT_THUMBNAIL_SIZE = 300
# lambda/README.md: variant -> (Pillow format, Content-Type)
VARIANT_FORMATS = {
    "compressed": ("JPEG", "image/jpeg"),
    "low": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
    "png": ("PNG", "image/png"),
    "thumbnail": ("JPEG", "image/jpeg"),
}
# Actions AWS only grants on Resource "*", with the condition key that must then scope them
WILDCARD_RESOURCE_ACTIONS = {"cloudwatch:PutMetricData": "cloudwatch:namespace"}
ALARM_NAMESPACES = {"lambda": "AWS/Lambda"}

CONFIG_GROUPS = ("buckets", "function", "topics", "alarms", "filters")
BEHAVIOUR_GROUPS = ("variants", "alert", "failure")
GROUPS = (*CONFIG_GROUPS, *BEHAVIOUR_GROUPS, "dashboard")

Problems = list[str]


# ---- expectations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectations:
    encryption: str = "AES256"
    kms_key_id: str = ""
    versioning: bool = False
    noncurrent_version_expiration_days: int = 30
    abort_incomplete_multipart_days: int = 7
    notification_prefix: str = ""
    notification_suffixes: tuple[str, ...] = ()
    runtime: str = "python3.12"
    handler: str = "lambda_function.lambda_handler"
    memory_size: int = 1024
    timeout: int = 60
    architecture: str = "x86_64"
    reserved_concurrency: int | None = None
    use_layer: bool = True
    layer_name: str = ""
    environment: Mapping[str, str] = field(default_factory=dict)
    async_retry_attempts: int = 2
    async_max_event_age_seconds: int = 3600
    bucket_kms_key_arn: str = ""
    log_retention_days: int | None = None
    email_subscribers: tuple[str, ...] = ()
    alerts_inbox_enabled: bool = False
    alarm_name_prefix: str = ""
    alarm_names: tuple[str, ...] = ()
    filter_name_prefix: str = ""
    error_alarm_fires_on_one_failure: bool = False
    dashboard_enabled: bool = True

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Expectations:
        """The nested JSON of `image_processor_verify_expectations`; unknown keys are errors so a
        typo in the variable cannot silently skip a check."""
        sections = {
            "buckets": {
                "encryption": "encryption",
                "kms_key_id": "kms_key_id",
                "versioning": "versioning",
                "noncurrent_version_expiration_days": "noncurrent_version_expiration_days",
                "abort_incomplete_multipart_days": "abort_incomplete_multipart_days",
                "notification_prefix": "notification_prefix",
                "notification_suffixes": "notification_suffixes",
            },
            "function": {
                name: name
                for name in (
                    "runtime",
                    "handler",
                    "memory_size",
                    "timeout",
                    "architecture",
                    "reserved_concurrency",
                    "use_layer",
                    "layer_name",
                    "environment",
                    "async_retry_attempts",
                    "async_max_event_age_seconds",
                    "bucket_kms_key_arn",
                    "log_retention_days",
                )
            },
            "alerts": {
                "email_subscribers": "email_subscribers",
                "alerts_inbox_enabled": "alerts_inbox_enabled",
            },
            "alarms": {
                "name_prefix": "alarm_name_prefix",
                "names": "alarm_names",
                "filter_name_prefix": "filter_name_prefix",
                "error_alarm_fires_on_one_failure": "error_alarm_fires_on_one_failure",
            },
            "dashboard": {"enabled": "dashboard_enabled"},
        }
        values: dict[str, Any] = {}
        unknown = [f"{section}" for section in data if section not in sections]
        for section, names in sections.items():
            given = data.get(section) or {}
            if not isinstance(given, Mapping):
                raise ToolError(f"expectations: {section} must be an object")
            unknown += [f"{section}.{key}" for key in given if key not in names]
            values.update({names[key]: value for key, value in given.items() if key in names})
        if unknown:
            raise ToolError(f"expectations: unknown keys {', '.join(sorted(unknown))}")
        for name in ("notification_suffixes", "email_subscribers", "alarm_names"):
            if name in values:
                values[name] = tuple(values[name] or ())
        if values.get("environment") is not None:
            values["environment"] = {k: str(v) for k, v in values["environment"].items()}
        return cls(**values)


def load_expectations(text: str | None, environment: str) -> Expectations:
    """`--expect '<json>'`, `--expect @file.json`, or (none) rendered from the inventory."""
    if text is None:
        return Expectations.from_json(render_expectations(environment))
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ToolError(f"--expect is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ToolError("--expect must be a JSON object")
    return Expectations.from_json(data)


def render_expectations(environment: str) -> dict[str, Any]:
    """`image_processor_verify_expectations` as Ansible sees it for inventories/<environment>."""
    inventory = REPO / "inventories" / environment
    if not inventory.is_dir():
        raise ToolError(f"no inventory {inventory}: pass --expect JSON")
    ansible = Path(sys.executable).with_name("ansible")
    command = [
        str(ansible if ansible.exists() else "ansible"),
        "localhost",
        "-i",
        str(inventory),
        "--playbook-dir",
        str(REPO / "playbooks"),
        "-m",
        "ansible.builtin.debug",
        "-a",
        "var=image_processor_verify_expectations",
    ]
    env = dict(
        os.environ,
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
    )
    try:
        done = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        host = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, IndexError) as error:
        raise ToolError(f"could not render the expectations with ansible: {error}") from None
    rendered = host.get("image_processor_verify_expectations")
    if not isinstance(rendered, dict):
        raise ToolError(f"ansible could not render the expectations: {host.get('msg', host)}")
    return rendered


def load_catalog(path: Path = CATALOG_FILE) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text())["alarms"])


# ---- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    name: str
    problems: tuple[str, ...] = ()
    detail: str = ""
    skipped: str = ""  # why the check did not run (not a failure)

    @property
    def ok(self) -> bool:
        return not self.problems


def result(name: str, problems: Iterable[str], detail: str = "") -> CheckResult:
    return CheckResult(name, tuple(problems), detail)


def print_results(results: Sequence[CheckResult]) -> None:
    """One line a check (✓ / ✗ / - skipped), never wrapped, so logs and Molecule keep it whole."""
    width = max((len(item.name) for item in results), default=0)
    for item in results:
        if item.skipped:
            mark, text = "[yellow]-[/yellow]", f"skipped: {item.skipped}"
        elif item.ok:
            mark, text = "[green]✓[/green]", item.detail
        else:
            mark, text = "[red]✗[/red]", "; ".join(item.problems)
        console.print(f"{mark} {escape(item.name.ljust(width))}  {escape(text)}", soft_wrap=True)
    passed = sum(1 for item in results if item.ok and not item.skipped)
    skipped = sum(1 for item in results if item.skipped)
    failed = len(results) - passed - skipped
    console.print(f"verify: {passed} passed, {failed} failed, {skipped} skipped", soft_wrap=True)


# ---- pure checks: buckets --------------------------------------------------------------------


def check_encryption(bucket: str, answer: Mapping[str, Any] | None, exp: Expectations) -> Problems:
    rules = ((answer or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
    defaults = [rule.get("ApplyServerSideEncryptionByDefault") or {} for rule in rules]
    if not defaults:
        return [f"bucket {bucket}: no default encryption (expected {exp.encryption})"]
    algorithm = defaults[0].get("SSEAlgorithm")
    problems = []
    if algorithm != exp.encryption:
        problems.append(f"bucket {bucket}: SSE algorithm {algorithm}, expected {exp.encryption}")
    key = str(defaults[0].get("KMSMasterKeyID") or "")
    if exp.encryption == "aws:kms" and exp.kms_key_id and not _same_kms_key(key, exp.kms_key_id):
        problems.append(
            f"bucket {bucket}: KMS key {key or '(AWS managed)'}, expected {exp.kms_key_id}"
        )
    return problems


def check_public_access_block(bucket: str, answer: Mapping[str, Any] | None) -> Problems:
    config = (answer or {}).get("PublicAccessBlockConfiguration") or {}
    names = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    off = [name for name in names if config.get(name) is not True]
    return [f"bucket {bucket}: public access block {', '.join(off)} not true"] if off else []


def check_tls_only_policy(bucket: str, policy: str | None) -> Problems:
    wanted = {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    missing = f"bucket {bucket}: policy has no Deny of s3:* on {' and '.join(sorted(wanted))}"
    missing += " when aws:SecureTransport is false"
    if not policy:
        return [f"bucket {bucket}: no bucket policy (expected a TLS-only Deny)"]
    try:
        document = json.loads(policy)
    except ValueError:
        return [f"bucket {bucket}: the bucket policy is not JSON"]
    for statement in _statements(document):
        condition = statement.get("Condition") or {}
        secure = {str(k).lower(): v for k, v in (condition.get("Bool") or {}).items()}
        values = _as_list(secure.get("aws:securetransport"))
        if (
            statement.get("Effect") == "Deny"
            and statement.get("Principal") in ("*", {"AWS": "*"})
            and {"s3:*", "*"} & set(_as_list(statement.get("Action")))
            and wanted <= set(_as_list(statement.get("Resource")))
            and [str(v).lower() for v in values] == ["false"]
        ):
            return []
    return [missing]


def check_versioning(bucket: str, status: str | None, expected: bool) -> Problems:
    if expected and status != "Enabled":
        return [f"bucket {bucket}: versioning {status or 'never enabled'}, expected Enabled"]
    if not expected and status == "Enabled":
        return [f"bucket {bucket}: versioning Enabled, expected off"]
    return []


def check_lifecycle(
    bucket: str, rules: Sequence[Mapping[str, Any]] | None, exp: Expectations
) -> Problems:
    enabled = [r for r in rules or () if r.get("Status") == "Enabled" and _whole_bucket(r)]
    problems = []
    aborts = [
        (r.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation") for r in enabled
    ]
    if exp.abort_incomplete_multipart_days not in aborts:
        problems.append(
            f"bucket {bucket}: no enabled whole-bucket lifecycle rule aborting incomplete "
            f"multipart uploads after {exp.abort_incomplete_multipart_days} days "
            f"(found {_present(aborts)})"
        )
    expiries = [(r.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays") for r in enabled]
    if exp.noncurrent_version_expiration_days not in expiries:
        problems.append(
            f"bucket {bucket}: no enabled whole-bucket lifecycle rule expiring noncurrent versions "
            f"after {exp.noncurrent_version_expiration_days} days (found {_present(expiries)})"
        )
    return problems


def check_notification(
    bucket: str, config: Mapping[str, Any] | None, function_arn: str, exp: Expectations
) -> Problems:
    ours = [
        c
        for c in (config or {}).get("LambdaFunctionConfigurations") or []
        if _unqualified(str(c.get("LambdaFunctionArn", ""))) == _unqualified(function_arn)
    ]
    if not ours:
        return [f"upload bucket notification: no LambdaFunctionConfiguration for {function_arn}"]
    problems = []
    found: set[tuple[str, str]] = set()
    for c in ours:
        events = set(c.get("Events") or [])
        if "s3:ObjectCreated:*" not in events:
            problems.append(
                f"upload bucket notification {c.get('Id', '?')}: events {sorted(events)} lack "
                "s3:ObjectCreated:*"
            )
        rules = {
            str(r.get("Name", "")).lower(): str(r.get("Value", ""))
            for r in ((c.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
        }
        found.add((rules.get("prefix", ""), rules.get("suffix", "")))
    wanted = {(exp.notification_prefix, s) for s in exp.notification_suffixes or ("",)}
    for prefix, suffix in sorted(wanted - found):
        problems.append(
            f"upload bucket notification: no rule for {function_arn} with prefix {prefix!r} "
            f"suffix {suffix!r} (found {sorted(found)})"
        )
    for prefix, suffix in sorted(found - wanted):
        problems.append(
            f"upload bucket notification: unexpected rule prefix {prefix!r} suffix {suffix!r}"
        )
    return problems


# ---- pure checks: function -------------------------------------------------------------------


def check_function_configuration(config: Mapping[str, Any], exp: Expectations) -> Problems:
    name = config.get("FunctionName", "?")
    problems = [
        f"function {name}: {label} {config.get(key)!r}, expected {wanted!r}"
        for label, key, wanted in (
            ("runtime", "Runtime", exp.runtime),
            ("handler", "Handler", exp.handler),
            ("memory", "MemorySize", exp.memory_size),
            ("timeout", "Timeout", exp.timeout),
        )
        if config.get(key) != wanted
    ]
    architectures = config.get("Architectures") or ["x86_64"]
    if architectures != [exp.architecture]:
        problems.append(
            f"function {name}: architectures {architectures}, expected {exp.architecture}"
        )
    if config.get("State", "Active") != "Active":
        problems.append(
            f"function {name}: state {config.get('State')} ({config.get('StateReason')})"
        )
    return problems


def check_environment(
    name: str, variables: Mapping[str, str] | None, exp: Expectations, processed_bucket: str
) -> Problems:
    variables = variables or {}
    wanted = {"PROCESSED_BUCKET": processed_bucket, **exp.environment}
    problems = [
        f"function {name}: env {key}={variables[key]!r}, expected {value!r}"
        if key in variables
        else f"function {name}: env {key} missing (expected {value!r})"
        for key, value in wanted.items()
        if variables.get(key) != value
    ]
    unknown = sorted(set(variables) - CONTRACT_VARIABLES)
    if unknown:
        problems.append(f"function {name}: env {', '.join(unknown)} not in docs/contracts.md")
    return problems


def check_layers(
    name: str, layers: Sequence[Mapping[str, Any]] | None, exp: Expectations
) -> Problems:
    arns = [str(layer.get("Arn", "")) for layer in layers or ()]
    if not exp.use_layer:
        return (
            [f"function {name}: Pillow is bundled but layers {arns} are attached"] if arns else []
        )
    if exp.layer_name:
        if not any(f":layer:{exp.layer_name}:" in arn for arn in arns):
            return [f"function {name}: layer {exp.layer_name} not attached (layers {arns})"]
    elif not arns:
        return [f"function {name}: no layer attached (expected the Pillow layer)"]
    return []


def check_reserved_concurrency(name: str, reserved: int | None, expected: int | None) -> Problems:
    if reserved == expected:
        return []
    return [
        f"function {name}: reserved concurrency {'none' if reserved is None else reserved}, "
        f"expected {'none' if expected is None else expected}"
    ]


def check_invoke_config(
    name: str, config: Mapping[str, Any] | None, dlq_arn: str, exp: Expectations
) -> Problems:
    if not config:
        return [
            f"function {name}: no async invoke configuration (OnFailure → {dlq_arn}) for what the "
            "upload notification invokes: its failures are lost"
        ]
    problems = []
    destination = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
        "Destination"
    )
    if destination != dlq_arn:
        problems.append(f"function {name}: OnFailure destination {destination}, expected {dlq_arn}")
    for label, key, wanted in (
        ("MaximumRetryAttempts", "MaximumRetryAttempts", exp.async_retry_attempts),
        ("MaximumEventAgeInSeconds", "MaximumEventAgeInSeconds", exp.async_max_event_age_seconds),
    ):
        if config.get(key) != wanted:
            problems.append(f"function {name}: async {label} {config.get(key)}, expected {wanted}")
    return problems


def notified_qualifiers(config: Mapping[str, Any] | None, function_name: str) -> list[str | None]:
    """The qualifiers (None: unqualified) of the function the upload notification invokes."""
    qualifiers: list[str | None] = []
    for c in (config or {}).get("LambdaFunctionConfigurations") or []:
        parts = str(c.get("LambdaFunctionArn", "")).split(":")
        if len(parts) >= 7 and parts[6] == function_name:
            qualifier = parts[7] if len(parts) > 7 else None
            if qualifier not in qualifiers:
                qualifiers.append(qualifier)
    return qualifiers


@dataclass(frozen=True)
class PolicyScope:
    """The ARNs the execution role may name, and what it must be able to do."""

    upload_bucket: str
    processed_bucket: str
    log_group_arn: str  # arn:aws:logs:<region>:<account>:log-group:<name>
    dlq_arn: str
    namespace: str
    kms_key_arn: str = ""

    def allows(self, resource: str) -> bool:
        exact = {self.dlq_arn, self.log_group_arn, f"{self.log_group_arn}:*"}
        if self.kms_key_arn:
            exact.add(self.kms_key_arn)
        prefixes = (
            f"arn:aws:s3:::{self.upload_bucket}/",
            f"arn:aws:s3:::{self.processed_bucket}/",
            f"{self.log_group_arn}:log-stream:",
        )
        return resource in exact or resource.startswith(prefixes)

    def required(self) -> list[tuple[str, str]]:
        needs = [
            ("s3:GetObject", f"arn:aws:s3:::{self.upload_bucket}/x"),
            ("s3:PutObject", f"arn:aws:s3:::{self.processed_bucket}/x"),
            ("logs:CreateLogStream", f"{self.log_group_arn}:log-stream:x"),
            ("logs:PutLogEvents", f"{self.log_group_arn}:log-stream:x"),
            ("cloudwatch:PutMetricData", "*"),
            ("sqs:SendMessage", self.dlq_arn),
        ]
        if self.kms_key_arn:
            needs += [("kms:Decrypt", self.kms_key_arn), ("kms:GenerateDataKey", self.kms_key_arn)]
        return needs


def check_execution_policy(
    role: str,
    inline: Mapping[str, Mapping[str, Any]],
    attached: Sequence[str],
    scope: PolicyScope,
) -> Problems:
    """Least privilege: no `*` action, no `*` resource except where AWS requires it (then with
    its condition key on our value), every resource one of ours, and what the function needs."""
    problems = [
        f"role {role}: managed policy {arn} attached (only the inline policy)" for arn in attached
    ]
    if not inline:
        return [*problems, f"role {role}: no inline policy"]
    granted: list[tuple[str, str]] = []
    for policy_name, document in inline.items():
        for index, statement in enumerate(_statements(document)):
            where = f"role {role} policy {policy_name} statement {statement.get('Sid') or index}"
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement or "NotResource" in statement:
                problems.append(f"{where}: NotAction/NotResource grant more than they name")
            actions = [str(a) for a in _as_list(statement.get("Action"))]
            resources = [str(r) for r in _as_list(statement.get("Resource"))]
            for action in actions:
                if "*" in action:
                    problems.append(f"{where}: wildcard action {action}")
            for resource in resources:
                if resource == "*":
                    problems += _wildcard_resource_problems(where, actions, statement, scope)
                elif not scope.allows(resource):
                    problems.append(f"{where}: resource {resource} is not one of the stack's ARNs")
            granted += [(a, r) for a in actions for r in resources]
    for action, resource in scope.required():
        if not any(
            fnmatchcase(action.lower(), a.lower()) and fnmatchcase(resource, r) for a, r in granted
        ):
            problems.append(f"role {role}: no {action} on {resource.removesuffix('x')}")
    return problems


def _wildcard_resource_problems(
    where: str, actions: Sequence[str], statement: Mapping[str, Any], scope: PolicyScope
) -> Problems:
    problems = []
    for action in actions:
        key = WILDCARD_RESOURCE_ACTIONS.get(action)
        if key is None:
            problems.append(
                f"{where}: {action} on resource * "
                f"(only {', '.join(WILDCARD_RESOURCE_ACTIONS)} needs it)"
            )
            continue
        equals = (statement.get("Condition") or {}).get("StringEquals") or {}
        values = _as_list({k.lower(): v for k, v in equals.items()}.get(key))
        if values != [scope.namespace]:
            problems.append(
                f"{where}: {action} on * without condition StringEquals {key} = {scope.namespace}"
            )
    return problems


def check_log_group(
    name: str, groups: Sequence[Mapping[str, Any]], retention: int | None
) -> Problems:
    group = next((g for g in groups if g.get("logGroupName") == name), None)
    if group is None:
        return [f"log group {name} does not exist"]
    if retention is not None and group.get("retentionInDays") != retention:
        return [
            f"log group {name}: retention {group.get('retentionInDays')} days, expected {retention}"
        ]
    return []


# ---- pure checks: topics, alarms, filters, dashboard ------------------------------------------


def check_subscriptions(
    topic_arn: str,
    subscriptions: Sequence[Mapping[str, Any]],
    exp: Expectations,
    inbox_arn: str | None,
) -> Problems:
    emails = {str(s.get("Endpoint")) for s in subscriptions if s.get("Protocol") == "email"}
    problems = [
        f"topic {topic_arn}: no email subscription for {address}"
        for address in sorted(set(exp.email_subscribers) - emails)
    ]
    problems += [
        f"topic {topic_arn}: unexpected email subscription {address}"
        for address in sorted(emails - set(exp.email_subscribers))
    ]
    queues = {str(s.get("Endpoint")) for s in subscriptions if s.get("Protocol") == "sqs"}
    if exp.alerts_inbox_enabled:
        if not inbox_arn:
            problems.append("alerts inbox enabled but the outputs have no alerts_inbox_queue_url")
        elif inbox_arn not in queues:
            problems.append(f"topic {topic_arn}: alerts inbox {inbox_arn} is not subscribed")
    elif inbox_arn:
        problems.append(f"alerts inbox disabled but the outputs name {inbox_arn}")
    return problems


@dataclass(frozen=True)
class AlarmContext:
    prefix: str
    function_name: str
    namespace: str
    topics: Mapping[str, str]  # severity -> topic ARN


def check_alarms(
    alarms: Mapping[str, Mapping[str, Any]],
    catalog: Sequence[Mapping[str, Any]],
    expected_names: Sequence[str],
    output_names: Sequence[str],
    context: AlarmContext,
) -> Problems:
    """Every enabled catalog alarm exists with its metric and its severity's topic as alarm and
    OK action; switched-off ones do not exist; the outputs list the same alarms."""
    problems = []
    by_name = {f"{context.prefix}-{entry['id']}": entry for entry in catalog}
    problems += [
        f"expected alarm {name} is not in the catalog"
        for name in expected_names
        if name not in by_name
    ]
    for name, entry in by_name.items():
        alarm = alarms.get(name)
        if name not in expected_names:
            if alarm is not None:
                problems.append(
                    f"alarm {name} exists though it is switched off "
                    f"({entry.get('enabled_by', 'not expected')})"
                )
            continue
        if alarm is None:
            problems.append(f"alarm {name} does not exist")
            continue
        problems += _alarm_problems(name, alarm, entry, context)
    if set(output_names) != set(expected_names):
        problems.append(
            f"outputs alarm_names {sorted(output_names)} differ from the expected "
            f"{sorted(expected_names)}"
        )
    return problems


def _alarm_problems(
    name: str, alarm: Mapping[str, Any], entry: Mapping[str, Any], context: AlarmContext
) -> Problems:
    problems = []
    topic = context.topics.get(str(entry.get("severity")), "")
    for key in ("AlarmActions", "OKActions"):
        actions = list(alarm.get(key) or [])
        if topic not in actions:
            problems.append(
                f"alarm {name}: {key} {actions} does not contain the {entry.get('severity')} "
                f"topic {topic}"
            )
    if alarm.get("ActionsEnabled") is False:
        problems.append(f"alarm {name}: actions disabled")
    if alarm.get("ComparisonOperator") != entry.get("comparison"):
        problems.append(
            f"alarm {name}: comparison {alarm.get('ComparisonOperator')}, expected "
            f"{entry.get('comparison')}"
        )
    signal = entry.get("signal")
    if signal == "math":
        if not alarm.get("Metrics"):
            problems.append(f"alarm {name}: no metric math queries")
        return problems
    namespace = ALARM_NAMESPACES.get(str(signal), context.namespace)
    dimensions = (
        [{"Name": "FunctionName", "Value": context.function_name}]
        if signal in ("lambda", "custom")
        else []
    )
    actual = (alarm.get("Namespace"), alarm.get("MetricName"), list(alarm.get("Dimensions") or []))
    wanted = (namespace, entry.get("metric_name"), dimensions)
    if actual != wanted:
        problems.append(f"alarm {name}: watches {_metric(*actual)}, expected {_metric(*wanted)}")
    return problems


def check_metric_filters(
    filters: Sequence[Mapping[str, Any]],
    catalog: Sequence[Mapping[str, Any]],
    prefix: str,
    log_group: str,
    namespace: str,
) -> Problems:
    by_name = {f["filterName"]: f for f in filters}
    problems = []
    for entry in catalog:
        if entry.get("signal") != "log":
            continue
        name = f"{prefix}-log-{entry['id']}"
        found = by_name.get(name)
        if found is None:
            problems.append(f"log group {log_group}: metric filter {name} does not exist")
            continue
        if found.get("filterPattern") != entry["filter_pattern"]:
            problems.append(
                f"metric filter {name}: pattern {found.get('filterPattern')!r}, expected "
                f"{entry['filter_pattern']!r}"
            )
        transformations = [
            (t.get("metricNamespace"), t.get("metricName"), str(t.get("metricValue")))
            for t in found.get("metricTransformations") or []
        ]
        wanted = (namespace, entry["metric_name"], "1")
        if transformations != [wanted]:
            problems.append(
                f"metric filter {name}: publishes {transformations}, expected {[wanted]}"
            )
    return problems


MetricKey = tuple[str, str, frozenset[tuple[str, str]]]


def dashboard_metrics(body: Mapping[str, Any]) -> list[MetricKey]:
    """Every metric a metric widget of the dashboard body shows (math expressions excluded)."""
    shown: list[MetricKey] = []
    for widget in body.get("widgets") or []:
        if widget.get("type") != "metric":
            continue
        for query in parse_metric_queries(widget.get("properties") or {}):
            if query.expression is None:
                key = (query.namespace, query.metric_name, frozenset(query.dimensions))
                if key not in shown:
                    shown.append(key)
    return shown


def check_dashboard(
    name: str,
    body: Mapping[str, Any] | None,
    listed: set[MetricKey],
    log_group: str,
    alarm_arns: set[str],
    event_metrics: set[tuple[str, str]],
) -> tuple[Problems, list[str]]:
    """Problems, and notes: `event_metrics` exist only once their event happened (a log line
    matched a metric filter without default value; on LocalStack a throttle), so their absence
    is a note, not a failure. Any other metric shown must be listed with exactly its dimensions."""
    if body is None:
        return [f"dashboard {name} does not exist"], []
    problems, notes = [], []
    for namespace, metric, dimensions in dashboard_metrics(body):
        if (namespace, metric, dimensions) in listed:
            continue
        label = _metric(namespace, metric, [{"Name": k, "Value": v} for k, v in sorted(dimensions)])
        if (namespace, metric) in event_metrics:
            notes.append(metric)
        else:
            problems.append(f"dashboard {name}: metric {label} does not exist (ListMetrics)")
    for widget in body.get("widgets") or []:
        properties = widget.get("properties") or {}
        if widget.get("type") == "alarm":
            problems += [
                f"dashboard {name}: alarm widget shows {arn}, which does not exist"
                for arn in properties.get("alarms") or []
                if arn not in alarm_arns
            ]
        if widget.get("type") == "log" and f"SOURCE '{log_group}'" not in str(
            properties.get("query", "")
        ):
            problems.append(f"dashboard {name}: log widget does not query {log_group}")
    return problems, notes


# ---- pure checks: behaviour ------------------------------------------------------------------


@dataclass(frozen=True)
class VariantFacts:
    variant: str
    key: str
    content_type: str
    image_format: str | None  # what Pillow reads from the bytes
    width: int
    height: int


def check_variants(
    key: str,
    source_size: tuple[int, int],
    variants: Sequence[VariantFacts],
    max_dimension: int = DEFAULT_MAX_DIMENSION,
    thumbnail_size: int = DEFAULT_THUMBNAIL_SIZE,
) -> Problems:
    """Five variants, their formats, the full size (long side <= MAX_DIMENSION, aspect kept) and
    a thumbnail that fits N x N with the source's aspect. `source_size` is after EXIF rotation."""
    problems = []
    by_name = {v.variant: v for v in variants}
    missing = sorted(set(VARIANT_FORMATS) - set(by_name))
    if missing:
        problems.append(f"{key}: variants {', '.join(missing)} missing ({len(by_name)} of 5)")
    sw, sh = source_size
    scale = min(1.0, max_dimension / max(sw, sh))
    full = (max(1, round(sw * scale)), max(1, round(sh * scale)))
    for variant in variants:
        wanted_format, wanted_type = VARIANT_FORMATS.get(variant.variant, (None, None))
        where = f"{key} → {variant.key}"
        if wanted_format is None:
            problems.append(f"{where}: unknown variant {variant.variant}")
            continue
        if variant.image_format != wanted_format:
            problems.append(f"{where}: format {variant.image_format}, expected {wanted_format}")
        if variant.content_type != wanted_type:
            problems.append(f"{where}: Content-Type {variant.content_type}, expected {wanted_type}")
        size = (variant.width, variant.height)
        if variant.variant == "thumbnail":
            if max(size) > thumbnail_size:
                problems.append(
                    f"{where}: {size[0]}x{size[1]} does not fit {thumbnail_size}x{thumbnail_size}"
                )
            elif not _same_aspect(size, full):
                problems.append(
                    f"{where}: {size[0]}x{size[1]} does not keep the aspect of {full[0]}x{full[1]}"
                )
            elif max(full) >= thumbnail_size and max(size) < thumbnail_size - 1:
                problems.append(
                    f"{where}: {size[0]}x{size[1]} smaller than {thumbnail_size} for no reason"
                )
        elif max(size) > max_dimension:
            problems.append(f"{where}: {size[0]}x{size[1]} has a side over {max_dimension}")
        elif abs(size[0] - full[0]) > 1 or abs(size[1] - full[1]) > 1:
            problems.append(f"{where}: {size[0]}x{size[1]}, expected {full[0]}x{full[1]}")
    return problems


def check_failure_records(key: str, records: Sequence[FailureRecord], waited: float) -> Problems:
    ours = [r for r in records if r.key == key]
    if not ours:
        return [f"dead-letter queue: no failure record for {key} after {waited:.0f} s"]
    if len(ours) > 1:
        return [f"dead-letter queue: {len(ours)} failure records for {key}, expected exactly one"]
    return []


def check_no_variants(key: str, result: UploadResult) -> Problems:
    if result.variants:
        keys = ", ".join(v.key for v in result.variants)
        return [f"{key} is not an image but produced variants {keys}"]
    return []


def check_alert(
    alarm_name: str, alerts: Sequence[Alert], channel: str, since: datetime
) -> Problems:
    for alert in alerts:
        if (
            alert.channel == channel
            and alert.alarm_name == alarm_name
            and alert.new_state == "ALARM"
            and (alert.time is None or alert.time >= since)
        ):
            return []
    where = "alerts inbox" if channel == "inbox" else "SES mailbox"
    return [f"{where}: no ALARM message for {alarm_name} since {since:%H:%M:%S} UTC"]


# ---- fetching and running --------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    groups: tuple[str, ...] = GROUPS
    images_dir: Path = IMAGES_DIR
    variant_timeout: timedelta = timedelta(seconds=90)
    failure_timeout: timedelta = timedelta(minutes=5)
    alarm_timeout: timedelta = timedelta(minutes=3)
    metrics_timeout: timedelta = timedelta(seconds=60)


def run_verify(stack: Stack, exp: Expectations, settings: Settings) -> list[CheckResult]:
    catalog = load_catalog()
    results: list[CheckResult] = []
    groups = settings.groups
    if "buckets" in groups:
        results += verify_buckets(stack, exp)
    if "function" in groups:
        results += verify_function(stack, exp)
    if "topics" in groups:
        results += verify_topics(stack, exp)
    if "alarms" in groups:
        results += verify_alarms(stack, exp, catalog)
    if "filters" in groups:
        results += verify_filters(stack, exp, catalog)
    if {"variants", "alert", "failure"} & set(groups):
        results += verify_behaviour(stack, exp, settings)
    if "dashboard" in groups:
        results += verify_dashboard(stack, exp, catalog, settings)
    return results


def verify_buckets(stack: Stack, exp: Expectations) -> list[CheckResult]:
    s3 = stack.client("s3")
    results = []
    for bucket in (stack.upload_bucket, stack.processed_bucket):
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as error:
            results.append(result(f"bucket {bucket}", [f"bucket {bucket}: {_code(error)}"]))
            continue
        encryption = _answer(
            lambda b=bucket: s3.get_bucket_encryption(Bucket=b),
            "ServerSideEncryptionConfigurationNotFoundError",
        )
        block = _answer(
            lambda b=bucket: s3.get_public_access_block(Bucket=b),
            "NoSuchPublicAccessBlockConfiguration",
        )
        policy = _answer(lambda b=bucket: s3.get_bucket_policy(Bucket=b), "NoSuchBucketPolicy")
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        lifecycle = _answer(
            lambda b=bucket: s3.get_bucket_lifecycle_configuration(Bucket=b),
            "NoSuchLifecycleConfiguration",
        )
        problems = (
            check_encryption(bucket, encryption, exp)
            + check_public_access_block(bucket, block)
            + check_tls_only_policy(bucket, (policy or {}).get("Policy"))
            + check_versioning(bucket, versioning, exp.versioning)
            + check_lifecycle(bucket, (lifecycle or {}).get("Rules"), exp)
        )
        detail = f"{exp.encryption}, private, TLS only, versioning {versioning or 'off'}, lifecycle"
        results.append(result(f"bucket {bucket}", problems, detail))
    notification = s3.get_bucket_notification_configuration(Bucket=stack.upload_bucket)
    problems = check_notification(stack.upload_bucket, notification, _function_arn(stack), exp)
    filters = f"prefix {exp.notification_prefix!r} suffixes {list(exp.notification_suffixes)}"
    results.append(result("upload notification", problems, f"→ {stack.function_name}, {filters}"))
    return results


def verify_function(stack: Stack, exp: Expectations) -> list[CheckResult]:
    lam, iam, sqs = stack.client("lambda"), stack.client("iam"), stack.client("sqs")
    name = stack.function_name
    try:
        function = lam.get_function(FunctionName=name)
    except ClientError as error:
        return [result(f"function {name}", [f"function {name}: {_code(error)}"])]
    config = function["Configuration"]
    reserved = (function.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=stack.dead_letter_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    # The OnFailure destination is configured per qualifier: what the notification invokes counts.
    notification = stack.client("s3").get_bucket_notification_configuration(
        Bucket=stack.upload_bucket
    )
    invoke_problems: Problems = []
    for qualifier in notified_qualifiers(notification, name) or [None]:
        target = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
        invoke = _answer(
            lambda t=target: lam.get_function_event_invoke_config(**t),
            "ResourceNotFoundException",
        )
        label = f"{name}:{qualifier}" if qualifier else name
        invoke_problems += check_invoke_config(label, invoke, dlq_arn, exp)
    problems = (
        check_function_configuration(config, exp)
        + check_environment(
            name, (config.get("Environment") or {}).get("Variables"), exp, stack.processed_bucket
        )
        + check_layers(name, config.get("Layers"), exp)
        + check_reserved_concurrency(name, reserved, exp.reserved_concurrency)
    )
    results = [
        result(
            f"function {name}",
            problems,
            f"{config.get('Runtime')} {config.get('Handler')} {config.get('MemorySize')} MB "
            f"{config.get('Timeout')} s, "
            f"layer {'yes' if config.get('Layers') else 'no (bundled)'}, "
            f"reserved {'none' if reserved is None else reserved}",
        ),
        result(
            "async invoke config",
            invoke_problems,
            f"retries {exp.async_retry_attempts}, OnFailure → {dlq_arn.rpartition(':')[2]}",
        ),
    ]
    groups = stack.client("logs").describe_log_groups(logGroupNamePrefix=stack.log_group)
    results.append(
        result(
            f"log group {stack.log_group}",
            check_log_group(stack.log_group, groups.get("logGroups", []), exp.log_retention_days),
            f"retention {exp.log_retention_days} days",
        )
    )
    role = str(config.get("Role", "")).rpartition("/")[2]
    inline = {
        policy: _policy_document(iam.get_role_policy(RoleName=role, PolicyName=policy))
        for policy in iam.list_role_policies(RoleName=role).get("PolicyNames", [])
    }
    attached = [
        p["PolicyArn"]
        for p in iam.list_attached_role_policies(RoleName=role).get("AttachedPolicies", [])
    ]
    arn = str(config.get("FunctionArn", ""))
    region, account = arn.split(":")[3:5]
    scope = PolicyScope(
        upload_bucket=stack.upload_bucket,
        processed_bucket=stack.processed_bucket,
        log_group_arn=f"arn:aws:logs:{region}:{account}:log-group:{stack.log_group}",
        dlq_arn=dlq_arn,
        namespace=stack.metrics_namespace,
        kms_key_arn=exp.bucket_kms_key_arn,
    )
    results.append(
        result(
            f"role {role}",
            check_execution_policy(role, inline, attached, scope),
            f"least privilege ({', '.join(inline)})",
        )
    )
    return results


def verify_topics(stack: Stack, exp: Expectations) -> list[CheckResult]:
    sns = stack.client("sns")
    inbox_arn = None
    if stack.alerts_inbox_queue_url:
        inbox_arn = stack.client("sqs").get_queue_attributes(
            QueueUrl=stack.alerts_inbox_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
    results = []
    for topic in (stack.critical_topic_arn, stack.warning_topic_arn):
        try:
            subscriptions = [
                s
                for page in sns.get_paginator("list_subscriptions_by_topic").paginate(
                    TopicArn=topic
                )
                for s in page.get("Subscriptions", [])
            ]
        except ClientError as error:
            results.append(result(f"topic {topic}", [f"topic {topic}: {_code(error)}"]))
            continue
        channels = [s.get("Protocol") for s in subscriptions]
        results.append(
            result(
                f"topic {topic.rpartition(':')[2]}",
                check_subscriptions(topic, subscriptions, exp, inbox_arn),
                f"subscriptions {', '.join(map(str, channels)) or 'none'}",
            )
        )
    return results


def _alarm_context(stack: Stack, exp: Expectations) -> AlarmContext:
    return AlarmContext(
        prefix=exp.alarm_name_prefix or stack.function_name,
        function_name=stack.function_name,
        namespace=stack.metrics_namespace,
        topics={"critical": stack.critical_topic_arn, "warning": stack.warning_topic_arn},
    )


def fetch_alarms(cloudwatch: Any, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    names = list(dict.fromkeys(names))
    for start in range(0, len(names), 100):
        answer = cloudwatch.describe_alarms(AlarmNames=names[start : start + 100])
        for alarm in answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", []):
            found[alarm["AlarmName"]] = alarm
    return found


def verify_alarms(
    stack: Stack, exp: Expectations, catalog: list[dict[str, Any]]
) -> list[CheckResult]:
    context = _alarm_context(stack, exp)
    names = [f"{context.prefix}-{entry['id']}" for entry in catalog]
    alarms = fetch_alarms(stack.client("cloudwatch"), [*names, *exp.alarm_names])
    problems = check_alarms(alarms, catalog, exp.alarm_names, stack.alarm_names, context)
    return [result("alarms", problems, f"{len(exp.alarm_names)} alarms, actions by severity")]


def verify_filters(
    stack: Stack, exp: Expectations, catalog: list[dict[str, Any]]
) -> list[CheckResult]:
    logs = stack.client("logs")
    try:
        filters = [
            f
            for page in logs.get_paginator("describe_metric_filters").paginate(
                logGroupName=stack.log_group
            )
            for f in page.get("metricFilters", [])
        ]
    except ClientError as error:
        return [result("metric filters", [f"log group {stack.log_group}: {_code(error)}"])]
    prefix = exp.filter_name_prefix or exp.alarm_name_prefix or stack.function_name
    problems = check_metric_filters(
        filters, catalog, prefix, stack.log_group, stack.metrics_namespace
    )
    count = sum(1 for entry in catalog if entry.get("signal") == "log")
    return [result("metric filters", problems, f"{count} filters on {stack.log_group}")]


def verify_behaviour(stack: Stack, exp: Expectations, settings: Settings) -> list[CheckResult]:
    results: list[CheckResult] = []
    groups = settings.groups
    suffixes = tuple(s.lower() for s in exp.notification_suffixes)
    prefix = (
        f"{exp.notification_prefix}verify/{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}/"
    )
    env = exp.environment
    max_dimension = int(env.get("MAX_DIMENSION", DEFAULT_MAX_DIMENSION))
    thumbnail_size = int(env.get("THUMBNAIL_SIZE", DEFAULT_THUMBNAIL_SIZE))

    if "variants" in groups:
        images = [p for p in sample_images(settings.images_dir) if _notified(p.name, suffixes)]
        if not images:
            results.append(
                CheckResult(
                    "variants",
                    skipped=f"no sample image in {settings.images_dir} matches the suffix filters",
                )
            )
        else:
            uploaded = upload_and_wait(stack, images, settings.variant_timeout, prefix)
            for item in uploaded:
                facts = [
                    _variant_facts(stack, v.key, v.variant, v.content_type) for v in item.variants
                ]
                with Image.open(item.uploaded.path) as source:
                    size = ImageOps.exif_transpose(source).size
                problems = check_variants(
                    item.uploaded.key, size, facts, max_dimension, thumbnail_size
                )
                if not item.variants:
                    problems = [
                        f"{item.uploaded.key}: no variant in {stack.processed_bucket} after "
                        f"{settings.variant_timeout.total_seconds():.0f} s"
                    ]
                slowest = max((v.seconds_after_upload for v in item.variants), default=0.0)
                thumb = next((f for f in facts if f.variant == "thumbnail"), None)
                thumb_size = f"{thumb.width}x{thumb.height}" if thumb else "?"
                results.append(
                    result(
                        f"variants of {item.uploaded.path.name}",
                        problems,
                        f"5 variants, {size[0]}x{size[1]} → thumbnail {thumb_size}, "
                        f"{slowest:.1f} s",
                    )
                )

    if not {"alert", "failure"} & set(groups):
        return results
    invalid = settings.images_dir / INVALID_IMAGE
    if not invalid.is_file() or not _notified(invalid.name, suffixes):
        reason = f"{invalid} missing" if not invalid.is_file() else "excluded by the suffix filters"
        return [*results, CheckResult("invalid upload", skipped=reason)]
    cloudwatch = stack.client("cloudwatch")
    alarm_name = find_error_alarm(cloudwatch, stack.alarm_names) if "alert" in groups else None
    if alarm_name and exp.error_alarm_fires_on_one_failure:
        # An alarm already in ALARM sends nothing new: start from OK so the transition happens.
        state = cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]["StateValue"]
        if state == "ALARM":
            cloudwatch.set_alarm_state(
                AlarmName=alarm_name, StateValue="OK", StateReason="verify: reset before the test"
            )
    since = datetime.now(UTC) - CLOCK_SLACK
    (bad,) = upload_files(stack.client("s3"), stack.upload_bucket, [invalid], prefix)

    if "alert" in groups:
        results += _verify_alert(stack, exp, settings, alarm_name, since)
    if "failure" in groups:
        started = time.monotonic()
        records = _wait_for_failure(stack, bad.key, settings.failure_timeout)
        waited = time.monotonic() - started
        problems = check_failure_records(bad.key, [r for r, _ in records], waited)
        problems += check_no_variants(
            bad.key,
            wait_for_variants(
                stack.client("s3"), stack.processed_bucket, [bad], timedelta(0), since
            )[0],
        )
        _delete_messages(stack, [message for record, message in records if record.key == bad.key])
        record = next((r for r, _ in records if r.key == bad.key), None)
        detail = (
            f"{record.condition}, {record.error_type}, attempts {record.attempts}, {waited:.0f} s"
            if record
            else ""
        )
        results.append(result(f"failure record of {INVALID_IMAGE}", problems, detail))
    return results


def _verify_alert(
    stack: Stack, exp: Expectations, settings: Settings, alarm_name: str | None, since: datetime
) -> list[CheckResult]:
    if alarm_name is None:
        return [
            result(
                "error alarm",
                ["no alarm of the outputs watches AWS/Lambda Errors (catalog: errors)"],
            )
        ]
    if not exp.error_alarm_fires_on_one_failure:
        return [
            CheckResult(
                f"alarm {alarm_name}",
                skipped="one invalid upload cannot reach its threshold or datapoints to alarm "
                "here; "
                "use the fire drill (make fire-drill)",
            )
        ]
    cloudwatch = stack.client("cloudwatch")
    deadline = time.monotonic() + settings.alarm_timeout.total_seconds()
    state = "?"
    while time.monotonic() < deadline:
        state = cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]["StateValue"]
        if state == "ALARM":
            break
        time.sleep(POLL_SECONDS)
    if state != "ALARM":
        wait = settings.alarm_timeout.total_seconds()
        return [
            result(
                f"alarm {alarm_name}",
                [f"alarm {alarm_name}: {state}, not ALARM after {wait:.0f} s"],
            )
        ]
    results = [result(f"alarm {alarm_name}", [], "ALARM after the invalid upload")]
    channels = []
    if stack.alerts_inbox_queue_url:
        channels.append("inbox")
    if exp.email_subscribers:
        if stack.endpoint_url:
            channels.append("email")
        else:
            results.append(
                CheckResult(
                    "alert by email",
                    skipped="real AWS: no SES mailbox to read; the alert went to "
                    + ", ".join(exp.email_subscribers),
                )
            )
    for channel in channels:
        problems: Problems = []
        while True:
            alerts, _notes = collect_alerts(stack)
            problems = check_alert(alarm_name, alerts, channel, since)
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(POLL_SECONDS)
        label = "alert in the inbox" if channel == "inbox" else "alert in the SES mailbox"
        results.append(result(label, problems, f"{alarm_name} → ALARM"))
    return results


def _wait_for_failure(
    stack: Stack, key: str, timeout: timedelta
) -> list[tuple[FailureRecord, dict[str, Any]]]:
    """Look (without consuming) until a record for `key` is there; every record seen last."""
    deadline = time.monotonic() + timeout.total_seconds()
    while True:
        seen = []
        for message in peek_queue(stack.client("sqs"), stack.dead_letter_queue_url):
            try:
                seen.append((parse_failure_message(message), message))
            except (ValueError, KeyError, TypeError):
                continue  # not a failure record: someone else's message, left alone
        if any(record.key == key for record, _ in seen) or time.monotonic() > deadline:
            return seen
        time.sleep(POLL_SECONDS)


def _delete_messages(stack: Stack, messages: Sequence[dict[str, Any]]) -> None:
    for message in messages:
        with contextlib.suppress(ClientError):  # received by someone else since: theirs
            stack.client("sqs").delete_message(
                QueueUrl=stack.dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )


def verify_dashboard(
    stack: Stack, exp: Expectations, catalog: list[dict[str, Any]], settings: Settings
) -> list[CheckResult]:
    if not exp.dashboard_enabled:
        return [CheckResult("dashboard", skipped="switched off (enable_cloudwatch_dashboard)")]
    cloudwatch = stack.client("cloudwatch")
    name = stack.dashboard_name
    try:
        body = json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])
    except ClientError:
        body = None
    event_metrics = {
        (stack.metrics_namespace, str(e["metric_name"]))
        for e in catalog
        if e.get("signal") == "log"
    }
    if stack.is_emulated:  # emulator/.../fidelity/lambda_throttles.py: published per throttle
        event_metrics.add(("AWS/Lambda", "Throttles"))
    alarms = fetch_alarms(cloudwatch, stack.alarm_names)
    arns = {str(alarm.get("AlarmArn")) for alarm in alarms.values()}
    shown = dashboard_metrics(body) if body else []
    deadline = time.monotonic() + settings.metrics_timeout.total_seconds()
    while True:  # a new metric takes a while to be listed on AWS
        listed = _list_metrics(cloudwatch, {(ns, metric) for ns, metric, _ in shown})
        problems, notes = check_dashboard(name, body, listed, stack.log_group, arns, event_metrics)
        if not problems or time.monotonic() > deadline or body is None:
            break
        time.sleep(POLL_SECONDS * 5)
    detail = f"{len(shown)} metrics listed"
    if notes:
        detail += f"; no event yet for {', '.join(notes)}"
    return [result(f"dashboard {name}", problems, detail)]


def _list_metrics(cloudwatch: Any, wanted: set[tuple[str, str]]) -> set[MetricKey]:
    listed: set[MetricKey] = set()
    for namespace, metric in sorted(wanted):
        for page in cloudwatch.get_paginator("list_metrics").paginate(
            Namespace=namespace, MetricName=metric
        ):
            for item in page.get("Metrics", []):
                dims = frozenset((d["Name"], d["Value"]) for d in item.get("Dimensions", []))
                listed.add((namespace, metric, dims))
    return listed


def _variant_facts(stack: Stack, key: str, variant: str, content_type: str) -> VariantFacts:
    body = stack.client("s3").get_object(Bucket=stack.processed_bucket, Key=key)["Body"].read()
    try:
        with Image.open(io.BytesIO(body)) as image:
            image_format, (width, height) = image.format, image.size
    except OSError:
        image_format, width, height = None, 0, 0
    return VariantFacts(variant, key, content_type, image_format, width, height)


# ---- helpers ---------------------------------------------------------------------------------


def _function_arn(stack: Stack) -> str:
    configuration = stack.client("lambda").get_function(FunctionName=stack.function_name)
    return str(configuration["Configuration"]["FunctionArn"])


def _answer(call: Callable[[], dict[str, Any]], missing_code: str) -> dict[str, Any] | None:
    try:
        return call()
    except ClientError as error:
        if _code(error) == missing_code:
            return None
        raise


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "error"))


def _policy_document(answer: Mapping[str, Any]) -> dict[str, Any]:
    document = answer.get("PolicyDocument")
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    return dict(document or {})


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document.get("Statement") or []
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _same_kms_key(actual: str, wanted: str) -> bool:
    return actual == wanted or actual.rpartition("/")[2] == wanted.rpartition("/")[2]


def _whole_bucket(rule: Mapping[str, Any]) -> bool:
    prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", ""))
    return not prefix and not {"Tag", "And"} & set(rule.get("Filter") or {})


def _present(values: Sequence[Any]) -> str:
    found = [v for v in values if v is not None]
    return ", ".join(map(str, found)) if found else "none"


def _unqualified(arn: str) -> str:
    parts = arn.split(":")
    return ":".join(parts[:7]) if len(parts) > 7 else arn


def _metric(namespace: Any, name: Any, dimensions: Sequence[Mapping[str, Any]]) -> str:
    dims = ",".join(f"{d.get('Name')}={d.get('Value')}" for d in dimensions)
    return f"{namespace}/{name}" + (f"{{{dims}}}" if dims else "")


def _same_aspect(size: tuple[int, int], full: tuple[int, int]) -> bool:
    """Equal aspect up to one thumbnail pixel of rounding."""
    (tw, th), (fw, fh) = size, full
    return tw > 0 and th > 0 and abs(tw * fh - th * fw) <= max(fw, fh)


def _notified(name: str, suffixes: Sequence[str]) -> bool:
    return not suffixes or name.lower().endswith(tuple(suffixes))
