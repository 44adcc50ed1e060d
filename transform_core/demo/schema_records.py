"""Sample records for any pipeline spec: valid ones drawn from its JSON Schema, and invalid ones of known kinds.

A valid record follows the schema (types, bounds, lengths, patterns, formats, enums, required properties, nested
objects and arrays, local ``$ref``, the combinators as far as a draw can), carries an event time in the spec's format
within a recent window (so that partitions make sense), and takes each enrichment key from the spec's reference table
(so that enrichment hits). A spec with a drop rule gets about :data:`DROP_SHARE` of its valid records dropped.

An invalid record is a valid one broken in one way (:data:`INVALID_RECORD_KINDS`); each kind fails with a rule of
:data:`EXPECTED_RULES`. Kinds a schema has no place for (no enum, no format…) are not drawn.

Every record is judged by the reference implementation (:class:`~transform_core.reference.ReferencePipeline`, the
engine's oracle) before it is kept: a draw that does not come out as meant is drawn again, so each payload's ``kind``
says what the pipeline makes of it. Everything is deterministic for a seed and a window.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import random
import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from transform_core.demo.generate import EVENT_TIME_SPAN_S, EVENT_TIME_START, Payload
from transform_core.demo.patterns import pattern_string
from transform_core.errors import SpecError
from transform_core.firehose.outcomes import DROPPED, FAILED, OK
from transform_core.reference import Outcome, ReferencePipeline
from transform_core.schema import split_reason
from transform_core.schema.formats import ecma_pattern
from transform_core.schema.keywords import resolve_ref
from transform_core.spec import PipelineSpec

__all__ = ["DEFAULT_END", "DROP_SHARE", "EXPECTED_RULES", "INVALID_RECORD_KINDS", "WINDOW", "spec_payloads"]

#: Invalid record kinds, drawn evenly among those the schema has a place for.
INVALID_RECORD_KINDS = ("wrong_type", "missing_required", "out_of_range", "enum_violation", "bad_format", "not_json")
#: The rules an invalid record of each kind fails with (the rule at the end of its reason).
EXPECTED_RULES: Mapping[str, frozenset[str]] = {
    "wrong_type": frozenset({"type"}),
    "missing_required": frozenset({"required"}),
    "out_of_range": frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}),
    "enum_violation": frozenset({"enum", "const"}),
    "bad_format": frozenset({"format"}),
    "not_json": frozenset({"json"}),
}
#: The event-time window's length: records fall in ``[end - WINDOW, end)``.
WINDOW = timedelta(days=3)
#: The window's default end, that of the IoT telemetry's (2026-11-28T00:00:00Z), so a seed alone fixes the records.
DEFAULT_END = EVENT_TIME_START + timedelta(seconds=EVENT_TIME_SPAN_S)
#: The share of valid records given a value of the spec's drop rule (when it has one).
DROP_SHARE = 0.05

_TOP_LEVEL = re.compile(r"\$\.([^.\[]+)")  # the top-level property a reason's path starts with
_REPAIRS = 3  # optional properties dropped from one draw
_TRIES = 50  # draws of one record before falling back (a valid record drawn before, or an invalid kind that always works)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT64 = (-(2**63), 2**63 - 1)
_SPAN = 1000  # the width of a numeric range with one bound or none
_MAX_DEPTH = 6  # below this depth objects get their required properties only, and arrays their fewest items
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_COMBINATORS = ("anyOf", "oneOf", "not", "if")
_ANNOTATIONS = ("title", "description", "default", "examples", "$comment", "deprecated", "readOnly", "writeOnly")
_SCALARS = ("string", "number", "integer", "boolean")
_TYPE_WORDS = ("string", "integer", "number", "boolean", "object", "array", "null")
_WRONG_VALUES: tuple[Any, ...] = ("oops", 42, 4.5, True, None, [1], {"a": 1})
_BAD_FORMATS: Mapping[str, tuple[str, ...]] = {
    "date-time": ("2026-02-30T10:00:00Z", "2026-11-27T25:00:00Z", "2026-11-27T10:00:00", "yesterday"),
    "date": ("2026-02-30", "2026-13-01", "27/11/2026"),
    "time": ("25:00:00Z", "10:61:00Z", "10:00"),
    "uuid": ("not-a-uuid", "0000-0000", "g0000000-0000-0000-0000-000000000000"),
    "email": ("user.example.com", "user@", "a b@example.com"),
    "ipv4": ("256.1.1.1", "1.2.3", "10.0.0.x"),
    "ipv6": ("2001:db8::g", ":::1", "1:2:3:4:5:6:7:8:9"),
}


def spec_payloads(
    spec: PipelineSpec, n: int, invalid_fraction: float = 0.0, seed: int = 0, *, end: datetime | None = None
) -> list[Payload]:
    """``n`` records for ``spec``; exactly ``round(n * invalid_fraction)`` are invalid, their kinds drawn evenly.

    Args:
        spec: the pipeline spec; its schema, event time, enrichment tables and drop rule shape the records.
        n: how many records.
        invalid_fraction: the share of invalid records, 0 to 1.
        seed: the same seed (and ``end``) gives the same records.
        end: the end of the event-time window ``[end - WINDOW, end)``; default :data:`DEFAULT_END`.

    Returns:
        the records in order, each with its ``kind``: ``valid`` (Ok), ``dropped``, or one of
        :data:`INVALID_RECORD_KINDS` (ProcessingFailed with a rule of :data:`EXPECTED_RULES`).

    Raises:
        ValueError: ``n`` is negative or ``invalid_fraction`` is outside [0, 1].
        SpecError: no valid record could be drawn (the schema admits none, or none this generator can draw).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 <= invalid_fraction <= 1.0:
        raise ValueError(f"invalid_fraction must be within [0, 1], got {invalid_fraction}")
    end = (end or DEFAULT_END).astimezone(UTC)
    rng = random.Random(seed)
    positions = rng.sample(range(n), round(n * invalid_fraction))
    maker = _Maker(spec, rng, end)
    kinds = maker.kinds
    bad = {pos: kinds[i % len(kinds)] for i, pos in enumerate(positions)}
    return [maker.invalid(bad[i]) if i in bad else maker.valid() for i in range(n)]


