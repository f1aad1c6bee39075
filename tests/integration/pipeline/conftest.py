"""The session's deployed stack: see support.py for when it deploys and how that meets Molecule."""

from __future__ import annotations

import urllib.parse

import pytest

from bench.pipeline.stack import Stack
from tests.integration.pipeline.support import DEV_OUTPUTS, ROOT, deploy, stack_present


@pytest.fixture(scope="session")
def pipeline_stack(aws_endpoint: str) -> Stack:
    stack = Stack(DEV_OUTPUTS, aws_endpoint)
    if not stack_present(stack):
        port = urllib.parse.urlsplit(aws_endpoint).port
        outputs = deploy(aws_endpoint, ROOT / ".state" / "pipeline-tests" / str(port))
        stack = Stack(outputs, aws_endpoint)
    return stack
