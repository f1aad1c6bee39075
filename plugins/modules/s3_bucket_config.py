#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: s3_bucket_config
short_description: Enforce the security and lifecycle settings of an existing S3 bucket
version_added: 1.0.0
description:
  - Manages default encryption, the public access block, the bucket policy, versioning and
    lifecycle rules of a bucket that already exists (create it with M(amazon.aws.s3_bucket)).
  - Unlike M(amazon.aws.s3_bucket) and M(community.aws.s3_lifecycle), supports check mode and
    diff, so a dry run shows exactly which setting drifted.
  - An option left unset is not managed.
author:
  - Image processor maintainers
options:
  name:
    description: Name of the bucket.
    required: true
    type: str
  encryption:
    description: Default server-side encryption.
    choices: ["AES256", "aws:kms"]
    type: str
  encryption_key_id:
    description: KMS key for O(encryption=aws:kms); the AWS managed key when unset.
    type: str
  block_public_access:
    description: Turn all four public access block settings on (V(true)) or off (V(false)).
    type: bool
  policy:
    description: The bucket policy document.
    type: json
  versioning:
    description: Versioning enabled (V(true)) or suspended (V(false)); a never-versioned bucket stays so on V(false).
    type: bool
  lifecycle_rules:
    description:
      - The complete list of lifecycle rules, each in the snake_case form of the C(LifecycleRule)
        API shape (C(id), C(status), C(filter), C(noncurrent_version_expiration) ...).
      - An empty list removes the lifecycle configuration.
    type: list
    elements: dict
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Private, encrypted, TLS-only bucket that cleans up after itself
  imgops.image_processor.s3_bucket_config:
    name: my-uploads
    encryption: AES256
    block_public_access: true
    versioning: true
    policy: "{{ lookup('ansible.builtin.template', 'tls_only.json.j2') }}"
    lifecycle_rules:
      - id: abort-incomplete-multipart
        status: Enabled
        filter: {prefix: ""}
        abort_incomplete_multipart_upload: {days_after_initiation: 7}
"""

RETURN = r"""
settings:
  description: The managed settings now in place, in API shape.
  returned: always
  type: dict
"""

import copy

try:  # noqa: SIM105 (the amazon.aws import guard)
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import snake_dict_to_camel_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.imgops.image_processor.plugins.module_utils.drift import (
    make_diff,
    normalise,
    normalise_json,
)

ABSENT_CODES = (
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "NoSuchBucketPolicy",
    "NoSuchLifecycleConfiguration",
)


def desired_settings(params):
    """Pure: module parameters -> {setting: API shape} for the settings that are managed."""
    desired = {}
    if params.get("encryption"):
        rule = {"SSEAlgorithm": params["encryption"]}
        if params["encryption"] == "aws:kms" and params.get("encryption_key_id"):
            rule["KMSMasterKeyID"] = params["encryption_key_id"]
        desired["encryption"] = {"Rules": [{"ApplyServerSideEncryptionByDefault": rule}]}
    if params.get("block_public_access") is not None:
        flag = params["block_public_access"]
        desired["public_access_block"] = {
            "BlockPublicAcls": flag, "IgnorePublicAcls": flag,
            "BlockPublicPolicy": flag, "RestrictPublicBuckets": flag,
        }
    if params.get("policy") is not None:
        desired["policy"] = normalise_json(params["policy"])
    if params.get("versioning") is not None:
        desired["versioning"] = "Enabled" if params["versioning"] else "Suspended"
    if params.get("lifecycle_rules") is not None:
        rules = [snake_dict_to_camel_dict(rule, capitalize_first=True) for rule in params["lifecycle_rules"]]
        for rule in rules:
            if "Id" in rule:
                rule["ID"] = rule.pop("Id")  # the one key the API spells in capitals
        desired["lifecycle"] = rules
    return desired


def comparable(setting, value):
    """Pure: the form of one setting in which equal configurations compare equal."""
    value = copy.deepcopy(value)
    if setting == "encryption" and value:
        for rule in value.get("Rules", []):
            rule.pop("BucketKeyEnabled", None)  # AWS adds it (false) to every answer
    if setting == "versioning" and value in (None, "Suspended"):
        return "Suspended"  # never versioned and suspended are alike for us
    if setting == "lifecycle" and value:
        value = sorted(value, key=lambda rule: rule.get("ID", ""))
        for rule in value:
            if rule.get("Filter") in ({"Prefix": ""}, {}):
                rule["Filter"] = {"Prefix": ""}
    return normalise(value)


def drifted(desired, current):
    """Pure: names of the desired settings that differ from `current`."""
    return sorted(name for name, value in desired.items() if comparable(name, value) != comparable(name, current.get(name)))


def read_setting(client, name, setting):
    bucket = {"Bucket": name}
    try:
        if setting == "encryption":
            return client.get_bucket_encryption(aws_retry=True, **bucket)["ServerSideEncryptionConfiguration"]
        if setting == "public_access_block":
            return client.get_public_access_block(aws_retry=True, **bucket)["PublicAccessBlockConfiguration"]
        if setting == "policy":
            return normalise_json(client.get_bucket_policy(aws_retry=True, **bucket)["Policy"])
        if setting == "versioning":
            return client.get_bucket_versioning(aws_retry=True, **bucket).get("Status")
        if setting == "lifecycle":
            return client.get_bucket_lifecycle_configuration(aws_retry=True, **bucket)["Rules"]
    except is_boto3_error_code(list(ABSENT_CODES)):
        return None
    raise ValueError(setting)


def write_setting(client, module, name, setting, value):
    bucket = {"Bucket": name}
    if setting == "encryption":
        client.put_bucket_encryption(aws_retry=True, ServerSideEncryptionConfiguration=value, **bucket)
    elif setting == "public_access_block":
        client.put_public_access_block(aws_retry=True, PublicAccessBlockConfiguration=value, **bucket)
    elif setting == "policy":
        if value:
            client.put_bucket_policy(aws_retry=True, Policy=module.jsonify(value), **bucket)
        else:
            client.delete_bucket_policy(aws_retry=True, **bucket)
    elif setting == "versioning":
        client.put_bucket_versioning(aws_retry=True, VersioningConfiguration={"Status": value}, **bucket)
    elif setting == "lifecycle":
        if value:
            client.put_bucket_lifecycle_configuration(aws_retry=True, LifecycleConfiguration={"Rules": value}, **bucket)
        else:
            client.delete_bucket_lifecycle(aws_retry=True, **bucket)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            encryption=dict(type="str", choices=["AES256", "aws:kms"]),
            encryption_key_id=dict(type="str"),
            block_public_access=dict(type="bool"),
            policy=dict(type="json"),
            versioning=dict(type="bool"),
            lifecycle_rules=dict(type="list", elements="dict"),
        ),
        supports_check_mode=True,
    )
    name = module.params["name"]
    client = module.client("s3", retry_decorator=AWSRetry.jittered_backoff())
    desired = desired_settings(module.params)
    try:
        current = {setting: read_setting(client, name, setting) for setting in desired}
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to read the settings of bucket {name}")

    changes = drifted(desired, current)
    result = dict(changed=bool(changes), changed_settings=changes, settings=desired)
    if changes and module._diff:
        result["diff"] = make_diff(
            {s: comparable(s, current[s]) for s in changes}, {s: comparable(s, desired[s]) for s in changes}
        )
    if changes and not module.check_mode:
        for setting in changes:
            try:
                write_setting(client, module, name, setting, desired[setting])
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to set {setting} of bucket {name}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
