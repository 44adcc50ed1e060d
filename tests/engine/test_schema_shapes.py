"""Schema shapes the record type cannot express alone: judged as the reference judges them, value for value.

Each was found by a random-schema fuzz (2026-11-27) and judged wrongly before:
- a property of an object inside an array that only the reference can check (numeric ``enum``, ``not``, ...) was
  not checked at all: a value in an array has no slot of its own, so the array now goes to the reference whole;
- ``type: [integer, number]`` applied the integer's rules (a whole number within int64) to every number;
- an integer bound no int64 value can meet (``minimum: 1e20``) failed the load with msgspec's ``ValueError``;
- so did a property name with a quote, a backslash or a control character, which msgspec cannot give a field (a
  nested object with one now goes to the reference; at the top level it is a ``SpecError`` naming the property).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers.agreement import agreed_outcomes, batch_of
from transform_core.engine import Pipeline
from transform_core.reference import ReferencePipeline
from transform_core.spec import load_spec

OK, FAILED = "Ok", "ProcessingFailed"

# (property schema, [(JSON text of the value, the result)])
SHAPES: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "numeric enum in an array's objects": (
        {"type": "array", "items": {"type": "object", "properties": {"x": {"enum": [1, 2]}}}},
        [('[{"x":1},{"x":2.0}]', OK), ('[{"x":1},{"x":3}]', FAILED), ("[]", OK), ('[{"x":"1"}]', FAILED)],
    ),
    "not in an array's objects": (
        {"type": "array", "items": {"type": "object", "properties": {"y": {"not": {"type": "string"}}}}},
        [('[{"y":1}]', OK), ('[{"y":"s"}]', FAILED)],
    ),
    "undeclared required property in an array's objects": (
        {"type": "array", "items": {"type": "object", "required": ["z"]}},
        [('[{"z":null}]', OK), ("[{}]", FAILED)],
    ),
    "nested array of objects": (
        {"type": "array", "items": {"type": "array", "items": {"type": "object", "properties": {"x": {"const": 5}}}}},
        [('[[{"x":5}],[{"x":5.0}]]', OK), ('[[{"x":5}],[{"x":6}]]', FAILED)],
    ),
    "integer or number": (
        {"type": ["integer", "number", "string"], "maximum": 10},
        [("0.5", OK), ("10", OK), ("10.5", FAILED), ("-1e20", OK), ("-100000000000000000000", OK), ('"x"', OK)],
    ),
    "number or integer": (
        {"type": ["number", "integer"], "multipleOf": 0.5},
        [("2.5", OK), ("3", OK), ("2.25", FAILED)],
    ),
    "integer above int64": (
        {"type": "integer", "minimum": 1e20},
        [("5", FAILED), ("100000000000000000000", FAILED), ("1e20", FAILED), ('"5"', FAILED)],
    ),
    "integer below int64": (
        {"type": ["integer", "null"], "exclusiveMaximum": -1e19},
        [("-5", FAILED), ("null", OK)],
    ),
    "number above int64": (
        {"type": "number", "exclusiveMinimum": 1e20},
        [("2.5", FAILED), ("1e21", OK), ("1000000000000000000000", OK), ("100000000000000000000", FAILED)],
    ),
    "quote and backslash in property names": (
        {"type": "object", "properties": {'a"b': {"type": "integer"}, "c\\d": {"type": "string"}}, "required": ['a"b']},
        [('{"a\\"b":1}', OK), ('{"a\\"b":"1"}', FAILED), ('{"a\\"b":1,"c\\\\d":2}', FAILED), ("{}", FAILED)],
    ),
    "number in an array's objects above int64": (
        {"type": "array", "items": {"type": "object", "properties": {"c": {"type": "number", "exclusiveMinimum": 1e20}}}},
        [('[{"c":2.5}]', FAILED), ('[{"c":1e21}]', OK)],
    ),
}


def _pipelines(schema: dict[str, Any]) -> tuple[Pipeline, ReferencePipeline]:
    spec = load_spec(
        {
            "version": 1,
            "name": "shapes",
            "schema": {"type": "object", "properties": {"t": {"type": "number"}, "v": schema}, "required": ["t"]},
            "event_time": {"field": "t", "format": "epoch_seconds"},
        }
    )
    return Pipeline(spec), ReferencePipeline(spec)  # the integer above int64 used to fail here


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_shape_is_judged_as_the_reference_judges_it(shape: str) -> None:
    schema, cases = SHAPES[shape]
    engine, reference = _pipelines(schema)
    good = b'{"t":1790000000}'
    records = [good, *(f'{{"t":1790000000,"v":{text}}}'.encode() for text, _ in cases), good]
    got = agreed_outcomes(engine, reference, batch_of(records))
    assert got["result"].to_list() == [OK, *(result for _, result in cases), OK], json.dumps(schema)
