"""query: SQL over a lake written by LakeWriter, table names, partition pruning, S3, struct fields, describe and the text
table (the command: tests/cli/test_lake.py)."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.helpers.lake import TABLE, Processed, process, write_example_lake
from transform_core.engine import Pipeline
from transform_core.errors import QueryError
from transform_core.lake import LakeWriter
from transform_core.lake.curated import compact, curated_table
from transform_core.lake.query import describe, lake_tables, partition_hint, query
from transform_core.lake.query_format import text_table
from transform_core.lake.query_sql import dotted_fields
from transform_core.spec import PartitioningSpec

REFERENCE = Path(__file__).parents[2] / "reference_data" / "devices.csv"
PER_DAY = f"SELECT year, month, day, count(*) AS n FROM {TABLE} GROUP BY year, month, day ORDER BY year, month, day"


@pytest.fixture(scope="module")
def lake(pipeline: Pipeline, processed: Processed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_example_lake(pipeline, processed, tmp_path_factory.mktemp("lake"))


def ok_per_day(processed: Processed) -> pl.DataFrame:
    ok = processed.result.outcomes.filter(pl.col("result") == "Ok")
    return ok.group_by("year", "month", "day").agg(pl.len().cast(pl.Int64).alias("n")).sort("year", "month", "day")


def test_counts_per_day_equal_the_ok_outcomes(pipeline: Pipeline, processed: Processed, lake: Path) -> None:
    assert_frame_equal(query(pipeline.spec, PER_DAY, root=str(lake)), ok_per_day(processed))


def test_tables_are_named_after_the_spec(pipeline: Pipeline, lake: Path) -> None:
    assert list(lake_tables(pipeline.spec, root=str(lake))) == [f"errors_{TABLE}", TABLE, f"raw_{TABLE}"]
    both = query(
        pipeline.spec, f"SELECT (SELECT count(*) FROM {TABLE}) - (SELECT count(*) FROM raw_{TABLE}) AS d", root=str(lake)
    )
    assert both["d"].to_list() == [0]


def test_enrichment_columns_are_queryable(pipeline: Pipeline, processed: Processed, lake: Path) -> None:
    sql = f"SELECT device_id, site, model FROM {TABLE} WHERE site IS NOT NULL AND model IS NOT NULL"
    got = query(pipeline.spec, sql, root=str(lake))
    assert got.height > 0
    reference = pl.read_csv(REFERENCE, infer_schema=False)
    assert_frame_equal(got.join(reference, on="device_id", how="anti"), got.clear())  # every device is known
    joined = got.join(reference, on="device_id", suffix="_ref")
    assert joined.height == got.height
    assert (joined["site"] == joined["site_ref"]).all() and (joined["model"] == joined["model_ref"]).all()


def test_partition_filter_scans_only_that_partition(pipeline: Pipeline, lake: Path) -> None:
    tables = lake_tables(pipeline.spec, root=str(lake))
    sql = f"SELECT count(*) AS n FROM {TABLE} WHERE year = '2026' AND month = '11' AND day = '27'"
    plan = pl.SQLContext(tables).execute(sql, eager=False).explain()
    scanned = {part for part in plan.replace("[", " ").replace("]", " ").split() if part.endswith(".parquet")}
    assert scanned == {str(lake / "raw" / TABLE / "year=2026" / "month=11" / "day=27" / "part-q1-0.parquet")}


def test_partition_filter_never_opens_other_partitions(
    pipeline: Pipeline, processed: Processed, lake: Path, tmp_path: Path
) -> None:
    shutil.copytree(lake, tmp_path / "lake")
    other = tmp_path / "lake" / "raw" / TABLE / "year=2026" / "month=11" / "day=25" / "part-q1-0.parquet"
    other.write_bytes(b"not parquet")  # reading this file fails
    where = "WHERE year = '2026' AND month = '11' AND day = '27'"
    got = query(pipeline.spec, f"SELECT count(*) AS n FROM {TABLE} {where}", root=str(tmp_path / "lake"))
    assert got["n"].to_list() == ok_per_day(processed).filter(day="27")["n"].to_list()
    with pytest.raises(QueryError):  # the unfiltered query does read it
        query(pipeline.spec, f"SELECT count(*) AS n FROM {TABLE}", root=str(tmp_path / "lake"))


def test_underscore_and_dot_names_are_skipped(pipeline: Pipeline, processed: Processed, lake: Path, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    shutil.copytree(lake, root)
    partition = root / "raw" / TABLE / "year=2026" / "month=11" / "day=24"
    (partition / "_tmp-abc-part-x.parquet.tmp").write_bytes(b"half a file")
    (partition / ".part-y.parquet").write_bytes(b"hidden")
    (root / "raw" / TABLE / "_staging").mkdir()
    (root / "raw" / TABLE / "_staging" / "part-z.parquet").write_bytes(b"staged")
    assert_frame_equal(query(pipeline.spec, PER_DAY, root=str(root)), ok_per_day(processed))


def test_curated_zone_is_the_plain_table_when_present(
    pipeline: Pipeline, processed: Processed, lake: Path, tmp_path: Path
) -> None:
    root = tmp_path / "lake"
    shutil.copytree(lake, root)
    LakeWriter(pipeline.spec, str(root)).write(processed.result, processed.batch, batch_id="q2")  # every row twice in raw
    compact(pipeline.spec, str(root))  # dedupes by event_id
    assert list(lake_tables(pipeline.spec, root=str(root))) == [f"curated_{TABLE}", f"errors_{TABLE}", TABLE, f"raw_{TABLE}"]
    assert_frame_equal(query(pipeline.spec, PER_DAY, root=str(root)), ok_per_day(processed))  # year/month/day computed
    counts = f"SELECT (SELECT count(*) FROM curated_{TABLE}) AS curated, (SELECT count(*) FROM raw_{TABLE}) AS raw"
    assert query(pipeline.spec, counts, root=str(root)).row(0) == (processed.result.ok, 2 * processed.result.ok)
    plan = pl.SQLContext(lake_tables(pipeline.spec, root=str(root))).execute(f"SELECT * FROM {TABLE}", eager=False).explain()
    assert "/curated/transform_core/iot_telemetry/data/" in plan and "/raw/" not in plan  # read through Iceberg


def scanned_files(plan: str) -> int:
    """How many files a Polars plan's Parquet scan reads: ``[first, ... N other sources]``."""
    match = re.search(r"Parquet SCAN \[[^\]]*?(?:\.\.\. (\d+) other sources)?\]", plan)
    assert match is not None, plan
    return 1 + int(match[1] or 0)


