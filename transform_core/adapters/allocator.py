"""Keep Polars' freed memory in the process between Lambda invocations.

Polars allocates with jemalloc and, at import, configures it to hand freed pages back to the kernel
within half a second to a second (``dirty_decay_ms:500,muzzy_decay_ms:1000``; pola-rs/polars#18088),
appending any ``_RJEM_MALLOC_CONF`` already set, whose settings then win.
A Lambda function's invocations arrive seconds or minutes apart, so each one found its working set
(about 100 MB for a 5 MB event) returned and faulted every page in again (docs/benchmarks.md has the
cost). Lambda
reserves the function's configured memory whether the process uses it or not, so keeping the pages
costs nothing there.

jemalloc reads the setting once, when the Polars runtime library loads: this must run before anything
imports Polars. The Lambda adapters call it at import; a value already in the environment (set in the
function's configuration, say) wins.
"""

from __future__ import annotations

import os
import sys

__all__ = ["JEMALLOC_ENV", "KEEP_FREED_PAGES", "keep_freed_pages"]

JEMALLOC_ENV = "_RJEM_MALLOC_CONF"  # the jemalloc built into Polars (tikv-jemallocator's prefixed build)
KEEP_FREED_PAGES = "dirty_decay_ms:-1,muzzy_decay_ms:-1"  # never purge: the process keeps its high-water mark


def keep_freed_pages() -> bool:
    """Ask Polars' allocator to keep freed pages; False when it is too late (Polars already loaded) or set already."""
    if "polars" in sys.modules or JEMALLOC_ENV in os.environ:
        return False
    os.environ[JEMALLOC_ENV] = KEEP_FREED_PAGES
    return True
