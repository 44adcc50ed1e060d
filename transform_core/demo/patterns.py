"""Strings that a JSON Schema ``pattern`` finds, drawn from the regular expression's parse tree.

The tree is Python's own regex parser's (``re._parser``: private, but the module ``re`` itself compiles with it, and
its node names are those of ``sre_parse`` since Python 3.5). This module is the one place that reads it. A drawn
string is kept only when the pattern, read as the engine reads it (:func:`~transform_core.schema.formats.ecma_pattern`),
finds it; lookarounds and anchors are skipped while drawing and left to that check.
"""

from __future__ import annotations

import functools
import importlib
import random
import re
import string
from typing import Any

from transform_core.schema.formats import ecma_pattern

__all__ = ["pattern_string"]

_parser: Any = importlib.import_module("re._parser")
_ALPHABET = string.ascii_letters + string.digits + "-_.:/@ "
_MORE = 3  # an open-ended repeat (``+``, ``*``, ``{2,}``) draws at most this many beyond its minimum


class _Unsupported(Exception):
    """A node the drawer does not know."""


def pattern_string(pattern: str, rng: random.Random, *, tries: int = 20) -> str | None:
    """A string in which ``re.search`` finds ``pattern`` (ECMA-262's ``$``), or None when ``tries`` draws found none."""
    parsed = _parse(pattern)
    if parsed is None:
        return None
    compiled, tree = parsed
    for _ in range(tries):
        try:
            text = _Drawer(rng).sequence(tree)
        except _Unsupported:
            return None
        if compiled.search(text):
            return text
    return None


@functools.lru_cache(maxsize=256)
def _parse(pattern: str) -> tuple[re.Pattern[str], Any] | None:
    """The pattern as the engine reads it, compiled and parsed; None when it is not a Python regex."""
    python = ecma_pattern(pattern)
    try:
        return re.compile(python), _parser.parse(python)
    except (re.error, RecursionError):
        return None


class _Drawer:
    """One draw: the text of each node in order, remembering groups for back references."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.groups: dict[int, str] = {}

    def sequence(self, nodes: Any) -> str:
        return "".join(self.node(str(op), av) for op, av in nodes)

    def node(self, op: str, av: Any) -> str:
        if op == "LITERAL":
            return chr(av)
        if op == "NOT_LITERAL":
            return self.rng.choice([c for c in _ALPHABET if ord(c) != av])
        if op == "ANY":
            return self.rng.choice(string.ascii_letters)
        if op == "IN":
            return self.in_class(av)
        if op in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = av
            count = self.rng.randint(low, min(high, low + _MORE))
            return "".join(self.sequence(sub) for _ in range(count))
        if op == "SUBPATTERN":
            group, _, _, sub = av
            text = self.sequence(sub)
            if group is not None:
                self.groups[group] = text
            return text
        if op == "ATOMIC_GROUP":
            return self.sequence(av)
        if op == "BRANCH":
            return self.sequence(self.rng.choice(av[1]))
        if op == "GROUPREF":
            return self.groups.get(av, "")
        if op == "GROUPREF_EXISTS":
            group, yes, no = av
            return self.sequence(yes) if group in self.groups else self.sequence(no or [])
        if op in ("AT", "ASSERT", "ASSERT_NOT"):
            return ""
        raise _Unsupported(op)

    def in_class(self, items: Any) -> str:
        members = [(str(op), av) for op, av in items]
        if members and members[0][0] == "NEGATE":
            allowed = [c for c in _ALPHABET if not any(_member(c, op, av) for op, av in members[1:])]
            if not allowed:
                raise _Unsupported("NEGATE")
            return self.rng.choice(allowed)
        op, av = self.rng.choice(members)
        if op == "LITERAL":
            return chr(av)
        if op == "RANGE":
            low, high = av
            return chr(self.rng.randint(low, high))
        if op == "CATEGORY":
            allowed = [c for c in _ALPHABET if _member(c, op, av)]
            if allowed:
                return self.rng.choice(allowed)
        raise _Unsupported(op)


def _member(char: str, op: str, av: Any) -> bool:
    """Whether ``char`` is in one item of a character class."""
    if op == "LITERAL":
        return bool(ord(char) == av)
    if op == "RANGE":
        return bool(av[0] <= ord(char) <= av[1])
    if op == "CATEGORY":
        name = str(av).removeprefix("CATEGORY_")
        negated = name.startswith("NOT_")
        name = name.removeprefix("NOT_")
        if name == "DIGIT":
            inside = char.isdigit()
        elif name == "WORD":
            inside = char.isalnum() or char == "_"
        elif name == "SPACE":
            inside = char.isspace()
        else:  # a category of another kind (LINEBREAK, LOC_*, UNI_*): not drawn
            return False
        return inside != negated
    return False
