"""The ``local`` Lambda runtime executor: each execution environment is a worker process running
the function's own runtime interpreter on this machine (no Docker).

LocalStack creates one ``LocalRuntimeExecutor`` per execution environment and sends it one
invocation at a time. The executor does what the Lambda sandbox and its init binary do on AWS:
starts the runtime (``worker/bootstrap.py``), enforces the timeout and the memory size, turns
the function's output into the START / END / REPORT log stream, replaces a worker that timed
out, ran out of memory or died, and publishes the ``AWS/Lambda`` metrics LocalStack does not
(``Duration``, ``ConcurrentExecutions``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.aws.connect import connect_to
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import RuntimeExecutor
from localstack.utils.bootstrap import is_api_enabled

from embedded_localstack import runtimes

LOG = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).parent / "worker" / "bootstrap.py"
END_OF_OUTPUT_PREFIX = b"\x00embedded-lambda-end-of-output "
# `manage.py` marks LocalStack with INSTANCE_MARKER; every worker carries it on as WORKER_MARKER,
# so `manage.py down` can sweep anything a function left behind.
INSTANCE_MARKER = "EMBEDDED_LOCALSTACK_INSTANCE"
WORKER_MARKER = "EMBEDDED_LAMBDA_WORKER_OF"
# The memory check reads the kernel's high-water mark (VmHWM), so a peak between two checks is
# still seen; the interval only bounds how late the kill comes. At 10 ms these reads were the
# largest cost of LocalStack's own during a burst (bench/load.py, py-spy --gil).
MEMORY_POLL_SECONDS = 0.05
MB = 1024 * 1024


class _Spawner:
    """Starts every worker from one long-lived thread.

    Workers ask the kernel (PR_SET_PDEATHSIG) to kill them when their parent *thread* exits;
    LocalStack starts environments from short-lived request threads, so spawning from those
    would kill workers at random. This thread lives as long as LocalStack does.
    """

    def __init__(self) -> None:
        self._requests: queue.Queue[tuple[dict[str, Any], Future[subprocess.Popen[bytes]]]] = (
            queue.Queue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def popen(self, **kwargs: Any) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="embedded-lambda-spawner", daemon=True
                )
                self._thread.start()
        future: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((kwargs, future))
        return future.result()

    def _run(self) -> None:
        while True:
            kwargs, future = self._requests.get()
            try:
                future.set_result(subprocess.Popen(**kwargs))
            except Exception as e:
                future.set_exception(e)


SPAWNER = _Spawner()


class _Concurrency:
    """In-flight invocations per function and for the account (ConcurrentExecutions)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._per_function: dict[str, int] = {}
        self._total = 0

    def enter(self, function_name: str) -> tuple[int, int]:
        with self._lock:
            self._per_function[function_name] = self._per_function.get(function_name, 0) + 1
            self._total += 1
            return self._per_function[function_name], self._total

    def leave(self, function_name: str) -> None:
        with self._lock:
            self._per_function[function_name] -= 1
            self._total -= 1


CONCURRENCY = _Concurrency()
METRICS_PUBLISHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-lambda-metrics")


@dataclasses.dataclass
class _Outcome:
    """How one invocation ended, as the sandbox sees it."""

    payload: bytes
    is_error: bool
    status_line: str = ""  # the AWS log line for a sandbox-level failure (timeout, OOM, exit)
    report_status: str = ""  # appended to REPORT: "Status: timeout", "Status: error ..."


