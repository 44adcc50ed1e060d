"""The pipeline spec: the model (frozen dataclasses), the reader, and the binding of its fields to the schema
(:mod:`transform_core.spec.bindings`, which needs the compiled schema)."""

from transform_core.spec.model import (
    CuratedSpec,
    DropSpec,
    EnrichSpec,
    EventTimeSpec,
    IcebergSpec,
    MetricsSpec,
    OutputSpec,
    PartitioningSpec,
    PipelineSpec,
)
from transform_core.spec.reader import load_spec

__all__ = [
    "CuratedSpec",
    "DropSpec",
    "EnrichSpec",
    "EventTimeSpec",
    "IcebergSpec",
    "MetricsSpec",
    "OutputSpec",
    "PartitioningSpec",
    "PipelineSpec",
    "load_spec",
]
