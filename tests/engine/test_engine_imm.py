"""The IMM motion in the engine (``imm_cv_ctrv_box``): pinned to one mode it IS that mode's single-model
engine on a lidar + radar + camera + position scene (to 1e-9), the mode probabilities follow a turn,
its position error in a turn is below the CV model's alone (same CV noise), far-off measurements give
no NaN, the configuration keys are validated, and the Tracker preset selects it per class."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusion.engine import EngineConfig, FieldOfView, FusionEngine, LifecycleConfig, SensorConfig, registry
from fusion.errors import ConfigurationError
from fusion.tracking import ClassConfig, Tracker, TrackerConfig, make_detections

FRAME = 100_000_000
SIZE = (4.5, 1.9, 1.6)
P_CAM = np.array([[1000.0, 0.0, 640.0, 0.0], [0.0, 1000.0, 360.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
B_OPT = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])  # optical from camera body
CAM_T = np.array([0.0, 0.0, 1.5])


def drive(t: np.ndarray, turn: tuple[float, float] = (1.5, 4.1), omega: float = 0.6, speed: float = 6.0,
          start: tuple[float, float, float] = (25.0, -10.0, math.pi / 2)) -> np.ndarray:
    """(x, y, yaw, vx, vy) at times t [s]: straight, turning at omega in [turn), straight again."""
    x0, y0, yaw0 = start
    t1, t2 = turn
    out = []
    for s in np.atleast_1d(t):
        a = min(s, t1)
        x, y, yaw = x0 + speed * math.cos(yaw0) * a, y0 + speed * math.sin(yaw0) * a, yaw0
        if s > t1:
            b = min(s, t2) - t1
            r = speed / omega
            x, y = (x - r * math.sin(yaw) + r * math.sin(yaw + omega * b),
                    y + r * math.cos(yaw) - r * math.cos(yaw + omega * b))
            yaw += omega * b
        if s > t2:
            c = s - t2
            x, y = x + speed * math.cos(yaw) * c, y + speed * math.sin(yaw) * c
        out.append((x, y, yaw, speed * math.cos(yaw), speed * math.sin(yaw)))
    return np.array(out)


def cam_box(x: float, y: float, yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    corners = []
    for dx in (-SIZE[0] / 2, SIZE[0] / 2):
        for dy in (-SIZE[1] / 2, SIZE[1] / 2):
            for z in (0.75 - SIZE[2] / 2, 0.75 + SIZE[2] / 2):
                corners.append([x + c * dx - s * dy, y + s * dx + c * dy, z])
    o = (np.array(corners) - CAM_T) @ B_OPT.T
    hom = o @ P_CAM[:, :3].T + P_CAM[:, 3]
    uv = hom[:, :2] / hom[:, 2:3]
    lo, hi = np.clip(uv.min(axis=0), 0, [1280, 720]), np.clip(uv.max(axis=0), 0, [1280, 720])
    return np.array([*lo, *hi])  # clipped to the image, as the camera model's prediction


def sensors() -> list[SensorConfig]:
    """Lidar (births), radar, camera and a position sensor, all static in the vehicle frame,
    every one associating by Mahalanobis distance and updating the state."""
    big = FieldOfView(max_range_m=200.0)
    return [
        SensorConfig(name="lidar", model="lidar_box3d", cost="mahalanobis", gate_chi2=60.0, fov=big,
                     R=np.diag([0.04, 0.04, 0.04, 0.01, 0.01, 0.01, 0.01])),
        SensorConfig(name="radar", model="radar", cost="mahalanobis", gate_chi2=40.0, births=False,
                     mount_t=[0.0, 0.0, 0.75], fov=big, R=np.diag([0.09, 1e-4, 0.04])),
        SensorConfig(name="camera", model="camera_box2d", cost="mahalanobis", gate_chi2=60.0, births=False,
                     projection=P_CAM.tolist(), image_size=[1280, 720], mount_t=CAM_T.tolist(),
                     fov=FieldOfView(azimuth_half_rad=0.57, elevation_half_rad=0.35, max_range_m=80.0),
                     image_tracks=False, R=np.diag([16.0] * 4)),
        SensorConfig(name="pos", model="position3d", cost="mahalanobis", gate_chi2=40.0, births=False,
                     fov=big, R=np.eye(3) * 0.09),
    ]


def scene(seed: int = 0, seconds: float = 6.0) -> list[tuple[str, int, np.ndarray]]:
    """(sensor, t_ns, z) frames of one car: lidar 10 Hz, camera 10 Hz (+30 ms), radar ~13 Hz,
    position 5 Hz (+70 ms); seeded noise."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(int(seconds * 10)):
        t = k * FRAME
        x, y, yaw, vx, vy = drive(np.array([t * 1e-9]))[0]
        noisy = [x + rng.normal(0, 0.1), y + rng.normal(0, 0.1), 0.75, yaw + rng.normal(0, 0.05), *SIZE]
        out.append(("lidar", t, np.array([noisy])))
        if k > 0:
            tc = t + 30_000_000
            xc, yc, yawc, _, _ = drive(np.array([tc * 1e-9]))[0]
            box = cam_box(xc, yc, yawc)
            if box[2] - box[0] > 20 and box[3] - box[1] > 20:  # in the image
                out.append(("camera", tc, (box + rng.normal(0, 2.0, 4))[None, :]))
        if k > 0 and k % 2 == 0:
            tp = t + 70_000_000
            xp, yp, _, _, _ = drive(np.array([tp * 1e-9]))[0]
            out.append(("pos", tp, np.array([[xp + rng.normal(0, 0.2), yp + rng.normal(0, 0.2), 0.75]])))
    for k in range(1, int(seconds * 13)):
        t = int(k * 1e9 / 13) + 5_000_000
        x, y, _, vx, vy = drive(np.array([t * 1e-9]))[0]
        dx, dy, dz = x, y, 0.0
        r = math.sqrt(dx * dx + dy * dy + dz * dz)
        out.append(("radar", t, np.array([[r + rng.normal(0, 0.2), math.atan2(dy, dx) + rng.normal(0, 0.005),
                                           (dx * vx + dy * vy) / r + rng.normal(0, 0.1)]])))
    out.sort(key=lambda f: f[1])
    return out


