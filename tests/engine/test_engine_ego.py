"""Ego motion in the engine (contract C1): ``process(..., ego=...)`` and ``tracks(at_ns=...,
vehicle_pose=...)``.

Known truth: a car drives a circle (10 m/s, yaw rate 0.1 rad/s) past a stationary object; a
radar mounted 3.5 m ahead, 0.4 m left and yawed 0.2 rad reports range, azimuth and range rate,
computed here by hand (the sensor's position and velocity on the rigid body, the unit line of
sight u, range rate = -v_sensor . u), not by the engine's radar model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusion.engine import EngineConfig, FusionEngine, LifecycleConfig, SensorConfig
from fusion.engine.config import rotation_from_ypr
from fusion.errors import NumericalError, ShapeError

V, OMEGA = 10.0, 0.1
MX, MY, MYAW = 3.5, 0.4, 0.2
OBJ = np.array([70.0, 12.0])
DT_NS = 50_000_000
Q = [0.01, 0.01, 0.01, 0.05, 0.05, 0.01, 0.01, 0.01, 0.01, 0.01]


def config(gate_chi2: float = 0.0) -> EngineConfig:
    radar = SensorConfig(name="radar", model="radar", mount_R=rotation_from_ypr(MYAW), mount_t=[MX, MY, 0.5],
                         R=np.diag([0.01, 1e-5, 0.01]), cost="mahalanobis", gate=0.999, gate_chi2=gate_chi2)
    return EngineConfig(sensors=[radar], motion="cv_box", q_diag_per_s=Q, p0_diag=[1, 1, 1, 100, 100, 1, 1, 1, 1, 1],
                        max_tracks=8, max_detections=8, max_image_tracks=0,
                        lifecycle=LifecycleConfig(confirm_hits=2, confirm_window=3, confirm_by_existence=False,
                                                  delete_existence=0.0))


def pose(t: float) -> tuple[float, float, float]:
    yaw = OMEGA * t
    return V / OMEGA * math.sin(yaw), V / OMEGA * (1.0 - math.cos(yaw)), yaw


def ego(t: float) -> tuple[float, float, float, float, float]:
    return (*pose(t), V, OMEGA)


def radar_z(t: float) -> np.ndarray:
    x, y, yaw = pose(t)
    c, s = math.cos(yaw), math.sin(yaw)
    sensor = np.array([x + c * MX - s * MY, y + s * MX + c * MY])
    lever = np.array([V - OMEGA * MY, OMEGA * MX])           # v_origin + omega x t, vehicle frame
    v_sensor = np.array([c * lever[0] - s * lever[1], s * lever[0] + c * lever[1]])
    d = OBJ - sensor
    r = float(np.hypot(*d))
    u = d / r
    az = math.atan2(d[1], d[0]) - (yaw + MYAW)
    az = math.atan2(math.sin(az), math.cos(az))
    return np.array([[r, az, -float(v_sensor @ u)]])


def drive(use_ego: bool, frames: int = 60, cfg: EngineConfig | None = None) -> FusionEngine:
    eng = FusionEngine(cfg or config())
    for k in range(frames):
        t = 0.05 * k
        eng.process("radar", k * DT_NS, radar_z(t), ego=ego(t) if use_ego else None)
    return eng


def test_stationary_object_from_a_turning_car_stays_put_with_zero_velocity() -> None:
    tr = drive(True).tracks()
    assert len(tr) == 1
    assert tr["hits"][0, 0] == 60
    np.testing.assert_allclose(tr["x"][0, :2], OBJ, atol=0.1)
    assert np.hypot(*tr["x"][0, 3:5]) < 0.05


def test_same_scene_without_ego_tracks_the_object_as_moving() -> None:
    tr = drive(False).tracks()
    r = tr[np.argmax(tr["hits"][:, 0])]                         # the longest-lived track
    assert r["hits"][0] >= 20
    assert r["x"][3] < -8.0                                     # comes at the car at about its speed
    assert np.hypot(*(r["x"][:2] - OBJ)) > 10.0                 # and is where the car sees it


@pytest.mark.parametrize("hand", [True, False])
def test_predicted_range_rate_is_minus_v_dot_line_of_sight(hand: bool) -> None:
    """A tight gate (chi2 16 on 3 dof, range-rate sigma 0.1 m/s): the hand range rate is a hit;
    the static-sensor value (0 for a stationary object) misses and starts a second track."""
    eng = drive(True, 40, config(gate_chi2=16.0))
    z = radar_z(2.0)
    assert z[0, 2] < -9.0
    if not hand:
        z[0, 2] = 0.0
    eng.process("radar", 40 * DT_NS, z, ego=ego(2.0))
    tr = eng.tracks()
    assert len(tr) == (1 if hand else 2)
    assert tr["detection"][0, 0] == (0 if hand else -1)


@pytest.mark.parametrize("i, name", list(enumerate(["ego_x_m", "ego_y_m", "ego_yaw_rad", "ego_speed_mps",
                                                    "ego_yaw_rate_rps"])))
def test_non_finite_ego_raises_naming_the_field_and_changes_nothing(i: int, name: str) -> None:
    eng = drive(True, 10)
    before = eng.tracks()
    e = list(ego(0.5))
    e[i] = math.nan if i % 2 else math.inf
    with pytest.raises(NumericalError, match=name):
        eng.process("radar", 10 * DT_NS, radar_z(0.5), ego=tuple(e))
    assert eng.tracks().tobytes() == before.tobytes()
    assert eng.time_ns == 9 * DT_NS


def test_ego_of_the_wrong_shape_raises() -> None:
    eng = drive(True, 2)
    with pytest.raises(ShapeError, match="ego"):
        eng.process("radar", 2 * DT_NS, radar_z(0.1), ego=(0.0, 0.0, 0.0))  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="ego"):
        eng.process("radar", 2 * DT_NS, radar_z(0.1), ego=(0.0, 0.0, 0.0, "fast", 0.0))  # type: ignore[arg-type]


def test_without_ego_results_are_those_of_the_static_mount() -> None:
    """ego=None and ego = the identity pose with zero motion give byte-identical tracks."""
    a = drive(False, 20)
    b = FusionEngine(config())
    for k in range(20):
        b.process("radar", k * DT_NS, radar_z(0.05 * k), ego=(0.0, 0.0, 0.0, 0.0, 0.0))
    assert a.tracks().tobytes() == b.tracks().tobytes()


def test_export_at_time_equals_the_hand_prediction() -> None:
    eng = drive(True, 20)
    r0 = eng.tracks()[0]
    dt = 0.4
    at = int(r0["t_ns"]) + 400_000_000
    pr = eng.tracks(at_ns=at)[0]
    F = np.eye(10)
    F[0:3, 3:6] = dt * np.eye(3)
    np.testing.assert_allclose(pr["x"], F @ r0["x"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(pr["P"], F @ r0["P"] @ F.T + np.diag(Q) * dt, rtol=0, atol=1e-10)
    assert pr["t_ns"] == at
    np.testing.assert_allclose(pr["box"][:2], pr["x"][:2], atol=1e-12)
    np.testing.assert_allclose(pr["velocity"], r0["velocity"], atol=1e-12)
    # an earlier time: as it is; and the engine did not change
    assert eng.tracks(at_ns=int(r0["t_ns"]) - 1).tobytes() == eng.tracks().tobytes()
    assert eng.tracks()[0].tobytes() == r0.tobytes()


def test_export_vehicle_frame_equals_the_hand_transform() -> None:
    eng = drive(True, 30)
    t = 29 * 0.05
    r0 = eng.tracks()[0]
    ex, ey, eyaw = pose(t)
    v = eng.tracks(vehicle_pose=(ex, ey, eyaw))[0]
    c, s = math.cos(eyaw), math.sin(eyaw)
    Rt = np.array([[c, s], [-s, c]])
    np.testing.assert_allclose(v["box"][:2], Rt @ (r0["box"][:2] - [ex, ey]), atol=1e-12)
    assert v["box"][3] == pytest.approx(math.remainder(r0["box"][3] - eyaw, 2 * math.pi), abs=1e-12)
    np.testing.assert_array_equal(v["box"][[2, 4, 5, 6]], r0["box"][[2, 4, 5, 6]])
    np.testing.assert_allclose(v["velocity"][:2], Rt @ r0["velocity"][:2], atol=1e-12)
    np.testing.assert_array_equal(v["x"], r0["x"])                 # x, P stay in the tracking frame
    np.testing.assert_array_equal(v["P"], r0["P"])
    # the car sees the object where the radar says: range from the radar's position
    sensor = np.array([MX, MY])
    assert np.hypot(*(v["box"][:2] - sensor)) == pytest.approx(radar_z(t)[0, 0], abs=0.1)
    # both options together, and bad poses
    both = eng.tracks(at_ns=int(r0["t_ns"]) + 100_000_000, vehicle_pose=(ex, ey, eyaw))[0]
    assert both["t_ns"] == int(r0["t_ns"]) + 100_000_000
    with pytest.raises(NumericalError, match="ego_yaw_rad"):
        eng.tracks(vehicle_pose=(0.0, 0.0, math.nan))
    with pytest.raises(ShapeError, match="vehicle_pose"):
        eng.tracks(vehicle_pose=(0.0, 0.0))  # type: ignore[arg-type]
