"""Each simulated sensor tells the engine exactly the noise it simulates, about the point it
measures: the residuals of the object-caused detections against the noise-free measurement of
their object, computed here from the truth with the geometry written out (not through
``fusion.datasets.sensors``' own measurement functions), normalised by the sensor's
``SensorConfig.R`` have a mean NIS of ``dim z`` (inside the chi-square 99% band for that many
detections) and a mean of zero (no bias: the lidar and the radar both measure the box centre,
the point the truth and the NEES score give). A sensor whose R or reference point differs from
the simulated one fails here before it shows up as an inconsistent track (NEES) in
``fusion scenarios``. About 2 s."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.datasets.driving import make_scenario
from fusion.datasets.sensors import camera_h
from fusion.metrics import chi2_band, nis


@pytest.fixture(scope="module", params=[("highway", 15.0), ("roadside", 40.0)], ids=["car", "roadside"])
def scene(request):
    name, dur = request.param
    return make_scenario(name, seed=3, duration_s=dur)


def _expected(sc, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(noise-free measurement of each object-caused detection, the detections)."""
    s, d = sc.sensor(name), sc.data[name]
    m = d.truth_id >= 0
    steps = d.t_ns[m] // sc.truth.dt_ns
    rows = sc.truth.lookup(steps, d.truth_id[m])
    assert np.all(rows >= 0)
    e = sc.ego
    c, sn = np.cos(e.yaw[steps]), np.sin(e.yaw[steps])
    # world -> vehicle frame of the detection's time
    dx, dy = sc.truth.position[rows, 0] - e.x[steps], sc.truth.position[rows, 1] - e.y[steps]
    p = np.column_stack([c * dx + sn * dy, -sn * dx + c * dy, sc.truth.position[rows, 2]])
    Rm, tm = np.asarray(s.config.mount_R, np.float64), np.asarray(s.config.mount_t, np.float64)
    ps = (p - tm) @ Rm  # sensor frame: R^T (p - t) per row
    if s.kind == "lidar":
        yaw_v = sc.truth.yaw[rows] - e.yaw[steps]
        hd = np.column_stack([np.cos(yaw_v), np.sin(yaw_v), np.zeros(len(rows))]) @ Rm
        h = np.column_stack([ps, np.arctan2(hd[:, 1], hd[:, 0]), sc.truth.size[rows]])
    elif s.kind == "radar":
        # the object's over-ground velocity minus the sensor's own (ego speed along x plus
        # yaw rate x mount position), in vehicle axes, then sensor axes
        vw = sc.truth.velocity[rows, :2]
        v = np.column_stack([c * vw[:, 0] + sn * vw[:, 1], -sn * vw[:, 0] + c * vw[:, 1], np.zeros(len(rows))])
        vs = np.column_stack([e.speed[steps] - e.yaw_rate[steps] * tm[1], e.yaw_rate[steps] * tm[0],
                              np.zeros(len(rows))])
        w = (v - vs) @ Rm
        r = np.hypot(ps[:, 0], ps[:, 1])
        h = np.column_stack([r, np.arctan2(ps[:, 1], ps[:, 0]), (ps[:, 0] * w[:, 0] + ps[:, 1] * w[:, 1]) / r])
    else:
        yaw_v = sc.truth.yaw[rows] - e.yaw[steps]
        size = tuple(float(x) for x in np.asarray(s.config.image_size).ravel())
        h, _ = camera_h(np.column_stack([p, yaw_v, sc.truth.size[rows]]), Rm, tm,
                        np.asarray(s.config.projection, np.float64), (size[0], size[1]))
    return h, d.z[m]


@pytest.mark.parametrize("sensor", ["lidar", "radar", "camera"])
def test_simulated_noise_is_the_R_the_sensor_reports(scene, sensor) -> None:
    h, z = _expected(scene, sensor)
    r = z - h
    if sensor in ("lidar", "radar"):
        k = 3 if sensor == "lidar" else 1
        r[:, k] = np.angle(np.exp(1j * r[:, k]))
    R = np.asarray(scene.sensor(sensor).config.R, np.float64)
    n, m = r.shape
    assert n > 300
    lo, hi = chi2_band(m, n, 0.99)
    v = nis(r, R)
    assert lo <= v.mean() <= hi, (sensor, v.mean(), (lo, hi))
    # per component: variance ratio ~ chi2(n)/n, and no bias (|mean| < 4 standard errors)
    sd = np.sqrt(np.diag(R))
    lo1, hi1 = chi2_band(1, n, 0.999)
    ratio = (r ** 2).mean(0) / sd ** 2
    assert np.all((ratio >= lo1) & (ratio <= hi1)), (sensor, ratio)
    assert np.all(np.abs(r.mean(0)) < 4 * sd / np.sqrt(n)), (sensor, r.mean(0) / sd)


def test_a_wrong_R_is_caught(scene) -> None:
    # the check has teeth: a radar whose R understates the range noise by 20% fails it
    h, z = _expected(scene, "radar")
    r = z - h
    r[:, 1] = np.angle(np.exp(1j * r[:, 1]))
    R = np.array(scene.sensor("radar").config.R, np.float64)
    R[0, 0] *= 0.8 ** 2
    lo, hi = chi2_band(3, len(r), 0.99)
    assert not lo <= nis(r, R).mean() <= hi
