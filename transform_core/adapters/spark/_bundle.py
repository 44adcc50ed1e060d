"""The pipeline as it travels to Spark executors, and its one load per executor process.

The driver loads the spec (so a bad spec or table fails there, at start-up) and packs the checked spec with the bytes
of its reference tables: executors need no access to the driver's files. The bundle rides in the ``mapInArrow``
function's closure; PySpark broadcasts a pickled function above ``spark.broadcast.UDFCompressionThreshold`` (1 MB)
by itself, so each executor fetches a large table once. On an executor, the first batch of a Python worker process
writes the tables to a local folder and builds the :class:`~transform_core.engine.Pipeline`; every later batch and
task in that process (Spark reuses Python workers) finds it in a module-level cache.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from transform_core.engine import Pipeline
from transform_core.lake.columns import LakeColumns, lake_columns, table_dtypes
from transform_core.lake.rows import LakeRows
from transform_core.spec import PipelineSpec

__all__ = ["LOADS", "Loaded", "PipelineBundle", "bundle_pipeline", "load"]


@dataclass(frozen=True, kw_only=True)
class PipelineBundle:
    """A checked spec and its reference tables' bytes (in ``spec.enrich`` order); ``digest`` names the content."""

    spec: PipelineSpec
    tables: tuple[bytes, ...]
    digest: str


@dataclass(frozen=True, kw_only=True)
class Loaded:
    """What an executor process builds from a bundle, once: the spec with local table paths, the engine, the lake rows."""

    spec: PipelineSpec
    pipeline: Pipeline
    columns: LakeColumns
    rows: LakeRows


_LOADED: dict[str, Loaded] = {}
LOADS: Counter[str] = Counter()  # bundle digest → pipelines built in this process (1, unless the cache failed)


def bundle_pipeline(pipeline: Pipeline) -> PipelineBundle:
    """Pack a loaded pipeline's spec and the current bytes of its reference tables."""
    spec = pipeline.spec
    tables = tuple(Path(table.source).read_bytes() for table in spec.enrich)
    digest = hashlib.sha256(pickle.dumps(spec))
    for data in tables:
        digest.update(hashlib.sha256(data).digest())
    return PipelineBundle(spec=spec, tables=tables, digest=digest.hexdigest()[:32])


def load(bundle: PipelineBundle) -> Loaded:
    """The bundle's pipeline in this process: built on first use, then reused."""
    loaded = _LOADED.get(bundle.digest)
    if loaded is None:
        folder = Path(tempfile.gettempdir(), "transform-core-tables", bundle.digest)
        enrich = tuple(
            replace(table, source=_place(folder / f"{i}-{table.source.name}", data))
            for i, (table, data) in enumerate(zip(bundle.spec.enrich, bundle.tables, strict=True))
        )
        spec = replace(bundle.spec, enrich=enrich)
        columns = lake_columns(spec, table_dtypes(spec))
        loaded = Loaded(spec=spec, pipeline=Pipeline(spec), columns=columns, rows=LakeRows(columns))
        _LOADED[bundle.digest] = loaded
        LOADS[bundle.digest] += 1
    return loaded


def _place(path: Path, data: bytes) -> Path:
    """Write a table file once per host: worker processes share it, and it never changes after (no reload)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_bytes(data)
    try:
        os.link(temp, path)  # fails if another process got there first; never replaces a file in use
    except FileExistsError:
        pass
    finally:
        temp.unlink()
    return path
