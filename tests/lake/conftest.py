"""The lake tests' fixtures: the example pipeline and a processed batch (the loopback S3 server is in tests/conftest.py)."""

from __future__ import annotations

import pytest

import transform_core
from tests.helpers.lake import EXAMPLE, Processed, process
from transform_core.engine import Pipeline


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    return transform_core.load_pipeline(EXAMPLE)


@pytest.fixture(scope="session")
def processed(pipeline: Pipeline) -> Processed:
    """300 records, 10% invalid, about 5% dropped heartbeats."""
    return process(pipeline, 300, 0.1, seed=7)
