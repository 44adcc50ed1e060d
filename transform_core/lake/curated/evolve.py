"""The curated table's schema follows the spec: new columns are added, nothing is cast, nothing is dropped.

The spec's lake columns (:meth:`~.schema.CuratedLayout.iceberg_schema`) are compared with the table's by name,
nested fields included. A column or struct field the spec adds is added to the table as optional (rows written
before read it as null), in one schema commit ahead of the run's data commit: Iceberg assigns it a new field id, so
old data files are never rewritten or cast. A column whose type differs, or one the table has and the spec no
longer declares, is refused with the column, both types and what to do, before anything is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from transform_core.errors import CommitConflictError
from transform_core.lake.curated.schema import CuratedLayout

if TYPE_CHECKING:
    from pyiceberg.table import Table
    from pyiceberg.types import IcebergType, StructType

__all__ = ["SchemaChange", "evolve", "schema_change"]

ATTEMPTS = 4  # schema commits lost to a concurrent writer before the run gives up


@dataclass(frozen=True, kw_only=True)
class SchemaChange:
    """How the spec's columns differ from the table's, by dotted name (``point.z``; a list's element is ``[]``)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()  # in the table, not in the spec
    changed: tuple[tuple[str, str, str], ...] = ()  # (name, the table's type, the spec's type)


def schema_change(table_schema: StructType, spec_schema: StructType) -> SchemaChange:
    """What differs between the table's columns and the spec's (field ids and order do not count)."""
    added: list[str] = []
    removed: list[str] = []
    changed: list[tuple[str, str, str]] = []
    _compare(table_schema, spec_schema, "", added, removed, changed)
    return SchemaChange(added=tuple(added), removed=tuple(removed), changed=tuple(changed))


def evolve(table: Table, layout: CuratedLayout) -> Table:
    """The table with the spec's new columns added (committed), or as it is when nothing is new.

    Raises:
        ValueError: a column changes type, or the spec no longer declares one the table has.
        CommitConflictError: other writers changed the table under each schema commit.
    """
    from pyiceberg.exceptions import CommitFailedException

    name = ".".join(layout.identifier)
    wanted = layout.iceberg_schema()
    for _ in range(ATTEMPTS):
        change = schema_change(table.schema().as_struct(), wanted.as_struct())
        _refuse(name, change)
        if not change.added:
            return table
        try:
            with table.update_schema() as update:
                update.union_by_name(wanted)
        except CommitFailedException:
            table = table.refresh()  # another run added them, or something else: compare again
            continue
        return table.refresh()
    raise CommitConflictError(
        f"the curated table {name} changed under each of {ATTEMPTS} schema commits of this run; run it again"
    )


def _refuse(name: str, change: SchemaChange) -> None:
    if change.changed:
        column, old, new = change.changed[0]
        raise ValueError(
            f"the curated table {name}: column {column} is {old} in the table and {new} in the spec; Iceberg keeps a "
            "column's type and old rows are never cast: declare the new type under a new property name, or drop the "
            "table and run compact again to rebuild it from the raw zone"
        )
    if change.removed:
        columns = ", ".join(change.removed)
        raise ValueError(
            f"the curated table {name} has columns the spec no longer declares ({columns}); a table keeps its columns: "
            "declare them again (optional, so new records may leave them out), or drop them from the table first "
            f"(Athena: ALTER TABLE {name} DROP COLUMN …)"
        )


def _compare(
    have: StructType, want: StructType, prefix: str, added: list[str], removed: list[str], changed: list[tuple[str, str, str]]
) -> None:
    have_fields = {f.name: f for f in have.fields}
    want_names = {f.name for f in want.fields}
    for field in want.fields:
        path = f"{prefix}{field.name}"
        old = have_fields.get(field.name)
        if old is None:
            added.append(path)
        else:
            _compare_types(old.field_type, field.field_type, path, added, removed, changed)
    removed.extend(f"{prefix}{name}" for name in have_fields if name not in want_names)


def _compare_types(
    old: IcebergType, new: IcebergType, path: str, added: list[str], removed: list[str], changed: list[tuple[str, str, str]]
) -> None:
    from pyiceberg.types import ListType, StructType

    if isinstance(old, StructType) and isinstance(new, StructType):
        _compare(old, new, f"{path}.", added, removed, changed)
    elif isinstance(old, ListType) and isinstance(new, ListType):
        _compare_types(old.element_type, new.element_type, f"{path}[]", added, removed, changed)
    elif old.is_primitive and new.is_primitive and old == new:
        return
    else:
        changed.append((path, _type_name(old), _type_name(new)))


def _type_name(kind: IcebergType) -> str:
    """Short: ``struct<…>``/``list<…>`` instead of every nested field."""
    from pyiceberg.types import ListType, StructType

    if isinstance(kind, StructType):
        return "struct<…>"
    if isinstance(kind, ListType):
        return f"list<{_type_name(kind.element_type)}>"
    return str(kind)
