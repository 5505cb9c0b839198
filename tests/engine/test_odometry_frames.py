"""Tracks in the odometry frame and at a publish time (docs/ARCHITECTURE.md, "The time layer"):
with the car's speed and yaw rate given, stationary objects seen by the lidar and the radar of a
car driving an arc stay put (position and zero velocity) in the odometry frame; ``tracks(at_ns=,
frame="vehicle")`` gives them where the car sees them at that time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusion.engine import EngineConfig, FieldOfView, FusionEngine, LifecycleConfig, SensorConfig
from fusion.errors import ConfigurationError, TimestampError

MS = 1_000_000
V, W = 10.0, 0.1
LIDAR_T = np.array([1.5, 0.0, 1.8])
RADAR_T = np.array([3.5, 0.0, 0.5])
OBJECTS = np.array([[40.0, 10.0], [60.0, -5.0]])


def pose(t: float) -> tuple[float, float, float]:
    r = V / W
    return r * math.sin(W * t), r * (1 - math.cos(W * t)), W * t


def to_vehicle(p: tuple[float, float, float], xy: np.ndarray) -> np.ndarray:
    c, s = math.cos(p[2]), math.sin(p[2])
    d = xy - np.array(p[:2])
    return np.column_stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]])


def config() -> EngineConfig:
    lidar = SensorConfig.lidar("lidar", mount_t=LIDAR_T.tolist(), cost="mahalanobis", gate=0.999,
                               R=np.diag([0.01] * 7), fov=FieldOfView(max_range_m=150.0))
    radar = SensorConfig.radar("radar", mount_t=RADAR_T.tolist(), R=np.diag([0.04, 1e-5, 0.01]), births=False)
    return EngineConfig(sensors=[lidar, radar], q_diag_per_s=[0.05] * 6 + [0.01, 0.001, 0.001, 0.001],
                        lifecycle=LifecycleConfig(confirm_hits=2, confirm_window=3))


def drive(eng: FusionEngine, seconds: float = 5.0) -> None:
    t = np.arange(0, int(seconds * 1000) + 1001, 10) * MS
    eng.ego_motion(t, np.full(len(t), V), np.full(len(t), W))
    for f in range(int(seconds * 10)):
        tl, tr = f * 100 * MS, f * 100 * MS + 50 * MS
        pl, pr = pose(tl * 1e-9), pose(tr * 1e-9)
        v = to_vehicle(pl, OBJECTS)
        zl = np.column_stack([v - LIDAR_T[:2], np.full(2, 0.75 - LIDAR_T[2]), np.full(2, -pl[2]),
                              np.tile([4.0, 1.8, 1.5], (2, 1))])
        eng.process("lidar", tl, zl)
        s = to_vehicle(pr, OBJECTS) - RADAR_T[:2]
        sz = 0.75 - RADAR_T[2]
        rng3 = np.sqrt((s ** 2).sum(1) + sz ** 2)
        u = np.array([V - W * RADAR_T[1], W * RADAR_T[0]])  # the radar's own velocity
        zr = np.column_stack([np.hypot(s[:, 0], s[:, 1]), np.arctan2(s[:, 1], s[:, 0]), -(s @ u) / rng3])
        eng.process("radar", tr, zr)


def test_stationary_objects_stay_put_in_the_odometry_frame() -> None:
    eng = FusionEngine(config())
    drive(eng)
    tr = eng.tracks(include_deleted=False)
    assert len(tr) == 2
    order = np.argsort(tr["box"][:, 0])
    assert np.abs(tr["box"][order, :2] - OBJECTS).max() < 0.1
    assert np.hypot(tr["velocity"][:, 0], tr["velocity"][:, 1]).max() < 0.1


def test_without_ego_motion_the_same_objects_drift() -> None:
    """The control: the same measurements without the CAN samples look like moving objects."""
    eng = FusionEngine(config())
    ego = eng.ego_motion
    eng.ego_motion = lambda *a: None  # type: ignore[method-assign]
    drive(eng)
    eng.ego_motion = ego  # type: ignore[method-assign]
    tr = eng.tracks(include_deleted=False)
    assert len(tr) >= 1 and np.hypot(tr["velocity"][:, 0], tr["velocity"][:, 1]).min() > 5.0


def test_publish_time_in_the_vehicle_and_odometry_frames() -> None:
    eng = FusionEngine(config())
    drive(eng)
    at = 4_970 * MS
    p = pose(at * 1e-9)
    e = eng.ego_pose(at)
    assert (e["x_m"], e["y_m"]) == pytest.approx(p[:2], abs=1e-9)
    veh = eng.tracks(include_deleted=False, at_ns=at, frame="vehicle")
    odo = eng.tracks(include_deleted=False, at_ns=at)
    assert np.array_equal(veh["id"], odo["id"]) and np.array_equal(veh["x"], odo["x"])  # x stays in the tracking frame
    order = np.argsort(odo["box"][:, 0])
    assert np.abs(odo["box"][order, :2] - OBJECTS).max() < 0.1
    assert np.abs(veh["box"][order, :2] - to_vehicle(p, OBJECTS)).max() < 0.15
    assert (odo["t_ns"] == at).all() and at > eng.time_ns  # predicted forward to the publish time
    with pytest.raises(TimestampError):
        eng.tracks(at_ns=20_000 * MS, frame="vehicle")
    with pytest.raises(ConfigurationError, match="frame"):
        eng.tracks(frame="world")
