"""The curated job: ``CompactJob`` in deploy/template.yaml (Glue 5.0, schedule, role) and its script,
deploy/glue/compact_job.py, run here with stand-ins for Glue's ``awsglue`` and ``pyspark`` against a loopback S3 and
Glue (moto). Glue itself (installing the wheel, the schedule, the role's grants) is not exercised."""

from __future__ import annotations

import ast
import importlib.util
import sys
import tomllib
import types
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.lake import TABLE, process
from transform_core.cli import build_parser
from transform_core.engine import Pipeline
from transform_core.lake import LakeWriter

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
SCRIPT = ROOT / "deploy" / "glue" / "compact_job.py"
FUNCTION = ROOT / "deploy" / "function"
GLUE_OWN = {"--additional-python-modules", "--job-bookmark-option", "--custom-logGroup-prefix"}  # read by Glue itself
BLOCK = ["CompactJob", "CompactSchedule", "CompactJobRole", "CompactJobErrorLogGroup", "CompactJobOutputLogGroup"]


@pytest.fixture(scope="module")
def job_script() -> types.ModuleType:
    """The script as a module, imported where ``awsglue`` does not exist (it imports it in ``main`` only)."""
    assert "awsglue" not in sys.modules
    spec = importlib.util.spec_from_file_location("compact_job", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def job(template: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"]["CompactJob"]["Properties"]
    return properties


def sub(value: Any) -> str:
    assert isinstance(value, dict) and set(value) == {"Fn::Sub"}, value
    text: str = value["Fn::Sub"]
    return text


def statement(template: dict[str, Any], sid: str) -> dict[str, Any]:
    (policy,) = template["Resources"]["CompactJobRole"]["Properties"]["Policies"]
    (found,) = (s for s in policy["PolicyDocument"]["Statement"] if s.get("Sid") == sid)
    return dict(found)


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- the template ------------------------------------------------------------------------------------------------------


def test_the_script_parses_and_takes_the_jobs_arguments(template: dict[str, Any]) -> None:
    """The script's argument names and the job's DefaultArguments are the same set (Glue's own aside)."""
    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"))
    names = {
        target.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id in {"REQUIRED", "OPTIONAL"}
    }
    given = {key.removeprefix("--") for key in job(template)["DefaultArguments"] if key not in GLUE_OWN}
    assert set(names["REQUIRED"]) - {"JOB_NAME"} <= given  # JOB_NAME: Glue passes it
    assert given <= set(names["REQUIRED"]) | set(names["OPTIONAL"])
    assert not any(isinstance(node, ast.ImportFrom) and node.module.startswith(("awsglue", "pyspark")) for node in tree.body)


def test_the_modules_and_the_script_come_from_the_artifacts_parameters(template: dict[str, Any]) -> None:
    properties = job(template)
    assert sub(properties["Command"]["ScriptLocation"]) == "s3://${ArtifactsBucket}/${ArtifactsPrefix}glue/compact_job.py"
    wheel, extra = sub(properties["DefaultArguments"]["--additional-python-modules"]).split(",")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    distribution = project["name"].replace("-", "_")  # the wheel's file name, as hatchling builds it
    assert wheel == f"s3://${{ArtifactsBucket}}/${{ArtifactsPrefix}}{distribution}-${{TransformCoreVersion}}-py3-none-any.whl"
    assert extra == f"{project['name']}[lake]==${{TransformCoreVersion}}" and "lake" in project["optional-dependencies"]
    assert sub(properties["DefaultArguments"]["--spec"]) == "s3://${ArtifactsBucket}/${ArtifactsPrefix}spec/pipeline.yaml"
    parameters = template["Parameters"]
    assert parameters["TransformCoreVersion"]["Default"] == project["version"]
    assert "Default" not in parameters["ArtifactsBucket"] and parameters["ArtifactsPrefix"]["Default"].endswith("/")


def test_the_job_is_glue_5_on_a_schedule_behind_a_parameter(template: dict[str, Any]) -> None:
    """Glue 5.0 runs Python 3.11; Python shell jobs offer 3.9 at most, older than transform-core supports."""
    properties = job(template)
    assert (properties["GlueVersion"], properties["Command"]["Name"], properties["Command"]["PythonVersion"]) == (
        "5.0",
        "glueetl",
        "3",
    )
    assert properties["ExecutionProperty"] == {"MaxConcurrentRuns": 1} and properties["MaxRetries"] == 0
    trigger = template["Resources"]["CompactSchedule"]["Properties"]
    assert (trigger["Type"], trigger["Schedule"], trigger["StartOnCreation"]) == (
        "SCHEDULED",
        {"Ref": "CuratedJobSchedule"},
        True,
    )
    assert trigger["Actions"] == [{"JobName": {"Ref": "CompactJob"}}]
    parameters = template["Parameters"]
    assert parameters["CuratedJobSchedule"]["Default"] == "cron(0 * * * ? *)"  # hourly
    assert parameters["CuratedJob"]["Default"] == "Enabled" and parameters["CuratedJob"]["AllowedValues"] == [
        "Enabled",
        "Disabled",
    ]
    # only with the raw zone: with DeliveryMode=Iceberg, Firehose writes the curated table and there is nothing to compact
    assert template["Conditions"]["RunCuratedJob"] == {
        "Fn::And": [{"Fn::Equals": [{"Ref": "CuratedJob"}, "Enabled"]}, {"Condition": "DeliverToS3"}]
    }
    assert {name: template["Resources"][name].get("Condition") for name in BLOCK} == dict.fromkeys(BLOCK, "RunCuratedJob")


def test_the_role_reads_raw_and_writes_only_the_curated_table(template: dict[str, Any]) -> None:
    """Least privilege: raw/<table>/ read in the raw bucket, curated/<namespace>/<table>/ written in the curated bucket,
    the curated database and table in Glue, the job's two log groups; the job's arguments point at the same places."""
    raw = statement(template, "ReadRawZone")
    assert raw["Action"] == "s3:GetObject"
    assert [sub(r) for r in raw["Resource"]] == ["${RawBucket.Arn}/raw/${TableName}", "${RawBucket.Arn}/raw/${TableName}/*"]
    curated = statement(template, "WriteCuratedTable")
    assert set(curated["Action"]) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
    assert [sub(r) for r in curated["Resource"]] == [
        "${CuratedBucket.Arn}/curated/${CuratedNamespace}/${TableName}",
        "${CuratedBucket.Arn}/curated/${CuratedNamespace}/${TableName}/*",
    ]
    (policy,) = template["Resources"]["CompactJobRole"]["Properties"]["Policies"]
    for each in policy["PolicyDocument"]["Statement"]:  # nothing but the curated table is written
        if any(a in {"s3:PutObject", "s3:DeleteObject"} for a in listed(each["Action"])):
            assert each["Sid"] == "WriteCuratedTable"
    glue = statement(template, "CuratedTableInGlue")
    assert all(action.startswith("glue:") and "Delete" not in action for action in glue["Action"])
    assert [sub(r).rpartition(":")[2] for r in glue["Resource"]] == [
        "catalog",
        "database/${CuratedNamespace}",
        "table/${CuratedNamespace}/${TableName}",
    ]
    artifacts = statement(template, "ReadArtifacts")
    assert (artifacts["Action"], sub(artifacts["Resource"])) == (
        "s3:GetObject",
        "arn:${AWS::Partition}:s3:::${ArtifactsBucket}/${ArtifactsPrefix}*",
    )
    logs = statement(template, "WriteJobLogs")
    assert logs["Resource"] == [
        {"Fn::GetAtt": ["CompactJobErrorLogGroup", "Arn"]},
        {"Fn::GetAtt": ["CompactJobOutputLogGroup", "Arn"]},
    ]
    arguments = job(template)["DefaultArguments"]
    assert (sub(arguments["--lake"]), sub(arguments["--curated_lake"])) == ("s3://${RawBucket}", "s3://${CuratedBucket}")
    assert arguments["--namespace"] == {"Ref": "CuratedNamespace"}
    prefix = sub(arguments["--custom-logGroup-prefix"])  # Glue 5.0 logs to <prefix>/error and <prefix>/output
    for kind, group in (("error", "CompactJobErrorLogGroup"), ("output", "CompactJobOutputLogGroup")):
        assert sub(template["Resources"][group]["Properties"]["LogGroupName"]) == f"{prefix}/{kind}"


def test_the_curated_namespace_cannot_be_the_raw_database(template: dict[str, Any]) -> None:
    """compact names the curated table after the spec, as the raw table is named: one database cannot hold both."""
    rule = template["Rules"]["CuratedJobTableIsNotTheRawTable"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "CuratedJob"}, "Enabled"]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "CuratedNamespace"}, {"Ref": "DatabaseName"}]}]}


