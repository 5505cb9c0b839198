"""fusion.tracking.Tracker on a simulated scene with known ground truth, plus input checks."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.tracking import (
    COASTING,
    CONFIRMED,
    DETECTION_DTYPE,
    TENTATIVE,
    TRACK_DTYPE,
    ClassConfig,
    TimestampError,
    Tracker,
    TrackerConfig,
    make_detections,
)

FRAME_NS = 100_000_000


def simulate(seed: int = 0, n_frames: int = 80, p_miss: float = 0.1, clutter: float = 1.0, sigma: float = 0.1):
    """Five cars and a pedestrian moving at constant velocity, noisy detections, misses, clutter.

    Returns per-frame (detections, gt_ids, gt_centres)."""
    rng = np.random.default_rng(seed)
    # x0, y0, vx, vy (m, m/s), class, size (l, w, h)
    objs = [(-30, -4, 8, 0.0, 2, (4.2, 1.8, 1.5)), (30, 4, -8, 0.0, 2, (4.5, 1.9, 1.6)),
            (0, -20, 0.5, 6, 2, (3.9, 1.7, 1.5)), (10, 10, 0, 0, 2, (4.0, 1.8, 1.5)),
            (-10, 0, 3, 3, 2, (4.4, 1.8, 1.4)), (5, -3, -1.0, 0.5, 1, (0.8, 0.6, 1.7))]
    frames = []
    for f in range(n_frames):
        t = 0.1 * f
        boxes, cls, score, gid, centres = [], [], [], [], []
        for k, (x0, y0, vx, vy, c, (l, w, h)) in enumerate(objs):
            x, y = x0 + vx * t, y0 + vy * t
            yaw = math.atan2(vy, vx) if (vx or vy) else 0.3
            gid.append(k)
            centres.append((x, y))
            if rng.random() < p_miss:
                continue
            flip = math.pi if rng.random() < 0.1 else 0.0  # detector front/back confusion
            boxes.append([x + rng.normal(0, sigma), y + rng.normal(0, sigma), h / 2 + rng.normal(0, 0.05),
                          yaw + flip + rng.normal(0, 0.05), l + rng.normal(0, 0.1), w + rng.normal(0, 0.05),
                          h + rng.normal(0, 0.05)])
            cls.append(c)
            score.append(rng.uniform(3, 10))
        for _ in range(rng.poisson(clutter)):
            boxes.append([rng.uniform(-40, 40), rng.uniform(-40, 40), 0.75, rng.uniform(-3, 3), 4.0, 1.8, 1.5])
            cls.append(2)
            score.append(rng.uniform(-1, 2))
        frames.append((make_detections(np.array(boxes).reshape(-1, 7), np.array(cls), np.array(score)),
                       np.array(gid), np.array(centres)))
    return frames


def clear_mot(frames, outputs, max_dist: float = 2.0):
    """MOTA and ID switches with greedy-free exact matching by centre distance."""
    from fusion.assoc import gated_assignment

    fn = fp = idsw = n_gt = 0
    last: dict[int, int] = {}
    for (_, gid, centres), tr in zip(frames, outputs):
        n_gt += len(gid)
        d = np.linalg.norm(centres[:, None, :] - tr["box"][None, :, :2], axis=2) if len(tr) else np.zeros((len(gid), 0))
        res = gated_assignment(d, max_dist)
        rows, cols = res.row_ind, res.col_ind
        fn += len(gid) - len(rows)
        fp += len(tr) - len(cols)
        for r, c in zip(rows, cols):
            g, t = int(gid[r]), int(tr["track_id"][c])
            if g in last and last[g] != t:
                idsw += 1
            last[g] = t
    return 1.0 - (fn + fp + idsw) / n_gt, idsw


def run(tracker: Tracker, frames):
    outs = []
    for f, (det, _, _) in enumerate(frames):
        tr = tracker.step(det, f * FRAME_NS)
        outs.append(tr[(tr["status"] != TENTATIVE)].copy())
    return outs


def config() -> TrackerConfig:
    car = ClassConfig(cost="giou_3d", gate=-0.2, min_hits=3, max_age=4, r_pos=0.05, q_vel=5.0)
    ped = ClassConfig(cost="distance", gate=2.0, min_hits=3, max_age=4, r_pos=0.05, q_vel=5.0)
    return TrackerConfig(classes={2: car, 1: ped}, max_tracks=64, max_detections=64)


def test_simulated_scene_ids_stable_and_mota_high():
    frames = simulate()
    outs = run(Tracker(config()), frames)
    mota, idsw = clear_mot(frames, outs)
    assert idsw == 0
    assert mota > 0.85, mota
    # velocity estimate of the first car after convergence
    last = outs[-1]
    assert last.dtype == TRACK_DTYPE
    first = last[np.argmin(np.linalg.norm(last["box"][:, :2] - frames[-1][2][0], axis=1))]
    np.testing.assert_allclose(first["velocity"][:2], [8.0, 0.0], atol=0.6)
    assert set(np.unique(last["status"])) <= {CONFIRMED, COASTING}


@pytest.mark.parametrize("cost,gate", [("giou_bev", -0.2), ("iou_3d", 0.01), ("iou_bev", 0.01),
                                       ("distance_bev", 2.0), ("mahalanobis", 11.0)])
def test_every_cost_tracks_the_scene(cost, gate):
    frames = simulate(seed=1, clutter=0.3)
    cfg = config()
    cfg.classes[2] = ClassConfig(cost=cost, gate=gate, min_hits=3, max_age=4, r_pos=0.05, q_vel=5.0)
    mota, idsw = clear_mot(frames, run(Tracker(cfg), frames))
    assert mota > 0.8, (cost, mota)
    assert idsw <= 1


def test_deterministic_byte_identical():
    frames = simulate(seed=3)
    a = run(Tracker(config()), frames)
    b = run(Tracker(config()), frames)
    assert b"".join(x.tobytes() for x in a) == b"".join(x.tobytes() for x in b)


def test_reset_restarts_ids():
    trk = Tracker(config())
    det = make_detections([[0, 0, 0.8, 0, 4, 1.8, 1.6]], 2, 5.0)
    assert trk.step(det, 0)["track_id"].tolist() == [1]
    trk.reset()
    assert trk.num_tracks == 0 and trk.last_t_ns is None
    assert trk.step(det, 0)["track_id"].tolist() == [1]


def test_empty_input_and_output_dtype():
    trk = Tracker()
    out = trk.step(np.zeros(0, DETECTION_DTYPE), 0)
    assert out.dtype == TRACK_DTYPE and len(out) == 0
    assert TRACK_DTYPE.names[:3] == ("track_id", "class_id", "status")


def test_sensor_id_is_ignored_and_recoverable_through_the_detection_index():
    """sensor_id is documented as ignored by the tracker: the output is byte-identical with
    arbitrary sensor ids and with no sensor_id field at all, and an output row's `detection`
    indexes the input row, which is how the caller recovers the sensor id."""
    frames = simulate(seed=2, n_frames=25)
    dt_no_sensor = np.dtype([("box", np.float64, (7,)), ("class_id", np.int32), ("score", np.float64)])
    rng = np.random.default_rng(0)
    a, b, c = Tracker(config()), Tracker(config()), Tracker(config())
    for f, (det, _, _) in enumerate(frames):
        with_ids = det.copy()
        with_ids["sensor_id"] = rng.integers(0, 5, len(det))
        without = np.zeros(len(det), dt_no_sensor)
        for name in dt_no_sensor.names:
            without[name] = det[name]
        out_a = a.step(det, f * FRAME_NS)
        out_b = b.step(with_ids, f * FRAME_NS)
        out_c = c.step(without, f * FRAME_NS)
        assert out_a.tobytes() == out_b.tobytes() == out_c.tobytes()
        upd = out_b[out_b["detection"] >= 0]
        assert len(upd) > 0
        np.testing.assert_allclose(with_ids["box"][upd["detection"], :2], upd["box"][:, :2], atol=1.0)
        assert with_ids["sensor_id"][upd["detection"]].shape == (len(upd),)


def test_outputs_are_copies_not_views_of_tracker_storage():
    trk = Tracker(config())
    frames = simulate(seed=4, n_frames=12)
    first = trk.step(frames[0][0], 0)
    keep = first.copy()
    for f in range(1, 12):
        later = trk.step(frames[f][0], f * FRAME_NS)
        assert not np.shares_memory(first, later)
    trk.reset()
    assert first.tobytes() == keep.tobytes()


@pytest.mark.parametrize("field", ["box", "class_id", "score"])
def test_missing_field_names_it(field):
    names = [n for n in DETECTION_DTYPE.names if n != field]
    det = np.zeros(2, DETECTION_DTYPE)[names]
    det = np.array(det.tolist(), dtype=np.dtype([(n, DETECTION_DTYPE.fields[n][0]) for n in names]))
    with pytest.raises(ShapeError, match=field):
        Tracker().step(det, 0)


def test_malformed_arrays_raise_shape_error():
    trk = Tracker()
    with pytest.raises(ShapeError, match="structured"):
        trk.step(np.zeros((2, 7)), 0)
    bad = np.zeros(2, [("box", np.float64, (6,)), ("class_id", np.int32), ("score", np.float64)])
    with pytest.raises(ShapeError, match=r"detections\['box'\]"):
        trk.step(bad, 0)
    bad = np.zeros(2, [("box", np.float64, (7,)), ("class_id", np.float64), ("score", np.float64)])
    with pytest.raises(ShapeError, match=r"detections\['class_id'\]"):
        trk.step(bad, 0)
    det = make_detections(np.zeros((1, 7)) + [0, 0, 0, 0, 1, 1, 1], -1)
    with pytest.raises(ShapeError, match="class_id"):
        trk.step(det, 0)
    small = Tracker(TrackerConfig(max_detections=2))
    with pytest.raises(ShapeError, match="max_detections"):
        small.step(make_detections(np.tile([0, 0, 0, 0, 1, 1, 1.0], (3, 1))), 0)


def test_nan_box_raises_numerical_error_and_keeps_state():
    trk = Tracker()
    good = make_detections([[0, 0, 0.8, 0, 4, 1.8, 1.6]], 2)
    trk.step(good, 0)
    bad = make_detections([[0, 0, 0.8, 0, 4, 1.8, 1.6], [np.nan, 0, 0.8, 0, 4, 1.8, 1.6]], 2)
    with pytest.raises(NumericalError, match=r"detections\[1\]"):
        trk.step(bad, FRAME_NS)
    with pytest.raises(NumericalError, match="score"):
        trk.step(make_detections([[0, 0, 0.8, 0, 4, 1.8, 1.6]], 2, np.inf), FRAME_NS)
    assert trk.last_t_ns == 0 and trk.num_tracks == 1


def test_time_going_backwards():
    trk = Tracker()
    det = make_detections([[0, 0, 0.8, 0, 4, 1.8, 1.6]], 2)
    trk.step(det, 500)
    trk.step(det, 500)  # equal timestamps are allowed (no prediction)
    with pytest.raises(TimestampError, match="t_ns=499.*t_ns=500") as ei:
        trk.step(det, 499)
    assert isinstance(ei.value, ValueError)


def test_config_validation_messages():
    with pytest.raises(ConfigurationError, match=r"\[default\]\.cost"):
        Tracker(TrackerConfig(default=ClassConfig(cost="hungarian")))
    with pytest.raises(ConfigurationError, match=r"classes\.2\]\.min_hits"):
        Tracker(TrackerConfig(classes={2: ClassConfig(min_hits=0)}))
    with pytest.raises(ConfigurationError, match="gate.*minimum overlap"):
        ClassConfig(cost="giou_3d", gate=1.5).validate()
    with pytest.raises(ConfigurationError, match="gate.*maximum distance"):
        ClassConfig(cost="distance", gate=-0.5).validate()
    with pytest.raises(ConfigurationError, match="r_pos"):
        ClassConfig(r_pos=0.0).validate()
    with pytest.raises(ConfigurationError, match="max_tracks"):
        TrackerConfig(max_tracks=0).validate()
    with pytest.raises(ConfigurationError, match="class id"):
        TrackerConfig(classes={-1: ClassConfig()}).validate()


def test_from_toml(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text('max_tracks = 64\n[default]\ncost = "distance"\ngate = 3.0\n'
                 '[classes.2]\nmin_hits = 2\ngate = 2.5\n')
    cfg = TrackerConfig.from_toml(p)
    assert cfg.max_tracks == 64 and cfg.default.cost == "distance"
    assert cfg.classes[2].cost == "distance" and cfg.classes[2].gate == 2.5 and cfg.classes[2].min_hits == 2
    Tracker(cfg)
    p.write_text('[default]\ncots = "distance"\n')
    with pytest.raises(ConfigurationError, match=r"t\.toml.*unknown key\(s\) cots"):
        TrackerConfig.from_toml(p)
    p.write_text('[classes.car]\nmin_hits = 2\n')
    with pytest.raises(ConfigurationError, match="class id must be an integer"):
        TrackerConfig.from_toml(p)
    p.write_text('[default\n')
    with pytest.raises(ConfigurationError, match="invalid TOML"):
        TrackerConfig.from_toml(p)


def test_threads_share_one_tracker_and_steps_are_serialised():
    """Four threads step ONE shared tracker with frames taken from a common queue, under a
    Python lock only for taking the next frame index and stepping in order (timestamps must
    not go backwards), then a free-for-all phase of identical t-equal steps with no Python
    lock at all. Phase 1 must reproduce the sequential run byte for byte; in phase 2 every
    output must be one of the sequential states, each exactly once (told apart by age),
    which holds only if each step() is atomic."""
    frames = simulate(seed=5, n_frames=40)
    ref_trk = Tracker(config())
    ref = [x.tobytes() for x in run(ref_trk, frames)]
    last_det, last_t = frames[-1][0], (len(frames) - 1) * FRAME_NS
    extra = 4 * 25
    ref_extra = [ref_trk.step(last_det, last_t).tobytes() for _ in range(extra)]
    assert len(set(ref_extra)) == extra

    trk = Tracker(config())
    order_lock = threading.Lock()
    next_frame = iter(range(len(frames)))
    outs: dict[int, bytes] = {}
    barrier = threading.Barrier(4)
    phase2: list[list[bytes]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def work(i):
        try:
            barrier.wait()
            while True:
                with order_lock:  # orders the frames; the step itself runs without the GIL
                    f = next(next_frame, None)
                    if f is None:
                        break
                    tr = trk.step(frames[f][0], f * FRAME_NS)
                outs[f] = tr[tr["status"] != TENTATIVE].tobytes()
            barrier.wait()
            for _ in range(extra // 4):  # no Python lock: only the tracker's own mutex
                phase2[i].append(trk.step(last_det, last_t).tobytes())
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
        assert not t.is_alive()
    assert not errors, errors
    assert [outs[f] for f in range(len(frames))] == ref
    got = [o for chunk in phase2 for o in chunk]
    assert sorted(got) == sorted(ref_extra)
    for chunk in phase2:
        idx = [ref_extra.index(o) for o in chunk]
        assert idx == sorted(idx)
