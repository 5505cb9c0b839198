"""Simulated sensors: noise, detection probability and clutter statistics; the measurement
functions against the engine's own sensor models (zero-noise detections through
fusion.engine give tracks at the truth) and against fusion.geometry.projection; the radar's
ego Doppler."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fusion.datasets.driving import make_scenario
from fusion.datasets.sensors import SimSensor, camera_h, in_fov, lidar_h, radar_h, simulate
from fusion.datasets.truth import to_vehicle
from fusion.engine import FusionEngine
from fusion.errors import ConfigurationError
from fusion.geometry.projection import box_corners, project_points


@pytest.fixture(scope="module")
def scene():
    return make_scenario("urban", seed=1, duration_s=40.0)


def noise_free(sc, sensor: str, rows: np.ndarray) -> np.ndarray:
    s = sc.sensor(sensor)
    Rm, tm = np.asarray(s.config.mount_R), np.asarray(s.config.mount_t)
    vt = to_vehicle(sc.truth, sc.ego, rows)
    boxes = np.column_stack([vt.position, vt.yaw, sc.truth.size[rows]])
    if s.kind == "lidar":
        return lidar_h(boxes, Rm, tm)
    if s.kind == "radar":
        return radar_h(vt.position, vt.velocity_ground, sc.ego.sensor_velocity(sc.truth.step[rows], tm), Rm, tm)[0]
    return camera_h(boxes, Rm, tm, np.asarray(s.config.projection), tuple(s.config.image_size))[0]


@pytest.mark.parametrize("sensor", ["lidar", "radar", "camera"])
def test_noise_pd_and_clutter_statistics(scene, sensor: str) -> None:
    sc, s = scene, scene.sensor(sensor)
    d = sc.data[sensor]
    true = d.truth_id >= 0
    rows = sc.truth.lookup(d.t_ns[true] // sc.truth.dt_ns, d.truth_id[true])
    assert np.all(rows >= 0)
    err = d.z[true] - noise_free(sc, sensor, rows)
    if sensor == "radar":
        err[:, 1] = np.angle(np.exp(1j * err[:, 1]))
    if sensor == "lidar":
        err[:, 3] = np.angle(np.exp(1j * err[:, 3]))
    if sensor == "camera":  # clipped edges carry no noise
        err = err[np.all((noise_free(sc, sensor, rows) > 1) & (noise_free(sc, sensor, rows) < 719), axis=1)]
    std = err.std(axis=0)
    n = len(err)
    assert n > 200
    assert np.all(np.abs(std / np.asarray(s.noise_std) - 1.0) < 5.0 / np.sqrt(2 * n) + 0.02), std
    assert np.all(np.abs(err.mean(axis=0)) < 5.0 * np.asarray(s.noise_std) / np.sqrt(n))
    # pd: detected / visible objects over every frame
    frame_steps = d.frame_t_ns // sc.truth.dt_ns
    vis_rows = np.nonzero(np.isin(sc.truth.step, frame_steps))[0]
    vt = to_vehicle(sc.truth, sc.ego, vis_rows)
    Rm, tm = np.asarray(s.config.mount_R), np.asarray(s.config.mount_t)
    vis = in_fov(vt.position, s.config.fov, Rm, tm)
    if sensor == "camera":
        vis &= camera_h(np.column_stack([vt.position, vt.yaw, sc.truth.size[vis_rows]]), Rm, tm,
                        np.asarray(s.config.projection), tuple(s.config.image_size))[1]
    n_vis = int(vis.sum())
    p_hat = true.sum() / n_vis
    assert abs(p_hat - s.pd) < 4.0 * np.sqrt(s.pd * (1 - s.pd) / n_vis) + 1e-3
    # clutter: Poisson, mean clutter_per_frame
    nc = int((~true).sum())
    lam = s.clutter_per_frame * d.num_frames
    assert abs(nc - lam) < 4.0 * np.sqrt(lam)


def test_radar_doppler_of_a_stationary_object_follows_ego_speed(scene) -> None:
    sc = scene
    d = sc.data["radar"]
    parked = np.unique(sc.truth.id[(np.abs(sc.truth.velocity[:, 0]) < 1e-12) & (sc.truth.class_id == 0)
                                   & (np.abs(sc.truth.position[:, 1] + 4.9) < 1e-9)])
    assert len(parked)
    m = np.isin(d.truth_id, parked)
    steps = d.t_ns[m] // sc.truth.dt_ns
    v = sc.ego.speed[steps]
    moving, still = v > 5.0, v == 0.0
    assert moving.sum() > 20 and still.sum() > 20
    # rr = -v cos(azimuth) for a level radar mounted on the centre line (no yaw rate here)
    assert np.abs(d.z[m][moving, 2] + v[moving] * np.cos(d.z[m][moving, 1])).max() < 1.0
    assert np.abs(d.z[m][moving, 2]).min() > 2.0           # a parked car is not at zero Doppler
    assert np.abs(d.z[m][still, 2]).max() < 1.0            # ...unless the ego stands still


def test_camera_h_matches_geometry_projection(scene) -> None:
    sc = scene
    s = sc.sensor("camera")
    rows = sc.truth.rows_at(500)
    vt = to_vehicle(sc.truth, sc.ego, rows)
    boxes = np.column_stack([vt.position, vt.yaw, sc.truth.size[rows]])
    Rm, tm = np.asarray(s.config.mount_R), np.asarray(s.config.mount_t)
    P = np.asarray(s.config.projection)
    z, ok = camera_h(boxes, Rm, tm, P, None)
    assert ok.sum() >= 2
    B = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    corners = box_corners(boxes)      # the library's (x, y, z centre, yaw, l, w, h) convention
    opt = (corners - tm) @ Rm @ B.T
    uv, depth = project_points(opt.reshape(-1, 3), P)
    uv = uv.reshape(-1, 8, 2)
    ref = np.column_stack([uv[..., 0].min(1), uv[..., 1].min(1), uv[..., 0].max(1), uv[..., 1].max(1)])
    assert np.allclose(z[ok], ref[ok], atol=1e-6)


@pytest.mark.parametrize("kinds", [["lidar"], ["radar"], ["lidar", "camera"], ["lidar", "radar", "camera"]])
def test_zero_noise_detections_give_tracks_at_the_truth(kinds: list[str]) -> None:
    """The simulator's measurement functions agree with the engine's sensor models: with no
    noise and no clutter, the engine's tracks sit on the truth (camera and radar updates would
    pull them away if the models disagreed)."""
    sc = make_scenario("highway", seed=2, duration_s=8.0)
    data = {}
    for k in kinds:
        s = sc.sensor(k)
        s = replace(s, noise_std=tuple(1e-9 for _ in s.noise_std), clutter_per_frame=0.0, pd=1.0)
        data[k] = simulate(s, sc.truth, sc.ego, np.random.default_rng(0))
    eng = FusionEngine(sc.engine_config(kinds))
    frames = sorted((t, i, z) for i, k in enumerate(kinds) for (t, _, z, _) in data[k].frames())
    for t, i, z in frames:
        eng.process(i, t, z)
    tr = eng.tracks(confirmed_only=True)
    t_end = frames[-1][0]
    rows = sc.truth.rows_at(t_end // sc.truth.dt_ns)
    vt = to_vehicle(sc.truth, sc.ego, rows)
    assert len(tr) >= 3
    for r in tr:
        assert r["t_ns"] == t_end
        d = np.hypot(*(vt.position[:, :2] - r["box"][:2]).T)
        i = int(np.argmin(d))
        assert d[i] < 2e-3, (kinds, r["box"], vt.position[i])
        assert np.abs(r["velocity"][:2] - vt.velocity_apparent[i, :2]).max() < 1e-2


def test_sim_sensor_bad_input() -> None:
    with pytest.raises(ConfigurationError, match="known kinds: lidar, radar, camera"):
        SimSensor.make("sonar", rate_hz=10, latency_s=0, noise_std=(1.0,), pd=1, clutter_per_frame=0)
    with pytest.raises(ConfigurationError, match="a radar measures 3 components"):
        SimSensor.make("radar", rate_hz=10, latency_s=0, noise_std=(1.0,), pd=1, clutter_per_frame=0)
