"""Patterns run in Rust regex agree with Python's ``re`` (the reference) on ASCII text."""

from __future__ import annotations

import re

import polars as pl
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from transform_core.schema.formats import ecma_pattern
from transform_core.schema.patterns import rust_pattern

TOKENS = [
    "a", "b", "1", "-", ".", "_", " ", "@", "<", "#", "\\d", "\\w", "\\s", "\\D", "\\W", "\\S", "\\.", "\\-", "\\$",
    "[a-c]", "[^a]", "[\\d_]", "[\\s]", "[]a]", "[a-]", "^", "$", "(", ")", "(?:", "|", "*", "+", "?", "*?", "{2}",
    "{1,3}", "{2,}", "{2,}?",
]  # fmt: skip
ALPHABET = "ab1_-. @#\n\t\x0b\x0c\r\x1c\x1fzZ9"


@given(
    pattern=st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8).map("".join),
    texts=st.lists(st.text(ALPHABET, max_size=8), min_size=1, max_size=20),
)
def test_rust_translation_matches_python(pattern: str, texts: list[str]) -> None:
    python = ecma_pattern(pattern)
    try:
        compiled = re.compile(python)
    except re.error:
        assume(False)
        return
    rust = rust_pattern(python)
    assume(rust is not None)
    expected = [compiled.search(t) is not None for t in texts]
    assert pl.Series(texts, dtype=pl.String).str.contains(rust).to_list() == expected, (pattern, rust)


@pytest.mark.parametrize(
    "pattern", ["(?=a)", "\\bword", "a{,3}", "x*+", "(?P<n>a)", "\\1", "[[a]]", "[a&&b]", "(?i)a", "\\x41", "a}"]
)
def test_patterns_outside_the_subset_stay_in_python(pattern: str) -> None:
    assert rust_pattern(ecma_pattern(pattern)) is None


def test_the_example_pattern_is_vectorized() -> None:
    assert rust_pattern(ecma_pattern("^dev-[0-9]{4}$")) == "^dev\\-[0-9]{4}\\z"
