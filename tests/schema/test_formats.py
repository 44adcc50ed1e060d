"""Format checks: the Python definitions, their Polars twins, and agreement with the standard library."""

from __future__ import annotations

import ipaddress

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from transform_core.engine.rules import VECTORIZED_FORMATS, format_failed
from transform_core.schema.formats import FORMAT_CHECKS, is_date_time, is_ipv4

OCTETS = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["01", "00", "1a", "", "-1", "٣", " 1"]))
IPV4 = st.lists(OCTETS, min_size=3, max_size=5).map(".".join)
DATE_TIMES = st.builds(
    "{}-{}-{}{}{}:{}:{}{}{}".format,
    st.sampled_from(["2024", "0000", "0001", "9999", "20245"]),
    st.sampled_from(["01", "02", "12", "13", "00"]),
    st.sampled_from(["01", "28", "29", "30", "31", "32"]),
    st.sampled_from(["T", "t", " "]),
    st.sampled_from(["00", "23", "24"]),
    st.sampled_from(["00", "59", "60"]),
    st.sampled_from(["00", "59", "60"]),
    st.sampled_from(["", ".5", ".123456789012"]),
    st.sampled_from(["Z", "z", "+00:00", "-23:59", "+24:00", "+05:60", "", "+0530"]),
)


def ipaddress_accepts(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


@given(value=IPV4)
def test_ipv4_is_what_ipaddress_accepts(value: str) -> None:
    assert is_ipv4(value) == ipaddress_accepts(value)


SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace()) + "\u180e\u200b\ufeff"  # and three that are not
EMAILS = st.builds(
    "{}@{}{}".format,
    st.text(st.sampled_from("ab.@" + SPACES), min_size=0, max_size=3),
    st.text(st.sampled_from("cd." + SPACES + "é"), min_size=0, max_size=3),
    st.lists(st.text(st.sampled_from("ef@" + SPACES), max_size=2).map(".{}".format), max_size=3).map("".join),
)


@given(values=st.lists(st.one_of(IPV4, DATE_TIMES, EMAILS, st.uuids().map(str), st.text(max_size=12)), max_size=30))
def test_polars_formats_agree_with_python(values: list[str]) -> None:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    for fmt in VECTORIZED_FORMATS:
        failed = frame.select(format_failed(pl.col("v"), fmt)).to_series().to_list()
        assert failed == [not FORMAT_CHECKS[fmt](v) for v in values], fmt


@given(value=DATE_TIMES)
def test_date_time_is_rfc3339_with_a_calendar(value: str) -> None:
    if is_date_time(value):
        assert value[10] in "Tt" and value[:4] != "0000" and value[-1] in "Zz0123456789"


def test_polars_email_treats_every_python_space_as_python_does() -> None:
    values = [f"a{c}b@c.d" for c in SPACES] + [f"ab@c.d{c}" for c in SPACES] + ["ab@c.d", "a@b", "é@ü.x"]
    failed = pl.DataFrame({"v": values}).select(format_failed(pl.col("v"), "email")).to_series().to_list()
    assert failed == [not FORMAT_CHECKS["email"](v) for v in values]
