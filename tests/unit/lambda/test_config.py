from __future__ import annotations

import pytest
from image_processor.config import FunctionConfig, ProcessingSettings, encoder_threads
from image_processor.errors import ConfigurationError


def test_defaults_are_the_contract_defaults() -> None:
    config = FunctionConfig.from_env({"PROCESSED_BUCKET": "out"})
    assert config.processing == ProcessingSettings()
    assert (config.output_key_template, config.metrics_namespace, config.log_level) == (
        "{stem}/{variant}.{ext}", "ImageProcessor", "INFO",
    )  # fmt: skip
    assert config.max_input_bytes == 52_428_800


def test_values_are_parsed() -> None:
    config = FunctionConfig.from_env({
        "PROCESSED_BUCKET": "out", "JPEG_QUALITY": "90", "THUMBNAIL_SIZE": " 128 ",
        "BACKGROUND_COLOR": "#102030", "LOG_LEVEL": "debug", "MAX_INPUT_PIXELS": "1000",
        "OUTPUT_KEY_TEMPLATE": "variants/{key}/{variant}.{ext}",
    })  # fmt: skip
    assert config.processing.jpeg_quality == 90
    assert config.processing.thumbnail_size == 128
    assert config.processing.background_color == (0x10, 0x20, 0x30)
    assert config.processing.max_input_pixels == 1000
    assert config.log_level == "DEBUG"
    assert config.output_key_template == "variants/{key}/{variant}.{ext}"


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("JPEG_QUALITY", "101", "between 1 and 100"),
        ("WEBP_QUALITY", "high", "invalid literal"),
        ("MAX_DIMENSION", "0", "between"),
        ("BACKGROUND_COLOR", "not-a-colour", "unknown color"),
        ("LOG_LEVEL", "LOUD", "DEBUG, INFO"),
        ("OUTPUT_KEY_TEMPLATE", "{stem}.{ext}", "{variant}"),
        ("OUTPUT_KEY_TEMPLATE", "{stem}/{variant}.{format}", "unknown placeholders"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=name) as raised:
        FunctionConfig.from_env({"PROCESSED_BUCKET": "out", name: value})
    assert complaint in str(raised.value)


def test_processed_bucket_is_required() -> None:
    with pytest.raises(ConfigurationError, match="PROCESSED_BUCKET"):
        FunctionConfig.from_env({})


@pytest.mark.parametrize(
    ("environ", "cpus", "threads"),
    [
        ({}, 2, 2),  # the CLI, the bench: every CPU
        ({}, 1, 1),
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}, 2, 1),  # 0.58 vCPU
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"}, 2, 1),
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008"}, 2, 2),  # 1.7 vCPU
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "10240"}, 6, 6),
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "10240"}, 2, 2),
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024", "ENCODER_THREADS": "2"}, 2, 2),
        ({"ENCODER_THREADS": " 3 "}, 2, 3),
        ({"ENCODER_THREADS": "0"}, 2, 2),  # 0 = automatic
    ],
)
def test_encoder_threads(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], cpus: int, threads: int
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(cpus)))
    assert encoder_threads(environ) == threads


def test_encoder_threads_rejects_nonsense() -> None:
    with pytest.raises(ConfigurationError, match="ENCODER_THREADS='many'"):
        encoder_threads({"ENCODER_THREADS": "many"})
    with pytest.raises(ConfigurationError, match="between 0 and 64"):
        encoder_threads({"ENCODER_THREADS": "100"})
