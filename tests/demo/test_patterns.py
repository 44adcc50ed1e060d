"""Strings drawn for a JSON Schema pattern are found by it, as the engine reads it; patterns beyond the drawer give None."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transform_core.demo.patterns import pattern_string
from transform_core.schema.formats import ecma_pattern

PATTERNS = [
    "^dev-[0-9]{4}$", "a", "^.$", "[0-9]", "^[a-z]+$", "é", r"^\w+$", r"^[A-Z]{2}-\d{3}$", r"^(ab|c)\1[^x]$",
    r"^(?!foo)[a-z]{3}$", r"^[$]$", r"^\S+@\S+\.com$", r"^(?:gw|dev)-[a-f0-9]{2,}?$", r"^[^\s]{3,5}$", r"^x*y+z?$",
    r"^(?P<a>q)(?(a)r|s)$", r"^\D\W\s$", r"^[\d.]+$", "^$",
]  # fmt: skip


@pytest.mark.parametrize("pattern", PATTERNS)
@given(seed=st.integers(0, 2**32))
def test_a_drawn_string_matches_as_the_engine_reads_the_pattern(pattern: str, seed: int) -> None:
    text = pattern_string(pattern, random.Random(seed))
    assert text is not None
    assert re.search(ecma_pattern(pattern), text)


@pytest.mark.parametrize("pattern", [r"^\p{L}$", "(", "^a$b$"])
def test_a_pattern_it_cannot_draw_for_gives_none(pattern: str) -> None:
    assert pattern_string(pattern, random.Random(0)) is None
