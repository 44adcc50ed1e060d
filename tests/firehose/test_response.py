"""build_response: an outcome frame → the Firehose response bytes, escaped where needed and shed to stay strictly
under Lambda's response limit (the handler-level checks live with the adapter, in tests/adapters)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.helpers.responses import (
    DAY_KEYS,
    HOUR_KEYS,
    ID_TEXT,
    IN_POLARS,
    IN_PYTHON,
    ODD_TEXT,
    SHED_ROWS,
    SOURCE,
    check_shed_response,
    outcome_frame,
    respond,
    response_body,
    shed_from,
)
from transform_core import RecordBatch, load_pipeline
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.firehose.outcomes import DROPPED, FAILED, OK, outcome_schema
from transform_core.firehose.response import (
    LAMBDA_RESPONSE_LIMIT,
    _entries_joiner,
    _entry,
    build_response,
    entry_in_query,
)
from transform_core.tuning import Tuning

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SPEC = REPO / "examples" / "iot" / "pipeline.yaml"
FRAMED_FROM = Tuning().framed_response_from  # records from which the response is joined in Polars
KEY_SETS = pytest.mark.parametrize("keys", [DAY_KEYS, HOUR_KEYS], ids=["day", "hour"])


# --- the body ---------------------------------------------------------------------------------------------------------

# The body is written two ways: f-strings in Python for small batches, entries joined in Polars from
# ``framed_response_from`` records. Each test below that builds a body runs both ways.
PATHS = pytest.mark.parametrize("tuning", [IN_PYTHON, IN_POLARS], ids=["joined-in-python", "joined-in-polars"])


@KEY_SETS
@PATHS
@pytest.mark.parametrize("not_base64", [None, []], ids=["any-row-unchecked", "all-base64"])
def test_an_empty_batch_gives_an_empty_record_list(keys: tuple[str, ...], tuning: Tuning, not_base64: list[int] | None) -> None:
    empty = outcome_frame([], keys)

    response = respond(empty, [], keys, not_base64=not_base64, tuning=tuning)

    assert (response.body, response.shed) == (b'{"records":[]}', 0)
    assert_frame_equal(response.outcomes, empty)


ROWS = [("a", OK, "eyJ9"), ("b", DROPPED, "eA=="), ("c", FAILED, "eQ==")]
BODIES = {
    DAY_KEYS: b'{"records":[{"recordId":"a","result":"Ok","data":"eyJ9","metadata":{"partitionKeys":'
    b'{"year":"2026","month":"11","day":"27"}}},{"recordId":"b","result":"Dropped","data":"eA=="},'
    b'{"recordId":"c","result":"ProcessingFailed","data":"eQ=="}]}',
    HOUR_KEYS: b'{"records":[{"recordId":"a","result":"Ok","data":"eyJ9","metadata":{"partitionKeys":'
    b'{"year":"2026","month":"11","day":"27","hour":"05"}}},{"recordId":"b","result":"Dropped","data":"eA=="},'
    b'{"recordId":"c","result":"ProcessingFailed","data":"eQ=="}]}',
}


@KEY_SETS
@PATHS
@pytest.mark.parametrize("not_base64", [None, [], [1, 2]], ids=["any-row-unchecked", "all-base64", "failed-rows-not-base64"])
def test_only_ok_entries_carry_partition_keys_in_key_order(
    keys: tuple[str, ...], tuning: Tuning, not_base64: list[int] | None
) -> None:
    frame = outcome_frame(ROWS, keys)
    assert respond(frame, ["x", "eA==", "eQ=="], keys, not_base64=not_base64, tuning=tuning).body == BODIES[keys]


@pytest.mark.parametrize("how", ["threshold-of-one", "entries-given"])
def test_a_one_record_body_joined_in_polars_is_the_whole_response(how: str) -> None:
    frame = outcome_frame(ROWS[2:], DAY_KEYS)
    if how == "entries-given":
        options: dict[str, Any] = {"entries": frame.select(entry_in_query(DAY_KEYS)).to_series()}
    else:
        options = {"tuning": Tuning(framed_response_from=1)}

    response = respond(frame, ["eQ=="], DAY_KEYS, not_base64=[], **options)

    assert response.body == response_body(frame, DAY_KEYS)


ESCAPED_IDS = ['id"quote', "back\\slash", "tab\there", "nul\x00", "unit\x1f", "line\u2028sep", "été", "😀", "\\u0041", "{}"]


@KEY_SETS
@PATHS
@pytest.mark.parametrize("not_base64", [None, []], ids=["any-row-unchecked", "all-base64"])
@pytest.mark.parametrize("record_id", ESCAPED_IDS)
def test_record_ids_needing_json_escapes_come_back_verbatim(
    keys: tuple[str, ...], tuning: Tuning, not_base64: list[int] | None, record_id: str
) -> None:
    base = [(f"r{i}", (OK, FAILED, DROPPED)[i % 3], "eyJ9") for i in range(5)]
    base[0] = (record_id, OK, "eyJ9")
    base[-1] = (record_id + "-last", FAILED, "eyJ9")
    frame = outcome_frame(base, keys)

    response = respond(frame, ["eyJ9"] * 5, keys, not_base64=not_base64, tuning=tuning)

    assert response.body == response_body(frame, keys)
    ids = [entry["recordId"] for entry in json.loads(response.body)["records"]]
    assert (ids[0], ids[-1], len(ids)) == (record_id, record_id + "-last", 5)


NOT_BASE64 = ['not"base64', "back\\slash", "ctl\x01", "new\nline", "\u2028", "é"]


@PATHS
@pytest.mark.parametrize("declared", [False, True], ids=["found-by-the-check", "named-in-not_base64"])
def test_failed_data_that_is_not_base64_is_escaped(tuning: Tuning, declared: bool) -> None:
    base = [(f"r{i}", OK, "eyJ9") for i in range(12)]
    rows = list(range(1, 12, 2))
    for i, text in zip(rows, NOT_BASE64, strict=True):
        base[i] = (f"r{i}", FAILED, text)
    frame = outcome_frame(base, DAY_KEYS)
    source = [d for _, _, d in base]

    response = respond(frame, source, DAY_KEYS, not_base64=rows if declared else None, tuning=tuning)

    assert response.body == response_body(frame, DAY_KEYS)
    assert [json.loads(response.body)["records"][i]["data"] for i in rows] == NOT_BASE64


@KEY_SETS
@pytest.mark.parametrize("rows", [2, 3, 1200])
def test_entries_computed_in_the_callers_query_give_the_same_body(keys: tuple[str, ...], rows: int) -> None:
    frame = outcome_frame([(f"r{i}", (OK, FAILED, DROPPED)[i % 3], "eyJ9") for i in range(rows)], keys)
    entries = frame.select(entry_in_query(keys)).to_series()

    response = respond(frame, ["eyJ9"] * rows, keys, not_base64=[], record_ids=frame["record_id"].to_list(), entries=entries)

    assert response.body == response_body(frame, keys)


@st.composite
def outcome_frames(draw: st.DrawFn) -> tuple[pl.DataFrame, tuple[str, ...], list[int]]:
    """A frame whose ids may need escapes and whose failed rows may hold any text; and the rows with such text."""
    keys = draw(st.sampled_from([DAY_KEYS, HOUR_KEYS]))
    n = draw(st.integers(0, 30))
    rows, not_base64 = [], []
    for i in range(n):
        result = draw(st.sampled_from([OK, OK, FAILED, DROPPED]))
        data = draw(st.text(alphabet="AQw=+/", max_size=12)) if result != FAILED else draw(ODD_TEXT)
        if result == FAILED:
            not_base64.append(i)
        rows.append((f"{i}-" + draw(ID_TEXT), result, data))
    return outcome_frame(rows, keys), keys, not_base64


@given(case=outcome_frames(), declared=st.booleans(), tuning=st.sampled_from([IN_PYTHON, IN_POLARS]))
def test_any_frame_under_the_limit_is_its_records_as_orjson_writes_them(
    case: tuple[pl.DataFrame, tuple[str, ...], list[int]], declared: bool, tuning: Tuning
) -> None:
    frame, keys, not_base64 = case

    response = respond(frame, frame["data"].to_list(), keys, not_base64=not_base64 if declared else None, tuning=tuning)

    assert response.body == response_body(frame, keys)
    assert response.shed == 0
    assert_frame_equal(response.outcomes, frame)


# --- shedding at a small limit ------------------------------------------------------------------------------------------


@KEY_SETS
@pytest.mark.parametrize(("keep", "shed"), [(5, 0), (4, 1), (0, 3)])
def test_trailing_ok_records_are_shed_until_the_body_is_under_the_limit(keys: tuple[str, ...], keep: int, shed: int) -> None:
    frame = outcome_frame(SHED_ROWS, keys)
    expected = shed_from(frame, SOURCE, keep, keys)
    limit = len(response_body(expected, keys)) + 1  # just room for this many kept

    response = respond(frame, SOURCE, keys, limit=limit)

    assert_frame_equal(response.outcomes, expected)
    assert response.shed == shed
    assert response.body == response_body(expected, keys)
    assert len(response.body) < limit


@KEY_SETS
def test_a_dropped_record_behind_the_cut_does_not_make_more_records_shed(keys: tuple[str, ...]) -> None:
    frame = outcome_frame(SHED_ROWS, keys)  # r3 is Dropped, behind r2
    expected = shed_from(frame, SOURCE, 2, keys)  # r0 kept, r2 and r4 shed
    limit = len(response_body(expected, keys)) + 1  # that body fits

    response = respond(frame, SOURCE, keys, limit=limit)

    assert response.shed == 2
    assert_frame_equal(response.outcomes, expected)


@KEY_SETS
def test_a_body_of_exactly_the_limit_is_too_large(keys: tuple[str, ...]) -> None:
    frame = outcome_frame(SHED_ROWS, keys)
    full = response_body(frame, keys)

    at_limit = respond(frame, SOURCE, keys, limit=len(full))
    above = respond(frame, SOURCE, keys, limit=len(full) + 1)

    assert_frame_equal(at_limit.outcomes, shed_from(frame, SOURCE, 4, keys))
    assert (at_limit.shed, above.shed, above.body) == (1, 0, full)


def test_a_limit_nothing_can_meet_sheds_every_ok_record_and_still_answers() -> None:
    frame = outcome_frame(SHED_ROWS, DAY_KEYS)

    response = respond(frame, SOURCE, DAY_KEYS, limit=10)

    everything_shed = shed_from(frame, SOURCE, 0, DAY_KEYS)
    assert_frame_equal(response.outcomes, everything_shed)
    assert (response.shed, response.body) == (3, response_body(everything_shed, DAY_KEYS))


# --- shedding at Lambda's own limit -----------------------------------------------------------------------------------


def frame_of_size(size: int) -> tuple[pl.DataFrame, list[str]]:
    """Ok records whose response is exactly ``size`` bytes (the last record's data padded to make it so)."""
    rows = [(f"r{i:04d}", OK, "A" * 3880) for i in range(1500)]
    short = len(response_body(outcome_frame(rows, DAY_KEYS), DAY_KEYS))
    assert short < size
    rows[-1] = (rows[-1][0], OK, "A" * (3880 + size - short))
    return outcome_frame(rows, DAY_KEYS), ["Q" * 100] * len(rows)


@pytest.mark.parametrize(("size", "sheds"), [(LAMBDA_RESPONSE_LIMIT - 1, False), (LAMBDA_RESPONSE_LIMIT, True)])
def test_the_default_limit_is_lambdas_response_limit(size: int, sheds: bool) -> None:
    frame, source = frame_of_size(size)
    assert len(response_body(frame, DAY_KEYS)) == size

    response = respond(frame, source, DAY_KEYS, not_base64=[])

    assert len(response.body) < LAMBDA_RESPONSE_LIMIT
    assert (response.shed > 0) == sheds
    keep = len(frame) - response.shed
    assert_frame_equal(response.outcomes, shed_from(frame, source, keep, DAY_KEYS))
    assert response.body == response_body(response.outcomes, DAY_KEYS)
    if sheds:  # no more than needed: keeping one more record would not fit
        assert len(response_body(shed_from(frame, source, keep + 1, DAY_KEYS), DAY_KEYS)) >= LAMBDA_RESPONSE_LIMIT


@pytest.fixture(scope="module")
def generated_batch() -> RecordBatch:
    """300 generated records, 20% of them invalid: Ok, failed and dropped records mixed throughout."""
    return RecordBatch.from_firehose_event(firehose_event(iot_payloads(300, 0.2, seed=7)))


@pytest.mark.parametrize("fraction", [0.999, 0.9, 0.5, 0.1])
def test_build_response_sheds_trailing_ok_records_to_stay_under_the_limit(generated_batch: RecordBatch, fraction: float) -> None:
    pipeline = load_pipeline(EXAMPLE_SPEC)
    outcomes = pipeline.process(generated_batch).outcomes
    source = pl.Series(generated_batch.data, dtype=pl.String)
    full = build_response(outcomes, source, DAY_KEYS)
    everything = build_response(outcomes, source, DAY_KEYS, limit=1)  # the smallest body shedding can reach
    assert (full.shed, everything.shed) == (0, outcomes["result"].eq(OK).sum())
    limit = len(everything.body) + 1 + int((len(full.body) - len(everything.body) - 1) * fraction)

    response = build_response(outcomes, source, DAY_KEYS, limit=limit)

    shed = check_shed_response(full.body, response.body, outcomes, response.outcomes, generated_batch.data, limit)
    assert response.shed == shed


@pytest.mark.parametrize(("extra", "sheds"), [(0, True), (1, False)])
def test_a_response_of_exactly_the_limit_is_too_large(generated_batch: RecordBatch, extra: int, sheds: bool) -> None:
    outcomes = load_pipeline(EXAMPLE_SPEC).process(generated_batch).outcomes
    source = pl.Series(generated_batch.data, dtype=pl.String)
    full = build_response(outcomes, source, DAY_KEYS)

    response = build_response(outcomes, source, DAY_KEYS, limit=len(full.body) + extra)

    assert (response.shed > 0) == sheds
    assert len(response.body) < len(full.body) + extra


def _expected_body(frame: pl.DataFrame, source: list[str], keep: int) -> bytes:
    """The response built record by record with orjson, records from ``keep`` on shed if they are Ok."""
    entries = []
    for i, row in enumerate(frame.iter_rows(named=True)):
        if row["result"] == OK and i >= keep:
            entries.append({"recordId": row["record_id"], "result": FAILED, "data": source[i]})
        elif row["result"] == OK:
            metadata = {"partitionKeys": {k: row[k] for k in DAY_KEYS}}
            entries.append({"recordId": row["record_id"], "result": OK, "data": row["data"], "metadata": metadata})
        else:
            entries.append({"recordId": row["record_id"], "result": row["result"], "data": row["data"]})
    return orjson.dumps({"records": entries})


ID_CHARACTERS = '0123456789ab"\\é\u2028'  # recordIds that need JSON escaping too


@st.composite
def shed_cases(draw: st.DrawFn) -> tuple[pl.DataFrame, list[str]]:
    n = draw(st.integers(0, 25))
    results = draw(st.lists(st.sampled_from([OK, OK, FAILED, DROPPED]), min_size=n, max_size=n))
    ids = [f"{i}-" + draw(st.text(alphabet=ID_CHARACTERS, max_size=4)) for i in range(n)]
    source = ["Q" * draw(st.integers(0, 300)) for _ in range(n)]
    data = [("A" * draw(st.integers(0, 300)) if r == OK else s) for r, s in zip(results, source, strict=True)]
    days = [draw(st.dates()) if r == OK else None for r in results]
    frame = pl.DataFrame(
        {
            "record_id": ids,
            "result": results,
            "data": data,
            "reason": [None if r == OK else "$: bad (type)" for r in results],
            "year": [f"{d.year:04d}" if d else None for d in days],
            "month": [f"{d.month:02d}" if d else None for d in days],
            "day": [f"{d.day:02d}" if d else None for d in days],
        },
        schema=outcome_schema(DAY_KEYS),
    )
    return frame, source


@settings(max_examples=300, deadline=None)
@given(case=shed_cases(), data=st.data())
def test_shedding_keeps_the_body_under_any_limit_it_can_meet(case: tuple[pl.DataFrame, list[str]], data: st.DataObject) -> None:
    frame, source = case
    n = len(frame)
    full = _expected_body(frame, source, keep=n)
    everything_shed = _expected_body(frame, source, keep=0)
    limit = data.draw(st.integers(1, len(full) + 10), label="limit")

    response = build_response(frame, pl.Series(source, dtype=pl.String), DAY_KEYS, limit=limit)

    after = response.outcomes["result"].to_list()
    shed = [i for i, (b, a) in enumerate(zip(frame["result"].to_list(), after, strict=True)) if b == OK and a == FAILED]
    keep = shed[0] if shed else n
    assert response.body == _expected_body(frame, source, keep)  # ids in order, prefix as built, every later Ok shed
    assert response.shed == len(shed) == sum(1 for i, r in enumerate(frame["result"].to_list()) if r == OK and i >= keep)
    if len(full) < limit:
        assert response.shed == 0
    if len(everything_shed) < limit:
        assert len(response.body) < limit
        if shed and DROPPED not in frame["result"].to_list():
            # no more than needed: keeping the first shed record as well would not fit
            assert len(_expected_body(frame, source, keep + 1)) >= limit


def test_shedding_keeps_the_largest_prefix_that_fits() -> None:
    # Four Ok records; record 2's enriched entry is shorter than its original (shed) entry.
    n = 4
    frame = pl.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(n)],
            "result": [OK] * n,
            "data": ["A" * size for size in (200, 250, 100, 300)],
            "reason": [None] * n,
            "year": ["2026"] * n,
            "month": ["11"] * n,
            "day": ["27"] * n,
        },
        schema=outcome_schema(DAY_KEYS),
    )
    source = ["Q" * 200] * n
    totals = [len(_expected_body(frame, source, keep)) for keep in range(n + 1)]
    limit = totals[3] + 1
    assert [t < limit for t in totals] == [True, True, False, True, False]  # keeping 3 fits, keeping 2 does not

    response = build_response(frame, pl.Series(source, dtype=pl.String), DAY_KEYS, limit=limit)

    assert response.body == _expected_body(frame, source, keep=3)
    assert response.shed == 1


