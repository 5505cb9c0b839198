"""The project's code-health checks, run by the one test command so they stay enforced.

- ruff (lint) over src, tests, benchmarks and scripts, configured in pyproject.toml;
- mypy (strict, see [tool.mypy]) over the package.

They need the checkout (pyproject.toml, the sources), as the rest of tests/ does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_ruff_clean() -> None:
    proc = _run(["ruff", "check", "--no-cache", "src", "tests", "benchmarks", "scripts"], cwd=REPO_ROOT)
    assert proc.returncode == 0, f"ruff check found problems (ruff check --fix fixes some):\n{proc.stdout}{proc.stderr}"


def test_mypy_clean() -> None:
    # Configuration (files, strictness, per-module overrides) is [tool.mypy] in pyproject.toml.
    proc = _run(["mypy"], cwd=REPO_ROOT)
    assert proc.returncode == 0, f"mypy found problems:\n{proc.stdout}{proc.stderr}"

