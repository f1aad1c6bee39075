#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: lambda_invoke_config
short_description: Manage how a Lambda function is invoked (permissions, async retries, failure destination, reserved concurrency)
version_added: 1.0.0
description:
  - Manages the asynchronous invocation configuration of a function (retry attempts, maximum
    event age, on-failure / on-success destinations) and its reserved concurrency, neither of
    which M(amazon.aws.lambda) handles. Check mode and diff supported.
  - Also manages the resource-based policy statements that allow a service to invoke the
    function (O(permissions)), as M(amazon.aws.lambda_policy) does for one statement, so that
    every setting of how the function is invoked takes one module run.
author:
  - Image processor maintainers
options:
  function_name:
    description: Name or ARN of the function.
    required: true
    type: str
  state:
    description: >-
      V(absent) removes the asynchronous invocation configuration, the reservation and the
      O(permissions) statements.
    choices: ["present", "absent"]
    default: present
    type: str
  maximum_retry_attempts:
    description: Retries of a failed asynchronous invocation (0-2).
    type: int
  maximum_event_age_seconds:
    description: How long an event may wait in the asynchronous queue (60-21600).
    type: int
  on_failure_destination:
    description: ARN (SQS, SNS, Lambda, EventBridge) receiving events that failed every attempt.
    type: str
  on_success_destination:
    description: ARN receiving records of successful asynchronous invocations.
    type: str
  reserved_concurrency:
    description:
      - Reserved concurrent executions. Unset leaves the reservation alone; a negative number
        removes it.
    type: int
  permissions:
    description:
      - Statements of the function policy, each with C(statement_id), C(action), C(principal)
        and optional C(source_arn) and C(source_account). A statement that differs is replaced.
      - Statements with other ids are left alone; unset leaves the policy alone.
    type: list
    elements: dict
    suboptions:
      statement_id: {description: Id (Sid) of the statement., type: str, required: true}
      action: {description: "The action allowed, for example V(lambda:InvokeFunction).", type: str, required: true}
      principal: {description: "The service or account allowed, for example V(s3.amazonaws.com).", type: str, required: true}
      source_arn: {description: ARN of the resource allowed to invoke (condition C(AWS:SourceArn))., type: str}
      source_account: {description: Account owning that resource (condition C(AWS:SourceAccount))., type: str}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Two retries, then the dead-letter queue; at most 20 parallel executions
  imgops.image_processor.lambda_invoke_config:
    function_name: image-processor-prod
    maximum_retry_attempts: 2
    maximum_event_age_seconds: 3600
    on_failure_destination: arn:aws:sqs:eu-west-1:123456789012:image-processor-prod-dlq
    reserved_concurrency: 20
    permissions:
      - statement_id: s3-upload-bucket-invoke
        action: lambda:InvokeFunction
        principal: s3.amazonaws.com
        source_arn: arn:aws:s3:::image-processor-prod-uploads
        source_account: "123456789012"
"""

RETURN = r"""
event_invoke_config:
  description: The asynchronous invocation configuration now in place (API shape).
  returned: when O(state=present)
  type: dict
reserved_concurrency:
  description: The reservation now in place, null when none.
  returned: always
  type: int
permissions:
  description: The managed policy statements now in place, by statement id (flattened as in O(permissions)).
  returned: when O(permissions) is given
  type: dict
