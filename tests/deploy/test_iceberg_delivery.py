"""The template's Iceberg delivery mode (DeliveryMode=Iceberg): exactly one delivery stream per mode, the Iceberg
stream delivering to the curated table ``transform-core compact --catalog glue`` makes, with the S3 stream's source
and Lambda processor, the role statements it needs only in that mode, and the function told so at init."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.template import TEMPLATE, resources, sub_text
from transform_core import load_spec
from transform_core.adapters.delivery import delivery_from_env
from transform_core.lake.curated import curated_layout
from transform_core.lake.curated.catalogs import table_location
from transform_core.lake.curated.schema import DEFAULT_NAMESPACE

FUNCTION_SPEC = "/var/task/pipeline.yaml"


def condition_holds(template: dict[str, Any], name: str, parameters: dict[str, str]) -> bool:
    """Evaluate a condition made of Fn::Equals, Fn::Not, Refs to parameters and literals."""

    def value(node: Any) -> Any:
        if isinstance(node, dict) and "Ref" in node:
            return parameters[node["Ref"]]
        if isinstance(node, dict) and "Condition" in node:
            return condition_holds(template, node["Condition"], parameters)
        if isinstance(node, dict) and "Fn::Equals" in node:
            left, right = node["Fn::Equals"]
            return str(value(left)) == str(value(right))
        if isinstance(node, dict) and "Fn::Not" in node:
            return not value(node["Fn::Not"][0])
        assert not isinstance(node, dict), node
        return node

    return bool(value(template["Conditions"][name]))


def defaults(template: dict[str, Any], **overrides: str) -> dict[str, str]:
    values = {name: str(p["Default"]) for name, p in template["Parameters"].items() if "Default" in p}
    return values | overrides


def resolve(node: Any, parameters: dict[str, str]) -> Any:
    """A Ref to a parameter as its value."""
    return parameters[node["Ref"]] if isinstance(node, dict) and set(node) == {"Ref"} else node


def iceberg_destination(template: dict[str, Any]) -> dict[str, Any]:
    destination: dict[str, Any] = template["Resources"]["IcebergDeliveryStream"]["Properties"]["IcebergDestinationConfiguration"]
    return destination


@pytest.mark.parametrize("mode", ["S3", "Iceberg"])
def test_each_mode_configures_exactly_one_delivery_stream(template: dict[str, Any], mode: str) -> None:
    assert template["Parameters"]["DeliveryMode"]["AllowedValues"] == ["S3", "Iceberg"]
    assert template["Parameters"]["DeliveryMode"]["Default"] == "S3"
    parameters = defaults(template, DeliveryMode=mode)
    streams = resources(template, "AWS::KinesisFirehose::DeliveryStream")
    assert all("Condition" in stream for stream in streams.values())
    made = [name for name, stream in streams.items() if condition_holds(template, stream["Condition"], parameters)]
    assert made == (["IcebergDeliveryStream"] if mode == "Iceberg" else ["DeliveryStream"])
    destinations = {key for key in streams[made[0]]["Properties"] if key.endswith("DestinationConfiguration")}
    assert destinations == ({"IcebergDestinationConfiguration"} if mode == "Iceberg" else {"ExtendedS3DestinationConfiguration"})
    output = template["Outputs"]["DeliveryStreamName"]["Value"]["Fn::If"]
    assert output[0] in {s["Condition"] for s in streams.values()}


@pytest.mark.parametrize("namespace", [None, "telemetry"])
def test_the_destination_table_is_the_curated_table_compact_writes(template: dict[str, Any], namespace: str | None) -> None:
    parameters = defaults(template, **({"CuratedNamespace": namespace} if namespace else {}))
    (table,) = iceberg_destination(template)["DestinationTableConfigurationList"]
    destination = (resolve(table["DestinationDatabaseName"], parameters), resolve(table["DestinationTableName"], parameters))
    function = template["Resources"]["TransformFunction"]["Properties"]
    spec = load_spec(TEMPLATE.parent / function["CodeUri"] / Path(FUNCTION_SPEC).name)

    layout = curated_layout(spec, namespace or parameters["CuratedNamespace"])

    assert destination == layout.identifier
    assert parameters["CuratedNamespace"] == (namespace or DEFAULT_NAMESPACE)  # compact's default namespace
    assert parameters["CuratedNamespace"] != parameters["DatabaseName"]  # the raw zone's Glue table lives there
    # the function routes its Ok records to that table: the variables the template sets in Iceberg mode
    variables = function["Environment"]["Variables"]
    environ = {
        name: resolve(value["Fn::If"][1], parameters)
        for name, value in variables.items()
        if isinstance(value, dict) and value["Fn::If"][0] == "DeliverToIceberg"
    }
    route = delivery_from_env(spec, environ).output.route
    assert route is not None and (route.database, route.table, route.operation) == (*layout.identifier, "insert")
    # and the role may write that table's files, where compact --catalog glue puts it in the curated bucket
    grants = [s["Fn::If"][1] for s in _statements(template) if s["Fn::If"][0] == "DeliverToIceberg"]
    (files,) = [g for g in grants if "s3:PutObject" in g["Action"]]
    where = sub_text(files["Resource"]).replace("${CuratedBucket.Arn}", "s3://curated-bucket")
    where = where.replace("${CuratedNamespace}", layout.namespace).replace("${TableName}", parameters["TableName"])
    assert where == table_location("s3://curated-bucket", layout) + "/*"


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The FirehoseRole's conditional statements."""
    (policy,) = template["Resources"]["FirehoseRole"]["Properties"]["Policies"]
    return [s for s in policy["PolicyDocument"]["Statement"] if "Fn::If" in s]


