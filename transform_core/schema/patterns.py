"""Run JSON Schema ``pattern`` rules in Polars (Rust regex) where that is provably the same check.

The reference reads a pattern as Python's ``re.search`` (with ECMA's ``$``, see
:func:`transform_core.schema.formats.ecma_pattern`). Rust's regex engine agrees with it on a plain
subset of the syntax once the classes that differ are spelled out for ASCII text: ``\\d`` is
``[0-9]``, ``\\w`` is ``[0-9A-Za-z_]`` and ``\\s`` is Python's ASCII whitespace. So a pattern
in that subset runs vectorized on ASCII values, and non-ASCII values (rare in keys and codes)
still go through Python's ``re``. Anything else — lookaround, backreferences, flags, possessive
quantifiers, nested classes — stays a per-value Python check inside the decode.
"""

from __future__ import annotations

__all__ = ["rust_pattern"]

_ESCAPES = {"d": "[0-9]", "D": "[^0-9]", "w": "[0-9A-Za-z_]", "W": "[^0-9A-Za-z_]"}
_ESCAPES |= {"s": r"[\t\n\x0b\x0c\r\x1c-\x1f ]", "S": r"[^\t\n\x0b\x0c\r\x1c-\x1f ]"}
_CLASS_ESCAPES = {"d": "0-9", "w": "0-9A-Za-z_", "s": r"\t\n\x0b\x0c\r\x1c-\x1f "}
_PUNCTUATION = frozenset("!\"#%&',-./:;<=>@`~ ")  # escaped, a literal in Python; plain in Rust
_META = frozenset("\\.+*?()|[]{}^$#&-~")  # to be a literal in Rust, these need a backslash
_CLASS_META = frozenset("\\[]^-&~")


def rust_pattern(python_pattern: str) -> str | None:
    """The Rust regex equal to ``python_pattern`` on ASCII strings, or None outside the subset.

    ``python_pattern`` is the translated pattern (``$`` already ``\\Z``).
    """
    try:
        translated = _Translator(python_pattern).translate()
    except _Unsupported:
        return None
    try:
        import polars as pl

        pl.Series([""], dtype=pl.String).str.contains(translated)  # Rust must accept it too
    except pl.exceptions.PolarsError:
        return None
    return translated


def _literal(char: str, meta: frozenset[str]) -> str:
    return "\\" + char if char in meta else char


class _Unsupported(Exception):
    pass


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def peek(self, offset: int = 0) -> str:
        j = self.i + offset
        return self.p[j] if j < len(self.p) else ""

    def translate(self) -> str:
        out: list[str] = []
        while self.i < len(self.p):
            char = self.p[self.i]
            if char == "\\":
                out.append(self.escape())
            elif char == "[":
                out.append(self.char_class())
            elif char == "(":
                opener = "(?:" if self.p.startswith("(?:", self.i) else "("
                if opener == "(" and self.peek(1) == "?":
                    raise _Unsupported  # lookaround, named groups, inline flags
                out.append(opener)
                self.i += len(opener)
            elif char == "{":
                out.append(self.repeat())
            elif char in "*+?":
                self.i += 1
                out.append(char + self.quantifier_suffix())
            elif char in ")|^.":
                out.append(char)
                self.i += 1
            elif char in "}]":
                raise _Unsupported  # a literal in Python, an error in Rust
            else:
                out.append(_literal(char, _META))
                self.i += 1
        return "".join(out)

    def quantifier_suffix(self) -> str:
        suffix = ""
        if self.peek() == "?":
            suffix = "?"
            self.i += 1
        if self.peek() == "+":
            raise _Unsupported  # possessive quantifiers (Python 3.11+) are unknown to Rust
        return suffix

    def repeat(self) -> str:
        end = self.p.find("}", self.i)
        body = self.p[self.i + 1 : end] if end > 0 else ""
        low, comma, high = body.partition(",")
        if end < 0 or not low.isdigit() or (high and not high.isdigit()):
            raise _Unsupported  # a literal brace, or `{,n}`, which the engines read differently
        self.i = end + 1
        return "{" + low + comma + high + "}" + self.quantifier_suffix()

    def escape(self) -> str:
        char = self.peek(1)
        self.i += 2
        if char in _ESCAPES:
            return _ESCAPES[char]
        if char == "Z":
            return r"\z"
        if char in _META:
            return "\\" + char
        if char in _PUNCTUATION:
            return char
        raise _Unsupported  # \b, \A, backreferences, \x.., \u.., …

    def char_class(self) -> str:
        self.i += 1
        parts = ["["]
        if self.peek() == "^":
            parts.append("^")
            self.i += 1
        first = True
        while True:
            char = self.peek()
            if char == "":
                raise _Unsupported
            if char == "]" and not first:
                self.i += 1
                return "".join(parts) + "]"
            if char == "\\":
                escaped = self.peek(1)
                self.i += 2
                if escaped in _CLASS_ESCAPES:
                    parts.append(_CLASS_ESCAPES[escaped])
                elif escaped in _META or escaped in _PUNCTUATION:
                    parts.append(_literal(escaped, _CLASS_META))
                else:
                    raise _Unsupported
            elif char in "[&~" or (char == "-" and self.peek(1) == "-"):
                raise _Unsupported  # nested classes and set operations in Rust
            elif char == "-" and not first and self.peek(1) != "]":
                parts.append("-")  # a range
                self.i += 1
            else:
                parts.append(_literal(char, _CLASS_META))
                self.i += 1
            first = False
