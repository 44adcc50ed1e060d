"""The shell commands README.md and docs/*.md print, as a reader would copy them, and a runner for them.

Which text is a command:

- every command of a ```sh (or bash, shell) block: a line, its ``\\`` continuations, a quoted string over several
  lines, a here-document, or a ``for … done`` loop; comment lines are not commands;
- in a ``` block without a language, the lines that start with a command prefix (give output a ```text block);
- an inline code span that starts with a command prefix and gives at least one value or path, so
  ``transform-core compact`` (a command's name), ``make test`` or ``transform-core reprocess --dry-run`` (an option's
  name) are prose, and one with a placeholder (``…``, ``<ARN>``, ``SPEC``) is a synopsis.

A command that cannot run on one machine without AWS or a long wait is marked in the Markdown, right before its block
or inline span, with ``<!-- not run: REASON -->`` (the whole block) or ``<!-- not run where "TEXT" or "TEXT": REASON -->``
(the block's commands that contain one of the texts). A command whose next line says ``# in another terminal`` runs
in the background until that one ends, then gets Ctrl-C (SIGINT), as a reader would stop it. A command exits 0 unless
a comment on it says otherwise: ``transform-core explain … --line 2 records.ndjson   # exit 1: rejected``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PREFIXES = (".venv/bin/transform-core", "transform-core", "python -m transform_core", "make")
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell"})
ANOTHER_TERMINAL = "# in another terminal"
TIMEOUT_S = 300  # a guard against a hang, not a measurement

_FENCE = re.compile(r"^\s*```\s*([\w-]*)")
_MARKER = re.compile(r'<!--\s*not run(?P<where>\s+where(?:\s+(?:or\s+)?"[^"]+")+)?:\s*(?P<reason>.*?)\s*-->')
_QUOTED = re.compile(r'"([^"]+)"')
_SPAN = re.compile(r"`([^`\n]+)`")
_PLACEHOLDER = re.compile(r"…|<[^<>]*>|\b[A-Z][A-Z_]{2,}\b(?![=a-z])|\|")
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
_EXIT = re.compile(r"#\s*exit (?:status )?(\d+)\b")
_COMPOUND = {"for": "done", "while": "done", "until": "done", "if": "fi", "case": "esac"}


@dataclass(frozen=True)
class Marker:
    """A ``<!-- not run … -->`` comment: the reason, and the texts that select commands (none: all of them)."""

    reason: str
    where: tuple[str, ...]
    line: int

    def selects(self, command: str) -> bool:
        return not self.where or any(text in command for text in self.where)


@dataclass(frozen=True)
class DocCommand:
    """One command as printed: its file, its first line, its text, and why it is not run (None: it runs)."""

    path: str
    line: int
    text: str
    not_run: str | None = None
    background: bool = False  # runs until the next command ends (that one says "in another terminal")

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def expected_status(self) -> int:
        """0, or the status a ``# exit N`` comment on the command says it has."""
        found = _EXIT.search(self.text)
        return int(found.group(1)) if found else 0


@dataclass
class Document:
    """The commands of one Markdown file, and the markers that selected nothing (stale ones)."""

    commands: list[DocCommand] = field(default_factory=list)
    unused_markers: list[Marker] = field(default_factory=list)


