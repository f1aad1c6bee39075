"""The Lambda's wiring: S3 event -> download -> process -> upload, logs and one metrics call."""

from __future__ import annotations

import functools
import logging
import os
import time
import urllib.parse
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
from botocore.config import Config as BotoConfig

from .config import FunctionConfig
from .errors import DeadlineTooClose, ImageTooLarge, OutputKeyTooLong
from .events import SourceObject, source_objects
from .keys import output_key
from .observability import InvocationMetrics, classify
from .processing import Variant, normalise, open_image, render_variants, variant_specs

# Uploads overlap with the encoders still running; boto3 clients are thread-safe.
_UPLOAD_POOL = ThreadPoolExecutor(max_workers=5, thread_name_prefix="upload")
_BOTO_CONFIG = BotoConfig(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=10)


S3_MAX_KEY_BYTES = 1024


class LambdaContext(Protocol):
    aws_request_id: str
    function_name: str

    def get_remaining_time_in_millis(self) -> int: ...


@functools.cache
def aws_client(service: str) -> Any:
    """One client per service for the life of the execution environment (`AWS_ENDPOINT_URL`
    points them at LocalStack)."""
    return boto3.client(service, config=_BOTO_CONFIG)


@dataclass(frozen=True)
class ProcessedObject:
    key: str
    output_keys: tuple[str, ...]
    input_bytes: int
    output_bytes: int


class ImageFunction:
    def __init__(
        self, config: FunctionConfig, s3: Any, cloudwatch: Any, logger: logging.Logger
    ) -> None:
        self.config = config
        self.s3 = s3
        self.cloudwatch = cloudwatch
        self.logger = logger

    def handle(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """Process every record; if any failed, raise the first error once all were tried, so
        Lambda records the failure (retries and the on-failure destination take over)."""
        request_id = context.aws_request_id
        metrics = InvocationMetrics(context.function_name)
        processed: list[ProcessedObject] = []
        first_error: Exception | None = None
        sources = source_objects(event, self.config.processed_bucket)
        for source in sources:
            started = time.perf_counter()
            try:
                result, megapixels = self._process(source, context)
            except Exception as error:
                duration_ms = round((time.perf_counter() - started) * 1000, 1)
                classification = classify(error)
                metrics.record_failure(classification.error_type)
                self.logger.log(
                    classification.log_level,
                    f"processing failed: {error}",
                    exc_info=classification.log_level == logging.CRITICAL,
                    extra={
                        "request_id": request_id,
                        "key": source.key,
                        "error_type": classification.error_type,
                        "error_category": classification.category.value,
                        "duration_ms": duration_ms,
                    },
                )
                first_error = first_error or error
                continue
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            metrics.record_success(duration_ms, result.input_bytes, result.output_bytes, megapixels)
            processed.append(result)
            self.logger.info(
                "processed",
                extra={
                    "request_id": request_id,
                    "key": source.key,
                    "duration_ms": duration_ms,
                    "input_bytes": result.input_bytes,
                    "output_bytes": result.output_bytes,
                },
            )
        ignored = len(event.get("Records", [])) - len(sources)
        if ignored:
            self.logger.debug(f"ignored {ignored} record(s)", extra={"request_id": request_id})
        if sources:
            self._publish(metrics)
        if first_error is not None:
            raise first_error
        return {
            "processed": [
                {"key": item.key, "outputs": list(item.output_keys)} for item in processed
            ]
        }

    def _process(
        self, source: SourceObject, context: LambdaContext
    ) -> tuple[ProcessedObject, float]:
        if context.get_remaining_time_in_millis() < self.config.min_remaining_ms:
            raise DeadlineTooClose(
                f"less than {self.config.min_remaining_ms} ms left before the deadline"
            )
        self._check_output_keys(source.key)
        size = source.size
        if size is None:
            size = int(self.s3.head_object(**self._source_params(source))["ContentLength"])
        self._check_size(size)
        response = self.s3.get_object(**self._source_params(source))
        with response["Body"] as body:
            self._check_size(int(response["ContentLength"]))  # it may have changed since
            data = body.read()
        etag = str(response.get("ETag", source.etag or "")).strip('"')
        version_id = response.get("VersionId") or source.version_id
        settings = self.config.processing
        image = open_image(data, settings)
        megapixels = image.width * image.height / 1_000_000
        working = normalise(image, settings)
        # Every variant is rendered before any is written: a timeout, a killed worker or an
        # encoder error while rendering leaves no variant behind (never a partial set).
        rendered = list(
            render_variants(working, settings, source.key, self.config.output_key_template)
        )
        if context.get_remaining_time_in_millis() < self.config.min_upload_ms:
            raise DeadlineTooClose(
                f"the variants are ready but less than {self.config.min_upload_ms} ms are left "
                "to write them"
            )
        uploads = [
            _UPLOAD_POOL.submit(self._upload, variant, source.key, etag, version_id)
            for variant in rendered
        ]
        variants = [upload.result() for upload in _all_settled(uploads)]
        result = ProcessedObject(
            key=source.key,
            output_keys=tuple(sorted(variant.key for variant in variants)),
            input_bytes=len(data),
            output_bytes=sum(len(variant.data) for variant in variants),
        )
        return result, megapixels

    def _check_output_keys(self, source_key: str) -> None:
        """Before any work: a key S3 would refuse would leave the variants before it written."""
        for spec in variant_specs(self.config.processing):
            key = output_key(self.config.output_key_template, source_key, spec.name, spec.extension)
            if len(key.encode()) > S3_MAX_KEY_BYTES:
                raise OutputKeyTooLong(
                    f"the {spec.name} variant's key would be {len(key.encode())} bytes, "
                    f"over S3's limit of {S3_MAX_KEY_BYTES}"
                )

    def _check_size(self, size: int) -> None:
        if size > self.config.max_input_bytes:
            raise ImageTooLarge(f"{size} bytes, over the limit of {self.config.max_input_bytes}")

    @staticmethod
    def _source_params(source: SourceObject) -> dict[str, str]:
        params = {"Bucket": source.bucket, "Key": source.key}
        if source.version_id:
            params["VersionId"] = source.version_id
        return params

    def _upload(
        self, variant: Variant, source_key: str, etag: str, version_id: str | None
    ) -> Variant:
        metadata = {
            # S3 metadata must be ASCII: the key is percent-encoded like in a URL.
            "source-key": urllib.parse.quote(source_key, safe="/"),
            "source-etag": etag,
            "width": str(variant.width),
            "height": str(variant.height),
        }
        if version_id:
            metadata["source-version-id"] = version_id
        self.s3.put_object(
            Bucket=self.config.processed_bucket,
            Key=variant.key,
            Body=variant.data,
            ContentType=variant.content_type,
            CacheControl=self.config.cache_control,
            Metadata=metadata,
        )
        return variant

    def _publish(self, metrics: InvocationMetrics) -> None:
        memory_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.cloudwatch.put_metric_data(
            Namespace=self.config.metrics_namespace,
            MetricData=metrics.metric_data(int(memory_mb) if memory_mb else None),
        )


def _all_settled[T](futures: list[Future[T]]) -> list[Future[T]]:
    """Wait for every future before anyone raises, so no upload is left running unobserved."""
    for future in futures:
        future.exception()
    return futures
