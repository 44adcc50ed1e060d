"""``engine``: transform-core as the Lambda adapter runs it: the pipeline loaded once, the response returned as bytes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transform_core import load_pipeline

__all__ = ["make_handler"]


def make_handler(spec_path: str) -> Callable[[dict[str, Any]], bytes]:
    """``transform_core.adapters.firehose.handler`` without its log line: ``process_firehose(event).body``."""
    pipeline = load_pipeline(spec_path)

    def handler(event: dict[str, Any]) -> bytes:
        return pipeline.process_firehose(event).body

    return handler
