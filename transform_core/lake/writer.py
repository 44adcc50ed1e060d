"""The lake sink: a processed batch written as Hive-partitioned Parquet (Ok records) and NDJSON (rejections).

Layout under the lake root (``docs/lake.md``)::

    raw/<table>/year=YYYY/month=MM/day=DD[/hour=HH]/part-<batch_id>-<n>.parquet
    errors/<table>/year=YYYY/month=MM/day=DD/part-<batch_id>.ndjson

File names derive only from the batch id (and the file's number within its partition), so writing the same
batch again overwrites the same files: retries never duplicate rows. A batch job holds each input's Ok rows across
its chunks (:class:`HeldRows`), so that a partition gets files of ``rows_per_file`` rows rather than one per chunk.
"""

from __future__ import annotations

import io
import posixpath
import re
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
import polars as pl

from transform_core.firehose.batch import RecordBatch
from transform_core.firehose.outcomes import FAILED, OK
from transform_core.lake.columns import BATCH_ID, LakeColumns, lake_columns, table_dtypes
from transform_core.lake.ledger import InputLedger
from transform_core.lake.rows import ROW, LakeRows
from transform_core.lake.storage import is_s3, join, write_atomic
from transform_core.spec import PipelineSpec

if TYPE_CHECKING:
    from transform_core.engine import BatchResult
    from transform_core.engine.payloads import PayloadBatch

__all__ = ["HeldRows", "LakeWriter", "WriteSummary", "sent_payloads"]

_BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=-]{0,199}")
_Partition = tuple[str, ...]  # a partition's key values, outermost first
_Planned = tuple[str, pl.DataFrame | bytes]  # a file to write: its destination, and its rows (Parquet) or bytes
#: Files written at once: a local file waits for its fsync (10 ms a file on a busy disk, 1 ms of it CPU) and an S3
#: object for its PUT, both without the GIL, as Polars' Parquet encoding is.
_PUT_THREADS = 8


class WriteSummary(NamedTuple):
    """What :meth:`LakeWriter.write` wrote: the files (paths or URIs) and the rows in them.

    ``refused`` holds ``(row, reason)`` for the Ok records the lake cannot store exactly (rule ``lake_exact``):
    they are written to ``errors/`` and counted in ``error_rows``.
    """

    files: tuple[str, ...]
    ok_rows: int
    error_rows: int
    refused: tuple[tuple[int, str], ...] = ()


class HeldRows:
    """The Ok rows of one input held across a batch job's chunks, partition by partition, until a file's worth.

    :meth:`LakeWriter.write` adds each chunk's rows; a partition's rows go out as a file once they reach
    ``rows_per_file``, and every partition's rest at :meth:`LakeWriter.flush`. When the rows held exceed ``max_bytes``
    (Polars' estimate of their size), the largest partitions go out early: memory stays bounded whatever the input's
    size. A file is named after the ``_batch_id`` of its first row and its number among the partition's files that
    start in that batch, so the same input, chunk size and targets give the same names, and a rerun replaces them.

    Args:
        max_bytes: the most bytes of rows held before the largest partitions are written.
        ledger: the input's ledger: folders are recorded in it before a file is written there.
    """

    def __init__(self, *, max_bytes: int = 16 << 20, ledger: InputLedger | None = None) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be at least 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.ledger = ledger
        self._frames: dict[_Partition, list[pl.DataFrame]] = {}
        self._rows: dict[_Partition, int] = {}
        self._bytes: dict[_Partition, int] = {}
        self._numbers: dict[tuple[_Partition, str], int] = {}  # files named so far per (partition, first batch id)

    @property
    def rows(self) -> int:
        """The rows held, not yet written."""
        return sum(self._rows.values())

    def add(self, values: _Partition, part: pl.DataFrame) -> None:
        """Hold a partition's rows (lake rows without the partition columns)."""
        self._frames.setdefault(values, []).append(part)
        self._rows[values] = self._rows.get(values, 0) + part.height
        self._bytes[values] = self._bytes.get(values, 0) + int(part.estimated_size())

    def due(self, rows_per_file: int) -> list[tuple[_Partition, pl.DataFrame, str, int]]:
        """The files to write now: (partition, rows, first batch id, number), full ones first, then the largest
        partitions' rows while more than ``max_bytes`` are held."""
        out: list[tuple[_Partition, pl.DataFrame, str, int]] = []
        for values in sorted(v for v, rows in self._rows.items() if rows >= rows_per_file):
            rows = self._take(values)
            whole = rows.height - rows.height % rows_per_file
            for start in range(0, whole, rows_per_file):
                out.append(self._named(values, rows.slice(start, rows_per_file)))
            if whole < rows.height:
                self.add(values, rows.slice(whole))
        held = sum(self._bytes.values())
        for values in sorted(self._bytes, key=lambda v: (-self._bytes[v], v)):
            if held <= self.max_bytes:
                break
            held -= self._bytes[values]
            out.append(self._named(values, self._take(values)))
        return out

    def rest(self) -> list[tuple[_Partition, pl.DataFrame, str, int]]:
        """Every partition's rows still held, as files; nothing is held afterwards."""
        return [self._named(values, self._take(values)) for values in sorted(self._frames)]

    def _take(self, values: _Partition) -> pl.DataFrame:
        frames = self._frames.pop(values)
        del self._rows[values], self._bytes[values]
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical", rechunk=False)

    def _named(self, values: _Partition, rows: pl.DataFrame) -> tuple[_Partition, pl.DataFrame, str, int]:
        first = str(rows.get_column(BATCH_ID)[0])
        number = self._numbers.get((values, first), 0)
        self._numbers[(values, first)] = number + 1
        return values, rows, first, number


