#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: metric_alarm
short_description: Manage a CloudWatch metric alarm (single metric, percentile or metric math)
version_added: 1.0.0
description:
  - Create, update or delete a CloudWatch metric alarm, with check mode and diff.
  - Unlike M(amazon.aws.cloudwatch_metric_alarm) 11.x, metric-math alarms (O(metrics)) are
    compared instead of reported changed on every run, and empty O(dimensions), unset actions,
    C(3.0) versus C(3) and list order are not counted as drift.
author:
  - Image processor maintainers
options:
  name:
    description: Name of the alarm.
    required: true
    type: str
  state:
    description: Whether the alarm should exist.
    choices: ["present", "absent"]
    default: present
    type: str
  description:
    description: Alarm description (we keep the runbook text here).
    type: str
  metric_name:
    description: Metric of a single-metric alarm. Mutually exclusive with O(metrics).
    type: str
  namespace:
    description: Namespace of O(metric_name).
    type: str
  statistic:
    description: Statistic of a single-metric alarm.
    choices: ["SampleCount", "Average", "Sum", "Minimum", "Maximum"]
    type: str
  extended_statistic:
    description: Percentile statistic such as C(p95).
    type: str
  dimensions:
    description: Dimensions of O(metric_name), name to value.
    type: dict
  unit:
    description: Unit of the metric.
    type: str
  period:
    description: Period in seconds of a single-metric alarm.
    type: int
  evaluation_periods:
    description: Number of periods compared with the threshold. Required when O(state=present).
    type: int
  datapoints_to_alarm:
    description: Breaching datapoints out of O(evaluation_periods) that trigger ALARM.
    type: int
  threshold:
    description: The threshold. Required when O(state=present).
    type: float
  comparison:
    description: How the statistic is compared with O(threshold).
    choices: ["GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"]
    default: GreaterThanOrEqualToThreshold
    type: str
  treat_missing_data:
    description: How missing data points are treated.
    choices: ["breaching", "notBreaching", "ignore", "missing"]
    default: missing
    type: str
  metrics:
    description:
      - Metric data queries of a metric-math alarm, each in the snake_case form of the
        C(MetricDataQuery) API shape (C(id), C(expression), C(metric_stat), C(return_data), C(label)).
    type: list
    elements: dict
  actions_enabled:
    description: Whether the actions run.
    type: bool
    default: true
  alarm_actions:
    description: ARNs notified on ALARM.
    type: list
    elements: str
    default: []
  ok_actions:
    description: ARNs notified on OK.
    type: list
    elements: str
    default: []
  insufficient_data_actions:
    description: ARNs notified on INSUFFICIENT_DATA.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Error rate in percent (metric math)
  imgops.image_processor.metric_alarm:
    name: image-processor-dev-error-rate
    threshold: 5
    evaluation_periods: 1
    comparison: GreaterThanThreshold
    metrics:
      - id: errors
        return_data: false
        metric_stat:
          metric: {namespace: AWS/Lambda, metric_name: Errors, dimensions: [{name: FunctionName, value: fn}]}
          period: 60
          stat: Sum
      - id: invocations
        return_data: false
        metric_stat:
          metric: {namespace: AWS/Lambda, metric_name: Invocations, dimensions: [{name: FunctionName, value: fn}]}
          period: 60
          stat: Sum
      - id: rate
        expression: 100 * errors / invocations
        return_data: true
    alarm_actions: ["arn:aws:sns:us-east-1:123456789012:critical"]
"""

RETURN = r"""
alarm_name:
  description: Name of the alarm.
  returned: always
  type: str
alarm_arn:
  description: ARN of the alarm.
  returned: when the alarm exists
  type: str
state_value:
  description: Current state (OK, ALARM, INSUFFICIENT_DATA).
  returned: when the alarm exists
  type: str
"""

import copy

try:  # noqa: SIM105 (the amazon.aws import guard)
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.imgops.image_processor.plugins.module_utils.alarms import (  # noqa: F401 (re-exported)
    ALARM_MUTUALLY_EXCLUSIVE,
    ALARM_OPTIONS,
    ALARM_REQUIRED_IF,
    MANAGED_KEYS,
    build_request,
    comparable,
    missing_metric,
)
from ansible_collections.imgops.image_processor.plugins.module_utils.drift import make_diff


def describe(client, module, name):
    try:
        alarms = client.describe_alarms(aws_retry=True, AlarmNames=[name])["MetricAlarms"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to describe alarm {name}")
    return alarms[0] if alarms else None


def main():
    module = AnsibleAWSModule(
        argument_spec=copy.deepcopy(ALARM_OPTIONS),
        mutually_exclusive=ALARM_MUTUALLY_EXCLUSIVE,
        required_if=ALARM_REQUIRED_IF,
        supports_check_mode=True,
    )
    params = module.params
    name = params["name"]
    client = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())
    current = describe(client, module, name)
    before = comparable(current)
    result = dict(changed=False, alarm_name=name)

    if params["state"] == "absent":
        if current:
            result["changed"] = True
            if not module.check_mode:
                try:
                    client.delete_alarms(aws_retry=True, AlarmNames=[name])
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                    module.fail_json_aws(e, msg=f"Failed to delete alarm {name}")
        if module._diff and current:
            result["diff"] = make_diff(before, None)
        module.exit_json(**result)

    if missing_metric(params):
        module.fail_json(msg="one of metric_name or metrics is required when state=present")
    request = build_request(params)
    after = comparable(request)
    if before != after:
        result["changed"] = True
        if module._diff:
            result["diff"] = make_diff(before, after)
        if not module.check_mode:
            try:
                client.put_metric_alarm(aws_retry=True, **request)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to put alarm {name}")
            current = describe(client, module, name) or {}
    if current:
        result.update(alarm_arn=current.get("AlarmArn"), state_value=current.get("StateValue"))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
