"""The Lambda layer: a zip holding transform-core and its runtime dependencies (``transform-core layer build``).

The layer is built from wheels for the *target* platform (manylinux, ``x86_64`` or ``arm64``, a chosen CPython), not
the build machine's: transform-core's own wheel is built from the source tree, then installed with its runtime
dependencies (Polars, orjson, msgspec, fastjsonschema, PyYAML; never pyarrow) into ``python/``, the folder Lambda puts
on ``sys.path`` (``/opt/python``). Shared libraries are stripped (when the build machine has ``strip`` and the same
architecture), and caches, test folders, type stubs and installer records are dropped before zipping.

The unzipped size is what Lambda counts: function code plus all its layers must stay under 250 MB unzipped, so the
default budget (200 MB) leaves room for the function code and one more layer. A layer over budget is not written.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from transform_core.errors import ConfigurationEnvironmentError, TransformCoreError

__all__ = ["ARCHES", "PYTHONS", "LayerBudgetError", "LayerReport", "build_layer"]

ARCHES = ("x86_64", "arm64")
PYTHONS = ("3.11", "3.12", "3.13")
MB = 1024 * 1024  # Lambda's "250 MB" is 262,144,000 bytes: mebibytes

# The newest manylinux tag each Lambda runtime's glibc accepts: python3.11 runs on Amazon Linux 2 (glibc 2.26),
# python3.12 and 3.13 on Amazon Linux 2023 (glibc 2.34).
_GLIBC = {"3.11": (2, 17), "3.12": (2, 34), "3.13": (2, 34)}
_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
_DIST_INFO_CLUTTER = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "entry_points.txt"}
_NEVER = ("pyarrow",)  # the Lambda path never imports these; their presence means a dependency went wrong

Log = Callable[[str], None]


@dataclass(frozen=True)
class LayerReport:
    """What ``build_layer`` wrote: sizes in bytes (unzipped is what Lambda counts against its 250 MB)."""

    unzipped_bytes: int
    zipped_bytes: int
    path: Path
    arch: str = "x86_64"
    python: str = "3.11"
    stripped: bool = False
    notes: tuple[str, ...] = field(default=())

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
    arch: str,
    python: str,
    output: str | Path,
    budget_mb: float = 200,
    project_root: str | Path | None = None,
    log: Log | None = None,
) -> LayerReport:
    """Build the Lambda layer zip for ``arch`` (``x86_64``/``arm64``) and CPython ``python`` (``3.11``…``3.13``).

    Raises:
        LayerBudgetError: the unzipped layer is over ``budget_mb`` (nothing is written).
        ConfigurationEnvironmentError: no source tree, no installer (pip or uv), or a build/install step failed.
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
        tool = _installer()
        say(f"building the transform-core wheel from {root} ({tool[0]})")
        wheel = _build_wheel(tool, root, wheels)
        say(f"installing {wheel.name} and its dependencies for python{python} on manylinux {arch}")
        _install(tool, wheel, site, arch=arch, python=python)
        for name in _NEVER:
            if (site / name).exists():
                raise ConfigurationEnvironmentError(f"{name} was installed into the layer; a runtime dependency pulls it in")
        stripped = _strip_shared_libraries(site, arch, notes)
        _drop_clutter(site)
        unzipped = _tree_size(site)
        if unzipped > budget_mb * MB:
            raise LayerBudgetError(unzipped, budget_mb, _largest(site))
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".partial")
        _zip(site, partial)
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
    )


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


def _installer() -> tuple[str, list[str]]:
    """uv when present (fast, cached), else pip."""
    uv = shutil.which("uv")
    if uv:
        return "uv", [uv]
    if importlib.util.find_spec("uv") is not None:
        return "uv", [sys.executable, "-m", "uv"]
    if importlib.util.find_spec("pip") is not None:
        return "pip", [sys.executable, "-m", "pip"]
    raise ConfigurationEnvironmentError("building a layer needs uv or pip; install one (pip install uv)")


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise ConfigurationEnvironmentError(f"{what} failed ({' '.join(command[:3])} …):\n" + "\n".join(detail))


def _build_wheel(tool: tuple[str, list[str]], root: Path, wheels: Path) -> Path:
    kind, base = tool
    if kind == "uv":
        command = [*base, "build", "--wheel", "--out-dir", str(wheels), str(root)]
    else:
        command = [*base, "wheel", "--no-deps", "--disable-pip-version-check", "--wheel-dir", str(wheels), str(root)]
    _run(command, "building the transform-core wheel")
    built = sorted(wheels.glob("transform_core-*.whl"))
    if len(built) != 1:
        raise ConfigurationEnvironmentError(f"expected one transform-core wheel in {wheels}, found {len(built)}")
    return built[0]


def _install(tool: tuple[str, list[str]], wheel: Path, site: Path, *, arch: str, python: str) -> None:
    kind, base = tool
    machine = _MACHINE[arch]
    major, minor = _GLIBC[python]
    if kind == "uv":
        tag = f"{machine}-manylinux2014" if (major, minor) == (2, 17) else f"{machine}-manylinux_{major}_{minor}"
        # copies, not hard links into uv's cache: stripping a linked file would rewrite every venv's copy in place
        command = [*base, "pip", "install", "--target", str(site), "--python-platform", tag, "--python-version", python]
        command += ["--link-mode", "copy"]
        command += ["--only-binary", ":all:", "--no-compile-bytecode", "--quiet", str(wheel)]
    else:
        tags = [f"manylinux2014_{machine}"]
        if (major, minor) > (2, 17):
            tags += [f"manylinux_2_{m}_{machine}" for m in range(28, minor + 1)]
        command = [*base, "install", "--target", str(site), "--implementation", "cp", "--python-version", python]
        command += [arg for tag in tags for arg in ("--platform", tag)]
        command += ["--only-binary=:all:", "--no-compile", "--disable-pip-version-check", "--quiet", str(wheel)]
    _run(command, f"installing the layer's packages for python{python} {arch}")


def _machine_arch() -> str | None:
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return "x86_64"
    if machine in ("aarch64", "arm64"):
        return "arm64"
    return None


def _is_shared_library(path: Path) -> bool:
    return path.is_file() and not path.is_symlink() and (path.suffix == ".so" or ".so." in path.name)


def _strip_shared_libraries(site: Path, arch: str, notes: list[str]) -> bool:
    strip = shutil.which("strip")
    if not sys.platform.startswith("linux") or strip is None:
        notes.append("note: shared libraries not stripped (no GNU strip on this machine)")
        return False
    if _machine_arch() != arch:
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


def _zip(site: Path, target: Path) -> None:
    """Zip ``site`` as ``python/…`` (the layer layout), reproducibly: sorted entries, fixed timestamps and modes."""
    files = sorted(p for p in site.rglob("*") if p.is_file())
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            info = zipfile.ZipInfo(f"python/{path.relative_to(site).as_posix()}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            with path.open("rb") as source, archive.open(info, "w") as sink:
                shutil.copyfileobj(source, sink, 1024 * 1024)


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"
