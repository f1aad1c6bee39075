#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: sns_topics
short_description: Manage several SNS topics, their policies and subscriptions in one call
version_added: 1.1.0
description:
  - Create, update or delete SNS topics with their display name, access policy and
    subscriptions, with check mode and a diff per topic, in one module run (one ListTopics for
    all of them).
  - Policies are compared as JSON documents (key order and formatting are not drift).
  - Subscriptions are matched by protocol and endpoint; one still pending confirmation counts as
    present and cannot be removed (AWS gives it no ARN until it is confirmed).
author:
  - Image processor maintainers
options:
  state:
    description: Whether the topics should exist (a deleted topic's subscriptions are removed first).
    choices: ["present", "absent"]
    default: present
    type: str
  topics:
    description: The topics. Names must be distinct.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the topic.
        type: str
        required: true
      display_name:
        description: Display name (the sender name of e-mail notifications). Unmanaged when unset.
        type: str
      policy:
        description: The access policy (a JSON document or its parsed form). Unmanaged when unset.
        type: json
      subscriptions:
        description: Subscriptions, each with C(protocol) and C(endpoint).
        type: list
        elements: dict
        default: []
      purge_subscriptions:
        description: Remove subscriptions not in O(topics[].subscriptions).
        type: bool
        default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Critical and warning topics, both delivered to an SQS inbox
  imgops.image_processor.sns_topics:
    topics:
      - name: image-processor-dev-critical
        display_name: Image processor CRITICAL
        policy: "{{ lookup('ansible.builtin.template', 'topic_policy.json.j2') }}"
        subscriptions:
          - {protocol: sqs, endpoint: "arn:aws:sqs:us-east-1:123456789012:image-processor-dev-alerts-inbox"}
      - name: image-processor-dev-warning
        display_name: Image processor WARNING

- name: Remove them
  imgops.image_processor.sns_topics:
    state: absent
    topics: [{name: image-processor-dev-critical}, {name: image-processor-dev-warning}]
"""

RETURN = r"""
topics:
  description: One entry per element of O(topics), in the same order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the topic.
      type: str
    topic_arn:
      description: ARN of the topic (not known for a topic created in check mode).
      type: str
    changed:
      description: Whether this topic was (or in check mode would be) changed.
      type: bool
    changed_attributes:
      description: Attributes set (C(DisplayName), C(Policy)).
      type: list
      elements: str
    subscribed:
      description: Subscriptions added, as C(protocol:endpoint).
      type: list
      elements: str
    unsubscribed:
      description: Subscriptions removed, as C(protocol:endpoint).
      type: list
      elements: str
changed_topics:
  description: Names of the topics that changed (or would change in check mode).
  returned: always
  type: list
  elements: str
"""

try:  # noqa: SIM105 (the amazon.aws import guard)
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.imgops.image_processor.plugins.module_utils.drift import (
    normalise,
    normalise_json,
)

UNREMOVABLE = ("PendingConfirmation", "Deleted")  # subscription "ARNs" that are not ARNs


def subscription_key(subscription):
    """Pure: protocol:endpoint, how subscriptions are matched (AWS spells keys in capitals)."""
    protocol = subscription.get("protocol", subscription.get("Protocol"))
    endpoint = subscription.get("endpoint", subscription.get("Endpoint"))
    return f"{protocol}:{endpoint}"


def desired_attributes(params):
    """Pure: the managed attributes of one element of `topics`, normalised."""
    desired = {}
    if params.get("display_name") is not None:
        desired["DisplayName"] = params["display_name"]
    if params.get("policy") is not None:
        desired["Policy"] = normalise_json(params["policy"])
    return desired


def current_attributes(attributes):
    """Pure: GetTopicAttributes' answer in the form of desired_attributes()."""
    current = {}
    if "DisplayName" in attributes:
        current["DisplayName"] = attributes["DisplayName"]
    if attributes.get("Policy"):
        current["Policy"] = normalise_json(attributes["Policy"])
    return current


def plan_topic(params, attributes, subscriptions):
    """Pure: one desired topic against what exists -> the changes.

    attributes is None for a topic that does not exist; subscriptions are ListSubscriptionsByTopic
    entries. Returns dict(attributes={name: value}, subscribe=[{protocol, endpoint}],
    unsubscribe=[subscription], before=..., after=...)."""
    desired = desired_attributes(params)
    current = current_attributes(attributes or {})
    changed_attributes = {name: value for name, value in desired.items() if normalise(current.get(name)) != normalise(value)}
    existing = {subscription_key(s): s for s in subscriptions}
    wanted = {subscription_key(s): s for s in params.get("subscriptions") or []}
    subscribe = [wanted[key] for key in sorted(wanted) if key not in existing]
    unsubscribe = []
    if params.get("purge_subscriptions", True):
        unsubscribe = [existing[key] for key in sorted(existing)
                       if key not in wanted and existing[key].get("SubscriptionArn") not in UNREMOVABLE]
    kept = sorted(key for key in existing if key in wanted or existing[key] not in unsubscribe)
    before = None if attributes is None else dict(current, Subscriptions=sorted(existing))
    after = dict(current, **desired, Subscriptions=sorted(set(kept) | {subscription_key(s) for s in subscribe}))
    return dict(attributes=changed_attributes, subscribe=subscribe, unsubscribe=unsubscribe,
                create=attributes is None, before=before, after=after)


def topic_changed(step):
    return bool(step["create"] or step["attributes"] or step["subscribe"] or step["unsubscribe"])


def list_topics(client):
    arns = client.get_paginator("list_topics").paginate().build_full_result().get("Topics", [])
    return {topic["TopicArn"].rsplit(":", 1)[-1]: topic["TopicArn"] for topic in arns}


def list_subscriptions(client, arn):
    pages = client.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn).build_full_result()
    return pages.get("Subscriptions", [])