class _Worker:
    """One running bootstrap process and the threads reading its output and replies."""

    def __init__(self, process: subprocess.Popen[bytes], requests: Any, replies: Any) -> None:
        self.process = process
        self._requests = requests
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._output: list[str] = []
        self._output_lock = threading.Lock()
        self._end_of_output = threading.Condition(self._output_lock)
        self._ended_request_ids: set[str] = set()
        self._output_closed = False
        self.recent_output: deque[str] = deque(maxlen=500)
        threading.Thread(target=self._read_output, daemon=True).start()
        threading.Thread(target=self._read_replies, args=(replies,), daemon=True).start()

    def _read_output(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with self._output_lock:
                if raw.startswith(END_OF_OUTPUT_PREFIX):
                    request_id = raw[len(END_OF_OUTPUT_PREFIX) :].strip(b"\x00\n").decode()
                    self._ended_request_ids.add(request_id)
                    self._end_of_output.notify_all()
                    continue
                line = raw.decode("utf-8", errors="replace")
                self._output.append(line)
                self.recent_output.append(line)
        with self._output_lock:
            self._output_closed = True
            self._end_of_output.notify_all()

    def _read_replies(self, replies: Any) -> None:
        for line in replies:
            self.replies.put(json.loads(line))
        self.replies.put(None)

    def send(self, request: dict[str, Any]) -> bool:
        try:
            self._requests.write(json.dumps(request) + "\n")
            self._requests.flush()
            return True
        except (BrokenPipeError, ValueError):
            return False

    def take_output(self, request_id: str | None = None, wait_seconds: float = 0.0) -> str:
        """The output so far; with ``request_id``, first wait until all of its output is read."""
        with self._output_lock:
            if request_id is not None:
                self._end_of_output.wait_for(
                    lambda: request_id in self._ended_request_ids or self._output_closed,
                    timeout=wait_seconds,
                )
                self._ended_request_ids.discard(request_id)
            output, self._output = "".join(self._output), []
            return output

    def peak_resident_bytes(self) -> int:
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def kill(self) -> None:
        """SIGKILL the worker's whole session (anything the function started, too)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        # Let the reader threads drain what the worker wrote before it died.
        with self._output_lock:
            self._end_of_output.wait_for(lambda: self._output_closed, timeout=2)
        for stream in (self._requests, self.process.stdout):
            with contextlib.suppress(OSError):
                stream.close()


class LocalRuntimeExecutor(RuntimeExecutor):
    """One Lambda execution environment backed by a local worker process."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._env_vars: dict[str, str] = {}
        self._worker: _Worker | None = None
        self._pending_init_logs = ""
        self._pending_init_ms: float | None = None
        self._init_error: dict[str, Any] | None = None
        self._peak_bytes = 0
        self._tmp_dir: Path | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._recent_output: deque[str] = deque(maxlen=500)

    # -- RuntimeExecutor interface -------------------------------------------------------------

    def start(self, env_vars: dict[str, str]) -> None:
        self._env_vars = {key: str(value) for key, value in env_vars.items()}
        self._tmp_dir = Path(tempfile.mkdtemp(prefix=f"lambda-env-{self.id}-"))
        with self._lock:
            self._init_worker()

    def stop(self) -> None:
        self._stopped.set()
        if worker := self._worker:
            worker.kill()  # unblocks a start() or invoke() waiting on it while holding the lock
        with self._lock:
            self._discard_worker()
        if self._tmp_dir:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)

    def get_address(self) -> str:
        return _gateway_host()

    def get_endpoint_from_executor(self) -> str:
        return _gateway_host()

    def get_runtime_endpoint(self) -> str:
        return (
            f"http://{_gateway_host()}:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}"
        )

    def get_logs(self) -> str:
        lines = list(self._recent_output)
        if self._worker:
            lines += list(self._worker.recent_output)
        return "".join(lines)

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        if function_version.config.package_type != PackageType.Zip:
            return  # reported at invocation: container images need Docker
        function_version.config.code.prepare_for_execution()
        for layer in function_version.config.layers or []:
            if layer.code:
                layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to clean: LocalStack owns the unzipped code, workers die with their env."""

    @classmethod
    def validate_environment(cls) -> bool:
        try:
            available = runtimes.installed_runtimes()
        except runtimes.RuntimeNotAvailable as e:
            LOG.warning("Embedded Lambda executor: %s", e)
            return False
        LOG.info("Embedded Lambda executor: runtimes %s", ", ".join(available) or "none")
        return True

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        function_name = self.function_version.id.function_name
        with self._lock:
            if self._worker is None and self._init_error is None:
                self._init_worker()  # the previous worker timed out, ran out of memory or died
            function_concurrency, account_concurrency = CONCURRENCY.enter(function_name)
            started = time.perf_counter()
            try:
                logs, outcome = self._run(request_id, payload)
            finally:
                CONCURRENCY.leave(function_name)
            duration_ms = (time.perf_counter() - started) * 1000
            logs += self._report_lines(request_id, duration_ms, outcome)
        self._recent_output.append(logs)
        self._publish_metrics(duration_ms, function_concurrency, account_concurrency)
        return InvocationResult(request_id, outcome.payload, outcome.is_error, logs)

    # -- the worker lifecycle ------------------------------------------------------------------

    def _init_worker(self) -> None:
        """Start a worker and run the function's init; its output goes before the next START."""
        init_started = time.perf_counter()
        try:
            self._worker = self._spawn_worker()
        except runtimes.RuntimeNotAvailable as e:
            self._init_error = {"errorType": "Runtime.InvalidRuntime", "errorMessage": str(e)}
            self._pending_init_logs = f"[ERROR] Runtime.InvalidRuntime: {e}\n"
            return
        message = self._worker.replies.get()
        self._pending_init_logs = self._worker.take_output("init", wait_seconds=5)
        self._peak_bytes = 0
        if message is None:
            exit_code = self._worker.process.wait()
            self._discard_worker()
            if self._stopped.is_set():
                raise RuntimeError(f"Execution environment {self.id} stopped during init")
            self._init_error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"Runtime exited with error: {_exit_reason(exit_code)}",
            }
            self._pending_init_ms = (time.perf_counter() - init_started) * 1000
            return
        self._pending_init_ms = message["init_ms"]
        if message["type"] == "init_error":
            self._init_error = message["error"]
            self._discard_worker()

    def _spawn_worker(self) -> _Worker:
        fv = self.function_version
        if fv.config.package_type != PackageType.Zip:
            raise runtimes.RuntimeNotAvailable(
                "Container image functions need Docker; the embedded emulator runs zip packages"
            )
        interpreter = runtimes.interpreter_for(fv.config.runtime)
        task_root = fv.config.code.get_unzipped_code_location()
        layer_dirs = [
            str(layer.code.get_unzipped_code_location())
            for layer in fv.config.layers or []
            if layer.code
        ]
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        env = {
            **self._env_vars,
            "LAMBDA_TASK_ROOT": str(task_root),
            "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
            "PATH": f"{interpreter.parent}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TMPDIR": str(self._tmp_dir),
            "HOME": str(self._tmp_dir),
            "LD_LIBRARY_PATH": ":".join(
                [f"{task_root}/lib"] + [f"{layer}/lib" for layer in layer_dirs]
            ),
            "EMBEDDED_LAMBDA_REQUEST_FD": str(request_read),
            "EMBEDDED_LAMBDA_REPLY_FD": str(reply_write),
            "EMBEDDED_LAMBDA_LAYER_DIRS": json.dumps(layer_dirs),
            "EMBEDDED_LAMBDA_PARENT_PID": str(os.getpid()),
            WORKER_MARKER: os.environ.get(INSTANCE_MARKER, ""),
        }
        try:
            process = SPAWNER.popen(
                args=[str(interpreter), "-u", str(BOOTSTRAP)],
                env=env,
                cwd=str(task_root),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(request_read, reply_write),
                start_new_session=True,
            )
        finally:
            os.close(request_read)
            os.close(reply_write)
        return _Worker(process, os.fdopen(request_write, "w"), os.fdopen(reply_read, "r"))

    def _discard_worker(self) -> None:
        if self._worker:
            self._worker.kill()
            self._recent_output.extend(self._worker.recent_output)
            self._worker = None

    # -- one invocation ------------------------------------------------------------------------

    def _run(self, request_id: str, payload: dict[str, str]) -> tuple[str, _Outcome]:
        """Run one invocation; returns the log text up to END and how it ended."""
        init_logs, self._pending_init_logs = self._pending_init_logs, ""
        if self._init_error is not None:
            error, self._init_error = self._init_error, None
            init_logs += (
                f"INIT_REPORT Init Duration: {self._pending_init_ms or 0:.2f} ms\tPhase: init"
                f"\tStatus: error\tError Type: {error['errorType']}\n"
            )
            self._pending_init_ms = None
            logs = f"{init_logs}START RequestId: {request_id} Version: {self._version()}\n"
            return logs, _Outcome(_error_payload(error, request_id), is_error=True)

        worker = self._worker
        assert worker is not None
        timeout_seconds = int(self.function_version.config.timeout)
        memory_bytes = int(self.function_version.config.memory_size) * MB
        started = time.time()
        deadline = started + timeout_seconds
        sent = worker.send(
            {
                "request_id": request_id,
                "invoked_function_arn": payload["invoked-function-arn"],
                "payload": payload["payload"],
                "trace_id": payload.get("trace-id"),
                "deadline_ms": int(deadline * 1000),
            }
        )
        logs = f"{init_logs}START RequestId: {request_id} Version: {self._version()}\n"
        reply = self._await_reply(worker, deadline, memory_bytes) if sent else None
        if isinstance(reply, dict):
            logs += worker.take_output(request_id, wait_seconds=5)
            self._peak_bytes = max(self._peak_bytes, worker.peak_resident_bytes())
            if reply["ok"]:
                return logs, _Outcome(reply["payload"].encode(), is_error=False)
            return logs, _Outcome(_error_payload(reply["error"], request_id), is_error=True)

        # The sandbox ends the invocation: the worker is killed and replaced on the next one.
        self._peak_bytes = max(self._peak_bytes, worker.peak_resident_bytes())
        exit_code = worker.process.poll()
        self._discard_worker()
        logs += worker.take_output()
        if reply == "timeout":
            message = f"Task timed out after {timeout_seconds:.2f} seconds"
            logs += f"{_aws_timestamp()} {request_id} {message}\n"
            error = {"errorType": "Sandbox.Timedout", "errorMessage": message}
            return logs, _Outcome(
                _error_payload(error, request_id), True, report_status="Status: timeout"
            )
        if reply == "out_of_memory":
            error_type, reason = "Runtime.OutOfMemory", "signal: killed"
        else:
            error_type, reason = "Runtime.ExitError", _exit_reason(exit_code)
        message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
        logs += f"{message}\n{error_type}\n"
        error = {"errorType": error_type, "errorMessage": message}
        return logs, _Outcome(
            _error_payload(error, request_id),
            True,
            report_status=f"Status: error\tError Type: {error_type}",
        )

    def _await_reply(
        self, worker: _Worker, deadline: float, memory_bytes: int
    ) -> dict[str, Any] | str:
        """The worker's reply, or why there is none: "timeout", "out_of_memory", "exited"."""
        while True:
            left = deadline - time.time()
            try:
                reply = worker.replies.get(timeout=max(0.0, min(MEMORY_POLL_SECONDS, left)))
            except queue.Empty:
                reply = "pending"
            else:
                reply = "exited" if reply is None else reply  # None: the replies pipe closed
            # AWS kills the moment memory crosses the limit, so a peak seen only now still counts.
            self._peak_bytes = max(self._peak_bytes, worker.peak_resident_bytes())
            if self._peak_bytes > memory_bytes:
                return "out_of_memory"
            if reply != "pending":
                return reply
            if left <= 0:
                return "timeout"

    def _report_lines(self, request_id: str, duration_ms: float, outcome: _Outcome) -> str:
        init = ""
        if self._pending_init_ms is not None:
            init, self._pending_init_ms = f"\tInit Duration: {self._pending_init_ms:.2f} ms", None
        status = f"\t{outcome.report_status}" if outcome.report_status else ""
        max_used_mb = math.ceil(self._peak_bytes / MB)
        return (
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms"
            f"\tBilled Duration: {math.ceil(duration_ms)} ms"
            f"\tMemory Size: {self.function_version.config.memory_size} MB"
            f"\tMax Memory Used: {max_used_mb} MB{init}{status}\n"
        )

    def _version(self) -> str:
        return self.function_version.id.qualifier

    def _publish_metrics(
        self, duration_ms: float, function_concurrency: int, account_concurrency: int
    ) -> None:
        fid = self.function_version.id
        METRICS_PUBLISHER.submit(
            _publish_lambda_metrics,
            fid.account,
            fid.region,
            fid.function_name,
            duration_ms,
            function_concurrency,
            account_concurrency,
        )


