#!/usr/bin/env python3
"""Start, stop and inspect the embedded LocalStack (LocalStack 4.14 in host mode, no Docker).

    python3 emulator/manage.py up       # install if needed, start in the background, wait healthy
    python3 emulator/manage.py down     # stop it and every Lambda worker it started
    python3 emulator/manage.py status   # running? healthy? how many workers?

Settings (environment variables):
    LOCALSTACK_PORT            gateway port on 127.0.0.1 (default 4566)
    LOCALSTACK_SERVICES        services to start (default: what this project uses)
    LOCALSTACK_STATE_DIR       state, pid file and log (default .state/localstack-<port>)
    LOCALSTACK_START_TIMEOUT   seconds to wait for health (default 60)
    LAMBDA_RETRY_BASE_DELAY    seconds before the first async retry (default 5 here; AWS and
                               LocalStack wait about 60, then 120, so set 60 for AWS timing)
Any other LocalStack setting in the environment is passed on.
Standard library only; runs on any Python 3.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

EMULATOR_DIR = Path(__file__).resolve().parent
REPO = EMULATOR_DIR.parent
VENVS = REPO / ".venvs"
DEFAULT_SERVICES = "s3,lambda,logs,cloudwatch,sns,sqs,iam,sts,ses,kms"
INSTANCE_MARKER = "EMBEDDED_LOCALSTACK_INSTANCE"
WORKER_MARKER = "EMBEDDED_LAMBDA_WORKER_OF"  # the executor sets it on every Lambda worker
STOP_GRACE_SECONDS = 15


class Settings:
    def __init__(self) -> None:
        self.port = int(os.environ.get("LOCALSTACK_PORT", "4566"))
        self.services = os.environ.get("LOCALSTACK_SERVICES", DEFAULT_SERVICES)
        default_state = REPO / ".state" / f"localstack-{self.port}"
        self.state_dir = Path(os.environ.get("LOCALSTACK_STATE_DIR", default_state)).resolve()
        self.start_timeout = float(os.environ.get("LOCALSTACK_START_TIMEOUT", "60"))
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.pid_file = self.state_dir / "localstack.pid"
        self.log_file = self.state_dir / "localstack.log"

    def wanted_services(self) -> list[str]:
        return [name.strip() for name in self.services.split(",") if name.strip()]


def say(message: str) -> None:
    print(f"[localstack] {message}", flush=True)


def health(settings: Settings) -> dict | None:
    try:
        with urllib.request.urlopen(f"{settings.endpoint}/_localstack/health", timeout=2) as r:
            return json.load(r)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def running_pid(settings: Settings) -> int | None:
    """The pid in our pid file if that process is still our LocalStack."""
    try:
        pid = int(settings.pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"localstack.runtime.main" in cmdline else None


def unavailable_services(settings: Settings, status: dict) -> list[str]:
    states = status.get("services", {})
    return [s for s in settings.wanted_services() if states.get(s) not in ("available", "running")]


def workers(settings: Settings) -> list[int]:
    """Processes marked as belonging to this instance (Lambda workers and their children)."""
    marker = f"{WORKER_MARKER}={settings.state_dir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def up(settings: Settings) -> int:
    if (status := health(settings)) is not None:
        ours = running_pid(settings) is not None
        owner = "the embedded one started earlier" if ours else "not started by this tool"
        say(f"LocalStack {status.get('version', '?')} already answers on {settings.endpoint} "
            f"({owner}); using it.")
        return print_endpoint(settings)
    if port_in_use(settings.port):
        say(f"error: port {settings.port} is in use by something that is not LocalStack. "
            f"Free it (`ss -ltnp 'sport = :{settings.port}'` shows who) or pick another port "
            f"with LOCALSTACK_PORT=<port>.")
        return 1
    subprocess.run([sys.executable, str(EMULATOR_DIR / "install.py"), "--venvs", str(VENVS)],
                   check=True)
    tmp_dir = settings.state_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GATEWAY_LISTEN": f"127.0.0.1:{settings.port}",
        "SERVICES": settings.services,
        # Offline, the analytics shutdown hook hangs SIGTERM forever; DNS and certificate
        # downloads only fail noisily.
        "DISABLE_EVENTS": "1",
        "DNS_ADDRESS": "0",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        # /.dockerenv makes LocalStack think it runs in a container and share /tmp/localstack
        # between instances (which wipe it); its own TMPDIR keeps each instance apart.
        "TMPDIR": str(tmp_dir),
        "LAMBDA_RUNTIME_EXECUTOR": "local",
        # A failed upload reaches the dead-letter queue in seconds instead of three minutes;
        # the retries themselves (count, order, OnFailure record) are unchanged.
        "LAMBDA_RETRY_BASE_DELAY": os.environ.get("LAMBDA_RETRY_BASE_DELAY", "5"),
        "EMBEDDED_LAMBDA_RUNTIMES_DIR": str(VENVS / "runtimes"),
        INSTANCE_MARKER: str(settings.state_dir),
    }
    started = time.monotonic()
    with open(settings.log_file, "ab") as log:
        process = subprocess.Popen(
            [str(VENVS / "localstack" / "bin" / "python"), "-m", "localstack.runtime.main"],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=settings.state_dir,
        )  # fmt: skip
    settings.pid_file.write_text(str(process.pid))
    say(f"starting LocalStack (pid {process.pid}, log {settings.log_file})")
    missing = settings.wanted_services()
    while time.monotonic() - started < settings.start_timeout:
        if process.poll() is not None:
            break
        status = health(settings)
        if status is not None and not (missing := unavailable_services(settings, status)):
            say(f"healthy after {time.monotonic() - started:.1f} s")
            return print_endpoint(settings)
        time.sleep(0.25)
    reason = (f"exited with code {process.returncode}" if process.poll() is not None
              else f"not healthy within {settings.start_timeout:.0f} s (waiting for "
                   f"{', '.join(missing)})")
    say(f"error: LocalStack {reason}. Last lines of {settings.log_file}:")
    print("".join(settings.log_file.read_text(errors="replace").splitlines(True)[-30:]))
    stop(settings)
    return 1


def print_endpoint(settings: Settings) -> int:
    say(f"endpoint {settings.endpoint}")
    say(f"for the AWS CLI: `source {REPO / 'localstack.env'}`")
    return 0


def stop(settings: Settings) -> int:
    pid = running_pid(settings)
    if pid is None:
        say("not running (no live pid in the pid file)")
    else:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while running_pid(settings) and time.monotonic() < deadline:
            time.sleep(0.2)
        if running_pid(settings):
            say(f"still running after {STOP_GRACE_SECONDS} s: SIGKILL")
            os.killpg(pid, signal.SIGKILL)
        say(f"stopped (pid {pid})")
    leftovers = workers(settings)
    for worker in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGKILL)
    if leftovers:
        say(f"killed {len(leftovers)} leftover Lambda worker process(es)")
    settings.pid_file.unlink(missing_ok=True)
    return 0


def status(settings: Settings) -> int:
    pid = running_pid(settings)
    current = health(settings)
    if current is None:
        say(f"not answering on {settings.endpoint}" + (f" (pid {pid} alive)" if pid else ""))
        return 1
    owner = f"embedded, pid {pid}" if pid else "not started by this tool"
    say(f"LocalStack {current.get('version', '?')} on {settings.endpoint} ({owner})")
    missing = unavailable_services(settings, current)
    say("services: all available" if not missing else f"unavailable: {', '.join(missing)}")
    say(f"Lambda worker processes: {len(workers(settings))}")
    return 0 if not missing else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    command = parser.parse_args().command
    settings = Settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    return {"up": up, "down": stop, "status": status}[command](settings)


if __name__ == "__main__":
    sys.exit(main())
