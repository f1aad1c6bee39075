"""The deployed stack as the pipeline tools see it: names from the outputs JSON, the rest asked
of the APIs (the dead-letter queue from the function's OnFailure destination, the key template
from its environment, eligibility from the bucket notification), so a stale or partial outputs
file cannot make the accounting look in the wrong place."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
DEFAULT_TEMPLATE = "{stem}/{variant}.{ext}"
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)


@dataclass(frozen=True)
class NotificationRule:
    prefix: str
    suffix: str

    def matches(self, key: str) -> bool:
        # S3 compares filter rules case-sensitively against the decoded key
        return key.startswith(self.prefix) and key.endswith(self.suffix)


class Stack:
    def __init__(self, outputs: dict[str, Any], endpoint_url: str | None = None) -> None:
        self.outputs = outputs
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT
        self.region = str(outputs.get("region") or "us-east-1")
        self._session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name=self.region
        )

    @classmethod
    def from_file(cls, path: Path, endpoint_url: str | None = None) -> Stack:
        return cls(json.loads(path.read_text()), endpoint_url)

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self.endpoint_url, config=_CLIENT_CONFIG)

    @property
    def upload_bucket(self) -> str:
        return str(self.outputs["upload_bucket"])

    @property
    def processed_bucket(self) -> str:
        return str(self.outputs["processed_bucket"])

    @property
    def function_name(self) -> str:
        return str(self.outputs["function_name"])

    @property
    def log_group(self) -> str:
        return str(self.outputs.get("log_group") or f"/aws/lambda/{self.function_name}")

    @cached_property
    def s3(self) -> Any:
        return self.client("s3")

    @cached_property
    def sqs(self) -> Any:
        return self.client("sqs")

    @cached_property
    def lambda_(self) -> Any:
        return self.client("lambda")

    def function_configuration(self) -> dict[str, Any]:
        return self.lambda_.get_function_configuration(FunctionName=self.function_name)

    def output_key_template(self) -> str:
        variables = self.function_configuration().get("Environment", {}).get("Variables", {})
        return str(variables.get("OUTPUT_KEY_TEMPLATE") or DEFAULT_TEMPLATE)

    def notification_rules(self) -> list[NotificationRule]:
        """Prefix/suffix of every notification that reaches our function (empty = none)."""
        config = self.s3.get_bucket_notification_configuration(Bucket=self.upload_bucket)
        rules = []
        for item in config.get("LambdaFunctionConfigurations", []):
            if not _same_function(item["LambdaFunctionArn"], self.function_name):
                continue
            filters = {
                rule["Name"].lower(): rule["Value"]
                for rule in item.get("Filter", {}).get("Key", {}).get("FilterRules", [])
            }
            rules.append(NotificationRule(filters.get("prefix", ""), filters.get("suffix", "")))
        return rules

    def notified_qualifiers(self) -> set[str | None]:
        """The version/alias each notification invokes (None = unqualified)."""
        config = self.s3.get_bucket_notification_configuration(Bucket=self.upload_bucket)
        return {
            _qualifier(item["LambdaFunctionArn"])
            for item in config.get("LambdaFunctionConfigurations", [])
            if _same_function(item["LambdaFunctionArn"], self.function_name)
        }

    def failure_destination_arn(self, qualifier: str | None = None) -> str | None:
        params = {"FunctionName": self.function_name}
        if qualifier:
            params["Qualifier"] = qualifier
        try:
            config = self.lambda_.get_function_event_invoke_config(**params)
        except self.lambda_.exceptions.ResourceNotFoundException:
            return None
        return config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")

    @cached_property
    def dead_letter_queue_url(self) -> str:
        """From the outputs when present, else from the OnFailure destination (an SQS ARN)."""
        if self.outputs.get("dead_letter_queue_url"):
            return str(self.outputs["dead_letter_queue_url"])
        arn = self.failure_destination_arn()
        if not arn:
            raise LookupError(f"{self.function_name} has no OnFailure destination")
        *_, account, name = arn.split(":")
        return self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def _function_part(arn: str) -> list[str]:
    return arn.split(":function:", 1)[-1].split(":")


def _same_function(arn: str, function_name: str) -> bool:
    return _function_part(arn)[0] == function_name


def _qualifier(arn: str) -> str | None:
    parts = _function_part(arn)
    return parts[1] if len(parts) > 1 and parts[1] != "$LATEST" else None
