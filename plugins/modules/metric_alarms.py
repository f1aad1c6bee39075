#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: metric_alarms
short_description: Manage a set of CloudWatch metric alarms in one call
version_added: 1.1.0
description:
  - Create, update or delete several CloudWatch metric alarms with one DescribeAlarms for all
    of them, with check mode and a diff per alarm.
  - Each element of O(alarms) takes the options of M(imgops.image_processor.metric_alarm) and is
    compared the same way (metric math compared, C(3.0) versus C(3), list order and unset
    actions not counted as drift).
  - One module run instead of one per alarm, since a loop over M(imgops.image_processor.metric_alarm)
    pays a Python start, a boto3 import and a client per alarm.
author:
  - Image processor maintainers
options:
  alarms:
    description:
      - The alarms, each with the options of M(imgops.image_processor.metric_alarm)
        (C(name), C(state), C(metric_name) or C(metrics), C(threshold), ...).
      - Names must be distinct.
    type: list
    elements: dict
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Two alarms, and one switched off
  imgops.image_processor.metric_alarms:
    alarms:
      - name: image-processor-dev-errors
        namespace: AWS/Lambda
        metric_name: Errors
        statistic: Sum
        dimensions: {FunctionName: image-processor-dev}
        period: 60
        evaluation_periods: 1
        threshold: 1
        alarm_actions: ["arn:aws:sns:us-east-1:123456789012:critical"]
      - name: image-processor-dev-throttles
        namespace: AWS/Lambda
        metric_name: Throttles
        statistic: Sum
        dimensions: {FunctionName: image-processor-dev}
        period: 60
        evaluation_periods: 1
        threshold: 5
      - name: image-processor-dev-no-invocations
        state: absent
"""

RETURN = r"""
alarms:
  description: One entry per element of O(alarms), in the same order.
  returned: always
  type: list
  elements: dict
  contains:
    alarm_name:
      description: Name of the alarm.
      type: str
    state:
      description: The state asked for (present or absent).
      type: str
    changed:
      description: Whether this alarm was (or in check mode would be) created, updated or deleted.
      type: bool
    alarm_arn:
      description: ARN of the alarm (not known for an alarm created in check mode).
      type: str
    state_value:
      description: Current state (OK, ALARM, INSUFFICIENT_DATA).
      type: str
changed_alarms:
  description: Names of the alarms that changed (or would change in check mode).
  returned: always
  type: list
  elements: str
"""

import copy

try:  # noqa: SIM105 (the amazon.aws import guard)
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.imgops.image_processor.plugins.module_utils.alarms import (
    ALARM_MUTUALLY_EXCLUSIVE,
    ALARM_OPTIONS,
    ALARM_REQUIRED_IF,
    build_request,
    comparable,
    missing_metric,
)
from ansible_collections.imgops.image_processor.plugins.module_utils.drift import make_diff

DESCRIBE_BATCH = 100  # DescribeAlarms takes at most 100 names


def plan(alarms, current):
    """Pure: desired alarms and {name: described alarm} -> [(name, action, request, before, after)].

    action is None (no change), "put" or "delete"."""
    steps = []
    for params in alarms:
        name = params["name"]
        existing = current.get(name)
        before = comparable(existing)
        if params.get("state", "present") == "absent":
            steps.append((name, "delete" if existing else None, None, before, None))
            continue
        request = build_request(params)
        after = comparable(request)
        steps.append((name, "put" if before != after else None, request, before, after))
    return steps


def duplicates(alarms):
    """Pure: names given more than once."""
    seen, repeated = set(), []
    for params in alarms:
        if params["name"] in seen and params["name"] not in repeated:
            repeated.append(params["name"])
        seen.add(params["name"])
    return repeated


def describe(client, module, names):
    found = {}
    for start in range(0, len(names), DESCRIBE_BATCH):
        batch = names[start:start + DESCRIBE_BATCH]
        try:
            paginator = client.get_paginator("describe_alarms")
            pages = paginator.paginate(AlarmNames=batch).build_full_result()
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to describe alarms {batch}")
        found.update({alarm["AlarmName"]: alarm for alarm in pages.get("MetricAlarms", [])})
    return found


def main():
    alarm_options = copy.deepcopy(ALARM_OPTIONS)
    module = AnsibleAWSModule(
        argument_spec=dict(
            alarms=dict(
                type="list", elements="dict", required=True, options=alarm_options,
                mutually_exclusive=ALARM_MUTUALLY_EXCLUSIVE, required_if=ALARM_REQUIRED_IF,
            ),
        ),
        supports_check_mode=True,
    )
    alarms = module.params["alarms"]
    repeated = duplicates(alarms)
    if repeated:
        module.fail_json(msg=f"alarm names given more than once: {repeated}")
    incomplete = [params["name"] for params in alarms if missing_metric(params)]
    if incomplete:
        module.fail_json(msg=f"one of metric_name or metrics is required when state=present: {incomplete}")

    client = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())
    names = [params["name"] for params in alarms]
    current = describe(client, module, names)
    steps = plan(alarms, current)

    changed = [name for name, action, _request, _before, _after in steps if action]
    if not module.check_mode:
        for name, action, request, _before, _after in steps:
            try:
                if action == "put":
                    client.put_metric_alarm(aws_retry=True, **request)
                elif action == "delete":
                    client.delete_alarms(aws_retry=True, AlarmNames=[name])
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to {action} alarm {name}")
        written = [name for name, action, _request, _before, _after in steps if action == "put"]
        if written:
            current.update(describe(client, module, written))

    results = []
    for params, step in [(params, steps[index]) for index, params in enumerate(alarms)]:
        name, action = step[0], step[1]
        entry = dict(alarm_name=name, state=params.get("state", "present"), changed=bool(action))
        if entry["state"] == "present" and current.get(name):
            entry.update(alarm_arn=current[name].get("AlarmArn"), state_value=current[name].get("StateValue"))
        results.append(entry)
    result = dict(changed=bool(changed), changed_alarms=changed, alarms=results)
    if changed and module._diff:
        result["diff"] = dict(
            before={name: make_diff(before, after)["before"] for name, action, _r, before, after in steps if action},
            after={name: make_diff(before, after)["after"] for name, action, _r, before, after in steps if action},
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
