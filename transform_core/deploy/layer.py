"""The Lambda layer: a zip holding transform-core and its runtime dependencies (``transform-core layer build``).

The layer is built from wheels for the *target* platform (manylinux, ``x86_64`` or ``arm64``, a chosen CPython), not
the build machine's: transform-core's own wheel is built from the source tree, then installed with exactly the runtime
dependencies ``uv.lock`` pins (Polars, orjson, msgspec, fastjsonschema, PyYAML; never pyarrow) into ``python/``, the
folder Lambda puts on ``sys.path`` (``/opt/python``), so the layer ships the versions the tests ran. Shared libraries
are stripped (when the build machine has ``strip`` and the same architecture), and caches, test folders, type stubs
and installer records are dropped before zipping. ``python/transform_core_layer.json`` records the Python, the
architecture and the package versions; the handler refuses, at init, to run on another Python or architecture
(:mod:`transform_core.adapters.layer_check`). Beside ``python/`` the zip holds :data:`WRAPPER`, executable: the exec
wrapper (``/opt/transform-core-runtime``) that the template's ``AWS_LAMBDA_EXEC_WRAPPER`` names, which starts the
raw-bytes Runtime API loop in place of the managed runtime (:mod:`transform_core.adapters.runtime_api`).

The unzipped size is what Lambda counts: function code plus all its layers must stay under 250 MB unzipped, so the
default budget (200 MB) leaves room for the function code and one more layer. A layer over budget is not written.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from transform_core.adapters.layer_check import MARKER, running_on
from transform_core.errors import ConfigurationEnvironmentError, TransformCoreError

__all__ = [
    "ARCHES",
    "DEFAULT_ARCH",
    "DEFAULT_PYTHON",
    "MARKER",
    "PYTHONS",
    "WRAPPER",
    "LayerBudgetError",
    "LayerReport",
    "build_layer",
    "glibc",
    "locked_requirements",
]

# The Lambda runtime transform-core deploys to: the default of `layer build` and of the template's PythonRuntime and
# Architecture parameters (tests/deploy/test_template.py holds the template to these). Lambda's python3.12 and
# python3.13 run on Amazon Linux 2023; every locked wheel has a build for both, and 3.13 is supported longer.
DEFAULT_PYTHON = "3.13"
DEFAULT_ARCH = "x86_64"
PYTHONS = ("3.12", "3.13")  # the template's PythonRuntime allows exactly these
ARCHES = ("x86_64", "arm64")
#: The exec wrapper at the layer's root (``/opt/transform-core-runtime``), from the package's ``exec_wrapper.sh``.
WRAPPER = "transform-core-runtime"
_WRAPPER_SOURCE = Path("transform_core", "adapters", "exec_wrapper.sh")  # in the installed package
MB = 1024 * 1024  # Lambda's "250 MB" is 262,144,000 bytes: mebibytes

# The newest manylinux tag each Lambda runtime's glibc accepts: Amazon Linux 2023 has glibc 2.34.
_GLIBC = {"3.12": (2, 34), "3.13": (2, 34)}
_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
_EXPORT = ["export", "--frozen", "--no-dev", "--no-emit-project", "--format", "requirements.txt", "--no-header"]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")
_DIST_INFO_CLUTTER = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "entry_points.txt"}
_NEVER = ("pyarrow",)  # the Lambda path never imports these; their presence means a dependency went wrong

Log = Callable[[str], None]


@dataclass(frozen=True)
class LayerReport:
    """What ``build_layer`` wrote: sizes in bytes (unzipped is what Lambda counts against its 250 MB)."""

    unzipped_bytes: int
    zipped_bytes: int
    path: Path
    arch: str = DEFAULT_ARCH
    python: str = DEFAULT_PYTHON
    stripped: bool = False
    notes: tuple[str, ...] = field(default=())
    packages: tuple[tuple[str, str], ...] = field(default=())  # (name, version), sorted: what the marker records

    def summary(self) -> str:
        return (
            f"layer {self.path} (python{self.python}, {self.arch}): "
            f"{_mb(self.unzipped_bytes)} unzipped, {_mb(self.zipped_bytes)} zipped"
        )


class LayerBudgetError(TransformCoreError):
    """The unzipped layer is larger than the budget; the zip was not written."""

    def __init__(self, unzipped_bytes: int, budget_mb: float, largest: Sequence[tuple[str, int]]) -> None:
        self.unzipped_bytes = unzipped_bytes
        self.budget_mb = budget_mb
        self.largest = list(largest)
        top = ", ".join(f"{name} {_mb(size)}" for name, size in self.largest)
        super().__init__(
            f"the unzipped layer is {_mb(unzipped_bytes)}, over the {budget_mb:g} MB budget "
            f"(Lambda allows 250 MB unzipped for function code and all its layers); largest: {top}; layer not written"
        )


def build_layer(
    *,
    arch: str = DEFAULT_ARCH,
    python: str = DEFAULT_PYTHON,
    output: str | Path,
    budget_mb: float = 200,
    project_root: str | Path | None = None,
    log: Log | None = None,
) -> LayerReport:
    """Build the Lambda layer zip for ``arch`` (``x86_64``/``arm64``) and CPython ``python`` (one of :data:`PYTHONS`).

    Raises:
        LayerBudgetError: the unzipped layer is over ``budget_mb`` (nothing is written).
        ConfigurationEnvironmentError: no source tree or ``uv.lock``, no uv, a build/install step failed, or the
            installed packages are not exactly the locked ones.
    """
    if arch not in ARCHES:
        raise ConfigurationEnvironmentError(f"--arch must be one of {', '.join(ARCHES)}, got {arch!r}")
    if python not in PYTHONS:
        raise ConfigurationEnvironmentError(f"--python must be one of {', '.join(PYTHONS)}, got {python!r}")
    say: Log = log or (lambda message: None)
    root = _project_root(project_root)
    output = Path(output)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="transform-core-layer-") as tmp:
        work = Path(tmp)
        wheels, site = work / "wheels", work / "python"
        uv = _uv()
        requirements = work / "requirements.txt"
        pins = locked_requirements(uv, root, requirements)
        say(f"building the transform-core wheel from {root}")
        wheel = _build_wheel(uv, root, wheels)
        say(f"installing {wheel.name} and the {len(pins)} packages uv.lock pins for python{python} on manylinux {arch}")
        _install(uv, requirements, wheel, site, arch=arch, python=python)
        for name in _NEVER:
            if (site / name).exists():
                raise ConfigurationEnvironmentError(f"{name} was installed into the layer; a runtime dependency pulls it in")
        packages = _installed(site)
        _check_pins(packages, pins, wheel)
        stripped = _strip_shared_libraries(site, arch, notes)
        _drop_clutter(site)
        marker = {"python": python, "arch": arch, "platform": _platform_tag(python, arch), "packages": packages}
        (site / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        wrapper = site / _WRAPPER_SOURCE
        if not wrapper.is_file():
            raise ConfigurationEnvironmentError(f"{wrapper.name} is missing from {wheel.name}: the layer needs its exec wrapper")
        unzipped = _tree_size(site) + wrapper.stat().st_size
        if unzipped > budget_mb * MB:
            raise LayerBudgetError(unzipped, budget_mb, _largest(site))
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".partial")
        _zip(site, partial, wrapper)
        os.replace(partial, output)
    for note in notes:
        say(note)
    return LayerReport(
        unzipped_bytes=unzipped,
        zipped_bytes=output.stat().st_size,
        path=output,
        arch=arch,
        python=python,
        stripped=stripped,
        notes=tuple(notes),
        packages=tuple(sorted(packages.items())),
    )


def glibc(python: str) -> tuple[int, int]:
    """The glibc of the Lambda runtime for ``python``: the newest ``manylinux_2_N`` its wheels may be built for."""
    return _GLIBC[python]


def locked_requirements(uv: Sequence[str], root: Path, output: Path) -> dict[str, tuple[str, str | None]]:
    """Export ``uv.lock``'s runtime dependencies (no extras, no dev, with hashes) to ``output``.

    Returns:
        name (normalized) -> (version, environment marker or None), as pinned in the lock.

    Raises:
        ConfigurationEnvironmentError: no ``uv.lock`` beside ``pyproject.toml``, or the export failed.
    """
    if not (root / "uv.lock").is_file():
        raise ConfigurationEnvironmentError(f"no uv.lock in {root}: the layer installs the versions it pins (run uv lock)")
    _run([*uv, *_EXPORT, "--project", str(root), "--output-file", str(output)], "exporting uv.lock")
    pins: dict[str, tuple[str, str | None]] = {}
    for line in output.read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace() and not line.startswith(("#", "-")):
            match = _PIN.match(line)
            if match is None:
                raise ConfigurationEnvironmentError(f"uv export wrote a requirement that is not a pin: {line!r}")
            pins[_normalize(match[1])] = (match[2], match[3])
    return pins


# --- steps ------------------------------------------------------------------------------------------------------------


def _project_root(given: str | Path | None) -> Path:
    candidates = [Path(given)] if given is not None else [Path(__file__).resolve().parents[2], Path.cwd()]
    for root in candidates:
        pyproject = root / "pyproject.toml"
        if pyproject.is_file():
            try:
                name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
            except tomllib.TOMLDecodeError:
                continue
            if name == "transform-core":
                return root.resolve()
    where = ", ".join(str(c) for c in candidates)
    raise ConfigurationEnvironmentError(
        f"no transform-core source tree (pyproject.toml) at {where}; run from a checkout or pass --project-root"
    )


def _uv() -> list[str]:
    """The uv command: it exports ``uv.lock`` and installs the pinned wheels for the target platform."""
    uv = shutil.which("uv")
    if uv:
        return [uv]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    raise ConfigurationEnvironmentError("building a layer needs uv, which reads uv.lock: install it (pip install uv)")


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise ConfigurationEnvironmentError(f"{what} failed ({' '.join(command[:3])} …):\n" + "\n".join(detail))


def _build_wheel(uv: Sequence[str], root: Path, wheels: Path) -> Path:
    _run([*uv, "build", "--wheel", "--out-dir", str(wheels), str(root)], "building the transform-core wheel")
    built = sorted(wheels.glob("transform_core-*.whl"))
    if len(built) != 1:
        raise ConfigurationEnvironmentError(f"expected one transform-core wheel in {wheels}, found {len(built)}")
    return built[0]


def _platform_tag(python: str, arch: str) -> str:
    """The wheel platform tag of the Lambda runtime, e.g. ``manylinux_2_34_x86_64``."""
    major, minor = _GLIBC[python]
    return f"manylinux_{major}_{minor}_{_MACHINE[arch]}"


def _install(uv: Sequence[str], requirements: Path, wheel: Path, site: Path, *, arch: str, python: str) -> None:
    major, minor = _GLIBC[python]
    tag = f"{_MACHINE[arch]}-manylinux_{major}_{minor}"  # uv's --python-platform spelling
    # the exported pins (with their hashes, which uv verifies) and transform-core's wheel, resolved together: a
    # dependency the lock lacks would be added at its newest version, which _check_pins then refuses.
    # Copies, not hard links into uv's cache: stripping a linked file would rewrite every venv's copy in place.
    command = [*uv, "pip", "install", "--target", str(site), "--python-platform", tag, "--python-version", python]
    command += ["--link-mode", "copy", "--only-binary", ":all:", "--no-compile-bytecode", "--quiet"]
    command += ["--requirements", str(requirements), str(wheel)]
    _run(command, f"installing the layer's packages for python{python} {arch}")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(site: Path) -> dict[str, str]:
    """Normalized name -> version of every distribution in ``site``, from its ``METADATA``."""
    return {_normalize(dist.metadata["Name"]): dist.version for dist in importlib.metadata.distributions(path=[str(site)])}


def _check_pins(installed: dict[str, str], pins: dict[str, tuple[str, str | None]], wheel: Path) -> None:
    """The layer holds exactly the locked versions: nothing unpinned, nothing at another version, nothing missing."""
    problems: list[str] = []
    for name, version in sorted(installed.items()):
        if name == "transform-core":
            continue  # built from the source tree; its wheel's version is the project's
        if name not in pins:
            problems.append(f"{name} {version} is not in uv.lock's runtime dependencies")
        elif pins[name][0] != version:
            problems.append(f"{name} {version} is installed where uv.lock pins {pins[name][0]}")
    # a pin with an environment marker (python_version, sys_platform…) may not apply to the target
    problems += [
        f"uv.lock pins {name} {v} but it was not installed"
        for name, (v, m) in pins.items()
        if m is None and name not in installed
    ]
    if "transform-core" not in installed:
        problems.append(f"{wheel.name} was not installed")
    if problems:
        raise ConfigurationEnvironmentError("the layer's packages are not the locked ones: " + "; ".join(problems))


def _is_shared_library(path: Path) -> bool:
    return path.is_file() and not path.is_symlink() and (path.suffix == ".so" or ".so." in path.name)


def _strip_shared_libraries(site: Path, arch: str, notes: list[str]) -> bool:
    strip = shutil.which("strip")
    if not sys.platform.startswith("linux") or strip is None:
        notes.append("note: shared libraries not stripped (no GNU strip on this machine)")
        return False
    if running_on()[1] != arch:
        notes.append(f"note: shared libraries not stripped (building for {arch} on {platform.machine()}: strip would not match)")
        return False
    libraries = sorted(p for p in site.rglob("*") if _is_shared_library(p))
    for library in libraries:
        if library.stat().st_nlink > 1:  # never strip a file shared with anything outside the layer
            private = library.with_name(library.name + ".private")
            shutil.copy2(library, private)
            os.replace(private, library)
        _run([strip, "--strip-unneeded", str(library)], f"stripping {library.relative_to(site)}")
    return True


def _drop_clutter(site: Path) -> None:
    """Remove what the Lambda path never reads: caches, test folders, stubs, installer records, scripts."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    for path in sorted(site.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if not path.exists() and not path.is_symlink():
            continue
        if path.is_dir() and not path.is_symlink():
            in_package = path.parent != site  # top-level folders are distributions: keep a top-level `tests` package
            if path.name == "__pycache__" or (in_package and path.name in ("tests", "test")):
                shutil.rmtree(path)
        elif (
            path.suffix in (".pyc", ".pyo", ".pyi") or path.parent.name.endswith(".dist-info") and path.name in _DIST_INFO_CLUTTER
        ):
            path.unlink()


def _tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _largest(site: Path, count: int = 5) -> list[tuple[str, int]]:
    sizes = [(child.name, _tree_size(child) if child.is_dir() else child.stat().st_size) for child in site.iterdir()]
    return sorted(sizes, key=lambda item: -item[1])[:count]


def _zip(site: Path, target: Path, wrapper: Path) -> None:
    """Zip ``site`` as ``python/…`` (the layer layout) and ``wrapper`` as :data:`WRAPPER`, reproducibly: sorted
    entries, fixed timestamps and modes."""
    files = [(f"python/{p.relative_to(site).as_posix()}", p) for p in sorted(site.rglob("*")) if p.is_file()]
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, path in [(WRAPPER, wrapper), *files]:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            # Lambda unpacks the layer keeping these modes: the wrapper must stay executable whatever the checkout
            mode = 0o755 if path == wrapper or os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            with path.open("rb") as source, archive.open(info, "w") as sink:
                shutil.copyfileobj(source, sink, 1024 * 1024)


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"