class _Maker:
    """Draws records for one spec and keeps those the reference implementation judges as meant."""

    def __init__(self, spec: PipelineSpec, rng: random.Random, end: datetime) -> None:
        self.spec = spec
        self.rng = rng
        self.oracle = ReferencePipeline(spec)
        self.values = _Values(spec.schema, rng, end - WINDOW, end)
        self.keys = [(t.spec.record_key, list(t.values)) for t in self.oracle.tables]
        self.kinds = _kinds(spec.schema)
        self.kept: list[dict[str, Any]] = []  # valid records drawn so far, for fallbacks
        root = self.values.resolve(spec.schema)
        required = root.get("required") if isinstance(root, dict) else None
        self.needed = {
            *(required if isinstance(required, list) else ()),
            spec.event_time.field.split(".")[0],
            *(t.record_key.split(".")[0] for t in spec.enrich),
        }

    def valid(self) -> Payload:
        """A record the pipeline returns Ok or Dropped."""
        want_drop = self.spec.drop is not None and self.rng.random() < DROP_SHARE
        for attempt in range(_TRIES):
            record = self._draw(attempt)
            if want_drop and attempt < _TRIES // 2 and self.spec.drop is not None:
                _set(record, self.spec.drop.field, copy.deepcopy(self.rng.choice(self.spec.drop.values)))
            data, outcome = self._judged(record)
            # early on, only the result meant: a drop value drawn by chance (from an enum, say) is drawn again
            meant = DROPPED if want_drop else OK
            if outcome.result == meant or (attempt >= _TRIES // 2 and outcome.result in (OK, DROPPED)):
                self.kept.append(record)
                return Payload(data, kind="dropped" if outcome.result == DROPPED else "valid")
        if not self.kept:
            raise SpecError(
                f"cannot generate a record this pipeline accepts: {_TRIES} drawn, the last rejected: {outcome.reason}",
                file=self.spec.schema_file,
            )
        record = self.rng.choice(self.kept)
        data = _dumps(record)
        return Payload(data, kind="dropped" if self._judge(data).result == DROPPED else "valid")

    def invalid(self, kind: str) -> Payload:
        """A record of ``kind`` that fails with an expected rule; ``not_json`` when ``kind`` cannot be made here."""
        misses = 0
        for _ in range(_TRIES):
            data = self._break(self._base(), kind)
            if data is None:
                misses += 1
                if misses == 5:  # the records drawn have no place for this kind
                    break
                continue
            outcome = self._judge(data)
            if (
                outcome.result == FAILED
                and outcome.reason is not None
                and split_reason(outcome.reason)[2] in EXPECTED_RULES[kind]
            ):
                return Payload(data, kind=kind)
        if kind == "wrong_type":  # an array is never an object: the record fails as a whole
            return Payload(_dumps([self._base()]), kind=kind)
        text = _dumps(self._base())
        return Payload(text[: self.rng.randrange(1, len(text))], kind="not_json")  # a proper prefix of an object

    def _judged(self, record: dict[str, Any]) -> tuple[bytes, Outcome]:
        """The record's text and outcome; a rejection naming an optional top-level property drops the property and
        judges the record again (a property that cannot be drawn right is one the record may go without)."""
        data = _dumps(record)
        outcome = self._judge(data)
        for _ in range(_REPAIRS):
            if outcome.result != FAILED or outcome.reason is None:
                break
            named = _TOP_LEVEL.match(split_reason(outcome.reason)[0])
            if named is None or named[1] not in record or named[1] in self.needed:
                break
            del record[named[1]]
            data = _dumps(record)
            outcome = self._judge(data)
        return data, outcome

    def _draw(self, attempt: int) -> dict[str, Any]:
        """A record from the schema, with an event time in the window (but on every third try) and keys from the tables."""
        record = self.values.record()
        if attempt % 3 != 2:
            _set(record, self.spec.event_time.field, self._event_time())
        for path, keys in self.keys:
            if keys and attempt % 5 != 4:
                _set(record, path, self.rng.choice(keys))
        return record

    def _base(self) -> dict[str, Any]:
        """A valid record to break: a new one when one can be drawn quickly, else one kept."""
        for attempt in range(3):
            record = self._draw(attempt)
            if self._judge(_dumps(record)).result in (OK, DROPPED):
                return record
        if not self.kept:
            self.valid()  # keeps one, or raises: no valid record can be drawn
        return copy.deepcopy(self.rng.choice(self.kept))

    def _event_time(self) -> str | int:
        instant = self.values.instant()
        fmt = self.spec.event_time.format
        if fmt == "iso8601":
            return f"{instant:%Y-%m-%dT%H:%M:%S}.{instant.microsecond // 1000:03d}Z"
        millis = (instant - _EPOCH) // timedelta(milliseconds=1)
        return millis if fmt == "epoch_millis" else millis // 1000

    def _break(self, record: dict[str, Any], kind: str) -> bytes | None:
        """``record`` broken in the way ``kind`` says, as JSON text; None when the record has no place for it."""
        if kind == "not_json":
            text = _dumps(record)
            return text[: self.rng.randrange(1, len(text))]
        sites = [site for site in _sites(self.values, self.spec.schema, record, ()) if _fits(kind, site)]
        if not sites:
            return None
        path, node, value = self.rng.choice(sites)
        if kind == "missing_required":
            present = [key for key in node["required"] if isinstance(key, str) and key in value]
            _delete(record, (*path, self.rng.choice(present)))
            return _dumps(record)
        replacement = _mutation(kind, node, value, self.rng)
        if path == () or replacement is _NONE:
            return None
        _replace(record, path, replacement)
        return _dumps(record)

    def _judge(self, data: bytes) -> Outcome:
        # judged without an arrival time: a record must not need one (an NDJSON line has none) to come out as meant
        return self.oracle.process_record(base64.b64encode(data).decode("ascii"), None)


_NONE = object()  # no mutation found


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _set(record: dict[str, Any], dotted: str, value: Any) -> None:
    """Set a dotted path, making the objects on the way."""
    *parents, last = dotted.split(".")
    node = record
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


def _replace(record: Any, path: tuple[str | int, ...], value: Any) -> None:
    node = record
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _delete(record: Any, path: tuple[str | int, ...]) -> None:
    node = record
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]


