"""The Lambda layer (``transform-core layer build``), built as the template deploys it: for the Python and architecture
of the template's ``PythonRuntime`` and ``Architecture`` defaults, from PyPI's manylinux wheels at the versions
``uv.lock`` pins. The zip's layout, its packages against the lock, every compiled file and wheel tag against that
runtime; the Firehose handler run from the unpacked layer alone, under that Python when this machine has it; and the
one line another Python gets instead. Needs the package index (as ``make test`` does)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.helpers.runtime_api_server import local_runtime_api
from transform_core.adapters.layer_check import MARKER, running_on
from transform_core.demo.generate import firehose_event, iot_payloads
from transform_core.deploy.layer import MB, WRAPPER, LayerBudgetError, LayerReport, build_layer, glibc

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
SPEC = ROOT / "examples" / "iot" / "pipeline.yaml"
RECORDS = 500
MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}

# Runs in the fresh interpreter (-I -S: no site-packages, no PYTHON* variables, no script folder on the path).
CHILD = """
import importlib.util, json, sys
layer, event_path, out_path = sys.argv[1:4]
assert not any("site-packages" in p or "dist-packages" in p for p in sys.path), sys.path
sys.path.insert(0, layer)
import transform_core.adapters.firehose as firehose
from transform_core.adapters import layer_check
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
           "marker": layer_check.read_marker(), "version": list(sys.version_info[:2]), "path": sys.path}, sys.stderr)
"""

# Imports the handler from the layer and reports how it failed.
REFUSED = """
import json, sys
sys.path.insert(0, sys.argv[1])
try:
    import transform_core.adapters.firehose
except Exception as err:
    loaded = sorted(m for m in ("orjson", "msgspec", "polars", "yaml") if m in sys.modules)
    print(json.dumps({"type": type(err).__name__, "import_error": isinstance(err, ImportError), "message": str(err),
                      "loaded": loaded}))
"""


@pytest.fixture(scope="module")
def target() -> tuple[str, str]:
    """The template's default ``(python, arch)``, e.g. ``("3.13", "x86_64")``: what a default deploy runs."""
    from cfnlint.decode import decode

    parsed, problems = decode(str(TEMPLATE))
    assert not problems and isinstance(parsed, dict), [str(p) for p in problems]
    runtime = parsed["Parameters"]["PythonRuntime"]["Default"]
    assert runtime.startswith("python"), runtime
    return runtime.removeprefix("python"), parsed["Parameters"]["Architecture"]["Default"]


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory, target: tuple[str, str]) -> LayerReport:
    python, arch = target
    out = tmp_path_factory.mktemp("layer") / "layer.zip"
    return build_layer(arch=arch, python=python, output=out, project_root=ROOT)


