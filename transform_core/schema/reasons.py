"""Rejection reasons: ``$.path: what is wrong (rule)``, from msgspec errors and column rules.

The rule name is the JSON Schema keyword (``type``, ``maximum``, ``required``, …) or one of
transform-core's own: ``base64``, ``utf8``, ``json``, ``duplicate_key``, ``int64``, ``float64``,
``event_time``, ``enrich``, ``response_size``, and the lake's ``lake_exact`` (a value the lake cannot store exactly). ``rule_id`` (``$.value|maximum``) is the metric label.
A reason with the rule ``REFERRED`` is never final: its record is judged by the reference implementation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

__all__ = ["REFERRED", "child_path", "format_reason", "reason_from_msgspec", "rule_id", "show_value", "split_reason"]

#: The rule of a msgspec bound that is ours, not the schema's: a record failing it goes to the reference.
REFERRED = "referred"

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)
_TYPE = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")
_BOUND = re.compile(r"^Expected `(?P<kind>int|float)` (?P<op>>=|>|<=|<) (?P<bound>\S+)$")
_LENGTH = re.compile(r"^Expected `(?P<kind>str|array)` of length (?P<op>>=|<=) (?P<n>\d+)$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>.*)`$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>.*)`$", re.S)
_ARRAY_INDEX = re.compile(r"\[\d+\]")
_NAMES = {
    "int": "integer",
    "float": "number",
    "str": "string",
    "bool": "boolean",
    "null": "null",
    "object": "object",
    "array": "array",
}


def format_reason(path: str, message: str, rule: str) -> str:
    """The one reason format: ``$.value: must be at most 1000 (maximum)``."""
    return f"{path}: {message} ({rule})"


def show_value(value: object) -> str:
    """A record value as short JSON text for a reason (long values are cut)."""
    import orjson

    if isinstance(value, msgspec.Raw):
        text = bytes(value).decode()
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)  # orjson refuses integers beyond 64 bits
    else:
        text = orjson.dumps(value).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def rule_id(reason: str) -> str:
    """``$.value: … (maximum)`` → ``$.value|maximum`` (array indices folded to ``[*]``)."""
    path, _, rest = reason.partition(": ")
    rule = rest[rest.rfind("(") + 1 : -1] if rest.endswith(")") else "unknown"
    return f"{_ARRAY_INDEX.sub('[*]', path)}|{rule}"


def split_reason(reason: str) -> tuple[str, str, str]:
    """``$.value: must be at most 1000 (maximum)`` → ``("$.value", "must be at most 1000", "maximum")``, read as
    :func:`rule_id` reads it (``"unknown"`` when the reason names no rule)."""
    path, _, rest = reason.partition(": ")
    if not rest.endswith(")"):
        return path, rest, "unknown"
    opening = rest.rfind("(")
    return path, rest[:opening].rstrip(" "), rest[opening + 1 : -1]


def reason_from_msgspec(
    error: msgspec.MsgspecError,
    rule_texts: Mapping[tuple[str, str], tuple[str, str]],
    integer_paths: frozenset[str],
) -> str:
    """Translate a msgspec decode/validation error into a reason naming the path and the rule."""
    if isinstance(error, msgspec.DecodeError) and not isinstance(error, msgspec.ValidationError):
        return format_reason("$", f"not valid JSON: {str(error).removeprefix('JSON is malformed: ')}", "json")
    m = _AT.match(str(error))
    assert m is not None  # the pattern matches any text
    msg, path = m["msg"], m["path"] or "$"
    norm = _ARRAY_INDEX.sub("[*]", path)
    if t := _TYPE.match(msg):
        want = " or ".join(dict.fromkeys(_type_name(w, norm, integer_paths) for w in t["want"].split(" | ")))
        return format_reason(path, f"expected {want}, got {_NAMES.get(t['got'], t['got'])}", "type")
    if b := _BOUND.match(msg):
        rule, text = rule_texts.get((norm, f"{b['kind']} {b['op']}"), ("range", f"must be {b['op']} {b['bound']}"))
        return format_reason(path, text, rule)
    if msg.startswith("Expected `float` that's a multiple of 1"):
        return format_reason(path, "expected integer, got a number with a fraction", "type")
    if n := _LENGTH.match(msg):
        noun = "characters" if n["kind"] == "str" else "items"
        rule = (
            ("minLength" if n["op"] == ">=" else "maxLength")
            if n["kind"] == "str"
            else ("minItems" if n["op"] == ">=" else "maxItems")
        )
        return format_reason(path, f"must have {'at least' if n['op'] == '>=' else 'at most'} {n['n']} {noun}", rule)
    if msg.startswith("Expected `str` matching regex "):
        rule, text = rule_texts.get((norm, "pattern"), ("pattern", msg))
        return format_reason(path, text, rule)
    if r := _MISSING.match(msg):
        return format_reason(child_path(path, r["name"]), "required property is missing", "required")
    if u := _UNKNOWN.match(msg):
        return format_reason(child_path(path, u["name"]), "property is not allowed", "additionalProperties")
    if msg.startswith("Invalid enum value"):
        return format_reason(path, f"{msg.removeprefix('Invalid enum value ')} is not one of the allowed values", "enum")
    if msg == "Number out of range":
        return format_reason(path, "number does not fit in a 64-bit float", "float64")
    return format_reason(path, msg, "schema")


def _type_name(msgspec_name: str, norm_path: str, integer_paths: frozenset[str]) -> str:
    if msgspec_name in ("int", "float"):
        return "integer" if norm_path in integer_paths else "number"
    if msgspec_name.startswith("'") or msgspec_name.startswith('"'):
        return "string"
    return _NAMES.get(msgspec_name, msgspec_name)


def child_path(path: str, name: str) -> str:
    """The path of the property ``name`` of the object at ``path``: ``$.tags.fw``, or ``$.tags["a b"]``."""
    return f"{path}.{name}" if name.isidentifier() else f'{path}["{name}"]'
