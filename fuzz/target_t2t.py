"""Fuzz target: the track-to-track fuser (fusion.t2t.TrackFuser.update / tracks) of three
sources (a car with per-list poses, a roadside unit, a refine-only source) fed track lists
decoded from the input: ids (repeats, int64 extremes), track times, states and covariances
mostly plausible and sometimes NaN / inf / huge / not positive definite, poses, list times
forward, equal and late (within and beyond max_delay_s).

Documented: the fusion.errors types (TrackListError, NumericalError, ShapeError,
ConfigurationError, TimestampError); a failed update changes nothing. Checks after every call:
fused ids unique and positive, x finite, P symmetric positive definite, time_ns never goes back."""

from __future__ import annotations

import numpy as np

from fusion.errors import FusionError
from fusion.t2t import SourceConfig, TrackFuser, TrackFuserConfig

from fuzz_harness import Bytes, Target

_FUSER: list[TrackFuser] = []


def _fuser() -> TrackFuser:
    if not _FUSER:
        _FUSER.append(TrackFuser(TrackFuserConfig(
            sources=[SourceConfig("car", latency_s=0.05), SourceConfig("rsu", 0.1, (50.0, -3.0, 1.2)),
                     SourceConfig("aux", 0.0, births=False)],
            max_fused_tracks=32, max_source_tracks=8)))
    f = _FUSER[0]
    f.reset()
    return f


def _check(f: TrackFuser, last_t: int | None) -> None:
    tr = f.tracks()
    assert len(np.unique(tr["id"])) == len(tr) and (tr["id"] > 0).all(), tr["id"]
    assert np.isfinite(tr["x"]).all(), tr["x"]
    for P in tr["P"]:
        assert np.isfinite(P).all() and np.allclose(P, P.T, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(P).max())), P
        assert np.linalg.eigvalsh(0.5 * (P + P.T)).min() > -1e-12 * np.abs(P).max(), np.linalg.eigvalsh(P)
    t = f.time_ns
    assert last_t is None or (t is not None and t >= last_t), (last_t, t)


def run(data: bytes) -> None:
    b = Bytes(data)
    f = _fuser()
    t = 10**9 + b.uint(3)
    while b.left() > 0:
        op = b.u8()
        t = max(0, t + b.sint(1) * 20_000_000)  # -2.56 s .. +2.54 s
        before, stats, last_t = f.tracks().tobytes(), f.stats(), f.time_ns
        try:
            with np.errstate(all="ignore"):
                if op % 5 == 4:
                    f.tracks(at=t)
                    continue
                src = op % 3
                n = b.u8() % 6
                ids = np.array([b.u8() % 8 if b.u8() % 32 else [-(2**63), 2**63 - 1][b.u8() % 2] for _ in range(n)],
                               np.int64)
                tt = np.array([t - b.u8() * 1_000_000 for _ in range(n)], np.int64) if op & 8 else None
                x = np.array([[b.number(-80, 80), b.number(-80, 80), b.number(-20, 20), b.number(-20, 20)]
                              for _ in range(n)]).reshape(n, 4)
                P = np.zeros((n, 4, 4))
                for i in range(n):
                    P[i] = np.diag([b.number(1e-3, 20) for _ in range(4)])
                    if b.u8() % 8 == 0:
                        P[i, 0, 1] = b.number(-50, 50)  # non-symmetric or (symmetrised) indefinite
                pose = (b.number(-100, 100), b.number(-100, 100), b.number(-3.2, 3.2)) if op & 16 else None
                f.update(src, t, ids, tt, x, P, pose=pose)
        except FusionError:
            assert f.tracks().tobytes() == before, "a failed update changed the tracks"
            assert f.stats() == stats, "a failed update changed the counters"
        _check(f, last_t)


TARGET = Target("t2t", run)
