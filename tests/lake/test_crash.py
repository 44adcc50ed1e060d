"""Crash safety: a writer that dies midway leaves no partial file visible, and a retry completes the batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from tests.helpers.lake import EXAMPLE, TABLE, Processed, assert_rows_match, read_raw
from transform_core.engine import Pipeline
from transform_core.lake import LakeWriter, list_files, storage


def _partition_folders(root: Path) -> list[Path]:
    return sorted({p.parent for p in (root / "raw" / TABLE).rglob("*") if p.is_file()})


def _assert_no_partial_file_visible(root: Path) -> None:
    for folder in _partition_folders(root):
        pl.scan_parquet(folder).collect()  # a partial or foreign file in the folder would fail the scan


def test_failed_rename_leaves_nothing_visible_and_a_retry_succeeds(
    pipeline: Pipeline, processed: Processed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = LakeWriter(pipeline.spec, str(tmp_path))
    real_replace = os.replace
    calls = []

    def failing_replace(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk went away")
        real_replace(src, dst)

    monkeypatch.setattr(storage.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk went away"):
        writer.write(processed.result, processed.batch, batch_id="crash")
    assert len(list_files(str(tmp_path))) == 1  # the first file only
    _assert_no_partial_file_visible(tmp_path)
    assert not list((tmp_path / "_staging").iterdir())  # the temporary file was removed

    monkeypatch.setattr(storage.os, "replace", real_replace)
    writer.write(processed.result, processed.batch, batch_id="crash")
    assert_rows_match(read_raw(tmp_path), processed.result, set(writer.columns.known))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_writer_leaves_no_partial_file(pipeline: Pipeline, processed: Processed, tmp_path: Path) -> None:
    # A real crash: the child process kills itself between writing a temporary file and renaming it.
    script = textwrap.dedent(
        f"""
        import os, signal
        import transform_core
        from transform_core.firehose.batch import RecordBatch
        from transform_core.demo.generate import firehose_event, iot_payloads
        from transform_core.lake import LakeWriter, storage

        pipeline = transform_core.load_pipeline({str(EXAMPLE)!r})
        batch = RecordBatch.from_firehose_event(firehose_event(iot_payloads(300, 0.1, seed=7)))
        real_replace, calls = os.replace, []

        def replace(src, dst):
            calls.append(dst)
            if len(calls) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            real_replace(src, dst)

        storage.os.replace = replace
        LakeWriter(pipeline.spec, {str(tmp_path)!r}).write(pipeline.process(batch), batch, batch_id="killed")
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert len(list_files(str(tmp_path))) == 2
    _assert_no_partial_file_visible(tmp_path)
    assert len(list((tmp_path / "_staging").iterdir())) == 1  # the orphan stays outside the table

    writer = LakeWriter(pipeline.spec, str(tmp_path))
    writer.write(processed.result, processed.batch, batch_id="killed")
    assert_rows_match(read_raw(tmp_path), processed.result, set(writer.columns.known))


def test_failed_s3_put_leaves_no_object(
    pipeline: Pipeline, processed: Processed, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = f"s3://{s3_bucket}/lake"
    writer = LakeWriter(pipeline.spec, root)
    real_put = storage._s3_put
    calls = []

    def failing_put(dest: str, data: bytes, endpoint_url: str | None) -> None:
        calls.append(dest)
        if len(calls) == 2:
            raise OSError("connection reset")
        real_put(dest, data, endpoint_url)

    monkeypatch.setattr(storage, "_s3_put", failing_put)
    with pytest.raises(OSError, match="connection reset"):
        writer.write(processed.result, processed.batch, batch_id="s3crash")
    assert list_files(root) == [calls[0]]
    monkeypatch.setattr(storage, "_s3_put", real_put)
    summary = writer.write(processed.result, processed.batch, batch_id="s3crash")
    assert list_files(root) == sorted(summary.files)
