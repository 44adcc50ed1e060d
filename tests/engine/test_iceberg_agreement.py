"""The engine's Firehose response equals the reference's, byte for byte, with an Iceberg destination (every Ok record
names the table in ``otfMetadata``) and without one (partition keys), on the shared specs' adversarial batches.

The outcome frames agree too (``assert_agree`` holds them to each other): the delivery changes the response only.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings
from polars.testing import assert_frame_equal

from tests.helpers.specs import SPECS
from tests.helpers.strategies import batches
from transform_core import RecordBatch, load_spec
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.engine import Pipeline
from transform_core.firehose.outcomes import OK
from transform_core.reference import ReferencePipeline
from transform_core.spec import IcebergSpec, OutputSpec
from transform_core.tuning import Tuning

TABLE = IcebergSpec(database="transform_core", table="iot_telemetry", operation="insert")
IN_POLARS = Tuning(framed_response_from=1, overlap_from=1)  # every batch's entries come from the main query
DELIVERIES = pytest.mark.parametrize("delivery", ["iceberg", "s3"])
_PIPELINES: dict[tuple[str, str, Tuning | None], tuple[Pipeline, ReferencePipeline]] = {}


def pipelines(name: str, delivery: str, tuning: Tuning | None = None) -> tuple[Pipeline, ReferencePipeline]:
    """Engine and reference for a shared spec delivering to S3 or to TABLE, built once per test session."""
    if (name, delivery, tuning) not in _PIPELINES:
        spec = load_spec(SPECS[name])
        if delivery == "iceberg":
            spec = dataclasses.replace(spec, output=OutputSpec(lake=spec.output.lake, delivery="iceberg", iceberg=TABLE))
        _PIPELINES[name, delivery, tuning] = (Pipeline(spec, tuning=tuning), ReferencePipeline(spec))
    return _PIPELINES[name, delivery, tuning]


def assert_same_response(name: str, delivery: str, batch: RecordBatch, tuning: Tuning | None = None) -> bytes:
    """The engine's body is the reference's, and its outcome frame too (reasons aside); returns the body."""
    engine, reference = pipelines(name, delivery, tuning)
    got = engine.process(batch)
    assert_frame_equal(got.outcomes.drop("reason"), reference.process(batch).drop("reason"))
    assert got.shed == 0
    assert got.body == reference.respond(batch)
    return got.body


@DELIVERIES
@pytest.mark.parametrize("name", sorted(SPECS))
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=batches())
def test_engine_and_reference_write_the_same_response(name: str, delivery: str, batch: RecordBatch) -> None:
    assert_same_response(name, delivery, batch)


@DELIVERIES
@pytest.mark.parametrize("name", sorted(SPECS))
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], max_examples=25)
@given(batch=batches())
def test_entries_written_by_the_main_query_are_the_references_too(name: str, delivery: str, batch: RecordBatch) -> None:
    assert_same_response(name, delivery, batch, IN_POLARS)


@DELIVERIES
@pytest.mark.parametrize("records", [200, 3000])
def test_generated_workload_responses_agree(delivery: str, records: int) -> None:
    event = firehose_event(iot_payloads(records, 0.05, seed=5))
    body = assert_same_response("iot-example", delivery, RecordBatch.from_firehose_event(event))
    entries = json.loads(body)["records"]
    ok = [e for e in entries if e["result"] == OK]
    assert ok and all(("metadata" in e) == (e["result"] == OK) for e in entries)
    if delivery == "iceberg":
        otf = {"destinationDatabaseName": "transform_core", "destinationTableName": "iot_telemetry", "operation": "insert"}
        assert all(e["metadata"] == {"otfMetadata": otf} for e in ok)
    else:
        assert all(list(e["metadata"]) == ["partitionKeys"] for e in ok)