LIFE = LifecycleConfig(confirm_hits=2, confirm_window=3, max_coast_s=2.0, tentative_max_coast_s=2.0)
NOISE_CV = {"cv_accel_std": 1.0}
NOISE_CTRV = {"ctrv_accel_std": 1.5, "ctrv_yaw_accel_std": 0.8, "ctrv_vertical_accel_std": 0.3}
P0_CV = [0.1, 0.1, 0.1, 16.0, 16.0, 0.25, 0.05, 0.1, 0.1, 0.1]  # x y z vx vy vz yaw l w h


def imm_config(**kw) -> EngineConfig:
    kw.setdefault("motion_noise", {**NOISE_CV, **NOISE_CTRV, "yaw_rate_p0": 0.2})
    return EngineConfig(motion="imm_cv_ctrv_box", sensors=sensors(), p0_diag=P0_CV, max_image_tracks=0,
                        lifecycle=LIFE, **kw)


def run(eng: FusionEngine, frames) -> list[np.ndarray]:
    out = []
    for sensor, t, z in frames:
        eng.process(sensor, t, z)
        out.append(eng.tracks(include_deleted=False))
    return out


def test_registered_with_its_modes_and_mode_prob_in_the_record():
    info = registry.MOTION_MODELS["imm_cv_ctrv_box"]
    assert info.modes == ("cv_box", "ctrv_vz_box") and info.state == registry.MOTION_MODELS["cv_box"].state
    eng = FusionEngine(imm_config())
    assert eng.track_dtype["mode_prob"].shape == (2,) and eng.track_dtype["x"].shape == (10,)
    assert "mode_prob" not in FusionEngine(EngineConfig(motion="cv_box", sensors=sensors(), max_image_tracks=0)
                                           ).track_dtype.names


