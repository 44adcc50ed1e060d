"""Every JSON Schema rule a value breaks, as reasons, in one stated order (docs/spec.md, "Order of the reasons").

A schema is compiled once into a tree of small checks; :meth:`SchemaFailures.failures` walks a value through it and
returns every failing rule, never only the first. In one value the keywords run in :data:`KEYWORD_ORDER`; an object's
properties run in the schema's order (``properties``, then names only ``required`` lists), each either ``required``
(missing) or its own value's rules, then the members the schema does not declare, in the record's order. Keywords
that apply a subschema to the same value (``$ref``, ``allOf``, ``then``/``else``, a ``dependencies`` schema) report
the subschema's own rules; ``anyOf``, ``oneOf``, ``not``, ``contains`` and ``propertyNames`` report themselves.

The verdict is the reference's validator (fastjsonschema); this module only names what failed, and follows its
reading of JSON Schema: a ``$ref`` ignores its siblings, ``1`` equals ``1.0`` and never ``true``, an integer-typed
value must fit in int64 (rule ``int64``), ``pattern`` reads ``$`` as ECMA-262 does.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sized
from typing import Any

from transform_core.schema.formats import FORMAT_CHECKS, ecma_pattern
from transform_core.schema.keywords import resolve_ref
from transform_core.schema.reasons import child_path, format_reason, show_value

__all__ = ["KEYWORD_ORDER", "SchemaFailures", "json_type"]

#: The order of the keywords checked on one value (``properties`` stands for every property, in the schema's order).
KEYWORD_ORDER = (
    "$ref", "type", "enum", "const",
    "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf", "int64",
    "minLength", "maxLength", "pattern", "format",
    "minItems", "maxItems", "uniqueItems", "contains", "items", "additionalItems",
    "properties", "patternProperties", "additionalProperties", "propertyNames", "minProperties", "maxProperties",
    "dependencies", "allOf", "anyOf", "oneOf", "not", "if",
)  # fmt: skip

_INT64 = (-(2**63), 2**63 - 1)
_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}
_PYTHON_TYPES = (*_TYPE_NAMES.items(), (type(None), "null"))
_PATHS_KEPT = 64  # the paths of an object's properties are kept for this many paths of the object (then made each time)
_Check = Callable[[Any, str, list[str]], None]  # (value, its path, the reasons found so far)


class _Stop(Exception):
    """Raised by :class:`_FirstOnly` on the first reason: the walk ends there."""


class _FirstOnly(list[str]):
    """The reasons found so far, ending the walk at the first (the combinators check with lists of their own)."""

    def append(self, reason: str) -> None:
        super().append(reason)
        raise _Stop


class SchemaFailures:
    """The reasons a value breaks a JSON Schema, in the stated order."""

    def __init__(self, schema: Mapping[str, Any], *, file: str = "<schema>") -> None:
        self._root, self._file = schema, file
        self._compiled: dict[int, _Check] = {}
        self._check = self._compile(schema)

    def failures(self, value: Any, path: str = "$") -> list[str]:
        """Every failing rule of ``value`` (a parsed JSON value) as a reason; empty if it passes."""
        found: list[str] = []
        self._check(value, path, found)
        return found

    def first(self, value: Any, path: str = "$") -> str | None:
        """The first failing rule of ``value`` as a reason (the first of :meth:`failures`), without walking on."""
        found = _FirstOnly()
        try:
            self._check(value, path, found)
        except _Stop:
            return found[0]
        return None

    def passes(self, node: Any, value: Any) -> bool:
        """Whether ``value`` passes the subschema ``node`` (for the combinators)."""
        found: list[str] = []
        self._compile(node)(value, "$", found)
        return not found

    def _compile(self, node: Any) -> _Check:
        key = id(node)
        if key not in self._compiled:
            self._compiled[key] = _lazy(self, node)  # a recursive $ref finds its own entry while being built
            self._compiled[key] = self._build(node)
        return self._compiled[key]

    def _build(self, node: Any) -> _Check:
        if node is True or (isinstance(node, Mapping) and not node):
            return _nothing
        if node is False:
            return lambda value, path, found: found.append(format_reason(path, "no value is allowed here", "false"))
        if "$ref" in node:  # its siblings are ignored, as the reference's validator does
            target = resolve_ref(self._root, node["$ref"], file=self._file, key="$ref")
            return lambda value, path, found: self._compile(target)(value, path, found)
        checks = [check for keyword in KEYWORD_ORDER if (check := self._keyword(node, keyword)) is not None]
        if len(checks) == 1:
            return checks[0]

        def all_of_them(value: Any, path: str, found: list[str]) -> None:
            for check in checks:
                check(value, path, found)

        return all_of_them

    def _keyword(self, node: Mapping[str, Any], keyword: str) -> _Check | None:  # noqa: PLR0911, PLR0912
        if keyword == "type" and "type" in node:
            return _type_check(node["type"])
        if keyword == "int64":
            types = node.get("type")
            types = types if isinstance(types, list) else [types]
            return _int64 if "integer" in types and "number" not in types else None
        if keyword == "properties":
            return self._properties(node) if "properties" in node or "required" in node else None
        if keyword not in node:
            return None
        arg = node[keyword]
        if keyword in ("enum", "const"):
            return _enum_check(keyword, arg if keyword == "enum" else [arg])
        if keyword in _BOUNDS:
            return _bound_check(keyword, arg)
        if keyword == "multipleOf":
            return _multiple_check(arg)
        if keyword in _LENGTHS:
            return _length_check(keyword, arg)
        if keyword == "pattern":
            search = re.compile(ecma_pattern(arg)).search
            text = f"does not match {arg!r}"
            return lambda v, p, f: None if type(v) is not str or search(v) else f.append(format_reason(p, text, "pattern"))
        if keyword == "format":
            valid = FORMAT_CHECKS[arg]
            return lambda v, p, f: None if type(v) is not str or valid(v) else f.append(_format_reason(p, v, arg))
        if keyword == "uniqueItems":
            return _unique if arg else None
        if keyword == "contains":
            return self._contains(arg)
        if keyword == "items":
            return self._items(arg, node.get("additionalItems", True))
        if keyword == "additionalItems":
            return None  # checked with items
        if keyword in ("patternProperties", "additionalProperties"):
            # one check for both, at the first the schema has; none where any undeclared member passes
            first = "patternProperties" if "patternProperties" in node else "additionalProperties"
            if keyword != first or (node.get("additionalProperties", True) is True and not node.get("patternProperties")):
                return None
            return self._extras(node)
        if keyword == "propertyNames":
            return self._property_names(arg)
        if keyword == "dependencies":
            return self._dependencies(arg)
        if keyword == "allOf":
            return self._all_of(arg)
        return self._combinator(node, keyword)

    def _all_of(self, subschemas: list[Any]) -> _Check:
        subs = [self._compile(sub) for sub in subschemas]

        def check(value: Any, path: str, found: list[str]) -> None:
            for sub in subs:
                sub(value, path, found)

        return check

    def _contains(self, sub: Any) -> _Check:
        def check(value: Any, path: str, found: list[str]) -> None:
            if type(value) is list and not any(self.passes(sub, item) for item in value):
                found.append(format_reason(path, "no item matches the contains schema", "contains"))

        return check

    def _items(self, items: Any, additional: Any) -> _Check:
        def check(value: Any, path: str, found: list[str]) -> None:
            if type(value) is not list:
                return
            if not isinstance(items, list):
                each = self._compile(items)
                for i, item in enumerate(value):
                    each(item, f"{path}[{i}]", found)
                return
            for i, item in enumerate(value):
                self._compile(items[i] if i < len(items) else additional)(item, f"{path}[{i}]", found)

        return check

    def _properties(self, node: Mapping[str, Any]) -> _Check:
        properties: Mapping[str, Any] = node.get("properties", {})
        required = set(node.get("required", ()))
        names = [*properties, *(r for r in dict.fromkeys(node.get("required", ())) if r not in properties)]
        plan = [(name, name in required, self._compile(properties[name]) if name in properties else None) for name in names]
        paths: dict[str, list[str]] = {}  # the properties' paths under each path met (one, outside arrays)

        def check(value: Any, path: str, found: list[str]) -> None:
            if type(value) is not dict:
                return
            children = paths.get(path)
            if children is None:
                children = paths[path] = [child_path(path, name) for name in names] if len(paths) < _PATHS_KEPT else []
            for k, (name, needed, sub) in enumerate(plan):
                if name in value:
                    if sub is not None:
                        sub(value[name], children[k] if children else child_path(path, name), found)
                elif needed:
                    where = children[k] if children else child_path(path, name)
                    found.append(format_reason(where, "required property is missing", "required"))

        return check

    def _extras(self, node: Mapping[str, Any]) -> _Check:
        """The members ``properties`` does not declare, in the record's order: ``patternProperties``, then
        ``additionalProperties`` for those no pattern matches either."""
        declared = set(node.get("properties", {}))
        patterns = [(re.compile(ecma_pattern(k)).search, self._compile(v)) for k, v in node.get("patternProperties", {}).items()]
        additional = node.get("additionalProperties", True)
        rest = None if additional is True or additional is False else self._compile(additional)

        def check(value: Any, path: str, found: list[str]) -> None:
            if type(value) is not dict:
                return
            for name, member in value.items():
                matched = False
                for search, sub in patterns:
                    if search(name):
                        matched = True
                        sub(member, child_path(path, name), found)
                if matched or name in declared:
                    continue
                if additional is False:
                    found.append(format_reason(child_path(path, name), "property is not allowed", "additionalProperties"))
                elif rest is not None:
                    rest(member, child_path(path, name), found)

        return check

    def _property_names(self, sub: Any) -> _Check:
        def check(value: Any, path: str, found: list[str]) -> None:
            if type(value) is dict:
                for name in value:
                    if not self.passes(sub, name):
                        found.append(format_reason(child_path(path, name), "the name fails propertyNames", "propertyNames"))

        return check

    def _dependencies(self, dependencies: Mapping[str, Any]) -> _Check:
        def check(value: Any, path: str, found: list[str]) -> None:
            if type(value) is not dict:
                return
            for name, dependency in dependencies.items():
                if name not in value:
                    continue
                if isinstance(dependency, list):
                    for needed in dependency:
                        if needed not in value:
                            text = f"required by property {name!r}"
                            found.append(format_reason(child_path(path, needed), text, "dependencies"))
                else:
                    self._compile(dependency)(value, path, found)

        return check

    def _combinator(self, node: Mapping[str, Any], keyword: str) -> _Check | None:
        if keyword == "if":
            test, then, otherwise = node["if"], node.get("then", True), node.get("else", True)
            return lambda v, p, f: self._compile(then if self.passes(test, v) else otherwise)(v, p, f)
        arg = node[keyword]
        if keyword == "anyOf":
            return _reporting(lambda v: any(self.passes(sub, v) for sub in arg), "matches none of the anyOf schemas", keyword)
        if keyword == "oneOf":
            text = "must match exactly one of the oneOf schemas"
            return _reporting(lambda v: sum(self.passes(sub, v) for sub in arg) == 1, text, keyword)
        if keyword == "not":
            return _reporting(lambda v: not self.passes(arg, v), "must not match the not schema", keyword)
        return None


_Holds = Callable[[Any, Any], bool]
_BOUNDS: dict[str, tuple[_Holds, str]] = {
    "minimum": (operator.ge, "at least"),
    "exclusiveMinimum": (operator.gt, "greater than"),
    "maximum": (operator.le, "at most"),
    "exclusiveMaximum": (operator.lt, "less than"),
}
_LENGTHS: dict[str, tuple[type[Sized], _Holds, str, str]] = {
    "minLength": (str, operator.ge, "at least", "characters"),
    "maxLength": (str, operator.le, "at most", "characters"),
    "minItems": (list, operator.ge, "at least", "items"),
    "maxItems": (list, operator.le, "at most", "items"),
    "minProperties": (dict, operator.ge, "at least", "properties"),
    "maxProperties": (dict, operator.le, "at most", "properties"),
}


def _nothing(value: Any, path: str, found: list[str]) -> None:
    return None


def _lazy(failures: SchemaFailures, node: Any) -> _Check:
    return lambda value, path, found: failures._compile(node)(value, path, found)


def _reporting(passes: Callable[[Any], bool], text: str, rule: str) -> _Check:
    return lambda v, p, f: None if passes(v) else f.append(format_reason(p, text, rule))


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def json_type(value: Any) -> str:
    """A parsed JSON value's type as JSON Schema names it: ``object``, ``integer``, ``null``."""
    return "null" if value is None else _TYPE_NAMES.get(type(value), type(value).__name__)


