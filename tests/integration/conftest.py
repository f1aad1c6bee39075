"""Fixtures for tests that talk to a running LocalStack (the embedded one or Docker's).

The endpoint comes from AWS_ENDPOINT_URL (default http://127.0.0.1:4566). When nothing answers,
these tests fail with a message saying how to start it: they never skip, so a run without an
emulator cannot pass by accident.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable

import boto3
import pytest

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
REGION = "us-east-1"


@pytest.fixture(scope="session")
def aws_endpoint() -> str:
    try:
        with urllib.request.urlopen(f"{ENDPOINT}/_localstack/health", timeout=5) as response:
            json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as e:
        pytest.fail(
            f"No LocalStack answers on {ENDPOINT} ({e}). Start one with `make localstack-up` "
            "or point AWS_ENDPOINT_URL at yours.",
            pytrace=False,
        )
    return ENDPOINT


@pytest.fixture(scope="session")
def aws_client(aws_endpoint: str) -> Callable[..., object]:
    """``aws_client("s3")``: a boto3 client for the emulator with its dummy credentials."""
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
    )

    def make(service: str, **kwargs: object) -> object:
        return session.client(service, endpoint_url=aws_endpoint, **kwargs)

    return make
