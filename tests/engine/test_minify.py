"""Minifying (msgspec's formatter, used by the engine and the reference) only drops whitespace between tokens."""

from __future__ import annotations

import json
import re

import msgspec
from hypothesis import given
from hypothesis import strategies as st

WHITESPACE_OUTSIDE_STRINGS = re.compile(r'("(?:[^"\\]|\\.)*")|[ \t\n\r]+')
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@given(value=JSON, indent=st.sampled_from([None, 1, 2]), ensure_ascii=st.booleans())
def test_formatter_equals_a_whitespace_strip_outside_strings(value: object, indent: int | None, ensure_ascii: bool) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)
    expected = WHITESPACE_OUTSIDE_STRINGS.sub(lambda m: m.group(1) or "", text)
    assert msgspec.json.format(text, indent=-1) == expected
