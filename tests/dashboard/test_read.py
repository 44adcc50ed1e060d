"""What the dashboard reads from a lake: the counts, rules, partitions and means equal what went in."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from tests.dashboard.lakes import Written, ok_values, write_lake
from tests.helpers.specs import SPECS
from transform_core import load_pipeline
from transform_core.dashboard import DashboardData, default_measure, read_dashboard
from transform_core.engine import Pipeline
from transform_core.lake.storage import list_sizes
from transform_core.schema import rule_id


@pytest.fixture(scope="module")
def written(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Written:
    return write_lake(pipeline, tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="module")
def data(pipeline: Pipeline, written: Written) -> DashboardData:
    return read_dashboard(pipeline.spec, str(written.root))


def test_counts_are_those_written(written: Written, data: DashboardData) -> None:
    assert data.ok_zone == "raw"
    assert data.ok_records == written.ok().height > 1000
    assert data.rejected_records == written.failed().height == 150
    assert data.drop_rule == "event_type in heartbeat"
    assert not data.empty


def test_outcomes_over_time_add_up(written: Written, data: DashboardData) -> None:
    totals = dict(data.outcomes.group_by("outcome").agg(pl.col("records").sum()).iter_rows())
    assert totals == {"Ok": written.ok().height, "ProcessingFailed": written.failed().height}
    assert data.outcome_bucket is not None and data.outcomes["time"].dtype == pl.Datetime("us")


def test_rules_are_the_rejections_by_path_and_rule(written: Written, data: DashboardData) -> None:
    expected = Counter(rule_id(reason) for reason in written.failed()["reason"])
    top = dict(zip(data.rules["rule"], data.rules["records"], strict=True))
    assert len(top) == min(15, len(expected))
    assert all(expected[rule] == count for rule, count in top.items())
    assert list(top.values()) == sorted(expected.values(), reverse=True)[: len(top)]  # the largest, ties by name
    for rule, example in data.rules.select("rule", "example").iter_rows():
        assert rule_id(example) == rule


def test_partitions_and_files_are_the_lake_s(written: Written, data: DashboardData) -> None:
    on_disk = {**list_sizes(str(written.root / "raw")), **list_sizes(str(written.root / "errors"))}
    assert dict(zip(data.files["file"], data.files["bytes"], strict=True)) == on_disk
    raw = data.partitions.filter(pl.col("zone") == "raw")
    days = Counter(f"{y}-{m}-{d}" for y, m, d in written.ok().select("year", "month", "day").iter_rows())
    assert dict(zip(raw["partition"], raw["rows"], strict=True)) == days
    assert data.partitions["files"].sum() == len(on_disk)
    assert data.partitions.filter(pl.col("zone") == "errors")["rows"].sum() == written.failed().height


def test_the_measure_is_the_mean_of_value_by_site(written: Written, data: DashboardData) -> None:
    measure = data.measure
    assert measure is not None and (measure.column, measure.by) == ("value", "site")
    weighted = (measure.frame["mean"] * measure.frame["records"]).sum() / measure.frame["records"].sum()
    values = [float(v) for v in ok_values(written, "value")]
    assert measure.frame["records"].sum() == len(values)
    assert weighted == pytest.approx(sum(values) / len(values))
    assert measure.frame["group"].n_unique() <= 10  # the 8 largest sites, other, (none)
    assert data.event_times is not None and data.event_times[0] < data.event_times[1]


def test_measure_and_grouping_can_be_chosen(pipeline: Pipeline, written: Written) -> None:
    data = read_dashboard(pipeline.spec, str(written.root), measure="battery", by="event_type")
    assert data.measure is not None and set(data.measure.frame["group"]) <= {"telemetry", "alert", "(none)"}


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"measure": "site"}, "--measure 'site' is not a numeric column of the lake (numeric columns: seq, value, battery, rssi"),
        ({"measure": "nope"}, "--measure 'nope' is not a numeric column"),
        ({"by": "tags"}, "--by 'tags' is not a column of the lake with one value per record"),
    ],
)
def test_a_bad_choice_is_one_clear_error(pipeline: Pipeline, tmp_path: Path, option: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        read_dashboard(pipeline.spec, str(tmp_path), **option)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("iot-example", ("value", "site")), ("exotic", ("value", "site")), ("epoch-millis", ("value", "band")),
     ("epoch-seconds", (None, "model"))],
)  # fmt: skip
def test_the_default_measure_comes_from_the_spec(name: str, expected: tuple[str | None, str | None]) -> None:
    assert default_measure(load_pipeline(SPECS[name]).spec) == expected


def test_an_empty_lake_reads_as_empty(pipeline: Pipeline, tmp_path: Path) -> None:
    data = read_dashboard(pipeline.spec, str(tmp_path / "nothing-here"))
    assert data.empty and data.ok_zone is None and data.measure is None
    assert data.measure_note == "no Ok records in the lake yet"
    assert data.outcomes.is_empty() and data.rules.is_empty() and data.partitions.is_empty()


def test_hourly_partitions_are_labelled_by_hour(tmp_path: Path) -> None:
    pipeline = load_pipeline(SPECS["exotic"])
    written = write_lake(pipeline, tmp_path, n=600)
    data = read_dashboard(pipeline.spec, str(tmp_path))
    raw = data.partitions.filter(pl.col("zone") == "raw")
    assert all(len(p) == 13 and p[10] == "T" for p in raw["partition"])  # 2026-11-19T07
    assert raw["rows"].sum() == data.ok_records == written.ok().height


def test_without_a_raw_zone_ok_records_come_from_the_curated_table(pipeline: Pipeline, tmp_path: Path) -> None:
    from transform_core.lake.curated import compact

    written = write_lake(pipeline, tmp_path, n=600)
    compact(pipeline.spec, str(tmp_path))
    shutil.rmtree(tmp_path / "raw")
    data = read_dashboard(pipeline.spec, str(tmp_path))
    assert data.ok_zone == "curated"
    assert data.ok_records == written.ok().height  # generated records are distinct: nothing deduplicated
    assert set(data.files["zone"]) == {"curated", "errors"}
    assert data.measure is not None and data.measure.frame["records"].sum() == data.ok_records


def test_a_dropped_count_from_the_caller_is_kept(pipeline: Pipeline, written: Written) -> None:
    assert read_dashboard(pipeline.spec, str(written.root), dropped=42).dropped_records == 42