@pytest.fixture(scope="module")
def unpacked(layer: LayerReport, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layer as Lambda lays it out: ``<opt>/python``, and ``<opt>/transform-core-runtime`` with the zip's modes."""
    opt = tmp_path_factory.mktemp("opt")
    with zipfile.ZipFile(layer.path) as archive:
        archive.extractall(opt)
        for info in archive.infolist():  # extractall drops the modes; Lambda keeps them
            (opt / info.filename).chmod((info.external_attr >> 16) & 0o777)
    return opt / "python"


def find_python(version: str) -> str | None:
    """An interpreter of ``version`` on this machine (on PATH, in pyenv's versions, or one uv has), never downloaded."""
    candidates = [shutil.which(f"python{version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += [str(p) for p in sorted(pyenv.glob(f"versions/{version}.*/bin/python{version}"), reverse=True)]
    uv = shutil.which("uv")
    if uv:
        found = subprocess.run(
            [uv, "python", "find", "--no-project", version],
            capture_output=True,
            text=True,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
            check=False,
        )
        candidates.append(found.stdout.strip() if found.returncode == 0 else None)
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def runtime_closure(lock: dict[str, object]) -> tuple[set[str], set[str]]:
    """transform-core's runtime dependencies in ``uv.lock`` (no extras): (always required, required on some markers)."""
    packages = {p["name"]: p for p in lock["package"]}  # type: ignore[attr-defined]
    required: set[str] = set()
    conditional: set[str] = set()
    stack = [(d, "marker" in d) for d in packages["transform-core"].get("dependencies", [])]
    while stack:
        dependency, marked = stack.pop()
        name = dependency["name"]
        seen = conditional if marked else required
        if name in seen or (marked and name in required):
            continue
        seen.add(name)
        stack += [(d, marked or "marker" in d) for d in packages[name].get("dependencies", [])]
    return required, conditional - required


def layer_files(layer: LayerReport) -> dict[str, bytes]:
    with zipfile.ZipFile(layer.path) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name.endswith(("METADATA", "WHEEL", ".json"))}


def test_layer_zip_layout_and_size(layer: LayerReport) -> None:
    assert layer.path.is_file() and layer.zipped_bytes == layer.path.stat().st_size
    assert 0 < layer.zipped_bytes < layer.unzipped_bytes <= 200 * MB
    with zipfile.ZipFile(layer.path) as archive:
        names = archive.namelist()
        assert archive.testzip() is None
        assert sum(i.file_size for i in archive.infolist()) == layer.unzipped_bytes
    assert names[0] == WRAPPER and names[1:] and all(n.startswith("python/") for n in names[1:])
    tops = {n.split("/")[1] for n in names[1:]}
    assert {"transform_core", "polars", "orjson", "msgspec", "fastjsonschema", "yaml", MARKER} <= tops
    assert not any(t == "pyarrow" or t.startswith("pyarrow") for t in tops), sorted(tops)
    assert not any("__pycache__" in n or n.endswith((".pyc", ".pyi")) for n in names)
    assert not any(n.endswith(("/RECORD", "/INSTALLER", "/REQUESTED")) for n in names)
    assert not any(n.startswith("python/bin/") for n in names)
    assert any(n.endswith(".dist-info/METADATA") and "/transform_core-" in n for n in names)


def test_the_exec_wrapper_is_at_the_layers_root_and_executable(layer: LayerReport) -> None:
    """``/opt/transform-core-runtime``, the template's AWS_LAMBDA_EXEC_WRAPPER: a regular file, mode 755."""
    with zipfile.ZipFile(layer.path) as archive:
        info = archive.getinfo(WRAPPER)
        script = archive.read(info)
    assert info.external_attr >> 16 == 0o100755
    assert script == (ROOT / "transform_core" / "adapters" / "exec_wrapper.sh").read_bytes()
    assert script.startswith(b"#!/bin/sh\n") and b"\r" not in script


def test_layer_holds_exactly_the_locked_versions(layer: LayerReport, target: tuple[str, str]) -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    locked: dict[str, set[str]] = {}
    for package in lock["package"]:
        locked.setdefault(package["name"], set()).add(package["version"])
    files = layer_files(layer)
    shipped = {}  # what the dist-info folders say, name normalized as uv.lock spells it
    for name, data in files.items():
        if name.endswith(".dist-info/METADATA"):
            headers = data.decode().split("\n\n", 1)[0]
            fields = dict(line.split(": ", 1) for line in headers.splitlines() if ": " in line)
            shipped[re.sub(r"[-_.]+", "-", fields["Name"]).lower()] = fields["Version"]
    marker = json.loads(files[f"python/{MARKER}"])
    assert (marker["python"], marker["arch"]) == target == (layer.python, layer.arch)
    assert marker["platform"] == f"manylinux_{glibc(target[0])[0]}_{glibc(target[0])[1]}_{MACHINE[target[1]]}"
    assert marker["packages"] == shipped == dict(layer.packages)
    required, conditional = runtime_closure(lock)
    assert required <= set(shipped) <= required | conditional | {"transform-core"}, sorted(shipped)
    assert {"polars", "orjson", "msgspec", "fastjsonschema", "pyyaml"} <= required
    for name, version in shipped.items():
        assert version in locked[name], f"{name} {version} ships, uv.lock pins {locked[name]}"


def wheel_fits(tag: str, python: str, arch: str) -> bool:
    """Whether a wheel tag (``cp313-cp313-manylinux_2_17_x86_64``) installs on Lambda's CPython ``python`` and ``arch``."""
    interpreter, abi, platform = tag.split("-")
    minor = int(python.split(".")[1])
    if abi == "abi3":
        fits_interpreter = bool(re.fullmatch(r"cp3(\d+)", interpreter)) and int(interpreter[3:]) <= minor
    else:
        fits_interpreter = interpreter in (f"cp3{minor}", "py3", f"py3{minor}") and abi in (f"cp3{minor}", "none")
    if platform == "any":
        return fits_interpreter
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
    match = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014|manylinux_(\d+)_(\d+))_(\w+)", platform)
    if match is None or match[4] != MACHINE[arch]:
        return False
    needs = legacy.get(match[1]) or (int(match[2]), int(match[3]))
    return fits_interpreter and needs <= glibc(python)


def test_compiled_files_and_wheel_tags_fit_the_runtime(layer: LayerReport, target: tuple[str, str]) -> None:
    """What the handler import would trip on under another CPython, checked without that CPython."""
    python, arch = target
    files = layer_files(layer)
    wheels = {name: re.findall(r"^Tag: (\S+)$", data.decode(), re.M) for name, data in files.items() if name.endswith("/WHEEL")}
    assert len(wheels) == len(dict(layer.packages))
    for name, tags in wheels.items():
        assert tags and all(wheel_fits(tag, python, arch) for tag in tags), (name, tags)
    assert sum(not tag.endswith("-none-any") for tags in wheels.values() for tag in tags) >= 3  # the compiled ones
    with zipfile.ZipFile(layer.path) as archive:
        extensions = [n for n in archive.namelist() if re.search(r"\.(cpython-\d+|abi3)[^/]*\.so$", n)]
    suffix = f".cpython-3{python.split('.')[1]}-{MACHINE[arch]}-linux-gnu.so"
    assert extensions and all(n.endswith((suffix, ".abi3.so")) for n in extensions), extensions


def test_handler_runs_from_the_unpacked_layer_alone(unpacked: Path, target: tuple[str, str], tmp_path: Path) -> None:
    python, arch = target
    interpreter = find_python(python)
    if interpreter is None or running_on()[1] != arch:
        pytest.skip(f"no python{python} on {arch} here (none is downloaded): the wheel tags are checked instead")
    event = firehose_event(iot_payloads(RECORDS, invalid_fraction=0.1, seed=11))
    event_path, out_path = tmp_path / "event.json", tmp_path / "response.json"
    event_path.write_text(json.dumps(event))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TRANSFORM_CORE_SPEC": str(SPEC), "LANG": "C.UTF-8"}
    done = subprocess.run(
        [interpreter, "-I", "-S", "-c", CHILD, str(unpacked), str(event_path), str(out_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stderr)
    assert facts["version"] == [int(part) for part in python.split(".")]
    assert (facts["marker"]["python"], facts["marker"]["arch"]) == target  # the init check read it, and passed
    assert facts["pyarrow_loaded"] is False and facts["pyarrow_findable"] is False, facts["path"]
    response = json.loads(out_path.read_bytes())
    records = response["records"]
    assert len(records) == RECORDS
    assert [r["recordId"] for r in records] == [r["recordId"] for r in event["records"]]
    results = {r["result"] for r in records}
    assert results <= {"Ok", "ProcessingFailed", "Dropped"} and "Ok" in results and "ProcessingFailed" in results
    assert "batch transformed" in done.stdout  # the handler's log line


def test_the_exec_wrapper_runs_the_loop_from_the_unpacked_layer(unpacked: Path, target: tuple[str, str], tmp_path: Path) -> None:
    """The wrapper as Lambda starts it, given the layer's Python as the interpreter: the loop answers from the layer."""
    python, arch = target
    interpreter = find_python(python)
    if interpreter is None or running_on()[1] != arch:
        pytest.skip(f"no python{python} on {arch} here (none is downloaded)")
    probe = [interpreter, "-I", "-c", "import sys; print(sys.executable)"]
    real = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()  # not pyenv's shim
    with local_runtime_api() as api:
        body = json.dumps(firehose_event(iot_payloads(50, invalid_fraction=0.1, seed=12))).encode()
        request_id = api.queue_event(body)
        api.next_wait_s = 0.2  # then nothing is queued: the server answers 500 and the loop exits, as the API asks
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "_HANDLER": "transform_core.adapters.firehose.handler",
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "LAMBDA_TASK_ROOT": str(tmp_path),
            "TRANSFORM_CORE_SPEC": str(SPEC),
        }
        done = subprocess.run(
            [str(unpacked.parent / WRAPPER), real, "/var/runtime/bootstrap.py"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        response = api.responses.get(timeout=10)
    assert response.request_id == request_id, done.stderr
    assert [r["recordId"] for r in json.loads(response.body)["records"]] == [r["recordId"] for r in json.loads(body)["records"]]
    assert json.loads(done.stdout.splitlines()[0])["message"] == "batch transformed"
    assert "ConfigurationEnvironmentError: Runtime API answered 500 to GET next" in done.stderr
    assert f"{unpacked}/transform_core/adapters/runtime_api.py" in done.stderr  # the layer's loop, not this checkout's


def test_another_python_is_refused_with_one_line(unpacked: Path, target: tuple[str, str], tmp_path: Path) -> None:
    """This interpreter is not the layer's: the handler's import fails with one line, before any compiled wheel loads."""
    python, arch = target
    here, machine = running_on()
    if (here, machine) == target:
        pytest.skip(f"this interpreter is python{python} {arch}, the layer's own")
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", REFUSED, str(unpacked)],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stdout, done.stderr
    refused = json.loads(done.stdout)
    fix = [f"PythonRuntime=python{python}"] if python != here else []
    fix += [f"Architecture={arch}"] if arch != machine else []
    assert refused == {
        "type": "LayerMismatchError",
        "import_error": True,  # the managed runtime reports it as Runtime.ImportModuleError, with this message
        "message": f"transform-core layer built for python{python} {arch}, running on python{here} {machine}: "
        f"rebuild the layer with `transform-core layer build --python {here} --arch {machine}` or set {' and '.join(fix)}",
        "loaded": [],
    }


def test_over_budget_fails_with_a_clear_message_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "tiny.zip"
    with pytest.raises(LayerBudgetError) as raised:
        build_layer(output=out, budget_mb=1, project_root=ROOT)
    message = str(raised.value)
    assert "over the 1 MB budget" in message and "layer not written" in message and "polars" in message
    assert raised.value.budget_mb == 1 and raised.value.unzipped_bytes > MB
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()


def test_a_layer_off_the_lock_is_refused(tmp_path: Path) -> None:
    """The build's own guard: a package the lock lacks, at another version, or missing stops it, naming each."""
    from transform_core.deploy.layer import _check_pins
    from transform_core.errors import ConfigurationEnvironmentError

    pins: dict[str, tuple[str, str | None]] = {
        "msgspec": ("0.22.0", None),
        "orjson": ("3.13.0", None),
        "tomli": ("2.0.0", "python_full_version < '3.11'"),
    }
    wheel = tmp_path / "transform_core-0.1.0-py3-none-any.whl"
    _check_pins({"msgspec": "0.22.0", "orjson": "3.13.0", "transform-core": "0.1.0"}, pins, wheel)  # a marker pin may be absent
    with pytest.raises(ConfigurationEnvironmentError) as raised:
        _check_pins({"msgspec": "0.23.0", "extra-thing": "1.0", "transform-core": "0.1.0"}, pins, wheel)
    assert str(raised.value) == (
        "the layer's packages are not the locked ones: extra-thing 1.0 is not in uv.lock's runtime dependencies; "
        "msgspec 0.23.0 is installed where uv.lock pins 0.22.0; uv.lock pins orjson 3.13.0 but it was not installed"
    )
