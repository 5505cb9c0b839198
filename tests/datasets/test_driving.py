"""The driving-scenario generator: determinism, ground-truth properties, ego motion, timing
of the sensors' frames, bad input and concurrent use."""

from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np
import pytest

from fusion.datasets.driving import DT_NS, SCENARIOS, make_scenario, scenario_names
from fusion.datasets.truth import to_vehicle
from fusion.errors import ConfigurationError
from fusion.geometry import iou_bev


def arrays(sc) -> dict[str, np.ndarray]:
    out = {f"truth.{f.name}": getattr(sc.truth, f.name) for f in dataclasses.fields(sc.truth) if f.name != "dt_ns"}
    out.update({f"ego.{f.name}": getattr(sc.ego, f.name) for f in dataclasses.fields(sc.ego) if f.name != "static"})
    for name, d in sc.data.items():
        out.update({f"{name}.{f.name}": getattr(d, f.name) for f in dataclasses.fields(d)
                    if isinstance(getattr(d, f.name), np.ndarray)})
    return out


@pytest.fixture(scope="module")
def scenes():
    return {n: make_scenario(n, seed=3, duration_s=20.0) for n in SCENARIOS}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_seed_byte_identical_other_seed_differs(name: str, scenes) -> None:
    a, b = scenes[name], make_scenario(name, seed=3, duration_s=20.0)
    aa, bb = arrays(a), arrays(b)
    assert aa.keys() == bb.keys()
    for k in aa:
        assert aa[k].dtype == bb[k].dtype and aa[k].tobytes() == bb[k].tobytes(), k
    c = arrays(make_scenario(name, seed=4, duration_s=20.0))
    assert c["radar.z"].tobytes() != aa["radar.z"].tobytes()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_truth_properties(name: str, scenes) -> None:
    sc = scenes[name]
    tr = sc.truth
    assert len(tr) > 0 and tr.dt_ns == DT_NS
    key = tr.step * (1 << 32) + tr.id
    assert np.all(np.diff(key) > 0)                          # sorted, and each id once per step
    assert np.array_equal(tr.t_ns, tr.step * DT_NS)
    assert set(np.unique(tr.class_id)) <= {0, 1, 2}
    assert np.all(tr.size > 0.3) and np.all(tr.size < 6.0)
    assert np.allclose(tr.position[:, 2], tr.size[:, 2] / 2)  # on the ground
    # velocity and yaw rate are the derivatives of the positions and headings
    nxt = tr.lookup(tr.step + 1, tr.id)
    ok = nxt >= 0
    dp = (tr.position[nxt[ok], :2] - tr.position[ok, :2]) / (DT_NS * 1e-9)
    v = 0.5 * (tr.velocity[ok, :2] + tr.velocity[nxt[ok], :2])
    assert np.abs(dp - v).max() < 0.05
    dyaw = np.angle(np.exp(1j * (tr.yaw[nxt[ok]] - tr.yaw[ok]))) / (DT_NS * 1e-9)
    assert np.abs(dyaw - tr.yaw_rate[ok]).max() < 1e-6
    # every object lives in one unbroken interval of steps
    for i in np.unique(tr.id):
        s = tr.step[tr.id == i]
        assert s[-1] - s[0] + 1 == len(s)
    if name in ("urban", "roadside"):   # inside the 140 m x 140 m intersection scene
        assert np.abs(tr.position[:, :2]).max() <= 70.0 + 1e-6
    if name in ("highway", "stop_and_go"):
        assert np.abs(tr.position[:, 1]).max() <= 6.0 + 1e-6


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_two_objects_overlap(name: str, scenes) -> None:
    """The signal plan and the lanes keep actors apart: no two boxes intersect, ever (the
    ego car included: it is the box of an ordinary car at the vehicle frame's origin)."""
    sc = scenes[name]
    tr = sc.truth
    for k in range(0, len(sc.ego), 5):
        r = tr.rows_at(k)
        b = tr.boxes[r]
        if not sc.static:
            c, s_ = np.cos(sc.ego.yaw[k]), np.sin(sc.ego.yaw[k])  # the box centre 1.4 m ahead of the reference
            ego = np.array([[sc.ego.x[k] + 1.4 * c, sc.ego.y[k] + 1.4 * s_, 0.75, sc.ego.yaw[k], 4.6, 1.9, 1.5]])
            b = np.vstack([b, ego])
        if len(b) < 2:
            continue
        m = iou_bev(b, b)
        np.fill_diagonal(m, 0.0)
        assert m.max() == 0.0, (name, k, np.argwhere(m > 0)[:2].tolist())


