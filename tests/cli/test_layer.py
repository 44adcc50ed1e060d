"""`transform-core layer build`: the options reach build_layer, the sizes it prints, the one-line error.

Building a real layer is tested in tests/deploy/test_layer.py; here build_layer is a stand-in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from transform_core.cli import main
from transform_core.deploy import layer
from transform_core.deploy.layer import DEFAULT_ARCH, DEFAULT_PYTHON, MB, LayerBudgetError, LayerReport


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The calls of build_layer, which reports a 30 MB layer zipped to 10 MB and writes nothing."""
    calls: list[dict[str, Any]] = []

    def build_layer(**options: Any) -> LayerReport:
        calls.append(options)
        options["log"]("building")
        return LayerReport(30 * MB, 10 * MB, Path(options["output"]), arch=options["arch"], python=options["python"])

    monkeypatch.setattr(layer, "build_layer", build_layer)
    return calls


def test_defaults(builds: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layer", "build"]) == 0
    (options,) = builds
    zip_name = f"transform-core-layer-{DEFAULT_ARCH}-py{DEFAULT_PYTHON}.zip"
    assert options["output"] == zip_name
    assert (options["arch"], options["python"], options["budget_mb"], options["project_root"]) == (
        DEFAULT_ARCH,
        DEFAULT_PYTHON,
        200,
        None,
    )
    out, err = capsys.readouterr()
    assert err == "building\n"
    assert out.splitlines() == [
        f"layer {zip_name} (python{DEFAULT_PYTHON}, {DEFAULT_ARCH}): 30.0 MB unzipped, 10.0 MB zipped",
        f"unzipped: {30 * MB} bytes (30.0 MB); budget 200 MB",
        f"zipped:   {10 * MB} bytes (10.0 MB)",
    ]


def test_options(builds: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--arch", "arm64", "--python", "3.13", "--output", str(tmp_path / "l.zip"), "--budget-mb", "50.5"]
    assert main(["layer", "build", *argv, "--project-root", str(tmp_path)]) == 0
    assert builds[0] | {"log": None} == {
        "arch": "arm64",
        "python": "3.13",
        "output": str(tmp_path / "l.zip"),
        "budget_mb": 50.5,
        "project_root": str(tmp_path),
        "log": None,
    }
    assert "budget 50.5 MB" in capsys.readouterr().out


def test_over_budget_is_one_line_naming_the_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def build_layer(**options: Any) -> LayerReport:
        raise LayerBudgetError(3 * MB, 1, [("polars", 2 * MB)])

    monkeypatch.setattr(layer, "build_layer", build_layer)
    assert main(["layer", "build", "--budget-mb", "1"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("transform-core layer build: error: the unzipped layer is 3.0 MB, over the 1 MB budget")


@pytest.mark.parametrize(("argv", "message"), [(["--arch", "mips"], "invalid choice: 'mips'"), (["--python", "3.11"], "'3.11'")])
def test_unknown_targets_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["layer", "build", *argv])
    assert exited.value.code == 2 and message in capsys.readouterr().err