def doc_files(root: Path) -> list[Path]:
    """README.md, then docs/*.md in name order: the order the test runs them in."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def read_document(path: Path, root: Path) -> Document:
    """The commands of ``path`` in document order."""
    name = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    doc = Document()
    pending: list[Marker] = []  # the markers since the last command or block

    def claim(text: str) -> str | None:
        for marker in pending:
            if marker.selects(text):
                used[marker] = True
                return marker.reason
        return None

    used: dict[Marker, bool] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence:
            end = next((j for j in range(index + 1, len(lines)) if lines[j].strip().startswith("```")), len(lines))
            body = list(enumerate(lines[index + 1 : end], start=index + 2))
            commands = _block_commands(fence.group(1).lower(), body)
            for number, text in commands:
                doc.commands.append(DocCommand(name, number, text, claim(text)))
            pending = []
            index = end + 1
            continue
        for kind, value, _ in _inline_items(line):
            if kind == "marker":
                pending.append(_marker(value, index + 1))
                used.setdefault(pending[-1], False)
            elif _is_command_span(value):
                text = value.group(1).strip()
                doc.commands.append(DocCommand(name, index + 1, text, claim(text)))
                pending = []
        index += 1
    doc.unused_markers = [marker for marker, was_used in used.items() if not was_used]
    doc.commands = _pair_background(doc.commands)
    return doc


def _marker(match: re.Match[str], line: int) -> Marker:
    where = tuple(_QUOTED.findall(match.group("where") or ""))
    return Marker(match.group("reason"), where, line)


def _inline_items(line: str) -> list[tuple[str, re.Match[str], int]]:
    """The line's markers and code spans, in the order they appear."""
    items = [("marker", m, m.start()) for m in _MARKER.finditer(line)]
    items += [("span", m, m.start()) for m in _SPAN.finditer(line) if not _inside(m.start(), items)]
    return sorted(items, key=lambda item: item[2])


def _inside(position: int, markers: Sequence[tuple[str, re.Match[str], int]]) -> bool:
    return any(m.start() <= position < m.end() for _, m, _ in markers)


def _is_command_span(match: re.Match[str]) -> bool:
    text = match.group(1).strip()
    if not _has_prefix(text) or _PLACEHOLDER.search(re.sub(r"'[^']*'|\"[^\"]*\"", "", text)):
        return False
    words = text.split()
    rest = words[3:] if text.startswith("python -m") else words[1:]
    while rest and re.fullmatch(r"[a-z][\w.-]*", rest[0]):
        rest = rest[1:]  # the command's words
    return any(not word.startswith("-") for word in rest)


def _has_prefix(text: str) -> bool:
    return any(text == prefix or text.startswith(prefix + " ") for prefix in PREFIXES)


def _block_commands(language: str, body: list[tuple[int, str]]) -> list[tuple[int, str]]:
    if language in SHELL_LANGUAGES:
        return split_commands(body)
    if language == "":
        return [(n, text) for n, text in split_commands(body) if _has_prefix(text.strip())]
    return []


def split_commands(body: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Group a shell block's lines into commands: continuations, open quotes, here-documents and loops."""
    commands: list[tuple[int, str]] = []
    current: list[str] = []
    first = 0
    heredoc: str | None = None
    closer: str | None = None
    for number, line in body:
        if not current:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            first = number
            keyword = line.split()[0]
            closer = _COMPOUND.get(keyword)
        current.append(line)
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            else:
                continue
        else:
            open_quote, continued, opened = _scan(line, "\n".join(current[:-1]))
            if opened:
                heredoc = opened
                continue
            if open_quote or continued:
                continue
        if closer is not None and line.split()[:1] != [closer] and not line.rstrip().endswith(closer):
            continue
        commands.append((first, "\n".join(current)))
        current = []
    if current:
        commands.append((first, "\n".join(current)))
    return commands


def _scan(line: str, before: str) -> tuple[bool, bool, str | None]:
    """(an open quote, a line-continuing backslash, a here-document's end word) of a command's text so far."""
    text = (f"{before}\n{line}" if before else line).rstrip(" \t")
    line_start = len(text) - len(line.rstrip(" \t"))
    quote: str | None = None
    continued = False
    heredoc: str | None = None
    i = 0
    while i < len(text):
        char = text[i]
        if quote == "'":
            quote = None if char == "'" else quote
        elif char == "\\":
            continued = i == len(text) - 1
            i += 1  # the escaped character
        elif quote == '"':
            quote = None if char == '"' else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or text[i - 1] in " \t\n"):
            end = text.find("\n", i)  # a comment, to the end of its line
            i = len(text) if end < 0 else end
            continue
        elif char == "<" and i >= line_start and (found := _HEREDOC.match(text, i)):
            heredoc = found.group(2)
            i = found.end()
            continue
        i += 1
    return quote is not None, continued, heredoc


