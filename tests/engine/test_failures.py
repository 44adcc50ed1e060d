"""Every rule a rejected record breaks, in the order docs/spec.md states, the same from the engine and the reference."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers.agreement import assert_agree, batch_of, pipelines
from tests.helpers.specs import SPECS
from tests.helpers.strategies import payload_texts
from transform_core.engine.failures import NO_FAILURES
from transform_core.schema.failures import SchemaFailures

VALID: dict[str, Any] = {
    "event_id": "3f1c2a9e-8d4b-4c7a-9b1e-2f3a4b5c6d7e",
    "device_id": "dev-0001",
    "seq": 1,
    "event_time": "2026-11-27T10:00:00Z",
    "event_type": "telemetry",
    "value": 1.5,
}


def _text(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode()


def test_a_record_lists_every_rule_it_breaks_in_the_schemas_property_order() -> None:
    record = {**VALID, "value": 5000, "event_id": "nope", "seq": -1, "tags": {"fw": 1, "x": 2}}
    del record["event_type"]
    text = _text(record)  # members in another order than the schema's
    _, reference = pipelines("iot-example")
    assert reference.failures(text) == [
        '$.event_id: "nope" is not a valid uuid (format)',
        "$.seq: must be at least 0 (minimum)",
        "$.event_type: required property is missing (required)",
        "$.value: must be at most 1000 (maximum)",
        "$.tags.fw: expected string, got integer (type)",
        "$.tags.x: property is not allowed (additionalProperties)",
    ]
    result = assert_agree("iot-example", batch_of([text]))
    assert result["reason"][0] == '$.event_id: "nope" is not a valid uuid (format)'


def test_the_engine_returns_the_reasons_with_its_result() -> None:
    engine, reference = pipelines("iot-example")
    bad = _text({**VALID, "seq": 2.5, "value": -5000})
    result = engine.process(batch_of([_text(VALID), bad]))
    assert result.failures == {
        1: ("$.seq: expected integer, got a number with a fraction (type)", "$.value: must be at least -1000 (minimum)")
    }
    assert result.all_reasons(0) == []
    assert result.all_reasons(1) == reference.failures(bad) == list(result.failures[1])
    assert engine.process(batch_of([_text(VALID)])).failures is NO_FAILURES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a duplicate key is named before the schema is read: parsers disagree on the value the schema would see
        (b'{"seq":1,"seq":-1,"value":5000}', ["$: duplicate key 'seq' (parsers disagree on which one wins) (duplicate_key)"]),
        (b'{"value":5000} {}', None),  # trailing text: not JSON, whatever the members hold
        (b"[1]", ["$: expected object, got array (type)"]),
    ],
)
def test_a_record_that_cannot_be_read_breaks_one_rule(text: bytes, expected: list[str] | None) -> None:
    _, reference = pipelines("iot-example")
    listed = reference.failures(text)
    if expected is None:
        assert len(listed) == 1 and listed[0].endswith("(json)")
    else:
        assert listed == expected
    assert_agree("iot-example", batch_of([text]))


def test_event_time_and_enrichment_follow_the_schema_unless_the_record_is_dropped() -> None:
    _, reference = pipelines("exotic")
    kept = _text({**VALID, "seq": 2, "device_id": "dev-9999", "event_time": "2026-02-30T00:00:00Z", "value": 1000})
    assert reference.failures(kept, 1_764_000_000_000) == [
        '$.event_time: "2026-02-30T00:00:00Z" is not a valid date-time (format)',
        "$.value: must be less than 1000 (exclusiveMaximum)",
        '$.event_time: "2026-02-30T00:00:00Z" is not an RFC 3339 date-time (event_time)',
        "$.device_id: \"dev-9999\" is not in reference table 'devices' (enrich)",
    ]
    dropped = _text({**VALID, "seq": 2, "device_id": "dev-9999", "event_type": "heartbeat"})
    assert reference.failures(dropped, 1_764_000_000_000) == []  # dropped, not rejected
    failing_and_dropped = _text({**VALID, "seq": 2, "device_id": "dev-9999", "event_type": "heartbeat", "value": 1000})
    assert reference.failures(failing_and_dropped, 1) == ["$.value: must be less than 1000 (exclusiveMaximum)"]
    assert reference.failures(_text({**VALID, "seq": 2}), 1) == []


@pytest.mark.parametrize(
    ("schema", "value", "rules"),
    [
        # in one value: type, then enum/const, then bounds, then int64
        ({"type": "integer", "maximum": 0}, 4.5, ["type", "maximum"]),
        ({"type": "integer", "minimum": 5, "multipleOf": 2}, 3, ["minimum", "multipleOf"]),
        ({"type": "integer"}, 2.0**70, ["int64"]),
        ({"type": "string", "maxLength": 2, "pattern": "^a", "format": "uuid"}, "bcd", ["maxLength", "pattern", "format"]),
        ({"enum": [1, "a"], "type": "string"}, True, ["type", "enum"]),
        (
            {"type": "array", "items": {"type": "integer"}, "minItems": 3, "uniqueItems": True},
            [1, 1.0],
            ["minItems", "uniqueItems"],
        ),
        ({"type": "array", "items": {"type": "integer"}}, [1, "x", None], ["type", "type"]),
        ({"anyOf": [{"type": "string"}, {"maximum": 1}], "not": {"type": "integer"}}, 5, ["anyOf", "not"]),
        ({"allOf": [{"minimum": 10}, {"maximum": 1}]}, 5, ["minimum", "maximum"]),
        ({"if": {"type": "integer"}, "then": {"minimum": 10}, "else": {"maxLength": 1}}, 5, ["minimum"]),
        ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, 5, ["oneOf"]),
        ({"$defs": {"a": {"maximum": 1}}, "$ref": "#/$defs/a", "minimum": 100}, 5, ["maximum"]),  # siblings ignored
        ({"minProperties": 3, "propertyNames": {"maxLength": 1}}, {"ab": 1}, ["propertyNames", "minProperties"]),
        (
            {"dependencies": {"a": ["b"]}, "patternProperties": {"^x": {"type": "string"}}},
            {"a": 1, "x1": 2},
            ["type", "dependencies"],
        ),
        ({"type": "integer", "minimum": 0}, 7, []),
    ],
)
def test_the_rules_of_one_value_come_in_the_stated_keyword_order(schema: dict[str, Any], value: Any, rules: list[str]) -> None:
    found = SchemaFailures(schema).failures(value)
    assert [reason.rsplit("(", 1)[1].rstrip(")") for reason in found] == rules


def test_members_the_schema_does_not_declare_come_after_its_properties_in_the_records_order() -> None:
    schema = {"properties": {"b": {"type": "string"}, "a": {"type": "string"}}, "required": ["z"], "additionalProperties": False}
    found = SchemaFailures(schema).failures({"y": 1, "a": 1, "x": 1, "b": 1})
    assert found == [
        "$.b: expected string, got integer (type)",
        "$.a: expected string, got integer (type)",
        "$.z: required property is missing (required)",
        "$.y: property is not allowed (additionalProperties)",
        "$.x: property is not allowed (additionalProperties)",
    ]


@pytest.mark.parametrize(
    "text",
    [
        b'{"seq": 100000000000000000001, "value": 5000}',  # beyond 64 bits: an integer, which orjson reads as a float
        b'{"seq": 1e20, "value": 5000}',  # a float as large: read the slow way, the same reasons
        b'{"seq": 1, "seq": -1, "value": 5000}',  # a duplicate key, which orjson collapses
        b'{"event_id": "a\\":b", "value": 5000}',  # a string holding a key's end
        b'{"tags": {"fw": 1, "fw": "x"}, "value": 5000}',  # a duplicate key one level down
        b'[{"value": 5000}]',
        b'{"value": 5000',
    ],
)
def test_the_first_failure_is_the_first_of_the_list_for_records_orjson_alone_would_misread(text: bytes) -> None:
    _, reference = pipelines("iot-example")
    listed = reference.failures(text, 1)
    assert listed and reference.first_failure(text, 1) == listed[0]


@settings(max_examples=300, deadline=None)
@given(text=payload_texts(), name=st.sampled_from(sorted(SPECS)))
def test_the_first_failure_is_the_first_of_the_list(text: bytes, name: str) -> None:
    _, reference = pipelines(name)
    assert reference.first_failure(text, 1) == next(iter(reference.failures(text, 1)), None)
