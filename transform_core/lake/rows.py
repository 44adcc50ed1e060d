"""Lake rows: an outcome frame's Ok records as typed lake columns, in Polars.

The one place that turns validated record text into the lake table's rows (``docs/lake.md``, "Columns"). The lake
writer uses it batch by batch; the Spark adapter uses it on each executor, so both write the same rows.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import msgspec
import orjson
import polars as pl

from transform_core.lake.columns import (
    BATCH_ID,
    EXTRA,
    INGESTED_AT,
    SOURCE_RECORD_ID,
    UTC_MICROS,
    LakeColumns,
    convert,
    read_dtype,
)

__all__ = ["ROW", "LakeRows"]

ROW = "__row"  # the record's position in its batch, for the engine's list of rows that may carry undeclared properties
_raw_fields = msgspec.json.Decoder(dict[str, msgspec.Raw])


class LakeRows:
    """Builds the lake rows of one pipeline's Ok records.

    Args:
        columns: the column plan, from :func:`~transform_core.lake.columns.lake_columns`.
    """

    def __init__(self, columns: LakeColumns) -> None:
        self.columns = columns
        self._read_schema = {name: read_dtype(dtype) for name, dtype in columns.parsed.items()}

    def frame(
        self, ok: pl.DataFrame, batch_id: str, ingested_at: datetime, rows_with_extras: Collection[int] | None = None
    ) -> pl.DataFrame:
        """The lake rows of an outcome frame's Ok rows, partition columns included (last).

        ``rows_with_extras``: the batch rows (the ``ROW`` column of ``ok``) that may carry undeclared properties (the engine
        knows); no other row needs a look for ``_extra``. None: look at every row.
        """
        lines: list[bytes] = ok.get_column("data").str.decode("base64").to_list()
        columns: list[pl.Series] = []
        if self._read_schema:
            parsed = pl.read_ndjson(b"".join(lines), schema=self._read_schema)
            if parsed.height != ok.height:
                raise AssertionError(f"read {parsed.height} rows from {ok.height} Ok records")
            columns.extend(parsed.select(convert(pl.col(n), d).alias(n) for n, d in self.columns.parsed.items()).get_columns())
        if rows_with_extras is not None and not self.columns.json_text and ROW in ok.columns:
            wanted = set(rows_with_extras)
            rows = [i for i, row in enumerate(ok.get_column(ROW).to_list()) if row in wanted]
            extra = pl.Series(EXTRA, [None] * len(lines), dtype=pl.String)
            if rows:
                extra = extra.scatter(rows, self._texts([lines[i] for i in rows])[-1])
            columns.append(extra)
        else:
            columns.extend(self._texts(lines))
        frame = pl.DataFrame(columns).with_columns(
            pl.lit(ingested_at, dtype=UTC_MICROS).alias(INGESTED_AT),
            ok.get_column("record_id").alias(SOURCE_RECORD_ID),
            pl.lit(batch_id, dtype=pl.String).alias(BATCH_ID),
            *(ok.get_column(key) for key in self.columns.partition_keys),
        )
        return frame.select(pl.col(name).cast(dtype) for name, dtype in self.columns.dtypes.items())

    def _texts(self, lines: list[bytes]) -> list[pl.Series]:
        """``_extra`` and the JSON-text columns, from each record's top-level values as sent."""
        text_names = self.columns.json_text
        extras: list[str | None] = []
        texts: list[list[str | None]] = [[] for _ in text_names]
        if self.columns.extras_possible or text_names:
            known = self.columns.known
            for fields in map(_raw_fields.decode, lines):
                for values, name in zip(texts, text_names, strict=True):
                    raw = fields.get(name)
                    values.append(None if raw is None or bytes(raw) == b"null" else bytes(raw).decode())
                if fields.keys() <= known:  # the usual record: nothing undeclared
                    extras.append(None)
                    continue
                rest = [(key, raw) for key, raw in fields.items() if key not in known]
                extras.append("{" + ",".join(f"{orjson.dumps(k).decode()}:{bytes(v).decode()}" for k, v in rest) + "}")
        else:
            extras = [None] * len(lines)
        series = [pl.Series(name, values, dtype=pl.String) for name, values in zip(text_names, texts, strict=True)]
        return [*series, pl.Series(EXTRA, extras, dtype=pl.String)]