def test_a_filter_on_the_event_time_prunes_curated_files(
    pipeline: Pipeline, processed: Processed, lake: Path, tmp_path: Path
) -> None:
    root = tmp_path / "lake"
    shutil.copytree(lake, root)
    compact(pipeline.spec, str(root), target_rows=20)
    tables = lake_tables(pipeline.spec, root=str(root))
    day = f"SELECT count(*) AS n FROM {TABLE} WHERE event_time >= '2026-11-27T00:00:00Z'"
    every, one_day = (pl.SQLContext(tables).execute(sql, eager=False).explain() for sql in (f"SELECT * FROM {TABLE}", day))
    table = curated_table(pipeline.spec, str(root))
    assert table is not None
    in_day = [t for t in table.scan().plan_files() if "event_time_day=2026-11-27" in t.file.file_path]
    assert scanned_files(every) == len(list(table.scan().plan_files())) > scanned_files(one_day) == len(in_day) > 1
    assert query(pipeline.spec, day, root=str(root))["n"].to_list() == ok_per_day(processed).filter(day="27")["n"].to_list()


def test_as_of_reads_an_earlier_snapshot(pipeline: Pipeline, processed: Processed, lake: Path, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    shutil.copytree(lake, root)
    first = compact(pipeline.spec, str(root))
    assert first.snapshot_id is not None
    between = datetime.now(UTC).isoformat()
    more = process(pipeline, 100, 0.0, seed=8)
    LakeWriter(pipeline.spec, str(root)).write(more.result, more.batch, batch_id="q3")
    assert compact(pipeline.spec, str(root)).committed
    count = f"SELECT count(*) AS n FROM {TABLE}"

    now = query(pipeline.spec, count, root=str(root))["n"][0]
    then = query(pipeline.spec, count, root=str(root), as_of=str(first.snapshot_id))["n"][0]
    by_time = query(pipeline.spec, count, root=str(root), as_of=between)["n"][0]

    assert then == by_time == processed.result.ok < now == processed.result.ok + more.result.ok
    with pytest.raises(QueryError, match="no such snapshot"):
        query(pipeline.spec, count, root=str(root), as_of="12345")
    with pytest.raises(QueryError, match="no snapshot that early"):
        query(pipeline.spec, count, root=str(root), as_of="2000-01-01T00:00:00Z")
    with pytest.raises(QueryError, match="neither a snapshot id nor an ISO 8601 time"):
        query(pipeline.spec, count, root=str(root), as_of="yesterday")
    with pytest.raises(QueryError, match="the lake has no curated table"):
        query(pipeline.spec, count, root=str(lake), as_of=str(first.snapshot_id))


def test_errors_table_holds_every_rejected_record(pipeline: Pipeline, processed: Processed, lake: Path) -> None:
    sql = f"SELECT recordId, reason, specName, errorTimestamp, year FROM errors_{TABLE} ORDER BY recordId"
    got = query(pipeline.spec, sql, root=str(lake))
    failed = processed.result.outcomes.filter(pl.col("result") == "ProcessingFailed").sort("record_id")
    assert got["recordId"].to_list() == failed["record_id"].to_list()
    assert got["reason"].to_list() == failed["reason"].to_list()
    assert set(got["specName"]) == {"iot-telemetry"}
    assert got.schema["errorTimestamp"] == pl.Datetime("us", "UTC") and got.schema["year"] == pl.String
    assert got["year"].null_count() == 0


def test_hour_partitions_are_text_and_prune(pipeline: Pipeline, tmp_path: Path) -> None:
    hourly = Pipeline(replace(pipeline.spec, partitioning=PartitioningSpec(granularity="hour")))
    done = process(hourly, 200, 0.0, seed=3)
    LakeWriter(hourly.spec, str(tmp_path)).write(done.result, done.batch, batch_id="h")
    first = done.result.outcomes.filter(pl.col("result") == "Ok").row(0, named=True)
    where = " AND ".join(f"{key} = '{first[key]}'" for key in ("year", "month", "day", "hour"))
    got = query(hourly.spec, f"SELECT hour, count(*) AS n FROM {TABLE} WHERE {where} GROUP BY hour", root=str(tmp_path))
    expected = done.result.outcomes.filter(
        result="Ok", year=first["year"], month=first["month"], day=first["day"], hour=first["hour"]
    )
    assert got.rows() == [(first["hour"], expected.height)]


def test_empty_lake_is_an_error(pipeline: Pipeline, tmp_path: Path) -> None:
    with pytest.raises(QueryError, match="no lake files under"):
        query(pipeline.spec, "SELECT 1", root=str(tmp_path))


def test_queries_an_s3_lake(
    pipeline: Pipeline, processed: Processed, s3_bucket: str, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = f"s3://{s3_bucket}/lake"
    LakeWriter(pipeline.spec, root).write(processed.result, processed.batch, batch_id="s3q")
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # the explicit endpoint_url must be enough
    assert_frame_equal(query(pipeline.spec, PER_DAY, root=root, endpoint_url=moto_server), ok_per_day(processed))
    errors = query(pipeline.spec, f"SELECT count(*) AS n FROM errors_{TABLE}", root=root, endpoint_url=moto_server)
    assert errors["n"].to_list() == [processed.result.failed]


@pytest.mark.parametrize(
    ("sql", "empty", "shown"),
    [
        ("SELECT * FROM t WHERE day = 7", False, "day = '07', not day = 7"),  # never equal to a folder's text
        ("SELECT * FROM t WHERE t.month IN (3, 4)", False, "month = '03', not month = 3"),
        ('SELECT * FROM t WHERE "hour" >= 5', False, "hour = '05', not hour = 5"),
        ("SELECT * FROM t WHERE 7 = day", False, "day = '07', not day = 7"),
        ("SELECT * FROM t WHERE day BETWEEN 1 AND 7", False, "day = '01', not day = 1"),
        ("SELECT * FROM t WHERE YEAR = 2026", True, "year = '2026', not year = 2026"),
        ("SELECT * FROM t WHERE year = 2026", False, None),  # it may match: said only when nothing came back
        ("SELECT * FROM t WHERE day = '07'", True, None),
        ("SELECT * FROM t WHERE reason = 'day = 7'", True, None),  # inside a string literal
        ("SELECT * FROM t WHERE weekday = 7 OR holiday = 1", True, None),
    ],
)
def test_partition_hint(sql: str, empty: bool, shown: str | None) -> None:
    hint = partition_hint(sql, empty=empty)
    assert (hint is None) == (shown is None)
    if shown is not None:
        assert hint == f"year, month, day and hour are text, as in the folder names: compare them with zero-padded text ({shown})"


# --- struct fields, describe and the text table ---------------------------------------------------------------------

USERS = pl.DataFrame(
    {
        "user": [{"country": "DE", "geo": {"city": "Köln"}}, {"country": "FR", "geo": None}, {"country": "DE", "geo": None}],
        "tags": [["a", "b"], [], None],
    }
)


@pytest.fixture
def user_lake(tmp_path: Path) -> Path:
    """A raw zone whose one file has a struct column named like an SQL function (``user``)."""
    folder = tmp_path / "raw" / TABLE / "year=2026" / "month=11" / "day=27"
    folder.mkdir(parents=True)
    USERS.write_parquet(folder / "part-u-0.parquet")
    return tmp_path


STRUCTS = {"t": {"user": pl.Struct({"country": pl.String, "geo": pl.Struct({"city": pl.String})}), "x": pl.Int64}}


@pytest.mark.parametrize(
    ("sql", "rewritten"),
    [
        ("SELECT user.country FROM t", 'SELECT "user"."country" AS "user.country" FROM t'),
        ("SELECT DISTINCT user.geo.city, x FROM t", 'SELECT DISTINCT "user"."geo"."city" AS "user.geo.city", x FROM t'),
        ("SELECT user.country AS c FROM t", 'SELECT "user"."country" AS c FROM t'),
        (
            "SELECT t.user.country FROM t WHERE user.country = 'DE' GROUP BY user.country",
            """SELECT t."user"."country" AS "user.country" FROM t WHERE "user"."country" = 'DE' GROUP BY "user"."country\"""",
        ),
        ("SELECT a.user.country FROM t AS a", 'SELECT a."user"."country" AS "user.country" FROM t AS a'),
        ("SELECT upper(user.country) FROM t", 'SELECT upper("user"."country") FROM t'),
        ("SELECT user.* FROM t", 'SELECT "user".* FROM t'),
        ("SELECT a.x, t.x FROM t a", "SELECT a.x, t.x FROM t a"),  # a table and its alias qualify plain columns
        ("SELECT 'user.country' -- user.country\nFROM t", "SELECT 'user.country' -- user.country\nFROM t"),
        ('SELECT "user.country" FROM t', 'SELECT "user.country" FROM t'),  # one quoted name: left alone
        ("WITH user AS (SELECT x FROM t) SELECT user.x FROM user", "WITH user AS (SELECT x FROM t) SELECT user.x FROM user"),
        ("SELECT (SELECT max(user.country) FROM t) AS m", 'SELECT (SELECT max("user"."country") FROM t) AS m'),
    ],
)
def test_dotted_struct_fields_are_rewritten(sql: str, rewritten: str) -> None:
    assert dotted_fields(sql, STRUCTS) == rewritten


def test_a_struct_field_by_its_dotted_name(pipeline: Pipeline, lake: Path) -> None:
    zones = query(pipeline.spec, f"SELECT tags.zone, count(*) AS n FROM {TABLE} GROUP BY tags.zone", root=str(lake))
    tags = query(pipeline.spec, f"SELECT tags FROM {TABLE}", root=str(lake))
    expected = tags.select(pl.col("tags").struct.field("zone").alias("tags.zone")).group_by("tags.zone").len("n")
    assert zones.columns == ["tags.zone", "n"] and zones["n"].sum() == tags.height
    assert_frame_equal(zones, expected.with_columns(pl.col("n").cast(pl.Int64)), check_row_order=False)
    zone, n = expected.drop_nulls().sort("n", "tags.zone").row(-1)
    where = query(pipeline.spec, f"SELECT count(*) AS n FROM {TABLE} WHERE tags.zone = '{zone}'", root=str(lake))
    assert where["n"].to_list() == [n] and n > 0


def test_a_struct_column_named_like_an_sql_function(pipeline: Pipeline, user_lake: Path) -> None:
    sql = f"SELECT user.country, count(*) AS n FROM {TABLE} GROUP BY user.country ORDER BY user.country"
    assert query(pipeline.spec, sql, root=str(user_lake)).rows(named=True) == [
        {"user.country": "DE", "n": 2},
        {"user.country": "FR", "n": 1},
    ]
    deep = query(pipeline.spec, f"SELECT user.geo.city FROM {TABLE} WHERE user.geo.city IS NOT NULL", root=str(user_lake))
    assert deep.rows(named=True) == [{"user.geo.city": "Köln"}]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (f"SELECT user.town FROM {TABLE}", 'unable to find struct field "town"; struct fields: user.country, user.geo, '),
        (
            f"SELECT person.town FROM {TABLE}",
            "named 'person' found: a struct's field is column.field, and the struct columns are user",
        ),
        (f"SELECT x FROM {TABLE} WHERE person.town = 1", "a struct's field is column.field, and the struct columns are user"),
        (f"SELECT user FROM {TABLE}", '"user" is a column: quote a column named like an SQL function or keyword'),
    ],
)
def test_struct_field_errors_are_one_line(sql: str, message: str, pipeline: Pipeline, user_lake: Path) -> None:
    with pytest.raises(QueryError) as caught:
        query(pipeline.spec, sql, root=str(user_lake))
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert "Ident {" not in str(caught.value) and "Resolved plan" not in str(caught.value)


