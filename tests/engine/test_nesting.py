"""A record whose arrays and objects nest deeper than ``MAX_DEPTH`` fails alone, in the engine as in the reference.

Past about 990 levels msgspec and the reference's parse ran out of stack, and the ``RecursionError`` failed the whole
batch; between the limit and there, both decoded the record.
"""

from __future__ import annotations

import polars as pl
import pytest

from tests.helpers.agreement import assert_agree
from transform_core import RecordBatch
from transform_core.demo.generate import Payload, firehose_event, iot_payloads
from transform_core.schema.nesting import DEPTH_REASON, MAX_DEPTH, may_nest_too_deep, nesting_depth
from transform_core.tuning import Tuning

DEEP_ROW = 150


def _nested(kind: str, levels: int) -> str:
    return "[" * levels + "]" * levels if kind == "arrays" else '{"a":' * levels + "1" + "}" * levels


def _batch(payloads: list[bytes]) -> RecordBatch:
    return RecordBatch.from_firehose_event(firehose_event([Payload(p) for p in payloads]))


@pytest.mark.parametrize(
    ("depth", "fails"), [(MAX_DEPTH, False), (MAX_DEPTH + 1, True), (1000, True), (1030, True), (50_000, True)]
)
@pytest.mark.parametrize("kind", ["arrays", "objects"])
@pytest.mark.parametrize(
    "path",
    [
        "small batch",  # below Tuning.overlap_from: the text flags are computed inline
        "clean batch",  # msgspec's decode in one map, the text flags by Polars' threads meanwhile
        "dense failures",  # half the records invalid: the decode goes record by record
        "one payload not UTF-8",  # likewise, from the start
    ],
)
def test_a_record_nested_too_deep_fails_alone(depth: int, fails: bool, kind: str, path: str) -> None:
    records = Tuning().overlap_from - 1 if path == "small batch" else 2 * DEEP_ROW
    payloads = [p.data for p in iot_payloads(records, 0.5 if path == "dense failures" else 0.0, seed=3)]
    if path == "one payload not UTF-8":
        payloads[1] = payloads[1].replace(b"e", b"\xff", 1)
    before = assert_agree("iot-example", _batch(payloads))
    row = before.with_row_index().filter(pl.col("result") == "Ok", pl.col("index") >= min(DEEP_ROW, records // 2))["index"][0]
    deep = payloads[row][:-1] + b',"extra":' + _nested(kind, depth - 1).encode() + b"}"  # one level below the record
    assert nesting_depth(deep) == depth and may_nest_too_deep(deep)

    outcomes = assert_agree("iot-example", _batch([*payloads[:row], deep, *payloads[row + 1 :]]))
    neighbours = [i for i in range(records) if i != row]
    assert outcomes[neighbours].equals(before[neighbours])  # as they were without the deep record
    expected = ("ProcessingFailed", DEPTH_REASON) if fails else ("Ok", None)
    assert outcomes.row(row, named=True)["result"] == expected[0]
    assert outcomes.row(row, named=True)["reason"] == expected[1]


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a":[1,{"b":{}}],"c":[]}', 4),
        (b'{"a":"[[[{{{"}', 1),  # brackets in a string do not nest
        (b'{"a":"\\"[[[","b":[]}', 2),  # nor after an escaped quote
        (b'{"a\\\\":[[1]]}', 3),  # an escaped backslash ends before the quote
    ],
)
def test_nesting_depth(text: bytes, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_a_text_too_short_or_with_too_few_brackets_is_not_looked_at() -> None:
    deep = _nested("arrays", MAX_DEPTH + 1).encode()
    assert may_nest_too_deep(deep)
    assert not may_nest_too_deep(deep[1:-1])  # one pair fewer: two bytes too short
    assert not may_nest_too_deep(b'"' + b"x" * 10 * MAX_DEPTH + b'"')
