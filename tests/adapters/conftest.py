"""Fixtures for the Lambda adapter: a clean, configured handler module per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from transform_core.adapters import firehose

EXAMPLE_SPEC = Path(__file__).resolve().parents[2] / "examples" / "iot" / "pipeline.yaml"


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """TRANSFORM_CORE_SPEC names the example spec and no pipeline is cached yet (a cold start)."""
    monkeypatch.setenv(firehose.SPEC_ENV, str(EXAMPLE_SPEC))
    monkeypatch.setattr(firehose, "_PIPELINE", None)
    yield