"""

import json

try:  # noqa: SIM105 (the amazon.aws import guard)
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.imgops.image_processor.plugins.module_utils.drift import (
    make_diff,
    normalise,
)


def desired_async_config(params):
    """Pure: module parameters -> the managed part of the event invoke configuration."""
    config = {
        "MaximumRetryAttempts": params.get("maximum_retry_attempts"),
        "MaximumEventAgeInSeconds": params.get("maximum_event_age_seconds"),
        "DestinationConfig": {
            "OnFailure": {"Destination": params["on_failure_destination"]} if params.get("on_failure_destination") else None,
            "OnSuccess": {"Destination": params["on_success_destination"]} if params.get("on_success_destination") else None,
        },
    }
    return normalise(config)


def comparable_async_config(current):
    """Pure: AWS's answer reduced to what desired_async_config() describes."""
    if not current:
        return {}
    return normalise({key: current.get(key) for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")})


PERMISSION_KEYS = ("action", "principal", "source_arn", "source_account")


def flatten_statement(statement):
    """Pure: a policy statement -> the form of O(permissions) (as amazon.aws.lambda_policy reads it)."""
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        principal = principal.get("Service") or principal.get("AWS")
    condition = statement.get("Condition") or {}
    flat = {
        "action": statement.get("Action"),
        "principal": principal,
        "source_arn": (condition.get("ArnLike") or {}).get("AWS:SourceArn"),
        "source_account": (condition.get("StringEquals") or {}).get("AWS:SourceAccount"),
    }
    return {key: value for key, value in flat.items() if value is not None}


def current_permissions(policy, statement_ids):
    """Pure: the statements of a function policy (JSON text or None) with one of `statement_ids`."""
    statements = json.loads(policy).get("Statement", []) if policy else []
    return {st["Sid"]: flatten_statement(st) for st in statements if st.get("Sid") in statement_ids}


def desired_permissions(permissions):
    """Pure: O(permissions) -> {statement_id: flattened statement}."""
    return {
        rule["statement_id"]: {key: rule[key] for key in PERMISSION_KEYS if rule.get(key) is not None}
        for rule in permissions
    }


def desired_reservation(requested, current):
    """Pure: the reservation to end with (None = no reservation)."""
    if requested is None:
        return current
    return None if requested < 0 else requested


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            function_name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            maximum_retry_attempts=dict(type="int"),
            maximum_event_age_seconds=dict(type="int"),
            on_failure_destination=dict(type="str"),
            on_success_destination=dict(type="str"),
            reserved_concurrency=dict(type="int"),
            permissions=dict(
                type="list",
                elements="dict",
                options=dict(
                    statement_id=dict(type="str", required=True),
                    action=dict(type="str", required=True),
                    principal=dict(type="str", required=True),
                    source_arn=dict(type="str"),
                    source_account=dict(type="str"),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    params = module.params
    name = params["function_name"]
    client = module.client("lambda", retry_decorator=AWSRetry.jittered_backoff())
    try:
        try:
            current_async = client.get_function_event_invoke_config(aws_retry=True, FunctionName=name)
        except is_boto3_error_code("ResourceNotFoundException"):
            current_async = None
        current_reservation = client.get_function_concurrency(aws_retry=True, FunctionName=name).get(
            "ReservedConcurrentExecutions"
        )
        if params["permissions"] is not None:
            try:
                policy = client.get_policy(aws_retry=True, FunctionName=name)["Policy"]
            except is_boto3_error_code("ResourceNotFoundException"):
                policy = None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Failed to read the invoke configuration of {name}")

    before = {"async": comparable_async_config(current_async), "reserved_concurrency": current_reservation}
    if params["state"] == "absent":
        after = {"async": {}, "reserved_concurrency": None}
    else:
        after = {
            "async": desired_async_config(params),
            "reserved_concurrency": desired_reservation(params["reserved_concurrency"], current_reservation),
        }
    if params["permissions"] is not None:
        wanted = desired_permissions(params["permissions"])
        before["permissions"] = current_permissions(policy, set(wanted))
        after["permissions"] = {} if params["state"] == "absent" else wanted
    result = dict(changed=before != after, event_invoke_config=after["async"], reserved_concurrency=after["reserved_concurrency"])
    if "permissions" in after:
        result["permissions"] = after["permissions"]
    if result["changed"] and module._diff:
        result["diff"] = make_diff(before, after)

    if result["changed"] and not module.check_mode:
        try:
            if before["async"] != after["async"]:
                if after["async"]:
                    config = dict(after["async"])
                    config.setdefault("DestinationConfig", {})
                    client.put_function_event_invoke_config(aws_retry=True, FunctionName=name, **config)
                else:
                    client.delete_function_event_invoke_config(aws_retry=True, FunctionName=name)
            if before["reserved_concurrency"] != after["reserved_concurrency"]:
                if after["reserved_concurrency"] is None:
                    client.delete_function_concurrency(aws_retry=True, FunctionName=name)
                else:
                    client.put_function_concurrency(
                        aws_retry=True, FunctionName=name, ReservedConcurrentExecutions=after["reserved_concurrency"]
                    )
            for sid in sorted(set(before.get("permissions", {})) | set(after.get("permissions", {}))):
                old, new = before["permissions"].get(sid), after["permissions"].get(sid)
                if old == new:
                    continue
                if old is not None:
                    client.remove_permission(aws_retry=True, FunctionName=name, StatementId=sid)
                if new is not None:
                    request = {"".join(token.capitalize() for token in key.split("_")): value for key, value in new.items()}
                    client.add_permission(aws_retry=True, FunctionName=name, StatementId=sid, **request)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to update the invoke configuration of {name}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
