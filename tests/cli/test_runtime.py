"""`python -m transform_core.adapters.runtime_api`: the loop's arguments (the loop itself: tests/adapters)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from transform_core.adapters import runtime_api
from transform_core.cli import runtime

ROOT = Path(__file__).resolve().parents[2]


def test_max_invocations_reaches_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int | None] = []

    def run(*, max_invocations: int | None = None) -> int:
        calls.append(max_invocations)
        return 0

    monkeypatch.setattr(runtime, "run", run)
    assert runtime.main(["--max-invocations", "3"]) == 0
    assert runtime.main([]) == 0
    assert calls == [3, None]


def test_without_a_runtime_api_address_the_exit_status_is_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(runtime_api.RUNTIME_API_ENV, raising=False)
    assert runtime.main([]) == 2
    assert runtime_api.RUNTIME_API_ENV in capsys.readouterr().err


def test_a_bad_count_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        runtime.main(["--max-invocations", "many"])
    assert exited.value.code == 2
    assert "argument --max-invocations: invalid int value: 'many'" in capsys.readouterr().err


def test_the_loop_module_leaves_the_command_line_to_this_one() -> None:
    code = "import sys, transform_core.adapters.runtime_api; print([m for m in ('argparse', 'transform_core.cli') if m in sys.modules])"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"PYTHONPATH": str(ROOT)}
    child = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "[]"
