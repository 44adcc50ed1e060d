"""The names transform_core exports stay exactly as intended and each one imports; so do the engine's, and the
Lambda handler path the deployment names."""

from __future__ import annotations

import importlib
import importlib.resources
import inspect
import re
from pathlib import Path

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


# --- the engine's surface and the Lambda handler path ------------------------------------------------------------------

ENGINE_PUBLIC = ["BatchResult", "Pipeline", "load_pipeline"]
LAMBDA_HANDLER = "transform_core.adapters.firehose.handler"  # what deploy/template.yaml names as Handler


def test_engine_exports_exactly_the_pipeline_names() -> None:
    engine = importlib.import_module("transform_core.engine")
    assert engine.__all__ == ENGINE_PUBLIC
    namespace: dict[str, object] = {}
    exec("from transform_core.engine import *", namespace)
    assert sorted(k for k in namespace if not k.startswith("__")) == ENGINE_PUBLIC
    assert [namespace[name] for name in ENGINE_PUBLIC] == [getattr(transform_core, name) for name in ENGINE_PUBLIC]


def test_the_lambda_handler_path_imports_to_a_two_argument_callable(monkeypatch: pytest.MonkeyPatch) -> None:
    from transform_core.adapters import allocator

    monkeypatch.delenv(allocator.JEMALLOC_ENV, raising=False)  # importing the handler may set it: undone after the test
    module_name, _, attribute = LAMBDA_HANDLER.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)

    assert callable(handler)
    signature = inspect.signature(handler)
    signature.bind({"records": []}, None)  # Lambda calls handler(event, context), positionally


def test_the_deploy_template_names_the_lambda_handler_path() -> None:
    template = Path(__file__).resolve().parents[1] / "deploy" / "template.yaml"
    handlers = re.findall(r"^\s*Handler:\s*(\S+)\s*$", template.read_text(encoding="utf-8"), flags=re.M)
    assert handlers == [LAMBDA_HANDLER]
