"""LakeWriter.write with HeldRows: a batch job's Ok rows held across batches, written as right-sized files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl

from tests.helpers.lake import TABLE, Processed, read_raw
from transform_core.engine import BatchResult, Pipeline
from transform_core.firehose.batch import RecordBatch
from transform_core.lake import LakeWriter, list_files
from transform_core.lake.writer import HeldRows


def _thirds(pipeline: Pipeline, processed: Processed) -> list[tuple[RecordBatch, BatchResult]]:
    """The processed batch cut in three batches, each processed on its own."""
    batch, parts = processed.batch, []
    for start in range(0, len(batch), 100):
        part = RecordBatch(
            record_ids=batch.record_ids[start : start + 100],
            data=batch.data[start : start + 100],
            arrival_ms=batch.arrival_ms[start : start + 100],
        )
        parts.append((part, pipeline.process(part)))
    return parts


def _raw_files(root: Path) -> list[Path]:
    return sorted((root / "raw" / TABLE).rglob("*.parquet"))


def _rows(root: Path) -> pl.DataFrame:
    return read_raw(root).drop("_ingested_at").sort("_source_record_id")


def test_held_rows_make_one_file_per_partition_with_the_rows_of_a_write_per_batch(
    pipeline: Pipeline, processed: Processed, tmp_path: Path
) -> None:
    thirds = _thirds(pipeline, processed)
    plain = LakeWriter(pipeline.spec, str(tmp_path / "plain"))
    for k, (batch, result) in enumerate(thirds):
        plain.write(result, batch, batch_id=f"in-{k}")
    writer, held = LakeWriter(pipeline.spec, str(tmp_path / "held")), HeldRows()
    for k, (batch, result) in enumerate(thirds):
        summary = writer.write(result, batch, batch_id=f"in-{k}", held=held)
        assert not [f for f in summary.files if f.endswith(".parquet")]  # held: only the errors file goes out
        assert summary.ok_rows == result.ok
    assert held.rows == sum(result.ok for _, result in thirds) and not _raw_files(tmp_path / "held")
    flushed = writer.flush(held)
    assert held.rows == 0
    partitions = {f.parent for f in _raw_files(tmp_path / "plain")}
    assert len(_raw_files(tmp_path / "plain")) > len(partitions)  # one file per batch and partition
    assert sorted(Path(f) for f in flushed) == _raw_files(tmp_path / "held")
    assert {f.parent.relative_to(tmp_path / "held") for f in _raw_files(tmp_path / "held")} == {
        p.relative_to(tmp_path / "plain") for p in partitions
    }
    assert {f.name for f in _raw_files(tmp_path / "held")} <= {f"part-in-{k}-0.parquet" for k in range(3)}
    assert _rows(tmp_path / "held").equals(_rows(tmp_path / "plain"))  # the same rows, value for value


def test_held_rows_go_out_in_files_of_rows_per_file_and_a_rerun_replaces_them(
    pipeline: Pipeline, processed: Processed, tmp_path: Path
) -> None:
    thirds = _thirds(pipeline, processed)
    writer = LakeWriter(pipeline.spec, str(tmp_path), rows_per_file=7)
    names = []
    for _ in range(2):
        held = HeldRows()
        files = [f for k, (b, r) in enumerate(thirds) for f in writer.write(r, b, batch_id=f"in-{k}", held=held).files]
        files += writer.flush(held)
        names.append(sorted(f for f in files if f.endswith(".parquet")))
    assert names[0] == names[1] == sorted(str(f) for f in _raw_files(tmp_path))  # the same names: replaced
    sizes = Counter[Path]()
    for file in _raw_files(tmp_path):
        height = pl.read_parquet(file).height
        assert 1 <= height <= 7
        sizes[file.parent] += height < 7
    assert max(sizes.values()) == 1  # a partition's files are full but its last
    assert read_raw(tmp_path).height == sum(result.ok for _, result in thirds)
    assert read_raw(tmp_path)["_source_record_id"].n_unique() == read_raw(tmp_path).height


def test_max_bytes_zero_writes_every_batch_s_rows_at_once(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    writer, held = LakeWriter(pipeline.spec, str(tmp_path)), HeldRows(max_bytes=0)
    for k, (batch, result) in enumerate(_thirds(pipeline, processed)):
        summary = writer.write(result, batch, batch_id=f"in-{k}", held=held)
        assert held.rows == 0
        assert sum(pl.read_parquet(f).height for f in summary.files if f.endswith(".parquet")) == result.ok
    assert writer.flush(held) == ()
    assert len(list_files(str(tmp_path / "raw"))) == len(_raw_files(tmp_path))