def sent_payloads(batch: RecordBatch | PayloadBatch) -> pl.Series:
    """The records as sent, by row, for :meth:`LakeRows.split`: base64 text, or the bytes of a payload batch."""
    return batch.data_column() if isinstance(batch, RecordBatch) else batch.payloads


class LakeWriter:
    """Writes processed batches of one pipeline to its lake.

    Args:
        spec: the pipeline spec; its schema gives the columns, its partitioning the folders.
        root: a local folder or ``s3://bucket/prefix``; default: the spec's ``output.lake``.
        table: the table name in the layout; default: the spec's name with ``-`` replaced by ``_``.
        rows_per_file: the most rows one Parquet file holds.
        endpoint_url: S3 endpoint, overriding the AWS environment variables.

    Raises:
        SpecError: no root given and no ``output.lake`` in the spec, or a property named like a lake column.
        ValueError: ``rows_per_file`` is below 1 or ``table`` is not a plain name.
    """

    def __init__(
        self,
        spec: PipelineSpec,
        root: str | None = None,
        *,
        table: str | None = None,
        rows_per_file: int = 250_000,
        endpoint_url: str | None = None,
    ) -> None:
        root = spec.lake_root(root, needed_by="the lake writer")
        if rows_per_file < 1:
            raise ValueError(f"rows_per_file must be at least 1, got {rows_per_file}")
        self.table = table if table is not None else spec.name.replace("-", "_")
        if not _BATCH_ID.fullmatch(self.table):
            raise ValueError(f"table must be a plain name (letters, digits, '.', '_', '-'), got {self.table!r}")
        self.spec = spec
        self.root = root
        self.rows_per_file = rows_per_file
        self.endpoint_url = endpoint_url
        self.columns: LakeColumns = lake_columns(spec, table_dtypes(spec))
        self.rows = LakeRows(self.columns)
        # Polars reads every file of a folder, even "_tmp-…" ones, so local temporaries stay outside the table
        self._staging = None if is_s3(root) else join(root, "_staging")

    @property
    def file_schema(self) -> dict[str, pl.DataType]:
        """The columns inside each Parquet file: the lake schema without the partition columns (in the path)."""
        keys = set(self.columns.partition_keys)
        return {name: dtype for name, dtype in self.columns.dtypes.items() if name not in keys}

    def write(
        self,
        result: BatchResult,
        batch: RecordBatch | PayloadBatch,
        *,
        batch_id: str,
        input_id: str | None = None,
        held: HeldRows | None = None,
        lineage: tuple[str, datetime] | None = None,
    ) -> WriteSummary:
        """Write the batch's Ok records to ``raw/`` and its ProcessingFailed records to ``errors/``.

        Dropped records are not written. Writing the same batch with the same ``batch_id`` again replaces the
        same files. With ``held``, the Ok rows join the rows held there and go out as :class:`HeldRows` says
        (:meth:`flush` writes the rest); the summary then names the files written by this call, written several at
        once (when one fails, others of the call may still be written).

        Args:
            result: what the pipeline made of ``batch``.
            batch: the batch as processed (its arrival times go into the error records).
            batch_id: the batch's identity, e.g. the Firehose invocationId; becomes part of every file name.
            input_id: the input that owns the records (a batch job's input id), kept in each error record so
                that replaying it writes files the input owns.
            held: the rows held for the input across its batches (a batch job's); the folders written to, errors/
                ones included, are recorded in its ledger, if it has one, before any file is written.
            lineage: the ``_batch_id`` and ``_ingested_at`` of every row, which also stand as the error records'
                ``batchId`` and ``errorTimestamp`` and date their folder, for a job that names its whole run once
                (``spark-reprocess``); ``batch_id`` then names the files only. None: ``batch_id`` and now.

        Raises:
            ValueError: ``batch_id`` is not a plain name, or ``result`` does not belong to ``batch``.
            OSError: a file could not be written; files written before it stay (a retry replaces them).
        """
        run_id, now = lineage if lineage is not None else (batch_id, datetime.now(UTC))
        for name in (batch_id, run_id):  # held rows' files are named after run_id
            if not _BATCH_ID.fullmatch(name):
                raise ValueError(f"batch_id must be a plain name (letters, digits, '.', '_', '=', '-'), got {name!r}")
        outcomes = result.outcomes
        if outcomes.height != len(batch):
            raise ValueError(f"the result has {outcomes.height} rows but the batch {len(batch)} records")
        outcomes = outcomes.with_row_index(ROW)
        ok = outcomes.filter(pl.col("result") == OK)
        failed = outcomes.filter(pl.col("result") == FAILED)
        planned: list[_Planned] = []
        stored, refused = 0, []
        if ok.height:
            split = self.rows.split(ok, run_id, now, result.rows_with_extras, payloads=sent_payloads(batch))
            stored, refused = split.frame.height, split.refused
            if held is None:
                planned = self._plan_ok(split.frame, batch_id)
            else:
                for values, part in self._partitions(split.frame):
                    held.add(values, part)
                planned = self._plan_held(held.due(self.rows_per_file))
        if failed.height or refused:
            planned.append(self._plan_errors(failed, refused, batch, (batch_id, run_id), now, input_id, result.failures))
        files = self._put_all(planned, None if held is None else held.ledger, at_once=held is not None)
        return WriteSummary(files, ok_rows=stored, error_rows=failed.height + len(refused), refused=tuple(refused))

    def flush(self, held: HeldRows) -> tuple[str, ...]:
        """Write every row ``held`` still holds (at the end of its input); returns the files written."""
        return self._put_all(self._plan_held(held.rest()), held.ledger, at_once=True)

    def frame(
        self, ok: pl.DataFrame, batch_id: str, ingested_at: datetime, rows_with_extras: Collection[int] | None = None
    ) -> pl.DataFrame:
        """The lake rows of an outcome frame's Ok rows, partition columns included (last); see :class:`LakeRows`."""
        return self.rows.frame(ok, batch_id, ingested_at, rows_with_extras)

    def _plan_ok(self, frame: pl.DataFrame, batch_id: str) -> list[_Planned]:
        """The Parquet files of the lake rows: (destination, rows), partition by partition."""
        files: list[_Planned] = []
        for values, part in self._partitions(frame):
            for n, start in enumerate(range(0, part.height, self.rows_per_file)):
                files.append(self._parquet(values, part.slice(start, self.rows_per_file), batch_id, n))
        return files

    def _plan_held(self, due: Iterable[tuple[_Partition, pl.DataFrame, str, int]]) -> list[_Planned]:
        return [self._parquet(values, rows, first, n) for values, rows, first, n in due]

    def _partitions(self, frame: pl.DataFrame) -> list[tuple[_Partition, pl.DataFrame]]:
        """The lake rows partition by partition, in key order, without the partition columns."""
        keys = self.columns.partition_keys
        if frame.select(pl.any_horizontal(pl.col(key).is_null() for key in keys)).to_series().any():
            raise ValueError("an Ok record has no partition keys")
        groups = frame.partition_by(list(keys), maintain_order=True, include_key=False, as_dict=True)
        parts = [(tuple(str(v) for v in values), part) for values, part in groups.items()]
        return sorted(parts, key=lambda item: item[0])

    def _parquet(self, values: _Partition, rows: pl.DataFrame, name: str, n: int) -> _Planned:
        keys = self.columns.partition_keys
        folder = join(self.root, "raw", self.table, *(f"{k}={v}" for k, v in zip(keys, values, strict=True)))
        return join(folder, f"part-{name}-{n}.parquet"), rows

    def _put_all(self, planned: list[_Planned], ledger: InputLedger | None, *, at_once: bool) -> tuple[str, ...]:
        """Write the planned files in order, stopping at the first failure; ``at_once``: several at a time, the first
        failure raised once the others are done."""
        if ledger is not None and planned:
            ledger.record(posixpath.dirname(dest) for dest, _ in planned)
        if not at_once or len(planned) < 2:
            return tuple(self._put(dest, content) for dest, content in planned)
        with ThreadPoolExecutor(min(_PUT_THREADS, len(planned)), thread_name_prefix="lake-put") as pool:
            futures = [pool.submit(self._put, dest, content) for dest, content in planned]
        return tuple(future.result() for future in futures)

    def _plan_errors(
        self,
        failed: pl.DataFrame,
        refused: list[tuple[int, str]],
        batch: RecordBatch | PayloadBatch,
        names: tuple[str, str],
        now: datetime,
        input_id: str | None,
        failures: Mapping[int, tuple[str, ...]],
    ) -> tuple[str, bytes]:
        """The error file of the rejected rows, those the lake refused among them, in input order: (destination, bytes).

        ``names``: the batch id naming the file, and the one each line gives as ``batchId``. ``reasons`` is every
        rule a row breaks (``failures``, by row), its ``reason`` first.
        """
        batch_id, line_batch_id = names
        stamp = now.isoformat().replace("+00:00", "Z")
        lines = []
        rows = [*failed.select(ROW, "record_id", "data", "reason").iter_rows()]
        rows += [(row, batch.record_ids[row], batch.data[row], reason) for row, reason in refused]  # the data as sent
        for row, record_id, data, reason in sorted(rows, key=lambda r: int(r[0])):
            error: dict[str, Any] = {
                "recordId": record_id,
                "approximateArrivalTimestamp": batch.arrival_ms[row],
                "rawData": data,
                "reason": reason,
                "reasons": list(failures.get(row, ())) or ([reason] if reason is not None else []),
                "specName": self.spec.name,
                "specVersion": self.spec.version,
                "batchId": line_batch_id,
                "errorTimestamp": stamp,
            }
            if input_id is not None:
                error["input"] = input_id
            lines.append(orjson.dumps(error, option=orjson.OPT_APPEND_NEWLINE))
        folder = join(self.root, "errors", self.table, f"year={now:%Y}", f"month={now:%m}", f"day={now:%d}")
        return join(folder, f"part-{batch_id}.ndjson"), b"".join(lines)

    def _put(self, dest: str, content: pl.DataFrame | bytes) -> str:
        if isinstance(content, pl.DataFrame):
            buffer = io.BytesIO()
            # ZSTD level 1: a quarter to a third less CPU than the default level 3, files 2-6% larger (compaction rewrites them)
            content.write_parquet(buffer, compression="zstd", compression_level=1)
            content = buffer.getvalue()
        write_atomic(dest, content, endpoint_url=self.endpoint_url, staging_dir=self._staging)
        return dest
