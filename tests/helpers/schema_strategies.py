"""Hypothesis strategies for random pipeline specs and record schemas, and for records guided by a schema.

The differential tests' specs are a handful of hand-written schemas; these draw the supported keywords in random
shapes (nested objects and arrays, type lists, combinators, bounds beyond int64, enums of mixed types), and records
that mostly follow the schema, so that values reach the rules rather than failing on their type. Values near the
edges the engine and the reference could read differently are drawn often: integers beyond 53 and 64 bits, -0.0,
non-ASCII and escaped text, formats just invalid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

STRINGS = [
    "", "a", "abc", "dev-0001", "été", "😀", "2026-11-27T10:00:00Z", "2026-02-30T00:00:00Z", "2026-11-27", "10:00:00Z",
    "00000000-0000-0000-0000-000000000000", "x@y.z", "1.2.3.4", "::1", "a\nb", "A", "5", " ", "\u0000", "ab\u00e9cd",
]  # fmt: skip
NUMBERS = [
    0, -0.0, 1, -1, 2, 3, 0.5, 2.5, 7, 10, 100, 1e20, -1e20, 2**53 + 1, 2**63, -(2**63) - 1, 10**20 + 1, 1e-9, 0.1,
    0.3, 1.5, 255, -150,
]  # fmt: skip
FORMATS = ["date-time", "date", "time", "uuid", "email", "ipv4", "ipv6"]
BOUNDS = [0, 1, -1, 100, 2.5, 0.3, 1e20, -1e20, 2**53, 2**63]
NAMES = ["a", "b", "c", "d", "e"]
_ANY_VALUE = st.sampled_from([*STRINGS, *NUMBERS, None, True, False, [], {}, [1, "a"], {"a": 1}])


def _optional(keyword: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), values.map(lambda v: {keyword: v}))


@st.composite
def _string(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    schema |= draw(_optional("minLength", st.integers(0, 3)))
    schema |= draw(_optional("maxLength", st.integers(1, 8)))
    schema |= draw(_optional("pattern", st.sampled_from(["^dev-[0-9]{4}$", "a", "^.$", "[0-9]", "^[a-z]+$", "é", r"^\w+$"])))
    schema |= draw(_optional("format", st.sampled_from(FORMATS)))
    return schema


@st.composite
def _number(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["integer", "number"]))
    schema: dict[str, Any] = {"type": kind}
    for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        schema |= draw(_optional(keyword, st.sampled_from(BOUNDS)))
    multiples = [2, 3, 5] if kind == "integer" else [2, 0.5, 0.01, 2.5]
    schema |= draw(_optional("multipleOf", st.sampled_from(multiples)))
    return schema


LEAVES = st.one_of(
    _string(),
    _number(),
    st.sampled_from([{"type": "boolean"}, {"type": "null"}, {}]),
    st.lists(st.sampled_from([*STRINGS[:8], *NUMBERS[:8], None, True]), min_size=1, max_size=4, unique_by=json.dumps).map(
        lambda values: {"enum": values}
    ),
    st.sampled_from([*STRINGS[:6], *NUMBERS[:6], None, False]).map(lambda value: {"const": value}),
)


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(
            lambda items, low, high, unique: {"type": "array", "items": items} | low | high | unique,
            children,
            _optional("minItems", st.integers(0, 2)),
            _optional("maxItems", st.integers(1, 3)),
            st.sampled_from([{}, {}, {"uniqueItems": True}]),
        ),
        objects(children),
        st.builds(
            lambda types, bound: {"type": types} | bound,
            st.lists(
                st.sampled_from(["string", "integer", "number", "null", "boolean", "array", "object"]),
                min_size=2,
                max_size=3,
                unique=True,
            ),
            st.sampled_from([{}, {"maximum": 10}, {"maxLength": 3}, {"multipleOf": 0.5}]),
        ),
        st.builds(
            lambda key, subs: {key: subs},
            st.sampled_from(["anyOf", "oneOf", "allOf"]),
            st.lists(children, min_size=1, max_size=3),
        ),
        children.map(lambda sub: {"not": sub}),
    )


@st.composite
def objects(draw: st.DrawFn, children: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """An object schema whose properties are drawn from ``children``."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    properties = {name: draw(children) for name in names}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema |= draw(_optional("required", st.lists(st.sampled_from(names), unique=True)))
    schema |= draw(_optional("additionalProperties", st.one_of(st.booleans(), children)))
    return schema


