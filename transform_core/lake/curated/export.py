"""Training sets from the curated table: train and validation files split by event time, for Amazon SageMaker.

The split is by time, never at random: ``train`` holds the rows whose event time is before the split time,
``validation`` those from it on, so a model is validated on data later than any it learned from. CSV follows
SageMaker's built-in algorithms ("Common data formats for training"): no header, the target in the first column,
numbers only (booleans as 1 and 0, a null feature as an empty field, which XGBoost reads as missing). Parquet keeps
names and types, the target first too. Rows without a target or without an event time are left out and counted.
The table is read in passes of a few columns and written with Polars' streaming sinks, not held in memory whole.
See ``docs/lake.md``, "Training sets for SageMaker".
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, NamedTuple

import polars as pl

from transform_core.lake.curated.catalogs import CatalogSettings
from transform_core.lake.curated.read import iso_instant, scan_curated
from transform_core.lake.curated.schema import curated_layout
from transform_core.lake.storage import is_s3
from transform_core.spec import PipelineSpec

__all__ = ["CHANNELS", "TrainingSet", "TrainingSetSummary", "parse_instant", "write_training_set"]

ExportFormat = Literal["csv", "parquet"]
#: The two SageMaker channels, one folder each under the output.
CHANNELS = ("train", "validation")


@dataclass(frozen=True, kw_only=True)
class TrainingSet:
    """What a training set holds and where it splits.

    Attributes:
        target: the column to predict; the first column of every file.
        features: the feature columns, in order; None: every numeric and boolean column of the table but the target.
        format: ``csv`` (no header, target first, numbers only) or ``parquet`` (names and types kept, target first).
        validation_from: the split time (timezone-aware): train holds the rows before it, validation the rest.
        validation_fraction: without ``validation_from``: at least this share of the rows, the latest, go to
            validation (0 < f < 1); the split time is the event time where that share begins.
    """

    target: str
    features: tuple[str, ...] | None = None
    format: ExportFormat = "csv"
    validation_from: datetime | None = None
    validation_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not self.target:
            raise ValueError("--target: name the column to predict")
        if self.format not in ("csv", "parquet"):
            raise ValueError(f"--format must be csv or parquet, got {self.format!r}")
        if self.features is not None:
            if not self.features or not all(self.features):
                raise ValueError("--features: name one column or more, comma-separated")
            twice = sorted({name for name in self.features if self.features.count(name) > 1})
            if twice:
                raise ValueError(f"--features: {', '.join(twice)} named twice")
            if self.target in self.features:
                raise ValueError(f"--features: {self.target!r} is the target")
        if self.validation_from is not None and self.validation_from.tzinfo is None:
            raise ValueError("validation_from must be timezone-aware")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"--validation-fraction must be between 0 and 1 (both excluded), got {self.validation_fraction}")


class TrainingSetSummary(NamedTuple):
    """What :func:`write_training_set` wrote: the columns (target first), the split, the row counts and the files.

    ``train_rows + validation_rows + left_out`` is the table's row count.
    """

    columns: tuple[str, ...]
    split_at: datetime
    train_rows: int
    validation_rows: int
    no_target: int  # rows left out: the target is null
    no_event_time: int  # rows left out: a target but no event time
    files: tuple[str, ...]

    @property
    def left_out(self) -> int:
        """Rows in neither file."""
        return self.no_target + self.no_event_time


def write_training_set(
    spec: PipelineSpec,
    root: str | None,
    training: TrainingSet,
    output: str | Path,
    *,
    as_of: str | None = None,
    catalog: CatalogSettings | None = None,
) -> TrainingSetSummary:
    """Write ``<output>/train/train.<csv|parquet>`` and ``<output>/validation/validation.<csv|parquet>``.

    Each file is written under a temporary name in its folder and renamed into place, so a rerun replaces it whole.

    Args:
        spec: the pipeline spec; root: the lake root (default: the spec's ``output.lake``).
        training: the target, the features, the format and the split.
        output: a local folder; the channels are its ``train/`` and ``validation/`` folders.
        as_of: read the table as of a snapshot id or an ISO 8601 time (UTC unless it has an offset).
        catalog: the curated table's catalog (default: the lake's SQL catalog, settings from the environment).

    Raises:
        ValueError: no curated table yet, an unknown column, a column CSV cannot hold, a split that leaves a channel
            empty, an ``as_of`` naming no snapshot, or a channel folder holding other files.
        ConfigurationEnvironmentError: the ``lake`` extra is missing.
    """
    if is_s3(str(output)):
        raise ValueError("--output: a local folder (copy it to S3 afterwards, e.g. aws s3 sync)")
    frame = scan_curated(spec, root, as_of=as_of, catalog=catalog)
    if frame is None:
        raise ValueError(f"the curated table of {spec.name!r} has no snapshot yet: run transform-core compact first")
    schema = frame.collect_schema()
    columns = _columns(schema, training)
    time = curated_layout(spec).event_time
    target, at = pl.col(training.target), pl.col(time)
    kept = target.is_not_null() & at.is_not_null()
    stats = (
        frame.select(
            target.is_null().sum().alias("no_target"),
            (target.is_not_null() & at.is_null()).sum().alias("no_event_time"),
            at.filter(kept).min().alias("first"),
            at.filter(kept).max().alias("last"),
            at.filter(kept).quantile(1.0 - training.validation_fraction, "lower").alias("split"),
        )
        .collect()
        .row(0, named=True)
    )
    if stats["first"] is None:
        raise ValueError(f"no row of the curated table has both a {training.target!r} and an event time")
    split: datetime = training.validation_from or stats["split"]
    counts = (
        frame.select((kept & (at < split)).sum().alias("train"), (kept & (at >= split)).sum().alias("validation"))
        .collect()
        .row(0)
    )
    for channel, rows in zip(CHANNELS, counts, strict=True):
        if rows == 0:
            raise ValueError(
                f"splitting at {_iso(split)} leaves {channel} empty (the rows' event times run from "
                f"{_iso(stats['first'])} to {_iso(stats['last'])})"
            )
    selection = [_column(name, schema[name], training.format) for name in columns]
    conditions = (at < split, at >= split)
    files = [
        _write(frame.filter(kept & when).select(selection), Path(output), channel, training.format)
        for channel, when in zip(CHANNELS, conditions, strict=True)
    ]
    return TrainingSetSummary(
        columns=tuple(columns),
        split_at=split,
        train_rows=counts[0],
        validation_rows=counts[1],
        no_target=stats["no_target"],
        no_event_time=stats["no_event_time"],
        files=tuple(files),
    )


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date or time as a timezone-aware instant (UTC unless it has an offset).

    Raises:
        ValueError: not an ISO 8601 date or time.
    """
    try:
        return iso_instant(text.strip())
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {text!r} (e.g. 2026-11-27T00:00:00Z)") from None