def _publish_lambda_metrics(
    account_id: str,
    region: str,
    function_name: str,
    duration_ms: float,
    function_concurrency: int,
    account_concurrency: int,
) -> None:
    """The AWS/Lambda metrics LocalStack itself does not emit, with AWS's dimension sets."""
    if not is_api_enabled("cloudwatch"):
        return
    now = datetime.now(UTC)
    by_function = [{"Name": "FunctionName", "Value": function_name}]
    by_resource = [*by_function, {"Name": "Resource", "Value": function_name}]

    def datum(name: str, value: float, unit: str, dimensions: list[dict[str, str]]) -> dict:
        return {
            "MetricName": name,
            "Dimensions": dimensions,
            "Timestamp": now,
            "Value": value,
            "Unit": unit,
        }

    data = [
        datum("Duration", duration_ms, "Milliseconds", by_function),
        datum("Duration", duration_ms, "Milliseconds", by_resource),
        datum("ConcurrentExecutions", function_concurrency, "Count", by_function),
        datum("ConcurrentExecutions", account_concurrency, "Count", []),
    ]
    try:
        cloudwatch = connect_to(aws_access_key_id=account_id, region_name=region).cloudwatch
        cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=data)
    except Exception as e:  # metrics must never fail an invocation
        LOG.info("Unable to publish AWS/Lambda metrics for %s: %s", function_name, e)


def _gateway_host() -> str:
    host = config.GATEWAY_LISTEN[0].host
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _error_payload(error: dict[str, Any], request_id: str) -> bytes:
    body = {"errorMessage": error["errorMessage"], "errorType": error["errorType"]}
    body["requestId"] = error.get("requestId") or request_id
    body["stackTrace"] = error.get("stackTrace", [])
    return json.dumps(body).encode()


def _exit_reason(exit_code: int | None) -> str:
    if exit_code is None or exit_code >= 0:
        return f"exit status {exit_code}"
    # Go's os/exec wording, as AWS's init prints it: "signal: killed", "signal: segmentation fault"
    return f"signal: {(signal.strsignal(-exit_code) or str(-exit_code)).lower()}"


def _aws_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