def test_ego_trajectory_is_what_the_can_bus_says(scenes) -> None:
    for name, sc in scenes.items():
        e = sc.ego
        dt = DT_NS * 1e-9
        step = np.hypot(np.diff(e.x), np.diff(e.y)) / dt
        assert np.abs(step - e.speed[:-1]).max() < 1e-9, name
        assert np.abs(np.diff(e.yaw) / dt - e.yaw_rate[:-1]).max() < 1e-9, name
        assert e.static == (name == "roadside")
    assert scenes["roadside"].ego.speed.max() == 0.0
    ur = make_scenario("urban", seed=3).ego          # the full 60 s: it turns at 20-25 s
    assert ur.yaw_rate.max() > 0.5 and abs(ur.yaw[-1] - np.pi / 2) < 1e-6  # the ego turns left, onto x = 1.75
    assert abs(ur.x[-1] - 1.75) < 1e-3
    sg = scenes["stop_and_go"].ego.speed
    assert sg.min() == 0.0 and sg.max() > 6.0                # it stops and goes


def test_scene_contents() -> None:
    full = make_scenario("roadside", seed=0)
    assert full.duration_s == 300.0 and full.truth.num_objects >= 100
    first = np.unique(full.truth.id, return_index=True)[1]
    assert set(full.truth.class_id[first]) == {0, 1, 2}
    urban = make_scenario("urban", seed=0)
    assert set(urban.truth.class_id[np.unique(urban.truth.id, return_index=True)[1]]) == {0, 1, 2}
    assert np.any(np.abs(urban.truth.yaw_rate) > 0.5)         # turning
    # highway: a car ends up 5-20 m ahead in the ego lane that started in the left lane (the cut-in)
    hw = make_scenario("highway", seed=0, duration_s=30.0)
    vt = to_vehicle(hw.truth, hw.ego)
    cut = False
    for i in np.unique(hw.truth.id):
        m = hw.truth.id == i
        y = vt.position[m, 1]
        if y[0] > 3.0 and abs(y[-1]) < 0.3 and 5.0 < vt.position[m, 0][-1] < 25.0:
            cut = True
    assert cut


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_frames_rates_and_latency(name: str, scenes) -> None:
    sc = scenes[name]
    for s in sc.sensors:
        d = sc.data[s.name]
        period = np.diff(d.frame_t_ns)
        assert np.all(period == round(1e9 / s.rate_hz / DT_NS) * DT_NS)
        lat = (d.frame_arrival_ns - d.frame_t_ns) * 1e-9
        assert lat.min() >= s.latency_s - 1e-9 and lat.max() < s.latency_s + s.latency_jitter_s + 1e-9
        assert np.all(np.diff(d.frame) >= 0)
        assert np.array_equal(d.t_ns, d.frame_t_ns[d.frame])
        assert np.array_equal(d.arrival_ns, d.frame_arrival_ns[d.frame])
        assert d.z.shape[1] == s.config.model_info().measurement_dim and np.isfinite(d.z).all()
        assert set(np.unique(d.truth_id)) - {-1} <= set(np.unique(sc.truth.id))


def test_engine_config_and_batch_follow_the_sensors(scenes) -> None:
    sc = scenes["urban"]
    cfg = sc.engine_config(["radar", "lidar"])
    assert [s.name for s in cfg.sensors] == ["radar", "lidar"]
    assert np.allclose(np.diag(cfg.sensors[0].resolved_R()), np.square(sc.sensor("radar").noise_std))
    assert cfg.sensors[0].pd == sc.sensor("radar").pd
    b = sc.batch(["radar", "lidar"])
    assert len(b) == len(sc.data["radar"]) + len(sc.data["lidar"])
    assert b.split(cfg)                                       # every frame passes the engine's checks


def test_bad_input() -> None:
    with pytest.raises(ConfigurationError, match="known scenarios: highway, urban, stop_and_go, roadside"):
        make_scenario("motorway")
    for bad in (0.5, math.nan, -3.0, "10", 0, True, math.inf, 1e9, 3600.5):  # 1e9 s: 1e11 steps (review)
        with pytest.raises(ConfigurationError, match="duration_s"):
            make_scenario("highway", duration_s=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="seed"):
        make_scenario("highway", seed=-1)
    for name in (None, ["highway"]):  # review: a list raised a bare TypeError (unhashable)
        with pytest.raises(ConfigurationError, match="unknown scenario"):
            make_scenario(name)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unknown sensor 'sonar'"):
        make_scenario("highway", duration_s=2.0).engine_config(["sonar"])
    assert scenario_names() == list(SCENARIOS)


def test_concurrent_generation_matches_sequential() -> None:
    ref = arrays(make_scenario("urban", seed=9, duration_s=5.0))
    out: list[dict[str, np.ndarray]] = []

    def work() -> None:
        out.append(arrays(make_scenario("urban", seed=9, duration_s=5.0)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 4
    for o in out:
        assert all(o[k].tobytes() == ref[k].tobytes() for k in ref)