# --- invalid records -------------------------------------------------------------------------------------------------


def _kinds(schema: Mapping[str, Any]) -> tuple[str, ...]:
    """The invalid kinds the schema has a place for: keywords on plain paths of properties and items."""
    found: set[str] = set()
    resolver = _Values(schema, random.Random(0), DEFAULT_END - WINDOW, DEFAULT_END)
    seen: set[int] = set()

    def visit(node: Any, depth: int) -> None:
        node = resolver.resolve(node)
        if not isinstance(node, dict) or id(node) in seen or depth > _MAX_DEPTH:
            return
        seen.add(id(node))
        if depth and "type" in node:
            found.add("wrong_type")
        if node.get("required"):
            found.add("missing_required")
        if depth and any(key in node for key in _BOUNDS):
            found.add("out_of_range")
        if depth and ("enum" in node or "const" in node):
            found.add("enum_violation")
        if depth and node.get("format") in _BAD_FORMATS:
            found.add("bad_format")
        properties = node.get("properties")
        for sub in properties.values() if isinstance(properties, dict) else ():
            visit(sub, depth + 1)
        if isinstance(node.get("items"), dict):
            visit(node["items"], depth + 1)

    visit(schema, 0)
    found |= {"wrong_type", "not_json"}
    return tuple(kind for kind in INVALID_RECORD_KINDS if kind in found)


