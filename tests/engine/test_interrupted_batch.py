"""A batch cut short by an exception (a bug, a MemoryError, Ctrl-C in a batch job) raises it to the caller.

The queries the engine handed to Polars' threads are waited for: Polars' thread panics if it finishes a query
whose handle was dropped, and the panic aborts the process. Each batch runs in a child process, which an abort
would end without a word.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

_CHILD = """
import sys, time
from transform_core import RecordBatch, load_pipeline
from transform_core.engine import decode, outcome
from transform_core.engine import pipeline as engine_pipeline
from transform_core.demo.run import EXAMPLE_SPEC
from transform_core.demo.generate import firehose_event, iot_payloads
pipeline = load_pipeline(EXAMPLE_SPEC)
batch = RecordBatch.from_firehose_event(firehose_event(iot_payloads(20_000, 0.02, seed=5)))
module, name = {"decode": decode, "pipeline": engine_pipeline, "outcome": outcome}[sys.argv[1]], sys.argv[2]
def broken(*args, **kwargs):
    raise MemoryError("injected")
setattr(module, name, broken)
try:
    pipeline.process(batch)
except MemoryError as err:
    print(err)
time.sleep(1)  # the queries under way when the exception was raised end meanwhile
print("alive")
"""


@pytest.mark.parametrize(
    ("module", "stage"),
    [
        ("decode", "_decode_records"),  # the text queries are under way
        ("pipeline", "screen"),  # the checks are under way
        ("outcome", "_run_steps"),  # every query handed over is in
    ],
)
def test_an_exception_mid_batch_reaches_the_caller_and_the_process_lives(module: str, stage: str) -> None:
    child = subprocess.run([sys.executable, "-c", _CHILD, module, stage], capture_output=True, text=True, timeout=120)
    assert (child.returncode, child.stdout) == (0, "injected\nalive\n"), child.stderr[-2000:]
