"""Compile a JSON Schema into a strict msgspec record type plus vectorized column rules.

msgspec decodes and checks a record in one native pass: JSON syntax, types (``true`` is not a
number, ``"5"`` is not an integer, 2.0 *is* one), required properties, string enums, bounds,
lengths in code points, ``pattern`` and ``additionalProperties: false``. Each such check keeps a
rule name (``$.value|maximum``) so its failure message maps back to the schema (see
:mod:`transform_core.schema.reasons`). ``format`` becomes a column rule evaluated over the whole
batch in Polars.

A subschema that neither can express exactly (anyOf, uniqueItems, multipleOf, …) becomes a
``msgspec.Raw`` slot: a record that has a value there is handed to the per-record reference
implementation, so the keyword is still enforced, never skipped.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

from transform_core.errors import SpecError
from transform_core.schema.counting import key_counter
from transform_core.schema.formats import ecma_pattern
from transform_core.schema.keywords import ANNOTATIONS, check_schema, resolve_ref
from transform_core.schema.patterns import rust_pattern
from transform_core.schema.reasons import REFERRED

__all__ = ["CompiledSchema", "FieldInfo", "VectorPattern", "compile_schema"]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_RAW = msgspec.Raw
_ARRAY_INDEX = re.compile(r"\[\d+\]")
# Keywords the msgspec type cannot express exactly: their subschema becomes a Raw slot.
_PER_RECORD = frozenset(
    {
        "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "patternProperties", "propertyNames",
        "minProperties", "maxProperties", "dependencies", "additionalItems", "contains", "uniqueItems",
        "multipleOf",
    }
)  # fmt: skip
_STRING_CONSTRAINTS = ("minLength", "maxLength", "pattern", "format")


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """A declared property reachable from the root without crossing an array."""

    path: str  # JSON path, "$.tags.fw"
    attrs: tuple[str, ...]  # attribute chain on the decoded struct
    types: frozenset[str]  # JSON types the schema allows here
    format: str | None
    may_be_unset: bool = False  # optional and nullable: UNSET marks a missing value
    pattern: VectorPattern | None = None  # a ``pattern`` checked in Polars instead of in the decode


@dataclass(frozen=True, slots=True)
class VectorPattern:
    """A ``pattern`` rule run over a whole column (see :mod:`transform_core.schema.patterns`)."""

    source: str  # as the schema wrote it
    python: str  # the regex the reference runs (ECMA ``$``)
    rust: str  # the same check for ASCII values, in Rust's syntax


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    """The record type and rules compiled from one JSON Schema."""

    record_type: type[msgspec.Struct]
    decoder: msgspec.json.Decoder[Any]
    fields: Mapping[str, FieldInfo]  # by dotted name, "tags.fw"
    raw_slots: tuple[tuple[str, ...], ...]  # attr chains whose value goes to the reference
    root_is_raw: bool  # the whole record needs the reference (e.g. top-level anyOf)
    rule_texts: Mapping[tuple[str, str], tuple[str, str]]  # (normalized path, "int >=") -> (rule, message)
    integer_paths: frozenset[str]  # normalized paths typed integer (for messages)
    top_level: frozenset[str]  # property names the root object declares
    key_counter: Callable[[Any], int]  # properties set in a decoded record, at every depth
    rejected: Any  # stands in for a record that did not decode: every field reads as None

    format_fields: tuple[FieldInfo, ...]  # fields with a ``format`` rule, in schema order
    pattern_fields: tuple[FieldInfo, ...]  # fields with a ``pattern`` rule run in Polars, in schema order


def compile_schema(schema: Mapping[str, Any], *, file: str) -> CompiledSchema:
    """Check ``schema`` and compile it (raises SpecError naming ``file`` and a JSON pointer)."""
    check_schema(schema, file=file)
    builder = _Builder(schema, file)
    record_type = builder.build(schema, "", "$", (), frozenset(), in_array=False)
    root_is_raw = record_type is _RAW or not (isinstance(record_type, type) and issubclass(record_type, msgspec.Struct))
    if root_is_raw:
        record_type = msgspec.defstruct("AnyRecord", [], kw_only=True)
    top_level = frozenset() if root_is_raw else frozenset(record_type.__struct_encode_fields__)
    return CompiledSchema(
        record_type=record_type,
        decoder=msgspec.json.Decoder(record_type),
        fields=builder.fields,
        raw_slots=tuple(builder.raw_slots),
        root_is_raw=root_is_raw,
        rule_texts=builder.rule_texts,
        integer_paths=frozenset(builder.integer_paths),
        top_level=top_level,
        key_counter=key_counter(record_type),
        rejected=type("Rejected", (), dict.fromkeys(record_type.__struct_fields__))(),
        format_fields=tuple(f for f in builder.fields.values() if f.format is not None),
        pattern_fields=tuple(f for f in builder.fields.values() if f.pattern is not None),
    )


@dataclass
class _Builder:
    root: Mapping[str, Any]
    file: str
    fields: dict[str, FieldInfo] = field(default_factory=dict)
    raw_slots: list[tuple[str, ...]] = field(default_factory=list)
    rule_texts: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    patterns: dict[str, VectorPattern] = field(default_factory=dict)
    integer_paths: set[str] = field(default_factory=set)
    _structs: int = 0

    def build(self, node: Any, pointer: str, path: str, attrs: tuple[str, ...], refs: frozenset[str], *, in_array: bool) -> Any:
        """The msgspec annotation for ``node``; ``_RAW`` where the reference must decide."""
        if isinstance(node, bool) or not (set(node) - ANNOTATIONS):
            return self.raw(attrs, in_array)
        if "$ref" in node:
            ref = node["$ref"]
            if set(node) - ANNOTATIONS - {"$ref"} or ref in refs:  # siblings or recursion
                return self.raw(attrs, in_array)
            target = resolve_ref(self.root, ref, file=self.file, key=f"{pointer}/$ref")
            return self.build(target, ref[1:], path, attrs, refs | {ref}, in_array=in_array)
        if set(node) & _PER_RECORD or "type" not in node or isinstance(node.get("items"), list):
            return self.raw(attrs, in_array)
        types: list[str] = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if "enum" in node or "const" in node:
            members = self.enum(node, types)
        else:
            # a number may be an integer: with both in the list, the integer's own rules (int64) would apply to both
            decoded = [t for t in types if t != "integer" or "number" not in types]
            members = [self.member(node, t, pointer, path, attrs, refs, in_array=in_array) for t in decoded]
        if not members or _RAW in members:
            return self.raw(attrs, in_array)
        if not in_array and path != "$":
            self.fields[path[2:]] = FieldInfo(path, attrs, frozenset(types), node.get("format"), pattern=self.patterns.get(path))
        return Union[tuple(members)] if len(members) > 1 else members[0]  # noqa: UP007

    def raw(self, attrs: tuple[str, ...], in_array: bool) -> Any:
        if not in_array:
            self.raw_slots.append(attrs)
        return _RAW

    def enum(self, node: Mapping[str, Any], types: list[str]) -> list[Any]:
        """Literal members for string enums; ``[_RAW]`` where JSON equality needs the reference."""
        values = node["enum"] if "enum" in node else [node["const"]]
        if "enum" in node and "const" in node or any(k in node for k in _STRING_CONSTRAINTS):
            return [_RAW]
        if not all(v is None or isinstance(v, str) for v in values):
            return [_RAW]  # numbers compare by value (1 == 1.0): the reference's job
        strings = tuple(dict.fromkeys(v for v in values if isinstance(v, str)))
        members: list[Any] = []
        if strings and "string" in types:
            members.append(Literal[strings])
        if None in values and "null" in types:
            members.append(None)
        return members

    def member(
        self,
        node: Mapping[str, Any],
        json_type: str,
        pointer: str,
        path: str,
        attrs: tuple[str, ...],
        refs: frozenset[str],
        *,
        in_array: bool,
    ) -> Any:
        if json_type == "null":
            return None
        if json_type == "boolean":
            return bool
        if json_type == "string":
            meta = {"min_length": node.get("minLength"), "max_length": node.get("maxLength")}
            if "pattern" in node:
                python = ecma_pattern(node["pattern"])
                rust = None if in_array else rust_pattern(python)
                if rust is None:  # checked by msgspec while decoding, with Python's re
                    meta["pattern"] = python
                    self.rule_texts[(_normalize(path), "pattern")] = ("pattern", f"does not match {node['pattern']!r}")
                else:
                    self.patterns[path] = VectorPattern(node["pattern"], python, rust)
            if "format" in node and in_array:
                return _RAW
            return _annotated(str, meta)
        if json_type in ("integer", "number"):
            return self.number(node, json_type == "integer", path)
        if json_type == "array":
            if "items" not in node:
                return _RAW
            item = self.build(node["items"], f"{pointer}/items", f"{path}[*]", (), refs, in_array=True)
            if item is _RAW:
                return _RAW
            return _annotated(list[item], {"min_length": node.get("minItems"), "max_length": node.get("maxItems")})  # type: ignore[valid-type]
        return self.struct(node, pointer, path, attrs, refs, in_array=in_array)

    def number(self, node: Mapping[str, Any], integer: bool, path: str) -> Any:
        norm = _normalize(path)
        if integer:
            self.integer_paths.add(norm)
        said = {"minimum": "at least", "exclusiveMinimum": "greater than", "maximum": "at most", "exclusiveMaximum": "less than"}
        words = {k: f"must be {w} {node[k]}" for k, w in said.items() if k in node}
        words["int64"] = "must fit in a signed 64-bit integer"
        words[REFERRED] = "an integer beyond 64 bits, judged by the reference implementation"
        lower = [(v, "ge", k) for k in ("minimum",) if (v := node.get(k)) is not None]
        lower += [(v, "gt", k) for k in ("exclusiveMinimum",) if (v := node.get(k)) is not None]
        upper = [(v, "le", k) for k in ("maximum",) if (v := node.get(k)) is not None]
        upper += [(v, "lt", k) for k in ("exclusiveMaximum",) if (v := node.get(k)) is not None]
        # Integers: bounds become integral ge/le (exact for any size); int64 range is our rule.
        int_lo = [(math.ceil(v) if op == "ge" else math.floor(v) + 1, rule) for v, op, rule in lower]
        int_hi = [(math.floor(v) if op == "le" else math.ceil(v) - 1, rule) for v, op, rule in upper]
        float_lo, float_hi = list(lower), list(upper)
        if integer:
            int_lo.append((INT64_MIN, "int64"))
            int_hi.append((INT64_MAX, "int64"))
            float_lo.append((float(INT64_MIN), "ge", "int64"))
            float_hi.append((float(2**63), "lt", "int64"))
        else:
            # msgspec's integer bounds must fit in int64 and without one it takes any integer, even one beyond a
            # 64-bit float (which the JSON step rejects): a number's integer beyond int64 goes to the reference
            int_lo = [b for b in int_lo if b[0] >= INT64_MIN] + [(INT64_MIN, REFERRED)]
            int_hi = [b for b in int_hi if b[0] <= INT64_MAX] + [(INT64_MAX, REFERRED)]
        lowest, low_rule = max(int_lo, key=lambda b: b[0])
        highest, high_rule = min(int_hi, key=lambda b: b[0])
        if lowest > INT64_MAX or highest < INT64_MIN:  # no integer in int64 passes (minimum: 1e20): msgspec's
            return _RAW  # bounds must fit in int64, so the reference judges the values here
        int_meta: dict[str, Any] = {"ge": lowest, "le": highest}
        self.rule_texts[(norm, "int >=")] = (low_rule, words[low_rule])
        self.rule_texts[(norm, "int <=")] = (high_rule, words[high_rule])
        float_meta: dict[str, Any] = {"multiple_of": 1.0} if integer else {}
        if float_lo:  # stricter bound wins; at equal values the exclusive one is stricter
            value, op, rule = max(float_lo, key=lambda b: (float(b[0]), b[1] == "gt"))
            float_meta[op] = float(value)
            self.rule_texts[(norm, f"float {'>=' if op == 'ge' else '>'}")] = (rule, words[rule])
        if float_hi:
            value, op, rule = min(float_hi, key=lambda b: (float(b[0]), b[1] != "lt"))
            float_meta[op] = float(value)
            self.rule_texts[(norm, f"float {'<=' if op == 'le' else '<'}")] = (rule, words[rule])
        return Union[_annotated(int, int_meta), _annotated(float, float_meta)]  # noqa: UP007

    def struct(
        self, node: Mapping[str, Any], pointer: str, path: str, attrs: tuple[str, ...], refs: frozenset[str], *, in_array: bool
    ) -> Any:
        extra = node.get("additionalProperties", True)
        if not isinstance(extra, bool):
            return _RAW
        properties: Mapping[str, Any] = node.get("properties", {})
        required = list(dict.fromkeys(node.get("required", [])))
        names = list(properties) + [r for r in required if r not in properties]
        unnameable = [name for name in names if _UNNAMEABLE.search(name)]
        if unnameable:  # msgspec cannot name such a field: the reference judges the object
            if path == "$":  # ... but the record's own fields (event time, keys) must be the engine's
                where = f"{pointer}/properties/{unnameable[0]}" if unnameable[0] in properties else f"{pointer}/required"
                raise SpecError(
                    f"top-level property name {unnameable[0]!r} holds a quote, a backslash or a control character: "
                    "not supported at the top level (a nested object may have such names)",
                    file=self.file,
                    key=where,
                )
            return _RAW
        specs: list[Any] = []
        rename: dict[str, str] = {}
        for i, name in enumerate(names):
            attr = f"f{i}"
            rename[attr] = name
            child_path = f"{path}.{name}"
            if name in properties:
                annotation = self.build(
                    properties[name], f"{pointer}/properties/{name}", child_path, (*attrs, attr), refs, in_array=in_array
                )
            else:  # required but undeclared: any value, judged by the reference
                annotation = self.raw((*attrs, attr), in_array)
            if annotation is _RAW and in_array:  # a value in an array has no slot of its own for the reference to
                return _RAW  # judge: the record is judged by it whenever the enclosing array is present
            if name in required:
                specs.append((attr, annotation))
            elif _admits_null(annotation):  # UNSET tells a missing value from an explicit null
                specs.append((attr, Union[annotation, msgspec.UnsetType], msgspec.UNSET))  # noqa: UP007
                if (info := self.fields.get(child_path[2:])) is not None:
                    self.fields[child_path[2:]] = dataclasses.replace(info, may_be_unset=True)
            else:  # None can only mean missing: an explicit null fails the type
                specs.append((attr, annotation, None))
        self._structs += 1
        return msgspec.defstruct(
            f"Record{self._structs}", specs, kw_only=True, rename=rename, forbid_unknown_fields=not extra, gc=False
        )


_UNNAMEABLE = re.compile(r'["\\\x00-\x1f]')  # what msgspec refuses in a field's name


def _admits_null(annotation: Any) -> bool:
    return annotation is None or (get_origin(annotation) is Union and type(None) in get_args(annotation))


def _annotated(base: Any, meta: dict[str, Any]) -> Any:
    meta = {k: v for k, v in meta.items() if v is not None}
    return Annotated[base, msgspec.Meta(**meta)] if meta else base


def _normalize(path: str) -> str:
    """``$.a[3].b`` → ``$.a[*].b``: one rule table entry serves every array element."""
    return _ARRAY_INDEX.sub("[*]", path)
