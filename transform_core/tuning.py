"""The engine's speed thresholds, in one frozen value.

Each threshold is where the engine switches between two ways of doing the same work, so it changes how long a
batch takes, never what comes out: ``tests/test_tuning.py`` runs batches on either side of each one and
compares the results. The defaults suit Firehose batch sizes on one or a few CPUs; the measurements behind them are
in ``docs/benchmarks.md``. Pass a :class:`Tuning` to :class:`~transform_core.engine.Pipeline` to change one (tests
do); normal use takes the defaults.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

__all__ = ["Tuning"]


def _split_base64_default() -> int:
    import polars as pl

    return 1000 if pl.thread_pool_size() > 1 else sys.maxsize  # one CPU: no second core to decode the other half


@dataclass(frozen=True, kw_only=True, slots=True)
class Tuning:
    """Where the engine switches between two ways of doing the same work (what each trades is in its docstring)."""

    overlap_from: int = 100
    """Records from which a batch's side queries (text flags, checks, half the base64) run on Polars' threads while
    Python decodes; smaller batches run them inline, where the hand-over costs more than it hides."""

    free_in_background_from: int = 1000
    """Decoded records from which the worker thread frees them while the main query runs; fewer are freed inline
    (the hand-over costs about as much as freeing a thousand small records)."""

    split_base64_from: int = field(default_factory=_split_base64_default)
    """Records from which the base64 is decoded in two halves at once, one by Polars' threads; below, the hand-over
    costs about what the second core saves. With one CPU, never."""

    decode_chunk: int = 1024
    """Records decoded between two looks at the side queries, so that the second text query starts soon after the
    first is done."""

    loop_after: int = 64
    """Records from which the decode may leave its C-level ``map`` for a Python loop (see ``loop_share``)."""

    loop_share: int = 16
    """The decode leaves the ``map`` once more than one record in this many has failed: resuming the map after each
    failure then costs more than a loop step per record."""

    spaced_search_in_polars_above: int = 256
    """More records holding whitespace than this are searched for whitespace between tokens by a Polars query (its
    regex scans faster, but a query has a fixed cost); fewer by Python's ``re``."""

    streaming_from: int = 3500
    """Rows from which the main query runs on Polars' streaming engine, spread over the cores; smaller batches run
    on the in-memory engine, expressions one after another (no set-up cost, no thread pool to wake)."""

    framed_response_from: int = 1000
    """Records from which the response's entries are computed by the main query and joined in Polars; smaller
    responses are written by f-strings in Python, as cheap there."""

    reason_cache_size: int = 4096
    """Distinct decode errors whose translated reason is remembered (a batch repeats the same few)."""

    remembered_extra_names: int = 32
    """Undeclared property names remembered as plain, whose records are then checked by a decode of just those
    names; beyond this many, every record with undeclared properties takes the full check."""

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ValueError(f"Tuning.{name} must be a non-negative integer, got {value!r}")
        if self.decode_chunk < 1:
            raise ValueError(f"Tuning.decode_chunk must be at least 1, got {self.decode_chunk}")
