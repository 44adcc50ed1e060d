"""Records drawn from any spec's schema: the valid ones pass the engine, each invalid one fails with its kind's rule."""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.schema_strategies import specs
from tests.helpers.specs import SPECS
from transform_core import load_pipeline
from transform_core.demo.generate import Payload, firehose_event
from transform_core.demo.schema_records import (
    DEFAULT_END,
    DROP_SHARE,
    EXPECTED_RULES,
    INVALID_RECORD_KINDS,
    WINDOW,
    spec_payloads,
)
from transform_core.engine import Pipeline
from transform_core.errors import SpecError
from transform_core.schema import split_reason

END = datetime(2026, 11, 20, 12, tzinfo=UTC)


def judged(pipeline: Pipeline, payloads: list[Payload]) -> pl.DataFrame:
    """The engine's outcome frame of the payloads, with each payload's kind beside it."""
    outcomes = pipeline.process_firehose(firehose_event(payloads)).outcomes
    return outcomes.with_columns(pl.Series("kind", [p.kind for p in payloads]))


def assert_as_meant(outcomes: pl.DataFrame) -> None:
    """Valid records are Ok, dropped ones Dropped, invalid ones ProcessingFailed with their kind's rule."""
    for kind, result, reason in outcomes.select("kind", "result", "reason").iter_rows():
        if kind == "valid":
            assert result == "Ok", (kind, reason)
        elif kind == "dropped":
            assert result == "Dropped", kind
        else:
            assert result == "ProcessingFailed" and split_reason(reason)[2] in EXPECTED_RULES[kind], (kind, reason)


@pytest.fixture(scope="module", params=sorted(SPECS))
def spec_pipeline(request: pytest.FixtureRequest) -> tuple[str, Pipeline]:
    return request.param, load_pipeline(SPECS[request.param])


def test_valid_records_are_ok_or_dropped_per_the_engine(spec_pipeline: tuple[str, Pipeline]) -> None:
    _, pipeline = spec_pipeline
    outcomes = judged(pipeline, spec_payloads(pipeline.spec, 800, 0.0, seed=11, end=END))
    assert_as_meant(outcomes)
    assert set(outcomes["kind"]) <= {"valid", "dropped"}
    assert outcomes.filter(pl.col("result") == "Ok").height > 700


def test_invalid_records_fail_with_the_rule_of_their_kind(spec_pipeline: tuple[str, Pipeline]) -> None:
    name, pipeline = spec_pipeline
    payloads = spec_payloads(pipeline.spec, 900, 0.5, seed=5, end=END)
    assert_as_meant(judged(pipeline, payloads))
    kinds = Counter(p.kind for p in payloads)
    assert sum(kinds[k] for k in INVALID_RECORD_KINDS) == 450
    if name != "epoch-seconds":  # its schema has no required property, bound, enum or format
        assert all(kinds[k] >= 60 for k in INVALID_RECORD_KINDS), kinds


def test_kinds_the_schema_has_no_place_for_are_not_drawn() -> None:
    pipeline = load_pipeline(SPECS["epoch-seconds"])
    kinds = Counter(p.kind for p in spec_payloads(pipeline.spec, 300, 1.0, seed=1, end=END))
    assert set(kinds) == {"wrong_type", "not_json"} and kinds["wrong_type"] == kinds["not_json"] == 150


def test_the_same_seed_and_window_give_the_same_records(pipeline: Pipeline) -> None:
    first = spec_payloads(pipeline.spec, 200, 0.2, seed=4, end=END)
    assert first == spec_payloads(pipeline.spec, 200, 0.2, seed=4, end=END)
    assert first != spec_payloads(pipeline.spec, 200, 0.2, seed=5, end=END)
    assert spec_payloads(pipeline.spec, 50, 0.2, seed=4) == spec_payloads(pipeline.spec, 50, 0.2, seed=4, end=DEFAULT_END)


def test_event_times_fall_in_the_window_and_enrichment_hits(pipeline: Pipeline) -> None:
    outcomes = judged(pipeline, spec_payloads(pipeline.spec, 600, 0.0, seed=2, end=END))
    ok = outcomes.filter(pl.col("result") == "Ok")
    records = [json.loads(base64.b64decode(data)) for data in ok["data"]]
    times = [datetime.fromisoformat(r["event_time"].replace("Z", "+00:00")) for r in records]
    assert min(times) >= END - WINDOW and max(times) < END
    assert max(times) - min(times) > WINDOW * 0.9  # spread over the window
    days = {f"{y}-{m}-{d}" for y, m, d in ok.select("year", "month", "day").iter_rows()}
    assert days == {f"{END - timedelta(days=n):%Y-%m-%d}" for n in range(4)}
    enriched = sum(r["site"] is not None for r in records)
    assert enriched >= 0.99 * len(records)  # keys from devices.csv (a key not in it keeps a null site)


@pytest.mark.parametrize("name", ["epoch-millis", "epoch-seconds"])
def test_epoch_event_times_too(name: str) -> None:
    pipeline = load_pipeline(SPECS[name])
    ok = judged(pipeline, spec_payloads(pipeline.spec, 300, 0.0, seed=3, end=END)).filter(pl.col("result") == "Ok")
    days = {f"{y}-{m}-{d}" for y, m, d in ok.select("year", "month", "day").iter_rows()}
    if name == "epoch-seconds":
        assert days <= {f"{END - timedelta(days=n):%Y-%m-%d}" for n in range(4)}
    else:  # seq is the event time and the key into battery_bands.csv (0-100): enrichment wins, so 1970
        assert days == {"1970-01-01"}


def test_a_drop_rule_drops_about_its_share(pipeline: Pipeline) -> None:
    kinds = Counter(p.kind for p in spec_payloads(pipeline.spec, 2000, 0.0, seed=9, end=END))
    assert DROP_SHARE / 2 < kinds["dropped"] / 2000 < DROP_SHARE * 2


def test_a_schema_no_record_satisfies_is_one_spec_error() -> None:
    never = {"type": "string", "minLength": 3, "maxLength": 2}
    schema = {"type": "object", "properties": {"a": never, "t": {"type": "string"}}, "required": ["a"]}
    spec = {"version": 1, "name": "never", "schema": schema, "event_time": {"field": "t", "on_missing": "arrival_time"}}
    pipeline = load_pipeline(spec)
    with pytest.raises(SpecError, match=r"cannot generate a record this pipeline accepts: 50 drawn, the last rejected: \$\.a: "):
        spec_payloads(pipeline.spec, 3)


@pytest.mark.parametrize(("n", "fraction"), [(-1, 0.0), (1, 1.5), (1, -0.1)])
def test_bad_arguments_are_refused(pipeline: Pipeline, n: int, fraction: float) -> None:
    with pytest.raises(ValueError):
        spec_payloads(pipeline.spec, n, fraction)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=specs(), seed=st.integers(0, 3))
def test_records_for_random_specs_come_out_as_meant(spec: dict[str, Any], seed: int) -> None:
    try:
        pipeline = load_pipeline(spec)
    except SpecError:
        return  # a random spec the loader refuses
    try:
        payloads = spec_payloads(pipeline.spec, 30, 0.5, seed=seed, end=END)
    except SpecError as err:
        assert "cannot generate a record this pipeline accepts" in str(err)  # a schema no drawn record satisfies
        return
    assert_as_meant(judged(pipeline, payloads))
