"""Iceberg delivery in the Lambda handler: ``otfMetadata`` on every Ok record and nowhere else, and the environment
(``TRANSFORM_CORE_DELIVERY`` and the table variables, set by the template) agreeing with the spec or failing the
cold start in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.runtime_process import cold_start
from transform_core import load_spec
from transform_core.adapters import firehose
from transform_core.adapters.delivery import (
    DELIVERY_ENV,
    ICEBERG_DATABASE_ENV,
    ICEBERG_OPERATION_ENV,
    ICEBERG_TABLE_ENV,
    delivery_from_env,
)
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.errors import ConfigurationEnvironmentError
from transform_core.firehose.outcomes import DROPPED, FAILED, OK
from transform_core.spec import IcebergSpec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SPEC = REPO / "examples" / "iot" / "pipeline.yaml"
EVENTS = REPO / "tests" / "events"
TABLE = {DELIVERY_ENV: "iceberg", ICEBERG_DATABASE_ENV: "transform_core", ICEBERG_TABLE_ENV: "iot_telemetry"}
OTF = {"destinationDatabaseName": "transform_core", "destinationTableName": "iot_telemetry", "operation": "insert"}


def spec_file(folder: Path, output: dict[str, Any]) -> Path:
    """The example spec with ``output`` instead of its own, written next to copies of what it names."""
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text(encoding="utf-8"))
    raw["schema"] = str(EXAMPLE_SPEC.parent / raw["schema"])
    raw["enrich"][0]["source"] = str((EXAMPLE_SPEC.parent / raw["enrich"][0]["source"]).resolve())
    raw["output"] = output
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def iceberg_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold start of the example spec with the template's Iceberg variables."""
    monkeypatch.setattr(firehose, "_PIPELINE", None)
    for name, value in {firehose.SPEC_ENV: str(EXAMPLE_SPEC), **TABLE, ICEBERG_OPERATION_ENV: "insert"}.items():
        monkeypatch.setenv(name, value)