def test_the_function_is_told_the_streams_destination(template: dict[str, Any]) -> None:
    variables = template["Resources"]["TransformFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["TRANSFORM_CORE_DELIVERY"] == {"Fn::If": ["DeliverToIceberg", "iceberg", "s3"]}
    no_value = {"Ref": "AWS::NoValue"}
    assert variables["TRANSFORM_CORE_ICEBERG_DATABASE"] == {"Fn::If": ["DeliverToIceberg", {"Ref": "CuratedNamespace"}, no_value]}
    assert variables["TRANSFORM_CORE_ICEBERG_TABLE"] == {"Fn::If": ["DeliverToIceberg", {"Ref": "TableName"}, no_value]}
    # the stream only inserts: a spec asking to update or delete fails the function's init
    assert variables["TRANSFORM_CORE_ICEBERG_OPERATION"] == {"Fn::If": ["DeliverToIceberg", "insert", no_value]}
    destination = iceberg_destination(template)
    assert destination["AppendOnly"] is True
    assert all("UniqueKeys" not in table for table in destination["DestinationTableConfigurationList"])


def test_the_iceberg_stream_has_the_s3_streams_source_processor_and_buffers(template: dict[str, Any]) -> None:
    s3 = template["Resources"]["DeliveryStream"]["Properties"]
    iceberg = template["Resources"]["IcebergDeliveryStream"]["Properties"]
    destination = iceberg_destination(template)
    s3_destination = s3["ExtendedS3DestinationConfiguration"]
    assert iceberg["DeliveryStreamType"] == s3["DeliveryStreamType"]
    assert iceberg["KinesisStreamSourceConfiguration"] == s3["KinesisStreamSourceConfiguration"]
    assert destination["ProcessingConfiguration"] == s3_destination["ProcessingConfiguration"]
    assert destination["BufferingHints"] == s3_destination["BufferingHints"]
    assert destination["CloudWatchLoggingOptions"] == s3_destination["CloudWatchLoggingOptions"]
    assert sub_text(destination["CatalogConfiguration"]["CatalogArn"]).endswith(":glue:${AWS::Region}:${AWS::AccountId}:catalog")
    # Firehose does not create or evolve the table: compact made it, with its partitioning and lineage columns
    assert "TableCreationConfiguration" not in destination and "SchemaEvolutionConfiguration" not in destination
    # what Firehose cannot process or deliver lands where reprocess finds S3 mode's errors
    assert destination["s3BackupMode"] == "FailedDataOnly"
    errors = destination["S3Configuration"]
    assert errors["BucketARN"] == s3_destination["BucketARN"] == {"Fn::GetAtt": ["RawBucket", "Arn"]}
    assert sub_text(errors["ErrorOutputPrefix"]) == sub_text(s3_destination["ErrorOutputPrefix"])
    assert sub_text(errors["Prefix"]).startswith("errors/${TableName}/")


def test_the_iceberg_grants_exist_in_iceberg_mode_only(template: dict[str, Any]) -> None:
    grants = {s["Fn::If"][1]["Sid"]: s["Fn::If"] for s in _statements(template) if s["Fn::If"][0] == "DeliverToIceberg"}
    assert set(grants) == {"CommitToIcebergTable", "ListCuratedBucket", "WriteIcebergTableFiles"}
    assert all(branches[2] == {"Ref": "AWS::NoValue"} for branches in grants.values())
    glue = grants["CommitToIcebergTable"][1]
    assert set(glue["Action"]) == {"glue:GetTable", "glue:GetDatabase", "glue:UpdateTable"}
    assert [sub_text(r).rsplit(":", 1)[1] for r in glue["Resource"]] == [
        "catalog",
        "database/${CuratedNamespace}",
        "table/${CuratedNamespace}/${TableName}",
    ]
    assert grants["ListCuratedBucket"][1]["Resource"] == {"Fn::GetAtt": ["CuratedBucket", "Arn"]}


def test_a_curated_namespace_equal_to_the_raw_database_is_refused(template: dict[str, Any]) -> None:
    rule = template["Rules"]["CuratedTableIsNotTheRawTable"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "DeliveryMode"}, "Iceberg"]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "CuratedNamespace"}, {"Ref": "DatabaseName"}]}]}