def _columns(schema: pl.Schema, training: TrainingSet) -> list[str]:
    """The target and the features, checked against the table and, for CSV, the types it holds."""
    names = ", ".join(schema)
    csv = training.format == "csv"
    if training.target not in schema:
        raise ValueError(f"--target: the curated table has no column {training.target!r} (its columns: {names})")
    if csv and not _numeric(schema[training.target]):
        raise ValueError(f"--target: {training.target!r} is {_kind(schema[training.target])}: {_CSV_NUMBERS}")
    if training.features is None:
        features = [name for name, dtype in schema.items() if name != training.target and _numeric(dtype)]
        if not features:
            raise ValueError("the curated table has no numeric or boolean column but the target: name --features")
        return [training.target, *features]
    for name in training.features:
        if name not in schema:
            raise ValueError(f"--features: the curated table has no column {name!r} (its columns: {names})")
        if csv and not _numeric(schema[name]):
            raise ValueError(f"--features: {name!r} is {_kind(schema[name])}: {_CSV_NUMBERS}")
    return [training.target, *training.features]


_CSV_NUMBERS = (
    "CSV holds numbers and booleans only (SageMaker's built-in algorithms read numbers): leave it out, or use --format parquet"
)


def _numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype == pl.Boolean


def _kind(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return "a timestamp"
    for kind in (pl.String, pl.Date, pl.Struct, pl.List):
        if dtype == kind or isinstance(dtype, kind):
            return f"a {kind.__name__.lower()}"
    return f"of type {dtype}"


def _column(name: str, dtype: pl.DataType, fmt: ExportFormat) -> pl.Expr:
    # SageMaker's CSV readers parse numbers: true/false would not be one
    return pl.col(name).cast(pl.Int8) if fmt == "csv" and dtype == pl.Boolean else pl.col(name)


def _write(rows: pl.LazyFrame, output: Path, channel: str, fmt: ExportFormat) -> str:
    """Stream ``rows`` to ``<output>/<channel>/<channel>.<fmt>`` through a temporary name in that folder."""
    folder = output / channel
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{channel}.{fmt}"
    # SageMaker reads every file of a channel's prefix: another export's files would join this one's
    others = sorted(p.name for p in folder.iterdir() if p.name != dest.name and not p.name.startswith((".", "_")))
    if others:
        raise ValueError(f"--output: {folder} holds other files ({', '.join(others)}); a channel reads them all: empty it")
    temporary = folder / f".{dest.name}.{os.getpid()}.tmp"
    try:
        if fmt == "csv":
            rows.sink_csv(temporary, include_header=False, check_extension=False)
        else:
            rows.sink_parquet(temporary, compression="zstd")
        os.replace(temporary, dest)
    except OSError as err:
        if err.filename is not None:
            raise
        raise OSError(err.errno, err.strerror or str(err), str(dest)) from err  # Polars' errors name no file: say which
    except pl.exceptions.ComputeError as err:  # its Parquet writer wraps the system's error
        if (io := re.search(r"\(os error (\d+)\)", str(err))) is None:
            raise
        raise OSError(int(io[1]), os.strerror(int(io[1])), str(dest)) from err
    finally:
        temporary.unlink(missing_ok=True)
    return str(dest)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
