"""LocalFirehose: buffers by size and interval, retries, the error output, partitions, formats, end to end."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers.lake import EXAMPLE
from tests.local.delivery_fakes import Clock, InProcessLambda, failed, fake_runtime, ok
from transform_core import Pipeline, PipelineSpec, load_spec
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.jobs.inputs import read_file_chunks
from transform_core.lake.columns import lake_columns, table_dtypes
from transform_core.lake.raw import read_raw
from transform_core.lake.storage import list_files
from transform_core.local.delivery import DeliverySummary, LocalFirehose
from transform_core.local.delivery_config import BufferingHints, DeliverySettings
from transform_core.local.delivery_records import FIREHOSE_ERROR_FIELDS
from transform_core.local.lambda_process import InvokeResult, LocalLambda

SMALL = BufferingHints(0.2, 60)  # the smallest processor buffer Firehose allows


@pytest.fixture(scope="module")
def spec() -> PipelineSpec:
    return load_spec(EXAMPLE)


def settings_for(spec: PipelineSpec, lake: Path, **change: Any) -> DeliverySettings:
    return DeliverySettings(spec=spec, lake=str(lake), **{"processor_buffer": SMALL, **change})


def lines(path: str) -> list[dict[str, Any]]:
    body = Path(path).read_bytes()
    return [json.loads(line) for line in (gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body).splitlines()]


def error_lines(summary: DeliverySummary) -> list[dict[str, Any]]:
    return [line for path in summary.objects["errors"] for line in lines(path)]


def rows_in_raw(spec: PipelineSpec, lake: Path) -> int:
    files = list_files(str(lake / "raw"))
    read = read_raw(files, lake_columns(spec, table_dtypes(spec)))
    assert not read.problems and not read.refused
    return read.frame.height


def test_the_processor_buffer_flushes_when_full(spec: PipelineSpec, pipeline: Pipeline, tmp_path: Path) -> None:
    function = InProcessLambda(pipeline)
    firehose = LocalFirehose(settings_for(spec, tmp_path), function, clock=Clock())
    record = b"y" * 100_000
    for _ in range(2):
        firehose.put(record)
    assert function.events == []  # 200,000 bytes: under 0.2 MiB
    firehose.put(record)  # would pass 209,715 bytes: the two before go
    assert [len(event["records"]) for event in function.decoded()] == [2]
    firehose.put(b"z" * (209_715 - 100_000))  # exactly full now
    assert [len(event["records"]) for event in function.decoded()] == [2, 2]


def test_the_processor_buffer_flushes_at_its_interval(spec: PipelineSpec, pipeline: Pipeline, tmp_path: Path) -> None:
    clock = Clock()
    function = InProcessLambda(pipeline)
    firehose = LocalFirehose(settings_for(spec, tmp_path), function, clock=clock)
    for payload in iot_payloads(3, seed=1):
        firehose.put(payload.data)
    clock.now += 59.9
    firehose.tick()
    assert function.events == []
    firehose.tick(clock.now + 0.1)
    assert [len(event["records"]) for event in function.decoded()] == [3]


def test_s3_buffers_flush_per_partition_by_size_and_interval(spec: PipelineSpec, pipeline: Pipeline, tmp_path: Path) -> None:
    clock = Clock()
    settings = settings_for(
        spec, tmp_path, processor_buffer=BufferingHints(0.2, 0), s3_buffer=BufferingHints(0.001, 300), backup=False
    )
    firehose = LocalFirehose(settings, InProcessLambda(pipeline), clock=clock)
    valid = [p for p in iot_payloads(40, seed=2) if b"heartbeat" not in p.data]
    for payload in valid[:3]:  # about 1 KB with the enrichment: under 0.001 MiB
        firehose.put(payload.data)
    assert firehose.summary().objects["raw"] == ()
    for payload in valid[3:]:
        firehose.put(payload.data)
    written = firehose.summary().objects["raw"]
    assert written  # the partitions that filled up
    clock.now += 300
    firehose.tick()
    after_interval = firehose.summary().objects["raw"]
    assert len(after_interval) > len(written)
    assert firehose.close().objects["raw"] == after_interval  # nothing was left to flush
    assert rows_in_raw(spec, tmp_path) == len(valid)


def test_a_failing_function_is_retried_then_every_record_goes_to_processing_failed(
    spec: PipelineSpec, pipeline: Pipeline, tmp_path: Path
) -> None:
    function = InProcessLambda(pipeline, answer=lambda event, n: failed())
    firehose = LocalFirehose(settings_for(spec, tmp_path), function, clock=Clock())
    payloads = iot_payloads(5, seed=3)
    for payload in payloads:
        firehose.put(payload.data, arrival_ms=1_795_824_000_000)
    summary = firehose.close()
    assert (summary.invocations, summary.retries, summary.invocation_failed, summary.failed, summary.ok) == (4, 3, 5, 5, 0)
    assert len(set(function.events)) == 1  # the same event each time
    written = error_lines(summary)
    assert [line["rawData"] for line in written] == [base64.b64encode(p.data).decode() for p in payloads]
    assert {(line["errorCode"], line["attemptsMade"]) for line in written} == {("Lambda.FunctionError", 4)}
    assert all(list(line) == list(FIREHOSE_ERROR_FIELDS) for line in written)
    (path,) = summary.objects["errors"]
    assert "/errors/iot_telemetry/processing-failed/year=2026/month=11/day=28/" in path
    assert summary.objects["raw"] == () and len(summary.invocation_errors) == 4


def test_an_invocation_that_succeeds_on_a_retry_delivers(spec: PipelineSpec, pipeline: Pipeline, tmp_path: Path) -> None:
    function = InProcessLambda(pipeline, answer=lambda event, n: failed() if n == 1 else None)
    firehose = LocalFirehose(settings_for(spec, tmp_path, number_of_retries=1), function, clock=Clock())
    payloads = iot_payloads(50, 0.2, seed=4)
    for payload in payloads:
        firehose.put(payload.data)
    summary = firehose.close()
    assert (summary.invocations, summary.retries, summary.invocation_failed) == (2, 1, 0)
    assert summary.ok + summary.processing_failed + summary.dropped == 50 and summary.processing_failed > 0
    assert {(line["errorCode"], line["attemptsMade"]) for line in error_lines(summary)} == {("Lambda.ProcessingFailedStatus", 2)}


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (b'{"records":[]}', "Lambda.MissingRecordId"),
        (b"<html>", "Lambda.JsonProcessingException"),
        ("twice", "Lambda.DuplicatedRecordId"),
    ],
)
def test_a_response_breaking_the_status_model_fails_the_batch_without_retries(
    spec: PipelineSpec, pipeline: Pipeline, tmp_path: Path, answer: Any, code: str
) -> None:
    def respond(event: bytes, n: int) -> InvokeResult:
        if answer == "twice":
            records = orjson.loads(pipeline.process_firehose_bytes(event).body)["records"]
            return ok(orjson.dumps({"records": records + records[:1]}))
        return ok(answer)

    firehose = LocalFirehose(settings_for(spec, tmp_path), InProcessLambda(pipeline, answer=respond), clock=Clock())
    for payload in iot_payloads(4, seed=5):
        firehose.put(payload.data)
    summary = firehose.close()
    assert (summary.invocations, summary.invocation_failed) == (1, 4)
    assert {(line["errorCode"], line["attemptsMade"]) for line in error_lines(summary)} == {(code, 1)}


def test_prefixes_are_the_templates(spec: PipelineSpec, pipeline: Pipeline, tmp_path: Path) -> None:
    errors_bucket = tmp_path / "errors-bucket"
    settings = settings_for(spec, tmp_path, backup_root=str(errors_bucket))
    firehose = LocalFirehose(settings, InProcessLambda(pipeline), clock=Clock())
    payloads = iot_payloads(60, 0.2, seed=6)
    for payload in payloads:
        firehose.put(payload.data, arrival_ms=1_795_910_400_000)  # 2026-11-29
    summary = firehose.close()
    answered = orjson.loads(pipeline.process_firehose_bytes(event_of(payloads)).body)
    keys = {tuple(r["metadata"]["partitionKeys"].values()) for r in answered["records"] if r["result"] == "Ok"}
    folders = {f"raw/iot_telemetry/year={y}/month={m}/day={d}/" for y, m, d in keys}
    written = {Path(path).relative_to(tmp_path).as_posix().rsplit("/", 1)[0] + "/" for path in summary.objects["raw"]}
    assert written == folders and len(folders) > 1
    assert all(Path(path).name.startswith("iot-telemetry-1-") for path in summary.objects["raw"])
    (error,) = summary.objects["errors"]
    assert (
        Path(error)
        .relative_to(tmp_path)
        .as_posix()
        .startswith("errors/iot_telemetry/processing-failed/year=2026/month=11/day=29/")
    )
    (backup,) = summary.objects["backup"]
    assert Path(backup).relative_to(errors_bucket).as_posix().startswith("backup/iot_telemetry/year=2026/month=11/day=29/")
    assert gzip.decompress(Path(backup).read_bytes()) == b"".join(p.data for p in payloads)  # as received, concatenated


def event_of(payloads: list[Any]) -> bytes:
    return json.dumps(firehose_event(payloads)).encode()


def test_records_firehose_cannot_partition_go_to_partitioning_failed(
    spec: PipelineSpec, pipeline: Pipeline, tmp_path: Path
) -> None:
    def without_keys(event: bytes, n: int) -> InvokeResult:
        records = orjson.loads(pipeline.process_firehose_bytes(event).body)["records"]
        for record in records[:2]:
            record.pop("metadata", None)
        return ok(orjson.dumps({"records": records}))

    settings = settings_for(spec, tmp_path, max_active_partitions=1)
    firehose = LocalFirehose(settings, InProcessLambda(pipeline, answer=without_keys), clock=Clock())
    valid = [p for p in iot_payloads(40, seed=7) if b"heartbeat" not in p.data]
    for payload in valid:
        firehose.put(payload.data)
    summary = firehose.close()
    codes = [line["errorCode"] for line in error_lines(summary)]
    assert codes.count("DynamicPartitioning.MetadataExtractionFailed") == 2
    assert codes.count("DynamicPartitioning.ActivePartitionsLimitExceeded") == summary.undeliverable - 2 > 0
    assert all("/errors/iot_telemetry/partitioning-failed/" in path for path in summary.objects["errors"])
    assert len(summary.objects["raw"]) == 1 and summary.delivered + summary.undeliverable == summary.ok == len(valid)


def test_records_that_do_not_fit_the_table_go_to_format_conversion_failed(
    spec: PipelineSpec, pipeline: Pipeline, tmp_path: Path
) -> None:
    def wrong_type(event: bytes, n: int) -> InvokeResult:
        records = orjson.loads(pipeline.process_firehose_bytes(event).body)["records"]
        data = orjson.loads(base64.b64decode(records[0]["data"]))
        records[0]["data"] = base64.b64encode(orjson.dumps({**data, "seq": "three"})).decode()
        return ok(orjson.dumps({"records": records}))

    firehose = LocalFirehose(settings_for(spec, tmp_path), InProcessLambda(pipeline, answer=wrong_type), clock=Clock())
    for payload in iot_payloads(3, seed=8):
        firehose.put(payload.data)
    summary = firehose.close()
    (line,) = error_lines(summary)
    assert (line["lastErrorCode"], line["dataCatalogTable"]["tableName"]) == (
        "DataFormatConversion.MalformedData",
        "iot_telemetry",
    )
    assert b'"seq":"three"' in base64.b64decode(line["rawData"])
    assert "/errors/iot_telemetry/format-conversion-failed/" in summary.objects["errors"][0]
    assert (summary.undeliverable, summary.delivered) == (1, summary.ok - 1)


@pytest.mark.parametrize(
    ("fmt", "compression", "extension"), [("parquet", None, ".parquet"), ("json", None, ".json.gz"), ("json", "UNCOMPRESSED", "")]
)
def test_delivered_objects_read_back_as_firehoses(
    spec: PipelineSpec, pipeline: Pipeline, tmp_path: Path, fmt: str, compression: str | None, extension: str
) -> None:
    settings = settings_for(spec, tmp_path, delivery_format=fmt, compression=compression)
    firehose = LocalFirehose(settings, InProcessLambda(pipeline), clock=Clock())
    for payload in iot_payloads(200, 0.1, seed=9):
        firehose.put(payload.data)
    summary = firehose.close()
    read = read_raw(list(summary.objects["raw"]), lake_columns(spec, table_dtypes(spec)))
    producer = "firehose-parquet" if fmt == "parquet" else "firehose-json"
    assert {source.producer for source in read.sources} == {producer} and not read.problems and not read.refused
    assert read.frame.height == summary.delivered == summary.ok
    assert all(path.endswith(extension) and Path(path).name.count(".") == extension.count(".") for path in summary.objects["raw"])


def test_producers_put_from_many_threads(spec: PipelineSpec, pipeline: Pipeline, tmp_path: Path) -> None:
    firehose = LocalFirehose(settings_for(spec, tmp_path, backup=False), InProcessLambda(pipeline))
    payloads = iot_payloads(400, 0.1, seed=10)
    ids: list[str] = []

    def produce(part: list[Any]) -> None:
        ids.extend(firehose.put(p.data) for p in part)

    threads = [threading.Thread(target=produce, args=(payloads[k::4],)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = firehose.close()
    assert len(set(ids)) == summary.records_in == 400 == summary.ok + summary.failed + summary.dropped


def test_a_ticking_thread_flushes_without_a_caller(spec: PipelineSpec, pipeline: Pipeline, tmp_path: Path) -> None:
    function = InProcessLambda(pipeline)
    firehose = LocalFirehose(settings_for(spec, tmp_path, processor_buffer=BufferingHints(1, 0.05)), function)
    firehose.start_ticking(0.01)
    firehose.put(iot_payloads(1, seed=11)[0].data)
    deadline = time.monotonic() + 10
    while not function.events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(function.events) == 1
    assert firehose.close().invocations == 1
    with pytest.raises(RuntimeError, match="closed"):
        firehose.put(b"{}")


# -- with the function as Lambda runs it ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def function(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambda]:
    with LocalLambda(EXAMPLE, log=tmp_path_factory.mktemp("lambda") / "log.txt", timeout_s=60) as function:
        yield function


@pytest.mark.parametrize("fmt", ["json", "parquet"])
def test_every_record_is_in_raw_in_the_error_prefix_or_dropped(
    spec: PipelineSpec, function: LocalLambda, tmp_path: Path, fmt: str
) -> None:
    settings = settings_for(spec, tmp_path, delivery_format=fmt, s3_buffer=BufferingHints(0.05, 300))
    firehose = LocalFirehose(settings, function)
    payloads = iot_payloads(3000, 0.1, seed=12)
    for payload in payloads:
        firehose.put(payload.data)
    summary = firehose.close()
    failed_lines = error_lines(summary)
    assert summary.records_in == len(payloads) == rows_in_raw(spec, tmp_path) + len(failed_lines) + summary.dropped
    assert summary.invocations > 1 and summary.dropped > 0 and failed_lines
    replayed = [
        chunk for path in summary.objects["errors"] for chunk in read_file_chunks(path, Path(path).read_bytes())
    ]  # what transform-core reprocess reads
    assert {chunk.kind for chunk in replayed} == {"processing-failed"}
    assert sum(len(chunk.batch) for chunk in replayed) == len(failed_lines)


@pytest.mark.parametrize(("event_kind", "error_type"), [("crash", "Runtime.ExitError"), ("hang", "Sandbox.Timedout")])
def test_a_crashing_or_hanging_function_fails_its_invocations(
    spec: PipelineSpec, tmp_path: Path, event_kind: str, error_type: str
) -> None:
    class Saboteur:
        """Sends the fake runtime the event that makes it crash or hang instead of the batch."""

        def __init__(self, function: LocalLambda) -> None:
            self.function = function

        def invoke(self, event: bytes) -> InvokeResult:
            return self.function.invoke(event_kind.encode())

    with LocalLambda(EXAMPLE, command=fake_runtime(tmp_path), timeout_s=0.3, log=tmp_path / "log.txt") as function:
        firehose = LocalFirehose(settings_for(spec, tmp_path, number_of_retries=1), Saboteur(function))
        for payload in iot_payloads(3, seed=13):
            firehose.put(payload.data)
        summary = firehose.close()
        assert function.cold_starts == 2  # each failure ended its process
    assert (summary.invocations, summary.retries, summary.invocation_failed) == (2, 1, 3)
    assert all(error.startswith(f"{error_type}: ") for error in summary.invocation_errors)
    assert {(line["errorCode"], line["attemptsMade"]) for line in error_lines(summary)} == {("Lambda.FunctionError", 2)}


def test_a_full_3_mb_buffer_from_kinesis_is_a_request_lambda_refuses(
    spec: PipelineSpec, function: LocalLambda, tmp_path: Path
) -> None:
    """docs/deploy.md, "Buffer sizes": 3 MiB of the example's records make a request over 6 MB from a Kinesis source."""
    settings = settings_for(spec, tmp_path, processor_buffer=BufferingHints(3, 60), backup=False)
    firehose = LocalFirehose(settings, function)
    sent_before = function.invocations
    payloads = iot_payloads(9_400, seed=14)
    for payload in payloads:
        firehose.put(payload.data)
    summary = firehose.close()
    assert function.invocations == sent_before + summary.invocations - 4  # the full buffer's four attempts never left
    assert summary.invocation_errors[0].startswith("RequestTooLargeException: Request must be smaller than 6291456 bytes")
    refused = [line for line in error_lines(summary) if line["errorCode"] == "Lambda.RequestTooLargeException"]
    assert len(refused) == summary.invocation_failed > 9_000 and {line["attemptsMade"] for line in refused} == {4}
