"""Stage: the reason of each rejected record in the order of docs/spec.md, and every rule it breaks, on demand.

The vectorized checks decide which records fail and name a failing rule, but not always the first in the documented
order: the typed decode stops at the first constraint in the record's text, and the format and pattern checks run
after it. So the reference names the first rule of each rejected record that reads
(:meth:`~transform_core.reference.ReferencePipeline.first_failure`, a walk that stops there, about 8 µs a record) and
that is the record's reason: the engine and the reference agree by construction. A record that does not read
(base64, UTF-8, depth, a duplicate key) breaks that one rule, which the checks name as the reference does. The full
list (:meth:`~transform_core.reference.ReferencePipeline.failures`, about 20 µs) is made only when asked for
(:class:`Failures`): for the records a log line, an ``errors/`` row, a report or ``explain`` shows. A batch without
rejections pays one null count.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import polars as pl

from transform_core.schema import split_reason

if TYPE_CHECKING:
    from transform_core.reference import ReferencePipeline

__all__ = ["NO_FAILURES", "Failures", "first_reasons", "rejected_rows"]

#: The failures of a batch without rejected records (a dict, read as a Mapping: a result may cross processes).
NO_FAILURES: Mapping[int, tuple[str, ...]] = {}

_READ_RULES = frozenset({"base64", "utf8", "depth", "duplicate_key"})  # judged before the schema, worded alike


def rejected_rows(outcomes: pl.DataFrame) -> bool:
    """Whether any record of the outcome frame is rejected (its reason is set exactly there): a null count."""
    return outcomes["reason"].null_count() < outcomes.height


class Failures(Mapping[int, tuple[str, ...]]):
    """Row → every rule the rejected record breaks, its reason first (listed by the reference if not yet)."""

    def __init__(
        self,
        reference: ReferencePipeline,
        reasons: Mapping[int, str],
        payloads: Sequence[bytes | None],
        arrival_ms: Sequence[int | None],
    ) -> None:
        self._reference, self._reasons, self._payloads, self._arrival = reference, reasons, payloads, arrival_ms
        self._listed: dict[int, tuple[str, ...]] = {}

    def __getitem__(self, row: int) -> tuple[str, ...]:
        if (found := self._listed.get(row)) is not None:
            return found
        reason = self._reasons[row]
        payload = self._payloads[row]
        rules = self._reference.failures(payload, self._arrival[row]) if payload is not None else []
        if reason in rules:  # the record's reason first, whatever the listing says; a rule listed twice stays twice
            rules.remove(reason)
        found = (reason, *rules)
        self._listed[row] = found
        return found

    def __contains__(self, row: object) -> bool:
        return row in self._reasons  # without listing it

    def __iter__(self) -> Iterator[int]:
        return iter(self._reasons)

    def __len__(self) -> int:
        return len(self._reasons)


def first_reasons(
    reference: ReferencePipeline, outcomes: pl.DataFrame, payloads: Sequence[bytes | None], arrival_ms: Sequence[int | None]
) -> tuple[pl.DataFrame, Failures]:
    """The outcome frame with each rejected record's reason the reference's first, and its :class:`Failures`.

    A record that does not read keeps its one reason; any other takes the reference's first.
    """
    reasons = outcomes["reason"]
    rows = reasons.is_not_null().arg_true().to_list()
    firsts = dict(zip(rows, reasons.gather(rows).to_list(), strict=True))
    changed: list[int] = []
    for i, reason in firsts.items():
        payload = payloads[i]
        if payload is None or split_reason(reason)[2] in _READ_RULES:
            continue
        first = reference.first_failure(payload, arrival_ms[i])
        if first is not None and first != reason:
            firsts[i] = first
            changed.append(i)
    if changed:
        fixed = pl.Series([firsts[i] for i in changed], dtype=pl.String)
        outcomes = outcomes.with_columns(reasons.scatter(changed, fixed))
    return outcomes, Failures(reference, firsts, payloads, arrival_ms)
