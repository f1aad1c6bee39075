#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: s3_bucket_config
short_description: Create S3 buckets and enforce their ownership, tags, security, lifecycle and notifications
version_added: 1.0.0
description:
  - Creates a bucket that does not exist yet, then manages its object ownership, tags, default
    encryption, public access block, bucket policy, versioning, lifecycle rules and Lambda
    notifications (delete buckets with M(amazon.aws.s3_bucket) O(amazon.aws.s3_bucket#module:state=absent)).
  - Unlike M(amazon.aws.s3_bucket), M(community.aws.s3_lifecycle) and
    M(community.aws.s3_bucket_notification), supports check mode and diff, so a dry run shows
    exactly which setting of which bucket drifted.
  - Several buckets in one run (O(buckets)) share one module start-up and one S3 client.
  - An option left unset is not managed.
author:
  - Image processor maintainers
options:
  name:
    description:
      - Name of the bucket; the other top-level options are its settings.
      - Exactly one of O(name) and O(buckets) is required.
    type: str
  buckets:
    description:
      - Several buckets, each a dict of O(name) and the same settings as the top-level options
        (O(object_ownership), O(tags), O(encryption), O(encryption_key_id), O(block_public_access),
        O(policy), O(versioning), O(lifecycle_rules), O(lambda_notifications)).
    type: list
    elements: dict
    suboptions:
      name: {description: Name of the bucket., type: str, required: true}
      object_ownership: {description: As O(object_ownership)., type: str, choices: ["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"]}
      tags: {description: As O(tags)., type: dict}
      encryption: {description: As O(encryption)., type: str, choices: ["AES256", "aws:kms"]}
      encryption_key_id: {description: As O(encryption_key_id)., type: str}
      block_public_access: {description: As O(block_public_access)., type: bool}
      policy: {description: As O(policy)., type: json}
      versioning: {description: As O(versioning)., type: bool}
      lifecycle_rules: {description: As O(lifecycle_rules)., type: list, elements: dict}
      lambda_notifications: {description: As O(lambda_notifications)., type: list, elements: dict}
  object_ownership:
    description: Object ownership control; set at creation and enforced afterwards.
    choices: ["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"]
    type: str
  tags:
    description: The complete tag set of the bucket (tags not listed are removed).
    type: dict
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
  lambda_notifications:
    description:
      - Lambda function notification configurations, each with C(id), C(lambda_function_arn),
        C(events) and optional C(prefix) and C(suffix) key filters.
      - Configurations of other ids (and topic, queue and EventBridge notifications) are kept.
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

- name: Two buckets in one run, the first one notifying a function of uploads
  imgops.image_processor.s3_bucket_config:
    buckets:
      - name: my-uploads
        object_ownership: BucketOwnerEnforced
        tags: {Project: demo}
        encryption: AES256
        lambda_notifications:
          - id: image-upload
            lambda_function_arn: arn:aws:lambda:us-east-1:123456789012:function:resize
            events: ["s3:ObjectCreated:*"]
            suffix: .jpg
      - name: my-processed
        object_ownership: BucketOwnerEnforced
        encryption: AES256
"""

RETURN = r"""
buckets:
  description: Per bucket, in the order given - C(name), C(created), C(changed_settings), C(settings).
  returned: always
  type: list
  elements: dict
changed_settings:
  description: The settings of O(name) that drifted (single-bucket form).
  returned: when O(name) is given
  type: list
  elements: str
settings:
  description: The managed settings of O(name) now in place, in API shape (single-bucket form).
  returned: when O(name) is given
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
    "OwnershipControlsNotFoundError",
    "NoSuchTagSet",
)
SETTING_OPTIONS = dict(
    object_ownership=dict(type="str", choices=["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"]),
    tags=dict(type="dict"),
    encryption=dict(type="str", choices=["AES256", "aws:kms"]),
    encryption_key_id=dict(type="str"),
    block_public_access=dict(type="bool"),
    policy=dict(type="json"),
    versioning=dict(type="bool"),
    lifecycle_rules=dict(type="list", elements="dict"),
    lambda_notifications=dict(type="list", elements="dict"),
)
NOTIFICATION_KINDS = ("TopicConfigurations", "QueueConfigurations", "LambdaFunctionConfigurations", "EventBridgeConfiguration")


def desired_notification(rule):
    """Pure: one lambda_notifications entry -> its LambdaFunctionConfiguration."""
    config = {"Id": rule["id"], "LambdaFunctionArn": rule["lambda_function_arn"], "Events": list(rule["events"])}
    filters = [{"Name": key, "Value": rule[key]} for key in ("prefix", "suffix") if rule.get(key)]
    if filters:
        config["Filter"] = {"Key": {"FilterRules": filters}}
    return config


def desired_settings(params):
    """Pure: module parameters -> {setting: API shape} for the settings that are managed."""
    desired = {}
    if params.get("object_ownership"):
        desired["object_ownership"] = params["object_ownership"]
    if params.get("tags") is not None:
        desired["tags"] = {str(key): str(value) for key, value in params["tags"].items()}
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
    if params.get("lambda_notifications") is not None:
        desired["lambda_notifications"] = [desired_notification(rule) for rule in params["lambda_notifications"]]
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
    if setting == "lambda_notifications" and value:
        value = sorted(value, key=lambda config: config.get("Id", ""))
        for config in value:
            config["Events"] = sorted(config.get("Events", []))
            rules = (config.pop("Filter", None) or {}).get("Key", {}).get("FilterRules", [])
            # S3 may answer with the names capitalised; an empty prefix or suffix filters nothing
            rules = sorted(({"Name": r["Name"].lower(), "Value": r["Value"]} for r in rules if r.get("Value")), key=lambda r: r["Name"])
            if rules:
                config["Filter"] = {"Key": {"FilterRules": rules}}
    return normalise(value)


def drifted(desired, current):
    """Pure: names of the desired settings that differ from `current`."""
    return sorted(name for name, value in desired.items() if comparable(name, value) != comparable(name, current.get(name)))


def own_notifications(desired, configuration):
    """Pure: the Lambda configurations of `configuration` that carry one of the desired ids."""
    ids = {config["Id"] for config in desired}
    return [config for config in (configuration or {}).get("LambdaFunctionConfigurations", []) if config.get("Id") in ids]


def merged_notifications(desired, configuration):
    """Pure: the whole notification configuration to write - ours replaced, everything else kept."""
    merged = {kind: configuration[kind] for kind in NOTIFICATION_KINDS if (configuration or {}).get(kind) is not None}
    ids = {config["Id"] for config in desired}
    others = [config for config in merged.get("LambdaFunctionConfigurations", []) if config.get("Id") not in ids]
    merged["LambdaFunctionConfigurations"] = others + list(desired)
    return merged


def read_setting(client, name, setting):
    bucket = {"Bucket": name}
    try:
        if setting == "object_ownership":
            rules = client.get_bucket_ownership_controls(aws_retry=True, **bucket)["OwnershipControls"]["Rules"]
            return rules[0]["ObjectOwnership"] if rules else None
        if setting == "tags":
            return {tag["Key"]: tag["Value"] for tag in client.get_bucket_tagging(aws_retry=True, **bucket)["TagSet"]}
        if setting == "lambda_notifications":
            return client.get_bucket_notification_configuration(aws_retry=True, **bucket)
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


def write_setting(client, module, name, setting, value, current=None):
    bucket = {"Bucket": name}
    if setting == "object_ownership":
        client.put_bucket_ownership_controls(aws_retry=True, OwnershipControls={"Rules": [{"ObjectOwnership": value}]}, **bucket)
    elif setting == "tags":
        if value:
            tag_set = [{"Key": key, "Value": tag} for key, tag in sorted(value.items())]
            client.put_bucket_tagging(aws_retry=True, Tagging={"TagSet": tag_set}, **bucket)
        else:
            client.delete_bucket_tagging(aws_retry=True, **bucket)
    elif setting == "lambda_notifications":
        client.put_bucket_notification_configuration(
            aws_retry=True, NotificationConfiguration=merged_notifications(value, current), **bucket
        )
    elif setting == "encryption":
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


def bucket_exists(client, name):
    try:
        client.head_bucket(aws_retry=True, Bucket=name)
    except is_boto3_error_code(["404", "NoSuchBucket", "NotFound"]):
        return False
    return True


def create_bucket(client, module, name, object_ownership):
    request = {"Bucket": name}
    if module.region and module.region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": module.region}
    if object_ownership:
        request["ObjectOwnership"] = object_ownership
    client.create_bucket(aws_retry=True, **request)
    client.get_waiter("bucket_exists").wait(Bucket=name)


def converge_bucket(client, module, params):
    """Create the bucket if needed, then read, compare and (unless check mode) write its settings."""
    name = params["name"]
    desired = desired_settings(params)
    try:
        created = not bucket_exists(client, name)
        if created and not module.check_mode:
            create_bucket(client, module, name, params.get("object_ownership"))
        if created and module.check_mode:
            raw = {setting: None for setting in desired}  # nothing to read yet
        else:
            raw = {setting: read_setting(client, name, setting) for setting in desired}
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to create or read the settings of bucket {name}")

    current = dict(raw)
    if "lambda_notifications" in desired:
        current["lambda_notifications"] = own_notifications(desired["lambda_notifications"], raw["lambda_notifications"])
    if created and desired.get("object_ownership"):
        current["object_ownership"] = desired["object_ownership"]  # given to CreateBucket
    changes = drifted(desired, current)
    if changes and not module.check_mode:
        for setting in changes:
            try:
                write_setting(client, module, name, setting, desired[setting], raw.get(setting))
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to set {setting} of bucket {name}")
    before = {s: comparable(s, current[s]) for s in changes}
    after = {s: comparable(s, desired[s]) for s in changes}
    if created:
        before, after = None, dict(after, created=True)
    result = dict(name=name, created=created, changed_settings=changes, settings=desired)
    return result, before, after


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str"),
            buckets=dict(type="list", elements="dict", options=dict(name=dict(type="str", required=True), **SETTING_OPTIONS)),
            **SETTING_OPTIONS,
        ),
        mutually_exclusive=[["name", "buckets"]],
        required_one_of=[["name", "buckets"]],
        supports_check_mode=True,
    )
    if module.params["buckets"] is not None:
        requests = module.params["buckets"]
    else:
        requests = [{key: module.params[key] for key in ["name", *SETTING_OPTIONS]}]
    client = module.client("s3", retry_decorator=AWSRetry.jittered_backoff())

    results, before, after = [], {}, {}
    for params in requests:
        bucket, bucket_before, bucket_after = converge_bucket(client, module, params)
        results.append(bucket)
        if bucket["created"] or bucket["changed_settings"]:
            if bucket_before is not None:
                before[bucket["name"]] = bucket_before
            after[bucket["name"]] = bucket_after
    result = dict(changed=bool(after), buckets=results)
    if module.params["name"] is not None:
        result.update(changed_settings=results[0]["changed_settings"], settings=results[0]["settings"])
    if after and module._diff:
        result["diff"] = make_diff(before, after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
