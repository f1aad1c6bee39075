"""The one place that reads `outputs/<env>.json` and makes boto3 clients for what it describes."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_OUTPUTS_DIR = Path(__file__).resolve().parents[2] / "outputs"
# LocalStack accepts any credentials; these keep a fresh shell from failing on "no credentials".
EMULATOR_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


class ToolError(Exception):
    """A failure the operator can fix; the message says what happened and what to do."""


@dataclass(frozen=True)
class Stack:
    environment: str
    region: str
    endpoint_url: str | None
    upload_bucket: str
    processed_bucket: str
    function_name: str
    log_group: str
    dead_letter_queue_url: str
    critical_topic_arn: str
    warning_topic_arn: str
    alerts_inbox_queue_url: str | None
    dashboard_name: str
    metrics_namespace: str
    alarm_names: tuple[str, ...]
    _clients: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_outputs(cls, outputs: dict[str, Any]) -> Stack:
        required = [name for name in cls.__dataclass_fields__ if not name.startswith("_")]
        optional = {"endpoint_url", "alerts_inbox_queue_url"}
        missing = [name for name in required if name not in optional and not outputs.get(name)]
        if missing:
            raise ToolError(
                f"outputs for {outputs.get('environment', '?')!r} lack {', '.join(missing)}; "
                "re-run the deployment (make deploy) to rewrite the outputs file"
            )
        values = {name: outputs.get(name) for name in required}
        values["alarm_names"] = tuple(outputs["alarm_names"])
        return cls(**values)

    @property
    def is_emulated(self) -> bool:
        return self.endpoint_url is not None

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = make_client(service, self.region, self.endpoint_url)
        return self._clients[service]


def make_client(service: str, region: str, endpoint_url: str | None) -> Any:
    kwargs: dict[str, Any] = {
        "region_name": region,
        "config": Config(retries={"max_attempts": 3, "mode": "standard"}),
    }
    if endpoint_url is not None:
        kwargs["endpoint_url"] = endpoint_url
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            kwargs.update(EMULATOR_CREDENTIALS)
    return boto3.client(service, **kwargs)


def load_stack(environment: str, outputs_dir: Path = DEFAULT_OUTPUTS_DIR) -> Stack:
    path = outputs_dir / f"{environment}.json"
    try:
        outputs = json.loads(path.read_text())
    except FileNotFoundError:
        raise ToolError(
            f"{path} does not exist: deploy {environment!r} first (make deploy ENV={environment})"
        ) from None
    except json.JSONDecodeError as error:
        raise ToolError(f"{path} is not valid JSON ({error}); re-run the deployment") from None
    return Stack.from_outputs(outputs)
