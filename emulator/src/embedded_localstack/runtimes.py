"""Where the interpreter of each Lambda runtime lives on this machine.

`emulator/install.py` creates one virtual environment per Python runtime it can find
(``<runtimes dir>/python3.12/bin/python`` with boto3, as the AWS runtime ships it); the
executor only looks them up here. Pure and independent of LocalStack.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

RUNTIMES_DIR_VARIABLE = "EMBEDDED_LAMBDA_RUNTIMES_DIR"
PYTHON_RUNTIME = re.compile(r"^python3\.(\d+)$")


class RuntimeNotAvailable(Exception):
    """The function's runtime cannot run here; the message says what to install."""


def runtimes_dir() -> Path:
    configured = os.environ.get(RUNTIMES_DIR_VARIABLE)
    if not configured:
        raise RuntimeNotAvailable(
            f"{RUNTIMES_DIR_VARIABLE} is not set: start LocalStack with `emulator/manage.py up`"
        )
    return Path(configured)


def interpreter_for(runtime: str) -> Path:
    """The python binary for ``runtime`` (e.g. ``python3.12``), or RuntimeNotAvailable."""
    if not PYTHON_RUNTIME.match(runtime or ""):
        raise RuntimeNotAvailable(
            f"Runtime {runtime!r} is not supported by the embedded emulator "
            "(supported: python3.9 to python3.13)"
        )
    interpreter = runtimes_dir() / runtime / "bin" / "python"
    if not interpreter.exists():
        raise RuntimeNotAvailable(
            f"Runtime {runtime} is not installed: no {interpreter}. Install {runtime} "
            f"(e.g. `pyenv install {runtime.removeprefix('python')}`) and run `make setup`."
        )
    return interpreter


def installed_runtimes() -> list[str]:
    base = runtimes_dir()
    if not base.is_dir():
        return []
    return sorted(
        entry.name
        for entry in base.iterdir()
        if PYTHON_RUNTIME.match(entry.name) and (entry / "bin" / "python").exists()
    )
