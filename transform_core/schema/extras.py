"""Which records hold, beyond what their record type decoded, only plain top-level extras.

A record whose text holds more keys than its decoded record has set fields holds properties msgspec skipped: an
additional property the schema allows, or a duplicate key that msgspec resolved silently. The record is as safe
as any other when the surplus keys are distinct top-level names the schema does not declare, with scalar (or
scalar array) values: no duplicate (it would be one key more than the distinct extras), no nested object that
could hide one, and no number too large for a double (orjson checks).

Checking that decodes each record as ``dict[str, Raw]``, which is slow. Producers send the same few extras over and
over (the generated IoT workload: ``source``, in one record of ten), so the names found plain are remembered, and
the next records are decoded first into a struct of only those names (the other properties are skipped unparsed). A record that has as many remembered names as surplus keys holds nothing
else: the surplus counts every skipped key occurrence at any depth, so it could only match if every one of them is
a distinct remembered top-level name. Any other record takes the full check.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from itertools import compress, count
from operator import attrgetter, eq
from typing import Any

import msgspec
import orjson

__all__ = ["PlainExtras"]

_UNSET = msgspec.UNSET
_TOP_LEVEL = msgspec.json.Decoder(list[dict[str, msgspec.Raw]])
# names msgspec can give a struct field (it refuses a quote, a backslash and control characters); others: full check
_NAMEABLE = re.compile(r'[^"\\\x00-\x1f]+')


class PlainExtras:
    """The plain-extras check for one record type, remembering the extra names it found plain."""

    def __init__(self, top_level: frozenset[str], *, remember: int) -> None:
        """``top_level``: the names the root object declares; ``remember``: at most this many extra names are
        remembered (beyond, the full check decides)."""
        self._top_level = top_level
        self._remember_at_most = remember
        # the remembered extra names (the struct's fields e0, e1, … in order), a decoder into that struct, and the
        # count of those names a decoded record holds: one tuple, so a reader sees the three of one generation
        self._learned: tuple[tuple[str, ...], msgspec.json.Decoder[list[Any]], Callable[[Any], int]] | None = None
        self._lock = threading.Lock()

    def check(self, payloads: list[bytes], surplus: list[int], enriched: frozenset[str]) -> list[bool]:
        """For each record (its JSON text, which decoded): True if its ``surplus`` keys are plain top-level extras.

        Args:
            payloads: the records' texts (valid JSON objects).
            surplus: keys in each text beyond the decoded record's set fields (at least 1).
            enriched: top-level names enrichment writes; a record holding one is not plain.
        """
        plain: list[bool | None] = [None] * len(payloads)
        learned = self._learned  # read once: another thread may remember more meanwhile
        if learned is not None:
            names, decoder, counter = learned
            records = decoder.decode(_array(payloads))
            found = list(compress(count(), map(eq, map(counter, records), surplus)))
            blocked = [f"e{k}" for k, name in enumerate(names) if name in enriched]  # usually none
            if blocked:
                found = [i for i in found if all(getattr(records[i], attr) is _UNSET for attr in blocked)]
            chosen = [records[i] for i in found]
            # Raw values join as bytes: all of them at once, record by record only if that fails
            values = [v for k in range(len(names)) for v in map(attrgetter(f"e{k}"), chosen) if v is not _UNSET]
            if _plain_values(values):
                for i in found:
                    plain[i] = True
            else:
                for i, record in zip(found, chosen, strict=True):
                    plain[i] = _plain_values([v for v in msgspec.structs.astuple(record) if v is not _UNSET])
        rest = [i for i, p in enumerate(plain) if p is None]
        if rest:
            tops = _TOP_LEVEL.decode(_array([payloads[i] for i in rest]))
            extras = [members.keys() - self._top_level for members in tops]
            candidates = [len(keys) == surplus[i] and keys.isdisjoint(enriched) for i, keys in zip(rest, extras, strict=True)]
            rows = [
                [bytes(members[k]) for k in keys] if ok else []
                for members, keys, ok in zip(tops, extras, candidates, strict=True)
            ]
            verdicts = [ok and good for ok, good in zip(candidates, _plain_rows(rows), strict=True)]
            for i, ok in zip(rest, verdicts, strict=True):
                plain[i] = ok
            self._remember({name for keys, ok in zip(extras, verdicts, strict=True) if ok for name in keys})
        return [bool(p) for p in plain]

    @property
    def remembered(self) -> tuple[str, ...]:
        """The extra names remembered so far."""
        return self._learned[0] if self._learned is not None else ()

    def _remember(self, found: set[str]) -> None:
        with self._lock:
            known = self.remembered
            new = sorted(name for name in found - set(known) if _NAMEABLE.fullmatch(name))
            if not new or len(known) + len(new) > self._remember_at_most:
                return
            names = (*known, *new)
            attrs = [f"e{k}" for k in range(len(names))]  # the JSON names may be any text: renamed
            try:
                extras = msgspec.defstruct(
                    "Extras", [(a, msgspec.Raw, _UNSET) for a in attrs], rename=dict(zip(attrs, names, strict=True)), gc=False
                )
            except (TypeError, ValueError):  # a name msgspec refuses beyond those screened out: only the speed-up is lost
                return
            namespace: dict[str, Any] = {"U": _UNSET}
            exec(f"def count(r, U=U):\n    return {' + '.join(f'(r.{a} is not U)' for a in attrs)}", namespace)  # e0, e1, …
            self._learned = (names, msgspec.json.Decoder(list[extras]), namespace["count"])  # type: ignore[valid-type]


def _array(payloads: list[bytes]) -> bytes:
    """The records as one JSON array (each is valid JSON, so the array decodes with exact boundaries)."""
    return b"[" + b",".join(payloads) + b"]"


def _plain_rows(rows: list[list[bytes]]) -> list[bool]:
    """For each row of raw values: True if none is or holds an object and orjson reads them all."""
    if _plain_values([v for row in rows for v in row]):
        return [True] * len(rows)
    return [_plain_values(row) for row in rows]


def _plain_values(values: list[bytes]) -> bool:
    joined = b",".join(values)
    if b"{" in joined:
        return False
    try:
        orjson.loads(b"[" + joined + b"]")
    except orjson.JSONDecodeError:
        return False
    return True
