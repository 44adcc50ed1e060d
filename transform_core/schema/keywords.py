"""Which JSON Schema keywords transform-core enforces, and a structural check of a schema.

Drafts 07 and 2020-12 are read through their common vocabulary. A keyword outside it is a
``SpecError`` at load: silently ignoring a constraint would let bad records through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from transform_core.errors import SpecError
from transform_core.schema.formats import FORMAT_CHECKS, ecma_pattern

__all__ = ["ANNOTATIONS", "SUPPORTED", "check_schema", "resolve_ref"]

JSON_TYPES = frozenset({"string", "integer", "number", "boolean", "null", "object", "array"})
ANNOTATIONS = frozenset(
    {
        "$schema", "$id", "$comment", "title", "description", "default", "examples", "readOnly",
        "writeOnly", "deprecated", "contentMediaType", "contentEncoding", "$defs", "definitions",
    }
)  # fmt: skip
SUPPORTED = frozenset(
    {
        "type", "enum", "const", "properties", "required", "additionalProperties", "patternProperties",
        "propertyNames", "minProperties", "maxProperties", "dependencies", "items", "additionalItems",
        "contains", "minItems", "maxItems", "uniqueItems", "minimum", "maximum", "exclusiveMinimum",
        "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern", "format", "allOf",
        "anyOf", "oneOf", "not", "if", "then", "else", "$ref",
    }
)  # fmt: skip
_DRAFTS = ("http://json-schema.org/draft-07/schema", "https://json-schema.org/draft/2020-12/schema")
_SUBSCHEMA = ("additionalProperties", "propertyNames", "contains", "not", "if", "then", "else", "additionalItems")
_SUBSCHEMA_LIST = ("allOf", "anyOf", "oneOf")
_SUBSCHEMA_MAP = ("properties", "patternProperties", "$defs", "definitions")
_NONNEG_INT = ("minProperties", "maxProperties", "minItems", "maxItems", "minLength", "maxLength")
_NUMBER = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_Places = dict[int, tuple[str, Mapping[str, Any]]]  # id of each subschema -> its JSON pointer, and itself


def resolve_ref(root: Mapping[str, Any], ref: str, *, file: str, key: str) -> Any:
    """Follow a local ``$ref`` (``#/$defs/x`` or any JSON pointer into this schema)."""
    if not ref.startswith("#"):
        raise SpecError(f"only local $ref (#/...) is supported, got {ref!r}", file=file, key=key)
    node: Any = root
    for part in ref[1:].split("/")[1:] if ref != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SpecError(f"$ref {ref!r} points nowhere", file=file, key=key)
    return node


def check_schema(schema: Any, *, file: str) -> None:
    """Raise SpecError (naming ``file`` and a JSON pointer) unless ``schema`` is a usable JSON Schema."""
    if not isinstance(schema, Mapping):
        raise SpecError("a JSON Schema must be an object", file=file)
    declared = schema.get("$schema")
    if declared is not None and (not isinstance(declared, str) or declared.rstrip("#") not in _DRAFTS):
        raise SpecError(f"unsupported $schema {declared!r} (supported: draft-07, 2020-12)", file=file, key="/$schema")
    places: _Places = {}
    _check(schema, schema, "", file, places)
    _check_loops(schema, file, places)


def _check(node: Any, root: Mapping[str, Any], pointer: str, file: str, places: _Places) -> None:
    """Check ``node`` and the subschemas below it, recording each in ``places``."""
    if isinstance(node, bool):
        return
    if not isinstance(node, Mapping):
        raise SpecError("a subschema must be an object or a boolean", file=file, key=pointer or "/")
    places.setdefault(id(node), (pointer, node))

    def fail(keyword: str, message: str) -> SpecError:
        return SpecError(message, file=file, key=f"{pointer}/{keyword}")

    for keyword, value in node.items():
        if keyword not in SUPPORTED and keyword not in ANNOTATIONS:
            raise fail(keyword, f"unsupported keyword {keyword!r}")
        if keyword in _SUBSCHEMA:
            _check(value, root, f"{pointer}/{keyword}", file, places)
        elif keyword in _SUBSCHEMA_LIST:
            if not isinstance(value, list) or not value:
                raise fail(keyword, "must be a non-empty array of schemas")
            for i, sub in enumerate(value):
                _check(sub, root, f"{pointer}/{keyword}/{i}", file, places)
        elif keyword in _SUBSCHEMA_MAP:
            if not isinstance(value, Mapping):
                raise fail(keyword, "must be an object of schemas")
            for name, sub in value.items():
                if keyword == "patternProperties":
                    _check_regex(name, fail, keyword)
                _check(sub, root, f"{pointer}/{keyword}/{name}", file, places)
        elif keyword == "items":
            if isinstance(value, list):  # draft-07 tuple form
                for i, sub in enumerate(value):
                    _check(sub, root, f"{pointer}/items/{i}", file, places)
            else:
                _check(value, root, f"{pointer}/items", file, places)
        elif keyword == "dependencies":
            if not isinstance(value, Mapping):
                raise fail(keyword, "must be an object")
            for name, dep in value.items():
                if isinstance(dep, list):
                    if not all(isinstance(d, str) for d in dep):
                        raise fail(keyword, f"dependency {name!r} must list property names")
                else:
                    _check(dep, root, f"{pointer}/dependencies/{name}", file, places)
        elif keyword == "type":
            types = value if isinstance(value, list) else [value]
            if not types or any(t not in JSON_TYPES for t in types) or len(set(types)) != len(types):
                raise fail(keyword, f"must be one of {sorted(JSON_TYPES)} or a list of them, got {value!r}")
        elif keyword == "required":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise fail(keyword, "must be an array of property names")
        elif keyword == "enum":
            if not isinstance(value, list) or not value:
                raise fail(keyword, "must be a non-empty array")
        elif keyword in _NONNEG_INT:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise fail(keyword, f"must be a non-negative integer, got {value!r}")
        elif keyword in _NUMBER:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise fail(keyword, f"must be a number, got {value!r} (draft-04 boolean forms are not supported)")
            if keyword == "multipleOf" and value <= 0:
                raise fail(keyword, "must be greater than 0")
        elif keyword == "uniqueItems":
            if not isinstance(value, bool):
                raise fail(keyword, "must be a boolean")
        elif keyword == "pattern":
            _check_regex(value, fail, keyword)
        elif keyword == "format":
            if value not in FORMAT_CHECKS:
                raise fail(keyword, f"unsupported format {value!r} (supported: {', '.join(FORMAT_CHECKS)})")
        elif keyword == "$ref":
            if not isinstance(value, str):
                raise fail(keyword, "must be a string")
            resolve_ref(root, value, file=file, key=f"{pointer}/$ref")


def _check_loops(root: Mapping[str, Any], file: str, places: _Places) -> None:
    """Refuse a loop of subschemas applied to the same value (``{"$ref": "#/$defs/a"}`` in ``a`` itself, or through
    ``allOf``, ``not``, ``if``…): any validator would recurse without end on every record. A ``$ref`` reached
    through ``properties`` or ``items`` applies to a value one level down, and a recursive schema of that kind
    (a tree) is fine. ``places``: every subschema, as :func:`_check` found them."""
    state: dict[int, bool] = {}  # id -> True while on the path being walked, False once cleared

    def walk(node: Mapping[str, Any], path: list[str]) -> None:
        state[id(node)] = True
        for key, successor in _same_value(node, root, file, places):
            pointer = places[id(successor)][0] or "/"
            if state.get(id(successor)) is True:  # on the path: the loop is the path from it on
                loop = " -> ".join([*path[path.index(pointer) :], pointer])
                raise SpecError(f"subschemas applied to the same value loop forever: {loop}", file=file, key=key)
            if id(successor) not in state:
                walk(successor, [*path, pointer])
        state[id(node)] = False

    for node_id, (pointer, node) in list(places.items()):
        if node_id not in state:
            walk(node, [pointer or "/"])


def _same_value(
    node: Mapping[str, Any], root: Mapping[str, Any], file: str, places: _Places
) -> list[tuple[str, Mapping[str, Any]]]:
    """The subschemas ``node`` applies to the value it is applied to, each with the pointer of the keyword."""
    here = places[id(node)][0]
    found: list[tuple[str, Any]] = []
    for keyword in _SUBSCHEMA_LIST:
        found += [(f"{here}/{keyword}/{i}", sub) for i, sub in enumerate(node.get(keyword) or ())]
    found += [(f"{here}/{keyword}", node[keyword]) for keyword in ("not", "if", "then", "else") if keyword in node]
    if isinstance(node.get("dependencies"), Mapping):
        found += [(f"{here}/dependencies/{name}", dep) for name, dep in node["dependencies"].items()]
    if isinstance(node.get("$ref"), str):
        found.append((f"{here}/$ref", resolve_ref(root, node["$ref"], file=file, key=f"{here}/$ref")))
    return [(key, sub) for key, sub in found if isinstance(sub, Mapping) and id(sub) in places]


def _check_regex(value: Any, fail: Any, keyword: str) -> None:
    if not isinstance(value, str):
        raise fail(keyword, "must be a string")
    try:
        re.compile(ecma_pattern(value))
    except re.error as err:
        raise fail(keyword, f"invalid regular expression {value!r}: {err}") from err
