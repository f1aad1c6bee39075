"""Deployment figures: cold converge (from empty), no-op converge, resources created.

    LOCALSTACK_ENDPOINT=http://127.0.0.1:4567 \
        .venvs/controller/bin/python bench/deploy.py [--profile N]

Tears the dev stack down first and leaves it converged. Targets: cold <= 45 s, no-op <= 15 s.
Outputs go to a temporary directory (BENCH_OUTPUTS_DIR), never to the shared outputs/dev.json.
--profile N prints the N slowest tasks of each converge (ansible.posix.profile_tasks).
--noop-runs N (default 3) repeats the no-op converge and reports each run, the best and the
median. The machine is shared and its CPU speed drifts by up to 2x within a minute, so each
converge is reported with the load average and with `cpu_check_s`: the time of a fixed
pure-Python loop run just before it (about 0.55 s on a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[1]
ENDPOINT = (
    os.environ.get("LOCALSTACK_ENDPOINT")
    or os.environ.get("AWS_ENDPOINT_URL")
    or "http://127.0.0.1:4566"
)
NAME = "image-processor-dev"
TARGETS = {"cold": 45.0, "noop": 15.0}
OUTPUTS_DIR = os.environ.get("BENCH_OUTPUTS_DIR") or tempfile.mkdtemp(prefix="bench-deploy-")
TASK_TIME = re.compile(r"^(.+?) -+ (\d+\.\d+)s$")


def playbook(name: str, profile: int = 0) -> tuple[float, int, list[str]]:
    env = dict(os.environ, LOCALSTACK_ENDPOINT=ENDPOINT, ANSIBLE_NOCOLOR="1")
    if profile:
        env.update(
            ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
            PROFILE_TASKS_TASK_OUTPUT_LIMIT=str(profile),
        )
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            f"playbooks/{name}",
            "-i",
            "inventories/dev",
            "-e",
            f"image_processor_outputs_dir={OUTPUTS_DIR}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    if proc.returncode:
        sys.exit(f"{name} failed:\n{proc.stdout[-3000:]}")
    recap = proc.stdout.split("PLAY RECAP")[-1]
    changed = int(re.search(r"changed=(\d+)", recap).group(1))
    slowest = [line.strip() for line in recap.splitlines() if TASK_TIME.match(line.strip())][
        :profile
    ]
    return elapsed, changed, slowest


def load() -> float:
    return round(os.getloadavg()[0], 1)


def cpu_check() -> float:
    """Seconds for a fixed pure-Python loop: how fast the shared CPU is right now."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return round(time.perf_counter() - started, 2)


def count_resources() -> dict[str, int]:
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    c = lambda service: session.client(service, endpoint_url=ENDPOINT)  # noqa: E731
    lam, logs = c("lambda"), c("logs")
    counts = {
        "s3 buckets": sum(b["Name"].startswith(NAME) for b in c("s3").list_buckets()["Buckets"]),
        "lambda functions": sum(
            f["FunctionName"].startswith(NAME) for f in lam.list_functions()["Functions"]
        ),
        # ListLayers fails on LocalStack 4.14 once a layer has no version left: ask for ours
        "lambda layer versions": len(
            lam.list_layer_versions(LayerName=f"{NAME}-pillow")["LayerVersions"]
        ),
        "iam roles": sum(r["RoleName"].startswith(NAME) for r in c("iam").list_roles()["Roles"]),
        "log groups": len(
            logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{NAME}")["logGroups"]
        ),
        "metric filters": len(
            logs.describe_metric_filters(logGroupName=f"/aws/lambda/{NAME}")["metricFilters"]
        ),
        "alarms": len(c("cloudwatch").describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"]),
        "dashboards": len(
            c("cloudwatch").list_dashboards(DashboardNamePrefix=NAME)["DashboardEntries"]
        ),
        "sns topics": sum(f":{NAME}-" in t["TopicArn"] for t in c("sns").list_topics()["Topics"]),
        "sqs queues": len(c("sqs").list_queues(QueueNamePrefix=NAME).get("QueueUrls", [])),
    }
    counts["sns subscriptions"] = sum(
        f":{NAME}-" in s["TopicArn"] for s in c("sns").list_subscriptions()["Subscriptions"]
    )
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="print the N slowest tasks of each run"
    )
    parser.add_argument(
        "--noop-runs", type=int, default=3, metavar="N", help="no-op converges (best, median)"
    )
    args = parser.parse_args()
    playbook("teardown.yml")
    cold_check, cold_load = cpu_check(), load()
    cold, cold_changed, cold_slowest = playbook("site.yml", args.profile)
    noops = []
    for _ in range(max(1, args.noop_runs)):
        check, load_before = cpu_check(), load()
        seconds, changed, noop_slowest = playbook("site.yml", args.profile)
        noops.append(
            {
                "s": round(seconds, 1),
                "changed": changed,
                "load_avg_1m": load_before,
                "cpu_check_s": check,
            }
        )
    noop_times = [run["s"] for run in noops]
    resources = count_resources()
    report = {
        "cold_converge_s": round(cold, 1),
        "cold_changed": cold_changed,
        "cold_load_avg_1m": cold_load,
        "cold_cpu_check_s": cold_check,
        "noop_converge_best_s": min(noop_times),
        "noop_converge_median_s": statistics.median(noop_times),
        "noop_changed_max": max(run["changed"] for run in noops),
        "noop_runs": noops,
        "resources": sum(resources.values()),
        "by_type": resources,
        "cold_vs_target": round(cold / TARGETS["cold"], 2),
        "noop_best_vs_target": round(min(noop_times) / TARGETS["noop"], 2),
        "noop_median_vs_target": round(statistics.median(noop_times) / TARGETS["noop"], 2),
    }
    if args.profile:
        report.update(cold_slowest=cold_slowest, noop_slowest=noop_slowest)  # the last run's
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
