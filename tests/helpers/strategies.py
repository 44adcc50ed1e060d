"""Hypothesis strategies for adversarial Firehose batches.

A record starts as a valid IoT telemetry object and is then mutated: type confusion ("5" vs 5 vs
5.0 vs true), null vs missing, huge and tiny numbers written as text (1e400, 2**64, -0.0),
unicode and escapes, long strings, deep nesting, duplicate keys, additional properties, keys the
enrichment overwrites, odd whitespace, NaN literals, truncation, bad UTF-8 and bad base64.
Payloads are built as *text* so that spellings the parsers disagree on reach the engine.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

from transform_core.firehose.batch import RecordBatch
from transform_core.schema.nesting import MAX_DEPTH

# Values written verbatim into the JSON text (spellings matter: 2.0, 1e2, -0.0, 1E400).
NUMBER_TEXTS = (
    "0", "-0", "-0.0", "2.0", "2.5", "1e2", "1E2", "100", "101", "-1", "1000", "1000.0", "1000.0000001", "-1000",
    "1e308", "1e400", "-1e400", "9223372036854775807", "9223372036854775808", "18446744073709551616",
    "100000000000000000000000000000", "1e-400", "0.1", "5e-324", "90", "90.0000001", "-150", "-150.5", "4.5",
    "9" * 400, "-1" + "0" * 330,  # integers beyond a 64-bit float
    "-9223372036854775809", "100000000000000000001",  # beyond 64 bits, but as a float -2**63 and 1e20
    "9007199254740992", "9007199254740993",  # 2**53 and 2**53 + 1 (as a float, 2**53)
)  # fmt: skip
STRING_TEXTS = (
    '""', '"5"', '"21.5"', '"true"', '"null"', '"dev-0001"', '"dev-0001\\n"', '"dev-00001"', '"dev-\\u0030001"',
    '"\\u00e9t\\u00e9"', '"été"', '"😀"', '"\\ud83d\\ude00"', '"\\ud800"', '"a\\"b"', '"tab\\tsep"', '"x' + "y" * 80 + '"',
    '"telemetry"', '"heartbeat"', '"Telemetry"', '"alert"', '"celsius"', '"2026-11-27T10:00:00Z"', '"2024-02-30T00:00:00Z"',
    '"2026-11-27T23:59:60Z"', '"2026-11-27t10:00:00.123456789z"', '"0001-01-01T00:30:00+01:00"', '"9999-12-31T23:00:00-02:00"',
    '"2026-11-27T10:00:00+24:00"', '"2026-11-27 10:00:00Z"', '"2026-11-27T10:00:00Z\\n"', '"00000000-0000-0000-0000-00000000000g"',
)  # fmt: skip
OTHER_TEXTS = (
    "true",
    "false",
    "null",
    "[]",
    "{}",
    "[1,2]",
    '{"fw":"1"}',
    '{"fw":"1","fw":"2"}',
    "[[[[[[[[[[1]]]]]]]]]]",
    "NaN",
    "Infinity",
)
# Values nesting about as deep as the limit allows (a property's value sits one level below the record), beyond it
# (where msgspec and the reference's parse run out of stack), and brackets in a string, which do not nest.
DEEP_TEXTS = (
    *("[" * d + "]" * d for d in (MAX_DEPTH - 1, MAX_DEPTH, 1000, 1100)),
    *('{"a":' * d + "1" + "}" * d for d in (MAX_DEPTH - 1, MAX_DEPTH, 1000)),
    '"' + "[{" * MAX_DEPTH + '"',
)
FIELDS = (
    "event_id",
    "device_id",
    "gateway_id",
    "seq",
    "event_time",
    "event_type",
    "value",
    "unit",
    "battery",
    "rssi",
    "lat",
    "lon",
    "tags",
)
EXTRA_KEYS = ("source", "site", "model", "note", "nested", "event_time")  # site/model collide with enrichment


def _valid_members(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Members (key, JSON text) of a valid record, in a drawn order."""
    hour = draw(st.integers(0, 23))
    offset = draw(st.sampled_from(["Z", "z", "+00:00", "+05:30", "-08:00", "+23:59", "-23:59"]))
    fraction = draw(st.sampled_from(["", ".5", ".123456", ".123456789"]))
    members = [
        ("event_id", json.dumps("3f1c2a9e-8d4b-4c7a-9b1e-2f3a4b5c6d7e")),
        ("device_id", json.dumps(f"dev-{draw(st.integers(0, 9999)):04d}")),
        ("gateway_id", json.dumps(draw(st.sampled_from(["gw-01-a", "g", "x" * 64, "été"])))),
        ("seq", str(draw(st.integers(0, 2**63 - 1)))),
        ("event_time", json.dumps(f"2026-11-{draw(st.integers(1, 30)):02d}T{hour:02d}:59:59{fraction}{offset}")),
        ("event_type", json.dumps(draw(st.sampled_from(["telemetry", "alert", "heartbeat"])))),
        ("value", draw(st.sampled_from(["21.5", "-1000", "1000", "0", "1e2", "-0.0", "999.999"]))),
        ("unit", json.dumps("celsius")),
        ("battery", draw(st.sampled_from(["null", "0", "100", "50"]))),
        ("rssi", draw(st.sampled_from(["-150", "0", "-67"]))),
        ("lat", "48.1"),
        ("lon", "-180"),
        ("tags", draw(st.sampled_from(['{"fw":"2.1","zone":"z1"}', "{}", '{"fw":"1"}']))),
    ]
    members = [
        m for m in members if m[0] in ("event_id", "device_id", "seq", "event_time", "event_type", "value") or draw(st.booleans())
    ]
    return draw(st.permutations(members))


