"""The plain-extras check gives the same verdict whether or not it remembers the extra names it met.

A record is drawn as top-level members: declared names (possibly twice), extra names from a small pool (possibly
twice, possibly one the enrichment writes) and values that are scalars, arrays, objects (whose keys count too),
or numbers orjson refuses. The verdict of a fresh check (every record decoded whole) and of one that has
remembered every name of the pool (most records decided by the struct of remembered names) must agree with each
other and with the rule written out here.
"""

from __future__ import annotations

import json

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transform_core.schema.extras import PlainExtras
from transform_core.tuning import Tuning

DECLARED = frozenset({"a", "b"})
# "a" is declared: as an "extra" it is a duplicate; the last four cannot name a struct field (never remembered)
POOL = ["source", "site", "x", "a", "", 'q"', "b\\", "\x01"]
ENRICHED = frozenset({"site"})
VALUES = ['"s"', "1", "2.5", "true", "null", "[1,2]", '{"k":1}', "[{}]", "1e400", str(2**70), '"a\\":b"']


@st.composite
def records(draw: st.DrawFn) -> tuple[bytes, int]:
    """A record's minified text and its surplus: ``":`` in the text beyond the declared names it holds."""
    members = draw(st.lists(st.tuples(st.sampled_from([*sorted(DECLARED), *POOL]), st.sampled_from(VALUES)), max_size=6))
    text = ("{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in members) + "}").encode()
    declared = {k for k, _ in members if k in DECLARED}
    return text, text.count(b'":') - len(declared)


def _expected(text: bytes, surplus: int) -> bool:
    pairs = _top_level_pairs(text)
    extras = {k for k, _ in pairs if k not in DECLARED}
    values = [v for k, v in pairs if k not in DECLARED]
    if len(extras) != surplus or not extras.isdisjoint(ENRICHED) or any("{" in v for v in values):
        return False
    try:
        orjson.loads("[" + ",".join(values) + "]")
    except orjson.JSONDecodeError:
        return False
    return True


def _top_level_pairs(text: bytes) -> list[tuple[str, str]]:
    # the drawn texts put no comma inside a string, so commas at depth 0 split the members
    body, pairs, depth, start = text.decode()[1:-1], [], 0, 0
    for i, c in enumerate(body + ","):
        depth += c in "[{"
        depth -= c in "]}"
        if c == "," and depth == 0 and i > start:
            key, value = body[start:i].split(":", 1)
            pairs.append((json.loads(key), value))
            start = i + 1
    return pairs


def _primed() -> PlainExtras:
    check = PlainExtras(DECLARED, remember=Tuning().remembered_extra_names)
    assert check.check([b'{"source":1,"x":2}'], [2], frozenset()) == [True]  # remembers source and x
    assert check.check([b'{"site":1}'], [1], frozenset()) == [True]  # site: not enriched here
    assert check.check([b'{"":1,"q\\"":2,"b\\\\":3,"\\u0001":4}'], [4], frozenset()) == [True]  # plain, not remembered
    assert check.remembered == ("source", "x", "site")
    return check


@settings(max_examples=500)
@given(st.lists(records(), min_size=1, max_size=12))
def test_remembered_names_change_no_verdict(batch: list[tuple[bytes, int]]) -> None:
    batch = [(text, surplus) for text, surplus in batch if surplus > 0]  # the engine checks only these
    texts, surplus = [t for t, _ in batch], [s for _, s in batch]
    expected = [_expected(t, s) for t, s in batch]
    assert PlainExtras(DECLARED, remember=Tuning().remembered_extra_names).check(texts, surplus, ENRICHED) == expected
    assert _primed().check(texts, surplus, ENRICHED) == expected


def test_names_found_plain_are_remembered_and_decide_the_next_records() -> None:
    check = PlainExtras(DECLARED, remember=Tuning().remembered_extra_names)
    assert check._learned is None
    assert check.check([b'{"a":1,"source":"x"}', b'{"a":1,"other":{}}'], [1, 2], ENRICHED) == [True, False]
    assert check.remembered == ("source",)  # "other" held an object: not plain, not remembered
    assert check._learned is not None
    assert check.check([b'{"source":"y","b":2}', b'{"source":"y","source":"z"}', b'{"source":{"k":1}}'], [1, 2, 2], ENRICHED) == [
        True,
        False,  # a duplicate: two surplus keys, one remembered name
        False,  # an object: its key adds to the surplus
    ]


def test_a_name_msgspec_refuses_costs_only_the_speed_up(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise ValueError("refused")

    monkeypatch.setattr(msgspec, "defstruct", refuse)
    check = PlainExtras(DECLARED, remember=Tuning().remembered_extra_names)
    assert check.check([b'{"a":1,"source":"x"}'], [1], ENRICHED) == [True]
    assert check.remembered == ()
