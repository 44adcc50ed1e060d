"""The template's consumer blocks (deploy/template.yaml): the Redshift role and statement, the QuickSight data source and
dataset. Off by default, cfn-lint clean when switched on, least privilege, and generated: the dataset's query and columns
and the Redshift statement are what transform_core makes of the shipped spec. No AWS account is involved."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from transform_core.lake.curated.quicksight import quicksight_columns, quicksight_sql
from transform_core.lake.curated.redshift import external_schema_statement
from transform_core.spec import PipelineSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
REDSHIFT = ("RedshiftLakeRole",)
QUICKSIGHT = ("QuickSightAthenaRole", "QuickSightDataSource", "QuickSightDataSet")


@pytest.fixture(scope="module")
def shipped_spec(template: dict[str, Any]) -> PipelineSpec:
    """The spec the template's function ships (function/pipeline.yaml)."""
    function = template["Resources"]["TransformFunction"]["Properties"]
    return load_spec(TEMPLATE.parent / function["CodeUri"] / "pipeline.yaml")


def substituted(value: Any, template: dict[str, Any], **names: str) -> str:
    """A ``!Sub`` string with each ``${Parameter}`` replaced by its default, and ``names`` by the values given."""
    text = value["Fn::Sub"]
    assert isinstance(text, str)
    defaults = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    return re.sub(r"\$\{([A-Za-z0-9.:]+)\}", lambda m: names.get(m[1].replace(".", "_"), defaults.get(m[1], m[0])), text)


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_consumers_are_off_by_default(template: dict[str, Any]) -> None:
    parameters, conditions = template["Parameters"], template["Conditions"]
    assert parameters["EnableRedshift"]["Default"] == parameters["EnableQuickSight"]["Default"] == "false"
    assert parameters["QuickSightPrincipalArn"]["Default"] == ""
    assert conditions["ConnectRedshift"] == {"Fn::Equals": [{"Ref": "EnableRedshift"}, "true"]}
    assert {"Fn::Equals": [{"Ref": "EnableQuickSight"}, "true"]} in conditions["ConnectQuickSight"]["Fn::And"]
    resources = template["Resources"]
    assert {name: resources[name]["Condition"] for name in (*REDSHIFT, *QUICKSIGHT)} == {
        **dict.fromkeys(REDSHIFT, "ConnectRedshift"),
        **dict.fromkeys(QUICKSIGHT, "ConnectQuickSight"),
    }
    consumer_outputs = {"RedshiftRoleArn", "RedshiftExternalSchema", "QuickSightDataSetArn"}
    assert {name: template["Outputs"][name]["Condition"] for name in consumer_outputs} == {
        "RedshiftRoleArn": "ConnectRedshift",
        "RedshiftExternalSchema": "ConnectRedshift",
        "QuickSightDataSetArn": "ConnectQuickSight",
    }
    # QuickSight on without an owner is refused at deploy time, not silently skipped
    rule = template["Rules"]["QuickSightNeedsAnOwner"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "EnableQuickSight"}, "true"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "QuickSightPrincipalArn"}, ""]}]}


