"""Every shell command README.md and docs/*.md print works, as printed, in a fresh copy of the repository.

The commands run in one scratch copy of the working tree's files (tracked and not ignored), with ``.venv`` linked to
this venv and its ``bin`` first on PATH, in document order: README.md first (``make demo``, then the five steps that
build ``my-pipeline/`` and ``records.ndjson``), then docs/*.md by name, each one after the ones before it. Each must
exit 0 (or the status a ``# exit N`` comment on it gives) with no "Traceback" in its output.

Which text is a command, and how to mark one that cannot run here, is in ``tests/helpers/doc_commands.py``. In short:
put ``<!-- not run: REASON -->`` right before a block (or inline command) that needs AWS, PyPI or minutes, or
``<!-- not run where "TEXT": REASON -->`` to leave out only the block's commands containing TEXT. Select one file's
commands with ``pytest tests/docs -k lake.md``: the commands before them run first.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.doc_commands import (
    DocCommand,
    Runner,
    doc_files,
    read_document,
    scratch_copy,
    split_commands,
)

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = {path.relative_to(ROOT).as_posix(): read_document(path, ROOT) for path in doc_files(ROOT)}
COMMANDS = [command for document in DOCUMENTS.values() for command in document.commands]
RUNNABLE = [command for command in COMMANDS if command.not_run is None]


def _param(command: DocCommand) -> object:
    marks = [pytest.mark.spark] if "spark-reprocess" in command.text else []  # a local Spark needs Java 17
    return pytest.param(command, id=command.id, marks=marks)


@pytest.fixture(scope="session")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """One scratch copy for the session; every command runs in it once, in order."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know the repository's files")
    copy = scratch_copy(ROOT, tmp_path_factory.mktemp("clone"), Path(sys.prefix))
    env = {
        "UV": "true",  # make's env step (uv sync) would sync the linked venv from the copy; it is in sync already
        "TMPDIR": str(tmp_path_factory.mktemp("tmp")),  # make demo's temporary lake, kept with the copy
    }
    runner = Runner(RUNNABLE, copy, Path(sys.prefix) / "bin", env)
    yield runner
    runner.close()


@pytest.mark.slow  # all of them take about 2 minutes, make demo 15 s and the local Spark 30 s of it
@pytest.mark.parametrize("command", [_param(command) for command in RUNNABLE])
def test_command_works_as_printed(runner: Runner, command: DocCommand) -> None:
    outcome = runner.outcome(command)
    first = max(outcome.output.find("Traceback"), 0)  # the first traceback, and where the output ends
    shown = (
        f"{command.id}: {command.text}\n--- exit {outcome.status}, output:\n"
        f"{outcome.output[first : first + 3000]}\n…\n{outcome.output[-2000:]}"
    )
    assert "Traceback" not in outcome.output, shown
    assert outcome.status == command.expected_status, shown
    if command.background:  # local, stopped with Ctrl-C: the records send posted, each accounted for
        counts = _local_counts(outcome.output)
        assert counts is not None and counts[0] > 0, shown
        assert counts[0] == sum(counts[1:]), shown


def _local_counts(summary: str) -> tuple[int, int, int, int] | None:
    """(records in, Ok, failed, dropped) from the summary ``local`` prints at its end."""
    records_in = re.search(r"([\d,]+) records in", summary)
    results = re.search(r"results\s+Ok ([\d,]+), failed ([\d,]+), dropped ([\d,]+)", summary)
    if records_in is None or results is None:
        return None
    total, ok, failed, dropped = (int(text.replace(",", "")) for text in (records_in.group(1), *results.groups()))
    return total, ok, failed, dropped


def test_the_demo_runs_first_and_local_runs_beside_send() -> None:
    readme = [command for command in DOCUMENTS["README.md"].commands if command.not_run is None]
    assert readme[0].text.startswith("make demo")
    background = [command for command in COMMANDS if command.background]
    assert background, "a `local` whose next command says it runs in another terminal"
    for command in background:
        after = COMMANDS[COMMANDS.index(command) + 1]
        assert " local " in f" {command.text} " and " send " in f" {after.text} ", (command.id, after.id)


def test_every_marker_leaves_out_a_command() -> None:
    stale = {name: doc.unused_markers for name, doc in DOCUMENTS.items() if doc.unused_markers}
    assert stale == {}, "a <!-- not run … --> marker before no command it selects"


def test_the_not_run_set_names_its_reasons() -> None:
    left_out = [command for command in COMMANDS if command.not_run is not None]
    assert all(command.not_run for command in left_out)
    assert len(RUNNABLE) > len(left_out) / 2, "most commands run"


def test_blocks_split_into_commands_as_a_shell_reads_them() -> None:
    body = [
        "# a comment line",
        "transform-core query --spec s.yaml \\",
        '    "SELECT 1 # not a comment, it\'s quoted"',
        "cat > f.yaml <<'EOF'",
        "a: 'b",
        "EOF",
        "python -c 'import sys",
        "print(sys.argv)' x",
        "for b in x y; do",
        "  echo $b",
        "done",
        "echo done   # a trailing comment's quote",
    ]
    commands = split_commands(list(enumerate(body, start=1)))
    assert [number for number, _ in commands] == [2, 4, 7, 9, 12]
    assert commands[1][1] == "cat > f.yaml <<'EOF'\na: 'b\nEOF"
    assert commands[3][1].endswith("done")


def test_a_comment_gives_the_exit_status() -> None:
    assert DocCommand("a.md", 1, "transform-core explain --line 2 r.ndjson   # exit 1: rejected").expected_status == 1
    assert DocCommand("a.md", 1, "transform-core query --spec s.yaml 'SELECT 1'").expected_status == 0


def test_the_local_summary_is_read() -> None:
    summary = "transform-core local: 10.3 s, 16,000 records in\n  results  Ok 13,856, failed 1,400, dropped 744\n"
    assert _local_counts(summary) == (16_000, 13_856, 1_400, 744)
    assert _local_counts("transform-core: error: --spec is required") is None


def test_markers_spans_and_text_blocks_are_read(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "`transform-core compact` and `transform-core reprocess --dry-run` name a command and an option;\n"
        "`transform-core send FILE|-` is a synopsis; `transform-core query --spec s.yaml 'SELECT 1'` is a command.\n"
        "\n"
        '<!-- not run where "s3://": needs AWS -->\n'
        "```sh\n"
        "transform-core reprocess --spec s.yaml --dry-run lake/errors\n"
        "transform-core reprocess --spec s.yaml s3://bucket/\n"
        "```\n"
        "\n"
        "```text\n"
        "transform-core local: 10.3 s, 16,000 records in\n"
        "```\n"
        "\n"
        "<!-- not run: a marker before nothing -->\n",
        encoding="utf-8",
    )
    document = read_document(page, tmp_path)
    found = [(command.id, command.not_run) for command in document.commands]
    assert found == [("docs/page.md:2", None), ("docs/page.md:6", None), ("docs/page.md:7", "needs AWS")]
    assert [marker.reason for marker in document.unused_markers] == ["a marker before nothing"]
