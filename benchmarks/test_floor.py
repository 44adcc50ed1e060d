"""``python -m benchmarks.floor``: its parts do the engine's own work on the workload's records, and it reports them."""

from __future__ import annotations

import msgspec
import pytest

from benchmarks import floor
from benchmarks.workloads import build
from transform_core import RecordBatch, load_pipeline


@pytest.mark.parametrize("name", list(floor.TARGETS))
def test_parts_do_what_the_engine_does(name: str) -> None:
    workload = build(name, smoke=True)
    parts = floor.floor_parts(workload)
    assert list(parts) == [*floor.SERIAL[:2], "base64 decode", *floor.SERIAL[2:], *floor.POLARS[1:]]
    pipeline = load_pipeline(workload.spec_path)
    batch = RecordBatch.from_firehose_event(workload.event)
    result = pipeline.process(batch)
    assert parts["runtime parse"]() == workload.event
    assert parts["event view"]().to_list() == batch.data
    payloads = parts["base64 decode"]().to_list()
    assert len(parts["typed decode"]()) == len(payloads) == len(batch)  # clean workloads: every record decodes
    # timed on the spaced records only, and what it gives is what the engine writes there (before the enrichment)
    enriched = result.outcomes["data"].str.decode("base64").to_list()
    spaced = [i for i, p in enumerate(payloads) if msgspec.json.format(p, indent=-1) != p]
    minified = parts["minify"]()
    assert spaced and len(minified) == len(spaced)
    kept = [(i, text) for i, text in zip(spaced, minified, strict=True) if result.outcomes["result"][i] == "Ok"]
    assert kept and all(enriched[i].startswith(text[:-1]) for i, text in kept)  # dropped records go back as sent
    assert parts["enriched base64"]().to_list() == result.outcomes["data"].to_list()
    assert parts["response"]().body == result.body


def test_prints_the_budget_and_the_floor_of_every_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert floor.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    for name, ratio in floor.TARGETS.items():
        assert f"{name}: " in out and f"target {ratio:g}x" in out
    for part in (*floor.SERIAL, *floor.POLARS):
        assert out.count(f"  {part} ") == len(floor.TARGETS)
    assert out.count("floor, GIL-bound parts:") == len(floor.TARGETS)
    assert "µs a record" in out
