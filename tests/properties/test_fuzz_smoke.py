"""The fuzz targets (fuzz/, run by scripts/fuzz.py under atheris) without atheris: each target
imports and accepts its whole seed corpus (every seed runs cleanly or raises one of the target's
documented errors), and the harness tells a finding from a documented error."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from fusion.errors import NumericalError

from fuzz_harness import TARGET_NAMES, Target, load_target, run_one, seed_files


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_target_accepts_its_seed_corpus(name: str) -> None:
    target = load_target(name)
    seeds = seed_files(name)
    assert len(seeds) >= 2, f"fuzz/corpus/{name}/ needs a seed corpus"
    findings = [(p.name, f.text) for p in seeds if (f := run_one(target, p.read_bytes())) is not None]
    assert not findings, findings


def _raise(exc: BaseException) -> None:
    raise exc


def test_harness_tells_findings_from_documented_errors() -> None:
    def warn(_: bytes) -> None:
        warnings.warn("overflow", RuntimeWarning, stacklevel=1)

    assert run_one(Target("t", lambda d: _raise(NumericalError("bad z"))), b"") is None
    f = run_one(Target("t", lambda d: _raise(KeyError("x"))), b"abc")
    assert f is not None and f.key.startswith("KeyError@") and f.data == b"abc"
    assert run_one(Target("t", lambda d: _raise(RecursionError())), b"") is not None
    assert run_one(Target("t", warn), b"") is not None  # an unexpected warning is a finding
    assert run_one(Target("t", warn, allowed_warnings=(RuntimeWarning,)), b"") is None


def test_targets_check_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A target fails when its entry point returns something wrong, not only when it raises: the
    stream reader made to hand out a NaN measurement is a finding."""
    import numpy as np

    import fusion.hil.streams as streams

    target = load_target("streams")
    seed = seed_files("streams")[0].read_bytes()
    real = streams.read_stream

    def nan_stream(*a: Any, **k: Any) -> Iterator[streams.StreamFrame]:
        for f in real(*a, **k):
            yield f._replace(z=np.full_like(f.z, np.nan))

    monkeypatch.setitem(target.run.__globals__, "read_stream", nan_stream)
    f = run_one(target, seed)
    assert f is not None and f.key.startswith("AssertionError")
