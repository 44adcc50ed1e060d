"""What a command prints when the environment fails it: one line on stderr saying what failed, where and what to do,
exit status 1, never a traceback; a bug (an exception of no known kind) still raises. S3 and Glue run on the loopback
moto server; a read-only or full file system is simulated where the write happens (the OS error it raises)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.lake import EXAMPLE, process
from transform_core.cli import main
from transform_core.cli.errors import describe, environment_errors, with_advice
from transform_core.demo.generate import iot_payloads
from transform_core.engine import Pipeline
from transform_core.errors import ConfigurationEnvironmentError
from transform_core.lake import LakeWriter

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(EXAMPLE)
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused at once


def one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run a command that must fail on its environment; returns its one line on stderr."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("transform-core"), err
    return err


@pytest.fixture
def records(tmp_path: Path) -> str:
    path = tmp_path / "records.ndjson"
    path.write_bytes(b"\n".join(p.data for p in iot_payloads(50, 0.1, seed=3) if not p.corrupt_base64) + b"\n")
    return str(path)


@pytest.fixture
def raw_lake(pipeline: Pipeline, tmp_path: Path) -> Path:
    """A local lake with a raw zone."""
    done = process(pipeline, 100, 0.05, seed=1)
    LakeWriter(pipeline.spec, str(tmp_path / "lake")).write(done.result, done.batch, batch_id="b1")
    return tmp_path / "lake"


@pytest.fixture
def s3_lake(pipeline: Pipeline, s3_bucket: str, tmp_path: Path) -> tuple[str, str]:
    """A lake on the loopback S3 with a raw zone and a curated table; returns its root and its catalog file."""
    root, catalog_file = f"s3://{s3_bucket}/lake", str(tmp_path / "iceberg.db")
    done = process(pipeline, 100, 0.05, seed=1)
    LakeWriter(pipeline.spec, root).write(done.result, done.batch, batch_id="b1")
    assert main(["compact", "--spec", SPEC, "--lake", root, "--catalog-file", catalog_file]) == 0
    return root, catalog_file


# --- S3: a missing bucket, an unreachable endpoint ------------------------------------------------------------------


def lake_commands(root: str, catalog_file: str, records: str, output: str) -> dict[str, list[str]]:
    """Each lake command, pointed at ``root``."""
    lake = ["--spec", SPEC, "--lake", root]
    catalog = ["--catalog-file", catalog_file]
    return {
        "reprocess": ["reprocess", *lake, "--workers", "1", records],
        "reprocess --dry-run": ["reprocess", *lake, "--dry-run", "--workers", "1", records],
        "query": ["query", *lake, *catalog, "SELECT count(*) AS n FROM raw_iot_telemetry"],
        "compact": ["compact", *lake, *catalog],
        "expire": ["expire", *lake, *catalog],
        "export": ["export", *lake, *catalog, "--target", "value", "--output", output],
    }


@pytest.mark.parametrize("command", ["reprocess", "reprocess --dry-run", "query", "compact", "expire"])
def test_a_missing_bucket_is_one_line_naming_it(
    command: str, s3_bucket: str, records: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"{s3_bucket}-missing"
    argv = lake_commands(f"s3://{missing}/lake", str(tmp_path / "iceberg.db"), records, str(tmp_path / "out"))[command]
    err = one_line(argv, capsys)
    assert f"S3 bucket '{missing}' does not exist (s3://{missing}/lake" in err and "create it" in err


def test_a_missing_input_bucket_is_one_line(s3_bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = f"{s3_bucket}-missing"
    err = one_line(["reprocess", "--spec", SPEC, "--lake", str(tmp_path / "lake"), f"s3://{missing}/in/"], capsys)
    assert f"S3 bucket '{missing}' does not exist (s3://{missing}/in/)" in err


@pytest.mark.parametrize("command", ["reprocess", "reprocess --dry-run", "query", "compact", "expire", "export"])
def test_an_unreachable_endpoint_is_one_line(
    command: str,
    s3_lake: tuple[str, str],
    records: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, catalog_file = s3_lake
    capsys.readouterr()
    monkeypatch.setenv("AWS_ENDPOINT_URL", UNREACHABLE)
    err = one_line(lake_commands(root, catalog_file, records, str(tmp_path / "out"))[command], capsys)
    assert "cannot reach S3 for s3://" in err and "Could not connect" in err and "check --endpoint-url" in err


def test_an_unreachable_input_endpoint_is_one_line(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", UNREACHABLE)
    err = one_line(["reprocess", "--spec", SPEC, "--lake", str(tmp_path / "lake"), f"s3://{s3_bucket}/in/"], capsys)
    assert f"cannot reach S3 for s3://{s3_bucket}/in" in err


def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata lookup off the loopback
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # boto3.client's session keeps the credentials it found


@pytest.mark.parametrize("command", ["catalog --register", "compact --catalog glue", "query --catalog glue"])
def test_no_aws_credentials_is_one_line_saying_what_to_set(
    command: str,
    pipeline: Pipeline,
    s3_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = f"s3://{s3_bucket}/lake"
    done = process(pipeline, 50, 0.0, seed=2)
    LakeWriter(pipeline.spec, root).write(done.result, done.batch, batch_id="b1")
    no_credentials(monkeypatch, tmp_path)
    argv = {
        "catalog --register": ["catalog", "--spec", SPEC, "--location", root, "--database", "db", "--register"],
        "compact --catalog glue": ["compact", "--spec", SPEC, "--lake", root, "--catalog", "glue"],
        "query --catalog glue": ["query", "--spec", SPEC, "--lake", root, "--catalog", "glue", "SELECT 1"],
    }[command]
    err = one_line(argv, capsys)
    assert "Unable to locate credentials" in err and "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in err


# --- local lakes: a file in the way, read-only, full --------------------------------------------------------------------


@pytest.mark.parametrize("command", ["reprocess", "reprocess --dry-run", "query", "compact"])
def test_a_lake_that_is_a_file_is_one_line_naming_it(
    command: str, records: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "lake.txt"
    file.write_text("not a lake")
    err = one_line(lake_commands(str(file), str(tmp_path / "iceberg.db"), records, str(tmp_path / "out"))[command], capsys)
    assert f"{file} is a file, not a folder: name a folder" in err


@pytest.mark.parametrize("command", ["compact", "export", "expire"])
def test_a_lake_that_is_a_file_is_one_line_with_the_lakes_own_catalog(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "lake.txt"
    file.write_text("not a lake")
    argv = [command, "--spec", SPEC, "--lake", str(file)]
    err = one_line([*argv, "--target", "value", "--output", str(tmp_path / "out")] if command == "export" else argv, capsys)
    assert f"{file}: a file, not a folder" in err if command == "expire" else f"{file} is a file, not a folder" in err


def test_an_output_below_a_file_is_one_line(raw_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "taken"
    file.write_text("")
    sql = "SELECT * FROM raw_iot_telemetry"
    err = one_line(
        ["query", "--spec", SPEC, "--lake", str(raw_lake), "--format", "csv", "--output", f"{file}/x.csv", sql], capsys
    )
    assert f"{file} is a file, not a folder" in err


def refuse_writes(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """The lake writer's files (and the check before a run) fail to open for writing with ``code``."""
    from transform_core.lake import storage

    def opened(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(flag in mode for flag in "wax+"):
            raise OSError(code, os.strerror(code), str(file))
        return open(file, mode, *args, **kwargs)

    monkeypatch.setattr(storage, "open", opened, raising=False)


def refuse_table_writes(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """pyiceberg's data and metadata files fail as pyarrow reports it: an errno, no filename, the path quoted."""
    from pyiceberg.io.pyarrow import PyArrowFile

    def create(self: Any, overwrite: bool = False) -> Any:
        raise OSError(code, f"Failed to open local file '{self._path}'. Detail: [errno {code}] {os.strerror(code)}")

    monkeypatch.setattr(PyArrowFile, "create", create)


@pytest.mark.parametrize(
    ("code", "said"), [(errno.EROFS, "the file system is read-only"), (errno.ENOSPC, "no space left on the device")]
)
def test_reprocess_into_a_read_only_or_full_lake_is_one_line_before_any_file(
    code: int, said: str, records: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    refuse_writes(monkeypatch, code)
    lake = tmp_path / "lake"
    err = one_line(["reprocess", "--spec", SPEC, "--lake", str(lake), "--workers", "1", records], capsys)
    assert err.startswith(f"transform-core: error: {lake}: {said}: ")  # the lake named, not the probe written in it
    assert not list(lake.rglob("*.parquet"))


def test_a_dry_run_refuses_a_read_only_lake_without_writing(
    records: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    statvfs = os.statvfs

    def read_only(path: Any) -> Any:
        found = statvfs(path)
        return type("Stat", (), {"f_flag": found.f_flag | os.ST_RDONLY})()

    monkeypatch.setattr(os, "statvfs", read_only)
    lake = tmp_path / "lake"
    err = one_line(["reprocess", "--spec", SPEC, "--lake", str(lake), "--dry-run", "--workers", "1", records], capsys)
    assert err.startswith(f"transform-core: error: {tmp_path}: the file system is read-only: ") and not lake.exists()


def test_a_disk_that_fills_during_reprocess_is_listed_and_said_in_one_line(
    records: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from transform_core.lake import writer

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer.LakeWriter, "write", full)
    assert main(["reprocess", "--spec", SPEC, "--lake", str(tmp_path / "lake"), "--workers", "1", records]) == 1
    out, err = capsys.readouterr()
    assert f"{records}: OSError: [Errno 28] No space left on device" in out
    assert err == (
        "transform-core reprocess: error: 1 input file not read in full (listed above): fix the cause and run the same "
        "command again (what they wrote is replaced)\n"
    )


@pytest.mark.parametrize(
    ("code", "said"), [(errno.EROFS, "the file system is read-only"), (errno.ENOSPC, "no space left on the device")]
)
def test_compact_into_a_read_only_or_full_lake_is_one_line_naming_the_file(
    code: int, said: str, raw_lake: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    refuse_table_writes(monkeypatch, code)
    err = one_line(["compact", "--spec", SPEC, "--lake", str(raw_lake)], capsys)
    assert err.startswith(f"transform-core: error: {raw_lake}/curated/transform_core/iot_telemetry/") and f": {said}: " in err


def test_a_catalog_file_in_a_read_only_folder_is_one_line(
    raw_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlalchemy.exc

    from transform_core.lake.curated import catalogs

    def refused(path: Path, properties: dict[str, str]) -> None:
        raise sqlalchemy.exc.OperationalError("CREATE TABLE …", {}, Exception("attempt to write a readonly database"))

    monkeypatch.setattr(catalogs, "_new_sql_catalog", refused)
    err = one_line(["compact", "--spec", SPEC, "--lake", str(raw_lake), "--catalog-file", str(tmp_path / "c.db")], capsys)
    assert "the SQL catalog's SQLite file: attempt to write a readonly database: check that the catalog file" in err


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_full_disk_under_query_output_is_one_line_naming_the_file(
    fmt: str, raw_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import polars as pl

    def full_text(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")  # as Python's write reports it: no file named

    def full_parquet(*args: Any, **kwargs: Any) -> Any:
        raise pl.exceptions.ComputeError("parquet: File out of specification: underlying IO error: No space (os error 28)")

    monkeypatch.setattr(Path, "write_text", full_text)
    monkeypatch.setattr(pl.DataFrame, "write_parquet", full_parquet)
    output = tmp_path / f"out.{fmt}"
    argv = ["query", "--spec", SPEC, "--lake", str(raw_lake), "--format", fmt, "--output", str(output), "SELECT 1 AS n"]
    err = one_line(argv, capsys)
    assert err.startswith(f"transform-core: error: {output}: no space left on the device: free some space")


# --- the boundary itself ------------------------------------------------------------------------------------------------


def test_a_bug_still_raises_with_its_traceback(raw_lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transform_core.lake import query

    def broken(*args: Any, **kwargs: Any) -> Any:
        return {}["no such key"]

    monkeypatch.setattr(query, "query", broken)
    with pytest.raises(KeyError, match="no such key"):
        main(["query", "--spec", SPEC, "--lake", str(raw_lake), "SELECT 1"])


def test_a_spec_that_is_not_yaml_is_one_line(tmp_path: Path, records: str, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text("version: 1\nname: [x\n")
    err = one_line(["reprocess", "--spec", str(spec), "--dry-run", records], capsys)
    assert err == (
        f"transform-core: error: {spec}: not valid YAML: line 3, column 1: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence)\n"
    )


def test_the_process_prints_one_line_and_no_traceback(s3_bucket: str, tmp_path: Path) -> None:
    missing = f"{s3_bucket}-missing"
    argv = ["compact", "--spec", SPEC, "--lake", f"s3://{missing}/lake", "--catalog-file", str(tmp_path / "c.db")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"PYTHONPATH": str(ROOT)}
    child = subprocess.run([sys.executable, "-m", "transform_core.cli", *argv], env=env, capture_output=True, text=True)
    assert (child.returncode, child.stdout) == (1, "")
    assert child.stderr == (
        f"transform-core: error: S3 bucket '{missing}' does not exist (s3://{missing}/lake/raw/iot_telemetry): create it, "
        "or name another bucket\n"
    )


# --- describe: the messages, one per kind -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            OSError(
                "When initiating multiple part upload for key 'x/a.json' in bucket 'b': AWS Error NO_SUCH_BUCKET during "
                "CreateMultipartUpload operation: The specified bucket does not exist (Request ID: 7)"
            ),
            "S3 bucket 'b' does not exist (s3://b/x/a.json): create it, or name another bucket",
        ),
        (
            OSError(
                "When getting information for bucket 'b': AWS Error NETWORK_CONNECTION during HeadBucket operation: "
                "curlCode: 7, Could not connect to server; Details: Failed to connect to 127.0.0.1:9 after 0 ms: x"
            ),
            "cannot reach S3 for s3://b: Failed to connect to 127.0.0.1:9 after 0 ms: x: check --endpoint-url, the "
            "AWS_ENDPOINT_URL variables and the network",
        ),
        (
            OSError(
                "When reading information for key 'k' in bucket 'b': AWS Error ACCESS_DENIED during HeadObject operation: "
                "No response body."
            ),
            "S3 refused HeadObject on s3://b/k (ACCESS_DENIED): check the credentials and their permissions",
        ),
        (
            OSError(
                "When listing objects under key 'p/' in bucket 'b': AWS Error UNKNOWN (HTTP status 403) during "
                "ListObjectsV2 operation: Forbidden"
            ),
            "S3 refused ListObjectsV2 on s3://b/p/ (UNKNOWN): check the credentials and their permissions",
        ),
        (OSError(errno.ENOSPC, "No space left on device", "/lake/x"), "/lake/x: no space left on the device: free some"),
        (OSError(errno.EDQUOT, "Disk quota exceeded", "/lake/x"), "/lake/x: no space left on the device: free some"),
        (OSError("IO error: No space left on device (os error 28)"), "no space left on the device: free some"),
        (PermissionError(errno.EACCES, "Permission denied", "/lake"), "/lake: permission denied: give this user"),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "/x"), "/x: No such file or directory"),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "/x"), "/x is a folder, not a file: name a file"),
        (OSError("something odd"), "something odd"),
    ],
)
def test_describe_an_os_error(error: OSError, line: str) -> None:
    assert isinstance(error, environment_errors())
    assert describe(error).startswith(line)


def test_describe_a_file_in_the_way_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    error = NotADirectoryError(errno.ENOTDIR, "Not a directory", str(tmp_path / "f" / "a" / "b"))
    assert describe(error) == f"{tmp_path / 'f'} is a file, not a folder: name a folder (--lake, --output), or move the file away"


def test_describe_botocore_errors() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError, ParamValidationError

    known = environment_errors()
    assert isinstance(NoCredentialsError(), known) and isinstance(EndpointConnectionError(endpoint_url="x"), known)
    assert not isinstance(ParamValidationError(report="a bug: a call of ours is wrong"), known)
    assert describe(NoCredentialsError()) == (
        "AWS: Unable to locate credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or run "
        "where a role gives them"
    )
    assert describe(NoRegionError()).endswith(": set AWS_REGION (or --region)")
    assert describe(EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")) == (
        'AWS: Could not connect to the endpoint URL: "http://127.0.0.1:9/": check --endpoint-url, the AWS_ENDPOINT_URL '
        "variables and the network"
    )
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetTable")
    assert describe(denied) == "AWS refused GetTable: AccessDeniedException: no: check the credentials' permissions"


def test_an_error_of_ours_caused_by_aws_gets_what_to_do() -> None:
    from botocore.exceptions import ClientError, NoCredentialsError

    try:
        raise ConfigurationEnvironmentError("Glue: Unable to locate credentials") from NoCredentialsError()
    except ConfigurationEnvironmentError as err:
        assert with_advice(err).endswith(
            ": set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or run where a role gives them"
        )
    refused = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetTable")
    try:
        raise ConfigurationEnvironmentError("Glue: no") from refused
    except ConfigurationEnvironmentError as err:
        assert with_advice(err) == "Glue: no"  # the service's answer says what it is
    assert with_advice(ConfigurationEnvironmentError("plain")) == "plain"
