"""Every contender returns the engine's response; each invocation is timed end to end."""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks.compare import assert_same_response
from benchmarks.measure import invoke
from benchmarks.peers import CONTENDERS, Handler, call
from benchmarks.run import Contenders
from benchmarks.workloads import NAMES, Workload, assert_fits, build

ROUNDS = {"buffer": 5, "small": 15, "wide": 5, "kinesis": 5, "spaced": 5}


def _setup(name: str, contender: str, smoke: bool, contenders: Contenders) -> tuple[Workload, Handler]:
    workload = build(name, smoke=smoke)
    handler = contenders.for_spec(workload.spec_path).get(contender)
    if handler is None:
        pytest.skip(f"{contender} is not applicable to {workload.spec_path}")
    return workload, handler


@pytest.mark.parametrize("contender", list(CONTENDERS))
@pytest.mark.parametrize("name", list(NAMES))
def test_same_response(name: str, contender: str, smoke: bool, contenders: Contenders) -> None:
    workload, handler = _setup(name, contender, smoke, contenders)
    assert_same_response(assert_fits(workload), call(handler, workload.event, workload.event_bytes), f"{name} / {contender}")


@pytest.mark.parametrize("contender", list(CONTENDERS))
@pytest.mark.parametrize("name", list(NAMES))
def test_invocation(benchmark: BenchmarkFixture, name: str, contender: str, smoke: bool, contenders: Contenders) -> None:
    """runtime parse + handler + runtime serialization; ``python -m benchmarks`` interleaves these instead."""
    workload, handler = _setup(name, contender, smoke, contenders)
    benchmark.group = name
    benchmark.extra_info.update(records=workload.records, event_bytes=len(workload.event_bytes))
    sample, body = benchmark.pedantic(
        invoke, args=(handler, workload.event_bytes), rounds=ROUNDS[NAMES[name][0]], warmup_rounds=1, iterations=1
    )
    assert body.startswith(b'{"records":') and sample.e2e > 0
