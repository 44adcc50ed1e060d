"""Records of the example schema in adversarial spellings, and the oracle for what the lake must store of them.

Each record is built as text, member by member, so the oracle knows every undeclared member's raw key and value.
The oracle parses the sent text with Python's ``json`` keeping numbers exact (``parse_float=Decimal``): an integer
column holds the integer the text denotes, or the record is refused; a number column holds the nearest double.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from tests.helpers.lake import utc
from tests.helpers.specs import DEVICES

INT64_MAX = 2**63 - 1
REFUSED = object()  # the oracle's value for an integer the lake cannot store exactly
INTEGERS = ("seq", "battery", "rssi")
NUMBERS = ("value", "lat", "lon")
STRINGS = ("event_id", "device_id", "gateway_id", "event_type", "unit")
with open(DEVICES, encoding="utf-8") as devices:
    SITES = {row["device_id"]: (row["site"], row["model"]) for row in csv.DictReader(devices)}


@dataclass(frozen=True)
class Sent:
    """One record as sent: its text and its undeclared members' raw text (key, value)."""

    text: str
    extras: tuple[tuple[str, str], ...]


def integer_spellings(n: int) -> st.SearchStrategy[str]:
    """Ways to write ``n``: exact ones, and near ones a 64-bit float rounds to it."""
    digits = str(abs(n))
    sign = "-" if n < 0 else ""
    exact = [
        str(n),
        f"{n}.0",
        f"{n}.000",
        f"{n}e0",
        f"{n}E+0",
        f"{n}0e-1",
        f"{sign}{digits[0]}.{digits[1:] or '0'}e{len(digits) - 1}",
    ]
    if n == 0:
        exact += ["-0", "-0.0", "-0e0", "0e5"]
    near = [f"{n}.{'0' * 20}1", f"{sign}{abs(n) - 1}.{'9' * 20}" if n > 0 else f"-{abs(n)}.{'0' * 20}1"]
    return st.sampled_from(exact + near)


def number_spellings(low: int, high: int) -> st.SearchStrategy[str]:
    """Ways to write a number within [low, high]: decimals of any length, exponents, integers, negative zero."""
    decimal = st.builds(
        lambda whole, fraction: f"{whole}.{fraction}",
        st.integers(low, high - 1),
        st.text("0123456789", min_size=1, max_size=30),
    )
    exponent = st.builds(lambda mantissa, shift: f"{mantissa}e-{shift}", st.integers(low, high), st.integers(0, 30))
    integral = st.integers(low, high).map(str)
    return st.one_of(decimal, exponent, integral, st.sampled_from(["-0.0", "-0", "0.0", "1E2", "1e-400", f"{high}.0"]))


def _string(value: str, escaped: bool) -> str:
    """JSON text of a string: as UTF-8, or with every non-ASCII character and the first letter escaped."""
    if not escaped:
        return json.dumps(value, ensure_ascii=False).replace("/", "\\/")
    text = json.dumps(value)
    return text[:1] + f"\\u{ord(text[1]):04x}" + text[2:] if len(text) > 2 and text[1] not in '\\"' else text


@st.composite
def sent_records(draw: st.DrawFn) -> Sent:
    """A record of the example schema, every value spelled adversarially, with undeclared members and whitespace."""
    escaped = draw(st.booleans())
    fraction = draw(st.sampled_from(["", ".5", ".123456", ".1234567", ".999999999999"]))
    offset = draw(st.sampled_from(["Z", "z", "+00:00", "+05:45", "-08:00"]))
    t = draw(st.sampled_from(["T", "t"]))
    seq = draw(st.one_of(st.integers(0, INT64_MAX), st.sampled_from([0, 2**53, 2**53 + 1, 2**63 - 1, 10**18 + 1])))
    members: list[tuple[str, str]] = [
        ("event_id", _string(str(draw(st.uuids())), escaped)),
        (
            "device_id",
            _string(f"dev-{draw(st.integers(9800, 9999)) if draw(st.booleans()) else draw(st.integers(0, 99)):04d}", escaped),
        ),
        ("seq", draw(integer_spellings(seq))),
        ("event_time", _string(f"2026-11-{draw(st.integers(1, 30)):02d}{t}12:34:56{fraction}{offset}", escaped)),
        ("event_type", _string(draw(st.sampled_from(["telemetry", "alert"])), escaped)),
        ("value", draw(number_spellings(-1000, 1000))),
    ]
    optional: list[tuple[str, str]] = [
        ("gateway_id", _string(draw(st.sampled_from(["gw-1", 'é"\\/\t😀', "x" * 64])), escaped)),
        ("unit", _string("lux", escaped)),
        ("battery", draw(st.one_of(st.just("null"), st.integers(0, 100).flatmap(integer_spellings)))),
        ("rssi", draw(st.integers(-150, 0).flatmap(integer_spellings))),
        ("lat", draw(number_spellings(-90, 90))),
        ("lon", draw(number_spellings(-180, 180))),
        ("tags", draw(st.sampled_from(['{"fw":"1.2","zone":"z\\u00e9"}', "{ }", '{"zone" : "a"}']))),
    ]
    members += [member for member in optional if draw(st.booleans())]
    extras = draw(
        st.lists(
            st.tuples(
                st.sampled_from(['"note"', '"\\u0041"', '"a\\"b"', '"é"', '"\\u00e9t\\u00e9"', '"x y"']),
                st.sampled_from(
                    [
                        "340282366920938463463374607431768211456",
                        "-1" + "0" * 50,
                        "1.50",
                        "1e400",
                        "-0.0",
                        '{ "k" : [ 1 , 2.0e5 ] }',
                        '"a\\u0000b"',
                        "[]",
                        "null",
                    ]
                ),
            ),
            max_size=3,
            unique_by=lambda member: json.loads(member[0]),
        )
    )
    members = draw(st.permutations(members)) + extras
    if escaped:  # a declared key escaped too
        members = [
            ('"s\\u0065q"' if key == "seq" else json.dumps(key) if not key.startswith('"') else key, v) for key, v in members
        ]
    else:
        members = [(json.dumps(key) if not key.startswith('"') else key, v) for key, v in members]
    sep, colon = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,\n ", " : ")]))
    text = "{" + sep.join(f"{key}{colon}{value}" for key, value in members) + "}"
    return Sent(text=text, extras=tuple(extras))


def expected_row(sent: Sent) -> dict[str, Any] | None:
    """The lake row the oracle expects for a record the engine accepted; None: the lake must refuse it."""
    record = json.loads(sent.text, parse_float=Decimal)
    row: dict[str, Any] = {name: record.get(name) for name in STRINGS}
    row["event_time"] = utc(record["event_time"])
    for name in INTEGERS:
        value = record.get(name)
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() and abs(value) <= INT64_MAX else REFUSED
        if value is REFUSED:
            return None
        row[name] = value
    for name in NUMBERS:
        row[name] = None if record.get(name) is None else float(record[name])
    tags = record.get("tags")
    row["tags"] = None if tags is None else {"fw": tags.get("fw"), "zone": tags.get("zone")}
    row["site"], row["model"] = SITES.get(record["device_id"], (None, None))
    row["_extra"] = "{" + ",".join(f"{key}:{value}" for key, value in sent.extras) + "}" if sent.extras else None
    return row
