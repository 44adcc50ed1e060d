"""Dotted struct fields in lake SQL: ``user.country`` rewritten to what Polars SQL reads, named ``user.country``.

Polars SQL reads ``tags.zone`` as a field of the struct column ``tags``, but a column named like an SQL function or
keyword (``user``, ``date``) fails to parse unquoted, and a field comes out named after its last part (``country``).
:func:`dotted_fields` quotes every part of a chain whose first part (after an optional table name or alias) is a
struct column, and names a select item that is only such a chain by its dotted path. A small tokenizer finds the
chains: string literals, quoted names and comments are left as they are, and so is everything that is not a chain.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

__all__ = ["dotted_fields", "failure", "struct_paths"]

_TOKEN = re.compile(
    r"""(?P<comment>--[^\n]*|/\*.*?\*/)
      | (?P<text>'(?:[^']|'')*')
      | (?P<quoted>"(?:[^"]|"")*")
      | (?P<name>[^\W\d][\w$]*)
      | (?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
      | (?P<space>\s+)
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
# words after a table name that start the next clause rather than name an alias
_NOT_ALIAS = frozenset(
    ("where", "join", "inner", "left", "right", "full", "outer", "cross", "natural", "on", "using", "group", "order")
    + ("having", "limit", "offset", "union", "except", "intersect", "window", "qualify", "semi", "anti", "select", "from")
)
_DUMP = re.compile(r":\s*\w+\((?:\w+\()*\w+ \{.*", re.DOTALL)  # a Rust debug print of the parsed SQL
_FUNCTION = re.compile(r"unsupported function '([^']+)'")
# the keywords that start a clause: a select item is a chain in the select clause of its own parenthesis depth
_CLAUSES = frozenset(
    ("select", "from", "where", "group", "order", "having", "limit", "offset", "union", "except", "intersect", "window")
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str

    @property
    def word(self) -> str:
        """The keyword this token is, lowercased; empty for anything but an unquoted name."""
        return self.text.lower() if self.kind == "name" else ""

    @property
    def ident(self) -> str:
        """The name this token spells, quotes removed."""
        return self.text[1:-1].replace('""', '"') if self.kind == "quoted" else self.text


def struct_paths(dtype: pl.DataType, prefix: str) -> dict[str, pl.DataType]:
    """``prefix`` and every struct field under it by dotted path, with its dtype (lists are not entered)."""
    paths: dict[str, pl.DataType] = {prefix: dtype}
    if isinstance(dtype, pl.Struct):
        for field in dtype.fields:
            inner = field.dtype if isinstance(field.dtype, pl.DataType) else field.dtype()
            paths |= struct_paths(inner, f"{prefix}.{field.name}")
    return paths


def dotted_fields(sql: str, schemas: Mapping[str, Mapping[str, pl.DataType]]) -> str:
    """``sql`` with every dotted struct field quoted part by part and, as a whole select item, named by its path.

    Args:
        sql: one SQL query.
        schemas: each table's columns and dtypes, keyed by the table's name.
    """
    structs = {name for schema in schemas.values() for name, dtype in schema.items() if isinstance(dtype, pl.Struct)}
    if not structs:
        return sql
    tokens = [_Token(str(m.lastgroup), m.group()) for m in _TOKEN.finditer(sql)]
    qualifiers = _qualifiers(tokens, set(schemas))
    out: list[str] = []
    clause: list[str] = [""]  # the clause each open parenthesis is in; [0]: the statement's
    i = 0
    while i < len(tokens):
        token = tokens[i]
        end = _chain_end(tokens, i)
        star = end + 1 < len(tokens) and tokens[end].text == "." and tokens[end + 1].text == "*"
        if (end > i + 1 or star) and not _before_call(tokens, end, star):
            parts = [tokens[j].ident for j in range(i, end, 2)]
            start = 1 if parts[0] in qualifiers and len(parts) > 2 and parts[1] in structs else 0
            if parts[start] in structs and (start == 1 or parts[0] not in qualifiers):
                text = ".".join([*(tokens[j].text for j in range(i, i + 2 * start, 2)), *map(_quote, parts[start:])])
                if clause[-1] == "select" and not star and _whole_item(tokens, i, end):
                    text += f" AS {_quote('.'.join(parts[start:]))}"
                out.append(text)
                i = end
                continue
        if token.text == "(":
            clause.append("")
        elif token.text == ")" and len(clause) > 1:
            clause.pop()
        elif token.word in _CLAUSES:
            clause[-1] = token.word
        out.append(token.text)
        i += 1
    return "".join(out)


def failure(err: Exception, schemas: Mapping[str, Mapping[str, pl.DataType]]) -> str:
    """Polars' error as one line: its message without the plan it appends, parser dumps cut, struct fields listed."""
    # Polars appends "Resolved plan until failure" to column errors: the paragraphs before it are the message
    paragraphs = str(err).strip().split("\n\n")
    kept = [p.strip() for p in paragraphs[: next((i for i, p in enumerate(paragraphs) if p.startswith("Resolved plan")), None)]]
    message = " ".join(_DUMP.sub("", "; ".join(kept)).split())
    columns = {name for schema in schemas.values() for name in schema}
    if isinstance(err, pl.exceptions.StructFieldNotFoundError):
        fields = sorted(
            {path for schema in schemas.values() for name, dtype in schema.items() for path in struct_paths(dtype, name)}
            - columns
        )
        return f'unable to find struct field "{message}"; struct fields: {", ".join(fields) or "none"}'
    if (function := _FUNCTION.search(message)) is not None and function[1] in columns:
        return f'{message}; "{function[1]}" is a column: quote a column named like an SQL function or keyword'
    if "dot-notation" in message or "field access" in message or "struct column named" in message:
        structs = sorted({name for schema in schemas.values() for name, dtype in schema.items() if isinstance(dtype, pl.Struct)})
        return f"{message}: a struct's field is column.field, and the struct columns are {', '.join(structs) or 'none'}"
    return message


def _chain_end(tokens: list[_Token], i: int) -> int:
    """The index after a chain ``a.b[.c…]`` starting at ``i`` (``i + 1`` when there is none)."""
    if tokens[i].kind not in ("name", "quoted") or (i > 0 and tokens[i - 1].text == "."):
        return i + 1
    end = i + 1
    while end + 1 < len(tokens) and tokens[end].text == "." and tokens[end + 1].kind in ("name", "quoted"):
        end += 2
    return end


def _before_call(tokens: list[_Token], end: int, star: bool) -> bool:
    """Whether the chain ending at ``end`` names a function (``schema.f(…)``) rather than a value or ``user.*``."""
    return end < len(tokens) and (tokens[end].text == "(" or (tokens[end].text == "." and not star))


def _next(tokens: list[_Token], i: int, step: int = 1) -> int | None:
    """The index of the first token from ``i`` on (``step``: the direction) that is no space or comment."""
    while 0 <= i < len(tokens):
        if tokens[i].kind not in ("space", "comment"):
            return i
        i += step
    return None


def _whole_item(tokens: list[_Token], start: int, end: int) -> bool:
    """Whether the chain at ``start:end`` is a whole select item, with no alias of its own."""
    before, after = _next(tokens, start - 1, -1), _next(tokens, end)
    opens = before is not None and (tokens[before].text == "," or tokens[before].word in ("select", "distinct", "all"))
    closes = after is None or tokens[after].text in (",", ")", ";") or tokens[after].word == "from"
    return opens and closes


def _qualifiers(tokens: list[_Token], tables: set[str]) -> set[str]:
    """Table names, their aliases and the names of subqueries and CTEs: the names that may qualify a column."""
    names = set(tables)
    for i, token in enumerate(tokens):
        following = _next(tokens, i + 1)
        if token.text == ")" or (token.kind in ("name", "quoted") and token.ident in tables):
            alias = following  # FROM t [AS] alias, (…) [AS] alias
            if alias is not None and tokens[alias].word == "as":
                alias = _next(tokens, alias + 1)
            if alias is not None and tokens[alias].kind in ("name", "quoted") and tokens[alias].word not in _NOT_ALIAS:
                names.add(tokens[alias].ident)
        elif token.kind in ("name", "quoted") and following is not None and tokens[following].word == "as":
            body = _next(tokens, following + 1)  # WITH name AS (…)
            if body is not None and tokens[body].text == "(":
                names.add(token.ident)
    return names


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
