"""The boundary of docs/ARCHITECTURE.md: the core never imports python-can or cantools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_engine_and_core_import_without_can_libraries() -> None:
    code = ("import sys, fusion, fusion.engine, fusion._core, fusion.tracking\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('can', 'cantools', 'asammdf')"
            " or m.startswith('fusion.hil'))\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_no_core_source_mentions_the_can_libraries() -> None:
    root = SRC.parent / "csrc"
    engine = SRC / "fusion" / "engine"
    offenders = [p for folder in (root, engine) if folder.is_dir()
                 for p in folder.rglob("*") if p.suffix in {".hpp", ".cpp", ".py"}
                 and any(w in p.read_text(errors="replace") for w in ("import can", "cantools", "python-can"))]
    assert offenders == []
