"""Count the properties a decoded record holds, to compare with the keys its text holds.

msgspec keeps the last of two duplicate keys and skips properties the record type does not
declare, silently. Both show as a record whose minified, escape-free text has more keys (every
``":`` ends one) than the decoded record has set fields. Counting set fields with generated
code costs a fraction of re-encoding each record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import msgspec
import msgspec.inspect as mi

__all__ = ["key_counter"]

_UNSET = msgspec.UNSET
Counter = Callable[[Any], int]


def key_counter(record_type: type[msgspec.Struct]) -> Counter:
    """A function giving the number of properties set in a decoded record, at every depth.

    Values in ``msgspec.Raw`` slots count as their own text does, so they never cause a mismatch
    by themselves (a record with such a value goes to the reference implementation anyway).
    """
    counter = _counter(mi.type_info(record_type))
    assert counter is not None
    return counter


def _counter(info: mi.Type) -> Counter | None:
    """A counter for values of this type, or None when its values hold no properties."""
    if isinstance(info, mi.UnionType):
        counters = [c for c in (_counter(t) for t in info.types) if c is not None]
        if not counters:
            return None
        if len(counters) == 1:
            only = counters[0]
            return lambda v: 0 if v is None else only(v)
        return _dispatch(info)
    if isinstance(info, mi.ListType):
        item = _counter(info.item_type)
        if item is None:
            return None
        return lambda v: sum(map(item, v))
    if isinstance(info, mi.RawType):
        return lambda v: bytes(v).count(b'":')
    if isinstance(info, mi.StructType):
        return _struct_counter(info)
    return None


def _struct_counter(info: mi.StructType) -> Counter:
    """A counter compiled to straight-line Python: one identity test per optional field.

    It runs once per record, so it is generated rather than a generic walk over ``astuple``. Nested records are
    counted inline (a call per record costs as much as several tests).
    """
    namespace: dict[str, Any] = {"U": _UNSET}
    lines = ["def count(r, U=U):"]
    _count_fields(info, "r", 1, lines, namespace)
    lines.append("    return n")
    exec("\n".join(lines), namespace)  # the names are the f0, f1, … attributes we generated, never user text
    counter: Counter = namespace["count"]
    return counter


def _count_fields(info: mi.StructType, var: str, depth: int, lines: list[str], namespace: dict[str, Any]) -> None:
    """Append the lines adding to ``n`` the properties set in the record ``var``, at indentation ``depth``;
    counters of other property-holding values go into ``namespace``."""
    pad = "    " * depth
    required = sum(1 for f in info.fields if f.required)
    # an optional field defaults to None, or to UNSET where null is a valid value
    # (msgspec.inspect shows an UNSET default as NODEFAULT on a field that is not required)
    terms = [f"({var}.{f.name} is not {'None' if f.default is None else 'U'})" for f in info.fields if not f.required]
    lines.append(f"{pad}n {'=' if depth == 1 else '+='} {' + '.join([str(required), *terms])}")
    for f in info.fields:
        nested = isinstance(f.type, mi.StructType)  # counted inline
        counter = None if nested else _counter(f.type)  # counted by a call
        if not nested and counter is None:
            continue  # the value holds no properties
        value = f"x{len(lines)}"  # one name per line of code: never reused
        lines.append(f"{pad}{value} = {var}.{f.name}")
        lines.append(f"{pad}if {value} is not U and {value} is not None:")
        if counter is None:
            _count_fields(cast(mi.StructType, f.type), value, depth + 1, lines, namespace)
        else:
            namespace[f"count_{value}"] = counter
            lines.append(f"{pad}    n += count_{value}({value})")


def _dispatch(info: mi.UnionType) -> Counter:
    """A union of several property-holding types (say an object or an array): pick by value."""
    by_kind = {kind: c for t in info.types if (c := _counter(t)) is not None for kind in _kinds(t)}

    def count(value: Any) -> int:
        if value is None:
            return 0
        kind = "raw" if isinstance(value, msgspec.Raw) else "list" if isinstance(value, list) else "struct"
        inner = by_kind.get(kind)
        return inner(value) if inner else 0

    return count


def _kinds(info: mi.Type) -> tuple[str, ...]:
    if isinstance(info, mi.ListType):
        return ("list",)
    if isinstance(info, mi.RawType):
        return ("raw",)
    return ("struct",)