# --- the script ------------------------------------------------------------------------------------------------------------


def test_the_arguments_make_a_compact_command_line(job_script: types.ModuleType) -> None:
    args = {"lake": "s3://raw", "namespace": "curated", "key": "event_id", "target_rows": "5000", "partitions": "a=1, b=2,"}
    parsed = build_parser().parse_args(job_script.compact_argv(args, "/tmp/spec/pipeline.yaml"))
    assert (parsed.spec, parsed.lake, parsed.catalog, parsed.namespace) == (
        "/tmp/spec/pipeline.yaml",
        "s3://raw",
        "glue",
        "curated",
    )
    assert (parsed.key, parsed.target_rows, parsed.partition) == ("event_id", 5000, ["a=1", "b=2"])
    plain = build_parser().parse_args(job_script.compact_argv({"lake": "s3://raw", "namespace": "ns"}, "p.yaml"))
    assert (plain.key, plain.target_rows, plain.partition) == (None, 1_000_000, None)


class Glue:
    """Stand-ins for the Glue libraries the script imports, recording what it did with them."""

    def __init__(self) -> None:
        self.committed = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        glue = self

        def get_resolved_options(argv: list[str], names: list[str]) -> dict[str, str]:  # Glue's, for --name value pairs
            pairs = dict(zip(argv[1::2], argv[2::2], strict=False))
            missing = [name for name in names if f"--{name}" not in pairs]
            assert not missing, missing
            return {name: pairs[f"--{name}"] for name in names}

        class Job:
            def __init__(self, context: object) -> None:
                pass

            def init(self, name: str, args: dict[str, str]) -> None:
                assert name == args["JOB_NAME"]

            def commit(self) -> None:
                glue.committed += 1

        modules = {
            "awsglue": types.ModuleType("awsglue"),
            "awsglue.context": types.SimpleNamespace(GlueContext=lambda spark: object()),
            "awsglue.job": types.SimpleNamespace(Job=Job),
            "awsglue.utils": types.SimpleNamespace(getResolvedOptions=get_resolved_options),
            "pyspark.context": types.SimpleNamespace(SparkContext=types.SimpleNamespace(getOrCreate=lambda: object())),
        }
        for name, module in modules.items():
            monkeypatch.setitem(sys.modules, name, module)


