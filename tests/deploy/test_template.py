"""The pipeline template (deploy/template.yaml): cfn-lint passes (with the SAM transform), and the invariants the
pipeline relies on hold. No AWS account is involved: the template is only linted and read."""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from cfnlint.decode import decode

    parsed, problems = decode(str(TEMPLATE))
    assert not problems, [str(p) for p in problems]
    assert isinstance(parsed, dict)
    return parsed


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def sub_text(value: Any) -> str:
    """The format string of a ``!Sub`` (either form), or a plain string."""
    if isinstance(value, str):
        return value
    sub = value["Fn::Sub"]
    return sub if isinstance(sub, str) else sub[0]


def test_cfn_lint_reports_nothing() -> None:
    pytest.importorskip("samtranslator")  # without it cfn-lint cannot expand AWS::Serverless-2016-10-31
    from cfnlint.api import lint_file

    matches = lint_file(TEMPLATE, config={"include_checks": ["I"]})
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_lambda_buffer_keeps_response_under_6mb(template: dict[str, Any]) -> None:
    (stream,) = resources(template, "AWS::KinesisFirehose::DeliveryStream").values()
    (processor,) = stream["Properties"]["ExtendedS3DestinationConfiguration"]["ProcessingConfiguration"]["Processors"]
    assert processor["Type"] == "Lambda"
    params = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    assert params["LambdaArn"] == {"Fn::GetAtt": ["TransformFunction", "Arn"]}
    size = params["BufferSizeInMBs"]
    if isinstance(size, dict):  # a Ref to a template parameter: its bounds must keep it at most 3 MB
        parameter = template["Parameters"][size["Ref"]]
        assert float(parameter["MaxValue"]) <= 3
        assert 0.2 <= float(parameter["MinValue"]) <= float(parameter["Default"]) <= 3
    else:
        assert 0.2 <= float(size) <= 3
    assert "BufferIntervalInSeconds" in params


def test_dynamic_partitioning_prefixes(template: dict[str, Any]) -> None:
    (stream,) = resources(template, "AWS::KinesisFirehose::DeliveryStream").values()
    s3 = stream["Properties"]["ExtendedS3DestinationConfiguration"]
    assert s3["DynamicPartitioningConfiguration"]["Enabled"] is True
    assert sub_text(s3["Prefix"]) == (
        "raw/${TableName}/year=!{partitionKeyFromLambda:year}/month=!{partitionKeyFromLambda:month}"
        "/day=!{partitionKeyFromLambda:day}/"
    )
    error_prefix = sub_text(s3["ErrorOutputPrefix"])
    assert error_prefix.startswith("errors/${TableName}/!{firehose:error-output-type}/")
    # Firehose needs at least 64 MB of S3 buffer with dynamic partitioning (and with format conversion)
    size = s3["BufferingHints"]["SizeInMBs"]
    assert float(template["Parameters"][size["Ref"]]["MinValue"]) >= 64


def test_buckets_block_public_access_and_are_encrypted(template: dict[str, Any]) -> None:
    buckets = resources(template, "AWS::S3::Bucket")
    assert {"RawBucket", "CuratedBucket", "ErrorsBucket"} <= set(buckets)
    denied = {
        policy["Properties"]["Bucket"]["Ref"]
        for policy in resources(template, "AWS::S3::BucketPolicy").values()
        if any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )
    }
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        block = props["PublicAccessBlockConfiguration"]
        assert all(
            block[key] is True for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        ), name
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms", "aws:kms:dsse"}, name
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}], name
        assert name in denied, f"{name} has no policy denying plain HTTP"


def test_roles_name_their_resources(template: dict[str, Any]) -> None:
    """Least privilege, coarsely: no role policy grants a wildcard action or resource."""

    def statements(value: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        if isinstance(value, dict):
            if "Effect" in value and "Action" in value:
                found.append(value)
            for item in value.values():
                found.extend(statements(item))
        elif isinstance(value, list):
            for item in value:
                found.extend(statements(item))
        return found

    roles = resources(template, "AWS::IAM::Role")
    assert {"FirehoseRole", "TransformRole", "IotRuleRole", "ApiRole"} <= set(roles)
    for name, role in roles.items():
        assert "ManagedPolicyArns" not in role["Properties"], name
        for statement in statements(role["Properties"]["Policies"]):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all(a != "*" and not a.endswith(":*") for a in actions), (name, actions)
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert "*" not in targets, (name, statement)
    transform_actions = {a for s in statements(roles["TransformRole"]["Properties"]["Policies"]) for a in s["Action"]}
    assert transform_actions == {"logs:CreateLogStream", "logs:PutLogEvents"}


def test_function_ships_a_loadable_spec(template: dict[str, Any]) -> None:
    from transform_core import load_pipeline

    (function,) = resources(template, "AWS::Serverless::Function").values()
    props = function["Properties"]
    assert props["Handler"] == "transform_core.adapters.firehose.handler"
    assert (props["MemorySize"], props["Timeout"]) == (1769, 300)
    assert set(template["Parameters"][props["Runtime"]["Ref"]]["AllowedValues"]) <= {"python3.11", "python3.12"}
    code = TEMPLATE.parent / props["CodeUri"]
    spec_path = props["Environment"]["Variables"]["TRANSFORM_CORE_SPEC"]
    assert spec_path.startswith("/var/task/")
    pipeline = load_pipeline(code / spec_path.removeprefix("/var/task/"))
    assert pipeline.spec.name == "iot-telemetry"
    # the shipped schema and device table are copies of the example's: they must not drift apart
    for shipped, original in [
        ("schemas/iot_event.schema.json", ROOT / "examples/iot/schemas/iot_event.schema.json"),
        ("reference_data/devices.csv", ROOT / "reference_data/devices.csv"),
    ]:
        assert filecmp.cmp(code / shipped, original, shallow=False), shipped


def test_glue_table_projects_the_raw_partitions(template: dict[str, Any]) -> None:
    (table,) = resources(template, "AWS::Glue::Table").values()
    table_input = table["Properties"]["TableInput"]
    assert [k["Name"] for k in table_input["PartitionKeys"]] == ["year", "month", "day"]
    params = table_input["Parameters"]
    assert params["projection.enabled"] == "true"
    for key in ("year", "month", "day"):
        assert params[f"projection.{key}.type"] == "integer"
    # ${!year} is !Sub's escape for a literal ${year}
    assert sub_text(params["storage.location.template"]) == (
        "s3://${RawBucket}/raw/${TableName}/year=${!year}/month=${!month}/day=${!day}/"
    )
