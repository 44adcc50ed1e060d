"""The nesting limit: a record whose arrays and objects nest more than ``MAX_DEPTH`` deep fails, alone.

Parsers walk nested values by recursion, and Python's recursion limit (1,000 frames) is shared with the caller's
stack: msgspec raises ``RecursionError`` about 990 levels down, and so does the reference's duplicate-key parse
(orjson stops at 1,024 with an error of its own). Unchecked, one such record failed its whole batch. The limit sits
well below the recursion limit, so that no parser or validator (one frame a level, for a schema's recursive
``$ref``) comes near it, and far above what records nest in practice (serde_json's default limit is 128).
"""

from __future__ import annotations

import re
from itertools import accumulate

from transform_core.schema import format_reason

__all__ = ["DEPTH_MESSAGE", "DEPTH_REASON", "MAX_DEPTH", "MIN_DEEP_LENGTH", "may_nest_too_deep", "nesting_depth"]

#: Arrays and objects nested deeper than this fail the record (the record itself is depth 1).
MAX_DEPTH = 512

#: Shortest text that can nest deeper than the limit: its opening and closing brackets.
MIN_DEEP_LENGTH = 2 * (MAX_DEPTH + 1)

DEPTH_MESSAGE = f"nested more than {MAX_DEPTH} levels deep"
DEPTH_REASON = format_reason("$", DEPTH_MESSAGE, "depth")

_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')  # possessive: a long string is one match, no backtracking
_NOT_BRACKET = re.compile(rb"[^\[\]{}]++")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def may_nest_too_deep(payload: bytes) -> bool:
    """False when the text cannot nest deeper than the limit: too short, or too few opening brackets (C-level
    passes; :func:`nesting_depth` answers for the rest)."""
    return len(payload) >= MIN_DEEP_LENGTH and payload.count(b"[") + payload.count(b"{") > MAX_DEPTH


def nesting_depth(payload: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do not count).

    Exact for valid JSON; for text that is not, an estimate (such a record fails either way).
    """
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", payload))
    return max(accumulate(_STEP[c] for c in brackets), default=0)
