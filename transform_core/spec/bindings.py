"""Bind the spec's field references (event time, drop, enrichment keys) to the schema.

A spec that names a field the schema does not declare, or a join key that is neither a string
nor an integer, is wrong for every record: it fails at load with the spec file and key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from transform_core.errors import SpecError
from transform_core.schema import CompiledSchema, FieldInfo
from transform_core.spec import PipelineSpec

__all__ = ["Bindings", "bind_fields"]

KeyType = Literal["string", "integer"]


@dataclass(frozen=True, slots=True)
class Bindings:
    """The schema fields the spec refers to."""

    event_time: FieldInfo
    drop: FieldInfo | None
    enrich_keys: tuple[FieldInfo, ...]  # one per enrich table, in spec order
    key_types: tuple[KeyType, ...]


def bind_fields(spec: PipelineSpec, schema: CompiledSchema) -> Bindings:
    """Resolve every field the spec names, or raise SpecError."""

    def lookup(dotted: str, key: str) -> FieldInfo:
        info = schema.fields.get(dotted)
        if info is None:
            declared = ", ".join(sorted(schema.fields)) or "none"
            raise SpecError(
                f"field {dotted!r} is not a property declared in the schema (outside arrays); declared: {declared}",
                file=spec.spec_file,
                key=key,
            )
        return info

    keys: list[FieldInfo] = []
    key_types: list[KeyType] = []
    for i, table in enumerate(spec.enrich):
        info = lookup(table.record_key, f"enrich[{i}].key")
        scalar = info.types - {"null"}
        if scalar not in ({"string"}, {"integer"}):
            raise SpecError(
                f"join key {table.record_key!r} must be typed string or integer in the schema, got {sorted(info.types)}",
                file=spec.spec_file,
                key=f"enrich[{i}].key",
            )
        keys.append(info)
        key_types.append("string" if scalar == {"string"} else "integer")
    event_time = lookup(spec.event_time.field, "event_time.field")
    wanted = {"string"} if spec.event_time.format == "iso8601" else {"integer", "number"}
    if not event_time.types & wanted:
        raise SpecError(
            f"event time format {spec.event_time.format} needs a field typed {' or '.join(sorted(wanted))}, "
            f"but {spec.event_time.field!r} is {sorted(event_time.types)}",
            file=spec.spec_file,
            key="event_time.format",
        )
    return Bindings(
        event_time=event_time,
        drop=lookup(spec.drop.field, "drop.field") if spec.drop else None,
        enrich_keys=tuple(keys),
        key_types=tuple(key_types),
    )
