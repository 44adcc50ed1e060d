"""transform-core: validate, enrich and partition Firehose records, fast and exactly.

The public names load lazily, so ``transform-core --help`` and the error classes do not pay for
importing Polars.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transform_core.engine import BatchResult, Pipeline, load_pipeline
    from transform_core.errors import SpecError, TransformCoreError
    from transform_core.firehose.batch import RecordBatch
    from transform_core.spec import PipelineSpec, load_spec

__all__ = [
    "BatchResult",
    "Pipeline",
    "PipelineSpec",
    "RecordBatch",
    "SpecError",
    "TransformCoreError",
    "load_pipeline",
    "load_spec",
]
__version__ = "0.1.0"

_HOMES = {
    "BatchResult": "transform_core.engine.pipeline",
    "Pipeline": "transform_core.engine.pipeline",
    "load_pipeline": "transform_core.engine.pipeline",
    "RecordBatch": "transform_core.firehose.batch",
    "SpecError": "transform_core.errors",
    "TransformCoreError": "transform_core.errors",
    "PipelineSpec": "transform_core.spec",
    "load_spec": "transform_core.spec",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'transform_core' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value
