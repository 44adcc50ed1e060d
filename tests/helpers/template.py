"""Reading deploy/template.yaml in tests: its path, its resources of a type, the text of a ``!Sub``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "template.yaml"


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type (``AWS::IAM::Role``), by logical id."""
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def sub_text(value: Any) -> str:
    """The format string of a ``!Sub`` (either form), or a plain string."""
    if isinstance(value, str):
        return value
    sub = value["Fn::Sub"]
    return sub if isinstance(sub, str) else sub[0]
