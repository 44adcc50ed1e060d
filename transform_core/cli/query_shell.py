"""``transform-core query`` at a prompt: SQL statements ended by ``;``, dot commands, history kept between sessions.

On a terminal the prompt has readline's line editing and a history saved to ``$XDG_STATE_HOME/transform-core/
query_history`` (``~/.local/state/…`` without the variable). From a pipe (``query -i < queries.sql``) the same
statements run without a prompt, and the exit status is 1 when one of them failed. An error is one line on stderr;
the prompt stays.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from transform_core.cli.arguments import PROG
from transform_core.cli.errors import describe, environment_errors, with_advice
from transform_core.cli.query import TABLE_ROWS
from transform_core.errors import QueryError, TransformCoreError

if TYPE_CHECKING:
    from transform_core.spec import PipelineSpec

__all__ = ["Shell", "history_file"]

PROMPT = "query> "
MORE = "   ...> "
HELP = """\
SQL statements end with ';' and may span lines; a struct's field is column.field.
  .tables          the lake's tables
  .describe TABLE  a table's columns: struct fields dotted, Polars and Athena types
  .help            this text
  .quit            leave (or Ctrl-D); Ctrl-C drops the statement being typed
"""


def history_file() -> Path:
    """Where the prompt's history is kept: under ``$XDG_STATE_HOME``, else ``~/.local/state``."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "transform-core" / "query_history"


class Shell:
    """Statements and dot commands read from a stream, each result printed as a table.

    Args:
        spec: the pipeline spec; its name gives the table names.
        options: the lake's ``root``, ``endpoint_url``, ``catalog`` and ``as_of`` (see ``lake_tables``).
        max_width: cut text cells at this many characters; None: full values.
    """

    def __init__(self, spec: PipelineSpec, options: dict[str, Any], *, max_width: int | None) -> None:
        self.spec = spec
        self.options = options
        self.max_width = max_width
        self.failed = False

    def run(self, stdin: TextIO, stdout: TextIO) -> int:
        """Read until ``.quit`` or the end of the input; returns the exit status (1 if a piped statement failed)."""
        tty = stdin.isatty()
        history = _History() if tty else None
        if tty:
            stdout.write(f"{self.spec.name}: tables {', '.join(self._tables()) or 'none yet'}; .help for commands\n")
        try:
            for statement in _statements(stdin, stdout, tty, history):
                if statement.startswith("."):
                    if not self._command(statement, stdout):
                        break
                else:
                    self._attempt(self._query, statement, stdout)
        finally:
            if history is not None:
                history.save()
        return 1 if self.failed and not tty else 0

    def _command(self, line: str, stdout: TextIO) -> bool:
        """Run one dot command; False to leave."""
        name, _, argument = line.partition(" ")
        if name in (".quit", ".exit"):
            return False
        if name == ".help":
            stdout.write(HELP)
        elif name == ".tables":
            self._attempt(self._list, stdout)
        elif name in (".describe", ".schema"):
            self._attempt(self._describe, argument.strip().rstrip(";"), stdout)
        else:
            self._error(f"unknown command {line!r}: .tables, .describe TABLE, .help or .quit")
        return True

    def _query(self, sql: str, stdout: TextIO) -> None:
        from transform_core.lake.query import partition_hint, query
        from transform_core.lake.query_format import text_table

        frame = query(self.spec, sql, **self.options)
        stdout.write(text_table(frame, rows=TABLE_ROWS, max_width=self.max_width))
        if (hint := partition_hint(sql, empty=frame.height == 0)) is not None:
            print(f"{PROG} query: hint: {hint}", file=sys.stderr)

    def _describe(self, table: str, stdout: TextIO) -> None:
        from transform_core.lake.query import describe as columns_of
        from transform_core.lake.query_format import text_table

        if not table:
            raise QueryError(f".describe needs a table: one of {', '.join(self._tables())}", sql="")
        columns = columns_of(self.spec, table, **self.options)
        stdout.write(text_table(columns.fill_null(""), rows=columns.height, max_width=self.max_width))

    def _list(self, stdout: TextIO) -> None:
        stdout.write("".join(f"{table}\n" for table in self._tables()))

    def _tables(self) -> list[str]:
        from transform_core.lake.query import lake_tables

        return list(lake_tables(self.spec, **self.options))

    def _attempt(self, action: Callable[..., object], *args: Any) -> None:
        """Run ``action``; an error the user or the environment caused is one line, and the prompt stays."""
        try:
            action(*args)
        except KeyboardInterrupt:  # Ctrl-C stops a long query, not the prompt
            self._error("interrupted")
        except TransformCoreError as err:
            self._error(str(with_advice(err)))
        except environment_errors() as err:
            self._error(describe(err))

    def _error(self, message: str) -> None:
        self.failed = True
        print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)


def _statements(stdin: TextIO, stdout: TextIO, tty: bool, history: _History | None) -> Iterator[str]:
    """Each dot command (one line) and each SQL statement (up to a line ending in ``;``, which is dropped)."""
    lines: list[str] = []
    while True:
        try:
            line = _read(stdin, stdout, tty, MORE if lines else PROMPT)
        except KeyboardInterrupt:  # Ctrl-C: drop the statement being typed, keep the prompt
            stdout.write("\n")
            lines = []
            continue
        if line is None:
            break
        if not lines and line.strip().startswith("."):
            yield line.strip()
            continue
        if line.strip() or lines:
            lines.append(line)
        if lines and lines[-1].rstrip().endswith(";"):
            statement = "\n".join(lines).rstrip().rstrip(";").strip()
            if history is not None:
                history.merge(len(lines), " ".join(line.strip() for line in lines))
            lines = []
            if statement:
                yield statement
    if tty:
        stdout.write("\n")  # Ctrl-D leaves the cursor after the prompt
    if "".join(lines).strip():
        yield "\n".join(lines).strip()  # the last statement of a piped file needs no ';'


def _read(stdin: TextIO, stdout: TextIO, tty: bool, prompt: str) -> str | None:
    """One line without its newline, or None at the end of the input."""
    if tty and stdin is sys.stdin and stdout is sys.stdout:
        try:
            return input(prompt)  # readline's line editing and history
        except EOFError:
            return None
    if tty:
        stdout.write(prompt)
        stdout.flush()
    line = stdin.readline()
    return line.rstrip("\r\n") if line else None


class _History:
    """readline's history, loaded from and saved to :func:`history_file`; nothing when readline is missing."""

    def __init__(self) -> None:
        try:
            import readline
        except ImportError:  # Windows without pyreadline
            self.readline: Any = None
            return
        self.readline = readline
        self.path = history_file()
        if self.path.is_file():
            with contextlib.suppress(OSError):  # an unreadable history is no reason to refuse the prompt
                readline.read_history_file(self.path)
        readline.set_history_length(1000)

    def merge(self, lines: int, statement: str) -> None:
        """One history entry for a statement typed over several lines (readline added each line)."""
        if self.readline is None or lines < 2:
            return
        end = self.readline.get_current_history_length()
        for position in range(end - 1, max(end - lines, 0) - 1, -1):
            self.readline.remove_history_item(position)
        self.readline.add_history(statement)

    def save(self) -> None:
        if self.readline is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.readline.write_history_file(self.path)
        except OSError as err:
            print(f"{PROG} query: history not saved: {err}", file=sys.stderr)
