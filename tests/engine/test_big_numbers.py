"""Integers beyond 64 bits in fields typed ``number``: judged as the reference judges them, record by record.

msgspec's integer bounds must fit in int64, and without one it decodes any integer, even one beyond a 64-bit
float (which the JSON step rejects: ``float64``). So the integer branch of a number is bounded at int64 by us, and a
record beyond goes to the reference implementation. Before, such a record was judged Ok, an epoch event time beyond a
float failed its whole batch (OverflowError), and a schema bound beyond int64 (``maximum: 1e20``) failed at load.
"""

from __future__ import annotations

import base64

import pytest
from polars.testing import assert_frame_equal

from transform_core import RecordBatch
from transform_core.engine import Pipeline
from transform_core.reference import ReferencePipeline
from transform_core.spec import load_spec

SPEC = {
    "version": 1,
    "name": "big-numbers",
    "schema": {
        "type": "object",
        "properties": {
            "t": {"type": "number"},
            "any": {"type": ["number", "null"]},
            "wide": {"type": "number", "minimum": -1e30, "maximum": 1e20},
            "list": {"type": "array", "items": {"type": "number", "exclusiveMinimum": -5}},
        },
        "required": ["t"],
    },
    "event_time": {"field": "t", "format": "epoch_seconds"},
}
GOOD = b'{"t":1790000000,"any":1.5,"wide":-3,"list":[1,2.5]}'
MAX_FLOAT = "17976931348623157" + "0" * 292  # the largest double, written as an integer: finite
LITERALS = [
    "0",
    "9223372036854775807",
    "9223372036854775808",  # 2**63: past int64
    "-9223372036854775809",
    "18446744073709551616",
    "1" + "0" * 20,  # wide's maximum is 1e20
    "1" + "0" * 20 + "1",
    "-1" + "0" * 30,  # wide's minimum is -1e30
    "-1" + "0" * 30 + "1",
    MAX_FLOAT,
    "17976931348623159" + "0" * 292,  # rounds to infinity
    "9" * 400,
    "-" + "9" * 400,
]


@pytest.fixture(scope="module")
def pipelines() -> tuple[Pipeline, ReferencePipeline]:
    spec = load_spec(SPEC)  # wide's bounds, beyond int64, used to fail the load
    return Pipeline(spec), ReferencePipeline(spec)


@pytest.mark.parametrize("literal", LITERALS)
@pytest.mark.parametrize("field", ["t", "any", "wide", "list"])
def test_an_integer_beyond_64_bits_is_judged_as_the_reference_judges_it(
    literal: str, field: str, pipelines: tuple[Pipeline, ReferencePipeline]
) -> None:
    engine, reference = pipelines
    members = {"t": "1790000000", "any": "1.5", "wide": "-3", "list": "[1,2.5]"}
    members[field] = f"[1,{literal}]" if field == "list" else literal
    record = ("{" + ",".join(f'"{name}":{value}' for name, value in members.items()) + "}").encode()
    data = [base64.b64encode(p).decode() for p in (GOOD, record, GOOD)]
    batch = RecordBatch(record_ids=["a", "b", "c"], data=data, arrival_ms=[None] * 3)
    got = engine.process(batch)  # used to raise OverflowError for an epoch beyond a float
    assert_frame_equal(got.outcomes.drop("reason"), reference.process(batch).drop("reason"))
    assert got.outcomes["result"].to_list()[::2] == ["Ok", "Ok"]