class Stack:
    """Buckets as the stack makes them: raw (Firehose's raw zone), curated, artifacts (the spec folder)."""

    def __init__(self, moto_server: str, raw: str) -> None:
        import boto3

        self.s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
        self.glue = boto3.client("glue", endpoint_url=moto_server, region_name="us-east-1")
        self.raw, self.curated, self.artifacts = raw, f"curated-{uuid.uuid4().hex[:12]}", f"artifacts-{uuid.uuid4().hex[:12]}"
        self.namespace = f"curated_{uuid.uuid4().hex[:12]}"
        for bucket in (self.curated, self.artifacts):
            self.s3.create_bucket(Bucket=bucket)
        for path in FUNCTION.rglob("*"):  # aws s3 sync deploy/function s3://<artifacts>/transform-core/spec/
            if path.is_file():
                self.s3.upload_file(str(path), self.artifacts, f"transform-core/spec/{path.relative_to(FUNCTION)}")

    def argv(self, **changes: str) -> list[str]:
        args = {
            "--JOB_NAME": "stack-compact",
            "--spec": f"s3://{self.artifacts}/transform-core/spec/pipeline.yaml",
            "--lake": f"s3://{self.raw}",
            "--curated_lake": f"s3://{self.curated}",
            "--namespace": self.namespace,
            "--aws_region": "us-east-1",
            "--job-bookmark-option": "job-bookmark-disable",
        } | changes
        return ["compact_job.py", *[part for pair in args.items() for part in pair]]

    def keys(self, bucket: str) -> list[str]:
        return [
            o["Key"]
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])
        ]


