"""Run a test script in a fresh interpreter, so that a crash or a hang fails one test instead of
killing or hanging pytest (shared by tests/test_crashes.py and tests/test_threads.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import fusion

_SRC = str(Path(fusion.__file__).resolve().parents[1])


def run_isolated(code: str, timeout: float = 120.0) -> Any:
    """Runs `code` in a fresh interpreter; it must print one JSON object as its last line.
    Fails the test (with the child's stderr) on a hang (timeout), a signal or a non-zero exit."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([_SRC, os.environ.get("PYTHONPATH", "")]))
    proc = None
    try:
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        pass  # failed below, outside the handler (no chained traceback quoting the script)
    if proc is None:
        pytest.fail(f"child process hung (no exit within {timeout} s): deadlock?")
    if proc.returncode < 0:
        pytest.fail(f"child process killed by {signal.Signals(-proc.returncode).name}\n{proc.stderr[-3000:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
