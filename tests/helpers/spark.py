"""Spark test helpers: the example spec, the Arrow batch size the session uses, and reading a lake zone back."""

from __future__ import annotations

from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "iot" / "pipeline.yaml"
ARROW_BATCH = 128


def read_lake_zone(folder: Path, keys: tuple[str, ...] = ("year", "month", "day")) -> pl.DataFrame:
    """Every Parquet file below ``folder`` (not Spark's ``_SUCCESS`` and ``.crc`` files), partition columns as text."""
    return pl.scan_parquet(
        folder / "**" / "*.parquet", hive_partitioning=True, hive_schema={key: pl.String for key in keys}
    ).collect()
