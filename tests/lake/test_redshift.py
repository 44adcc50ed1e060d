"""The Redshift statements over the curated table (``catalog --zone curated --format redshift``): every statement parses
with sqlglot's Redshift dialect, the external schema follows the documented grammar, and the queries name the table's
own columns. No Redshift is involved: the SQL is parsed, not run."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from tests.helpers.curated import make_spec
from tests.helpers.lake import EXAMPLE
from transform_core.cli import main
from transform_core.engine import Pipeline
from transform_core.lake.curated import curated_layout
from transform_core.lake.curated.redshift import external_schema_statement, redshift_statements
from transform_core.spec import PipelineSpec

ROLE = "arn:aws:iam::123456789012:role/lake-reader"
DAY = date(2026, 11, 27)


def statements(text: str) -> list[str]:
    """The statements of ``text``, comment lines left out."""
    code = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    return [s.strip() for s in code.split(";") if s.strip()]


def tokens(statement: str) -> list[tuple[str, str]]:
    return [(t.token_type.name, t.text) for t in sqlglot.Dialect.get_or_raise("redshift").tokenize(statement)]


def grammar(database: str, role: tuple[str, str], region: str | None) -> list[tuple[str, str]]:
    """``CREATE EXTERNAL SCHEMA [IF NOT EXISTS] name FROM DATA CATALOG DATABASE '…' IAM_ROLE {default | '…'} [REGION '…']``
    as the Redshift tokenizer reads it (Amazon Redshift Database Developer Guide, "CREATE EXTERNAL SCHEMA")."""
    words = [("CREATE", "CREATE"), ("VAR", "EXTERNAL"), ("SCHEMA", "SCHEMA"), ("VAR", "IF"), ("NOT", "NOT")]
    words += [("EXISTS", "EXISTS"), ("VAR", database), ("FROM", "FROM"), ("VAR", "DATA"), ("VAR", "CATALOG")]
    words += [("DATABASE", "DATABASE"), ("STRING", database), ("VAR", "IAM_ROLE"), role]
    return words + ([("VAR", "REGION"), ("STRING", region)] if region else [])


@pytest.mark.parametrize(("role", "region"), [(ROLE, None), (ROLE, "eu-west-1"), ("default", None)])
def test_the_external_schema_follows_the_documented_grammar(role: str, region: str | None) -> None:
    statement = external_schema_statement("telemetry", iam_role=role, region=region)

    assert statement.endswith(";")
    expected_role = ("STRING", role) if role != "default" else ("DEFAULT", "default")
    assert tokens(statement.removesuffix(";")) == grammar("telemetry", expected_role, region)
    parsed = sqlglot.parse_one(statement, read="redshift")  # sqlglot keeps it whole, as a command
    assert isinstance(parsed, exp.Command) and parsed.this == "CREATE"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"database": "tele-metry"}, "database name must be letters, digits and underscores"),
        ({"database": "t", "iam_role": "lake-reader"}, "--iam-role must be an IAM role ARN"),
        ({"database": "t", "iam_role": f"{ROLE}' IAM_ROLE 'x"}, "--iam-role must be an IAM role ARN"),
        ({"database": "t", "region": "eu-west-1'"}, "--region must be an AWS region"),
    ],
)
def test_names_redshift_would_not_take_are_refused(arguments: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        external_schema_statement(**arguments)


def test_every_statement_parses_and_reads_the_tables_columns(pipeline: Pipeline) -> None:
    text = redshift_statements(pipeline.spec, "s3://my-lake", database="Telemetry", iam_role=ROLE, day=DAY)

    create, *queries = statements(text)
    assert create == external_schema_statement("telemetry", iam_role=ROLE).removesuffix(";")
    layout = curated_layout(pipeline.spec)
    columns = {name.lower() for name in layout.columns}
    parsed = [sqlglot.parse_one(q, read="redshift", error_level=sqlglot.ErrorLevel.RAISE) for q in queries]
    assert len(parsed) == 3 and all(isinstance(p, exp.Select) for p in parsed)
    for query in parsed:
        (table,) = query.find_all(exp.Table)
        assert (table.db, table.name) == ("telemetry", "iot_telemetry")
        named = {c.name for c in query.find_all(exp.Column) if c.table in ("", "t")}
        assert named <= columns | {"fw"}, named - columns  # t.tags.fw: a struct field
    count, per_hour, nested = parsed
    day_filter = count.args["where"].this.sql("redshift")
    assert day_filter == (
        "\"event_time\" >= CAST('2026-11-27 00:00:00+00' AS TIMESTAMP WITH TIME ZONE) "
        "AND \"event_time\" < CAST('2026-11-28 00:00:00+00' AS TIMESTAMP WITH TIME ZONE)"
    )
    assert per_hour.args["where"].this.sql("redshift") == day_filter and 'AVG("value") AS mean_value' in per_hour.sql("redshift")
    assert nested.selects[0].sql("redshift") == "t.tags.fw"
    # time travel is there, commented out: sqlglot's Redshift dialect does not parse AS OF TIMESTAMP
    assert f'-- SELECT count(*) AS n FROM "telemetry"."iot_telemetry" AS OF TIMESTAMP \'{DAY} 00:00:00\';' in text


def test_a_table_without_structs_or_its_own_event_time_column() -> None:
    spec: PipelineSpec = make_spec(
        {"type": "object", "properties": {"ts": {"type": "string"}, "k": {"type": "integer"}}},
        event_time={"field": "ts", "on_missing": "arrival_time"},
        partitioning={"granularity": "hour"},
    )
    text = redshift_statements(spec, "s3://b/p", database="d", table="other", day=DAY)

    queries = statements(text)[1:]
    assert len(queries) == 2  # no struct: no SUPER example; no double column: no mean
    assert "Partitioned by hour(_event_time)" in text and "IAM_ROLE default" in text
    for query in queries:
        parsed = sqlglot.parse_one(query, read="redshift")
        assert {c.name for c in parsed.find_all(exp.Column)} <= {"_event_time"}
        assert [(t.db, t.name) for t in parsed.find_all(exp.Table)] == [("d", "other")]


# --- the command ------------------------------------------------------------------------------------------------------


def test_catalog_prints_the_redshift_statements(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["catalog", "--spec", str(EXAMPLE), "--location", "s3://my-lake", "--database", "telemetry", "--zone", "curated"]
    assert main([*argv, "--format", "redshift", "--iam-role", ROLE, "--region", "eu-west-1"]) == 0

    out = capsys.readouterr().out
    assert f"IAM_ROLE '{ROLE}' REGION 'eu-west-1';" in out and "SELECT count(*) AS n FROM" in out
    assert len(statements(out)) == 4


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--format", "redshift"], "--format redshift describes the curated table: add --zone curated"),
        (["--zone", "curated", "--iam-role", ROLE], "--iam-role goes with --format redshift"),
        (["--zone", "curated", "--format", "redshift", "--iam-role", "x"], "--iam-role must be an IAM role ARN"),
    ],
)
def test_catalog_refuses_in_one_line(options: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["catalog", "--spec", str(EXAMPLE), "--location", "s3://my-lake", "--database", "telemetry", *options]
    assert main(argv) == 1

    err = capsys.readouterr().err
    assert err.startswith("transform-core: error: ") and message in err and err.count("\n") == 1


def test_the_docs_show_the_statement_the_command_prints() -> None:
    """docs/lake.md shows the statement for the example: it must stay the one the command prints."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "lake.md").read_text()
    assert external_schema_statement("telemetry", iam_role="arn:aws:iam::123456789012:role/lake-reader") in docs
