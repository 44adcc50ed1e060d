"""One compaction in a fresh interpreter, for ``benchmarks.compact_bench``: ``python compact_child.py MODULE SPEC [ROOT]``.

Run by path with ``PYTHONPATH`` set to the tree under test (this checkout, or a worktree of an older commit), so
``transform_core`` comes from that tree; this script imports nothing else of the project. ``MODULE`` names the module
whose ``compact(spec, root)`` runs (``transform_core.lake.curated`` today, ``transform_core.lake.compact`` before the
Iceberg table). Without ``ROOT`` it only imports the module (a warm-up that writes the tree's bytecode caches). Prints
one JSON line: rows in and out, data files written, the tree it ran, seconds inside the process, and its peak RSS.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

__all__ = ["main"]


def main(argv: list[str]) -> dict[str, object]:
    """Run the compaction ``argv`` names (``MODULE SPEC [ROOT]``); what it did, as the JSON line says."""
    started = time.perf_counter()
    module_name, spec_path, *root = argv
    module = importlib.import_module(module_name)
    from transform_core import __file__ as package_file
    from transform_core.spec import load_spec

    imported = time.perf_counter()
    result: dict[str, object] = {"package": package_file, "import_s": imported - started}
    if root:
        summary = module.compact(load_spec(spec_path), root[0])
        parts = summary.partitions
        files = sum(len(p.files) if isinstance(p.files, tuple) else (p.files or 0) for p in parts)  # paths before Iceberg
        result |= {
            "partitions": len(parts),
            "rows_in": sum(p.raw_rows or 0 for p in parts),
            "rows_out": sum(p.rows or 0 for p in parts),
            "data_files": files,
        }
    result["run_s"] = time.perf_counter() - started
    result["peak_rss_mb"] = _vm_hwm_kb() / 1024
    return result


def _vm_hwm_kb() -> int:
    """This process's peak resident set (VmHWM): exact, and unlike ru_maxrss not inherited from the parent across exec."""
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main(sys.argv[1:])) + "\n")
