"""``--cpus N``: run the suite on N of the machine's CPUs, as a Lambda function of a given size gets them.

Lambda gives a function one vCPU up to 1,769 MB and more above (two at 3,538 MB). Polars sizes its thread pool
from the CPUs the process may use when it is first loaded, so the restriction is applied before anything
imports Polars (``benchmarks/__main__.py`` calls :func:`pin_from_argv` first); child processes inherit it.
"""

from __future__ import annotations

import os

__all__ = ["pin_from_argv", "usable_cpus"]


def pin_from_argv(argv: list[str]) -> None:
    """Restrict this process to the first N usable CPUs if ``argv`` holds ``--cpus N`` (or ``--cpus=N``)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == "--cpus" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--cpus="):
            value = arg.partition("=")[2]
    if value is None or not value.isdigit() or int(value) < 1:
        return  # argparse reports a bad value
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, cpus[: int(value)])


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0))
