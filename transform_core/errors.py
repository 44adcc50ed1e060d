"""Errors raised by transform-core.

Bad *data* never raises: a rejected record becomes a ``ProcessingFailed`` outcome with a reason.
Exceptions are for bad *configuration* (found at load), a bad *environment* and a bad *query*::

    TransformCoreError
    ├── SpecError          the pipeline spec, its JSON Schema or a reference table is wrong
    ├── ConfigurationEnvironmentError  something outside the spec is missing (an env var, a file at run time)
    ├── QueryError         a lake query failed (bad SQL, unknown table or column, nothing to query)
    └── CommitConflictError  other writers committed to the curated table first, every time a run tried
"""

from __future__ import annotations

__all__ = ["CommitConflictError", "ConfigurationEnvironmentError", "QueryError", "SpecError", "TransformCoreError"]


class TransformCoreError(Exception):
    """Base class of every exception transform-core raises on purpose."""


class SpecError(TransformCoreError):
    """The pipeline spec (or a file it names) is invalid; raised at load, never per record.

    Attributes:
        file: the file at fault (spec, schema or reference table), or ``"<inline>"``.
        key: where in that file, as a dotted key or a JSON pointer.
    """

    def __init__(self, message: str, *, file: str, key: str = "") -> None:
        self.message = message
        self.file = file
        self.key = key
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[object, ...]:
        # keyword-only arguments: rebuild explicitly, or a worker process cannot send it back
        return (_rebuild, (type(self), self.message, {"file": self.file, "key": self.key}))


class ConfigurationEnvironmentError(TransformCoreError):
    """The runtime environment is missing something the adapter needs (e.g. an env var)."""


class QueryError(TransformCoreError):
    """A lake query failed: the SQL does not parse, names an unknown table or column, or the lake is empty.

    Attributes:
        sql: the query text.
    """

    def __init__(self, message: str, *, sql: str) -> None:
        self.sql = sql
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), str(self), {"sql": self.sql}))


class CommitConflictError(TransformCoreError):
    """A commit to the curated table lost to concurrent writers on every attempt; the table is as they left it."""


def _rebuild(cls: type[Exception], message: str, fields: dict[str, str]) -> Exception:
    """Unpickle an error whose constructor takes keyword-only fields."""
    return cls(message, **fields)