def _pair_background(commands: list[DocCommand]) -> list[DocCommand]:
    paired: list[DocCommand] = []
    for position, command in enumerate(commands):
        after = commands[position + 1] if position + 1 < len(commands) else None
        if after is not None and ANOTHER_TERMINAL in after.text and after.not_run is None and command.not_run is None:
            command = DocCommand(command.path, command.line, command.text, None, background=True)
        paired.append(command)
    return paired


@dataclass(frozen=True)
class Outcome:
    """What a command did: its exit status and its output (stdout, then stderr)."""

    status: int
    output: str


class Runner:
    """Runs commands in order in one folder, each once, with the venv's bin first on PATH."""

    def __init__(self, commands: Sequence[DocCommand], cwd: Path, bin_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self._commands = [command for command in commands if command.not_run is None]
        self._cwd = cwd
        path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        self._env = {**os.environ, **(env or {}), "PATH": path}
        self._env.pop("VIRTUAL_ENV", None)
        self._outcomes: dict[str, Outcome] = {}
        self._background: tuple[DocCommand, subprocess.Popen[str], _Reader] | None = None

    def outcome(self, command: DocCommand) -> Outcome:
        """Run every command up to ``command`` that has not run yet, then return what ``command`` did."""
        pending = (each for each in self._commands if each.id not in self._outcomes)
        while command.id not in self._outcomes:  # a background command's ends with the command after it
            self._run(next(pending))
        return self._outcomes[command.id]

    def _run(self, command: DocCommand) -> None:
        if command.background:
            self._start(command)
            return
        result = subprocess.run(  # noqa: S603 - the documentation's own commands
            ["bash", "-o", "pipefail", "-c", command.text],
            cwd=self._cwd,
            env=self._env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        self._outcomes[command.id] = Outcome(result.returncode, result.stdout + result.stderr)
        if self._background is not None:
            self._stop_background()

    def _start(self, command: DocCommand) -> None:
        process = subprocess.Popen(  # noqa: S603 - the documentation's own commands
            ["bash", "-o", "pipefail", "-c", f"exec {command.text}"],
            cwd=self._cwd,
            env=self._env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        reader = _Reader(process)
        self._background = (command, process, reader)
        if not reader.ready.wait(TIMEOUT_S):
            self._stop_background()

    def _stop_background(self) -> None:
        assert self._background is not None
        command, process, reader = self._background
        self._background = None
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # Ctrl-C, as the reader stops it
        try:
            status = process.wait(TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            status = process.wait()
        reader.join()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        self._outcomes[command.id] = Outcome(status, reader.stdout() + reader.stderr())

    def close(self) -> None:
        """Stop a background command left running."""
        if self._background is not None:
            self._stop_background()


class _Reader:
    """Drains a background process's pipes; ``ready`` is set once it says where it listens (or ends)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.ready = threading.Event()
        self._out: list[str] = []
        self._err: list[str] = []
        assert process.stdout is not None and process.stderr is not None
        self._threads = [
            threading.Thread(target=self._drain, args=(process.stdout, self._out), daemon=True),
            threading.Thread(target=self._drain, args=(process.stderr, self._err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _drain(self, stream: Iterable[str], sink: list[str]) -> None:
        for line in stream:
            sink.append(line)
            if line.startswith("POST http") or " POST http" in line:
                self.ready.set()
        self.ready.set()

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def stdout(self) -> str:
        return "".join(self._out)

    def stderr(self) -> str:
        return "".join(self._err)


def scratch_copy(root: Path, target: Path, venv: Path) -> Path:
    """The tracked files of ``root`` as they are in its working tree, copied to ``target``, with ``.venv`` linked."""
    listed = subprocess.run(  # noqa: S603, S607 - git from PATH
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = root / name
        if source.is_file():
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    (target / ".venv").symlink_to(venv, target_is_directory=True)
    return target