@pytest.mark.parametrize("mode", [0, 1])
def test_pinned_to_one_mode_it_is_that_single_model_engine(mode: int):
    """Transition = identity and mu0 on one mode: that mode's weight stays exactly 1, so every
    predict, update (lidar box, radar, camera box, position) and association is the single-model
    engine's. The cv mode is the cv_box engine (x to 1e-9); the ctrv mode is the ctrv_vz_box
    engine (box and velocity to 1e-9; x is the CTRV state in the cv layout)."""
    frames = scene(seed=3)
    mu0 = [1.0, 0.0] if mode == 0 else [0.0, 1.0]
    imm = FusionEngine(imm_config(imm_transition=np.eye(2), imm_mu0=mu0))
    if mode == 0:
        single = FusionEngine(EngineConfig(motion="cv_box", motion_noise={"accel_std": NOISE_CV["cv_accel_std"]},
                                           sensors=sensors(), p0_diag=P0_CV, max_image_tracks=0, lifecycle=LIFE))
    else:
        noise = {k.removeprefix("ctrv_"): v for k, v in NOISE_CTRV.items()}
        # the ctrv layout x y v yaw yaw_rate z vz l w h; v from vx (= vy), yaw rate from yaw_rate_p0
        p0 = [P0_CV[0], P0_CV[1], P0_CV[3], P0_CV[6], 0.2, P0_CV[2], P0_CV[5], *P0_CV[7:]]
        single = FusionEngine(EngineConfig(motion="ctrv_vz_box", motion_noise=noise, sensors=sensors(), p0_diag=p0,
                                           max_image_tracks=0, lifecycle=LIFE))
    a, b = run(imm, frames), run(single, frames)
    assert imm.stats() | {"imm_underflows": 0} == single.stats() | {"imm_underflows": 0}
    assert imm.stats()["rejected_updates"] == 0 and imm.stats()["births"] == 1
    used = {s for s, _, _ in frames}
    assert used == {"lidar", "radar", "camera", "pos"}
    hits = a[-1]["hits"][0]
    assert np.all(hits > 5), hits  # every sensor updated the track
    for ra, rb in zip(a, b, strict=True):
        assert ra["id"].tolist() == rb["id"].tolist() and ra["status"].tolist() == rb["status"].tolist()
        assert np.array_equal(ra["mode_prob"][:, mode], np.ones(len(ra)))
        np.testing.assert_allclose(ra["box"], rb["box"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(ra["velocity"], rb["velocity"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(ra["llr"], rb["llr"], rtol=0, atol=1e-9)
        if mode == 0:
            np.testing.assert_allclose(ra["x"], rb["x"], rtol=0, atol=1e-9)
            np.testing.assert_allclose(ra["P"], rb["P"], rtol=0, atol=1e-9)


def lidar_turn(seed: int) -> list[tuple[str, int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(70):
        x, y, yaw, _, _ = drive(np.array([k * 0.1]), turn=(2.0, 4.6), omega=0.6, speed=8.0)[0]
        frames.append(("lidar", k * FRAME, np.array([[x + rng.normal(0, 0.15), y + rng.normal(0, 0.15), 0.75,
                                                       yaw + rng.normal(0, 0.05), *SIZE]])))
    return frames


def lidar_only(motion: str, **kw) -> EngineConfig:
    """The lidar with a gate wide enough that no model loses the car (the error is the estimate's)."""
    lidar = sensors()[0]
    lidar.gate_chi2 = 1e6
    return EngineConfig(motion=motion, sensors=[lidar], p0_diag=P0_CV, max_image_tracks=0, lifecycle=LIFE, **kw)


@pytest.mark.parametrize("seed", range(4))
def test_turn_mode_probability_and_position_error_below_cv_alone(seed: int):
    """A car turning at 0.6 rad/s (4.8 m/s^2 lateral) between two straights, lidar only; CV is
    the quiet model (0.5 m/s^2), CTRV the manoeuvre model (a large yaw acceleration). The CTRV
    mode takes over in the turn and gives way to CV on the final straight; the IMM's position
    error over the turn is below that of its own CV mode run alone (same noise)."""
    frames = lidar_turn(seed)
    noise = {"cv_accel_std": 0.5, "ctrv_accel_std": 1.5, "ctrv_yaw_accel_std": 3.0}
    imm = run(FusionEngine(lidar_only("imm_cv_ctrv_box", motion_noise=noise)), frames)
    cv = run(FusionEngine(lidar_only("cv_box", motion_noise={"accel_std": noise["cv_accel_std"]})), frames)
    t = np.array([f[1] for f in frames]) * 1e-9
    truth = drive(t, turn=(2.0, 4.6), omega=0.6, speed=8.0)
    assert all(len(r) == 1 for r in imm) and all(len(r) == 1 for r in cv)
    mu_ctrv = np.array([r["mode_prob"][0, 1] for r in imm])
    turn = (t >= 2.8) & (t < 4.6)
    straight = t >= 6.0
    assert mu_ctrv[turn].mean() > 0.7 and mu_ctrv[straight].mean() < 0.5
    err_imm = np.array([np.hypot(*(r["box"][0, :2] - g[:2])) for r, g in zip(imm, truth, strict=True)])
    err_cv = np.array([np.hypot(*(r["box"][0, :2] - g[:2])) for r, g in zip(cv, truth, strict=True)])
    rmse = lambda e: float(np.sqrt(np.mean(e[turn] ** 2)))  # noqa: E731
    assert rmse(err_imm) < rmse(err_cv), (rmse(err_imm), rmse(err_cv))
    P = np.stack([r["P"][0] for r in imm])
    assert np.allclose(P, np.swapaxes(P, 1, 2), atol=1e-9) and np.all(np.linalg.eigvalsh(P) > 0)
    assert np.allclose(np.stack([r["mode_prob"][0] for r in imm]).sum(axis=1), 1.0)


def test_far_off_detection_never_gives_nan_and_is_counted():
    """Every mode's likelihood underflows (a detection 1e5 m away, admitted by a huge distance
    gate): mu comes from the log domain, finite; the update is counted in imm_underflows."""
    lidar = SensorConfig(name="lidar", model="lidar_box3d", cost="distance", gate=1e12,
                         R=np.diag([0.01] * 7))
    eng = FusionEngine(EngineConfig(motion="imm_cv_ctrv_box", sensors=[lidar], p0_diag=P0_CV, max_image_tracks=0,
                                    lifecycle=LIFE))
    eng.process("lidar", 0, np.array([[10.0, 0.0, 0.75, 0.0, *SIZE]]))
    eng.process("lidar", FRAME, np.array([[10.5, 0.0, 0.75, 0.0, *SIZE]]))
    eng.process("lidar", 2 * FRAME, np.array([[1e5, -1e5, 0.75, 0.0, *SIZE]]))
    tr = eng.tracks(include_deleted=False)
    assert len(tr) == 1 and eng.stats()["imm_underflows"] == 1
    assert np.all(np.isfinite(tr["x"])) and np.all(np.isfinite(tr["P"])) and np.all(np.isfinite(tr["mode_prob"]))
    assert tr["mode_prob"].sum() == pytest.approx(1.0)


def test_configuration_keys_are_validated_and_round_trip(tmp_path):
    cfg = imm_config(imm_transition=[[0.9, 0.1], [0.2, 0.8]], imm_mu0=[0.7, 0.3])
    spec = cfg.to_spec()
    assert spec["imm_transition"] == [[0.9, 0.1], [0.2, 0.8]] and spec["imm_mu0"] == [0.7, 0.3]
    path = tmp_path / "imm.toml"
    path.write_text(cfg.to_toml())
    back = EngineConfig.from_toml(path)
    assert back.imm_transition == [[0.9, 0.1], [0.2, 0.8]] and back.imm_mu0 == [0.7, 0.3]
    eng = FusionEngine(path)
    eng.process("lidar", 0, np.array([[10.0, 0.0, 0.75, 0.0, *SIZE]]))
    assert eng.tracks()["mode_prob"].tolist() == [[0.7, 0.3]]
    bad = [
        (dict(imm_transition=[[0.9, 0.2], [0.1, 0.9]]), "imm_transition.*sum to 1"),
        (dict(imm_transition=[0.5, 0.5]), "imm_transition.*shape"),
        (dict(imm_transition=[[1.1, -0.1], [0.0, 1.0]]), "imm_transition"),
        (dict(imm_mu0=[0.6, 0.6]), "imm_mu0"),
        (dict(imm_mu0=[1.0]), "imm_mu0.*shape"),
        (dict(motion_noise={"accel_std": 1.0}), "unknown key.*accel_std"),
        (dict(motion_noise={"cv_accel_std": -1.0}), "cv_accel_std"),
    ]
    for kw, match in bad:
        with pytest.raises(ConfigurationError, match=match):
            FusionEngine(imm_config(**kw))
    with pytest.raises(ConfigurationError, match="imm_mu0.*only for an IMM motion"):
        EngineConfig(motion="cv_box", sensors=sensors(), imm_mu0=[0.5, 0.5]).validate()
    jpda = imm_config()
    jpda.sensors = [SensorConfig(name="lidar", model="lidar_box3d", cost="mahalanobis", associator="jpda")]
    with pytest.raises(ConfigurationError, match="gnn"):
        FusionEngine(jpda)


def test_the_binding_checks_the_spec_too():
    from fusion import _core

    spec = imm_config().to_spec()
    with pytest.raises(ConfigurationError, match="imm_transition"):
        _core.FusionEngine({**spec, "imm_transition": [[0.5, 0.6], [0.5, 0.5]]})
    with pytest.raises(ConfigurationError, match="imm_mu0"):
        _core.FusionEngine({**spec, "imm_mu0": [0.2, 0.2]})
    with pytest.raises(ConfigurationError, match="only for an IMM motion"):
        _core.FusionEngine({**EngineConfig(sensors=sensors(), max_image_tracks=0).to_spec(), "imm_mu0": [0.5, 0.5]})


def test_tracker_selects_the_imm_per_class():
    """Class 1 runs the IMM, class 2 the CV box: the engine configuration of each class says
    so, and an engine built from the IMM class's configuration reproduces that class's tracks."""
    cfg = TrackerConfig(default=ClassConfig(), classes={1: ClassConfig(motion="imm", cost="mahalanobis", gate=30.0,
                                                                       max_age=4, p0_yaw_rate=0.3),
                                                        2: ClassConfig(motion="cv", max_age=4)},
                        max_tracks=32, max_detections=32)
    e1, e2 = cfg.engine_config(1), cfg.engine_config(2)
    assert (e1.motion, e2.motion) == ("imm_cv_ctrv_box", "cv_box")
    assert e1.motion_noise == {"yaw_rate_p0": 0.3}
    tracker = Tracker(cfg)
    eng = FusionEngine(e1)
    rng = np.random.default_rng(5)
    t = np.arange(50) * 0.1
    car = drive(t, turn=(1.5, 5.5), omega=0.5, speed=7.0)
    for k in range(50):
        boxes = np.array([[car[k, 0] + rng.normal(0, 0.1), car[k, 1] + rng.normal(0, 0.1), 0.75, car[k, 2], *SIZE],
                          [5.0 + 0.8 * t[k], -20.0, 0.75, 0.0, 4.0, 1.8, 1.5]])
        det = make_detections(boxes, np.array([1, 2]), np.array([1.0, 1.0]))
        out = tracker.step(det, k * FRAME)
        eng.process("lidar", k * FRAME, boxes[:1], score=np.array([1.0]))
        rec = eng.tracks(include_deleted=False)
        mine = out[out["class_id"] == 1]
        assert mine["track_id"].tolist() == rec["id"].tolist()
        assert np.array_equal(mine["box"], rec["box"]) and np.array_equal(mine["velocity"], rec["velocity"])
        assert np.all(np.isfinite(out["box"]))
    assert len(out) == 2 and rec["mode_prob"][0, 1] > 0.5  # turning at the end: CTRV