@pytest.fixture
def stack(pipeline: Pipeline, s3_bucket: str, moto_server: str) -> Stack:
    done = process(pipeline, 200, 0.05, seed=3)
    LakeWriter(pipeline.spec, f"s3://{s3_bucket}", rows_per_file=50).write(done.result, done.batch, batch_id="b1")
    return Stack(moto_server, s3_bucket)


def test_the_job_creates_the_table_in_the_curated_bucket_and_compacts_into_it(
    job_script: types.ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    glue = Glue()
    glue.install(monkeypatch)
    raw = stack.keys(stack.raw)

    assert job_script.main(stack.argv()) == 0

    out, err = capsys.readouterr()
    assert err == "" and "compacted" in out
    assert out.splitlines()[-1].startswith(f"{stack.namespace}.{TABLE} snapshot ") and out.endswith("(committed)\n")
    table = stack.glue.get_table(DatabaseName=stack.namespace, Name=TABLE)["Table"]
    location = f"s3://{stack.curated}/curated/{stack.namespace}/{TABLE}"
    assert table["StorageDescriptor"]["Location"] == location
    assert table["Parameters"]["metadata_location"].startswith(f"{location}/metadata/")
    data = [key for key in stack.keys(stack.curated) if key.endswith(".parquet")]
    assert data and all(key.startswith(f"curated/{stack.namespace}/{TABLE}/data/") for key in data)
    assert stack.keys(stack.raw) == raw  # the raw bucket is only read
    assert glue.committed == 1

    assert job_script.main(stack.argv()) == 0  # the next run: nothing new
    assert capsys.readouterr().out.endswith("(nothing to commit)\n") and glue.committed == 2


def test_a_problem_file_fails_the_run(
    job_script: types.ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    Glue().install(monkeypatch)
    folder = min(key.rpartition("/")[0] for key in stack.keys(stack.raw) if key.startswith(f"raw/{TABLE}/"))
    stack.s3.put_object(Bucket=stack.raw, Key=f"{folder}/notes.txt", Body=b"not a raw-zone file\n")

    assert job_script.main(stack.argv()) == 1

    out, err = capsys.readouterr()
    assert f"problem    {folder.removeprefix(f'raw/{TABLE}/')}" in out and f"{folder}/notes.txt" in err
    assert "partitions not compacted (the table keeps what it had for them)" in err.splitlines()[-1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--spec": "s3://{artifacts}/transform-core/elsewhere/pipeline.yaml"}, "ValueError: no spec at s3://"),
        ({"--spec": "s3://{artifacts}/pipeline.yaml"}, "ValueError: --spec must be s3://bucket/folder/pipeline.yaml"),
        ({"--target_rows": "0"}, "transform-core compact: error: target_rows must be at least 1, got 0"),
    ],
)
def test_errors_are_one_line_and_fail_the_run(
    job_script: types.ModuleType,
    stack: Stack,
    change: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    glue = Glue()
    glue.install(monkeypatch)

    assert job_script.main(stack.argv(**{k: v.format(artifacts=stack.artifacts) for k, v in change.items()})) == 1

    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err and glue.committed == 0
