"""The pipeline template (deploy/template.yaml): cfn-lint passes (with the SAM transform), and the invariants the
pipeline relies on hold. No AWS account is involved: the template is only linted and read."""

from __future__ import annotations

import base64
import copy
import filecmp
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.template import TEMPLATE, resources, sub_text

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_PAYLOAD_LIMIT = 6_000_000  # Lambda's synchronous request and response limit, read as decimal megabytes (the lower)


def test_cfn_lint_reports_nothing() -> None:
    pytest.importorskip("samtranslator")  # without it cfn-lint cannot expand AWS::Serverless-2016-10-31
    from cfnlint.api import lint_file

    matches = lint_file(TEMPLATE, config={"include_checks": ["I"]})
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_lambda_buffer_keeps_response_under_6mb(template: dict[str, Any]) -> None:
    stream = template["Resources"]["DeliveryStream"]  # DeliveryMode=S3 (Iceberg's stream: test_iceberg_delivery.py)
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


@pytest.mark.parametrize("kinesis_source", [True, False], ids=["kinesis-source", "direct-put"])
def test_a_full_default_buffer_of_the_example_stays_under_6mb(template: dict[str, Any], kinesis_source: bool) -> None:
    """Lambda's 6 MB applies to the request and the response. Firehose fills the processor buffer with record data;
    the request carries it base64-encoded in a JSON envelope per record (with ``kinesisRecordMetadata`` from a
    Kinesis source, the template's only source), the response with the enrichment and partition keys added."""
    from transform_core import load_pipeline
    from transform_core.demo.generate import firehose_batches, iot_payloads

    buffer = float(template["Parameters"]["LambdaBufferSizeMB"]["Default"]) * 1024 * 1024  # MiB: the larger reading
    payloads = iot_payloads(int(buffer / 250), 0.0, seed=1)  # more than a buffer holds: the first event is full
    event = firehose_batches(payloads, int(buffer), kinesis_source=kinesis_source)[0]
    assert buffer - sum(len(base64.b64decode(r["data"])) for r in event["records"]) < 1_000  # full, to a record
    result = load_pipeline(ROOT / "examples" / "iot" / "pipeline.yaml").process_firehose(event)
    request = len(json.dumps(event).encode())
    assert request < LAMBDA_PAYLOAD_LIMIT and len(result.body) < LAMBDA_PAYLOAD_LIMIT and result.shed == 0
    if kinesis_source:  # the arithmetic in docs/deploy.md, "Buffer sizes"
        assert 5_000_000 < request < 5_500_000, request


def test_dynamic_partitioning_prefixes(template: dict[str, Any]) -> None:
    stream = template["Resources"]["DeliveryStream"]  # DeliveryMode=S3 (Iceberg's stream: test_iceberg_delivery.py)
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
    assert props["Runtime"] == {"Ref": "PythonRuntime"} and props["Architectures"] == [{"Ref": "Architecture"}]
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


def test_runtime_parameters_are_what_the_layer_is_built_for(template: dict[str, Any]) -> None:
    """One source of truth: ``layer build``'s default and choices are the PythonRuntime and Architecture parameters'."""
    from transform_core.deploy.layer import ARCHES, DEFAULT_ARCH, DEFAULT_PYTHON, PYTHONS

    runtime, arch = template["Parameters"]["PythonRuntime"], template["Parameters"]["Architecture"]
    assert (runtime["Default"], arch["Default"]) == (f"python{DEFAULT_PYTHON}", DEFAULT_ARCH)
    assert runtime["AllowedValues"] == [f"python{version}" for version in PYTHONS]
    assert arch["AllowedValues"] == list(ARCHES)


