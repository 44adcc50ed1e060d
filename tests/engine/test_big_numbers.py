"""Integers beyond 64 bits in fields typed ``number``: judged as the reference judges them, record by record.

msgspec's integer bounds must fit in int64, and without one it decodes any integer, even one beyond a 64-bit
float (which the JSON step rejects: ``float64``). So the integer branch of a number is bounded at int64 by us, and a
record beyond goes to the reference implementation. Before, such a record was judged Ok, an epoch event time beyond a
float failed its whole batch (OverflowError), and a schema bound beyond int64 (``maximum: 1e20``) failed at load.

The reference compares such integers exactly: orjson, which checks the JSON, reads an integer beyond 64 bits as the
nearest float, so the reference judged ``10**20 + 1`` within ``maximum: 1e20``, and ``-2**63 - 1`` at an ``integer``
location within int64 (the engine rejected it: the random fuzz of 2026-11-27 found the disagreement). The engine's
drop rule compared numbers as floats, so ``2**53 + 1`` equalled a drop value of ``2**53``.
"""

from __future__ import annotations

import pytest

from tests.helpers.agreement import agreed_outcomes, batch_of
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
            "n": {"type": "integer"},
            "either": {"type": ["integer", "string"], "maximum": 0},
            "k": {"type": ["number", "string"]},
        },
        "required": ["t"],
    },
    "event_time": {"field": "t", "format": "epoch_seconds"},
    "drop": {"field": "k", "in": [2**53, 10**20, -5, "5"]},
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
    "1" + "0" * 19 + "1",  # 1e20 + 1: as a float, 1e20
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
    got = agreed_outcomes(engine, reference, batch_of([GOOD, record, GOOD]))  # used to raise OverflowError
    assert got["result"].to_list()[::2] == ["Ok", "Ok"]


def _judged(pipelines: tuple[Pipeline, ReferencePipeline], members: dict[str, str]) -> tuple[str, str | None]:
    """The result and the engine's reason for a record of ``members`` (JSON texts) between two good records; the
    engine and the reference agree."""
    record = ("{" + ",".join(f'"{name}":{value}' for name, value in members.items()) + "}").encode()
    got = agreed_outcomes(*pipelines, batch_of([GOOD, record, GOOD]))
    assert got["result"].to_list()[::2] == ["Ok", "Ok"]
    return got["result"][1], got["reason"][1]


def test_an_integer_just_past_a_bound_fails_though_its_float_does_not(pipelines: tuple[Pipeline, ReferencePipeline]) -> None:
    assert _judged(pipelines, {"t": "1790000000", "wide": "1" + "0" * 20}) == ("Ok", None)
    result, reason = _judged(pipelines, {"t": "1790000000", "wide": "1" + "0" * 19 + "1"})
    assert result == "ProcessingFailed" and reason is not None and reason.endswith("(maximum)")


# -2**63 - 1 … -2**63 - 1024 are read by orjson as the float -2**63, which is within int64
@pytest.mark.parametrize("value", [-(2**63) - 1, -(2**63) - 1024, -(2**63) - 1025, 2**63, 2**64, 2**64 + 1, 10**30])
@pytest.mark.parametrize("field", ["n", "either"])
def test_an_integer_beyond_int64_at_an_integer_location_fails(
    value: int, field: str, pipelines: tuple[Pipeline, ReferencePipeline]
) -> None:
    result, reason = _judged(pipelines, {"t": "1790000000", field: str(value)})
    assert result == "ProcessingFailed" and reason is not None
    assert reason.endswith("(int64)") or (field == "either" and value > 0 and reason.endswith("(maximum)")), reason


@pytest.mark.parametrize("value", [-(2**63), 2**63 - 1])
@pytest.mark.parametrize("field", ["n", "either"])
def test_int64_bounds_pass_at_an_integer_location(value: int, field: str, pipelines: tuple[Pipeline, ReferencePipeline]) -> None:
    expected = "ProcessingFailed" if field == "either" and value > 0 else "Ok"  # either's maximum is 0
    assert _judged(pipelines, {"t": "1790000000", field: str(value)})[0] == expected


@pytest.mark.parametrize(
    ("literal", "result"),
    [
        ("9007199254740992", "Dropped"),  # 2**53
        ("9007199254740992.0", "Dropped"),
        ("9007199254740993", "Ok"),  # 2**53 + 1: as a float, 2**53
        ("9007199254740993.0", "Dropped"),  # the float 2**53
        ("100000000000000000000", "Dropped"),
        ("1e20", "Dropped"),
        ("100000000000000000001", "Ok"),
        ("-5.0", "Dropped"),
        ("-5.000000000000001", "Ok"),
        ('"5"', "Dropped"),
        ("5", "Ok"),
        ('"-5"', "Ok"),
    ],
)
def test_the_drop_rule_compares_numbers_exactly(literal: str, result: str, pipelines: tuple[Pipeline, ReferencePipeline]) -> None:
    assert _judged(pipelines, {"t": "1790000000", "k": literal}) == (result, None)
