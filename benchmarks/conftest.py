"""Benchmark tests: response equality for every contender, and invocation timings (pytest-benchmark).

Smoke mode (``SMOKE=1`` or ``--benchmark-disable``, as ``make test`` runs it) builds the workloads
small and times nothing, so CI checks every peer against the engine in seconds. No test asserts a time.
"""

from __future__ import annotations

import os

import pytest

from benchmarks.run import Contenders


@pytest.fixture(scope="session")
def smoke(request: pytest.FixtureRequest) -> bool:
    """Small workloads: under ``SMOKE=1`` or when pytest-benchmark is disabled."""
    return bool(os.environ.get("SMOKE")) or bool(request.config.getoption("benchmark_disable"))


@pytest.fixture(scope="session")
def contenders() -> Contenders:
    """Handlers built once per contender and spec for the whole test run."""
    return Contenders()
