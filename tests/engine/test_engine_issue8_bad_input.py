"""Issue 8 §5 bad input in the engine, each with its defined behaviour:

- a radar return at zero range (or nearer than the radar model's 0.1 m, where azimuth and line
  of sight are undefined): a valid, finite detection, fused like any other, but it starts no
  track (no track can be born where its own sensor cannot predict it) and cannot be associated
  with a track away from the sensor; never a NaN, nothing else changes;
- conflicting class evidence from two sensors: soft class scores are fused by Bayes through each
  sensor's confusion matrix (the posterior equals the hand product, the stronger evidence wins);
  a hard class id that contradicts the track's most likely class is not associated (the class
  gate), so it cannot flip the class;
- a sensor whose field of view excludes every track: its frames charge no miss and change no
  track (byte-identical to not sending them), whatever it reports.
"""

from __future__ import annotations

import math

import numpy as np
from _engine_scene import config, frames

from fusion.engine import EngineConfig, FieldOfView, FusionEngine, SensorConfig
from fusion.engine.config import rotation_from_ypr

A_LIDAR = np.array([[0.8, 0.2], [0.2, 0.8]])   # the scene's confusion matrices (rows: true class)
A_CAMERA = np.array([[0.9, 0.1], [0.1, 0.9]])


def radar_engine(**kw) -> FusionEngine:
    radar = SensorConfig(name="radar", model="radar", R=np.diag([0.04, 1e-4, 0.04]), **kw)
    return FusionEngine(EngineConfig(sensors=[radar], motion="cv_box", max_tracks=16, max_detections=16))


# ---------------------------------------------------------------- radar at zero range

def test_radar_return_at_zero_range_starts_no_track_and_changes_nothing_else() -> None:
    eng = radar_engine()
    good = [20.0, 0.1, 0.0]
    for k in range(5):
        eng.process("radar", k * 50_000_000, [good])
    before = eng.tracks()
    assert len(before) == 1
    # zero range, any azimuth and range rate; and 5 cm (inside the model's 0.1 m)
    eng.process("radar", 5 * 50_000_000, [[0.0, 0.0, 0.0], [0.0, 2.5, -3.0], [0.05, -1.0, 0.0], good])
    tr = eng.tracks()
    assert len(tr) == 1 and tr["id"][0] == before["id"][0]               # no track at the sensor
    assert tr["detection"][0, 0] == 3 and tr["hits"][0, 0] == 6           # the good return is fused
    assert np.isfinite(tr["x"]).all() and np.isfinite(tr["P"]).all()
    assert eng.stats()["births"] == 1 and eng.stats()["skipped_detections"] == 0
    # a frame of zero-range returns only: the track takes an ordinary miss, nothing is born
    eng.process("radar", 6 * 50_000_000, [[0.0, 0.0, 0.0]])
    tr = eng.tracks()
    assert len(tr) == 1 and tr["misses"][0, 0] == 1 and tr["detection"][0, 0] == -1
    assert np.isfinite(tr["x"]).all()


def test_radar_return_at_zero_range_as_the_first_frame() -> None:
    eng = radar_engine()
    eng.process("radar", 0, [[0.0, 0.0, 0.0]])
    assert len(eng.tracks()) == 0 and eng.stats()["frames"] == 1 and eng.stats()["births"] == 0
    eng.process("radar", 50_000_000, [[10.0, 0.0, 0.0]])
    assert len(eng.tracks()) == 1                                          # the next return starts one


def test_radar_return_just_beyond_the_model_range_starts_a_track() -> None:
    eng = radar_engine()
    eng.process("radar", 0, [[0.2, 0.3, 0.0]])
    tr = eng.tracks()
    assert len(tr) == 1
    np.testing.assert_allclose(tr["x"][0, :2], [0.2 * math.cos(0.3), 0.2 * math.sin(0.3)], atol=1e-12)


# ---------------------------------------------------------------- conflicting class evidence

def _likelihood(A: np.ndarray, scores: np.ndarray) -> np.ndarray:
    return A @ (scores / scores.sum())


