"""The contract of a fuzz target and its replay without atheris (shared by scripts/fuzz.py and
tests/properties/test_fuzz_smoke.py).

A target module in this folder (``fuzz/target_<name>.py``) defines ``TARGET = Target(...)``:
``run(data)`` feeds one input (arbitrary bytes) to one library entry point and checks what comes
out; ``documented`` are the exception types the entry point's docstring allows for bad input.
Anything else a run raises (another exception, a failed output check as AssertionError, a warning
other than the ``allowed_warnings``, which the harness turns into errors) is a finding.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fusion.errors import FusionError

FUZZ_DIR = Path(__file__).resolve().parent
CORPUS_DIR = FUZZ_DIR / "corpus"
TARGET_NAMES = ("can_decode", "can_logs", "kitti_io", "rig_toml", "streams", "engine_config", "engine_step",
                "mf4_logs", "parquet_streams", "rig_dbc", "ego_motion", "imm_bank", "t2t")


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    documented: tuple[type[BaseException], ...] = (FusionError,)
    allowed_warnings: tuple[type[Warning], ...] = ()


@dataclass
class Finding:
    target: str
    key: str  # exception type and the innermost frame: one key per distinct bug
    data: bytes
    text: str  # the traceback


def scratch_dir() -> Path:
    """A per-process folder for the files a target writes (tmpfs when there is one)."""
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    d = base / f"fusion-fuzz-{os.getpid()}"
    d.mkdir(exist_ok=True)
    return d


def write_input(name: str, data: bytes) -> Path:
    p = scratch_dir() / name
    p.write_bytes(data)
    return p


def finding_key(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    inner = next((f for f in reversed(tb) if "/fusion/" in f.filename), tb[-1] if tb else None)
    where = f"{Path(inner.filename).name}:{inner.lineno}" if inner is not None else "?"
    return f"{type(exc).__name__}@{where}"


def run_one(target: Target, data: bytes) -> Finding | None:
    """One input: None if it ran cleanly or raised a documented error, else the finding."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for w in target.allowed_warnings:
            warnings.simplefilter("ignore", w)
        try:
            target.run(data)
        except target.documented:
            return None
        except (Exception, RecursionError) as exc:  # noqa: BLE001 - every other exception is a finding
            return Finding(target.name, finding_key(exc), data, "".join(traceback.format_exception(exc)))
    return None


def save_finding(f: Finding, folder: Path) -> Path | None:
    """Writes a finding's input and traceback once per key; returns the input's path when new."""
    folder.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha1(f.key.encode()).hexdigest()[:10]
    p = folder / f"{tag}.bin"
    if p.exists():
        return None
    p.write_bytes(f.data)
    (folder / f"{tag}.txt").write_text(f"{f.key}\n\n{f.text}")
    return p


def seed_files(name: str) -> list[Path]:
    return sorted(p for p in (CORPUS_DIR / name).iterdir() if p.is_file())


def replay(target: Target, paths: Iterable[Path]) -> list[Finding]:
    out = []
    for p in paths:
        f = run_one(target, p.read_bytes())
        if f is not None:
            out.append(f)
    return out


def load_target(name: str) -> Target:
    import importlib

    if name not in TARGET_NAMES:
        raise SystemExit(f"unknown fuzz target {name!r}; known: {', '.join(TARGET_NAMES)}")
    mod = importlib.import_module(f"target_{name}")
    t: Target = mod.TARGET
    return t


class Bytes:
    """Reads structured values off a fuzz input (a small stand-in for atheris' FuzzedDataProvider
    that needs no atheris, so the seed corpus replays in the plain test run). Past the end every
    read gives zeros."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out

    def uint(self, nbytes: int) -> int:
        return int.from_bytes(self.take(nbytes).ljust(nbytes, b"\0"), "little")

    def u8(self) -> int:
        return self.uint(1)

    def sint(self, nbytes: int) -> int:
        return int.from_bytes(self.take(nbytes).ljust(nbytes, b"\0"), "little", signed=True)

    def f64(self) -> float:
        import struct

        return float(struct.unpack("<d", self.take(8).ljust(8, b"\0"))[0])

    def real(self, lo: float, hi: float) -> float:
        """A value in [lo, hi] from two bytes (most inputs should reach past validation)."""
        return lo + (hi - lo) * self.uint(2) / 65535.0

    def number(self, lo: float, hi: float) -> float:
        """Mostly a value in [lo, hi]; one byte in 16 picks an arbitrary double (NaN, inf, huge)."""
        return self.f64() if self.u8() % 16 == 0 else self.real(lo, hi)
