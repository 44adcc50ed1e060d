"""The local stream's settings: the template's defaults and prefixes, Firehose's limits, prefix expressions."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from tests.helpers.lake import EXAMPLE
from transform_core import PipelineSpec, load_spec
from transform_core.local.delivery_config import (
    TEMPLATE_BACKUP_PREFIX,
    TEMPLATE_ERROR_PREFIX,
    TEMPLATE_PREFIX,
    BufferingHints,
    DeliverySettings,
    PrefixError,
    evaluate_prefix,
    java_time,
    prefix_keys,
)

TEMPLATE = (Path(__file__).resolve().parents[2] / "deploy" / "template.yaml").read_text()
ARRIVAL_MS = 1_795_837_845_123  # 2026-11-28T03:50:45.123Z


@pytest.fixture(scope="module")
def spec() -> PipelineSpec:
    return load_spec(EXAMPLE)


def delivery_stream() -> str:
    """The S3 delivery stream's block of the template."""
    start = TEMPLATE.index("\n  DeliveryStream:\n")
    return TEMPLATE[start : TEMPLATE.index("\n  # ", start + 1)]


def test_the_default_prefixes_are_the_templates() -> None:
    block = delivery_stream()
    subs = re.findall(r'^\s+(Prefix|ErrorOutputPrefix): !Sub "([^"]+)"', block, re.MULTILINE)
    assert subs[:3] == [
        ("Prefix", TEMPLATE_PREFIX),
        ("ErrorOutputPrefix", TEMPLATE_ERROR_PREFIX),
        ("Prefix", TEMPLATE_BACKUP_PREFIX),
    ]


def test_the_default_buffers_and_retries_are_the_templates(spec: PipelineSpec, tmp_path: Path) -> None:
    settings = DeliverySettings(spec=spec, lake=str(tmp_path))
    block = delivery_stream()
    assert "DeliveryStreamType: KinesisStreamAsSource" in block and settings.source == "kinesis"
    assert re.search(r'ParameterName: NumberOfRetries\s+ParameterValue: "3"', block) and settings.number_of_retries == 3
    default = {
        name: float(value) for name, value in re.findall(r"^  (\w+):\n    Type: Number\n    Default: ([\d.]+)", TEMPLATE, re.M)
    }
    assert settings.processor_buffer == BufferingHints(default["LambdaBufferSizeMB"], default["LambdaBufferIntervalSeconds"])
    assert settings.s3_buffer == BufferingHints(default["S3BufferSizeMB"], default["S3BufferIntervalSeconds"])
    assert settings.processor_buffer.size_bytes == 2 * 1024 * 1024
    assert (settings.delivery_format, settings.extension, settings.compression_format) == ("parquet", ".parquet", "UNCOMPRESSED")
    json_settings = dataclasses.replace(settings, delivery_format="json")
    assert (json_settings.extension, json_settings.compression_format) == (".json.gz", "GZIP")  # the template's JSON
    assert settings.data_prefix == TEMPLATE_PREFIX.replace("${TableName}", "iot_telemetry")
    assert settings.backup and settings.backup_folder == str(tmp_path)


def test_an_hourly_spec_adds_the_hour_key(spec: PipelineSpec, tmp_path: Path) -> None:
    hourly = dataclasses.replace(spec, partitioning=dataclasses.replace(spec.partitioning, granularity="hour"))
    settings = DeliverySettings(spec=hourly, lake=str(tmp_path))
    assert prefix_keys(settings.data_prefix) == ("year", "month", "day", "hour")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"processor_buffer": BufferingHints(3.5, 60)}, "0.2-3 MB"),
        ({"processor_buffer": BufferingHints(0.1, 60)}, "0.2-3 MB"),
        ({"processor_buffer": BufferingHints(1, 901)}, "0-900 s"),
        ({"number_of_retries": 301}, "0-300"),
        ({"compression": "GZIP"}, "Parquet"),
        ({"source": "msk"}, "source"),
        ({"prefix": "raw/!{partitionKeyFromQuery:year}/"}, "unknown prefix expression"),
        ({"prefix": "raw/!{timestamp:yyyy-ww}/"}, "unsupported DateTimeFormatter letter 'w'"),
        ({"error_prefix": "../errors/"}, "inside its bucket folder"),
    ],
)
def test_settings_refuse_what_firehose_refuses(spec: PipelineSpec, tmp_path: Path, change: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        DeliverySettings(spec=spec, lake=str(tmp_path), **change)  # type: ignore[arg-type]


def test_an_iceberg_spec_is_refused(spec: PipelineSpec, tmp_path: Path) -> None:
    iceberg = dataclasses.replace(spec, output=dataclasses.replace(spec.output, delivery="iceberg", iceberg=object()))
    with pytest.raises(ValueError, match="output.delivery must be s3"):
        DeliverySettings(spec=iceberg, lake=str(tmp_path))


def test_the_templates_prefixes_evaluate_as_the_guide_says() -> None:
    keys = {"year": "2026", "month": "11", "day": "24"}
    data = TEMPLATE_PREFIX.replace("${TableName}", "t")
    assert evaluate_prefix(data, timestamp_ms=ARRIVAL_MS, partition_keys=keys) == "raw/t/year=2026/month=11/day=24/"
    error = TEMPLATE_ERROR_PREFIX.replace("${TableName}", "t")
    evaluated = evaluate_prefix(error, timestamp_ms=ARRIVAL_MS, error_output_type="processing-failed")
    assert evaluated == "errors/t/processing-failed/year=2026/month=11/day=28/"  # the arrival time, not the event time
    with pytest.raises(PrefixError, match="no 'day'"):
        evaluate_prefix(data, timestamp_ms=ARRIVAL_MS, partition_keys={"year": "2026", "month": "11"})
    with pytest.raises(PrefixError, match="no 'day'"):
        evaluate_prefix(data, timestamp_ms=ARRIVAL_MS, partition_keys={**keys, "day": ""})
    with pytest.raises(PrefixError, match="over Firehose's 512"):
        evaluate_prefix(data, timestamp_ms=ARRIVAL_MS, partition_keys={**keys, "day": "d" * 500})


def test_timestamps_and_random_strings() -> None:
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(ARRIVAL_MS / 1000, UTC)
    assert java_time("yyyy-MM-dd'T'HH:mm:ss", moment) == "2026-11-28T03:50:45"
    assert java_time("yy/M/d/H", moment) == "26/11/28/3"
    assert java_time("'it''s'", moment) == "it's"
    with pytest.raises(PrefixError, match="unclosed quote"):
        java_time("yyyy'x", moment)
    first = evaluate_prefix("a/!{firehose:random-string}/", timestamp_ms=0)
    second = evaluate_prefix("a/!{firehose:random-string}/", timestamp_ms=0)
    assert re.fullmatch(r"a/[a-z0-9]{11}/", first) and first != second
    with pytest.raises(PrefixError, match="error-output-type"):
        evaluate_prefix("e/!{firehose:error-output-type}/", timestamp_ms=0)
