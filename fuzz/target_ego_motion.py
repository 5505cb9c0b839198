"""Fuzz target: ego-motion input to the fusion engine (fusion.engine.FusionEngine.ego_motion:
one sample or arrays of samples, speeds and yaw rates mostly plausible, sometimes any double,
times forward, equal or backward, int64 extremes) interleaved with radar / lidar frames and
``tracks(at_ns=)``, so the tracks are placed with the integrated pose.

Documented: the fusion.errors types (NumericalError, TimestampError, ShapeError, ...); a call
that raises changes nothing. Checks after every call: the engine_step checks (ids unique, x and
box finite, P symmetric positive definite) and a failed ego_motion call leaves the tracks and the
ego statistics unchanged."""

from __future__ import annotations

import numpy as np
from target_engine_step import _frame, check_tracks

from fusion.engine import EngineConfig, FusionEngine
from fusion.errors import FusionError

from fuzz_harness import Bytes, Target

_ENGINE: list[FusionEngine] = []


def _engine() -> FusionEngine:
    if not _ENGINE:
        _ENGINE.append(FusionEngine(EngineConfig.car(num_classes=3, late_policy="drop", bad_detection="skip",
                                                     max_tracks=64, max_detections=16)))
    e = _ENGINE[0]
    e.reset()
    return e


def _time(b: Bytes, t: int) -> int:
    k = b.u8()
    if k % 32 == 0:  # the int64 extremes and their neighbours
        return [-(2**63), -(2**63) + 1, 2**63 - 1, 0, -1][b.u8() % 5]
    return min(max(0, t + b.sint(2) * 1_000_000), 2**63 - 1)  # an int64 (the target's own arithmetic)


def run(data: bytes) -> None:
    b = Bytes(data)
    e = _engine()
    t = 1_000_000_000 + b.uint(3)
    while b.left() > 0:
        op = b.u8()
        before, stats = e.tracks(), e.stats()
        try:
            with np.errstate(all="ignore"):
                if op % 4 == 0:  # arrays of samples
                    n = b.u8() % 6
                    ts = [t := _time(b, t) for _ in range(n)]
                    v = [b.number(-5, 40) for _ in range(n)]
                    w = [b.number(-1, 1) for _ in range(n)]
                    e.ego_motion(np.array(ts, np.int64), np.array(v), np.array(w))
                elif op % 4 == 1:
                    t = _time(b, t)
                    e.ego_motion(t, b.number(-5, 40), b.number(-1, 1))
                elif op % 4 == 2:
                    t = _time(b, t)
                    e.tracks(at_ns=t)
                else:
                    t = _time(b, t)
                    s = (0, 2)[b.u8() % 2]  # lidar or radar
                    e.process(s, t, **_frame(b, s))
        except FusionError:
            assert before.tobytes() == e.tracks().tobytes(), "a failed call changed the tracks"
            if op % 4 in (0, 1):
                assert e.stats()["ego_gaps"] == stats["ego_gaps"], "a failed ego_motion call changed the stats"
        check_tracks(e.tracks())


TARGET = Target("ego_motion", run)
