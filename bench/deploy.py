"""Deployment figures: cold converge (from empty), no-op converge, resources created.

    LOCALSTACK_ENDPOINT=http://127.0.0.1:4567 .venvs/controller/bin/python bench/deploy.py

Tears the dev stack down first and leaves it converged. Targets: cold <= 45 s, no-op <= 15 s.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[1]
ENDPOINT = os.environ.get("LOCALSTACK_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL") or "http://127.0.0.1:4566"
NAME = "image-processor-dev"
TARGETS = {"cold": 45.0, "noop": 15.0}


def playbook(name: str) -> tuple[float, int]:
    env = dict(os.environ, LOCALSTACK_ENDPOINT=ENDPOINT, ANSIBLE_NOCOLOR="1")
    started = time.monotonic()
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), f"playbooks/{name}", "-i", "inventories/dev"],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )
    elapsed = time.monotonic() - started
    if proc.returncode:
        sys.exit(f"{name} failed:\n{proc.stdout[-3000:]}")
    changed = int(re.search(r"changed=(\d+)", proc.stdout.split("PLAY RECAP")[-1]).group(1))
    return elapsed, changed


def count_resources() -> dict[str, int]:
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    c = lambda service: session.client(service, endpoint_url=ENDPOINT)  # noqa: E731
    lam, logs = c("lambda"), c("logs")
    counts = {
        "s3 buckets": sum(b["Name"].startswith(NAME) for b in c("s3").list_buckets()["Buckets"]),
        "lambda functions": sum(f["FunctionName"].startswith(NAME) for f in lam.list_functions()["Functions"]),
        "lambda layer versions": sum(
            len(lam.list_layer_versions(LayerName=layer["LayerName"])["LayerVersions"])
            for layer in lam.list_layers()["Layers"] if layer["LayerName"].startswith(NAME)
        ),
        "iam roles": sum(r["RoleName"].startswith(NAME) for r in c("iam").list_roles()["Roles"]),
        "log groups": len(logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{NAME}")["logGroups"]),
        "metric filters": len(logs.describe_metric_filters(logGroupName=f"/aws/lambda/{NAME}")["metricFilters"]),
        "alarms": len(c("cloudwatch").describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"]),
        "dashboards": len(c("cloudwatch").list_dashboards(DashboardNamePrefix=NAME)["DashboardEntries"]),
        "sns topics": sum(f":{NAME}-" in t["TopicArn"] for t in c("sns").list_topics()["Topics"]),
        "sqs queues": len(c("sqs").list_queues(QueueNamePrefix=NAME).get("QueueUrls", [])),
    }
    counts["sns subscriptions"] = sum(
        f":{NAME}-" in s["TopicArn"] for s in c("sns").list_subscriptions()["Subscriptions"]
    )
    return counts


def main() -> None:
    playbook("teardown.yml")
    cold, cold_changed = playbook("site.yml")
    noop, noop_changed = playbook("site.yml")
    resources = count_resources()
    report = {
        "cold_converge_s": round(cold, 1), "cold_changed": cold_changed,
        "noop_converge_s": round(noop, 1), "noop_changed": noop_changed,
        "resources": sum(resources.values()), "by_type": resources,
        "cold_vs_target": round(cold / TARGETS["cold"], 2), "noop_vs_target": round(noop / TARGETS["noop"], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
