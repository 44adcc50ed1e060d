"""The lake: processed batches as date-partitioned Parquet, rejections as NDJSON, locally or on S3.

See ``docs/lake.md``. Importing this package imports Polars (and pyarrow only on first S3 use); the Lambda
handler does not import it.
"""

from __future__ import annotations

from transform_core.lake.columns import lake_schema
from transform_core.lake.storage import list_files, read_bytes, write_atomic
from transform_core.lake.writer import LakeWriter, WriteSummary

__all__ = ["LakeWriter", "WriteSummary", "lake_schema", "list_files", "read_bytes", "write_atomic"]
