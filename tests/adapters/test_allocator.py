"""The Lambda adapters keep Polars' freed pages between invocations (see transform_core/adapters/allocator.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from transform_core.adapters import allocator

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SPEC = REPO / "examples" / "iot" / "pipeline.yaml"

IMPORT_CHILD = r"""
import json, os, sys
import transform_core.adapters.firehose
print(json.dumps(os.environ.get("_RJEM_MALLOC_CONF")))
"""

# Two batches a little over a second apart, as invocations are: the page faults of the second one.
FAULTS_CHILD = r"""
import resource, sys, time
import transform_core.adapters.firehose as firehose
from transform_core import RecordBatch
from transform_core.demo.generate import firehose_event, iot_payloads
batch = RecordBatch.from_firehose_event(firehose_event(iot_payloads(4000, 0.0, seed=3)))
firehose._PIPELINE.process(batch)
time.sleep(1.5)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
firehose._PIPELINE.process(batch)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _child(code: str, **extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != allocator.JEMALLOC_ENV}
    env |= {"PYTHONPATH": str(REPO), "TRANSFORM_CORE_SPEC": str(EXAMPLE_SPEC), **extra}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


# Polars puts its own defaults first (dirty_decay_ms:500,muzzy_decay_ms:1000); jemalloc lets the last setting win.


def test_the_handler_module_sets_the_allocator_before_polars_loads() -> None:
    assert json.loads(_child(IMPORT_CHILD)).endswith("," + allocator.KEEP_FREED_PAGES)


def test_a_configured_value_wins() -> None:
    assert json.loads(_child(IMPORT_CHILD, _RJEM_MALLOC_CONF="dirty_decay_ms:5000")).endswith(",dirty_decay_ms:5000")


def test_too_late_once_polars_is_loaded() -> None:
    import polars  # noqa: F401  (loaded by this test process anyway)

    assert allocator.keep_freed_pages() is False


def test_kept_pages_spare_the_next_invocation_its_page_faults() -> None:
    kept = int(_child(FAULTS_CHILD))
    returned = int(_child(FAULTS_CHILD, _RJEM_MALLOC_CONF="dirty_decay_ms:0,muzzy_decay_ms:0"))  # give pages back at once
    assert kept * 2 < returned, (kept, returned)
