"""Enrichment misses: an Ok record whose key a table with ``on_missing: keep`` does not hold is counted per table
(``BatchResult.enrich_missed``), on the fast path, for the records the reference judges, and not once shed."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from tests.helpers.agreement import batch_of, pipelines
from tests.helpers.specs import IOT_SPEC
from transform_core import load_pipeline

KNOWN, UNKNOWN = "dev-0001", "dev-9999"  # reference_data/devices.csv holds dev-0000 … dev-9899


def record(device: str, **changes: Any) -> bytes:
    base = {
        "event_id": "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
        "device_id": device,
        "seq": 1,
        "event_time": "2026-11-27T10:00:00Z",
        "event_type": "telemetry",
        "value": 21.5,
    }
    return json.dumps(base | changes).encode()


def test_misses_are_counted_among_ok_records_only() -> None:
    engine, reference = pipelines("iot-example")
    texts = [
        record(KNOWN),
        record(UNKNOWN),
        record(UNKNOWN, seq=2),
        record(UNKNOWN, value=5000),  # rejected: not counted
        record(UNKNOWN, event_type="heartbeat"),  # dropped: not counted
        record("dev-9900"),
        b"not json",
    ]
    batch = batch_of(texts)
    result = engine.process(batch)
    assert (result.ok, result.failed, result.dropped) == (4, 2, 1)
    assert result.enrich_missed == {"devices": 3}
    assert reference.enrich_missed(batch) == {"devices": 3}
    assert result.missed is not None
    assert result.missed["devices"].to_list() == [False, True, True, False, False, True, False]


def test_a_record_the_reference_judges_is_counted_as_it_judges() -> None:
    engine, reference = pipelines("iot-example")
    # a record holding a field the enrichment writes is judged by the reference, not the fast path
    batch = batch_of([record(UNKNOWN, site="mine"), record(KNOWN, site="mine"), record(UNKNOWN)])
    result = engine.process(batch)
    assert result.enrich_missed == {"devices": 2} == reference.enrich_missed(batch)
    assert result.missed is not None and result.missed["devices"].to_list() == [True, False, True]


def test_a_shed_record_is_no_longer_counted() -> None:
    engine, _ = pipelines("iot-example")
    batch = batch_of([record(UNKNOWN, seq=i) for i in range(20)])
    whole = engine.process(batch)
    assert whole.enrich_missed == {"devices": 20}
    cut = engine.process(batch, limit=len(whole.body) - 10)  # a record or two past the limit
    assert 0 < cut.shed < 20
    assert cut.enrich_missed == {"devices": cut.ok} == {"devices": 20 - cut.shed}
    assert cut.ok + cut.failed + cut.dropped == 20


def test_a_table_that_rejects_misses_counts_none_and_no_table_counts_nothing(tmp_path: Any) -> None:
    rejecting, reference = pipelines("exotic")
    assert rejecting.process(batch_of([record(UNKNOWN)])).enrich_missed == {}
    plain = load_pipeline(
        {
            "version": 1,
            "name": "plain",
            "schema": str(IOT_SPEC.parent / "schemas" / "iot_event.schema.json"),
            "event_time": {"field": "event_time"},
            "partitioning": {"granularity": "day"},
        }
    )
    result = plain.process(batch_of([record(UNKNOWN)]))
    assert result.ok == 1 and result.enrich_missed == {}


def test_two_keep_tables_are_counted_apart(tmp_path: Any) -> None:
    (tmp_path / "sites.csv").write_text("device_id,region\ndev-0001,north\n", encoding="utf-8")
    spec = {
        "version": 1,
        "name": "two-tables",
        "schema": str(IOT_SPEC.parent / "schemas" / "iot_event.schema.json"),
        "event_time": {"field": "event_time"},
        "partitioning": {"granularity": "day"},
        "enrich": [
            {
                "name": "devices",
                "source": str(IOT_SPEC.parents[2] / "reference_data" / "devices.csv"),
                "key": "device_id",
                "fields": ["site", "model"],
            },
            {"name": "regions", "source": str(tmp_path / "sites.csv"), "key": "device_id", "fields": ["region"]},
        ],
    }
    engine = load_pipeline(spec)
    result = engine.process(batch_of([record(KNOWN), record("dev-0002"), record(UNKNOWN)]))
    assert result.enrich_missed == {"devices": 1, "regions": 2}
    assert result.missed is not None and result.missed.schema == pl.Schema({"devices": pl.Boolean, "regions": pl.Boolean})