def apply(client, module, name, arn, step):
    if step["create"]:
        attributes = {key: (module.jsonify(value) if key == "Policy" else value) for key, value in step["attributes"].items()}
        arn = client.create_topic(aws_retry=True, Name=name, Attributes=attributes)["TopicArn"]
    else:
        for key, value in step["attributes"].items():
            client.set_topic_attributes(aws_retry=True, TopicArn=arn, AttributeName=key,
                                        AttributeValue=module.jsonify(value) if key == "Policy" else value)
    for subscription in step["subscribe"]:
        client.subscribe(aws_retry=True, TopicArn=arn, Protocol=subscription["protocol"], Endpoint=subscription["endpoint"])
    for subscription in step["unsubscribe"]:
        client.unsubscribe(aws_retry=True, SubscriptionArn=subscription["SubscriptionArn"])
    return arn


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            state=dict(type="str", default="present", choices=["present", "absent"]),
            topics=dict(
                type="list", elements="dict", required=True,
                options=dict(
                    name=dict(type="str", required=True),
                    display_name=dict(type="str"),
                    policy=dict(type="json"),
                    subscriptions=dict(type="list", elements="dict", default=[]),
                    purge_subscriptions=dict(type="bool", default=True),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    state, topics = module.params["state"], module.params["topics"]
    names = [params["name"] for params in topics]
    if len(set(names)) != len(names):
        module.fail_json(msg=f"topic names given more than once: {sorted({n for n in names if names.count(n) > 1})}")
    for params in topics:
        bad = [s for s in params["subscriptions"] if not s.get("protocol") or not s.get("endpoint")]
        if bad:
            module.fail_json(msg=f"subscriptions of {params['name']} need protocol and endpoint: {bad}")

    client = module.client("sns", retry_decorator=AWSRetry.jittered_backoff())
    results, diff_before, diff_after = [], {}, {}
    try:
        existing = list_topics(client)
        for params in topics:
            name = params["name"]
            arn = existing.get(name)
            if state == "absent":
                entry = dict(name=name, changed=bool(arn), changed_attributes=[], subscribed=[], unsubscribed=[])
                if arn:
                    diff_before[name], diff_after[name] = {"TopicArn": arn}, {}
                    if not module.check_mode:
                        # AWS deletes the subscriptions with the topic, LocalStack 4.14 keeps them
                        for subscription in list_subscriptions(client, arn):
                            if subscription.get("SubscriptionArn") not in UNREMOVABLE:
                                client.unsubscribe(aws_retry=True, SubscriptionArn=subscription["SubscriptionArn"])
                        client.delete_topic(aws_retry=True, TopicArn=arn)
                results.append(entry)
                continue
            attributes = client.get_topic_attributes(aws_retry=True, TopicArn=arn)["Attributes"] if arn else None
            subscriptions = list_subscriptions(client, arn) if arn else []
            step = plan_topic(params, attributes, subscriptions)
            if topic_changed(step):
                diff_before[name], diff_after[name] = step["before"] or {}, step["after"]
                if not module.check_mode:
                    arn = apply(client, module, name, arn, step)
            results.append(dict(
                name=name, topic_arn=arn, changed=topic_changed(step), changed_attributes=sorted(step["attributes"]),
                subscribed=[subscription_key(s) for s in step["subscribe"]],
                unsubscribed=[subscription_key(s) for s in step["unsubscribe"]],
            ))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to manage the SNS topics")

    changed = [entry["name"] for entry in results if entry["changed"]]
    result = dict(changed=bool(changed), changed_topics=changed, topics=results)
    if changed and module._diff:
        result["diff"] = dict(before=normalise(diff_before), after=normalise(diff_after))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