@settings(max_examples=200, deadline=None)
@given(case=shed_cases(), data=st.data())
def test_data_that_is_not_base64_is_escaped_when_it_needs_it(case: tuple[pl.DataFrame, list[str]], data: st.DataObject) -> None:
    """Rows whose data is not base64 (any text) are escaped where needed, whichever way the body is built."""
    frame, source = case
    failed = [i for i, r in enumerate(frame["result"].to_list()) if r != OK]
    odd = data.draw(st.lists(st.sampled_from(failed), unique=True) if failed else st.just([]), label="odd rows")
    texts = data.draw(st.lists(st.text(alphabet='ab"\\\x00\x1f\té\u2028', max_size=6), min_size=len(odd), max_size=len(odd)))
    source = list(source)
    for i, text in zip(odd, texts, strict=True):
        source[i] = text
    data_column = [d if r == OK else s for d, r, s in zip(frame["data"], frame["result"], source, strict=True)]
    frame = frame.with_columns(pl.Series("data", data_column, dtype=pl.String))

    response = build_response(frame, pl.Series(source, dtype=pl.String), DAY_KEYS, not_base64=odd)

    assert response.body == _expected_body(frame, source, keep=len(frame))


@pytest.mark.parametrize("rows", [1, FRAMED_FROM - 1, FRAMED_FROM, FRAMED_FROM + 1])
def test_the_usual_body_is_the_same_framed_in_the_query_or_in_python(generated_batch: RecordBatch, rows: int) -> None:
    outcomes = load_pipeline(EXAMPLE_SPEC).process(generated_batch).outcomes
    copies = rows // len(outcomes) + 1
    frame = pl.concat([outcomes] * copies).head(rows)
    source = (list(generated_batch.data) * copies)[:rows]

    response = build_response(frame, pl.Series(source, dtype=pl.String), DAY_KEYS, not_base64=[])

    assert response.body == _expected_body(frame, source, keep=rows)


