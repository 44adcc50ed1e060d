"""The handler's init check of the layer marker: silent without a marker or with a matching one, one line otherwise.

The marker a real ``layer build`` writes, and a real interpreter refusing it, are in tests/deploy/test_layer.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from transform_core.adapters import layer_check
from transform_core.adapters.layer_check import MARKER, LayerMismatchError, check_layer, read_marker, running_on
from transform_core.errors import ConfigurationEnvironmentError

HERE_PYTHON, HERE_ARCH = running_on()
OTHER_PYTHON = "3.12" if HERE_PYTHON != "3.12" else "3.13"
OTHER_ARCH = "arm64" if HERE_ARCH != "arm64" else "x86_64"


def write_marker(site: Path, **fields: Any) -> None:
    marker = {"python": HERE_PYTHON, "arch": HERE_ARCH, "platform": "manylinux_2_34_x86_64", "packages": {}} | fields
    (site / MARKER).write_text(json.dumps(marker), encoding="utf-8")


def test_no_marker_checks_nothing(tmp_path: Path) -> None:
    assert read_marker(tmp_path) is None
    check_layer(tmp_path)


def test_a_source_checkout_has_no_marker() -> None:
    """The default folder is the one holding ``transform_core``: here a checkout (or site-packages), not a layer."""
    assert read_marker() is None
    check_layer()


def test_a_matching_marker_passes(tmp_path: Path) -> None:
    write_marker(tmp_path, packages={"polars": "2.1.0"})
    marker = read_marker(tmp_path)
    assert marker is not None and marker["packages"] == {"polars": "2.1.0"}
    check_layer(tmp_path)


@pytest.mark.parametrize(
    ("fields", "fix"),
    [
        ({"python": OTHER_PYTHON}, f"PythonRuntime=python{OTHER_PYTHON}"),
        ({"arch": OTHER_ARCH}, f"Architecture={OTHER_ARCH}"),
        ({"python": OTHER_PYTHON, "arch": OTHER_ARCH}, f"PythonRuntime=python{OTHER_PYTHON} and Architecture={OTHER_ARCH}"),
    ],
    ids=["python", "arch", "both"],
)
def test_another_target_is_one_line_naming_both_fixes(tmp_path: Path, fields: dict[str, str], fix: str) -> None:
    write_marker(tmp_path, **fields)
    built = {"python": HERE_PYTHON, "arch": HERE_ARCH} | fields
    with pytest.raises(LayerMismatchError) as raised:
        check_layer(tmp_path)
    assert str(raised.value) == (
        f"transform-core layer built for python{built['python']} {built['arch']}, running on python{HERE_PYTHON} {HERE_ARCH}: "
        f"rebuild the layer with `transform-core layer build --python {HERE_PYTHON} --arch {HERE_ARCH}` or set {fix}"
    )


@pytest.mark.parametrize("text", ["{not json", "[]", '{"python": 3.13, "arch": "x86_64"}', '{"python": "3.13"}'])
def test_an_unreadable_marker_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / MARKER).write_text(text, encoding="utf-8")
    with pytest.raises(LayerMismatchError, match=r"transform-core layer marker .* is not readable: rebuild the layer$"):
        check_layer(tmp_path)


def test_the_error_is_an_import_error_and_a_configuration_error() -> None:
    """ImportError: awslambdaric reports it as Runtime.ImportModuleError with the message; ours: the CLI and the
    custom runtime's init treat it as bad configuration."""
    assert issubclass(LayerMismatchError, ImportError) and issubclass(LayerMismatchError, ConfigurationEnvironmentError)


def test_the_handler_module_runs_the_check_before_the_compiled_wheels() -> None:
    source = Path(layer_check.__file__).with_name("firehose.py").read_text(encoding="utf-8")
    check = source.index("\ncheck_layer()")
    assert check < source.index("\nimport orjson") and check < source.index("\nfrom transform_core.engine")
