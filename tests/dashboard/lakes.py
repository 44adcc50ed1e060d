"""Lakes for the dashboard tests: generated records through the engine, written by the lake writer."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from transform_core.demo.generate import Payload, firehose_batches
from transform_core.demo.schema_records import spec_payloads
from transform_core.engine import Pipeline
from transform_core.firehose.batch import RecordBatch
from transform_core.lake import LakeWriter

END = datetime(2026, 11, 20, 12, tzinfo=UTC)
# a property name the schema's tags object refuses: its reason carries markup that must stay text on the page
HOSTILE = "</script><img src=x onerror=\"console.error('injected')\">"


@dataclass(frozen=True)
class Written:
    """What went into a lake: the engine's outcomes of every record, in order."""

    root: Path
    outcomes: pl.DataFrame

    def ok(self) -> pl.DataFrame:
        return self.outcomes.filter(pl.col("result") == "Ok")

    def failed(self) -> pl.DataFrame:
        return self.outcomes.filter(pl.col("result") == "ProcessingFailed")


def write_lake(pipeline: Pipeline, root: Path, n: int = 1500, invalid: float = 0.1, *, hostile: bool = False) -> Written:
    """``n`` records drawn from the pipeline's schema, in Firehose events of 400, written to a lake at ``root``."""
    payloads = spec_payloads(pipeline.spec, n, invalid, seed=8, end=END)
    if hostile:
        record = json.loads(next(p.data for p in payloads if p.kind == "valid"))
        record["tags"] = {HOSTILE: 1}
        payloads += [Payload(json.dumps(record).encode(), kind="hostile")] * 60  # the top rejection rule
    writer = LakeWriter(pipeline.spec, str(root))
    frames = []
    for event in firehose_batches(payloads, max_records=400):
        batch = RecordBatch.from_firehose_event(event)
        result = pipeline.process(batch)
        writer.write(result, batch, batch_id=event["invocationId"])
        frames.append(result.outcomes)
    return Written(root, pl.concat(frames, how="vertical_relaxed"))


def ok_values(written: Written, name: str) -> list[object]:
    """One property of every Ok record, as the engine returned it."""
    return [json.loads(base64.b64decode(data)).get(name) for data in written.ok()["data"]]
