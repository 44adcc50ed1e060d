"""On executors, the pipeline and its reference tables are loaded once per Python worker process, never per batch."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.spark import ARROW_BATCH, ROOT
from transform_core import load_pipeline
from transform_core.demo.generate import iot_payloads

pytestmark = pytest.mark.spark


def test_each_worker_process_loads_the_table_once_for_all_its_batches(spark: Any, tmp_path: Path) -> None:
    import pyarrow as pa

    from transform_core.adapters.spark._bundle import bundle_pipeline
    from transform_core.adapters.spark._outcomes import INPUT, FramePlan

    # a table no worker has seen: whatever ran before in a reused worker, this bundle is new to it
    table = tmp_path / "devices.csv"
    shutil.copy(ROOT / "reference_data" / "devices.csv", table)
    with table.open("a") as out:
        out.write(f"dev-{uuid.uuid4().hex},plant-00,TH-0\n")
    enrich = [{"name": "devices", "source": str(table), "key": "device_id", "fields": ["site", "model"]}]
    spec = {"version": 1, "name": "once", "schema": "schemas/iot_event.schema.json", "event_time": {"field": "event_time"}}
    spec_file = ROOT / "examples" / "iot" / "pipeline.yaml"
    shutil.copytree(spec_file.parent / "schemas", tmp_path / "schemas")
    (tmp_path / "pipeline.json").write_text(json.dumps({**spec, "enrich": enrich}))
    bundle = bundle_pipeline(load_pipeline(str(tmp_path / "pipeline.json")))
    plan = FramePlan(base64=False, batch_id="once", ingested_at=datetime.now(UTC))

    def probe(batches: Any) -> Any:  # runs in the Python workers; imports inside, so it pickles by value
        import os

        from transform_core import tables
        from transform_core.adapters.spark import _bundle, _outcomes

        if not hasattr(tables, "probe_loads"):  # count every table load in this process from now on
            tables.probe_loads = [0]  # type: ignore[attr-defined]
            original = tables.load_table

            def counting(*args: Any, **kwargs: Any) -> Any:
                tables.probe_loads[0] += 1  # type: ignore[attr-defined]
                return original(*args, **kwargs)

            tables.load_table = counting  # type: ignore[assignment]
        for batch in batches:  # each batch through the function apply_pipeline hands to mapInArrow
            rows = sum(out.num_rows for out in _outcomes.outcome_batches(bundle, plan, [batch]))
            loads = (_bundle.LOADS[bundle.digest], tables.probe_loads[0])  # type: ignore[attr-defined]
            yield pa.RecordBatch.from_pydict(
                {"pid": [os.getpid()], "rows": [rows], "pipelines": [loads[0]], "tables": [loads[1]]}
            )

    payloads = [(str(i), p.data, None) for i, p in enumerate(iot_payloads(2000, 0.05, seed=5))]
    frame = spark.createDataFrame(payloads, f"{INPUT[0]} string, {INPUT[1]} binary, {INPUT[2]} long").repartition(6)
    seen = frame.mapInArrow(probe, "pid long, rows long, pipelines long, tables long").collect()

    assert sum(r["rows"] for r in seen) == 2000
    pids = {r["pid"] for r in seen}
    assert len(seen) >= 2000 // ARROW_BATCH > 2 * len(pids)  # many batches (and six tasks) per process
    for pid in pids:
        assert {(r["pipelines"], r["tables"]) for r in seen if r["pid"] == pid} == {(1, 1)}  # from the first batch on
