"""Records are decoded by one ``map``, taken in chunks (between them the text queries are looked at) and resumed
after each failure while failures are sparse; once they are dense, record by record. The differential batches are
small, below the switch and within one chunk, so here both are moved (:class:`~transform_core.tuning.Tuning`): the
switch never taken (every failure resumes the map), with chunks of 1,024 or of 3 records, or taken at once.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings

from tests.helpers.agreement import assert_agree, batch_of, pipelines
from tests.helpers.specs import SPECS
from tests.helpers.strategies import batches
from transform_core import Pipeline, RecordBatch, load_spec
from transform_core.demo.generate import iot_payloads
from transform_core.engine import pipeline as pipeline_module
from transform_core.engine.decode import Decoded
from transform_core.engine.outcome import OutcomePlan
from transform_core.tuning import Tuning

SWITCH = {
    "never": Tuning(loop_after=10**9, loop_share=1, decode_chunk=1024),
    "never, chunks of 3": Tuning(loop_after=10**9, loop_share=1, decode_chunk=3),
    "at once": Tuning(loop_after=1, loop_share=2, decode_chunk=1024),
}


@pytest.mark.parametrize("switch", sorted(SWITCH))
@pytest.mark.parametrize("name", sorted(SPECS))
@settings(max_examples=20, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=batches())
def test_drawn_batches_agree_whenever_the_map_is_left(name: str, switch: str, batch: RecordBatch) -> None:
    assert_agree(name, batch, SWITCH[switch])


@pytest.mark.parametrize("switch", sorted(SWITCH))
@pytest.mark.parametrize("bad", [[0], [5, 6], [13], [19], [0, 2, 4, 19]])
def test_each_failure_is_that_records_alone(bad: list[int], switch: str) -> None:
    data = [base64.b64encode(p.data).decode() for p in iot_payloads(20, 0.0, seed=5)]
    for k, i in enumerate(bad):  # truncated JSON and data that is not base64, in turn
        data[i] = base64.b64encode(base64.b64decode(data[i])[:-1]).decode() if k % 2 == 0 else "not base64!"
    batch = RecordBatch(record_ids=[f"r{i}" for i in range(20)], data=data, arrival_ms=[1_700_000_000_000] * 20)
    outcomes = assert_agree("iot-example", batch, SWITCH[switch])
    results = outcomes["result"].to_list()
    assert [i for i, r in enumerate(results) if r == "ProcessingFailed"] == bad
    assert all(("json" if k % 2 == 0 else "base64") in outcomes["reason"][i] for k, i in enumerate(bad))


def test_the_checks_start_on_the_decoded_records_before_the_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    # the checks run on Polars' threads while the screen works
    engine, _ = pipelines("iot-example")
    data = [base64.b64encode(p.data).decode() for p in iot_payloads(20, 0.0, seed=6)]
    data[3] = "not base64!"
    data[5] = base64.b64encode('{"device_id":"d\u00e9v"}'.encode()).decode()  # escaped non-ASCII, fields missing
    steps: list[tuple[str, tuple[object, ...]]] = []
    start, screen = OutcomePlan.start, pipeline_module.screen
    monkeypatch.setattr(OutcomePlan, "start", lambda plan, *args: steps.append(("checks", args)) or start(plan, *args))
    monkeypatch.setattr(pipeline_module, "screen", lambda *args: steps.append(("screen", args)) or screen(*args))
    engine.process(RecordBatch(record_ids=[f"r{i}" for i in range(20)], data=data, arrival_ms=[None] * 20))
    assert [step for step, _ in steps] == ["checks", "screen"]
    records, ok, non_ascii, _ = steps[0][1]
    decoded = steps[1][1][0]
    assert isinstance(decoded, Decoded) and records is decoded.records
    assert decoded.failed == [3, 5] and decoded.records[3] is engine.schema.rejected
    assert ok is decoded.ok and ok.to_list() == [i not in (3, 5) for i in range(20)]  # type: ignore[attr-defined]
    assert non_ascii == decoded.flags.non_ascii and 5 in non_ascii  # type: ignore[operator]


def test_decode_errors_are_translated_once_per_pipeline() -> None:
    """The decode state, not the compiled schema, remembers the reasons; a full cache starts afresh."""
    spec = load_spec(SPECS["iot-example"])
    engine = Pipeline(spec, tuning=Tuning(reason_cache_size=1))
    bad = [b'{"device_id": 7}', b'{"device_id": "dev-0001", "seq": "x"}']
    engine.process(batch_of(bad[:1]))
    assert len(engine.decode_state.reasons) == 1
    engine.process(batch_of(bad))
    assert len(engine.decode_state.reasons) == 1  # cleared when full, then the newest kept
    assert Pipeline(spec).decode_state.reasons == {}
