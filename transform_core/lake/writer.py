"""The lake sink: a processed batch written as Hive-partitioned Parquet (Ok records) and NDJSON (rejections).

Layout under the lake root (``docs/lake.md``)::

    raw/<table>/year=YYYY/month=MM/day=DD[/hour=HH]/part-<batch_id>-<n>.parquet
    errors/<table>/year=YYYY/month=MM/day=DD/part-<batch_id>.ndjson

File names derive only from the batch id (and the file's number within its partition), so writing the same
batch again overwrites the same files: retries never duplicate rows.
"""

from __future__ import annotations

import io
import posixpath
import re
from collections.abc import Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
import polars as pl

from transform_core.firehose.batch import RecordBatch
from transform_core.firehose.outcomes import FAILED, OK
from transform_core.lake.columns import LakeColumns, lake_columns, table_dtypes
from transform_core.lake.ledger import InputLedger
from transform_core.lake.rows import ROW, LakeRows
from transform_core.lake.storage import is_s3, join, write_atomic
from transform_core.spec import PipelineSpec

if TYPE_CHECKING:
    from transform_core.engine import BatchResult

__all__ = ["LakeWriter", "WriteSummary"]

_BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=-]{0,199}")


class WriteSummary(NamedTuple):
    """What :meth:`LakeWriter.write` wrote: the files (paths or URIs) and the rows in them.

    ``refused`` holds ``(row, reason)`` for the Ok records the lake cannot store exactly (rule ``lake_exact``):
    they are written to ``errors/`` and counted in ``error_rows``.
    """

    files: tuple[str, ...]
    ok_rows: int
    error_rows: int
    refused: tuple[tuple[int, str], ...] = ()


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
        batch: RecordBatch,
        *,
        batch_id: str,
        input_id: str | None = None,
        ledger: InputLedger | None = None,
    ) -> WriteSummary:
        """Write the batch's Ok records to ``raw/`` and its ProcessingFailed records to ``errors/``.

        Dropped records are not written. Writing the same batch with the same ``batch_id`` again replaces the
        same files.

        Args:
            result: what the pipeline made of ``batch``.
            batch: the batch as processed (its arrival times go into the error records).
            batch_id: the batch's identity, e.g. the Firehose invocationId; becomes part of every file name.
            input_id: the input that owns the records (a batch job's input id), kept in each error record so
                that replaying it writes files the input owns.
            ledger: the input's ledger; the folders written to are recorded in it before any file is written.

        Raises:
            ValueError: ``batch_id`` is not a plain name, or ``result`` does not belong to ``batch``.
            OSError: a file could not be written; files written before it stay (a retry replaces them).
        """
        if not _BATCH_ID.fullmatch(batch_id):
            raise ValueError(f"batch_id must be a plain name (letters, digits, '.', '_', '=', '-'), got {batch_id!r}")
        outcomes = result.outcomes
        if outcomes.height != len(batch):
            raise ValueError(f"the result has {outcomes.height} rows but the batch {len(batch)} records")
        now = datetime.now(UTC)
        outcomes = outcomes.with_row_index(ROW)
        ok = outcomes.filter(pl.col("result") == OK)
        failed = outcomes.filter(pl.col("result") == FAILED)
        planned: list[tuple[str, bytes]] = []
        stored, refused = 0, []
        if ok.height:
            split = self.rows.split(ok, batch_id, now, result.rows_with_extras, payloads=batch.data_column())
            planned, stored, refused = self._plan_ok(split.frame, batch_id), split.frame.height, split.refused
        if failed.height or refused:
            planned.append(self._plan_errors(failed, refused, batch, batch_id, now, input_id))
        if ledger is not None:
            ledger.record(posixpath.dirname(dest) for dest, _ in planned)
        files = [self._put(dest, data) for dest, data in planned]
        return WriteSummary(tuple(files), ok_rows=stored, error_rows=failed.height + len(refused), refused=tuple(refused))

    def frame(
        self, ok: pl.DataFrame, batch_id: str, ingested_at: datetime, rows_with_extras: Collection[int] | None = None
    ) -> pl.DataFrame:
        """The lake rows of an outcome frame's Ok rows, partition columns included (last); see :class:`LakeRows`."""
        return self.rows.frame(ok, batch_id, ingested_at, rows_with_extras)

    def _plan_ok(self, frame: pl.DataFrame, batch_id: str) -> list[tuple[str, bytes]]:
        """The Parquet files of the lake rows: (destination, bytes), partition by partition."""
        keys = self.columns.partition_keys
        if frame.select(pl.any_horizontal(pl.col(key).is_null() for key in keys)).to_series().any():
            raise ValueError("an Ok record has no partition keys")
        files: list[tuple[str, bytes]] = []
        groups = frame.partition_by(list(keys), maintain_order=True, include_key=False, as_dict=True)
        for values, part in sorted(groups.items(), key=lambda item: tuple(str(v) for v in item[0])):
            folder = join(self.root, "raw", self.table, *(f"{k}={v}" for k, v in zip(keys, values, strict=True)))
            for n, start in enumerate(range(0, part.height, self.rows_per_file)):
                buffer = io.BytesIO()
                part.slice(start, self.rows_per_file).write_parquet(buffer, compression="zstd")
                files.append((join(folder, f"part-{batch_id}-{n}.parquet"), buffer.getvalue()))
        return files

    def _plan_errors(
        self,
        failed: pl.DataFrame,
        refused: list[tuple[int, str]],
        batch: RecordBatch,
        batch_id: str,
        now: datetime,
        input_id: str | None,
    ) -> tuple[str, bytes]:
        """The error file of the rejected rows, those the lake refused among them, in input order: (destination, bytes)."""
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
                "reasons": [reason] if reason is not None else [],
                "specName": self.spec.name,
                "specVersion": self.spec.version,
                "batchId": batch_id,
                "errorTimestamp": stamp,
            }
            if input_id is not None:
                error["input"] = input_id
            lines.append(orjson.dumps(error, option=orjson.OPT_APPEND_NEWLINE))
        folder = join(self.root, "errors", self.table, f"year={now:%Y}", f"month={now:%m}", f"day={now:%d}")
        return join(folder, f"part-{batch_id}.ndjson"), b"".join(lines)

    def _put(self, dest: str, data: bytes) -> str:
        write_atomic(dest, data, endpoint_url=self.endpoint_url, staging_dir=self._staging)
        return dest
