"""What the command line prints besides errors reads right: every command's help explains itself (what it does, its
defaults, an example), counts agree with their nouns ("1 file"), and what the commands build stays out of git."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.lake import EXAMPLE, process
from transform_core.cli import build_parser, main
from transform_core.cli.arguments import plural
from transform_core.engine import Pipeline
from transform_core.lake import LakeWriter

ROOT = Path(__file__).resolve().parents[2]


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command that runs something (``layer build``, not ``layer``), an alias's parser once."""
    found: dict[str, argparse.ArgumentParser] = {}
    pending: list[tuple[str, argparse.ArgumentParser]] = [("", build_parser())]
    while pending:
        name, parser = pending.pop(0)
        subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        for action in subcommands:
            pending += [(f"{name} {sub}".strip(), p) for sub, p in action.choices.items() if p not in found.values()]
        if name and not subcommands:
            found[name] = parser
    return found


COMMANDS = command_parsers()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_commands_help_says_what_it_does_its_defaults_and_an_example(command: str) -> None:
    parser = COMMANDS[command]
    assert parser.description and len(parser.description) > 80, "a description of a sentence or more"
    assert re.search(rf"^  {re.escape(parser.prog)} ", parser.epilog or "", re.MULTILINE), "an example command line"
    for action in parser._actions:
        quiet = action.default in (None, False, argparse.SUPPRESS) or isinstance(action, argparse._AppendAction)
        if action.option_strings and not quiet:
            assert action.help and "default" in action.help, f"{action.option_strings}: its default in its help"
    text = parser.format_help()
    assert "examples:" in text or "example:" in text


def test_an_examples_lines_stay_as_written_and_the_description_wraps() -> None:
    text = COMMANDS["expire"].format_help()
    description = text.split("\n\n")[1]
    assert "\n" in description and max(len(line) for line in description.splitlines()) < 100
    assert "\n  transform-core expire --spec pipeline.yaml --older-than 36h --retain-last 5\n" in text


@pytest.mark.parametrize(
    ("n", "noun", "many", "said"),
    [
        (0, "row", None, "0 rows"),
        (1, "file", None, "1 file"),
        (2, "file", None, "2 files"),
        (1200, "entry", "entries", "1,200 entries"),
    ],
)
def test_plural(n: int, noun: str, many: str | None, said: str) -> None:
    assert plural(n, noun, many) == said


def test_no_command_prints_a_noun_with_s_in_parentheses() -> None:
    sources = [*(ROOT / "transform_core" / "cli").glob("*.py"), *(ROOT / "transform_core" / "jobs").glob("*.py")]
    found = [
        f"{path.name}: {match[0]}" for path in sources for match in re.finditer(r"\b[a-z]+\(s\)(?=[\s,.;:'\"])", path.read_text())
    ]
    assert found == []


def test_one_partition_compacted_is_said_in_the_singular(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = process(pipeline, 40, 0.0, seed=4)
    LakeWriter(pipeline.spec, str(tmp_path)).write(done.result, done.batch, batch_id="b1")
    partition = sorted(p.relative_to(tmp_path / "raw" / "iot_telemetry") for p in (tmp_path / "raw").glob("*/*/*/day=*"))[0]
    assert main(["compact", "--spec", str(EXAMPLE), "--lake", str(tmp_path), "--partition", str(partition)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(rf"compacted  {partition}  1 raw file, (\d+) → \1 rows?, 1 data file", lines[0]), lines[0]
    assert lines[1].startswith("1 partition, 1 compacted, 0 unchanged, ")


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
@pytest.mark.parametrize(
    "path",
    [
        "transform-core-layer-x86_64-py3.13.zip",
        "transform-core-layer-arm64-py3.12.zip",
        "dashboard.html",
        "lake/raw/x.parquet",
        "deploy/.aws-sam/build.toml",
        "spark-warehouse/t/part-0.parquet",
        "metastore_db/x",
        "derby.log",
        "benchmarks/results/x.json",
    ],
)
def test_what_the_commands_build_is_git_ignored(path: str) -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT, check=False)
    assert ignored.returncode == 0, f"{path} is not ignored"