def _type_check(declared: str | list[str]) -> _Check:
    types = declared if isinstance(declared, list) else [declared]
    wanted = " or ".join(types)
    accepted = frozenset(kind for kind, name in _PYTHON_TYPES if name in types or name == "integer" and "number" in types)
    integral_floats = "integer" in types  # 2.0 is an integer

    def check(value: Any, path: str, found: list[str]) -> None:
        kind = type(value)
        if kind not in accepted and not (integral_floats and kind is float and value.is_integer()):
            got = "a number with a fraction" if type(value) is float and "integer" in types else json_type(value)
            found.append(format_reason(path, f"expected {wanted}, got {got}", "type"))

    return check


def _int64(value: Any, path: str, found: list[str]) -> None:
    if _is_number(value) and math.isfinite(value) and not _INT64[0] <= value <= _INT64[1]:
        found.append(format_reason(path, "must fit in a signed 64-bit integer", "int64"))


def _json_key(value: Any) -> Any:
    """A value to compare as JSON does: ``1 == 1.0``, ``true != 1``, objects by their members."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, dict):
        return ("object", frozenset((k, _json_key(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_json_key(v) for v in value))
    return ("number" if _is_number(value) else "string", value)


def _enum_check(keyword: str, allowed: list[Any]) -> _Check:
    keys = [_json_key(a) for a in allowed]
    text = "is not one of the allowed values" if keyword == "enum" else f"is not {show_value(allowed[0])}"

    def check(value: Any, path: str, found: list[str]) -> None:
        if _json_key(value) not in keys:
            found.append(format_reason(path, f"{show_value(value)} {text}", keyword))

    return check


def _bound_check(keyword: str, bound: float) -> _Check:
    holds, words = _BOUNDS[keyword]
    text = f"must be {words} {bound}"

    def check(value: Any, path: str, found: list[str]) -> None:
        if _is_number(value) and not holds(value, bound):
            found.append(format_reason(path, text, keyword))

    return check


def _multiple_check(factor: float) -> _Check:
    def check(value: Any, path: str, found: list[str]) -> None:
        if not _is_number(value):
            return
        if type(value) is int and type(factor) is int:
            ok = value % factor == 0
        else:
            try:
                quotient = value / factor
                ok = math.isfinite(quotient) and quotient == int(quotient)
            except OverflowError:
                ok = False
        if not ok:
            found.append(format_reason(path, f"must be a multiple of {factor}", "multipleOf"))

    return check


def _length_check(keyword: str, bound: int) -> _Check:
    kind, holds, words, noun = _LENGTHS[keyword]

    def check(value: Any, path: str, found: list[str]) -> None:
        if isinstance(value, kind) and not holds(len(value), bound):
            found.append(format_reason(path, f"must have {words} {bound} {noun}", keyword))

    return check


def _unique(value: Any, path: str, found: list[str]) -> None:
    if type(value) is list and len({_json_key(v) for v in value}) < len(value):
        found.append(format_reason(path, "items must be unique", "uniqueItems"))


def _format_reason(path: str, value: str, fmt: str) -> str:
    return format_reason(path, f"{show_value(value)} is not a valid {fmt}", "format")
