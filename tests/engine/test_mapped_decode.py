"""Records are decoded by one ``map``, taken in chunks (between them the background thread may take the GIL) and
resumed after each failure while failures are sparse; once they are dense, record by record. The differential
batches are small, below the switch and within one chunk, so here both are moved: the switch never taken (every
failure resumes the map), with chunks of 1,024 or of 3 records, or taken at once.
"""

from __future__ import annotations

import base64

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from tests.helpers.agreement import assert_agree, pipelines
from tests.helpers.specs import SPECS
from tests.helpers.strategies import batches
from transform_core import RecordBatch
from transform_core.demo.generate import iot_payloads
from transform_core.engine import decode

# (_DENSE_AFTER, _DENSE_SHARE, _YIELD_EVERY)
SWITCH = {"never": (10**9, 1, 1024), "never, chunks of 3": (10**9, 1, 3), "at once": (1, 2, 1024)}


def _move_switch(monkeypatch: pytest.MonkeyPatch, switch: str) -> None:
    after, share, chunk = SWITCH[switch]
    monkeypatch.setattr(decode, "_DENSE_AFTER", after)
    monkeypatch.setattr(decode, "_DENSE_SHARE", share)
    monkeypatch.setattr(decode, "_YIELD_EVERY", chunk)


@pytest.mark.parametrize("switch", sorted(SWITCH))
@pytest.mark.parametrize("name", sorted(SPECS))
@settings(
    max_examples=20, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
)
@given(batch=batches())
def test_drawn_batches_agree_whenever_the_map_is_left(
    name: str, switch: str, batch: RecordBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    _move_switch(monkeypatch, switch)
    assert_agree(name, batch)


@pytest.mark.parametrize("switch", sorted(SWITCH))
@pytest.mark.parametrize("bad", [[0], [5, 6], [13], [19], [0, 2, 4, 19]])
def test_each_failure_is_that_records_alone(bad: list[int], switch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _move_switch(monkeypatch, switch)
    data = [base64.b64encode(p.data).decode() for p in iot_payloads(20, 0.0, seed=5)]
    for k, i in enumerate(bad):  # truncated JSON and data that is not base64, in turn
        data[i] = base64.b64encode(base64.b64decode(data[i])[:-1]).decode() if k % 2 == 0 else "not base64!"
    batch = RecordBatch(record_ids=[f"r{i}" for i in range(20)], data=data, arrival_ms=[1_700_000_000_000] * 20)
    outcomes = assert_agree("iot-example", batch)
    results = outcomes["result"].to_list()
    assert [i for i, r in enumerate(results) if r == "ProcessingFailed"] == bad
    assert all(("json" if k % 2 == 0 else "base64") in outcomes["reason"][i] for k, i in enumerate(bad))


def test_the_decoded_records_are_handed_over_before_the_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    # the engine starts its checks there, while the decode screens the records
    engine, _ = pipelines("iot-example")
    data = [base64.b64encode(p.data).decode() for p in iot_payloads(20, 0.0, seed=6)]
    data[3] = "not base64!"
    data[5] = base64.b64encode('{"device_id":"d\u00e9v"}'.encode()).decode()  # escaped non-ASCII
    steps: list[tuple[str, tuple[object, ...]]] = []
    screen = decode._screen
    monkeypatch.setattr(decode, "_screen", lambda *args: steps.append(("screen", ())) or screen(*args))
    decoded, _ = decode.decode_batch(
        pl.Series(data, dtype=pl.String), engine.schema, frozenset(), lambda *handed: steps.append(("records", handed))
    )
    assert [step for step, _ in steps] == ["records", "screen"]
    records, rows, non_ascii = steps[0][1]
    assert records is decoded.records
    assert decoded.records[3] is engine.schema.rejected and decoded.records[2] is not engine.schema.rejected
    assert rows.equals(decoded.decoded)  # which records decoded, as the screen leaves it
    assert set(decoded.non_ascii) <= set(non_ascii) and 5 in non_ascii  # the rows the checks look at again, or more
