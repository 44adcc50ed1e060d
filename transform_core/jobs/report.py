"""A reprocessing run's report: one row per rejected record, saying where it was and why it failed.

Each row names the record's ``source`` (the input file), its ``line`` in that file (``<line>.<k>`` for the k-th value
of a Firehose backup line; empty for a replayed ``errors`` line whose record belongs to another input), its
``record_id``, its deciding ``rule`` (``$.value|maximum``), ``path`` and ``message``, and ``rules``: every rule the
record fails, in the reference implementation's order (the deciding one first). Dropped records are not listed.

Workers run in processes: each writes the rows of one input file to a part file of its own, named after the file, and
renames it into place once the file's counts are final (a worker that dies leaves no part, as its counts are lost
too). The run's process then joins the parts in input order into the report, so every rejected record the summary
counts has exactly one row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

import orjson

from transform_core.errors import TransformCoreError
from transform_core.schema import rule_id, split_reason

__all__ = [
    "COLUMNS",
    "REPORT_FORMATS",
    "ReportError",
    "ReportFormat",
    "ReportPart",
    "ReportTarget",
    "check_destination",
    "join_parts",
    "new_parts_folder",
    "part_path",
    "report_format",
]

ReportFormat = Literal["ndjson", "csv"]
REPORT_FORMATS: tuple[str, ...] = get_args(ReportFormat)
COLUMNS = ("source", "line", "record_id", "rule", "path", "message", "rules")
_EXTENSIONS: dict[str, ReportFormat] = {".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "ndjson", ".csv": "csv"}


class ReportError(TransformCoreError):
    """The report cannot be written where it was asked for (an unknown extension, a folder in the way)."""


@dataclass(frozen=True, slots=True)
class ReportTarget:
    """Where the report goes and how: ``dest`` a local path or ``s3://`` URI; ``parts`` the folder of the workers'
    part files (set by the run)."""

    dest: str
    format: ReportFormat
    parts: str = ""


def report_format(dest: str, forced: str | None = None) -> ReportFormat:
    """The report's format: ``forced``, else from ``dest``'s extension (``.ndjson``, ``.jsonl``, ``.json``, ``.csv``,
    each optionally before nothing else).

    Raises:
        ReportError: no format given and the extension names none.
    """
    if forced is not None:
        if forced not in REPORT_FORMATS:
            raise ReportError(f"unknown report format {forced!r}: use {' or '.join(REPORT_FORMATS)}")
        return cast("ReportFormat", forced)
    suffix = os.path.splitext(dest)[1].lower()
    if suffix not in _EXTENSIONS:
        raise ReportError(
            f"{dest}: cannot tell the report's format from its name: end it in .ndjson, .jsonl or .csv, or pass --report-format"
        )
    return _EXTENSIONS[suffix]


def check_destination(dest: str) -> None:
    """Fail before the run, not after it, when a local report cannot be written.

    Raises:
        ReportError: ``dest`` is a folder, or its folder is a file.
    """
    from transform_core.lake.storage import check_folder

    if "://" in dest:
        return
    path = Path(dest)
    if path.is_dir():
        raise ReportError(f"{dest}: is a folder: give the report a file name, e.g. {os.path.join(dest, 'rejected.csv')}")
    try:
        check_folder(str(path.parent))
    except NotADirectoryError as err:
        raise ReportError(f"{dest}: {err.filename} is not a folder: choose another path for the report") from err


class ReportPart:
    """The rows of one input file, written by the worker that reads it."""

    def __init__(self, target: ReportTarget, source: str, spec: str) -> None:
        self.target, self.source, self.spec = target, source, spec
        self.path = part_path(target, source)
        self._temp = self.path.with_suffix(".tmp")
        self._file = open(self._temp, "wb")  # noqa: SIM115 (closed by finish)
        self.rows = 0

    def add(self, chunk: Any, result: Any, refused: list[tuple[int, str]]) -> None:
        """The chunk's rejected records: those the pipeline failed, and the Ok ones the lake refused."""
        import polars as pl

        failed = result.outcomes.select(pl.col("reason")).with_row_index("row").filter(pl.col("reason").is_not_null())
        rejected = list(zip(failed["row"].to_list(), failed["reason"].to_list(), strict=True)) + refused
        if not rejected:
            return
        batch, prefix, reference = chunk.batch, chunk.input_id + "-", _reference(self.spec)
        lines = []
        for row, reason in sorted(rejected):
            record_id = batch.record_ids[row]
            rules = _all_rules(reference, batch.data[row], batch.arrival_ms[row], reason)
            path, message, _ = split_reason(reason)
            line = record_id[len(prefix) :] if record_id.startswith(prefix) else ""
            lines.append((self.source, line, record_id, rule_id(reason), path, message, rules))
        self._file.write(b"".join(orjson.dumps(line) + b"\n" for line in lines))  # the format is the join's
        self.rows += len(lines)

    def finish(self) -> None:
        """Put the part in place: its rows are counted in the summary the worker returns."""
        self._file.close()
        os.replace(self._temp, self.path)