Site = tuple[tuple[str | int, ...], dict[str, Any], Any]


def _sites(values: _Values, node: Any, value: Any, path: tuple[str | int, ...]) -> Iterator[Site]:
    """Each value of the record on a plain path of ``properties`` and ``items``, with its (resolved) subschema.

    A path stops at a combinator: a value changed below ``anyOf``, ``oneOf``, ``not`` or ``if`` may fail that keyword
    rather than the one meant.
    """
    node = values.resolve(node)
    if not isinstance(node, dict) or len(path) > _MAX_DEPTH:
        return
    node = values.merged_all(node)
    if any(key in node for key in _COMBINATORS):
        return
    yield path, node, value
    properties = node.get("properties")
    if isinstance(value, dict) and isinstance(properties, dict):
        for key, item in value.items():
            if key in properties:
                yield from _sites(values, properties[key], item, (*path, key))
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            yield from _sites(values, node["items"], item, (*path, i))


def _fits(kind: str, site: Site) -> bool:
    """Whether the site can be broken in the way ``kind`` says so that only one keyword fails: when a value fails
    several, the engine and the reference may name different ones."""
    path, node, value = site
    if kind == "missing_required":
        required = node.get("required")
        alone = not any(key in node for key in ("minProperties", "dependencies"))
        return alone and isinstance(value, dict) and isinstance(required, list) and any(key in value for key in required)
    if not path:
        return False
    if kind == "wrong_type":
        return "type" in node and not any(key in node for key in ("enum", "const"))
    if kind == "out_of_range":
        numeric = set(_types(node)) & {"integer", "number"}
        alone = not any(key in node for key in ("enum", "const", "multipleOf"))
        return alone and bool(numeric) and any(_number(node.get(key)) for key in _BOUNDS)
    if kind == "enum_violation":
        others = set(node) - {"type", "enum", "const", *_ANNOTATIONS}
        return ("enum" in node or "const" in node) and not others
    if kind == "bad_format":
        return node.get("format") in _BAD_FORMATS and not any(
            key in node for key in ("enum", "const", "pattern", "minLength", "maxLength")
        )
    return False


