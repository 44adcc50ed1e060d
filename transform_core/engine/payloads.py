"""A batch given as its payloads' bytes: the engine's entry for callers that hold raw records (Spark's Arrow batches).

:class:`~transform_core.firehose.batch.RecordBatch` holds base64 text, as Firehose sends it; a caller holding the
bytes would encode every payload only for the decode to undo it. :class:`PayloadBatch` goes straight to the UTF-8
and JSON decode, and its outcome frame is the one ``Pipeline.process`` gives for the same records in base64: the
``data`` of an Ok record is its output in base64, that of any other record its payload in base64, encoded for those
records only.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import overload

import polars as pl

__all__ = ["PayloadBatch"]


@dataclass(frozen=True, slots=True)
class PayloadBatch:
    """The records of one engine call as bytes.

    Attributes:
        payloads: each record's bytes as received (Binary, or String read as its UTF-8 bytes); a null is an empty
            payload, which the engine rejects as not JSON.
        record_ids: the records' ids, in input order.
        arrival_ms: approximate arrival time in epoch milliseconds, or None.

    Raises:
        ValueError: the three do not have one value per record, or ``payloads`` is neither Binary nor String.
    """

    payloads: pl.Series
    record_ids: list[str]
    arrival_ms: list[int | None]
    _ids: pl.Series = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not (len(self.payloads) == len(self.record_ids) == len(self.arrival_ms)):
            raise ValueError(
                f"one value per record: {len(self.payloads)} payloads, {len(self.record_ids)} ids, "
                f"{len(self.arrival_ms)} arrival times"
            )
        if self.payloads.dtype not in (pl.Binary, pl.String):
            raise ValueError(f"payloads must be Binary or String, not {self.payloads.dtype}")
        object.__setattr__(self, "payloads", self.payloads.cast(pl.Binary).fill_null(b"").alias("_source"))
        object.__setattr__(self, "_ids", pl.Series("record_id", self.record_ids, dtype=pl.String))

    def __len__(self) -> int:
        return len(self.record_ids)

    @property
    def data(self) -> Sequence[str]:
        """Each payload in base64, encoded when read: the reference implementation judges a few records this way."""
        return _Base64(self.payloads)

    def data_column(self) -> pl.Series:
        """Null text in place of the base64 column: :meth:`with_sent_data` fills the rows that keep their payload."""
        return pl.Series("_source", dtype=pl.String).extend_constant(None, len(self))

    def id_column(self) -> pl.Series:
        """``record_ids`` as a String Series named ``record_id``."""
        return self._ids

    def with_sent_data(self, outcomes: pl.DataFrame) -> pl.DataFrame:
        """The outcome frame with the payload in base64 as the ``data`` of each record that has none (every record
        not Ok), as ``Pipeline.process`` gives it."""
        data = outcomes["data"]
        rows = data.is_null().arg_true()
        if not len(rows):
            return outcomes
        return outcomes.with_columns(data.scatter(rows, self.payloads.gather(rows).bin.encode("base64")))


class _Base64(Sequence[str]):
    """Base64 of each payload, computed on access."""

    def __init__(self, payloads: pl.Series) -> None:
        self._payloads = payloads

    def __len__(self) -> int:
        return len(self._payloads)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [base64.b64encode(p).decode("ascii") for p in self._payloads[index].to_list()]
        return base64.b64encode(self._payloads[index]).decode("ascii")
