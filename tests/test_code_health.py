"""The project's code-health checks, run by the one test command so they stay enforced.

- ruff (lint) over src, tests, benchmarks, scripts and fuzz, configured in pyproject.toml;
- mypy (strict, see [tool.mypy]) over the package;
- stubtest: src/fusion/_core.pyi against the compiled module it describes (regenerate the
  stubs with the command in the .pyi header when the bindings change);
- one version: ``fusion.__version__`` is the installed distribution's version.

They need the checkout (pyproject.toml, the sources), as the rest of tests/ does.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fusion

REPO_ROOT = Path(__file__).resolve().parents[1]
STUBTEST_ALLOWLIST = Path(__file__).resolve().parent / "stubtest_allowlist.txt"

# pybind11 gives every bound class the metaclass pybind11_builtins.pybind11_type, which
# pybind11-stubgen does not write into the stubs (and mypy need not know). stubtest reports it
# once per class; the allowlist can only silence whole names, which would also hide a class
# missing from the stubs, so this one message is filtered here instead.
_STUBGEN_CANNOT_EXPRESS = ("is inconsistent, metaclass differs",)


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_ruff_clean() -> None:
    proc = _run(["ruff", "check", "--no-cache", "src", "tests", "benchmarks", "scripts", "fuzz"], cwd=REPO_ROOT)
    assert proc.returncode == 0, f"ruff check found problems (ruff check --fix fixes some):\n{proc.stdout}{proc.stderr}"


def test_mypy_clean() -> None:
    # Configuration (files, strictness, per-module overrides) is [tool.mypy] in pyproject.toml.
    proc = _run(["mypy"], cwd=REPO_ROOT)
    assert proc.returncode == 0, f"mypy found problems:\n{proc.stdout}{proc.stderr}"


def test_stubs_match_module(tmp_path: Path) -> None:
    # The subprocess imports the fusion this session imported (the installed package, or a
    # source tree on PYTHONPATH), and checks the _core.pyi next to it. pybind11 functions have
    # no signature Python can inspect, so this compares names (classes, methods, properties,
    # functions, missing on either side), not argument lists.
    root = str(Path(fusion.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])]))
    proc = _run(["mypy.stubtest", "fusion._core", "--concise", "--allowlist", str(STUBTEST_ALLOWLIST)],
                cwd=tmp_path, env=env)
    lines = (proc.stdout + proc.stderr).splitlines()
    assert lines or proc.returncode == 0, f"stubtest failed (exit {proc.returncode}) without output"
    errors = [line for line in lines if not line.endswith(_STUBGEN_CANNOT_EXPRESS)]
    assert not errors, (
        f"src/fusion/_core.pyi does not match the compiled module {root}/fusion/_core*.so; regenerate it "
        "with the command in its header (details: python -m mypy.stubtest fusion._core):\n" + "\n".join(errors))


def test_version_is_the_distributions() -> None:
    # pyproject.toml takes the version from src/fusion/__init__.py (scikit-build-core's regex
    # provider), so an installed fusion reports the version it was built with.
    try:
        dist = importlib.metadata.distribution("fusion")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("fusion is not installed (imported from a source tree)")
    init = Path(fusion.__file__).resolve()
    if not any(Path(str(dist.locate_file(f))).resolve() == init for f in dist.files or ()):
        pytest.skip(f"fusion is imported from {init.parent}, not from the installed distribution")
    assert fusion.__version__ == dist.version
