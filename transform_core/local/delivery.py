"""Firehose as it delivers, on one machine: buffer, invoke the processor, check its answer, partition, write S3.

:class:`LocalFirehose` takes records from producers (:meth:`~LocalFirehose.put`, thread-safe) and does what the
template's stream does with them (the rules and the guide pages they come from are in ``docs/local.md``,
"Delivery"):

1. buffers them for the processor until ``processor_buffer`` bytes of record data or its interval (the guide's
   "Transform source data in Amazon Data Firehose"); :meth:`~LocalFirehose.tick` flushes buffers that are due, and
   :meth:`~LocalFirehose.start_ticking` calls it from a thread;
2. invokes the processor with the transformation event and checks the response
   (:mod:`transform_core.local.delivery_records`); a failed invocation is retried ``number_of_retries`` times, then
   every record of the batch goes to the error output ("Handle failure in data transformation");
3. sends ``ProcessingFailed`` records to the error output, counts ``Dropped`` ones, and buffers ``Ok`` ones per
   partition from ``metadata.partitionKeys`` ("Partition streaming data in Amazon Data Firehose");
4. writes each buffer as one object when it reaches ``s3_buffer`` or its interval, named and encoded as Firehose
   does (:mod:`transform_core.local.delivery_objects`), and keeps the source record backup when asked.

The lake folder stands for the template's buckets: ``<lake>/raw/`` and ``<lake>/errors/`` are the raw bucket's
prefixes, ``<backup_root or lake>/backup/`` the errors bucket's. :meth:`~LocalFirehose.close` flushes everything
and returns a :class:`DeliverySummary`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import orjson

from transform_core.local.delivery_config import BufferingHints, DeliverySettings, PrefixError, evaluate_prefix
from transform_core.local.delivery_objects import ObjectBuffer, ParquetConverter, encode, object_name, write_object
from transform_core.local.delivery_records import (
    ErrorOutputType,
    ResponseRejected,
    SourceRecord,
    check_response,
    conversion_failed_line,
    error_line,
    source_record,
    transformation_event,
)
from transform_core.local.lambda_process import InvokeResult

__all__ = ["MAX_RECORD_BYTES", "ZONES", "DeliverySummary", "Invoker", "LocalFirehose"]

MAX_RECORD_BYTES = 1_024_000  # Firehose takes records of at most 1,000 KiB (PutRecord); Kinesis, 1 MiB
ZONES = ("raw", "errors", "backup")


class Invoker(Protocol):
    """What runs the processor: :class:`~transform_core.local.lambda_process.LocalLambda`, or a stand-in."""

    def invoke(self, event: bytes) -> InvokeResult:
        """Invoke it with the event's bytes."""
        ...


@dataclass(frozen=True)
class DeliverySummary:
    """What a stream did, from its first record to :meth:`LocalFirehose.close`.

    ``records_in == ok + failed + dropped`` and ``ok == delivered + undeliverable`` once closed.

    Attributes:
        records_in: records put.
        ok, dropped: records the processor returned ``Ok`` or ``Dropped``.
        failed: ``processing_failed + invocation_failed``.
        processing_failed: records returned ``ProcessingFailed`` (error output type ``processing-failed``).
        invocation_failed: records of batches whose invocations all failed, or whose response broke the status
            model (``processing-failed`` too, with ``Lambda.*`` codes).
        delivered: Ok records written to the raw zone.
        undeliverable: Ok records Firehose could not deliver: ``partitioning-failed`` (no partition keys, too
            many partitions) or ``format-conversion-failed``.
        invocations: processor invocations, retries included; retries: the retries among them.
        objects: the objects written per zone (``raw``, ``errors``, ``backup``), paths in the order written.
        invocation_errors: what each failed invocation or rejected response said.
    """

    records_in: int
    ok: int
    failed: int
    processing_failed: int
    invocation_failed: int
    dropped: int
    delivered: int
    undeliverable: int
    invocations: int
    retries: int
    objects: Mapping[str, tuple[str, ...]]
    invocation_errors: tuple[str, ...]