def _mutation(kind: str, node: dict[str, Any], value: Any, rng: random.Random) -> Any:
    """A value that breaks ``node`` in the way ``kind`` says, or ``_NONE``."""
    if kind == "wrong_type":
        allowed = _types(node)
        numeric = bool({"integer", "number"} & set(allowed))  # 4.5 for an integer would also meet its numeric bounds
        wrong = [v for v in _WRONG_VALUES if not any(_is_type(v, t) for t in allowed) and not (numeric and _number(v))]
        return copy.deepcopy(rng.choice(wrong)) if wrong else _NONE
    if kind == "out_of_range":
        key = rng.choice([key for key in _BOUNDS if _number(node.get(key))])
        bound = node[key]
        integer = "number" not in _types(node)
        above = key in ("maximum", "exclusiveMaximum")
        if integer:
            if key.startswith("exclusive"):
                return math.floor(bound) + 1 if above else math.ceil(bound) - 1
            return math.floor(bound) + 1 if above else math.ceil(bound) - 1
        if key.startswith("exclusive"):
            return bound
        step = rng.choice((0.5, 1, 10))
        return bound + step if above else bound - step
    if kind == "enum_violation":
        choices = node["enum"] if "enum" in node else [node["const"]]
        sample = next((c for c in choices if c is not None), None)
        if isinstance(sample, str):
            candidates: list[Any] = [sample.upper() + "-X", sample + " ", "other"]
        elif isinstance(sample, bool):
            candidates = [not sample]
        elif isinstance(sample, int | float):
            candidates = [max(c for c in choices if isinstance(c, int | float)) + 1]
        else:
            candidates = ["other"]
        wrong = [c for c in candidates if not any(_json_equal(c, choice) for choice in choices)]
        return rng.choice(wrong) if wrong else _NONE
    if kind == "bad_format":
        return rng.choice(_BAD_FORMATS[node["format"]])
    return _NONE


def _is_type(value: Any, kind: Any) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return kind == "number" or float(value).is_integer()
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return False


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b) and (isinstance(a, int | float) == isinstance(b, int | float))


# --- valid values ----------------------------------------------------------------------------------------------------


