"""fusion.Tracker as a preset of the engine: TrackerConfig.engine_config(class_id) shows the engine
configuration the Tracker runs per class (the one C++ mapping), a FusionEngine built from it reproduces
that class's tracks exactly, and what crosses classes (one id counter in detection order, one
max_tracks, new class ids at run time) behaves as the Tracker always did."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusion.engine import FusionEngine
from fusion.tracking import ClassConfig, Tracker, TrackerConfig, make_detections

FRAME = 100_000_000


def scene(seed: int, n_frames: int = 40, cls: int = 2, n_obj: int = 5) -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(seed)
    start = rng.uniform(-30, 30, (n_obj, 2))
    vel = rng.normal(0, 4, (n_obj, 2))
    frames = []
    for f in range(n_frames):
        boxes = []
        for k in range(n_obj):
            if rng.random() < 0.8:
                x, y = start[k] + vel[k] * 0.1 * f + rng.normal(0, 0.15, 2)
                boxes.append([x, y, 0.8, math.atan2(vel[k, 1], vel[k, 0]) + rng.normal(0, 0.05), 4.2, 1.8, 1.5])
        for _ in range(rng.poisson(1.5)):
            boxes.append([*rng.uniform(-40, 40, 2), 0.8, rng.uniform(-3, 3), 4.0, 1.8, 1.5])
        score = rng.normal(2.0, 1.5, len(boxes))
        frames.append((make_detections(np.array(boxes).reshape(-1, 7), cls, score), f * FRAME))
    return frames


CLASS_CONFIGS = {
    "kitti_car": ClassConfig(gate=-0.2, min_hits=2, max_age=8, birth_score_threshold=2.0),
    "window": ClassConfig(min_hits=3, confirm_window=4, max_age=3, score_coast_penalty=0.5),
    "llr_mahalanobis": ClassConfig(cost="mahalanobis", gate=25.0, logic="llr", llr_confirm=3.0, llr_delete=-2.0,
                                   llr_max=8.0, clutter_density=1e-6, pd=0.8, max_age=6),
    "two_stage_distance": ClassConfig(cost="distance", gate=3.0, two_stage=True, birth_score_threshold=1.5,
                                      score_threshold=-1.0, max_coast_s=0.25, max_age=9),
    "ctra": ClassConfig(motion="ctra", cost="giou_bev", max_age=4),
    "ctrv": ClassConfig(motion="ctrv", cost="distance", gate=3.0, max_age=4),
    "bicycle": ClassConfig(motion="bicycle", cost="giou_3d", max_age=4, wheelbase_m=2.5),
    "iou_any": ClassConfig(cost="iou_bev", gate=-0.5, max_age=3),  # every pair admissible
    "iou_zero": ClassConfig(cost="iou_3d", gate=0.0, max_age=3),   # disjoint boxes excluded
}


@pytest.mark.parametrize("name", sorted(CLASS_CONFIGS))
def test_engine_built_from_engine_config_reproduces_the_tracker(name: str):
    cfg = TrackerConfig(default=CLASS_CONFIGS[name], max_tracks=64, max_detections=64)
    tracker = Tracker(cfg)
    eng = FusionEngine(cfg.engine_config(2))
    for det, t in scene(7):
        out = tracker.step(det, t)
        eng.process("lidar", t, det["box"], score=det["score"])
        rec = eng.tracks(include_deleted=False)
        assert out["track_id"].tolist() == rec["id"].tolist()
        assert out["status"].tolist() == rec["status"].tolist()
        assert np.array_equal(out["box"], rec["box"]) and np.array_equal(out["velocity"], rec["velocity"])
        assert np.array_equal(out["llr"], rec["llr"]) and np.array_equal(out["existence"], rec["existence"])
        assert np.array_equal(out["hits"], rec["hits"][:, 0])
        assert np.array_equal(out["age"], rec["frames_since_birth"])
        assert np.array_equal(out["time_since_update"], rec["consecutive_misses"])
        penalty = CLASS_CONFIGS[name].score_coast_penalty
        mean = rec["score_sum"][:, 0] / rec["hits"][:, 0]
        assert np.array_equal(out["score"], mean - penalty * rec["consecutive_misses"])


def test_engine_config_shows_the_mapping():
    cfg = TrackerConfig(default=ClassConfig(), classes={
        1: ClassConfig(motion="ctrv", cost="mahalanobis", gate=20.0, logic="llr", llr_delete=-3.0, max_age=5,
                       max_coast_s=0.7, two_stage=True, birth_score_threshold=1.0, r_pos=0.3, q_yaw_rate=0.2),
        2: ClassConfig(min_hits=2, confirm_window=0, max_age=8)}, max_tracks=100, max_detections=50)
    e1 = cfg.engine_config(1)
    lidar = e1.sensors[0]
    assert (e1.motion, e1.max_tracks, e1.max_detections, e1.num_classes) == ("ctrv_vz_box", 100, 50, 1)
    assert (lidar.model, lidar.cost, lidar.gate_chi2, lidar.two_stage, lidar.birth_score_threshold) == (
        "lidar_box3d", "mahalanobis", 20.0, True, 1.0)
    assert np.allclose(np.diag(lidar.resolved_R()), [0.3, 0.3, 0.3, 1.0, 1.0, 1.0, 1.0])
    assert e1.q_diag_per_s[4] == 0.2  # ctrv_vz_box state: x y v yaw yaw_rate z vz l w h
    lc = e1.lifecycle
    assert (lc.existence_model, lc.confirm_hits, lc.confirm_by_existence, lc.llr_delete) == ("llr", 0, True, -3.0)
    assert (lc.max_misses, lc.miss_max_coast_s, lc.max_coast_s) == (5, 0.7, math.inf)
    l2 = cfg.engine_config(2).lifecycle
    assert (l2.confirm_hits, l2.confirm_window, l2.tentative_max_misses, l2.confirm_by_existence) == (2, 0, -1, False)
    assert (l2.max_misses, l2.llr_delete) == (8, -math.inf)
    assert cfg.engine_config(77) == cfg.engine_config(0)  # any other id: the default class
    # IoU gates: the old "overlap > gate" as the engine's "overlap >= min_overlap" in [0, 1]
    for gate, want in ((-0.5, 0.0), (0.0, 1e-12), (0.3, 0.3)):
        iou = TrackerConfig(default=ClassConfig(cost="iou_bev", gate=gate)).engine_config(0)
        assert iou.sensors[0].gate == want
    assert TrackerConfig(default=ClassConfig(min_hits=3, confirm_window=5)).engine_config(0).lifecycle \
        .tentative_max_misses == 2  # N - M: a full window short of M hits is deleted


def test_ids_follow_detection_order_across_classes_and_max_tracks_is_shared():
    cfg = TrackerConfig(default=ClassConfig(min_hits=1), max_tracks=3, max_detections=8)
    tr = Tracker(cfg)
    boxes = np.array([[10.0 * i, 0, 0.8, 0, 4, 1.8, 1.5] for i in range(4)])
    out = tr.step(make_detections(boxes, np.array([3, 1, 3, 2])), 0)
    # births in detection order with one id counter; the 4th detection finds max_tracks reached
    assert out["track_id"].tolist() == [1, 2, 3] and out["class_id"].tolist() == [3, 1, 3]
    assert out["detection"].tolist() == [0, 1, 2]
    # a class id first seen now (5) gets its engine; the budget is still shared
    out = tr.step(make_detections(boxes[:3], np.array([3, 1, 5])), FRAME)
    # track 3 coasts (max_age 2), so the class-5 detection finds no room
    assert out["track_id"].tolist() == [1, 2, 3] and out["status"].tolist() == [1, 1, 2]
    out = tr.step(make_detections(boxes[[0, 1, 2]], np.array([3, 1, 5])), 2 * FRAME)
    assert out["track_id"].tolist() == [1, 2, 4] and out["class_id"].tolist() == [3, 1, 5]
