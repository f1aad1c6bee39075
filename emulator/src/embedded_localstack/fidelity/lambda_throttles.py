"""AWS/Lambda ``Throttles``: LocalStack throttles invocations but never counts them.

Every invocation, sync or async (each attempt of the async poller), takes a lease from
``CountingService.get_invocation_lease``; a refused lease is exactly one throttle on AWS
(429 TooManyRequests, ``ReservedFunctionConcurrentInvocationLimitExceeded``), so the count is
taken there and published with the dimension sets AWS uses.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from localstack.aws.api.lambda_ import TooManyRequestsException
from localstack.aws.connect import connect_to
from localstack.services.lambda_.invocation.counting_service import CountingService
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion
from localstack.utils.patch import Patch
from localstack.utils.threads import start_thread

LOG = logging.getLogger(__name__)


def install() -> None:
    Patch.function(CountingService.get_invocation_lease, _lease_counting_throttles).apply()


@contextlib.contextmanager
def _lease_counting_throttles(
    get_invocation_lease: Callable[..., contextlib.AbstractContextManager[Any]],
    counting_service: CountingService,
    function: Any,
    function_version: FunctionVersion,
    provisioned_state: Any = None,
) -> Iterator[Any]:
    with contextlib.ExitStack() as lease:
        try:
            lease_type = lease.enter_context(
                get_invocation_lease(
                    counting_service, function, function_version, provisioned_state
                )
            )
        except TooManyRequestsException:
            # Off the invoke path: the caller is waiting for its 429.
            start_thread(
                lambda *_: publish_throttle(function_version), quiet=True, name="lambda-throttles"
            )
            raise
        yield lease_type


def throttle_dimensions(function_name: str, qualifier: str) -> list[list[dict[str, str]]]:
    """[FunctionName] and [FunctionName, Resource]; Resource names the version or alias."""
    resource = function_name if qualifier == "$LATEST" else f"{function_name}:{qualifier}"
    by_function = [{"Name": "FunctionName", "Value": function_name}]
    return [by_function, [*by_function, {"Name": "Resource", "Value": resource}]]


def publish_throttle(function_version: FunctionVersion) -> None:
    function_id = function_version.id
    now = datetime.now(UTC)
    data = [
        {
            "MetricName": "Throttles",
            "Dimensions": dimensions,
            "Timestamp": now,
            "Value": 1.0,
            "Unit": "Count",
        }
        for dimensions in throttle_dimensions(function_id.function_name, function_id.qualifier)
    ]
    try:
        cloudwatch = connect_to(
            aws_access_key_id=function_id.account, region_name=function_id.region
        ).cloudwatch
        cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=data)
    except Exception as error:  # a lost metric must not turn a throttle into another error
        LOG.info("Unable to publish Throttles for %s: %s", function_id.function_name, error)
