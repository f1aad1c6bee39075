#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: metric_filters
short_description: Manage the metric filters of a CloudWatch Logs group in one call
version_added: 1.1.0
description:
  - Create, update or delete several metric filters of one log group with one
    DescribeMetricFilters, with check mode and a diff per filter.
  - Filters are looked up by exact name (M(amazon.aws.cloudwatchlogs_log_group_metric_filter)
    looks them up by name prefix, so one name may not be the prefix of another).
  - A log group that does not exist has no filters, so O(state=absent) changes nothing, and
    O(state=present) in check mode reports every filter as to be created.
author:
  - Image processor maintainers
options:
  log_group_name:
    description: The log group the filters read.
    required: true
    type: str
  state:
    description: Whether the filters of O(filters) should exist.
    choices: ["present", "absent"]
    default: present
    type: str
  filters:
    description: The filters. Names must be distinct.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the filter.
        type: str
        required: true
      pattern:
        description: The filter pattern. Required when O(state=present).
        type: str
      metric_name:
        description: Metric published. Required when O(state=present).
        type: str
      metric_namespace:
        description: Namespace of O(filters[].metric_name). Required when O(state=present).
        type: str
      metric_value:
        description: Value published per matching line.
        type: str
        default: "1"
      default_value:
        description: Value published when nothing matches (none when unset).
        type: float
      unit:
        description: Unit of the metric.
        type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Count timeouts and CRITICAL lines
  imgops.image_processor.metric_filters:
    log_group_name: /aws/lambda/image-processor-dev
    filters:
      - name: image-processor-dev-log-timeouts
        pattern: '"Task timed out"'
        metric_name: Timeouts
        metric_namespace: ImageProcessor
      - name: image-processor-dev-log-critical-errors
        pattern: '{ $.level = "CRITICAL" }'
        metric_name: CriticalErrors
        metric_namespace: ImageProcessor

- name: Remove them
  imgops.image_processor.metric_filters:
    log_group_name: /aws/lambda/image-processor-dev
    state: absent
    filters:
      - name: image-processor-dev-log-timeouts
      - name: image-processor-dev-log-critical-errors
"""

RETURN = r"""
filters:
  description: One entry per element of O(filters), in the same order.
  returned: always
  type: list
  elements: dict
  contains:
    filter_name:
      description: Name of the filter.
      type: str
    changed:
      description: Whether this filter was (or in check mode would be) created, updated or deleted.
      type: bool
changed_filters:
  description: Names of the filters that changed (or would change in check mode).
  returned: always
  type: list
  elements: str
log_group_exists:
  description: Whether the log group existed when the module looked.
  returned: always
  type: bool
"""

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


def build_request(log_group_name, params):
    """Pure: one element of `filters` -> the PutMetricFilter request."""
    transformation = {
        "metricName": params["metric_name"],
        "metricNamespace": params["metric_namespace"],
        "metricValue": str(params.get("metric_value") or "1"),
        "defaultValue": params.get("default_value"),
        "unit": params.get("unit"),
    }
    return {
        "logGroupName": log_group_name,
        "filterName": params["name"],
        "filterPattern": params["pattern"],
        "metricTransformations": [{k: v for k, v in transformation.items() if v is not None}],
    }


def comparable(metric_filter):
    """Pure: the managed part of a filter (request or DescribeMetricFilters entry), normalised."""
    if metric_filter is None:
        return None
    transformations = []
    for transformation in metric_filter.get("metricTransformations") or []:
        shaped = {k: transformation.get(k) for k in ("metricName", "metricNamespace", "metricValue", "defaultValue", "unit")}
        shaped["metricValue"] = str(shaped["metricValue"]) if shaped["metricValue"] is not None else None
        if shaped.get("unit") == "None":
            shaped["unit"] = None  # AWS's answer for "no unit"
        transformations.append(shaped)
    return normalise({"filterPattern": metric_filter.get("filterPattern") or "", "metricTransformations": transformations})


def plan(log_group_name, filters, current, state):
    """Pure: desired filters and {name: described filter} -> [(name, action, request, before, after)].

    action is None (no change), "put" or "delete"."""
    steps = []
    for params in filters:
        name = params["name"]
        before = comparable(current.get(name))
        if state == "absent":
            steps.append((name, "delete" if name in current else None, None, before, None))
            continue
        request = build_request(log_group_name, params)
        after = comparable(request)
        steps.append((name, "put" if before != after else None, request, before, after))
    return steps


def describe(client, module, log_group_name):
    """{name: filter} of the group, or None when the group does not exist."""
    try:
        paginator = client.get_paginator("describe_metric_filters")
        pages = paginator.paginate(logGroupName=log_group_name).build_full_result()
    except is_boto3_error_code("ResourceNotFoundException"):
        return None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Failed to describe the metric filters of {log_group_name}")
    return {f["filterName"]: f for f in pages.get("metricFilters", []) if f.get("logGroupName", log_group_name) == log_group_name}


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            log_group_name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            filters=dict(
                type="list", elements="dict", required=True,
                options=dict(
                    name=dict(type="str", required=True),
                    pattern=dict(type="str"),
                    metric_name=dict(type="str"),
                    metric_namespace=dict(type="str"),
                    metric_value=dict(type="str", default="1"),
                    default_value=dict(type="float"),
                    unit=dict(type="str"),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    log_group_name, state, filters = (module.params[k] for k in ("log_group_name", "state", "filters"))
    names = [params["name"] for params in filters]
    if len(set(names)) != len(names):
        module.fail_json(msg=f"filter names given more than once: {sorted({n for n in names if names.count(n) > 1})}")
    if state == "present":
        incomplete = [p["name"] for p in filters if not (p.get("pattern") is not None and p.get("metric_name") and p.get("metric_namespace"))]
        if incomplete:
            module.fail_json(msg=f"pattern, metric_name and metric_namespace are required when state=present: {incomplete}")

    client = module.client("logs", retry_decorator=AWSRetry.jittered_backoff())
    current = describe(client, module, log_group_name)
    group_exists = current is not None
    if not group_exists and state == "present" and not module.check_mode:
        module.fail_json(msg=f"log group {log_group_name} does not exist")
    steps = plan(log_group_name, filters, current or {}, state)

    if not module.check_mode:
        for name, action, request, _before, _after in steps:
            try:
                if action == "put":
                    client.put_metric_filter(aws_retry=True, **request)
                elif action == "delete":
                    client.delete_metric_filter(aws_retry=True, logGroupName=log_group_name, filterName=name)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to {action} metric filter {name}")

    changed = [name for name, action, _r, _b, _a in steps if action]
    result = dict(
        changed=bool(changed), changed_filters=changed, log_group_exists=group_exists,
        filters=[dict(filter_name=name, changed=bool(action)) for name, action, _r, _b, _a in steps],
    )
    if changed and module._diff:
        result["diff"] = dict(
            before={name: make_diff(before, after)["before"] for name, action, _r, before, after in steps if action},
            after={name: make_diff(before, after)["after"] for name, action, _r, before, after in steps if action},
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