@settings(max_examples=200, deadline=None)
@given(
    keys=st.sampled_from([(), ("year",), DAY_KEYS, (*DAY_KEYS, "hour")]),
    rows=st.lists(
        st.tuples(
            st.sampled_from([OK, FAILED, DROPPED]),
            st.text("AQw=+/", max_size=8),
            st.lists(st.none() | st.text("0129", max_size=4), min_size=4, max_size=4),
        ),
        max_size=20,
    ),
)
def test_small_bodies_are_joined_in_python_as_the_query_joins_them(
    keys: tuple[str, ...], rows: list[tuple[str, str, list[str | None]]]
) -> None:
    """Below FRAMED_FROM records the entries are f-strings; they must read as _entry's, null keys included."""
    frame = pl.DataFrame(
        {
            "record_id": [f"id{i}" for i in range(len(rows))],
            "result": [r for r, _, _ in rows],
            "data": [d for _, d, _ in rows],
            **{key: [values[k] for _, _, values in rows] for k, key in enumerate(keys)},
        },
        schema={name: pl.String for name in ("record_id", "result", "data", *keys)},
    )
    expected = frame.select(_entry(keys).str.join(",")).item()
    assert _entries_joiner(keys)(*[frame[name].to_list() for name in frame.columns]) == expected