SCHEMAS = st.recursive(LEAVES, _extend, max_leaves=12)


ROOT = Path(__file__).resolve().parents[2]
DEVICES = str(ROOT / "reference_data" / "devices.csv")  # string keys dev-0000 …
BANDS = str(ROOT / "tests" / "data" / "battery_bands.csv")  # integer keys 0-100 but 50
# values of the event time ``t``, the device ``dev`` and the band key ``k``, drawn for every spec's records
TIMES = [
    "2026-11-27T10:00:00Z", "2026-11-27T23:30:00-01:00", "2026-02-30T00:00:00Z", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00", "2026-11-27t10:00:00.123456789z", "2026-11-27T10:00:00", 1_790_000_000,
    1_790_000_000_123, 0, -1, 1e20, -62_135_596_801, 253_402_300_800, 2**63, 1.5, -0.0, None, "1790000000", True, [],
    1e-7, -62_135_596_800,
]  # fmt: skip
DEVICE_IDS = ["dev-0001", "dev-0002", "dev-9999x", "nope", 5, None, "", "dev-0001 "]
BAND_KEYS = [0, 1, 49, 50, 51, 100, 101, -1, 1.0, True, "1", None, 2**63, 2**53 + 1]
ARRIVALS = [1_790_000_000_000, None, 0, -62_135_596_800_001, 253_402_300_800_000]
TREE = {"type": "object", "properties": {"v": {"type": "integer"}, "n": {"$ref": "#/$defs/tree"}}, "required": ["v"]}
TREES = [{"v": 1}, {"v": 1, "n": {"v": 2, "n": {"v": 3}}}, {"v": 1, "n": {"v": "x"}}, {"v": 1, "n": {}}, {}, 5, []]


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    """A pipeline spec: a random record schema with an event time ``t`` (in any format), and maybe definitions used
    by ``$ref`` (``q``, and a tree ``r``), enrichment by a device ``dev`` (string keys) and a band ``k`` (integer
    keys), a drop rule and hourly partitions."""
    schema = draw(objects(SCHEMAS))
    if not isinstance(schema.get("additionalProperties", True), bool):
        schema["additionalProperties"] = False
    time_format = draw(st.sampled_from(["iso8601", "epoch_seconds", "epoch_millis"]))
    iso = time_format == "iso8601"
    times: list[dict[str, Any]] = [{"type": "string", "format": "date-time"}, {"type": ["string", "null"]}, {"type": "string"}]
    if not iso:
        times = [{"type": "number"}, {"type": ["integer", "null"]}, {"type": ["number", "null"]}]
    properties = schema["properties"]
    properties["t"] = draw(st.sampled_from(times))
    properties["dev"] = draw(
        st.sampled_from([{"type": "string"}, {"type": ["string", "null"]}, {"type": "string", "pattern": "^dev"}])
    )
    properties["k"] = draw(
        st.sampled_from([{"type": "integer"}, {"type": ["integer", "null"]}, {"type": "integer", "maximum": 60}])
    )
    if draw(st.booleans()):  # a definition used by reference, and a recursive one (a tree)
        schema["$defs"] = {"d": draw(SCHEMAS), "tree": TREE}
        properties |= {"q": {"$ref": "#/$defs/d"}, "r": {"$ref": "#/$defs/tree"}}
    if draw(st.booleans()):
        schema["required"] = sorted({*schema.get("required", []), "t"})
    on_missing = st.sampled_from(["keep", "reject"])
    enrich = []
    if draw(st.booleans()):
        fields = draw(st.sampled_from([["site"], ["site", "model"]]))
        source = {"name": "devices", "source": DEVICES, "key": {"record": "dev", "table": "device_id"}, "fields": fields}
        enrich.append(source | {"on_missing": draw(on_missing)})
    if draw(st.booleans()):
        source = {"name": "bands", "source": BANDS, "key": {"record": "k", "table": "battery"}, "fields": ["band"]}
        enrich.append(source | {"on_missing": draw(on_missing)})
    spec: dict[str, Any] = {
        "version": 1,
        "name": "random",
        "schema": schema,
        "event_time": {"field": "t", "format": time_format, "on_missing": draw(st.sampled_from(["reject", "arrival_time"]))},
        "partitioning": {"granularity": draw(st.sampled_from(["day", "hour"]))},
    }
    if enrich:
        spec["enrich"] = enrich
    if draw(st.booleans()):
        drop_values = st.lists(
            st.sampled_from(["dev-0001", "x", 1, 2, 0, 50, "50", 2**53, -1]), min_size=1, max_size=3, unique=True
        )
        spec["drop"] = {"field": draw(st.sampled_from(["dev", "k"])), "in": draw(drop_values)}
    return spec


