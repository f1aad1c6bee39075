"""Watching a run from outside: when each key's five variants first appear, and how many
execution environments (worker processes) exist at once."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from .accounting import VariantListing, expected_variant_keys
from .stack import Stack

WORKER_MARKER = "EMBEDDED_LAMBDA_WORKER_OF"
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int | None:
    """User + system CPU a process has used so far, in clock ticks (None: it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


def worker_pids(state_dir: Path, function_name: str | None = None) -> list[int]:
    """Worker processes of the embedded emulator whose state directory is `state_dir`."""
    marker = f"{WORKER_MARKER}={state_dir.resolve()}".encode()
    wanted_function = f"AWS_LAMBDA_FUNCTION_NAME={function_name}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or not ours
            continue
        if marker in environ and (function_name is None or wanted_function in environ):
            pids.append(int(proc.name))
    return pids


def default_state_dir(endpoint_url: str) -> Path:
    """`emulator/manage.py`'s default: `.state/localstack-<port>` (LOCALSTACK_STATE_DIR wins)."""
    if os.environ.get("LOCALSTACK_STATE_DIR"):
        return Path(os.environ["LOCALSTACK_STATE_DIR"])
    port = endpoint_url.rsplit(":", 1)[-1].split("/")[0]
    return Path(__file__).resolve().parents[2] / ".state" / f"localstack-{port}"


class Observer(threading.Thread):
    """Polls the processed bucket (list calls, `interval` apart) and /proc until stopped.

    `done_at[key]` is when all five variants of `key` were first seen (epoch seconds), so
    latency resolution is about one interval plus one listing, not S3's one-second
    LastModified. Listing is not free: 1,000 objects took 0.3 s of client and emulator CPU,
    and listing every 0.2 s took ~0.3 of the 2 cores from the pipeline it measures (a
    200-image burst ran at 1.64 images/s, 1.80 with 3 s between listings). So the wait after
    each listing is at least `LISTING_DUTY_FACTOR` times the listing's own time, which keeps
    the observer under ~10 % of one core; `resolution` is the longest gap seen.
    """

    LISTING_DUTY_FACTOR = 9

    def __init__(
        self, stack: Stack, template: str, prefix: str, state_dir: Path, interval: float = 0.2
    ) -> None:
        super().__init__(name="observer", daemon=True)
        self.stack = stack
        self.template = template
        self.listing = VariantListing(stack, [prefix])
        self.state_dir = state_dir
        self.interval = interval
        self.expected: dict[str, set[str]] = {}
        self.done_at: dict[str, float] = {}
        self.max_workers = 0
        self.resolution = 0.0
        # CPU ticks per pid: at the start (processes that already ran) and latest seen
        self._ticks_at_start: dict[int, int] = {}
        self._ticks_seen: dict[int, int] = {}
        self._worker_pids: set[int] = set()
        self._emulator_pid = emulator_pid(state_dir)
        self._own_cpu_at_start = time.process_time()
        self._own_cpu = 0.0
        self.stopped_at = 0.0
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def expect(self, key: str) -> None:
        with self._lock:
            self.expected[key] = set(expected_variant_keys(self.template, key).values())

    def run(self) -> None:
        previous = time.time()
        self._sample_cpu(worker_pids(self.state_dir, self.stack.function_name), first=True)
        while True:
            stopping = self._stopping.is_set()  # then one last look, so nothing done is missed
            listed = time.monotonic()
            found = set(self.listing.snapshot())
            listing_seconds = time.monotonic() - listed
            now = time.time()
            self.resolution = max(self.resolution, now - previous)
            previous = now
            workers = worker_pids(self.state_dir, self.stack.function_name)
            self.max_workers = max(self.max_workers, len(workers))
            self._sample_cpu(workers)
            with self._lock:
                for key, variants in self.expected.items():
                    if key not in self.done_at and variants <= found:
                        self.done_at[key] = now
            if stopping:
                return
            self._stopping.wait(max(self.interval, self.LISTING_DUTY_FACTOR * listing_seconds))

    def stop(self) -> None:
        self._stopping.set()
        self.join()
        self._own_cpu = time.process_time() - self._own_cpu_at_start
        self.stopped_at = time.time()

    def _sample_cpu(self, workers: list[int], first: bool = False) -> None:
        """CPU since the start: a process seen at the start counts from then, one started
        later (a new execution environment) counts whole, its cold start included. A worker
        that exits between two looks loses what it used since the last one."""
        self._worker_pids.update(workers)
        pids = [*workers, self._emulator_pid] if self._emulator_pid else workers
        for pid in pids:
            ticks = cpu_ticks(pid)
            if ticks is None:
                continue
            if first:
                self._ticks_at_start[pid] = ticks
            self._ticks_seen[pid] = ticks

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used during the run by the function's workers, the emulator's own
        process and this process (the load generator and its observer)."""

        def used(pids: set[int]) -> float:
            ticks = sum(self._ticks_seen[p] - self._ticks_at_start.get(p, 0) for p in pids)
            return ticks / CLOCK_TICKS_PER_SECOND

        emulator = {self._emulator_pid} & set(self._ticks_seen)
        return {
            "function workers": used(self._worker_pids & set(self._ticks_seen)),
            "LocalStack": used(emulator),
            "load generator": self._own_cpu,
        }


def emulator_pid(state_dir: Path) -> int | None:
    """The pid `emulator/manage.py` recorded for the instance in `state_dir` (None: none)."""
    try:
        return int((state_dir / "localstack.pid").read_text())
    except (OSError, ValueError):
        return None


def processed_log_times(stack: Stack, since: float) -> dict[str, float]:
    """When the function reported each key processed: the earliest ``"processed"`` log line
    per key (epoch seconds). The function logs it after all five PUTs have returned, and the
    emulator stamps an invocation's lines when the invocation ends, so this is at or just
    after the variants exist, at millisecond resolution however slowly listings run (listing
    a bucket costs the emulator time in proportion to all the objects it holds)."""
    logs = stack.client("logs")
    found: dict[str, float] = {}
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=stack.log_group,
        startTime=int(since * 1000),
        filterPattern='{ $.message = "processed" }',
    )
    for page in pages:
        for event in page.get("events", []):
            try:
                key = json.loads(event["message"].split("\t")[-1])["key"]
            except (ValueError, KeyError, TypeError):
                continue
            stamp = event["timestamp"] / 1000
            found[key] = min(stamp, found.get(key, stamp))
    return found
