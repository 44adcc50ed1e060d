"""The command line's surface: every subcommand and its options, a quick --help, one-line errors, --version."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from transform_core.cli import build_parser, main
from transform_core.cli import runtime as runtime_cli

ROOT = Path(__file__).resolve().parents[2]

# Each command's options, as option strings (positionals by name), in the order --help lists them.
SURFACE: dict[str, tuple[tuple[str, ...], ...]] = {
    "": (("--version",),),
    "demo": (("--records",), ("--invalid-fraction",), ("--spec",), ("--seed",), ("--batch-records",)),
    "generate": (("--spec",), ("--count",), ("--invalid", "--invalid-fraction"), ("--seed",), ("--end",), ("--output",)),
    "init": (("folder",), ("--name",), ("--force",)),
    "explain": (("record",), ("--spec",), ("--line",), ("--base64",), ("--format",)),
    "dashboard": (("--spec",), ("--lake",), ("--output",), ("--measure",), ("--by",), ("--endpoint-url",)),
    "local": (
        ("--spec",),
        ("--lake",),
        ("--port",),
        ("--host",),
        ("--format",),
        ("--gzip",),
        ("--source",),
        ("--processor-buffer-mb",),
        ("--processor-interval",),
        ("--s3-buffer-mb",),
        ("--s3-interval",),
        ("--compact-every",),
        ("--duration",),
        ("--timeout",),
        ("--demo",),
    ),
    "send": (("input",), ("--url",), ("--rate",)),
    "reprocess": (
        ("inputs",),
        ("--spec",),
        ("--lake", "--out"),
        ("--dry-run",),
        ("--chunk-size", "--batch-size"),
        ("--kind",),
        ("--workers",),
        ("--endpoint-url",),
        ("--quiet",),
        ("--max-reject-rate",),
        ("--report",),
        ("--report-format",),
    ),
    "spark-reprocess": (
        ("inputs",),
        ("--spec",),
        ("--lake", "--out"),
        ("--dry-run",),
        ("--chunk-size", "--batch-size"),
        ("--kind",),
        ("--run-id",),
        ("--zone",),
        ("--catalog",),
        ("--catalog-file",),
        ("--namespace",),
        ("--warehouse",),
        ("--rows-per-file",),
        ("--repartition",),
        ("--master",),
        ("--conf",),
        ("--max-reject-rate",),
    ),
    "compact": (
        ("--spec",),
        ("--lake",),
        ("--key",),
        ("--target-rows",),
        ("--partition",),
        ("--catalog",),
        ("--catalog-file",),
        ("--namespace",),
        ("--warehouse",),
        ("--endpoint-url",),
    ),
    "expire": (
        ("--spec",),
        ("--lake",),
        ("--older-than",),
        ("--retain-last",),
        ("--orphans-older-than",),
        ("--dry-run",),
        ("--catalog",),
        ("--catalog-file",),
        ("--namespace",),
        ("--warehouse",),
        ("--endpoint-url",),
    ),
    "vacuum": (  # expire's alias: Athena's name for it
        ("--spec",),
        ("--lake",),
        ("--older-than",),
        ("--retain-last",),
        ("--orphans-older-than",),
        ("--dry-run",),
        ("--catalog",),
        ("--catalog-file",),
        ("--namespace",),
        ("--warehouse",),
        ("--endpoint-url",),
    ),
    "query": (
        ("sql",),
        ("--spec",),
        ("--lake",),
        ("--format",),
        ("--output",),
        ("--max-width",),
        ("--describe",),
        ("-i", "--interactive"),
        ("--as-of",),
        ("--catalog",),
        ("--catalog-file",),
        ("--namespace",),
        ("--warehouse",),
        ("--endpoint-url",),
    ),
    "catalog": (
        ("--spec",),
        ("--location",),
        ("--database",),
        ("--table",),
        ("--format",),
        ("--producer",),
        ("--zone",),
        ("--template",),
        ("--register",),
        ("--endpoint-url",),
        ("--region",),
        ("--iam-role",),
        ("--catalog",),
        ("--catalog-file",),
        ("--namespace",),
        ("--warehouse",),
    ),
    "export": (
        ("--spec",),
        ("--lake",),
        ("--target",),
        ("--output",),
        ("--format",),
        ("--validation-from",),
        ("--validation-fraction",),
        ("--features",),
        ("--as-of",),
        ("--catalog",),
        ("--catalog-file",),
        ("--namespace",),
        ("--warehouse",),
        ("--endpoint-url",),
    ),
    "layer": (),
    "layer build": (("--arch",), ("--python",), ("--output",), ("--budget-mb",), ("--project-root",)),
}
SURFACE = {name: (*options, ("--debug",)) for name, options in SURFACE.items()}  # every command's last: the traceback


def commands(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, tuple[tuple[str, ...], ...]]]:
    """Every (sub)command under ``parser`` with its options, depth first."""
    options: list[tuple[str, ...]] = []
    nested: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            nested += [(f"{path} {name}".strip(), sub) for name, sub in action.choices.items()]
        elif not isinstance(action, argparse._HelpAction):
            options.append(tuple(action.option_strings) or (action.dest,))
    yield path, tuple(options)
    for name, sub in nested:
        yield from commands(sub, name)


def test_every_command_keeps_its_options() -> None:
    assert dict(commands(build_parser())) == SURFACE


def test_the_runtime_loop_keeps_its_options() -> None:
    assert dict(commands(runtime_cli.build_parser())) == {"": (("--max-invocations",),)}


HELP_CHILD = """
import contextlib, io, sys
from transform_core.cli import main
for argv in sys.argv[1:]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main([*argv.split(), "--help"])
print(sorted(name for name in ("polars", "pyarrow", "pyiceberg", "transform_core.engine", "transform_core.lake") if name in sys.modules))
"""


def test_help_imports_neither_polars_nor_the_engine() -> None:
    argvs = ["", *(name for name in SURFACE if name)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"PYTHONPATH": str(ROOT)}
    child = subprocess.run([sys.executable, "-c", HELP_CHILD, *argvs], env=env, capture_output=True, text=True, check=False)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "[]"


def test_python_m_runs_the_command_line() -> None:
    child = subprocess.run([sys.executable, "-m", "transform_core.cli", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith("usage: transform-core [-h] [--version] [--debug] COMMAND ...")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("transform-core ")


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


def test_a_transform_core_error_is_one_line_and_exit_status_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["demo", "--spec", str(missing), "--records", "10"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("transform-core: error: ") and str(missing) in captured.err
    assert captured.err.count("\n") == 1
