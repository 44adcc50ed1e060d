"""The Lambda layer (``transform-core layer build``): build the x86_64 layer for this Python from PyPI's manylinux
wheels, unpack it into a clean folder and run the Firehose handler from it in a fresh interpreter whose path holds
only the standard library and that folder. Needs the package index (as ``make test`` does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.deploy.layer import MB, LayerBudgetError, LayerReport, build_layer

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "iot" / "pipeline.yaml"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
RECORDS = 500

# Runs in the fresh interpreter (-I -S: no site-packages, no PYTHON* variables, no script folder on the path).
CHILD = """
import importlib.util, json, sys
layer, event_path, out_path = sys.argv[1:4]
assert not any("site-packages" in p or "dist-packages" in p for p in sys.path), sys.path
sys.path.insert(0, layer)
import transform_core.adapters.firehose as firehose
import polars
for module in (firehose, polars):
    assert module.__file__.startswith(layer), module.__file__
with open(event_path, "rb") as f:
    event = json.load(f)
body = firehose.handler(event, None)
assert isinstance(body, bytes), type(body)
with open(out_path, "wb") as f:
    f.write(body)
json.dump({"pyarrow_loaded": "pyarrow" in sys.modules, "pyarrow_findable": importlib.util.find_spec("pyarrow") is not None,
           "path": sys.path}, sys.stderr)
"""


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> LayerReport:
    out = tmp_path_factory.mktemp("layer") / "layer.zip"
    return build_layer(arch="x86_64", python=PYTHON, output=out, project_root=ROOT)


def test_layer_zip_layout_and_size(layer: LayerReport) -> None:
    assert layer.path.is_file() and layer.zipped_bytes == layer.path.stat().st_size
    assert 0 < layer.zipped_bytes < layer.unzipped_bytes <= 200 * MB
    with zipfile.ZipFile(layer.path) as archive:
        names = archive.namelist()
        assert archive.testzip() is None
        assert sum(i.file_size for i in archive.infolist()) == layer.unzipped_bytes
    assert names and all(n.startswith("python/") for n in names)
    tops = {n.split("/")[1] for n in names}
    assert {"transform_core", "polars", "orjson", "msgspec", "fastjsonschema", "yaml"} <= tops
    assert not any(t == "pyarrow" or t.startswith("pyarrow") for t in tops), sorted(tops)
    assert not any("__pycache__" in n or n.endswith((".pyc", ".pyi")) for n in names)
    assert not any(n.endswith(("/RECORD", "/INSTALLER", "/REQUESTED")) for n in names)
    assert not any(n.startswith("python/bin/") for n in names)
    assert any(n.endswith(".dist-info/METADATA") and "/transform_core-" in n for n in names)


def test_handler_runs_from_the_unpacked_layer_alone(layer: LayerReport, tmp_path: Path) -> None:
    unpacked = tmp_path / "opt"
    with zipfile.ZipFile(layer.path) as archive:
        archive.extractall(unpacked)
    event = firehose_event(iot_payloads(RECORDS, invalid_fraction=0.1, seed=11))
    event_path, out_path = tmp_path / "event.json", tmp_path / "response.json"
    event_path.write_text(json.dumps(event))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TRANSFORM_CORE_SPEC": str(SPEC), "LANG": "C.UTF-8"}
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", CHILD, str(unpacked / "python"), str(event_path), str(out_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stderr)
    assert facts["pyarrow_loaded"] is False and facts["pyarrow_findable"] is False, facts["path"]
    response = json.loads(out_path.read_bytes())
    records = response["records"]
    assert len(records) == RECORDS
    assert [r["recordId"] for r in records] == [r["recordId"] for r in event["records"]]
    results = {r["result"] for r in records}
    assert results <= {"Ok", "ProcessingFailed", "Dropped"} and "Ok" in results and "ProcessingFailed" in results
    assert "batch transformed" in done.stdout  # the handler's log line


def test_over_budget_fails_with_a_clear_message_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "tiny.zip"
    with pytest.raises(LayerBudgetError) as raised:
        build_layer(arch="x86_64", python=PYTHON, output=out, budget_mb=1, project_root=ROOT)
    message = str(raised.value)
    assert "over the 1 MB budget" in message and "layer not written" in message and "polars" in message
    assert raised.value.budget_mb == 1 and raised.value.unzipped_bytes > MB
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()
