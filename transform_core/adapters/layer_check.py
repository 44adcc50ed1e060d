"""Refuse, at init, a Lambda layer built for another Python or architecture than the one running it.

``transform-core layer build`` writes :data:`MARKER` beside the ``transform_core`` package (``/opt/python`` in
Lambda) with the Python version, architecture and package versions the layer was built for. The Firehose handler's
module calls :func:`check_layer` before it imports orjson or Polars: a layer of cp313 wheels on python3.12 would
otherwise fail with an ImportError naming a missing module, far from the cause. Outside a layer (a source checkout,
an installed wheel) there is no marker and nothing is checked. Standard library only: it runs before anything else.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

from transform_core.errors import ConfigurationEnvironmentError

__all__ = ["MARKER", "LayerMismatchError", "check_layer", "read_marker", "running_on"]

MARKER = "transform_core_layer.json"
_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}  # platform.machine() -> Lambda's


class LayerMismatchError(ConfigurationEnvironmentError, ImportError):
    """The layer was built for another Python version or architecture.

    An ImportError too, so the managed runtime reports it as ``Runtime.ImportModuleError`` with this message.
    """


def running_on() -> tuple[str, str]:
    """This interpreter's ``("3.13", "x86_64")``, named as ``layer build`` and the template name them."""
    machine = platform.machine().lower()
    return f"{sys.version_info.major}.{sys.version_info.minor}", _ARCH.get(machine, machine)


def read_marker(site: Path | None = None) -> dict[str, Any] | None:
    """The layer's marker in ``site`` (default: the folder holding ``transform_core``), None when there is none.

    Raises:
        LayerMismatchError: the marker is not the JSON object ``layer build`` writes.
    """
    path = (site if site is not None else Path(__file__).resolve().parents[2]) / MARKER
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        marker = json.loads(text)
    except ValueError:
        marker = None
    if not isinstance(marker, dict) or not isinstance(marker.get("python"), str) or not isinstance(marker.get("arch"), str):
        raise LayerMismatchError(f"transform-core layer marker {path} is not readable: rebuild the layer")
    return marker


def check_layer(site: Path | None = None) -> None:
    """Raise when the layer in ``site`` was built for another Python or architecture; no marker, no check.

    Raises:
        LayerMismatchError: one line naming what the layer was built for, what runs it, and the two fixes.
    """
    marker = read_marker(site)
    if marker is None:
        return
    python, arch = running_on()
    built_python, built_arch = marker["python"], marker["arch"]
    if (built_python, built_arch) != (python, arch):
        parameters = [f"PythonRuntime=python{built_python}"] if built_python != python else []
        parameters += [f"Architecture={built_arch}"] if built_arch != arch else []
        raise LayerMismatchError(
            f"transform-core layer built for python{built_python} {built_arch}, running on python{python} {arch}: "
            f"rebuild the layer with `transform-core layer build --python {python} --arch {arch}` "
            f"or set {' and '.join(parameters)}"
        )