def invoke(event: dict[str, Any]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(firehose.handler(event, None))["records"]
    return records


@pytest.mark.parametrize("name", ["direct_put.json", "kinesis_source.json", "bad_records.json"])
def test_every_ok_record_names_the_table_and_no_other_record_has_metadata(iceberg_lambda: None, name: str) -> None:
    event = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    records = invoke(event)
    assert [r["recordId"] for r in records] == [r["recordId"] for r in event["records"]]
    assert {r["result"] for r in records} & {OK, FAILED}
    for record in records:
        if record["result"] == OK:
            assert record["metadata"] == {"otfMetadata": OTF}  # no partitionKeys: the table partitions itself
        else:
            assert "metadata" not in record


@pytest.mark.parametrize("records", [50, 1500], ids=["f-strings", "joined-in-polars"])
def test_a_generated_batch_routes_ok_records_only(iceberg_lambda: None, records: int) -> None:
    event = firehose_event(iot_payloads(records, 0.2, seed=11))
    response = invoke(event)
    results = {r["result"] for r in response}
    assert results == {OK, DROPPED, FAILED}
    assert all(("metadata" in r) == (r["result"] == OK) for r in response)
    assert all(r["metadata"] == {"otfMetadata": OTF} for r in response if r["result"] == OK)


def test_the_same_batch_under_s3_delivery_carries_partition_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(firehose, "_PIPELINE", None)
    monkeypatch.setenv(firehose.SPEC_ENV, str(EXAMPLE_SPEC))
    monkeypatch.setenv(DELIVERY_ENV, "s3")
    response = invoke(firehose_event(iot_payloads(50, 0.2, seed=11)))
    assert all(set(r["metadata"]) == {"partitionKeys"} for r in response if r["result"] == OK)


# --- the environment and the spec -------------------------------------------------------------------------------


def test_without_the_variables_the_spec_decides(tmp_path: Path) -> None:
    plain = load_spec(EXAMPLE_SPEC)
    assert delivery_from_env(plain, {}) is plain
    asks = load_spec(spec_file(tmp_path, {"delivery": "iceberg", "iceberg": {"database": "lake", "table": "t1"}}))
    assert delivery_from_env(asks, {}).output.route == IcebergSpec(database="lake", table="t1")


def test_the_variables_name_the_table_where_the_spec_does_not() -> None:
    spec = delivery_from_env(load_spec(EXAMPLE_SPEC), TABLE)
    assert spec.output.delivery == "iceberg"
    assert spec.output.route == IcebergSpec(database="transform_core", table="iot_telemetry", operation="insert")
    assert spec.output.lake == load_spec(EXAMPLE_SPEC).output.lake  # the rest of the spec is untouched


def test_the_spec_and_the_variables_may_say_the_same_and_the_spec_gives_the_operation(tmp_path: Path) -> None:
    iceberg = {"database": "Transform_Core", "table": "iot_telemetry", "operation": "update"}
    spec = load_spec(spec_file(tmp_path, {"delivery": "s3", "iceberg": iceberg}))
    route = delivery_from_env(spec, TABLE).output.route
    assert route == IcebergSpec(database="transform_core", table="iot_telemetry", operation="update")


@pytest.mark.parametrize(
    ("output", "environ", "message"),
    [
        (None, {DELIVERY_ENV: "kinesis"}, "set TRANSFORM_CORE_DELIVERY to s3 or iceberg, not 'kinesis'"),
        (None, {ICEBERG_TABLE_ENV: "t"}, "TRANSFORM_CORE_ICEBERG_TABLE is set, so TRANSFORM_CORE_DELIVERY must be iceberg"),
        (None, {DELIVERY_ENV: "s3", ICEBERG_DATABASE_ENV: "db"}, "must be iceberg, not s3"),
        (None, {DELIVERY_ENV: "iceberg", ICEBERG_TABLE_ENV: "t"}, "set TRANSFORM_CORE_ICEBERG_DATABASE, or output.iceberg"),
        (None, {DELIVERY_ENV: "iceberg", ICEBERG_DATABASE_ENV: "db"}, "set TRANSFORM_CORE_ICEBERG_TABLE, or output.iceberg"),
        (None, {**TABLE, ICEBERG_TABLE_ENV: "iot-telemetry"}, "TRANSFORM_CORE_ICEBERG_TABLE must be 1-255 letters"),
        (None, {**TABLE, ICEBERG_OPERATION_ENV: "upsert"}, "must be one of insert, update, delete, got 'upsert'"),
        (
            {"delivery": "iceberg", "iceberg": {"database": "db", "table": "t"}},
            {DELIVERY_ENV: "s3"},
            "TRANSFORM_CORE_DELIVERY is s3 (the stream delivers to S3), but ",
        ),
        (
            {"iceberg": {"database": "transform_core", "table": "other"}},
            TABLE,
            "TRANSFORM_CORE_ICEBERG_TABLE is 'iot_telemetry', but ",
        ),
        (
            {"iceberg": {"database": "transform_core", "table": "iot_telemetry", "operation": "delete"}},
            {**TABLE, ICEBERG_OPERATION_ENV: "insert"},
            "TRANSFORM_CORE_ICEBERG_OPERATION is 'insert', but ",
        ),
    ],
    ids=[
        "unknown-delivery",
        "table-without-delivery",
        "database-under-s3",
        "no-database",
        "no-table",
        "bad-table-name",
        "bad-operation",
        "spec-iceberg-stream-s3",
        "other-table",
        "other-operation",
    ],
)
def test_a_spec_and_an_environment_that_disagree_fail_in_one_line(
    tmp_path: Path, output: dict[str, Any] | None, environ: dict[str, str], message: str
) -> None:
    spec = load_spec(spec_file(tmp_path, output) if output is not None else EXAMPLE_SPEC)
    with pytest.raises(ConfigurationEnvironmentError) as caught:
        delivery_from_env(spec, environ)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_inconsistent_environment_fails_the_cold_start(tmp_path: Path) -> None:
    child = cold_start(tmp_path, {DELIVERY_ENV: "s3", ICEBERG_TABLE_ENV: "t"})
    assert child.returncode != 0
    assert child.stderr.splitlines()[-1] == (
        "transform_core.errors.ConfigurationEnvironmentError: "
        "TRANSFORM_CORE_ICEBERG_TABLE is set, so TRANSFORM_CORE_DELIVERY must be iceberg, not s3"
    )
