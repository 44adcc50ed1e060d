"""JSON Schema → strict record type, vectorized rules and rejection reasons."""

from transform_core.schema.compile import CompiledSchema, FieldInfo, compile_schema
from transform_core.schema.reasons import (
    REFERRED,
    child_path,
    format_reason,
    reason_from_msgspec,
    rule_id,
    show_value,
    split_reason,
)

__all__ = [
    "REFERRED",
    "CompiledSchema",
    "FieldInfo",
    "child_path",
    "compile_schema",
    "format_reason",
    "reason_from_msgspec",
    "rule_id",
    "show_value",
    "split_reason",
]
