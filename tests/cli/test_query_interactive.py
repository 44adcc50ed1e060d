"""`transform-core query` at its prompt: statements from a pipe with -i, dot commands, errors that keep the prompt,
and (on a pseudo-terminal) the prompt itself and its saved history."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.lake import EXAMPLE, TABLE, Processed, write_example_lake
from transform_core.cli import main
from transform_core.cli.query_shell import history_file
from transform_core.engine import Pipeline
from transform_core.lake.query import query


@pytest.fixture(scope="module")
def lake(pipeline: Pipeline, processed: Processed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_example_lake(pipeline, processed, tmp_path_factory.mktemp("lake"))


def piped(
    lake: Path, text: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *options: str
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code = main(["query", "--spec", str(EXAMPLE), "--lake", str(lake), "-i", *options])
    out, err = capsys.readouterr()
    return code, out, err


def test_statements_span_lines_and_end_with_a_semicolon(
    pipeline: Pipeline, lake: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    per_zone = f"SELECT tags.zone, count(*) AS n FROM {TABLE} GROUP BY tags.zone ORDER BY n DESC, tags.zone LIMIT 1"
    text = f"SELECT count(*)\n  AS n\nFROM {TABLE};\n\n{per_zone.replace(' GROUP', chr(10) + 'GROUP')};\n"
    code, out, err = piped(lake, text, monkeypatch, capsys)
    assert (code, err) == (0, "")
    assert "> " not in out  # no prompt when stdin is no terminal
    total = query(pipeline.spec, f"SELECT count(*) AS n FROM {TABLE}", root=str(lake))["n"][0]
    zone, n = query(pipeline.spec, per_zone, root=str(lake)).row(0)
    first, second = out.split("shape: ")[1:]
    assert first.startswith("(1, 1)") and re.search(rf"│ {total} +│", first)
    assert second.startswith("(1, 2)") and re.search(r"│ tags\.zone +┆ n +│", second)
    assert re.search(rf"│ {re.escape(zone)} +┆ {n} +│", second)


def test_an_error_is_one_line_and_the_next_statement_runs(
    lake: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = f"SELEC 1;\nSELECT nope FROM {TABLE};\n.describe\n.nope\nSELECT 41 + 1 AS answer;\n"
    code, out, err = piped(lake, text, monkeypatch, capsys)
    assert code == 1  # a piped statement failed
    assert err.splitlines() == [
        "transform-core: error: query failed: sql parser error: Expected: an SQL statement, found: SELEC at Line: 1, "
        f"Column: 1 (tables: errors_{TABLE}, {TABLE}, raw_{TABLE})",
        err.splitlines()[1],
        f"transform-core: error: .describe needs a table: one of errors_{TABLE}, {TABLE}, raw_{TABLE}",
        "transform-core: error: unknown command '.nope': .tables, .describe TABLE, .help or .quit",
    ]
    assert err.splitlines()[1].startswith('transform-core: error: query failed: unable to find column "nope"')
    assert out.count("shape: ") == 1 and "│ 42     │" in out


def test_dot_commands(lake: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    text = f".tables\n.describe {TABLE}\n.help\n.quit\nSELECT 1 AS never;\n"
    code, out, err = piped(lake, text, monkeypatch, capsys)
    assert (code, err) == (0, "")
    tables, rest = out.split("shape: ", 1)
    assert tables == f"errors_{TABLE}\n{TABLE}\nraw_{TABLE}\n"
    assert "│ tags.zone " in rest and "┆ struct<fw:string,zone:string> │" in rest
    assert ".describe TABLE  a table's columns" in rest
    assert "never" not in rest  # .quit stops reading


def test_the_last_statement_of_a_pipe_needs_no_semicolon(
    lake: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = piped(lake, "SELECT 'a' || 'b' AS ab;\nSELECT 7 AS seven", monkeypatch, capsys, "--max-width", "40")
    assert (code, err) == (0, "") and "│ ab  │" in out and "│ 7     │" in out


def test_history_lives_under_xdg_state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert history_file() == tmp_path / "state" / "transform-core" / "query_history"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert history_file() == tmp_path / ".local" / "state" / "transform-core" / "query_history"


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_a_terminal_gets_a_prompt_and_keeps_history(lake: Path, tmp_path: Path) -> None:
    import pty

    main_fd, child_fd = pty.openpty()
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "TERM": "dumb"}
    argv = [sys.executable, "-m", "transform_core.cli", "query", "--spec", str(EXAMPLE), "--lake", str(lake)]
    child = subprocess.Popen(argv, stdin=child_fd, stdout=child_fd, stderr=child_fd, env=env)
    os.close(child_fd)
    seen = b""

    def read_until(marker: bytes, times: int = 1) -> None:
        nonlocal seen
        while seen.count(marker) < times:
            ready, _, _ = select.select([main_fd], [], [], 120)  # a guard against a hang, not a timing check
            assert ready, f"no {marker!r} in {seen!r}"
            seen += os.read(main_fd, 65536)

    try:
        read_until(b"query> ")
        assert f"iot-telemetry: tables errors_{TABLE}, {TABLE}, raw_{TABLE}; .help for commands".encode() in seen
        os.write(main_fd, b"SELECT 41 + 1\n")
        read_until(b"...> ")
        os.write(main_fd, b"AS answer;\n")
        read_until(b"42")
        read_until(b"query> ", times=2)  # the prompt again, after the result
        os.write(main_fd, b"\x04")  # Ctrl-D
        assert child.wait(timeout=120) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(main_fd)
    assert "SELECT 41 + 1 AS answer;" in (tmp_path / "transform-core" / "query_history").read_text().splitlines()