@st.composite
def payload_texts(draw: st.DrawFn) -> bytes:
    """One record's payload bytes: valid, or broken in one or more adversarial ways."""
    members = _valid_members(draw)
    for _ in range(draw(st.integers(0, 5))):  # several, so that a record may break several rules
        action = draw(st.sampled_from(["replace", "remove", "duplicate", "extra"]))
        if action == "replace" and members:
            i = draw(st.integers(0, len(members) - 1))
            value = draw(st.sampled_from(NUMBER_TEXTS + STRING_TEXTS + OTHER_TEXTS))
            members[i] = (members[i][0], value)
        elif action == "remove" and members:
            members.pop(draw(st.integers(0, len(members) - 1)))
        elif action == "duplicate" and members:
            key, _ = draw(st.sampled_from(members))
            members.append((key, draw(st.sampled_from(NUMBER_TEXTS + STRING_TEXTS))))
        elif action == "extra":
            value = draw(
                st.sampled_from(NUMBER_TEXTS + STRING_TEXTS + OTHER_TEXTS + DEEP_TEXTS + ('{"a":{"b":[1,{"c":null}]}}',))
            )
            members.append((draw(st.sampled_from(EXTRA_KEYS)), value))
    sep, colon = draw(st.sampled_from([(",", ":"), (", ", ": "), (",\n  ", " : "), ("\t,", ":\r\n")]))
    key_text = draw(st.sampled_from(["plain", "escaped"]))
    keys = [
        json.dumps(k) if key_text == "plain" else json.dumps(k, ensure_ascii=True).replace("e", "\\u0065", 1) for k, _ in members
    ]
    text = "{" + sep.join(f"{k}{colon}{v}" for k, (_, v) in zip(keys, members, strict=True)) + "}"
    text = draw(st.sampled_from(["", " ", "\n"])) + text + draw(st.sampled_from(["", " ", "\n"]))
    data = text.encode()
    shape = draw(st.sampled_from(["object"] * 8 + ["array", "scalar", "truncated", "not_utf8", "empty", "trailing"]))
    if shape == "array":
        data = b"[" + data + b"]"
    elif shape == "scalar":
        data = draw(st.sampled_from([b"5", b'"x"', b"null", b"true"]))
    elif shape == "truncated":
        data = data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    elif shape == "not_utf8":
        data = data.replace(b"e", b"\xff", 1)
    elif shape == "empty":
        data = b""
    elif shape == "trailing":
        data = data + b" {}"
    return data


@st.composite
def base64_texts(draw: st.DrawFn) -> str:
    """A record's ``data`` field: the payload's base64, sometimes broken."""
    encoded = base64.b64encode(draw(payload_texts())).decode()
    how = draw(st.sampled_from(["ok"] * 12 + ["bang", "unpadded", "space", "newline", "urlsafe", "extra_pad"]))
    if how == "bang":
        return "!" + encoded
    if how == "unpadded":
        return encoded.rstrip("=") or "A"
    if how == "space":
        return encoded[:4] + " " + encoded[4:]
    if how == "newline":
        return encoded + "\n"
    if how == "urlsafe":
        return encoded.replace("+", "-").replace("/", "_") + "-_"
    return encoded + "=="


@st.composite
def batches(draw: st.DrawFn, max_size: int = 40) -> RecordBatch:
    """A Firehose batch of adversarial records with arrival times (sometimes missing)."""
    data = draw(st.lists(base64_texts(), max_size=max_size))
    arrivals: list[Any] = [draw(st.one_of(st.none(), st.integers(-62135596800000, 253402300799999))) for _ in data]
    return RecordBatch(record_ids=[f"r{i}" for i in range(len(data))], data=data, arrival_ms=arrivals)