def part_path(target: ReportTarget, source: str) -> Path:
    """The part file of one input (named by its path: a run reads each path once)."""
    return Path(target.parts) / (hashlib.sha256(source.encode()).hexdigest()[:24] + ".part")


def new_parts_folder() -> str:
    """A private folder for a run's part files."""
    return tempfile.mkdtemp(prefix="transform-core-report-")


def join_parts(target: ReportTarget, sources: list[str], *, endpoint_url: str | None = None) -> int:
    """Join the parts of ``sources``, in that order, into the report (replacing it whole); remove the parts folder.

    Returns:
        the rows written.

    Raises:
        OSError: the report cannot be written.
    """
    rows = 0
    try:
        staged = Path(target.parts) / "report"
        with open(staged, "wb") as out:
            if target.format == "csv":
                out.write(_csv_lines([COLUMNS]))
            for source in sources:
                part = part_path(target, source)
                if not part.exists():
                    continue
                with open(part, "rb") as file:
                    while lines := file.readlines(1 << 20):  # a megabyte of rows at a time
                        rows += len(lines)
                        out.write(_encode([orjson.loads(line) for line in lines], target.format))
        _put(staged, target.dest, endpoint_url)
    finally:
        shutil.rmtree(target.parts, ignore_errors=True)
    return rows


def _put(staged: Path, dest: str, endpoint_url: str | None) -> None:
    from transform_core.lake.storage import is_s3, write_atomic

    if is_s3(dest):
        write_atomic(dest, staged.read_bytes(), endpoint_url=endpoint_url)  # held whole once: rejected records only
        return
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    shutil.move(staged, dest)  # a rename when the temp folder shares the disk, else a copy


_REFERENCES: dict[str, Any] = {}  # per worker process: the reference implementation of each spec, loaded once


def _reference(spec: str) -> Any:
    from transform_core.reference import ReferencePipeline
    from transform_core.spec import load_spec

    if spec not in _REFERENCES:
        _REFERENCES[spec] = ReferencePipeline(load_spec(spec))
    return _REFERENCES[spec]


def _all_rules(reference: Any, data: str, arrival_ms: int | None, reason: str) -> list[str]:
    """Every rule the record fails, the deciding ``reason``'s first."""
    from transform_core.explain import failing_reasons, with_deciding

    return [rule_id(r) for r in with_deciding(reason, failing_reasons(reference, data, arrival_ms))]


def _encode(rows: list[list[Any]], fmt: ReportFormat) -> bytes:
    """Rows as the report holds them: NDJSON objects, or CSV with ``rules`` joined by ``; ``."""
    if fmt == "ndjson":
        return b"".join(orjson.dumps(dict(zip(COLUMNS, row, strict=True))) + b"\n" for row in rows)
    return _csv_lines([(*row[:-1], "; ".join(row[-1])) for row in rows])


def _csv_lines(rows: list[tuple[Any, ...]]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue().encode()
