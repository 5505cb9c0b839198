"""Ego motion through FusionEngine (docs/ARCHITECTURE.md, "The time layer"): speed and yaw-rate
samples integrated into the odometry pose, against the circle's closed form and a fine Euler
integration of a simulated drive's CAN signals; bad input (NaN, older samples, a gap of seconds)
with its defined behaviour; reset."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusion.datasets import make_scenario
from fusion.engine import EngineConfig, FusionEngine
from fusion.errors import NumericalError, ShapeError, TimestampError

MS = 1_000_000


def engine(**kw: object) -> FusionEngine:
    return FusionEngine(EngineConfig.car(**kw))


def wrapped(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def test_constant_speed_and_yaw_rate_follow_the_circle() -> None:
    eng = engine()
    v, w = 12.0, -0.25
    t = np.arange(0, 4001, 10) * MS  # 100 Hz for 4 s, as arrays
    eng.ego_motion(t, np.full(len(t), v), np.full(len(t), w))
    R = v / w
    for tq in (0, 7 * MS, 1234 * MS + 5, 4000 * MS, 4300 * MS):
        s = tq * 1e-9
        p = eng.ego_pose(tq)
        assert p["x_m"] == pytest.approx(R * math.sin(w * s), abs=1e-9)
        assert p["y_m"] == pytest.approx(R * (1 - math.cos(w * s)), abs=1e-9)
        assert abs(wrapped(p["yaw_rad"] - w * s)) < 1e-12
        assert (p["speed_mps"], p["yaw_rate_rps"]) == (v, w)


def test_a_drive_agrees_with_a_fine_euler_integration_and_the_truth() -> None:
    """The urban scenario's CAN (speed and yaw rate every 10 ms, with a left turn): the engine's
    odometry against Euler with 10,000 sub-steps of the same held inputs, and against the
    scenario's own ground-truth pose (in the frame of the first sample), over the last 10 s
    (the kept samples)."""
    sc = make_scenario("urban", seed=0, duration_s=40.0)
    ego = sc.ego
    eng = engine()
    eng.ego_motion(ego.t_ns, ego.speed, ego.yaw_rate)
    assert np.abs(ego.yaw_rate).max() > 0.3 and ego.speed.max() > 5.0
    x = y = yaw = 0.0
    sub = np.arange(10_000)  # Euler steps of 1 us per 10 ms interval (its own error ~1e-4 m here)
    poses = [(0.0, 0.0, 0.0)]
    for i in range(len(ego) - 1):
        h = (ego.t_ns[i + 1] - ego.t_ns[i]) * 1e-9 / len(sub)
        v, w = float(ego.speed[i]), float(ego.yaw_rate[i])
        yaws = yaw + w * h * sub  # the heading before each Euler step
        x += v * h * float(np.cos(yaws).sum())
        y += v * h * float(np.sin(yaws).sum())
        yaw += w * h * len(sub)
        poses.append((x, y, yaw))
    c, s = math.cos(ego.yaw[0]), math.sin(ego.yaw[0])
    for i in range(len(ego) - 1000, len(ego), 37):  # the odometry keeps the newest 1024 samples
        p = eng.ego_pose(int(ego.t_ns[i]))
        ex, ey, eyaw = poses[i]
        assert p["x_m"] == pytest.approx(ex, abs=1e-3) and p["y_m"] == pytest.approx(ey, abs=1e-3)
        assert abs(wrapped(p["yaw_rad"] - eyaw)) < 1e-8
        # the truth pose in the odometry frame (the vehicle frame at the first sample)
        dx, dy = ego.x[i] - ego.x[0], ego.y[i] - ego.y[0]
        tx, ty = c * dx + s * dy, -s * dx + c * dy
        assert p["x_m"] == pytest.approx(tx, abs=0.5) and p["y_m"] == pytest.approx(ty, abs=0.5)


def test_nan_and_older_samples_raise_and_add_nothing() -> None:
    eng = engine()
    eng.ego_motion(0, 5.0, 0.1)
    eng.ego_motion(100 * MS, 5.0, 0.1)
    before = eng.ego_pose(150 * MS)
    with pytest.raises(NumericalError, match="speed_mps"):
        eng.ego_motion(200 * MS, float("nan"), 0.0)
    with pytest.raises(NumericalError, match="sample 1 .*yaw_rate_rps"):
        eng.ego_motion([200 * MS, 300 * MS], [1.0, 1.0], [0.0, float("inf")])
    with pytest.raises(TimestampError, match="older"):
        eng.ego_motion(50 * MS, 5.0, 0.1)
    with pytest.raises(TimestampError, match="older"):
        eng.ego_motion([200 * MS, 150 * MS], [1.0, 1.0], [0.0, 0.0])
    with pytest.raises(TimestampError, match="integers"):
        eng.ego_motion(0.2, 1.0, 0.0)
    with pytest.raises(ShapeError):
        eng.ego_motion([200 * MS, 300 * MS], [1.0], [0.0, 0.0])
    assert eng.ego_pose(150 * MS) == before
    with pytest.raises(TimestampError, match="ego_max_extrapolation_s"):
        eng.ego_pose(601 * MS + 1)  # 0.5 s after the newest sample
    assert eng.ego_pose(600 * MS)["x_m"] == pytest.approx(before["x_m"] + 5.0 * 0.45, abs=0.05)


def test_a_gap_of_seconds_is_integrated_and_counted() -> None:
    eng = engine(ego_max_gap_s=0.2)
    eng.ego_motion([0, 100 * MS, 200 * MS], [3.0, 3.0, 3.0], [0.0, 0.0, 0.0])
    assert eng.stats()["ego_gaps"] == 0
    eng.ego_motion(3200 * MS, 0.0, 0.0)  # 3 s without CAN: held at 3 m/s
    assert eng.stats()["ego_gaps"] == 1
    assert eng.ego_pose(3200 * MS)["x_m"] == pytest.approx(9.6, abs=1e-12)
    eng.reset()
    assert eng.stats()["ego_gaps"] == 0
    with pytest.raises(TimestampError, match="no ego-motion sample"):
        eng.ego_pose(0)
