"""JSON Schema ``format`` checks and regex dialect, shared by the engine and the reference.

One definition per format, written so the vectorized engine can express the same rule in
Polars (``*_POLARS`` patterns) and agree with these Python checks value for value:

- ``date-time``: RFC 3339 §5.6 with ``T``/``t`` and ``Z``/``z``, any number of fraction digits,
  years 0001-9999, seconds 00-59 (leap seconds are rejected), offsets up to ±23:59, and a real
  calendar check (2024-02-30 is invalid).
- ``date``: RFC 3339 full-date with the same calendar check. ``time``: RFC 3339 full-time.
- ``uuid``: 8-4-4-4-12 hex digits, any version. ``email``: one ``@``, no whitespace, a dotted
  domain. ``ipv4`` / ``ipv6``: what :mod:`ipaddress` accepts, without zone ids.

``pattern`` uses Python's ``re.search`` with every unescaped ``$`` outside a character class read as
end-of-string, as in ECMA-262: ``^a$`` does not match ``"a\\n"``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

__all__ = [
    "DATE_POLARS",
    "DATE_TIME_POLARS",
    "EMAIL_POLARS",
    "IPV4_POLARS",
    "FORMAT_CHECKS",
    "UUID_POLARS",
    "ecma_pattern",
    "is_date",
    "is_date_time",
    "parse_date_time",
]

_DATE = r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = r"([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])(\.[0-9]+)?([Zz]|([+-])([01][0-9]|2[0-3]):([0-5][0-9]))"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # 0-255 without leading zeros, as ipaddress reads it
_IPV4 = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
# Python's `\s` (str.isspace: Unicode 14 whitespace plus the separators \x1c-\x1f) spelled out, so that Rust's
# regex, whose `\s` is Unicode White_Space without \x1c-\x1f, means the same.
_PY_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"

# Rust-regex forms for Polars: `$` is end of text there, as `\Z` is in Python.
DATE_TIME_POLARS = rf"^{_DATE}[Tt]{_TIME}$"
DATE_POLARS = rf"^{_DATE}$"
UUID_POLARS = rf"^{_UUID}$"
IPV4_POLARS = rf"^{_IPV4}$"
EMAIL_POLARS = rf"^[^@{_PY_SPACE}]+@[^@{_PY_SPACE}.]+(\.[^@{_PY_SPACE}.]+)+$"

_DATE_TIME_RE = re.compile(rf"{_DATE}[Tt]{_TIME}\Z")
_DATE_RE = re.compile(rf"{_DATE}\Z")
_TIME_RE = re.compile(rf"{_TIME}\Z")
_UUID_RE = re.compile(rf"{_UUID}\Z")
_IPV4_RE = re.compile(rf"{_IPV4}\Z")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+\Z")


def ecma_pattern(pattern: str) -> str:
    """Translate a JSON Schema ``pattern`` to the Python regex that enforces it.

    An unescaped ``$`` outside a character class becomes ``\\Z`` (end of string only, as in
    ECMA-262); inside a class it becomes ``\\$``, a literal either way. The result has no bare
    ``$`` left, so fastjsonschema's own rewrite leaves it alone.
    """
    out: list[str] = []
    in_class = escaped = False
    for i, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            if char == "]" and not (pattern[i - 1] == "[" or pattern[i - 2 : i] == "[^"):
                in_class = False
            elif char == "$":
                char = "\\$"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = "\\Z"
        out.append(char)
    return "".join(out)


def parse_date_time(value: str) -> datetime | None:
    """An aware datetime for a valid RFC 3339 date-time, else None (no exception)."""
    m = _DATE_TIME_RE.match(value)
    if m is None:
        return None
    year, month, day, hour, minute, second, _, zone, sign, off_h, off_m = m.groups()
    if zone in ("Z", "z"):
        tz: timezone = UTC
    else:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz)
    except ValueError:  # not on the calendar (Feb 30, year 0000)
        return None


def is_date_time(value: str) -> bool:
    """RFC 3339 date-time with a calendar check."""
    return parse_date_time(value) is not None


def is_date(value: str) -> bool:
    """RFC 3339 full-date with a calendar check."""
    m = _DATE_RE.match(value)
    if m is None:
        return False
    try:
        datetime(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return False
    return True


def is_time(value: str) -> bool:
    """RFC 3339 full-time (with an offset)."""
    return _TIME_RE.match(value) is not None


def is_uuid(value: str) -> bool:
    """8-4-4-4-12 hexadecimal digits."""
    return _UUID_RE.match(value) is not None


def is_email(value: str) -> bool:
    """A plain ``local@domain.tld`` address (no whitespace, one ``@``)."""
    return _EMAIL_RE.match(value) is not None


def is_ipv4(value: str) -> bool:
    """A dotted-quad IPv4 address without leading zeros (what :mod:`ipaddress` accepts)."""
    return _IPV4_RE.match(value) is not None


def is_ipv6(value: str) -> bool:
    """An IPv6 address (no zone id)."""
    if "%" in value:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "date-time": is_date_time,
    "date": is_date,
    "time": is_time,
    "uuid": is_uuid,
    "email": is_email,
    "ipv4": is_ipv4,
    "ipv6": is_ipv6,
}
