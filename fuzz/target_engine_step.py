"""Fuzz target: the fusion step (fusion.engine.FusionEngine.process / step) of a car (lidar,
camera, radar; fusion.engine.EngineConfig.car) fed detection frames decoded from the input: random
sensors, counts, values (mostly plausible, sometimes any double), optional R, scores and classes,
and times that go forward, stand still or go back (late frames, inside and beyond the
out-of-sequence horizon), under each late_policy / bad_detection choice.

Documented: the fusion.errors types (ShapeError, NumericalError, TimestampError, ...); a call that
raises changes nothing. Checks after every call: track ids unique among live tracks, x and box
finite, P symmetric positive definite; a failed call leaves the tracks as they were."""

from __future__ import annotations

import numpy as np

from fusion.engine import EngineConfig, FusionEngine, MeasurementBatch
from fusion.errors import FusionError

from fuzz_harness import Bytes, Target

_RANGES = {  # per sensor: plausible (lo, hi) of each measurement component
    0: [(-60, 60), (-60, 60), (-3, 3), (-3.2, 3.2), (0.1, 8), (0.1, 3), (0.1, 3)],  # lidar x y z yaw l w h
    1: [(0, 1280), (0, 720), (0, 1280), (0, 720)],  # camera x1 y1 x2 y2
    2: [(0.5, 150), (-1, 1), (-30, 30)],  # radar range azimuth range_rate
}
_ENGINES: dict[tuple[str, str], FusionEngine] = {}


def _engine(late: str, bad: str) -> FusionEngine:
    key = (late, bad)
    if key not in _ENGINES:
        _ENGINES[key] = FusionEngine(EngineConfig.car(num_classes=3, late_policy=late, bad_detection=bad,
                                                      max_tracks=64, max_detections=16))
    e = _ENGINES[key]
    e.reset()
    return e


def check_tracks(tr: np.ndarray) -> None:
    live = tr[tr["status"] != 3]
    assert len(np.unique(live["id"])) == len(live), live["id"]
    assert np.isfinite(tr["x"]).all() and np.isfinite(tr["box"]).all(), tr["x"]
    for P in tr["P"]:
        assert np.isfinite(P).all() and np.allclose(P, P.T, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(P).max())), P
        assert np.linalg.eigvalsh(0.5 * (P + P.T)).min() > 0, np.linalg.eigvalsh(P)


def _frame(b: Bytes, sensor: int) -> dict[str, np.ndarray | None]:
    with np.errstate(all="ignore"):  # the input's NaN / inf / huge values are the point here
        return _frame_values(b, sensor)


def _frame_values(b: Bytes, sensor: int) -> dict[str, np.ndarray | None]:
    n = b.u8() % 5
    r = _RANGES[sensor]
    z = np.array([[b.number(lo, hi) for lo, hi in r] for _ in range(n)], np.float64).reshape(n, len(r))
    if sensor == 1:  # mostly ordered camera boxes
        z[:, 2:] = np.maximum(z[:, 2:], z[:, :2] + 1.0) if b.u8() % 4 else z[:, 2:]
    flags = b.u8()
    R = None
    if flags & 1:
        m = len(r)
        R = np.zeros((n, m, m))
        for i in range(n):
            R[i] = np.eye(m) * b.number(1e-3, 10.0)
    score = np.array([b.number(0, 1) for _ in range(n)]) if flags & 2 else None
    cls = np.array([(b.u8() % 5) - 1 for _ in range(n)], np.int32) if flags & 4 else None
    return {"z": z, "R": R, "score": score, "class_id": cls}


def run(data: bytes) -> None:
    b = Bytes(data)
    mode = b.u8()
    e = _engine("raise" if mode & 1 else "drop", "skip" if mode & 2 else "raise")
    t = 1_000_000_000 + b.uint(4)
    while b.left() > 0:
        op = b.u8()
        t += b.sint(2) * 1_000_000  # -32.8 s .. +32.8 s in 1 ms steps: late frames within and beyond the horizon
        t = max(t, 0)
        before = e.tracks()
        try:
            if op % 8 == 7:  # a batch of frames of every sensor
                rows_sensor, rows_t, rows_z = [], [], []
                for s in range(3):
                    f = _frame(b, s)
                    z = f["z"]
                    assert z is not None
                    zz = np.full((len(z), 7), np.nan)
                    zz[:, :z.shape[1]] = z
                    rows_sensor += [s] * len(z)
                    rows_t += [t + s * 1000] * len(z)
                    rows_z.append(zz)
                e.step(MeasurementBatch(np.array(rows_sensor, np.int32), np.array(rows_t, np.int64),
                                        np.concatenate(rows_z)))
            elif op % 8 == 6:
                e.tracks(at_ns=t)
            else:
                s = op % 3
                e.process(s, t, **_frame(b, s))
        except FusionError:
            after = e.tracks()
            assert before.tobytes() == after.tobytes(), "a failed call changed the tracks"
        check_tracks(e.tracks())


TARGET = Target("engine_step", run)
