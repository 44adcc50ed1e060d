"""Reading Glue type strings (``struct<a:string,b:array<bigint>>``) back, for tests that check generated tables."""

from __future__ import annotations


def glue_parts(glue: str, opener: str) -> list[str] | None:
    """The top-level comma-separated parts of ``struct<…>`` / ``array<…>``, or None if ``glue`` is not one."""
    if not (glue.startswith(opener) and glue.endswith(">")):
        return None
    parts, depth, current = [], 0, ""
    for char in glue[len(opener) : -1]:
        depth += {"<": 1, ">": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]
