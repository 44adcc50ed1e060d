"""The bytes a Firehose response grows by when the Lambda runtime serializes it from a dict.

The engine writes the response as compact JSON bytes, which the Python runtime posts unchanged. A handler that
returns the response as a dict (``Pipeline.handle_firehose``) has the runtime serialize it with ``json.dumps``:
``", "`` and ``": "`` separators, and by default every character outside printable ASCII escaped (``\\u00e9``).
On a full buffer that adds some 200 KB, enough to carry a response the engine kept under 6 MB past Lambda's limit, so
the dict path builds its response within the limit less these bounds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from transform_core.firehose.response import otf_metadata
from transform_core.spec import IcebergSpec

__all__ = ["escape_bound", "separator_bound"]

_HIGH = bytes(range(0x80, 0x100))


def separator_bound(records: int, partition_keys: Sequence[str], iceberg: IcebergSpec | None = None) -> int:
    """The most bytes ``json.dumps``'s separators add to the compact response of ``records`` records: each entry an
    Ok one, the entry with the most members."""
    metadata = {"otfMetadata": otf_metadata(iceberg)} if iceberg else {"partitionKeys": dict.fromkeys(partition_keys, "")}
    entry = {"recordId": "", "result": "", "data": "", "metadata": metadata}
    per_entry = len(json.dumps(entry)) - len(json.dumps(entry, separators=(",", ":")))
    return 1 + max(records - 1, 0) + records * per_entry  # after "records", between entries, within each


def escape_bound(body: bytes) -> int:
    """The most bytes escaping adds to ``body`` (compact JSON, UTF-8) serialized with ``ensure_ascii``: at most 2 per
    byte of a multi-byte character (``é``, 2 bytes, becomes 6; ``😀``, 4 bytes, 12) and 5 per DEL (``\\u007f``)."""
    if body.isascii() and b"\x7f" not in body:
        return 0
    high = len(body) - len(body.translate(None, _HIGH))
    return 2 * high + 5 * body.count(b"\x7f")
