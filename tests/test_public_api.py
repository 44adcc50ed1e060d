"""The names transform_core exports stay exactly as intended, and each one imports."""

from __future__ import annotations

import importlib
import importlib.resources

import pytest

import transform_core

PUBLIC = [
    "BatchResult",
    "Pipeline",
    "PipelineSpec",
    "RecordBatch",
    "SpecError",
    "TransformCoreError",
    "load_pipeline",
    "load_spec",
]


def test_all_is_exactly_the_intended_list() -> None:
    assert transform_core.__all__ == PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_each_public_name_is_importable(name: str) -> None:
    module = importlib.import_module("transform_core")
    value = getattr(module, name)
    assert value is not None
    namespace: dict[str, object] = {}
    exec(f"from transform_core import {name}", namespace)  # the import statement users write
    assert namespace[name] is value


def test_star_import_gives_exactly_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from transform_core import *", namespace)
    assert sorted(k for k in namespace if not k.startswith("__")) == sorted(PUBLIC)


def test_exceptions_share_one_base_class() -> None:
    assert issubclass(transform_core.SpecError, transform_core.TransformCoreError)
    assert issubclass(transform_core.TransformCoreError, Exception)


def test_package_ships_type_information() -> None:
    assert (importlib.resources.files("transform_core") / "py.typed").is_file()
