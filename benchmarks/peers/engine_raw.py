"""``engine-raw``: transform-core behind its own Runtime API loop: the raw event bytes in, the response bytes out.

``python -m transform_core.adapters.runtime_api`` hands each event's bytes to
:meth:`~transform_core.engine.Pipeline.process_firehose_bytes` instead of letting the managed runtime
parse them into dicts first (see ``docs/runtime.md``). Its invocation cost is that call alone: there is
no parse before it and nothing to serialize after it.
"""

from __future__ import annotations

from benchmarks.peers import RawEventHandler
from transform_core import load_pipeline

__all__ = ["make_handler"]


def make_handler(spec_path: str) -> RawEventHandler:
    """``process_firehose_bytes(body).body``, as the runtime loop calls it (without its log line)."""
    pipeline = load_pipeline(spec_path)
    return RawEventHandler(lambda body: pipeline.process_firehose_bytes(body).body)