class LocalFirehose:
    """A Firehose stream with a Lambda processor and an S3 destination, on a folder.

    Args:
        settings: the stream (:class:`~transform_core.local.delivery_config.DeliverySettings`).
        lambda_: the processor; not closed by :meth:`close`.
        clock: the time in epoch seconds (buffer intervals, arrival times, object names).
    """

    def __init__(self, settings: DeliverySettings, lambda_: Invoker, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._lambda = lambda_
        self._clock = clock
        self._converter = ParquetConverter(settings) if settings.delivery_format == "parquet" else None
        self._lock = threading.Lock()  # the buffers and the counts
        self._flush_lock = threading.Lock()  # one batch or one object write at a time, in order
        self._sequence = 0
        self._batch: list[SourceRecord] = []
        self._batch_bytes = 0
        self._batch_opened = 0.0
        self._batches: deque[list[SourceRecord]] = deque()
        self._buffers: dict[tuple[str, str], ObjectBuffer] = {}
        self._ready: deque[ObjectBuffer] = deque()
        self._counts = dict.fromkeys(
            ("records_in", "ok", "dropped", "processing_failed", "invocation_failed", "delivered", "undeliverable"), 0
        )
        self._invocations = 0
        self._retries = 0
        self._objects: dict[str, list[str]] = {zone: [] for zone in ZONES}
        self._invocation_errors: list[str] = []
        self._closed = False
        self._ticker: threading.Thread | None = None
        self._stop_ticking = threading.Event()
        self._ticker_error: BaseException | None = None

    def put(self, data: bytes, *, arrival_ms: int | None = None, partition_key: str | None = None) -> str:
        """Take one record from a producer; returns its recordId. The processor may run before this returns.

        Args:
            data: the record's bytes, at most 1,000 KiB.
            arrival_ms: its ``approximateArrivalTimestamp`` (None: now).
            partition_key: its Kinesis partition key (None: a new UUID, as the template's IoT rule sends).

        Raises:
            ValueError: a record over 1,000 KiB.
            RuntimeError: after :meth:`close`.
        """
        if len(data) > MAX_RECORD_BYTES:
            raise ValueError(f"a Firehose record is at most {MAX_RECORD_BYTES} bytes, got {len(data)}")
        with self._lock:
            if self._closed:
                raise RuntimeError("LocalFirehose is closed")
            now = self._clock()
            arrival = int(now * 1000) if arrival_ms is None else arrival_ms
            self._sequence += 1
            kinesis = self.settings.source == "kinesis"
            record = source_record(data, arrival, self._sequence, kinesis=kinesis, partition_key=partition_key)
            self._counts["records_in"] += 1
            if self.settings.backup:
                self._buffer("backup", self.settings.backups_prefix, record, data, now)
            size = self.settings.processor_buffer.size_bytes
            if self._batch and self._batch_bytes + len(data) > size:
                self._take_batch()
            if not self._batch:
                self._batch_opened = now
            self._batch.append(record)
            self._batch_bytes += len(data)
            if self._batch_bytes >= size:
                self._take_batch()
            self._take_due(now)
        self._drain()
        return record.record_id

    def tick(self, now: float | None = None) -> None:
        """Flush every buffer whose interval has passed at ``now`` (None: the clock's time)."""
        with self._lock:
            self._take_due(self._clock() if now is None else now)
        self._drain()

    def start_ticking(self, every_s: float = 1.0) -> None:
        """Call :meth:`tick` every ``every_s`` seconds from a daemon thread until :meth:`close`."""
        if self._ticker is not None:
            return

        def run() -> None:
            while not self._stop_ticking.wait(every_s):
                try:
                    self.tick()
                except BaseException as err:  # kept for close() to raise: a thread's exception is lost otherwise
                    self._ticker_error = err
                    return

        self._ticker = threading.Thread(target=run, name="local-firehose-tick", daemon=True)
        self._ticker.start()

    def close(self) -> DeliverySummary:
        """Flush every buffer (processor, destination, errors, backup) and return the summary. Idempotent.

        Raises:
            BaseException: what the ticking thread raised, once the buffers are flushed.
        """
        self._stop_ticking.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            self._closed = True
            if self._batch:
                self._take_batch()
        self._drain()
        while True:
            with self._lock:
                if not self._buffers:
                    break
                self._ready.extend(self._buffers.values())
                self._buffers.clear()
            self._drain()
        if self._ticker_error is not None:
            raise self._ticker_error
        return self.summary()

    def summary(self) -> DeliverySummary:
        """The counts so far."""
        with self._lock:
            counts = dict(self._counts)
            failed = counts["processing_failed"] + counts["invocation_failed"]
            return DeliverySummary(
                failed=failed,
                invocations=self._invocations,
                retries=self._retries,
                objects={zone: tuple(paths) for zone, paths in self._objects.items()},
                invocation_errors=tuple(self._invocation_errors),
                **counts,
            )

    # -- buffers (called with self._lock held) ------------------------------------------------------------------------

    def _take_batch(self) -> None:
        self._batches.append(self._batch)
        self._batch, self._batch_bytes = [], 0

    def _take_due(self, now: float) -> None:
        if self._batch and now - self._batch_opened >= self.settings.processor_buffer.interval_s:
            self._take_batch()
        for key, buffer in list(self._buffers.items()):
            if now - buffer.opened_at >= self._hints(buffer.zone).interval_s:
                self._ready.append(self._buffers.pop(key))

    def _buffer(
        self,
        zone: str,
        expression: str,
        record: SourceRecord,
        data: bytes,
        now: float,
        *,
        keys: Mapping[str, str] | None = None,
        error_output_type: str | None = None,
    ) -> None:
        """Add a record to the buffer of its prefix (evaluated with its own arrival time: one day's records share one)."""
        prefix = evaluate_prefix(
            expression,
            timestamp_ms=record.arrival_ms,
            partition_keys=keys,
            error_output_type=error_output_type,
            random_string="",
        )
        self._add(zone, prefix, record, data, now, keys=keys, error_output_type=error_output_type)

    def _add(
        self,
        zone: str,
        prefix: str,
        record: SourceRecord,
        data: bytes,
        now: float,
        *,
        keys: Mapping[str, str] | None = None,
        error_output_type: str | None = None,
    ) -> None:
        """Add a record to the buffer of an evaluated prefix; a buffer that reaches its size is ready to write."""
        buffer = self._buffers.get((zone, prefix))
        if buffer is None:
            buffer = ObjectBuffer(zone, now, dict(keys or {}), error_output_type)
            self._buffers[(zone, prefix)] = buffer
        buffer.add(record, data)
        if buffer.nbytes >= self._hints(zone).size_bytes:
            self._ready.append(self._buffers.pop((zone, prefix)))

    def _fail(self, record: SourceRecord, error_type: ErrorOutputType, line: bytes, now: float) -> None:
        self._buffer("errors", self.settings.errors_prefix, record, line, now, error_output_type=error_type)

    def _deliver(self, record: SourceRecord, data: bytes, keys: Mapping[str, str] | None, now: float) -> None:
        settings = self.settings
        try:
            prefix = evaluate_prefix(settings.data_prefix, timestamp_ms=record.arrival_ms, partition_keys=keys, random_string="")
        except PrefixError:
            code = "keys"
        else:
            open_now = ("raw", prefix) in self._buffers
            if open_now or sum(1 for zone, _ in self._buffers if zone == "raw") < settings.max_active_partitions:
                self._add("raw", prefix, record, data, now, keys=keys)
                return
            code = "limit"
        self._counts["undeliverable"] += 1
        error = (
            "DynamicPartitioning.MetadataExtractionFailed"
            if code == "keys"
            else "DynamicPartitioning.ActivePartitionsLimitExceeded"
        )
        line = error_line(record, code=error, attempts=1, ending_ms=int(now * 1000), lambda_arn=settings.lambda_arn, raw=data)
        self._fail(record, "partitioning-failed", line, now)

    def _hints(self, zone: str) -> BufferingHints:
        settings = self.settings
        return {"raw": settings.s3_buffer, "errors": settings.s3_buffer, "backup": settings.backup_buffer}[zone]

    # -- work (called without self._lock) -------------------------------------------------------------------------------

    def _drain(self) -> None:
        with self._flush_lock:
            while True:
                with self._lock:
                    batch = self._batches.popleft() if self._batches else None
                    ready = self._ready.popleft() if batch is None and self._ready else None
                if batch is not None:
                    self._process(batch)
                elif ready is not None:
                    self._write(ready)
                else:
                    return

    def _process(self, batch: list[SourceRecord]) -> None:
        settings = self.settings
        event = orjson.dumps(transformation_event(batch, settings, str(uuid.uuid4())))
        attempts = 0
        while True:
            attempts += 1
            result = self._lambda.invoke(event)
            with self._lock:
                self._invocations += 1
                if attempts > 1:
                    self._retries += 1
                if result.error is not None:
                    self._invocation_errors.append(f"{result.error.error_type}: {result.error.message}")
            if result.error is None or attempts > settings.number_of_retries:
                break
        code, outcomes = None, None
        if result.error is not None:
            request_too_large = result.error.kind == "request_too_large"
            code = "Lambda.RequestTooLargeException" if request_too_large else "Lambda.FunctionError"
        else:
            try:
                outcomes = check_response(result.payload or b"", [record.record_id for record in batch])
            except ResponseRejected as err:
                code = err.code
                with self._lock:
                    self._invocation_errors.append(str(err))
        with self._lock:
            now = self._clock()
            ending = int(now * 1000)
            if outcomes is None:
                assert code is not None
                self._counts["invocation_failed"] += len(batch)
                for record in batch:
                    line = error_line(record, code=code, attempts=attempts, ending_ms=ending, lambda_arn=settings.lambda_arn)
                    self._fail(record, "processing-failed", line, now)
                return
            for record, outcome in zip(batch, outcomes, strict=True):
                if outcome.result == "Ok":
                    self._counts["ok"] += 1
                    self._deliver(record, outcome.data, outcome.partition_keys, now)
                elif outcome.result == "Dropped":
                    self._counts["dropped"] += 1
                else:
                    self._counts["processing_failed"] += 1
                    line = error_line(
                        record,
                        code="Lambda.ProcessingFailedStatus",
                        attempts=attempts,
                        ending_ms=ending,
                        lambda_arn=settings.lambda_arn,
                    )
                    self._fail(record, "processing-failed", line, now)

    def _write(self, buffer: ObjectBuffer) -> None:
        settings = self.settings
        now = self._clock()
        expression = {"raw": settings.data_prefix, "errors": settings.errors_prefix, "backup": settings.backups_prefix}[
            buffer.zone
        ]
        prefix = evaluate_prefix(
            expression,
            timestamp_ms=buffer.oldest_arrival_ms(),
            partition_keys=buffer.partition_keys,
            error_output_type=buffer.error_output_type,
        )
        lines = [data for _, data in buffer.records]
        gzipped = settings.compression_format == "GZIP"
        if buffer.zone == "raw" and self._converter is not None:
            body, failed = self._converter.convert(lines)
            if failed:
                with self._lock:
                    self._counts["undeliverable"] += len(failed)
                    for position in failed:
                        record, data = buffer.records[position]
                        line = conversion_failed_line(record, data, settings=settings, ending_ms=int(now * 1000))
                        self._fail(record, "format-conversion-failed", line, now)
            delivered = len(lines) - len(failed)
            extension = settings.extension
        elif buffer.zone == "raw":
            body, delivered, extension = encode(lines, gzipped=gzipped), len(lines), settings.extension
        else:  # the error output and the backup: JSON lines or the source bytes, compressed as the destination says
            backup_gzip = buffer.zone == "backup"  # the template's backup is GZIP
            zipped = backup_gzip or gzipped
            body, delivered, extension = encode(lines, gzipped=zipped), 0, ".gz" if zipped else ""
        if body is None:
            return
        root = settings.backup_folder if buffer.zone == "backup" else settings.lake
        path = write_object(root, prefix, object_name(settings, now, extension), body)
        with self._lock:
            self._objects[buffer.zone].append(path)
            self._counts["delivered"] += delivered
