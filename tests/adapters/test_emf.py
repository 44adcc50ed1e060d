"""CloudWatch Embedded Metric Format from the handler: the spec's ``metrics`` key, the EMF line, and spec errors."""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from tests.helpers.events import load_event
from tests.helpers.not_firehose import firehose_event
from transform_core import SpecError, load_pipeline, load_spec
from transform_core.adapters import firehose
from transform_core.firehose.batch import RecordBatch
from transform_core.firehose.outcomes import DROPPED, FAILED, OK
from transform_core.reference import ReferencePipeline
from transform_core.spec import MetricsSpec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SPEC = REPO / "examples" / "iot" / "pipeline.yaml"
EVENTS = REPO / "tests" / "events"
EVENT_FILES = sorted(p.name for p in EVENTS.glob("*.json"))

METRICS = {
    "RecordsOk": "Count",
    "RecordsFailed": "Count",
    "RecordsDropped": "Count",
    "RecordsShed": "Count",
    "InputBytes": "Bytes",
    "ResponseBytes": "Bytes",
    "BatchLatency": "Milliseconds",
}
# the example spec's devices table keeps misses: their total and the table's own count
MISSES = {"EnrichmentMisses": "Count", "EnrichmentMisses.devices": "Count"}
# CloudWatch's units (the MetricDatum Unit enumeration): EMF rejects any other.
CLOUDWATCH_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
    "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
    "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


def example_spec() -> dict[str, Any]:
    """The example spec as a mapping, its relative paths made absolute so it can be written anywhere."""
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE_SPEC.read_text(encoding="utf-8"))
    base = EXAMPLE_SPEC.parent
    raw["schema"] = str((base / raw["schema"]).resolve())
    for table in raw["enrich"]:
        table["source"] = str((base / table["source"]).resolve())
    raw["output"] = {}
    return raw


def spec_with(metrics: Any) -> dict[str, Any]:
    raw = example_spec()
    raw["metrics"] = metrics
    return raw


