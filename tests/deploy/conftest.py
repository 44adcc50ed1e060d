"""The pipeline template as CloudFormation reads it, parsed once for every test of deploy/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "template.yaml"


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """deploy/template.yaml, decoded by cfn-lint (short-form intrinsics as their long form); no problems in it."""
    from cfnlint.decode import decode

    parsed, problems = decode(str(TEMPLATE))
    assert not problems, [str(p) for p in problems]
    assert isinstance(parsed, dict)
    return parsed