def test_describe_lists_columns_and_struct_fields_with_athena_types(pipeline: Pipeline, lake: Path) -> None:
    columns = describe(pipeline.spec, TABLE, root=str(lake))
    rows = {row["column"]: (row["type"], row["athena"]) for row in columns.iter_rows(named=True)}
    assert rows["tags"] == ("struct[2]", "struct<fw:string,zone:string>")
    assert rows["tags.fw"] == rows["tags.zone"] == ("str", "string")
    assert rows["event_time"] == ("datetime[μs, UTC]", "timestamp") and rows["seq"] == ("i64", "bigint")
    assert rows["day"] == ("str", "string")
    top = [name for name in rows if "." not in name]
    assert top == query(pipeline.spec, f"SELECT * FROM {TABLE} LIMIT 0", root=str(lake)).columns
    errors = describe(pipeline.spec, f"errors_{TABLE}", root=str(lake))
    assert errors["athena"].null_count() == errors.height and "reasons" in errors["column"].to_list()
    with pytest.raises(QueryError, match=rf"no table 'nowhere' in the lake \(tables: errors_{TABLE}, {TABLE}, raw_{TABLE}\)"):
        describe(pipeline.spec, "nowhere", root=str(lake))


def test_text_table_prints_full_values_and_struct_field_names() -> None:
    long = "x" * 300
    frame = pl.DataFrame({"text": [long, "short"], "user": USERS["user"][:2], "tags": USERS["tags"][:2]})
    text = text_table(frame, rows=100)
    assert f"│ {long} " in text
    assert '{country: "DE", geo: {city: "Köln"}}' in text and '{country: "FR", geo: null}' in text
    assert '["a", "b"]' in text and "struct[2]" in text and "list[str]" in text  # the columns' own types
    cut = text_table(frame, rows=100, max_width=12)
    assert long not in cut and "xxxxxxxxxxxx…" in cut and '{country: "D…' in cut
    many = pl.DataFrame({"n": range(150)})
    assert text_table(many, rows=100).endswith("\n100 of 150 rows shown; --format csv or json gives them all\n")
    assert text_table(many.head(2), rows=100) == str(many.head(2)) + "\n"  # plain columns: Polars' own table


def test_text_table_keeps_a_row_within_the_widest_table_polars_draws() -> None:
    frame = pl.DataFrame({"a": ["a" * 50_000], "b": ["b" * 50_000]})
    lines = text_table(frame, rows=10).splitlines()
    assert len(lines) == 8 and all(len(line) <= 65_535 for line in lines)  # one line a row, cells cut to fit
    assert "a" * 20_000 in lines[6] and "b" * 20_000 in lines[6]
