"""Batches where many records carry whitespace: the engine finds the records to minify with Polars then.

With few such records the screen asks Python's ``re``; past a threshold Polars' threads search them, alongside the
decode, and the screen counts the keys again, minified, where whitespace follows a quote. The differential
batches are too small to cross that threshold, so these tests build large ones: each drawn record
re-spaced in several styles, duplicates and additional properties included, judged against the reference.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings

from tests.helpers.agreement import assert_agree
from tests.helpers.strategies import batches
from transform_core import RecordBatch
from transform_core.demo.generate import iot_payloads
from transform_core.tuning import Tuning

_STRUCTURAL = frozenset("{}[],:")


def respace(text: str, before: Callable[[str], str], after: Callable[[str], str]) -> str:
    """``text`` with whitespace added around each structural character outside strings (any text, JSON or not)."""
    out: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            in_string = escaped or char != '"'
            escaped = not escaped and char == "\\"
            out.append(char)
        elif char == '"':
            in_string = True
            out.append(char)
        elif char in _STRUCTURAL:
            out.append(before(char) + char + after(char))
        else:
            out.append(char)
    return "".join(out)


STYLES: dict[str, Callable[[str], str]] = {
    "json.dumps": lambda t: respace(t, lambda c: "", lambda c: " " if c in ",:" else ""),
    "key gap": lambda t: respace(t, lambda c: " " if c == ":" else "", lambda c: ""),  # "a" :1 hides a key from `":`
    "indented": lambda t: respace(t, lambda c: "\n" if c in "}]" else "", lambda c: "\n  " if c in "{[," else " "),
    "padded": lambda t: f" \t{t}\r\n",
}


def spaced_batch(batch: RecordBatch, copies: int) -> RecordBatch:
    """Every decodable record of ``batch`` in every style, ``copies`` times; other records as they are."""
    data: list[str] = []
    for item in batch.data:
        try:
            text = base64.b64decode(item, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            data.append(item)
            continue
        for _ in range(copies):
            data += [base64.b64encode(style(text).encode()).decode() for style in STYLES.values()]
    return RecordBatch(record_ids=[f"r{i}" for i in range(len(data))], data=data, arrival_ms=[1_700_000_000_000] * len(data))


@pytest.mark.parametrize("name", ["iot-example", "exotic"])
@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=batches(max_size=12))
def test_many_spaced_records_agree_with_reference(name: str, batch: RecordBatch) -> None:
    big = spaced_batch(batch, copies=Tuning().spaced_search_in_polars_above // 4 + 1)  # every record alone crosses the threshold
    assert_agree(name, big)


def test_generated_records_in_every_style_agree() -> None:
    generated = iot_payloads(400, 0.1, seed=11)
    payloads = [p.data for p in generated]
    minified = next(p.data for p in generated if p.kind == "valid" and b" " not in p.data)
    # one key more than the record holds, and one key the text's `":` count misses: only a recount finds the duplicate
    dup = b'{"device_id" :"dev-0001",' + minified[1:]
    source = RecordBatch(record_ids=[], data=[base64.b64encode(p).decode() for p in [*payloads, dup]], arrival_ms=[])
    batch = spaced_batch(source, copies=1)
    assert len(batch) > Tuning().spaced_search_in_polars_above
    outcomes = assert_agree("iot-example", batch)
    assert outcomes["result"].to_list()[-len(STYLES) :] == ["ProcessingFailed"] * len(STYLES)
    assert all("duplicate_key" in reason for reason in outcomes["reason"].to_list()[-len(STYLES) :])


@pytest.mark.parametrize("gap", [" ", "\t", "\r\n "])
def test_a_duplicate_hidden_by_a_key_gap_is_found_among_few_spaced_records(gap: str) -> None:
    # below the threshold the rows to count again are found with Python's re, not Polars; the key count of the
    # text misses the gapped key, and so matches the decoded record's: only counting again finds the duplicate
    minified = next(p.data for p in iot_payloads(20, 0.0, seed=3) if b" " not in p.data)
    dup = f'{{"device_id"{gap}:"dev-0001",'.encode() + minified[1:]
    data = [base64.b64encode(minified).decode(), base64.b64encode(dup).decode()]
    outcomes = assert_agree("iot-example", RecordBatch(record_ids=["a", "b"], data=data, arrival_ms=[1, 2]))
    assert outcomes["result"][1] == "ProcessingFailed"
    assert "duplicate_key" in outcomes["reason"][1]