@pytest.fixture
def use_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point TRANSFORM_CORE_SPEC at a spec file written from a mapping; no pipeline is cached (a cold start)."""

    def use(raw: dict[str, Any]) -> Path:
        path = tmp_path / "pipeline.yaml"
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        monkeypatch.setenv(firehose.SPEC_ENV, str(path))
        monkeypatch.setattr(firehose, "_PIPELINE", None)
        return path

    return use


def decoded_size(event: dict[str, Any]) -> int:
    total = 0
    for record in event["records"]:
        try:
            total += len(base64.b64decode(record["data"], validate=True))
        except (binascii.Error, ValueError):
            data = record["data"]
            total += len(data) * 3 // 4 - data.endswith("=") - data.endswith("==")
    return total


def check_emf(entry: dict[str, Any]) -> dict[str, Any]:
    """Check the structure CloudWatch requires of an EMF document; return its one metric directive."""
    aws = entry["_aws"]
    assert isinstance(aws["Timestamp"], int)
    assert abs(aws["Timestamp"] - time.time() * 1000) < 60_000  # epoch milliseconds, now
    (directive,) = aws["CloudWatchMetrics"]
    assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 255
    assert all(isinstance(ds, list) and len(ds) <= 30 for ds in directive["Dimensions"])
    for dimension_set in directive["Dimensions"]:
        for name in dimension_set:
            assert isinstance(entry[name], str) and entry[name], name  # each dimension has a string value
    assert 1 <= len(directive["Metrics"]) <= 100
    for metric in directive["Metrics"]:
        assert set(metric) <= {"Name", "Unit", "StorageResolution"}
        assert metric["Unit"] in CLOUDWATCH_UNITS
        value = entry[metric["Name"]]
        assert isinstance(value, int | float) and not isinstance(value, bool) and value >= 0, metric
    return dict(directive)


@pytest.mark.parametrize("name", EVENT_FILES)
def test_each_batch_writes_one_line_that_is_valid_emf_and_adds_up(
    use_spec: Any, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    use_spec(spec_with({"emf": True, "namespace": "TransformCore", "dimensions": ["pipeline"]}))
    event = load_event(name)

    body = firehose.handler(event, SimpleNamespace(aws_request_id="req-1"))

    lines = capsys.readouterr().out.splitlines()
    entry = json.loads(lines[0])  # the log line and the metrics are one line; rejected records follow, no metrics
    assert [json.loads(line)["message"] for line in lines[1:]] == ["record rejected"] * entry["failed"]
    assert not any("_aws" in json.loads(line) for line in lines[1:])
    directive = check_emf(entry)
    assert directive["Namespace"] == "TransformCore"
    assert directive["Dimensions"] == [["pipeline"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == METRICS | MISSES
    assert [m["Name"] for m in directive["Metrics"]] == list(METRICS | MISSES)
    assert entry["pipeline"] == "iot-telemetry"
    assert entry["invocationId"] == event["invocationId"]
    assert entry["requestId"] == "req-1"

    results = Counter(r["result"] for r in json.loads(body)["records"])
    n = len(event["records"])
    assert entry["RecordsOk"] + entry["RecordsFailed"] + entry["RecordsDropped"] == n == entry["records"]
    expected = (results[OK], results[FAILED], results[DROPPED])
    assert (entry["RecordsOk"], entry["RecordsFailed"], entry["RecordsDropped"]) == expected
    assert (entry["ok"], entry["failed"], entry["dropped"]) == expected
    assert entry["RecordsShed"] == entry["shed_for_response_size"] == 0
    assert entry["ResponseBytes"] == entry["response_bytes"] == len(body)
    assert entry["InputBytes"] == decoded_size(event)
    assert entry["BatchLatency"] == entry["elapsed_ms"] >= 0
    missed = ReferencePipeline(firehose.loaded_pipeline().spec).enrich_missed(RecordBatch.from_firehose_event(event))
    assert entry["enrich_missed"] == missed
    assert entry["EnrichmentMisses"] == entry["EnrichmentMisses.devices"] == missed["devices"]


def test_enrichment_misses_are_counted_per_table_and_in_total() -> None:
    raw = spec_with({"emf": True})
    devices = raw["enrich"][0]
    raw["enrich"] = [{**devices, "fields": ["site"]}, {**devices, "name": "Zürich", "fields": ["model"]}]
    pipeline = load_pipeline(raw)
    known = base64.b64decode(load_event("direct_put.json")["records"][0]["data"])
    unknown, found = re.subn(rb'"device_id":"dev-\d{4}"', b'"device_id":"dev-9999"', known)  # the table ends at dev-9899
    assert found == 1
    records = [{"recordId": str(i), "data": base64.b64encode(unknown).decode()} for i in range(3)]
    event = firehose_event(records)
    result = pipeline.process_firehose(event)

    entry = json.loads(firehose.log_line(result, "inv-1", 1.0, "iot-telemetry", metrics=pipeline.spec.metrics))

    assert entry["enrich_missed"] == {"devices": 3, "Zürich": 3}
    names = [m["Name"] for m in check_emf(entry)["Metrics"]]
    # a table name CloudWatch cannot take as a metric name (non-ASCII) is in the total and the log field only
    assert names == [*METRICS, "EnrichmentMisses", "EnrichmentMisses.devices"]
    assert (entry["EnrichmentMisses"], entry["EnrichmentMisses.devices"]) == (6, 3)
    assert "EnrichmentMisses.Zürich" not in entry


def test_a_spec_without_a_table_that_keeps_misses_has_no_miss_metric() -> None:
    raw = spec_with({"emf": True})
    raw["enrich"][0]["on_missing"] = "reject"
    pipeline = load_pipeline(raw)
    result = pipeline.process_firehose(load_event("direct_put.json"))

    entry = json.loads(firehose.log_line(result, "inv-1", 1.0, "iot-telemetry", metrics=pipeline.spec.metrics))

    assert entry["enrich_missed"] == {}
    assert [m["Name"] for m in check_emf(entry)["Metrics"]] == list(METRICS)
    assert not any(key.startswith("EnrichmentMisses") for key in entry)


def test_metrics_off_keeps_the_plain_log_line(use_spec: Any, capsys: pytest.CaptureFixture[str]) -> None:
    for metrics in (None, {}, {"emf": False, "namespace": "Elsewhere"}):
        raw = example_spec() if metrics is None else spec_with(metrics)
        use_spec(raw)
        event = load_event("direct_put.json")

        firehose.handler(event, None)

        line, rejected = capsys.readouterr().out.splitlines()  # direct_put.json has one rejected record
        entry = json.loads(line)
        assert json.loads(rejected)["message"] == "record rejected"
        assert "_aws" not in entry
        assert not set(METRICS) & set(entry)
        assert "requestId" not in entry  # no Lambda context, no request id
        assert (entry["invocationId"], entry["records"]) == (event["invocationId"], len(event["records"]))


def test_namespace_and_no_dimensions(use_spec: Any, capsys: pytest.CaptureFixture[str]) -> None:
    use_spec(spec_with({"emf": True, "namespace": "Acme/Ingest", "dimensions": []}))

    firehose.handler(load_event("kinesis_source.json"), None)

    entry = json.loads(capsys.readouterr().out.splitlines()[0])
    directive = check_emf(entry)
    assert directive["Namespace"] == "Acme/Ingest"
    assert directive["Dimensions"] == [[]]  # one dimension set with no dimensions: the namespace-wide metrics


def test_inline_mapping_spec_and_log_line_with_shed_records() -> None:
    pipeline = load_pipeline(spec_with({"emf": True}))
    assert pipeline.spec.metrics == MetricsSpec(emf=True, namespace="TransformCore", dimensions=("pipeline",))
    event = load_event("direct_put.json")
    result = pipeline.process_firehose(event)
    shed = result._replace(shed=1)  # as if one Ok record had been returned failed to fit the 6 MB response

    entry = json.loads(firehose.log_line(shed, "inv-9", 12.3456, "iot-telemetry", metrics=pipeline.spec.metrics, input_size=123))

    check_emf(entry)
    assert (entry["level"], entry["RecordsShed"], entry["shed_for_response_size"]) == ("WARNING", 1, 1)
    assert (entry["invocationId"], entry["InputBytes"], entry["BatchLatency"]) == ("inv-9", 123, 12.346)
    # without a metrics spec the line is the plain log line
    assert "_aws" not in json.loads(firehose.log_line(result, "inv-9", 1.0, "iot-telemetry"))


def test_input_bytes_counts_decoded_payloads_without_decoding() -> None:
    payloads = [b"", b"a", b"ab", b"abc", b"abcd", b'{"k": "\xc3\xa9"}']
    assert firehose.input_bytes([base64.b64encode(p).decode() for p in payloads]) == sum(map(len, payloads))
    assert firehose.input_bytes([]) == 0
    # a batch's data that is not a string is "" (the record fails alone): it counts nothing
    event = firehose_event([{"recordId": "1"}, {"recordId": "2", "data": None}, {"recordId": "3", "data": "YWI="}])
    assert firehose.input_bytes(RecordBatch.from_firehose_event(event).data) == 2


def test_spec_defaults() -> None:
    assert load_spec(example_spec()).metrics == MetricsSpec(emf=False)
    assert load_spec(spec_with(None)).metrics == MetricsSpec()
    assert load_spec(spec_with({"emf": True})).metrics.dimensions == ("pipeline",)
    assert load_spec(EXAMPLE_SPEC).metrics.emf is False


@pytest.mark.parametrize(
    ("metrics", "key", "message"),
    [
        ({"emf": True, "bogus": 1}, "metrics.bogus", "unknown key (allowed: dimensions, emf, namespace)"),
        ({"emf": "yes"}, "metrics.emf", "must be true or false"),
        ({"emf": 1}, "metrics.emf", "must be true or false"),
        ({"emf": True, "namespace": ""}, "metrics.namespace", "must be a non-empty string"),
        ({"emf": True, "namespace": 5}, "metrics.namespace", "must be a non-empty string"),
        ({"emf": True, "namespace": "AWS/Lambda"}, "metrics.namespace", "reserved"),
        ({"emf": True, "namespace": "Ünïcode"}, "metrics.namespace", "printable ASCII"),
        ({"emf": True, "namespace": "x" * 256}, "metrics.namespace", "at most 255"),
        ({"emf": True, "dimensions": "pipeline"}, "metrics.dimensions", "must be a list"),
        ({"emf": True, "dimensions": ["function"]}, "metrics.dimensions[0]", "must be one of pipeline"),
        ({"emf": True, "dimensions": ["pipeline", "pipeline"]}, "metrics.dimensions", "lists a dimension twice"),
        (True, "metrics", "must be a mapping"),
    ],
)
def test_bad_metrics_spec_names_the_key(tmp_path: Path, metrics: Any, key: str, message: str) -> None:
    with pytest.raises(SpecError) as inline:
        load_spec(spec_with(metrics))
    assert (inline.value.file, inline.value.key) == ("<inline>", key)
    assert message in inline.value.message

    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec_with(metrics), allow_unicode=True), encoding="utf-8")
    with pytest.raises(SpecError) as from_file:
        load_pipeline(path)
    assert (from_file.value.file, from_file.value.key) == (str(path), key)
    assert str(from_file.value).startswith(f"{path}: {key}: ")
