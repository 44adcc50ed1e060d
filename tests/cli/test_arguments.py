"""The argument types the subcommands share, alone and as argparse reports them."""

from __future__ import annotations

import argparse

import pytest

from transform_core.cli import main
from transform_core.cli.arguments import fraction, positive_int, setting


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("50000", 50_000), (" 7 ", 7)])
def test_positive_int(text: str, value: int) -> None:
    assert positive_int(text) == value


@pytest.mark.parametrize(("text", "message"), [("0", "must be at least 1, got 0"), ("-3", "got -3"), ("1.5", "not an integer")])
def test_positive_int_refuses(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        positive_int(text)


@pytest.mark.parametrize(("text", "value"), [("0", 0.0), ("1", 1.0), ("0.25", 0.25)])
def test_fraction(text: str, value: float) -> None:
    assert fraction(text) == value


@pytest.mark.parametrize(
    ("text", "message"), [("1.01", "between 0 and 1"), ("-0.1", "between 0 and 1"), ("nan", "between 0 and 1"), ("x", "number")]
)
def test_fraction_refuses(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        fraction(text)


@pytest.mark.parametrize(("text", "pair"), [("a=b", ("a", "b")), ("a=", ("a", "")), ("spark.x=k=v", ("spark.x", "k=v"))])
def test_setting(text: str, pair: tuple[str, str]) -> None:
    assert setting(text) == pair


@pytest.mark.parametrize("text", ["a", "=b", ""])
def test_setting_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected KEY=VALUE"):
        setting(text)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--records", "0"], "argument --records: must be at least 1, got 0"),
        (["demo", "--invalid-fraction", "2"], "argument --invalid-fraction: must be between 0 and 1, got 2.0"),
        (["spark-reprocess", "--spec", "s.yaml", "--conf", "x", "in"], "argument --conf: expected KEY=VALUE, got 'x'"),
    ],
)
def test_a_bad_value_is_a_usage_error(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.rstrip().endswith(message)
