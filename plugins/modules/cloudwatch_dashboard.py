#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cloudwatch_dashboard
short_description: Manage a CloudWatch dashboard
version_added: 1.0.0
description:
  - Create, update or delete a CloudWatch dashboard.
  - The body is compared after normalisation (parsed JSON, sorted keys, whole floats as integers),
    so formatting or key order never count as a change.
author:
  - Image processor maintainers
options:
  name:
    description: Name of the dashboard.
    required: true
    type: str
    aliases: ["dashboard_name"]
  state:
    description: Whether the dashboard should exist.
    choices: ["present", "absent"]
    default: present
    type: str
  body:
    description:
      - The dashboard body (C(widgets) and optional C(periodOverride), C(start) ...), as a dict
        or a JSON string. Required when O(state=present).
    type: json
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Dashboard with one metric widget
  imgops.image_processor.cloudwatch_dashboard:
    name: image-processor-dev
    body:
      widgets:
        - type: metric
          x: 0
          y: 0
          width: 12
          height: 6
          properties:
            title: Invocations
            region: us-east-1
            metrics: [["AWS/Lambda", "Invocations", "FunctionName", "image-processor-dev"]]

- name: Remove it
  imgops.image_processor.cloudwatch_dashboard:
    name: image-processor-dev
    state: absent
"""

RETURN = r"""
dashboard_name:
  description: Name of the dashboard.
  returned: always
  type: str
dashboard_arn:
  description: ARN of the dashboard.
  returned: when the dashboard exists
  type: str
body:
  description: The normalised body now in place.
  returned: when O(state=present)
  type: dict
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
    normalise_json,
)


def body_changed(desired, current):
    """Pure: does the desired body differ from the current one, ignoring formatting?"""
    if current is None:
        return True
    return normalise_json(desired) != normalise_json(current)


def get_dashboard(client, module, name):
    try:
        return client.get_dashboard(aws_retry=True, DashboardName=name)
    except is_boto3_error_code(["ResourceNotFound", "InvalidParameterValue"]):
        return None  # AWS says ResourceNotFound, LocalStack InvalidParameterValue "does not exist"
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Failed to get dashboard {name}")


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True, aliases=["dashboard_name"]),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            body=dict(type="json"),
        ),
        required_if=[("state", "present", ["body"])],
        supports_check_mode=True,
    )
    name = module.params["name"]
    client = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())
    current = get_dashboard(client, module, name)
    current_body = normalise_json(current["DashboardBody"]) if current else None
    result = dict(changed=False, dashboard_name=name)
    if current:
        result["dashboard_arn"] = current.get("DashboardArn")

    if module.params["state"] == "absent":
        if current:
            result["changed"] = True
            if module._diff:
                result["diff"] = make_diff(current_body, None)
            if not module.check_mode:
                try:
                    client.delete_dashboards(aws_retry=True, DashboardNames=[name])
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                    module.fail_json_aws(e, msg=f"Failed to delete dashboard {name}")
        module.exit_json(**result)

    desired_body = normalise_json(module.params["body"])
    result["body"] = desired_body
    if body_changed(desired_body, current_body):
        result["changed"] = True
        if module._diff:
            result["diff"] = make_diff(current_body, desired_body)
        if not module.check_mode:
            try:
                response = client.put_dashboard(
                    aws_retry=True, DashboardName=name, DashboardBody=module.jsonify(desired_body)
                )
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to put dashboard {name}")
            problems = response.get("DashboardValidationMessages") or []
            if problems:
                module.warn(f"Dashboard {name} stored with validation messages: {problems}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
