"""A Lambda Runtime API on 127.0.0.1 for tests: the package's own (:mod:`transform_core.local.runtime_api_server`),
which serves queued events and records what the runtime posts."""

from __future__ import annotations

from transform_core.local.runtime_api_server import WAIT_S, LocalRuntimeApi, Posted, local_runtime_api

__all__ = ["WAIT_S", "LocalRuntimeApi", "Posted", "local_runtime_api"]