def test_cfn_lint_is_clean_with_the_consumers_on() -> None:
    """The whole template, linted with the consumers switched on through their parameters' defaults."""
    pytest.importorskip("samtranslator")
    from cfnlint.api import ManualArgs, lint

    text = TEMPLATE.read_text()
    on = {
        "EnableRedshift": 'Default: "true"',
        "EnableQuickSight": 'Default: "true"',
        "QuickSightPrincipalArn": 'Default: "arn:aws:quicksight:us-east-1:123456789012:user/default/analyst"',
    }
    for name, default in on.items():
        text, n = re.subn(rf"(\n  {name}:\n    Type: String\n    )Default: \"[a-z]*\"", rf"\g<1>{default}", text)
        assert n == 1, name
    matches = lint(text, config=ManualArgs(include_checks=["I"], regions=["us-east-1"]))
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_the_quicksight_dataset_is_the_generated_one(template: dict[str, Any], shipped_spec: PipelineSpec) -> None:
    dataset = template["Resources"]["QuickSightDataSet"]["Properties"]
    assert dataset["ImportMode"] == "DIRECT_QUERY"
    (physical,) = dataset["PhysicalTableMap"].values()
    custom = physical["CustomSql"]
    assert custom["DataSourceArn"] == {"Fn::GetAtt": ["QuickSightDataSource", "Arn"]}
    assert custom["Columns"] == quicksight_columns(shipped_spec)
    database, table = template["Parameters"]["CuratedNamespace"]["Default"], template["Parameters"]["TableName"]["Default"]
    assert substituted(custom["SqlQuery"], template) == quicksight_sql(shipped_spec, database=database, table=table)
    assert custom["SqlQuery"]["Fn::Sub"].endswith('FROM "${CuratedNamespace}"."${TableName}"')


def test_the_data_source_is_athena_in_the_stacks_workgroup(template: dict[str, Any]) -> None:
    source = template["Resources"]["QuickSightDataSource"]["Properties"]
    assert source["Type"] == "ATHENA"
    assert source["DataSourceParameters"]["AthenaParameters"] == {
        "WorkGroup": {"Ref": "AthenaWorkGroup"},
        "RoleArn": {"Fn::GetAtt": ["QuickSightAthenaRole", "Arn"]},
    }
    for name in ("QuickSightDataSource", "QuickSightDataSet"):
        (permission,) = template["Resources"][name]["Properties"]["Permissions"]
        assert permission["Principal"] == {"Ref": "QuickSightPrincipalArn"}
        assert all(action.startswith("quicksight:") for action in permission["Actions"])


def test_the_redshift_statement_is_the_generated_one(template: dict[str, Any]) -> None:
    output = template["Outputs"]["RedshiftExternalSchema"]["Value"]
    role = "arn:aws:iam::123456789012:role/stack-RedshiftLakeRole-ABC"
    database = template["Parameters"]["CuratedNamespace"]["Default"]

    assert substituted(output, template, RedshiftLakeRole_Arn=role) == external_schema_statement(database, iam_role=role)


def test_the_consumer_roles_only_read_the_curated_table(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for name in ("RedshiftLakeRole", "QuickSightAthenaRole"):
        for statement in statements(resources[name]):
            writes = [a for a in listed(statement["Action"]) if a.startswith("s3:") and not a.startswith(("s3:Get", "s3:List"))]
            targets = [t if isinstance(t, dict) else {"Fn::Sub": t} for t in listed(statement["Resource"])]
            s3 = [t for t in targets if "CuratedBucket" in str(t) or "AthenaResultsBucket" in str(t)]
            if writes:  # QuickSight's Athena queries write their results, in the results bucket only
                assert name == "QuickSightAthenaRole" and all("AthenaResultsBucket" in str(t) for t in s3), statement
            assert not any(
                a.startswith("glue:") and not a.startswith(("glue:Get", "glue:BatchGet")) for a in listed(statement["Action"])
            )
            for target in s3:  # the bucket itself (listing), or the curated table's files, or query results
                text = str(target)
                assert (
                    target in ({"Fn::GetAtt": ["CuratedBucket", "Arn"]}, {"Fn::GetAtt": ["AthenaResultsBucket", "Arn"]})
                    or "${CuratedBucket.Arn}/curated/${CuratedNamespace}/${TableName}/*" in text
                    or "${AthenaResultsBucket.Arn}/results/*" in text
                ), statement
    trusted = {
        name: resources[name]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
        for name in ("RedshiftLakeRole", "QuickSightAthenaRole")
    }
    assert trusted == {
        "RedshiftLakeRole": ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"],
        "QuickSightAthenaRole": "quicksight.amazonaws.com",
    }
