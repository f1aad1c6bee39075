#!/usr/bin/env python3
"""Install the embedded LocalStack: a Python 3.13 venv with LocalStack 4.14.0 (every package
pinned by constraints.txt) and our plugin package, plus one venv per Lambda Python runtime
found on this machine (python3.12 is required: it is the project's runtime).

Idempotent: a stamp records what was installed; a second run with the same inputs does nothing.
Standard library only; runs on any Python 3.

    python3 emulator/install.py [--venvs DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

EMULATOR_DIR = Path(__file__).resolve().parent
REPO = EMULATOR_DIR.parent
FIND_PYTHON = REPO / "bin" / "find-python"
LOCALSTACK_PYTHON = "3.13"
REQUIRED_RUNTIME = "3.12"
OPTIONAL_RUNTIMES = ("3.9", "3.10", "3.11", "3.13")


def log(message: str) -> None:
    print(f"[emulator] {message}", flush=True)


def find_python(version: str) -> str | None:
    found = subprocess.run(
        [sys.executable, str(FIND_PYTHON), version], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        return None
    return found.stdout.strip()


def digest(*paths: Path, extra: str = "") -> str:
    sha = hashlib.sha256(extra.encode())
    for path in paths:
        sha.update(path.read_bytes())
    return sha.hexdigest()


def run(*args: str) -> None:
    subprocess.run(args, check=True)


def stamped(venv: Path, fingerprint: str) -> bool:
    stamp = venv / ".embedded-localstack-stamp"
    return stamp.exists() and stamp.read_text() == fingerprint


def write_stamp(venv: Path, fingerprint: str) -> None:
    (venv / ".embedded-localstack-stamp").write_text(fingerprint)


def install_localstack(venvs: Path) -> Path:
    venv = venvs / "localstack"
    fingerprint = digest(
        EMULATOR_DIR / "requirements.txt",
        EMULATOR_DIR / "constraints.txt",
        EMULATOR_DIR / "pyproject.toml",
    )
    if stamped(venv, fingerprint):
        log(f"LocalStack venv up to date: {venv}")
        return venv
    python = find_python(LOCALSTACK_PYTHON)
    if python is None:
        sys.exit(
            f"error: LocalStack 4.14 needs Python {LOCALSTACK_PYTHON} and none was found.\n"
            f"Install it (`pyenv install {LOCALSTACK_PYTHON}`, `uv python install "
            f"{LOCALSTACK_PYTHON}` or `apt-get install python{LOCALSTACK_PYTHON}`) and rerun."
        )
    started = time.monotonic()
    log(f"creating {venv} with {python}")
    run(python, "-m", "venv", "--clear", str(venv))
    pip = str(venv / "bin" / "pip")
    run(pip, "install", "--quiet", "--quiet", "--disable-pip-version-check", "pip==25.3")
    run(
        pip, "install", "--quiet", "--quiet",
        "-r", str(EMULATOR_DIR / "requirements.txt"),
        "-c", str(EMULATOR_DIR / "constraints.txt"),
    )  # fmt: skip
    # Editable: the plugin's code is read from emulator/src, so edits apply on the next start.
    run(pip, "install", "--quiet", "--quiet", "--no-deps", "-e", str(EMULATOR_DIR))
    write_stamp(venv, fingerprint)
    log(f"LocalStack installed in {time.monotonic() - started:.0f} s")
    return venv


def install_runtime(venvs: Path, version: str, pip: Path) -> bool:
    """A venv for Lambda runtime python<version> with the AWS SDK, like the AWS runtime."""
    runtime = f"python{version}"
    venv = venvs / "runtimes" / runtime
    requirements = EMULATOR_DIR / "runtime-requirements.txt"
    fingerprint = digest(requirements, extra=version)
    # An installed runtime is checked without starting any interpreter: `up` runs this each time.
    if stamped(venv, fingerprint) and (venv / "bin" / "python").exists():
        return True
    python = find_python(version)
    if python is None:
        return False
    log(f"creating Lambda runtime {runtime} from {python}")
    run(python, "-m", "venv", "--clear", "--without-pip", str(venv))
    # The LocalStack venv's pip installs into the runtime venv, so it needs no pip of its own.
    run(
        str(pip), "--python", str(venv / "bin" / "python"), "install", "--quiet", "--quiet",
        "--disable-pip-version-check", "--only-binary=:all:", "-r", str(requirements),
    )  # fmt: skip
    write_stamp(venv, fingerprint)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venvs", type=Path, default=REPO / ".venvs")
    args = parser.parse_args()
    venvs: Path = args.venvs.resolve()

    localstack_venv = install_localstack(venvs)
    pip = localstack_venv / "bin" / "pip"
    if not install_runtime(venvs, REQUIRED_RUNTIME, pip):
        sys.exit(
            f"error: the Lambda runtime python{REQUIRED_RUNTIME} needs a Python "
            f"{REQUIRED_RUNTIME} interpreter and none was found.\nInstall it (`pyenv install "
            f"{REQUIRED_RUNTIME}` or `uv python install {REQUIRED_RUNTIME}`) and rerun."
        )
    available = [f"python{REQUIRED_RUNTIME}"]
    for version in OPTIONAL_RUNTIMES:
        try:
            if install_runtime(venvs, version, pip):
                available.append(f"python{version}")
        except subprocess.CalledProcessError as e:
            log(f"warning: runtime python{version} not installed ({e}); functions using it fail")
    log("Lambda runtimes: " + json.dumps(sorted(available)))


if __name__ == "__main__":
    main()
