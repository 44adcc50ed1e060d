"""The curated table in Glue, on a loopback Glue + S3 server (moto): the Glue table Athena reads, written by
``compact --catalog glue`` or registered from the SQL catalog by ``catalog --zone curated --register``, and the Athena
statements ``catalog --zone curated`` prints.

moto's Glue keeps a table's versions but does not check the ``VersionId`` an ``UpdateTable`` carries: Glue's
optimistic locking of concurrent commits is not proven here (see ``test_the_local_glue_does_not_check_version_ids``).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date
from pathlib import Path
from typing import Any, Literal, NamedTuple

import polars as pl
import pytest
import sqlglot
from polars.testing import assert_frame_equal
from sqlglot import exp

from tests.helpers.curated import make_spec, read_curated, read_raw_zone
from tests.helpers.lake import EXAMPLE, TABLE, process
from transform_core.cli import main
from transform_core.engine import Pipeline
from transform_core.lake import LakeWriter
from transform_core.lake.curated import CatalogSettings, catalog_settings, compact, curated_table
from transform_core.lake.curated.athena import athena_statements
from transform_core.lake.curated.catalogs import open_catalog
from transform_core.lake.query import query

DAY = date(2026, 11, 27)


class GlueLake(NamedTuple):
    root: str  # s3://bucket/lake, with a raw zone
    namespace: str  # a Glue database no other test uses (the server lives for the session)
    settings: CatalogSettings  # --catalog glue --namespace <namespace>
    glue: Any  # a boto3 Glue client on the server
    s3: Any  # a boto3 S3 client on the server
    bucket: str


@pytest.fixture
def lake(pipeline: Pipeline, s3_bucket: str, moto_server: str) -> GlueLake:
    import boto3

    root = f"s3://{s3_bucket}/lake"
    write_raw(pipeline, root, "b1", seed=1)
    write_raw(pipeline, root, "b2", seed=1)  # the same records again: compact removes the copies
    namespace = f"curated_{uuid.uuid4().hex[:12]}"
    clients = {name: boto3.client(name, endpoint_url=moto_server, region_name="us-east-1") for name in ("glue", "s3")}
    settings = catalog_settings(kind="glue", namespace=namespace)
    return GlueLake(root, namespace, settings, clients["glue"], clients["s3"], s3_bucket)


def write_raw(pipeline: Pipeline, root: str, batch_id: str, seed: int) -> None:
    done = process(pipeline, 200, 0.05, seed=seed)
    LakeWriter(pipeline.spec, root, rows_per_file=40).write(done.result, done.batch, batch_id=batch_id)


def glue_table(lake: GlueLake, database: str | None = None) -> dict[str, Any]:
    table: dict[str, Any] = lake.glue.get_table(DatabaseName=database or lake.namespace, Name=TABLE)["Table"]
    return table


def read_json(lake: GlueLake, uri: str) -> dict[str, Any]:
    key = uri.removeprefix(f"s3://{lake.bucket}/")
    document: dict[str, Any] = json.loads(lake.s3.get_object(Bucket=lake.bucket, Key=key)["Body"].read())
    return document


def sorted_rows(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("_source_record_id")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# --- compact --catalog glue ----------------------------------------------------------------------------------------------


def test_compact_creates_the_database_and_the_glue_table_athena_reads(pipeline: Pipeline, lake: GlueLake) -> None:
    summary = compact(pipeline.spec, lake.root, catalog=lake.settings)

    assert summary.committed and summary.table == f"{lake.namespace}.{TABLE}"
    assert lake.glue.get_database(Name=lake.namespace)["Database"]["Name"] == lake.namespace
    table = glue_table(lake)
    location = f"{lake.root}/curated/{lake.namespace}/{TABLE}"
    parameters = table["Parameters"]
    assert parameters["table_type"] == "ICEBERG"  # upper case, as Athena and Iceberg's own Glue catalog write it
    assert table["TableType"] == "EXTERNAL_TABLE" and table["StorageDescriptor"]["Location"] == location
    assert parameters["metadata_location"].startswith(f"{location}/metadata/")
    assert parameters["metadata_location"].endswith(".metadata.json")
    metadata = read_json(lake, parameters["metadata_location"])  # an existing object: get_object raises otherwise
    assert metadata["current-snapshot-id"] == summary.snapshot_id
    assert (metadata["location"], metadata["format-version"]) == (location, 2)
    assert parameters["transform-core.event-time"] == "event_time"  # the table's properties are copied to Glue
    schema = next(s for s in metadata["schemas"] if s["schema-id"] == metadata["current-schema-id"])
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [f["name"] for f in schema["fields"]]


def test_each_commit_moves_the_metadata_location_and_keeps_the_previous_one(pipeline: Pipeline, lake: GlueLake) -> None:
    first = compact(pipeline.spec, lake.root, catalog=lake.settings)
    before = glue_table(lake)

    write_raw(pipeline, lake.root, "b3", seed=2)
    second = compact(pipeline.spec, lake.root, catalog=lake.settings)

    after = glue_table(lake)
    assert second.committed and second.snapshot_id != first.snapshot_id
    was, now = before["Parameters"]["metadata_location"], after["Parameters"]["metadata_location"]
    assert now != was and after["Parameters"]["previous_metadata_location"] == was
    assert read_json(lake, was)["current-snapshot-id"] == first.snapshot_id
    assert read_json(lake, now)["current-snapshot-id"] == second.snapshot_id
    assert int(after["VersionId"]) == int(before["VersionId"]) + 1  # one UpdateTable per commit


def test_rows_read_through_glue_equal_the_sql_catalogs(pipeline: Pipeline, lake: GlueLake, tmp_path: Path) -> None:
    sql = catalog_settings(catalog_file=str(tmp_path / "iceberg.db"))  # the same raw zone, its own table
    compact(pipeline.spec, lake.root, catalog=sql)
    compact(pipeline.spec, lake.root, catalog=lake.settings)

    through_glue = read_curated(pipeline.spec, lake.root, catalog=lake.settings)

    assert_frame_equal(sorted_rows(through_glue), sorted_rows(read_curated(pipeline.spec, lake.root, catalog=sql)))
    assert through_glue.height == read_raw_zone(pipeline.spec, lake.root)["event_id"].n_unique()
    table = curated_table(pipeline.spec, lake.root, catalog=lake.settings)
    assert table is not None and table.metadata_location == glue_table(lake)["Parameters"]["metadata_location"]
    counted = query(pipeline.spec, f"SELECT count(*) AS n FROM {TABLE}", root=lake.root, catalog=lake.settings)
    assert counted["n"].to_list() == [through_glue.height]


def test_a_rerun_with_nothing_new_commits_nothing_to_glue(pipeline: Pipeline, lake: GlueLake) -> None:
    first = compact(pipeline.spec, lake.root, catalog=lake.settings)
    before = glue_table(lake)
    prefix = f"lake/curated/{lake.namespace}/{TABLE}/"
    files = [o["Key"] for o in lake.s3.list_objects_v2(Bucket=lake.bucket, Prefix=prefix)["Contents"]]

    again = compact(pipeline.spec, lake.root, catalog=lake.settings)

    assert not again.committed and again.snapshot_id == first.snapshot_id
    after = glue_table(lake)
    assert (after["VersionId"], after["Parameters"]) == (before["VersionId"], before["Parameters"])
    assert [o["Key"] for o in lake.s3.list_objects_v2(Bucket=lake.bucket, Prefix=prefix)["Contents"]] == files


def test_time_travel_through_glue(pipeline: Pipeline, lake: GlueLake, capsys: pytest.CaptureFixture[str]) -> None:
    first = compact(pipeline.spec, lake.root, catalog=lake.settings)
    then = read_curated(pipeline.spec, lake.root, catalog=lake.settings)
    write_raw(pipeline, lake.root, "b3", seed=2)
    compact(pipeline.spec, lake.root, catalog=lake.settings)

    now = read_curated(pipeline.spec, lake.root, catalog=lake.settings)
    as_of = read_curated(pipeline.spec, lake.root, catalog=lake.settings, as_of=str(first.snapshot_id))

    assert now.height > then.height
    assert_frame_equal(sorted_rows(as_of), sorted_rows(then))
    options = ["--lake", lake.root, "--catalog", "glue", "--namespace", lake.namespace, "--format", "json"]
    sql = f"SELECT count(*) AS n FROM {TABLE}"
    code, out, _ = run(["query", "--spec", str(EXAMPLE), *options, "--as-of", str(first.snapshot_id), sql], capsys)
    assert (code, json.loads(out)) == (0, [{"n": then.height}])


def test_the_command_line_compacts_into_glue(lake: GlueLake, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["compact", "--spec", str(EXAMPLE), "--lake", lake.root, "--catalog", "glue", "--namespace", lake.namespace]

    code, out, err = run(argv, capsys)

    assert (code, err) == (0, "")
    snapshot = read_json(lake, glue_table(lake)["Parameters"]["metadata_location"])["current-snapshot-id"]
    assert out.splitlines()[-1] == f"{lake.namespace}.{TABLE} snapshot {snapshot} (committed)"
    assert run(argv, capsys)[1].splitlines()[-1] == f"{lake.namespace}.{TABLE} snapshot {snapshot} (nothing to commit)"


# --- what the local server proves of concurrent commits, and what it does not ---------------------------------------------


def test_a_commit_from_a_stale_table_fails_against_glue(pipeline: Pipeline, lake: GlueLake) -> None:
    from pyiceberg.exceptions import CommitFailedException
    from pyiceberg.table import Table, TableProperties

    compact(pipeline.spec, lake.root, catalog=lake.settings)
    loaded = open_catalog(lake.root, lake.settings).load_table((lake.namespace, TABLE))
    once = {**loaded.metadata.properties, TableProperties.COMMIT_NUM_RETRIES: "0"}  # as compact commits: no replay
    metadata = loaded.metadata.model_copy(update={"properties": once})
    stale = Table(loaded.name(), metadata, loaded.metadata_location, loaded.io, loaded.catalog)
    write_raw(pipeline, lake.root, "b3", seed=2)
    winner = compact(pipeline.spec, lake.root, catalog=lake.settings)
    location = glue_table(lake)["Parameters"]["metadata_location"]

    # pyiceberg re-reads the Glue table and checks the commit's requirements (the branch's snapshot) against it
    with pytest.raises(CommitFailedException, match="has changed"):
        stale.append(stale.scan().to_arrow())

    assert glue_table(lake)["Parameters"]["metadata_location"] == location
    assert read_json(lake, location)["current-snapshot-id"] == winner.snapshot_id


def test_the_local_glue_does_not_check_version_ids(lake: GlueLake) -> None:
    lake.glue.create_database(DatabaseInput={"Name": lake.namespace})
    table = {"Name": "t", "Parameters": {"metadata_location": "s3://b/0.metadata.json"}}
    lake.glue.create_table(DatabaseName=lake.namespace, TableInput=table)
    read = lake.glue.get_table(DatabaseName=lake.namespace, Name="t")["Table"]["VersionId"]
    for n in (1, 2):  # two writers that read the same version
        table = {"Name": "t", "Parameters": {"metadata_location": f"s3://b/{n}.metadata.json"}}
        lake.glue.update_table(DatabaseName=lake.namespace, TableInput=table, VersionId=read)

    # AWS Glue refuses the second update (ConcurrentModificationException); moto takes it, so a commit that loses
    # that race between GetTable and UpdateTable overwrites the winner here instead of failing
    current = lake.glue.get_table(DatabaseName=lake.namespace, Name="t")["Table"]
    assert current["Parameters"]["metadata_location"] == "s3://b/2.metadata.json"
    assert int(current["VersionId"]) == int(read) + 2


# --- catalog --zone curated: the Athena statements ----------------------------------------------------------------------


def statements(text: str) -> list[str]:
    """The statements of the text, comments (and commented-out statements) left out."""
    code = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    return [s.strip() for s in code.split(";") if s.strip()]


@pytest.mark.parametrize("catalog", ["sql", "glue"])
def test_the_statements_read_the_table_by_its_event_time(catalog: Literal["sql", "glue"]) -> None:
    text = athena_statements(make_spec(), "s3://my-lake/", database="Telemetry", catalog=catalog, day=DAY)

    assert "-- at s3://my-lake/curated/transform_core/t/ (data/ and metadata/)." in text
    assert "Partitioned by day(ts): a filter on ts opens only" in text
    selects, rest = [], []
    for statement in statements(text):
        (selects if statement.startswith("SELECT") else rest).append(statement)
    trees = [sqlglot.parse_one(s, read="athena") for s in selects]
    assert all(isinstance(tree, exp.Select) for tree in trees)
    tables = [tree.find(exp.Table) for tree in trees]
    assert [(t.db, t.name) for t in tables if t is not None] == [
        ("telemetry", "t"),
        ("telemetry", "t$snapshots"),
        ("telemetry", "t"),
    ]
    where = trees[0].find(exp.Where)
    assert where is not None and {c.name for c in where.find_all(exp.Column)} == {"ts"}
    assert "TIMESTAMP '2026-11-27 00:00:00 UTC'" in selects[0] and "TIMESTAMP '2026-11-28 00:00:00 UTC'" in selects[0]
    travel = tables[2]
    assert travel is not None and travel.args.get("version") is not None and "FOR TIMESTAMP AS OF" in selects[2]
    assert '-- SELECT count(*) AS n FROM "telemetry"."t" FOR VERSION AS OF <snapshot_id>;' in text.splitlines()
    maintenance = ["OPTIMIZE telemetry.t REWRITE DATA USING BIN_PACK", "VACUUM telemetry.t"]
    assert rest == (maintenance if catalog == "glue" else [])  # with the SQL catalog they are commented out
    assert all(f"-- {m};" in text.splitlines() for m in maintenance) == (catalog == "sql")


def test_the_statements_partition_on_the_computed_event_time_by_the_hour() -> None:
    spec = make_spec(event_time={"field": "ts", "on_missing": "arrival_time"}, partitioning={"granularity": "hour"})

    text = athena_statements(spec, "s3://b/p", database="db", table="_t", catalog="glue", day=DAY)

    assert "Partitioned by hour(_event_time): a filter on _event_time" in text
    assert 'WHERE "_event_time" >= TIMESTAMP' in text
    assert statements(text)[-1] == "VACUUM db.`_t`"  # Athena's VACUUM wants a leading underscore in backticks


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"database": "no-dashes"}, "database name must be letters, digits and underscores"),
        ({"location": "lake/local"}, "the lake location must be an s3://bucket[/prefix] URI"),
    ],
)
def test_the_statements_refuse_what_athena_cannot_hold(options: dict[str, str], message: str) -> None:
    arguments = {"location": "s3://b", "database": "db"} | options
    with pytest.raises(ValueError, match=re.escape(message)):
        athena_statements(make_spec(), arguments.pop("location"), **arguments)


# --- catalog --zone curated --register ------------------------------------------------------------------------------------


def register_argv(lake: GlueLake, catalog_file: Path, database: str) -> list[str]:
    return [
        "catalog",
        "--spec",
        str(EXAMPLE),
        "--location",
        lake.root,
        "--database",
        database,
        "--zone",
        "curated",
        "--catalog-file",
        str(catalog_file),
        "--register",
    ]


def test_register_points_glue_at_the_sql_catalogs_metadata(
    pipeline: Pipeline, lake: GlueLake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog_file, database = tmp_path / "iceberg.db", lake.namespace
    sql = catalog_settings(catalog_file=str(catalog_file))
    first = compact(pipeline.spec, lake.root, catalog=sql)
    source = curated_table(pipeline.spec, lake.root, catalog=sql)
    assert source is not None
    argv = register_argv(lake, catalog_file, database)

    assert run(argv, capsys) == (0, "", f"created table {database}.{TABLE} ({source.metadata_location})\n")

    created = glue_table(lake)
    assert created["Parameters"]["table_type"] == "ICEBERG"
    assert created["Parameters"]["metadata_location"] == source.metadata_location
    as_glue = catalog_settings(kind="glue", namespace=database)
    then = read_curated(pipeline.spec, lake.root, catalog=as_glue)
    assert_frame_equal(sorted_rows(then), sorted_rows(read_curated(pipeline.spec, lake.root, catalog=sql)))
    assert run(argv, capsys) == (0, "", f"unchanged table {database}.{TABLE} ({source.metadata_location})\n")
    assert glue_table(lake)["VersionId"] == created["VersionId"]

    write_raw(pipeline, lake.root, "b3", seed=2)
    compact(pipeline.spec, lake.root, catalog=sql)
    moved = curated_table(pipeline.spec, lake.root, catalog=sql)
    assert moved is not None
    code, out, err = run([*argv, "--format", "ddl"], capsys)

    assert (code, err) == (0, f"updated table {database}.{TABLE} ({moved.metadata_location})\n")
    assert out.startswith("-- The curated table of 'iot-telemetry' in Athena")
    updated = glue_table(lake)
    assert updated["Parameters"]["metadata_location"] == moved.metadata_location
    assert updated["Parameters"]["previous_metadata_location"] == source.metadata_location
    assert int(updated["VersionId"]) == int(created["VersionId"]) + 1
    assert updated["StorageDescriptor"] == created["StorageDescriptor"]  # the same columns, as pyiceberg writes them
    now = read_curated(pipeline.spec, lake.root, catalog=as_glue)
    assert_frame_equal(sorted_rows(now), sorted_rows(read_curated(pipeline.spec, lake.root, catalog=sql)))
    as_of = read_curated(pipeline.spec, lake.root, catalog=as_glue, as_of=str(first.snapshot_id))
    assert now.height > then.height
    assert_frame_equal(sorted_rows(as_of), sorted_rows(then))


def test_register_with_the_glue_catalog_does_nothing(
    pipeline: Pipeline, lake: GlueLake, capsys: pytest.CaptureFixture[str]
) -> None:
    compact(pipeline.spec, lake.root, catalog=lake.settings)
    before = glue_table(lake)
    argv = ["catalog", "--spec", str(EXAMPLE), "--location", lake.root, "--database", lake.namespace, "--zone", "curated"]

    code, out, err = run([*argv, "--catalog", "glue", "--namespace", lake.namespace, "--register"], capsys)

    assert (code, out) == (0, "")
    assert err == f"{lake.namespace}.{TABLE} is in Glue already (compact --catalog glue): nothing to register\n"
    assert glue_table(lake) == before


def test_register_refuses_a_glue_table_that_moved_without_the_lake(
    pipeline: Pipeline, lake: GlueLake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog_file = tmp_path / "iceberg.db"
    compact(pipeline.spec, lake.root, catalog=catalog_settings(catalog_file=str(catalog_file)))
    argv = register_argv(lake, catalog_file, lake.namespace)
    assert run(argv, capsys)[0] == 0
    # another writer commits through Glue (as an Athena OPTIMIZE would): the lake's SQL catalog never sees it
    in_glue = open_catalog(lake.root, lake.settings).load_table((lake.namespace, TABLE))
    in_glue.transaction().set_properties({"written.by": "someone else"}).commit_transaction()
    moved = glue_table(lake)

    code, out, err = run(argv, capsys)

    assert (code, out) == (1, "")
    assert err.startswith(f"transform-core: error: the Glue table {lake.namespace}.{TABLE} points at ")
    assert "which the lake's catalog never had" in err and err.count("\n") == 1
    assert glue_table(lake) == moved


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no table", "no curated table transform_core.iot_telemetry with a snapshot in "),
        ("no catalog file", "use --catalog glue, or name one with --catalog-file"),
        ("glue-json", "--format glue-json describes the raw zone"),
        ("producer", "--producer describes the raw zone"),
        ("other database", "with --catalog glue the curated table is "),
        ("raw table", "is not an Iceberg table (EXTERNAL_TABLE)"),
        ("no credentials", "Glue: Unable to locate credentials"),
    ],
)
def test_register_errors_are_one_line(
    case: str,
    message: str,
    pipeline: Pipeline,
    lake: GlueLake,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    catalog_file = tmp_path / "iceberg.db"
    argv = register_argv(lake, catalog_file, lake.namespace)
    if case != "no table":
        compact(pipeline.spec, lake.root, catalog=catalog_settings(catalog_file=str(catalog_file)))
    if case == "no catalog file":
        argv = [a for a in argv if a != str(catalog_file) and a != "--catalog-file"]
    elif case in ("glue-json", "producer"):
        argv += ["--format", "glue-json"] if case == "glue-json" else ["--producer", "firehose-json"]
    elif case == "other database":
        argv += ["--catalog", "glue"]  # the namespace is transform_core: not the --database given
    elif case == "raw table":  # the raw zone registered under the curated table's name
        raw = ["catalog", "--spec", str(EXAMPLE), "--location", lake.root, "--database", lake.namespace, "--register"]
        assert run(raw, capsys)[0] == 0
    elif case == "no credentials":
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(name)
        for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
            monkeypatch.setenv(name, str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata lookup off the loopback

    code, out, err = run(argv, capsys)

    assert (code, out) == (1, "")
    assert err.startswith("transform-core: error: ") and message in err and err.count("\n") == 1, err