def test_conflicting_soft_class_scores_fuse_by_bayes_and_the_stronger_wins() -> None:
    """The lidar says class 0 (0.9), the camera class 1 (0.9) for every target: the posterior of
    each track is uniform x L_lidar^hits_lidar x L_camera^hits_camera (hand), and the camera's
    sharper confusion matrix wins once it has as many hits as the lidar."""
    s_lidar, s_camera = np.array([0.9, 0.1]), np.array([0.1, 0.9])
    L_l, L_c = _likelihood(A_LIDAR, s_lidar), _likelihood(A_CAMERA, s_camera)
    eng = FusionEngine(config())
    for f in frames(2.0):
        scores = np.tile(s_lidar if f["sensor"] == "lidar" else s_camera, (len(f["z"]), 1))
        eng.process(f["sensor"], f["t_ns"], f["z"], score=f["score"], class_scores=scores)
    tr = eng.tracks()
    assert len(tr) >= 2
    for r in tr:
        h_l, h_c = int(r["hits"][0]), int(r["hits"][1])
        assert h_l > 5 and h_c > 5
        p = 0.5 * L_l**h_l * L_c**h_c
        np.testing.assert_allclose(r["class_prob"], p / p.sum(), rtol=1e-9, atol=1e-300)
        assert r["class_id"] == int(np.argmax(p))
        if h_c >= h_l:
            assert r["class_id"] == 1
    assert len(np.unique(tr["id"])) == len(tr)


def test_conflicting_hard_class_id_is_not_associated_and_cannot_flip_the_class() -> None:
    """The lidar reports class 0, the camera class 1 for the same cars: the camera's reports fall
    outside the class gate of every class-0 track; each track's class comes from the lidar only
    (p0 = 0.8^h / (0.8^h + 0.2^h)) and it takes no camera hit."""
    eng = FusionEngine(config())
    for f in frames(2.0):
        cls = np.full(len(f["z"]), 0 if f["sensor"] == "lidar" else 1, np.int32)
        eng.process(f["sensor"], f["t_ns"], f["z"], score=f["score"], class_id=cls)
    tr = eng.tracks()
    assert len(tr) >= 2
    for r in tr:
        h = int(r["hits"][0])
        assert r["hits"][1] == 0 and r["class_id"] == 0
        np.testing.assert_allclose(r["class_prob"][0], 0.8**h / (0.8**h + 0.2**h), rtol=1e-12)
        assert np.isfinite(r["x"]).all()


# ---------------------------------------------------------------- field of view excludes every track

def _with_rear_radar() -> EngineConfig:
    cfg = config()
    cfg.sensors.append(SensorConfig(name="rear", model="radar", mount_R=rotation_from_ypr(math.pi),
                                    mount_t=[-1.0, 0.0, 0.5], R=np.diag([0.04, 1e-4, 0.04]), births=False,
                                    fov=FieldOfView(azimuth_half_rad=0.5, max_range_m=60.0)))
    return cfg


def test_a_sensor_whose_view_excludes_every_track_charges_no_miss_and_changes_nothing() -> None:
    cfg = _with_rear_radar()
    plain, with_rear = FusionEngine(cfg), FusionEngine(cfg)
    behind = np.array([[15.0, 0.2, 1.0], [30.0, -0.3, 0.0]])   # returns behind the car: nothing there
    for f in frames(3.0):
        for eng in (plain, with_rear):
            eng.process(f["sensor"], f["t_ns"], f["z"], score=f["score"], class_id=f["class_id"])
        if f["sensor"] == "lidar":   # same time as the lidar frame: no extra prediction step
            k = f["t_ns"] // 100_000_000
            with_rear.process("rear", f["t_ns"], behind if k % 2 else np.zeros((0, 3)))
    a, b = plain.tracks(), with_rear.tracks()
    assert len(a) == len(b) >= 2
    assert (b["misses"][:, 2] == 0).all() and (b["hits"][:, 2] == 0).all()
    assert (b["detection"][:, 2] == -1).all()
    # (frames_since_birth counts every frame the engine processed, the rear ones too)
    for name in ("id", "status", "x", "P", "existence", "class_prob", "consecutive_misses", "llr"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    np.testing.assert_array_equal(a["hits"][:, :2], b["hits"][:, :2])
    np.testing.assert_array_equal(a["misses"][:, :2], b["misses"][:, :2])
    assert with_rear.stats()["births"] == plain.stats()["births"]
