"""`transform-core compact`, `query` and `catalog`: options, output formats and one-line errors, through main()."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import transform_core
from tests.helpers.lake import EXAMPLE, TABLE, Processed, process, write_example_lake
from transform_core.cli import main
from transform_core.engine import Pipeline
from transform_core.lake import LakeWriter, catalog
from transform_core.lake.query import query

PER_DAY = f"SELECT year, month, day, count(*) AS n FROM {TABLE} GROUP BY year, month, day ORDER BY year, month, day"


@pytest.fixture(scope="module")
def lake(pipeline: Pipeline, processed: Processed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_example_lake(pipeline, processed, tmp_path_factory.mktemp("lake"))


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# --- compact ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def raw_twice(pipeline: Pipeline, tmp_path: Path) -> Path:
    """A lake whose raw zone holds the same records twice, under two batch ids."""
    for batch_id in ("b1", "b2"):
        again = process(pipeline, 200, 0.05, seed=1)
        LakeWriter(pipeline.spec, str(tmp_path), rows_per_file=15).write(again.result, again.batch, batch_id=batch_id)
    return tmp_path


def test_compact_reports_each_partition_then_nothing_to_do(raw_twice: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["compact", "--spec", str(EXAMPLE), "--lake", str(raw_twice), "--target-rows", "30"]
    code, out, _ = run(argv, capsys)
    *partitions, total, table = out.splitlines()
    assert code == 0 and len(partitions) > 1
    assert all(line.startswith("compacted  year=2026/month=11/day=2") and " raw files, " in line for line in partitions)
    assert all(line.endswith(" data files") and " → " in line for line in partitions)
    assert total.startswith(f"{len(partitions)} partitions, {len(partitions)} compacted, 0 unchanged, ") and "removed" in total
    assert not total.endswith(" 0 duplicates removed")
    assert re.fullmatch(r"transform_core\.iot_telemetry snapshot [0-9]+ \(committed\)", table)
    snapshot = table.split()[2]
    code, out, _ = run([*argv, "--partition", "year=2026/month=11/day=24"], capsys)
    assert code == 0
    (line, total, table) = out.splitlines()
    assert re.fullmatch(r"unchanged  year=2026/month=11/day=24  [0-9]+ raw files", line)
    assert total == "1 partition, 0 compacted, 1 unchanged, 0 rows written, 0 duplicates removed"
    assert table == f"transform_core.iot_telemetry snapshot {snapshot} (nothing to commit)"


def test_compact_into_another_namespace_and_query_it_as_of(raw_twice: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = ["--spec", str(EXAMPLE), "--lake", str(raw_twice), "--namespace", "staging"]
    code, out, _ = run(["compact", *lake], capsys)
    assert code == 0 and out.splitlines()[-1].startswith("staging.iot_telemetry snapshot ")
    snapshot = out.splitlines()[-1].split()[2]
    sql = f"SELECT count(*) AS n FROM curated_{TABLE}"
    code, out, _ = run(["query", *lake, "--as-of", snapshot, "--format", "csv", sql], capsys)
    assert code == 0 and int(out.splitlines()[1]) > 0
    code, out, _ = run(["query", "--spec", str(EXAMPLE), "--lake", str(raw_twice), "--format", "csv", sql], capsys)
    assert code == 1 and out == ""  # the default namespace has no curated table


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--key", "nope"], "transform-core compact: error: no key column 'nope'"),
        (
            ["--lake", "s3://bucket/lake"],
            "transform-core: error: the SQL catalog of an s3:// lake (s3://bucket/lake) is a local ",
        ),
    ],
)
def test_compact_errors_are_one_line(raw_twice: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["compact", "--spec", str(EXAMPLE), "--lake", str(raw_twice), *argv], capsys)
    assert (code, out) == (1, "")
    assert err.startswith(message) and err.count("\n") == 1


@pytest.mark.parametrize(
    ("partition", "wrong"),
    [
        ("2025-12-01", "'2025-12-01' is not year=YYYY"),
        ("year=2026/month=1", "'month=1' is not month=MM"),  # the folders are zero-padded: it would match nothing
        ("year=2026/day=24", "'day=24' is not month=MM"),
        ("year=2026/month=11/day=24/hour=07", ""),  # the spec partitions by day
        ("month=11", "'month=11' is not year=YYYY"),
    ],
)
def test_compact_refuses_a_malformed_partition_naming_the_form(
    raw_twice: Path, partition: str, wrong: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["compact", "--spec", str(EXAMPLE), "--lake", str(raw_twice), "--partition", "year=2026", "--partition", partition]
    code, out, err = run(argv, capsys)
    assert (code, out) == (1, "")
    said = f"{wrong}; " if wrong else ""
    assert err == (
        f"transform-core compact: error: --partition {partition!r}: {said}expected year=YYYY[/month=MM[/day=DD]], "
        "e.g. year=2026/month=11/day=24\n"
    )
    assert not (raw_twice / "_catalog").exists()  # refused before the table is made


def test_compact_takes_a_partition_with_slashes_at_its_ends(raw_twice: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["compact", "--spec", str(EXAMPLE), "--lake", str(raw_twice), "--partition", "/year=2026/month=11/day=24/"]
    code, out, _ = run(argv, capsys)
    assert code == 0 and out.startswith("compacted  year=2026/month=11/day=24  ")


def test_query_as_of_a_missing_snapshot_is_one_line(raw_twice: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compact", "--spec", str(EXAMPLE), "--lake", str(raw_twice)]) == 0
    capsys.readouterr()
    code, out, err = run(["query", "--spec", str(EXAMPLE), "--lake", str(raw_twice), "--as-of", "1", "SELECT 1"], capsys)
    assert (code, out) == (1, "")
    assert err.startswith("transform-core: error: --as-of 1: no such snapshot (the latest: ") and err.count("\n") == 1


# --- query ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_each_output_format_round_trips(
    fmt: str, pipeline: Pipeline, lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = f"SELECT device_id, seq, value, tags, site, day FROM {TABLE} ORDER BY seq LIMIT 20"
    expected = query(pipeline.spec, sql, root=str(lake))
    output = tmp_path / f"out.{fmt}"
    argv = ["query", "--spec", pipeline.spec.spec_file, "--lake", str(lake), "--format", fmt, "--output", str(output), sql]
    assert run(argv, capsys) == (0, "", "")
    if fmt == "parquet":
        assert_frame_equal(pl.read_parquet(output), expected)
        return
    if fmt == "json":
        assert json.loads(output.read_text()) == expected.to_dicts()
        return
    back = pl.read_csv(output, schema_overrides={"day": pl.String})
    assert_frame_equal(back.drop("tags"), expected.drop("tags"))
    assert [json.loads(text) for text in back["tags"]] == expected["tags"].to_list()


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_csv_and_json_go_to_stdout_without_output(
    fmt: str, pipeline: Pipeline, lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["query", "--spec", pipeline.spec.spec_file, "--lake", str(lake), "--format", fmt, PER_DAY], capsys)
    assert code == 0
    read = pl.read_csv if fmt == "csv" else pl.read_json
    back = read(out.encode(), schema_overrides={k: pl.String for k in ("year", "month", "day")})
    assert back["n"].to_list() == query(pipeline.spec, PER_DAY, root=str(lake))["n"].to_list()


def test_default_format_prints_a_readable_table(
    pipeline: Pipeline, processed: Processed, lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["query", "--spec", pipeline.spec.spec_file, "--lake", str(lake), PER_DAY], capsys)
    assert code == 0
    assert "shape: (4, 4)" in out and "│ year" in out
    ok = processed.result.outcomes.filter(pl.col("result") == "Ok")
    for n in ok.group_by("day").len()["len"]:
        assert f" {n} " in out
    code, out, _ = run(["query", "--spec", pipeline.spec.spec_file, "--lake", str(lake), f"SELECT * FROM {TABLE}"], capsys)
    assert code == 0 and out.count("\n") < 130 and f"100 of {processed.result.ok} rows shown" in out


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC day FROM iot_telemetry", "sql parser error"),
        ("SELECT * FROM nowhere", f"relation 'nowhere' was not found (tables: errors_{TABLE}, {TABLE}, raw_{TABLE})"),
        (f"SELECT no_such_column FROM {TABLE}", 'unable to find column "no_such_column"'),
        (f"SELECT tags.nope FROM {TABLE}", 'unable to find struct field "nope"; struct fields: tags.fw, tags.zone (tables: '),
        (f"SELECT user.country FROM {TABLE}", "a struct's field is column.field, and the struct columns are tags"),
    ],
)
def test_bad_sql_is_one_clear_error(
    sql: str, message: str, pipeline: Pipeline, lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["query", "--spec", pipeline.spec.spec_file, "--lake", str(lake), sql], capsys)
    assert (code, out) == (1, "")
    assert err.startswith("transform-core: error: query failed: ") and message in err
    assert err.count("\n") == 1  # one line, no traceback, no plan dump


def test_default_format_prints_full_values_and_struct_field_names(
    pipeline: Pipeline, lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake_args = ["query", "--spec", pipeline.spec.spec_file, "--lake", str(lake)]
    sql = f"SELECT rawData, tags, tags.zone FROM errors_{TABLE} CROSS JOIN (SELECT tags FROM {TABLE} WHERE tags.fw IS NOT NULL LIMIT 1) AS one"
    expected = query(pipeline.spec, sql, root=str(lake))
    code, out, _ = run([*lake_args, sql], capsys)
    assert code == 0 and max(expected["rawData"].str.len_chars()) > 100
    assert all(f"│ {raw} " in out for raw in expected["rawData"])  # every value in full
    tags = expected["tags"][0]
    assert f'┆ {{fw: "{tags["fw"]}", zone: "{tags["zone"]}"}} ┆ {tags["zone"]} ' in out
    assert "│ rawData " in out and "┆ tags.zone " in out and "┆ struct[2] " in out
    code, cut, _ = run([*lake_args, "--max-width", "12", sql], capsys)
    assert code == 0 and f"│ {expected['rawData'][0][:12]}… " in cut and f'┆ {{fw: "{tags["fw"]}'[:14] + "… ┆" in cut


def test_describe_prints_columns_and_types(pipeline: Pipeline, lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake_args = ["query", "--spec", pipeline.spec.spec_file, "--lake", str(lake)]
    code, out, _ = run([*lake_args, "--describe", TABLE], capsys)
    assert code == 0 and "│ column " in out
    assert "│ tags.zone " in out and "┆ struct<fw:string,zone:string> │" in out
    code, out, _ = run([*lake_args, "--describe", f"errors_{TABLE}", "--format", "csv"], capsys)
    assert code == 0 and out.startswith("column,type,athena\nrecordId,str,\n")
    code, out, err = run([*lake_args, "--describe", "nowhere"], capsys)
    assert (code, out) == (
        1,
        "",
    ) and err == f"transform-core: error: no table 'nowhere' in the lake (tables: errors_{TABLE}, {TABLE}, raw_{TABLE})\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--describe", TABLE, "SELECT 1"], "query takes one of SQL, --describe TABLE and -i, not SQL and --describe"),
        (["-i", "SELECT 1"], "query takes one of SQL, --describe TABLE and -i, not SQL and -i"),
        ([], "query needs SQL, --describe TABLE or -i (to read statements from stdin)"),  # stdin is no terminal
        (["-i", "--format", "csv"], "the prompt prints tables: --format and --output go with SQL or --describe TABLE"),
    ],
)
def test_query_needs_exactly_one_thing_to_do(
    argv: list[str], message: str, lake: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("SELECT 1;\n"))
    code, out, err = run(["query", "--spec", str(EXAMPLE), "--lake", str(lake), *argv], capsys)
    assert (code, out, err) == (1, "", f"transform-core: error: {message}\n")


def test_parquet_needs_output(pipeline: Pipeline, lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        ["query", "--spec", pipeline.spec.spec_file, "--lake", str(lake), "--format", "parquet", PER_DAY], capsys
    )
    assert (code, out) == (1, "") and err == "transform-core: error: --format parquet needs --output FILE\n"


HINT = (
    "transform-core query: hint: year, month, day and hour are text, as in the folder names: compare them with "
    "zero-padded text ({key} = '{padded}', not {key} = {number})\n"
)


@pytest.mark.parametrize(
    ("sql", "hint"),
    [
        (f"SELECT * FROM raw_{TABLE} WHERE day = 30", ("day", "30", "30")),  # no such day: an empty result gets it
        (f"SELECT * FROM raw_{TABLE} WHERE year = 2026 AND day = 7", ("day", "07", "7")),
        (f"SELECT count(*) AS n FROM {TABLE} WHERE day = 7", ("day", "07", "7")),  # a count of 0 is a row
        (f"SELECT count(*) AS n FROM {TABLE} WHERE day IN (6, 7)", ("day", "06", "6")),
        (f"SELECT * FROM {TABLE} WHERE day = '07'", None),
        (f"SELECT * FROM {TABLE} WHERE year = 2026", None),  # matches: no hint
        (f"SELECT * FROM {TABLE} WHERE device_id = 'day = 7'", None),
    ],
)
def test_query_comparing_a_partition_column_with_a_number_gets_a_hint(
    sql: str, hint: tuple[str, str, str] | None, lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["query", "--spec", str(EXAMPLE), "--lake", str(lake), "--format", "csv", sql], capsys)
    assert code == 0 and out
    assert err == ("" if hint is None else HINT.format(key=hint[0], padded=hint[1], number=hint[2]))


def test_a_failed_comparison_with_a_number_carries_the_hint(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["query", "--spec", str(EXAMPLE), "--lake", str(lake), f"SELECT * FROM {TABLE} WHERE month > 3"], capsys)
    assert (code, out) == (1, "") and err.count("\n") == 1
    assert err.startswith("transform-core: error: query failed: cannot compare string with numeric type")
    assert err.endswith("compare them with zero-padded text (month = '03', not month = 3)\n")


def test_query_of_an_empty_lake_is_one_line(pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["query", "--spec", pipeline.spec.spec_file, "--lake", str(tmp_path), "SELECT 1"], capsys)
    assert (code, out) == (1, "") and err.startswith("transform-core: error: no lake files under ")


# --- catalog ----------------------------------------------------------------------------------------------------------

CATALOG = ["catalog", "--spec", str(EXAMPLE), "--location", "s3://my-lake", "--database", "telemetry"]


def test_catalog_prints_ddl_and_glue_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, ddl, _ = run(CATALOG, capsys)
    assert code == 0
    assert ddl.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `telemetry`.`iot_telemetry`") and ddl.endswith(");\n")
    code, out, _ = run([*CATALOG, "--format", "glue-json", "--table", "Other_Table"], capsys)
    assert code == 0
    body = json.loads(out)
    assert body["DatabaseName"] == "telemetry"
    spec = transform_core.load_spec(str(EXAMPLE))
    assert body["TableInput"] == catalog.glue_table_input(spec, "s3://my-lake", table="Other_Table")
    assert body["TableInput"]["Name"] == "other_table"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--location", "lake"], "the lake location must be an s3://bucket[/prefix] URI"),
        (["--database", "no-dashes", "--format", "glue-json"], "database name must be letters, digits and underscores"),
        (["--spec", "/nonexistent/pipeline.yaml"], "/nonexistent/pipeline.yaml"),
    ],
)
def test_catalog_errors_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*CATALOG, *argv], capsys)
    assert (code, out) == (1, "")
    assert err.startswith("transform-core: error:") and message in err and err.count("\n") == 1


def test_catalog_registers(s3_bucket: str, moto_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["catalog", "--spec", str(EXAMPLE), "--location", f"s3://{s3_bucket}", "--database", "cli_db", "--register"]
    assert run([*argv, "--endpoint-url", moto_server, "--region", "us-east-1"], capsys) == (
        0,
        "",
        "created table cli_db.iot_telemetry\n",
    )
    code, out, err = run([*argv, "--endpoint-url", moto_server, "--region", "us-east-1", "--format", "ddl"], capsys)
    assert code == 0 and out.startswith("CREATE EXTERNAL TABLE") and err == "updated table cli_db.iot_telemetry\n"
