"""transform-core: validate, enrich and partition Firehose records, fast and exactly."""

from transform_core.batch import RecordBatch
from transform_core.engine import BatchResult, Pipeline, load_pipeline
from transform_core.errors import SpecError, TransformCoreError
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