def values(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """JSON values that mostly follow ``schema``, with some of any type."""
    return st.one_of(_ANY_VALUE, _following(schema, depth)) if depth < 5 else _ANY_VALUE


def _following(schema: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return st.sampled_from(schema[key]).flatmap(lambda sub: values(sub, depth + 1))
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind or "string"]
    return st.sampled_from(kinds).flatmap(lambda k: _of_type(schema, k, depth))


def _of_type(schema: dict[str, Any], kind: str, depth: int) -> st.SearchStrategy[Any]:
    if kind == "string":
        return st.sampled_from(STRINGS)
    if kind == "integer":
        return st.sampled_from([n for n in NUMBERS if isinstance(n, int)])
    if kind == "number":
        return st.sampled_from(NUMBERS)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(values(schema.get("items", {}), depth + 1), max_size=3)
    if kind == "object":
        properties: dict[str, Any] = schema.get("properties", {})
        present = st.fixed_dictionaries({}, optional={name: values(sub, depth + 1) for name, sub in properties.items()})
        extra = st.dictionaries(st.sampled_from([*NAMES, "z"]), _ANY_VALUE, max_size=1)
        return st.builds(lambda own, more: more | own, present, st.one_of(st.just({}), extra))
    return st.none()


@st.composite
def records(draw: st.DrawFn, schema: dict[str, Any]) -> bytes:
    """A record for ``schema`` as JSON text: compact or spaced, escaped or not, now and then with a spelling the
    parsers may read differently (:func:`_mutated`); mostly with a ``t``, a ``dev`` and a ``k`` (see :func:`specs`)."""
    value = draw(values(schema))
    if isinstance(value, dict):
        for name, choices, chance in (("t", TIMES, 8), ("dev", DEVICE_IDS, 7), ("k", BAND_KEYS, 7)):
            if draw(st.integers(0, 9)) < chance:
                value = value | {name: draw(st.sampled_from(choices))}  # a copy: the value may be a strategy's constant
        if "$defs" in schema and draw(st.booleans()):
            value = value | {"q": draw(values(schema["$defs"]["d"])), "r": draw(st.sampled_from(TREES))}
    separators = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    text = json.dumps(value, separators=separators, ensure_ascii=draw(st.booleans()))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        text = draw(_mutated(text))
    return text.encode()


@st.composite
def _mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` with one spelling the parsers may read differently: a key written twice or escaped, whitespace
    between a key and its colon, a character inserted, or the text cut short."""
    action = draw(st.sampled_from(["duplicate", "escape", "gap", "insert", "cut"]))
    if action == "duplicate" and text.startswith("{") and len(text) > 2:
        name = draw(st.sampled_from([*NAMES, "t", "dev", "k"]))
        return "{" + json.dumps(name) + ":" + json.dumps(draw(_ANY_VALUE)) + "," + text[1:]
    if action == "escape" and '"' in text:
        return text.replace('"t"', '"\\u0074"', 1) if draw(st.booleans()) else text.replace('"', '"\\u0061', 1)
    if action == "gap":
        return text.replace('":', '" :', 1)
    if action == "insert":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(st.sampled_from(['"', "\\", "{", "]", ",", "\x00", "é", " ", "\n"])) + text[at:]
    return text[: draw(st.integers(0, len(text)))]
