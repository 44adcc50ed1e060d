"""Curated-zone test helpers: raw files made by the lake's own writer from given record texts, and reading back."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from transform_core.engine import Pipeline
from transform_core.firehose.batch import RecordBatch
from transform_core.lake import LakeWriter, list_files
from transform_core.lake.curated import curated_table, scan_curated
from transform_core.spec import PipelineSpec, load_spec

TS = '"ts":"2026-11-24T10:00:00Z"'
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ts": {"type": "string", "format": "date-time"},
        "n": {"type": "number"},
        "i": {"type": "integer"},
        "note": {"type": "string"},
        "point": {"type": "object", "properties": {"x": {"type": "number"}}},
    },
    "required": ["ts"],
}


def make_spec(schema: dict[str, Any] = SCHEMA, **extra: Any) -> PipelineSpec:
    """An inline spec over ``schema`` partitioned by ``ts`` (overridable through ``extra``)."""
    return load_spec({"version": 1, "name": "t", "schema": schema, "event_time": {"field": "ts"}, **extra})


def write_texts(
    spec: PipelineSpec, root: str | Path, texts: Sequence[str], batch_id: str, arrival_ms: Sequence[int] | None = None
) -> None:
    """Write records (JSON texts, every one valid) to the raw zone as one batch, through the engine and LakeWriter."""
    data = [base64.b64encode(text.encode()).decode() for text in texts]
    ids = [f"{batch_id}-{i}" for i in range(len(texts))]
    batch = RecordBatch(record_ids=ids, data=data, arrival_ms=list(arrival_ms or [0] * len(texts)))
    result = Pipeline(spec).process(batch, respond=False)
    assert result.ok == len(texts), result.outcomes["reason"].to_list()
    LakeWriter(spec, str(root)).write(result, batch, batch_id=batch_id)


def read_curated(spec: PipelineSpec, root: str | Path, **options: Any) -> pl.DataFrame:
    """The curated table's rows (at its current snapshot unless ``as_of`` is given)."""
    frame = scan_curated(spec, str(root), **options)
    assert frame is not None, "the curated table has no snapshot"
    return frame.collect()


def read_raw_zone(spec: PipelineSpec, root: str | Path) -> pl.DataFrame:
    """Every raw file of the spec's table, without partition columns (they are in the paths)."""
    files = [f for f in list_files(f"{root}/raw/{spec.name.replace('-', '_')}") if f.endswith(".parquet")]
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")


def snapshot_ids(spec: PipelineSpec, root: str | Path) -> list[int]:
    table = curated_table(spec, str(root))
    return [] if table is None else [s.snapshot_id for s in table.snapshots()]


def data_files(spec: PipelineSpec, root: str | Path) -> set[str]:
    """The data files of the table's current snapshot."""
    table = curated_table(spec, str(root))
    assert table is not None
    return {task.file.file_path for task in table.scan().plan_files()}
