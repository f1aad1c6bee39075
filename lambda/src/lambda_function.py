"""The deployed handler (`lambda_function.lambda_handler`): configuration and clients are built
once per execution environment, at the first invocation."""

from __future__ import annotations

import functools
from typing import Any

from image_processor.config import FunctionConfig
from image_processor.handler import ImageFunction, LambdaContext, aws_client
from image_processor.observability import configure_logging


@functools.cache
def _function() -> ImageFunction:
    config = FunctionConfig.from_env()
    return ImageFunction(
        config, aws_client("s3"), aws_client("cloudwatch"), configure_logging(config.log_level)
    )


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _function().handle(event, context)
