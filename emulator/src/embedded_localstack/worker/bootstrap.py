"""The Python runtime of one Lambda execution environment, run by the function's own interpreter.

Started by ``embedded_localstack.executor`` and talks to it over two pipes (newline-delimited
JSON): requests on ``EMBEDDED_LAMBDA_REQUEST_FD``, replies on ``EMBEDDED_LAMBDA_REPLY_FD``.
stdout and stderr are the function's log stream; the executor reads them. Behaves like the AWS
Lambda Python runtime (awslambdaric) where a function can notice: sys.path, the handler lookup
and its init errors, the context object, the root logger, error JSON.

Standard library only, and Python 3.9 syntax: it runs under every python3.x runtime.
"""

from __future__ import annotations

import ctypes
import decimal
import importlib
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

# Written to stdout after each invocation's output so the executor knows that everything the
# invocation printed has been read (stdout and the reply pipe are not ordered with each other).
END_OF_OUTPUT = "\x00embedded-lambda-end-of-output {request_id}\x00\n"

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL us when the executor's spawner thread (our parent) dies, so no
    worker outlives a crashed LocalStack."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the executor's stop() still kills us
        return
    if os.getppid() != int(os.environ.get("EMBEDDED_LAMBDA_PARENT_PID", os.getppid())):
        os._exit(1)  # the parent died before prctl took effect


class LambdaContext:
    """The ``context`` argument, with the attributes of awslambdaric's LambdaContext."""

    def __init__(self, request_id: str, invoked_function_arn: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


class RequestIdFilter(logging.Filter):
    """Adds ``aws_request_id`` to every record, as the AWS runtime's log handler does."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


REQUEST_ID_FILTER = RequestIdFilter()


def configure_root_logger() -> None:
    """The AWS runtime's default: a stdout handler on the root logger with this format."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    handler.addFilter(REQUEST_ID_FILTER)
    logging.getLogger().addHandler(handler)


def configure_sys_path(task_root: str, layer_dirs: list[str]) -> None:
    """Task root first, then the layers (a later layer wins, as when AWS extracts them in order
    into /opt), then the runtime's own packages (boto3 lives there, as in /var/runtime)."""
    python_dirs: list[str] = [task_root]
    version_dir = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for layer in reversed(layer_dirs):
        python_dirs += [
            os.path.join(layer, "python", "lib", version_dir, "site-packages"),
            os.path.join(layer, "python"),
        ]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = python_dirs + [p for p in sys.path if p and os.path.abspath(p) != here]


def error_json(error_type: str, message: str, tb: Any = None) -> dict[str, Any]:
    """AWS's error JSON; the stack trace shows the function's frames, not the runtime's."""
    frames = [f for f in traceback.extract_tb(tb) if f.filename != __file__] if tb else []
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": REQUEST_ID_FILTER.request_id,
        "stackTrace": traceback.format_list(frames),
    }


def log_error(body: dict[str, Any]) -> None:
    """The AWS runtime prints failures to the log as ``[ERROR] Type: message`` + traceback."""
    lines = [f"[ERROR] {body['errorType']}: {body['errorMessage']}"]
    if body["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines += [frame.rstrip("\n") for frame in body["stackTrace"]]
    print("\r".join(lines), flush=True)


class InitError(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["errorMessage"])
        self.body = body


def load_handler(handler_name: str) -> Callable[[Any, LambdaContext], Any]:
    """Resolve ``_HANDLER`` (``path/to/module.function``) with awslambdaric's error types."""
    try:
        module_path, function_name = handler_name.rsplit(".", 1)
    except ValueError as e:
        raise InitError(
            error_json("Runtime.MalformedHandlerName", f"Bad handler '{handler_name}': {e}")
        ) from e
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as e:
        raise InitError(
            error_json(
                "Runtime.UserCodeSyntaxError",
                f"Syntax error in module '{module_name}': {e}",
                e.__traceback__,
            )
        ) from e
    except ImportError as e:
        raise InitError(
            error_json(
                "Runtime.ImportModuleError",
                f"Unable to import module '{module_name}': {e}",
            )
        ) from e
    except Exception as e:
        body = error_json(type(e).__name__, str(e), e.__traceback__)
        raise InitError(body) from e
    handler = getattr(module, function_name, None)
    if handler is None:
        raise InitError(
            error_json(
                "Runtime.HandlerNotFound",
                f"Handler '{function_name}' missing on module '{module_name}'",
            )
        )
    return handler


def to_json(value: Any) -> str:
    def default(obj: Any) -> Any:
        if isinstance(obj, decimal.Decimal):  # awslambdaric accepts Decimals
            return float(obj)
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    return json.dumps(value, default=default)


def run_invocation(
    handler: Callable[[Any, LambdaContext], Any], request: dict[str, Any]
) -> dict[str, Any]:
    REQUEST_ID_FILTER.request_id = request["request_id"]
    os.environ["_X_AMZN_TRACE_ID"] = request.get("trace_id") or ""
    context = LambdaContext(
        request["request_id"], request["invoked_function_arn"], request["deadline_ms"]
    )
    try:
        event = json.loads(request["payload"]) if request["payload"] else None
        result = handler(event, context)
    except Exception as e:
        body = error_json(type(e).__name__, str(e), e.__traceback__)
        log_error(body)
        return {"ok": False, "error": body}
    try:
        return {"ok": True, "payload": to_json(result)}
    except (TypeError, ValueError) as e:
        body = error_json("Runtime.MarshalError", f"Unable to marshal response: {e}")
        log_error(body)
        return {"ok": False, "error": body}


def main() -> None:
    die_with_parent()
    requests = os.fdopen(int(os.environ.pop("EMBEDDED_LAMBDA_REQUEST_FD")), "r")
    replies = os.fdopen(int(os.environ.pop("EMBEDDED_LAMBDA_REPLY_FD")), "w")
    layer_dirs = json.loads(os.environ.pop("EMBEDDED_LAMBDA_LAYER_DIRS", "[]"))
    os.environ.pop("EMBEDDED_LAMBDA_PARENT_PID", None)

    def reply(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    task_root = os.environ["LAMBDA_TASK_ROOT"]
    os.chdir(task_root)
    configure_sys_path(task_root, layer_dirs)
    configure_root_logger()

    def end_output(request_id: str) -> None:
        sys.stderr.flush()
        sys.stdout.write(END_OF_OUTPUT.format(request_id=request_id))
        sys.stdout.flush()

    init_started = time.perf_counter()
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except InitError as e:
        log_error(e.body)
        end_output("init")
        reply({"type": "init_error", "error": e.body, "init_ms": _ms_since(init_started)})
        return
    end_output("init")
    reply({"type": "ready", "init_ms": _ms_since(init_started)})

    for line in requests:
        request = json.loads(line)
        outcome = run_invocation(handler, request)
        end_output(request["request_id"])
        reply({"type": "result", **outcome})


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


if __name__ == "__main__":
    main()