def test_the_raw_bytes_runtime_is_the_default_and_managed_one_parameter_away(template: dict[str, Any]) -> None:
    """FunctionRuntime=raw-bytes sets AWS_LAMBDA_EXEC_WRAPPER to the layer's wrapper, which runs the Runtime API loop
    for the template's handler; managed leaves it unset, and the managed runtime calls the same handler."""
    from transform_core.adapters.runtime_api import EXEC_WRAPPER
    from transform_core.deploy.layer import WRAPPER

    parameter = template["Parameters"]["FunctionRuntime"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("raw-bytes", ["raw-bytes", "managed"])
    assert template["Conditions"]["UseRawBytesRuntime"] == {"Fn::Equals": [{"Ref": "FunctionRuntime"}, "raw-bytes"]}
    (function,) = resources(template, "AWS::Serverless::Function").values()
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == {"Fn::If": ["UseRawBytesRuntime", EXEC_WRAPPER, {"Ref": "AWS::NoValue"}]}
    assert f"/opt/{WRAPPER}" == EXEC_WRAPPER  # where Lambda unpacks the layer's root
    script = (ROOT / "transform_core" / "adapters" / "exec_wrapper.sh").read_text()
    assert f'"${{_HANDLER:-}}" != "{function["Properties"]["Handler"]}"' in script


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


def sam_transform(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The template as CloudFormation receives it after SAM's transform (offline: no policy lookups, a packaged code URI)."""
    pytest.importorskip("samtranslator")
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    packaged = copy.deepcopy(template)
    packaged["Resources"]["TransformFunction"]["Properties"]["CodeUri"] = "s3://bucket/function.zip"  # as `sam package` leaves it
    result: dict[str, Any] = transform(packaged, {}, NoManagedPolicies())
    return result


def events_post(template: dict[str, Any]) -> dict[str, Any]:
    post: dict[str, Any] = template["Resources"]["Api"]["Properties"]["DefinitionBody"]["paths"]["/events"]["post"]
    return post


def test_a_change_to_the_api_is_redeployed_to_its_stage(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain AWS::ApiGateway::Deployment is created once and never redeployed; SAM names it after the API's body."""
    changed = copy.deepcopy(template)
    events_post(changed)["x-amazon-apigateway-integration"]["passthroughBehavior"] = "when_no_templates"

    def deployments(resources: dict[str, Any]) -> list[str]:
        return [name for name, r in resources["Resources"].items() if r["Type"] == "AWS::ApiGateway::Deployment"]

    before, after = sam_transform(template, monkeypatch), sam_transform(changed, monkeypatch)
    assert len(deployments(before)) == 1 and deployments(before) != deployments(after)
    (stage,) = (r for r in after["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage")
    assert stage["Properties"]["DeploymentId"] == {"Ref": deployments(after)[0]}


def test_the_kinesis_integration_is_the_tutorials(template: dict[str, Any]) -> None:
    """API Gateway Developer Guide, "Tutorial: Create a REST API as an Amazon Kinesis proxy": PutRecord through an
    AWS-type integration, Content-Type application/x-amz-json-1.1 (Kinesis's JSON protocol), IAM-signed callers."""
    post = events_post(template)
    integration = post["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws" and integration["httpMethod"] == "POST"
    assert sub_text(integration["uri"]).endswith(":kinesis:action/PutRecord")
    assert integration["requestParameters"] == {"integration.request.header.Content-Type": "'application/x-amz-json-1.1'"}
    assert '"Data": "$util.base64Encode($input.body)"' in sub_text(integration["requestTemplates"]["application/json"])
    assert post["security"] == [{"sigv4": []}]
    definitions = template["Resources"]["Api"]["Properties"]["DefinitionBody"]["securityDefinitions"]
    assert definitions["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_source_backup_is_always_on_and_logs_its_errors(template: dict[str, Any]) -> None:
    """Firehose refuses an update from Enabled to Disabled: no parameter may offer it."""
    stream = template["Resources"]["DeliveryStream"]  # DeliveryMode=S3 (Iceberg's stream: test_iceberg_delivery.py)
    destination = stream["Properties"]["ExtendedS3DestinationConfiguration"]
    assert destination["S3BackupMode"] == "Enabled" and "SourceBackup" not in template["Parameters"]
    logging = destination["S3BackupConfiguration"]["CloudWatchLoggingOptions"]
    assert logging["Enabled"] is True and logging["LogStreamName"] != destination["CloudWatchLoggingOptions"]["LogStreamName"]


def test_reserved_concurrency_is_a_parameter_off_by_default(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["ReservedConcurrency"]
    assert parameter["Default"] == 0 and parameter["MinValue"] == 0
    function = template["Resources"]["TransformFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReserveConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