class _Values:
    """Draws JSON values that follow subschemas of one root schema."""

    def __init__(self, root: Mapping[str, Any], rng: random.Random, start: datetime, end: datetime) -> None:
        self.root = root
        self.rng = rng
        self.start = start
        self.span_ms = max(1, (end - start) // timedelta(milliseconds=1))

    def record(self) -> dict[str, Any]:
        """A top-level record: always an object."""
        node = self._shape(self.root)
        value = self._of_type(node, "object", "record", 0)
        return value if isinstance(value, dict) else {}

    def instant(self) -> datetime:
        """A time in the window, to the millisecond."""
        return self.start + timedelta(milliseconds=self.rng.randrange(self.span_ms))

    def resolve(self, node: Any) -> Any:
        """``node`` with local ``$ref`` followed (its other keywords kept beside the target's)."""
        for _ in range(32):
            if not isinstance(node, dict) or not isinstance(node.get("$ref"), str):
                return node
            target = _pointer(self.root, node["$ref"])
            rest = {k: v for k, v in node.items() if k != "$ref"}
            node = _merge(target, rest) if rest and isinstance(target, dict) else target
        return node

    def merged_all(self, node: dict[str, Any]) -> dict[str, Any]:
        """``node`` with its ``allOf`` subschemas merged in."""
        subs = node.get("allOf")
        if not isinstance(subs, list):
            return node
        merged = {k: v for k, v in node.items() if k != "allOf"}
        for sub in subs:
            sub = self.resolve(sub)
            if isinstance(sub, dict):
                merged = _merge(merged, self.merged_all(sub))
        return merged

    def _shape(self, node: Any) -> Any:
        """The one subschema to draw from: references followed, ``allOf`` merged, one ``anyOf``/``oneOf`` branch taken,
        ``if`` and ``then`` merged."""
        for _ in range(16):
            node = self.resolve(node)
            if not isinstance(node, dict):
                return node
            node = self.merged_all(node)
            key = next((k for k in ("anyOf", "oneOf") if isinstance(node.get(k), list) and node[k]), None)
            if key is not None:
                branch = self.resolve(self.rng.choice(node[key]))
                rest = {k: v for k, v in node.items() if k != key}
                node = _merge(rest, branch) if isinstance(branch, dict) else rest
                continue
            inner = self.resolve(node.get("not"))
            if isinstance(inner, dict) and set(inner) == {"not"}:  # not-not: the inner schema itself
                rest = {k: v for k, v in node.items() if k != "not"}
                twice = self.resolve(inner["not"])
                node = _merge(rest, twice) if isinstance(twice, dict) else rest
                continue
            if isinstance(node.get("then"), dict) and isinstance(node.get("if"), dict):
                rest = {k: v for k, v in node.items() if k not in ("if", "then", "else")}
                node = _merge(_merge(rest, self.resolve(node["if"])), self.resolve(node["then"]))
                continue
            return node
        return node

    def value(self, node: Any, name: str, depth: int) -> Any:
        """A value following ``node`` (a property called ``name``, at ``depth``)."""
        node = self._shape(node)
        if node is False:
            return None
        if not isinstance(node, dict):
            return self._string({}, name)
        if "const" in node:
            return copy.deepcopy(node["const"])
        if isinstance(node.get("enum"), list) and node["enum"]:
            return copy.deepcopy(self.rng.choice(node["enum"]))
        types = _types(node)
        not_types = _types(self.resolve(node["not"])) if isinstance(node.get("not"), dict) and "type" in node["not"] else []
        kinds = [t for t in types if t not in not_types] or [t for t in _SCALARS if t not in not_types] or types
        if len(kinds) > 1 and "null" in kinds and self.rng.random() < 0.9:
            kinds = [t for t in kinds if t != "null"]
        return self._of_type(node, self.rng.choice(kinds), name, depth)

    def _of_type(self, node: dict[str, Any], kind: str, name: str, depth: int) -> Any:
        if kind == "string":
            return self._string(node, name)
        if kind == "integer":
            return self._integer(node)
        if kind == "number":
            return self._number(node)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "array":
            return self._array(node, name, depth)
        if kind == "object":
            return self._object(node, depth)
        return None

    def _string(self, node: dict[str, Any], name: str) -> str:
        low = _int(node.get("minLength"), 0)
        high = _int(node.get("maxLength"), max(low, 24))
        fmt = node.get("format")
        if isinstance(fmt, str):
            return self._format(fmt)
        if isinstance(node.get("pattern"), str):
            for _ in range(10):
                text = pattern_string(node["pattern"], self.rng)
                if text is not None and low <= len(text) <= high:
                    return text
            return ""
        label = re.sub(r"[^a-z0-9]", "", name.lower())[:10] or "text"
        text = f"{label}-{self.rng.randint(1, 12)}"
        if len(text) < low:
            text += "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(low - len(text)))
        return text[:high]

    def _format(self, fmt: str) -> str:
        instant = self.instant()
        if fmt == "date-time":
            return f"{instant:%Y-%m-%dT%H:%M:%S}.{instant.microsecond // 1000:03d}Z"
        if fmt == "date":
            return f"{instant:%Y-%m-%d}"
        if fmt == "time":
            return f"{instant:%H:%M:%S}Z"
        if fmt == "uuid":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if fmt == "email":
            return f"user{self.rng.randint(1, 999)}@example.com"
        if fmt == "ipv4":
            return ".".join(str(self.rng.randint(1, 254)) for _ in range(4))
        if fmt == "ipv6":
            return f"2001:db8::{self.rng.getrandbits(16):x}:{self.rng.getrandbits(16):x}"
        return ""

    def _range(self, node: dict[str, Any], integer: bool) -> tuple[float, float]:
        """The inclusive range the bounds leave (exclusive bounds moved in by one for integers, a hair for numbers)."""
        nudge = 1 if integer else 1e-6
        lows = [node[k] for k in ("minimum",) if _number(node.get(k))]
        lows += [node[k] + nudge for k in ("exclusiveMinimum",) if _number(node.get(k))]
        highs = [node[k] for k in ("maximum",) if _number(node.get(k))]
        highs += [node[k] - nudge for k in ("exclusiveMaximum",) if _number(node.get(k))]
        low = max(lows) if lows else None
        high = min(highs) if highs else None
        if low is None and high is None:
            low, high = 0, _SPAN
        elif low is None:
            assert high is not None
            low = high - _SPAN
        elif high is None:
            high = low + _SPAN
        assert low is not None and high is not None
        return low, high

    def _integer(self, node: dict[str, Any]) -> int:
        low, high = self._range(node, integer=True)
        lo, hi = max(math.ceil(low), _INT64[0]), min(math.floor(high), _INT64[1])
        step = _step(node.get("multipleOf"), integer=True)
        if step:
            first, last = math.ceil(lo / step), math.floor(hi / step)
            return int(self.rng.randint(first, last) * step) if first <= last else int(first * step)
        return self.rng.randint(lo, hi) if lo <= hi else lo

    def _number(self, node: dict[str, Any]) -> float | int:
        low, high = self._range(node, integer=False)
        step = _step(node.get("multipleOf"), integer=False)
        if step:
            first, last = math.ceil(low / step), math.floor(high / step)
            k = self.rng.randint(first, last) if first <= last else first
            exact = Fraction(k) * Fraction(str(step))
            return int(exact) if exact.denominator == 1 else float(exact)
        value = round(self.rng.uniform(low, high), 2)
        return value if low <= value <= high else low

    def _array(self, node: dict[str, Any], name: str, depth: int) -> list[Any]:
        low = _int(node.get("minItems"), 0)
        high = _int(node.get("maxItems"), low + 3)
        count = low if depth >= _MAX_DEPTH else self.rng.randint(low, max(low, min(high, low + 3)))
        items = node.get("items", {})
        if isinstance(items, list):
            values = [self.value(sub, name, depth + 1) for sub in items[:count]]
            count = len(values)
        else:
            values = [self.value(items, name, depth + 1) for _ in range(count)]
        if node.get("uniqueItems") is True:
            unique: dict[str, Any] = {}
            for value in values:
                unique.setdefault(json.dumps(value, sort_keys=True), value)
            for _ in range(5 * count):
                if len(unique) >= count or isinstance(items, list):
                    break
                value = self.value(items, name, depth + 1)
                unique.setdefault(json.dumps(value, sort_keys=True), value)
            values = list(unique.values())
        if isinstance(node.get("contains"), dict | bool) and node.get("contains") is not False:
            extra = self.value(node["contains"], name, depth + 1)
            values = [*values[: max(0, high - 1)], extra]
        return values

    def _object(self, node: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = node.get("properties") if isinstance(node.get("properties"), dict) else {}
        assert isinstance(properties, dict)
        required = [k for k in node.get("required", []) if isinstance(k, str)] if isinstance(node.get("required"), list) else []
        chance = 0.0 if depth >= _MAX_DEPTH else 0.85 if depth == 0 else 0.6
        names = [k for k in properties if k in required or self.rng.random() < chance]
        names += [k for k in required if k not in names]
        dependencies = node.get("dependencies")
        if isinstance(dependencies, dict):
            for key in list(names):
                more = dependencies.get(key)
                names += [k for k in more if isinstance(k, str) and k not in names] if isinstance(more, list) else []
        low = _int(node.get("minProperties"), 0)
        names += [k for k in properties if k not in names][: max(0, low - len(names))]
        high = _int(node.get("maxProperties"), len(names))
        while len(names) > high and any(k not in required for k in names):
            names.remove(next(k for k in reversed(names) if k not in required))
        additional = node.get("additionalProperties", True)
        extra = 0
        while len(names) < low and additional is not False:
            extra += 1
            names.append(f"x{extra}")
        record: dict[str, Any] = {}
        for key in names:
            subs = [properties[key]] if key in properties else []
            patterns = node.get("patternProperties")
            if isinstance(patterns, dict):
                subs += [sub for pattern, sub in patterns.items() if _search(pattern, key)]
            if not subs and isinstance(additional, dict):
                subs = [additional]
            sub: Any = subs[0] if len(subs) == 1 else {"allOf": subs} if subs else {"type": "string"}
            record[key] = self.value(sub, key, depth + 1)
        return record


def _pointer(root: Any, ref: str) -> Any:
    """The subschema a local ``$ref`` names (``#``, ``#/$defs/x``), or an empty schema when it names none."""
    try:
        return resolve_ref(root, ref, file="", key="")
    except SpecError:
        return {}


def _merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Two subschemas that must both hold, as one (bounds tightened, types and enums intersected, properties merged)."""
    merged = dict(a)
    for key, value in b.items():
        if key not in merged:
            merged[key] = value
        elif key == "properties" and isinstance(value, dict) and isinstance(merged[key], dict):
            props = dict(merged[key])
            for name, sub in value.items():
                props[name] = {"allOf": [props[name], sub]} if name in props else sub
            merged[key] = props
        elif key == "required" and isinstance(value, list) and isinstance(merged[key], list):
            merged[key] = [*merged[key], *(k for k in value if k not in merged[key])]
        elif key in ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties") and _number(value):
            merged[key] = max(merged[key], value) if _number(merged[key]) else value
        elif key in ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties") and _number(value):
            merged[key] = min(merged[key], value) if _number(merged[key]) else value
        elif key == "type":
            mine, theirs = _types({"type": merged[key]}), _types({"type": value})
            both = [t for t in mine if t in theirs]
            both += ["integer"] if "integer" not in both and {"integer", "number"} <= {*mine, *theirs} else []
            merged[key] = both or value
        elif key == "enum" and isinstance(value, list) and isinstance(merged[key], list):
            both = [v for v in merged[key] if any(_json_equal(v, w) for w in value)]
            merged[key] = both or value
        else:
            merged[key] = value
    return merged


def _types(node: Any) -> list[str]:
    """The JSON types a subschema allows, inferred from its keywords when it has no ``type``."""
    if not isinstance(node, dict):
        return ["string"]
    declared = node.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list) and declared:
        return [t for t in declared if t in _TYPE_WORDS] or ["string"]
    if any(k in node for k in ("properties", "required", "additionalProperties", "patternProperties", "minProperties")):
        return ["object"]
    if any(k in node for k in ("items", "minItems", "maxItems", "contains", "uniqueItems")):
        return ["array"]
    if any(k in node for k in (*_BOUNDS, "multipleOf")):
        return ["number"]
    return ["string"]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int(value: Any, default: int) -> int:
    return int(value) if _number(value) and float(value).is_integer() and value >= 0 else default


def _step(value: Any, *, integer: bool) -> int | float | None:
    """The step of the multiples to draw: ``multipleOf``, or for integers the least integer multiple of it."""
    if not _number(value) or value <= 0:
        return None
    if not integer:
        return value  # type: ignore[no-any-return]
    exact = Fraction(str(value))
    return exact.numerator  # p/q in lowest terms: an integer n·p/q needs q | n, so the integers are the multiples of p


def _search(pattern: Any, text: str) -> bool:
    try:
        return isinstance(pattern, str) and re.search(ecma_pattern(pattern), text) is not None
    except re.error:
        return False
