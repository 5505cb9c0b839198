"""Track management (M-of-N, log-likelihood-ratio logic, existence, max_coast_s), the CTRV
motion model and the configuration checks of the new fields."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusion.errors import ConfigurationError
from fusion.tracking import CONFIRMED, TENTATIVE, ClassConfig, Tracker, TrackerConfig, make_detections

FRAME_NS = 100_000_000


def car(x, y=0.0, yaw=0.0, score=5.0):
    return make_detections([[x, y, 0.8, yaw, 4.0, 1.8, 1.6]], 2, score)


NONE = make_detections(np.zeros((0, 7)), 2)


def tracker(**kw) -> Tracker:
    base = dict(r_pos=0.05, q_vel=2.0)
    base.update(kw)
    return Tracker(TrackerConfig(default=ClassConfig(**base), max_tracks=16, max_detections=16))


def test_m_of_n_confirms_and_deletes():
    trk = tracker(min_hits=2, confirm_window=3, max_age=10)
    assert trk.step(car(0), 0)["status"].tolist() == [TENTATIVE]
    assert trk.step(NONE, FRAME_NS)["status"].tolist() == [TENTATIVE]
    assert trk.step(car(0), 2 * FRAME_NS)["status"].tolist() == [CONFIRMED]  # 2 of 3
    trk = tracker(min_hits=2, confirm_window=3, max_age=10)
    trk.step(car(0), 0)
    trk.step(NONE, FRAME_NS)
    assert len(trk.step(NONE, 2 * FRAME_NS)) == 0  # 1 of 3: deleted although max_age is 10
    # without a window, hits count forever: 1 + a hit after 3 misses confirms
    trk = tracker(min_hits=2, max_age=10)
    trk.step(car(0), 0)
    for f in (1, 2, 3):
        trk.step(NONE, f * FRAME_NS)
    assert trk.step(car(0), 4 * FRAME_NS)["status"].tolist() == [CONFIRMED]


def llr_tracker(**kw) -> Tracker:
    base = dict(logic="llr", max_age=100, r_pos=0.05, r_yaw=0.05, r_size=0.05, q_pos=0.1, q_yaw=0.1, q_size=0.1,
                p0_pos=0.1, p0_yaw=0.1, p0_size=0.1, p0_vel=4.0, pd=0.9, clutter_density=1e-4,
                llr_confirm=6.0, llr_delete=-2.0, llr_max=10.0)
    base.update(kw)
    return tracker(**base)


def test_llr_confirms_deletes_and_existence_rises_with_hits():
    trk = llr_tracker()
    ex, status = [], []
    for f in range(8):
        out = trk.step(car(0.1 * f), f * FRAME_NS)
        assert len(out) == 1
        ex.append(out["existence"][0])
        status.append(out["status"][0])
    assert ex[0] == pytest.approx(0.5)  # llr_init = 0: even odds
    assert all(0.0 <= e <= 1.0 for e in ex)
    assert all(b >= a for a, b in zip(ex, ex[1:])) and ex[-1] > 0.99
    assert status[0] == TENTATIVE and status[-1] == CONFIRMED
    assert out["llr"][0] == pytest.approx(10.0)  # clamped at llr_max
    # each miss adds log(1 - pd) = -2.30: 10 -> below -2 on the 6th miss
    alive = []
    for f in range(8, 20):
        out = trk.step(NONE, f * FRAME_NS)
        if len(out):
            alive.append(out["existence"][0])
    assert len(alive) == 5 and all(b < a for a, b in zip(alive, alive[1:]))
    assert trk.num_tracks == 0


def test_llr_rejects_a_track_fed_by_inconsistent_clutter():
    # detections jumping around within the gate: their likelihood is below the clutter
    # density, so the score falls and the track never confirms
    trk = llr_tracker(cost="distance", gate=20.0, clutter_density=1.0)
    rng = np.random.default_rng(0)
    confirmed = False
    for f in range(10):
        out = trk.step(car(rng.uniform(-5, 5), rng.uniform(-5, 5)), f * FRAME_NS)
        confirmed |= bool((out["status"] == CONFIRMED).any())
    assert not confirmed


def test_existence_reported_with_hits_logic_too():
    trk = llr_tracker(logic="hits", min_hits=1)
    out = [trk.step(car(0.1 * f), f * FRAME_NS)["existence"][0] for f in range(4)]
    assert out[0] == pytest.approx(0.5) and out[-1] > out[0]


def test_max_coast_s():
    trk = tracker(min_hits=1, max_age=100, max_coast_s=0.25)
    trk.step(car(0), 0)
    assert len(trk.step(NONE, 2 * FRAME_NS)) == 1
    assert len(trk.step(NONE, 3 * FRAME_NS)) == 0


def circle(n=80, v=10.0, radius=20.0):
    for f in range(n):
        a = v / radius * 0.1 * f
        yield f, radius * math.sin(a), radius - radius * math.cos(a), a


def test_turning_models_track_a_turning_target_better_than_cv():
    errs = {}
    for motion in ("cv", "ctrv", "ctra", "bicycle"):
        trk = tracker(motion=motion, min_hits=1, max_age=3, r_pos=0.04, q_pos=0.01, q_yaw=0.01, r_yaw=0.01,
                      q_vel=1.0, q_yaw_rate=0.1, q_acc=0.1, q_steer=0.01, wheelbase_m=2.7)
        e = []
        for f, x, y, a in circle():
            out = trk.step(car(x, y, a) if f % 3 != 2 else NONE, f * FRAME_NS)
            assert len(out) == 1 and out["track_id"][0] == 1
            if f >= 20:
                e.append(np.hypot(out["box"][0, 0] - x, out["box"][0, 1] - y))
        errs[motion] = float(np.sqrt(np.mean(np.square(e))))
        if motion != "cv":
            # the reported velocity is the ground-plane velocity along the heading
            np.testing.assert_allclose(np.hypot(*out["velocity"][0, :2]), 10.0, atol=0.5)
    for motion in ("ctrv", "ctra", "bicycle"):
        assert errs[motion] < 0.6 * errs["cv"], errs


def test_two_stage_keeps_weak_detections_for_existing_tracks():
    trk = tracker(min_hits=1, max_age=3, birth_score_threshold=2.0, two_stage=True)
    assert len(trk.step(car(0, score=1.0), 0)) == 0  # a weak detection starts nothing
    trk.step(car(0, score=5.0), FRAME_NS)
    out = trk.step(car(0.05, score=1.0), 2 * FRAME_NS)  # ... but it updates a track
    assert out["detection"].tolist() == [0] and out["hits"].tolist() == [2]
    # a confident detection wins the track over a weak one that fits better
    dets = np.concatenate([car(0.0, score=1.0), car(0.6, score=5.0)])
    out = trk.step(dets, 3 * FRAME_NS)
    assert out["detection"].tolist() == [1]


@pytest.mark.parametrize("kw,match", [
    (dict(motion="unicycle"), r"\.motion: expected one of cv, ctrv, ctra, bicycle"),
    (dict(motion="bicycle", wheelbase_m=0.0), r"wheelbase_m"),
    (dict(q_acc=-1.0), r"q_acc"),
    (dict(p0_steer=0.0), r"p0_steer"),
    (dict(logic="score"), r"\.logic: expected one of hits, llr"),
    (dict(confirm_window=-1), r"confirm_window"),
    (dict(confirm_window=65), r"confirm_window"),
    (dict(min_hits=4, confirm_window=3), r"M <= N"),
    (dict(max_coast_s=0.0), r"max_coast_s"),
    (dict(pd=1.0), r"\.pd"),
    (dict(clutter_density=0.0), r"clutter_density"),
    (dict(llr_delete=1.0), r"llr_delete < llr_init"),
    (dict(llr_confirm=30.0), r"llr_confirm <= llr_max"),
    (dict(llr_max=math.inf), r"llr_max"),
    (dict(q_yaw_rate=-1.0), r"q_yaw_rate"),
    (dict(p0_yaw_rate=0.0), r"p0_yaw_rate"),
    (dict(two_stage=1), r"two_stage"),
])
def test_new_config_errors(kw, match):
    with pytest.raises(ConfigurationError, match=match):
        Tracker(TrackerConfig(classes={2: ClassConfig(**kw)}))


def test_new_keys_from_toml(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text('[default]\nmotion = "ctrv"\nlogic = "llr"\nconfirm_window = 5\nmax_coast_s = 0.5\n'
                 'two_stage = true\n[classes.1]\nmotion = "cv"\nllr_confirm = 3\npd = 0.8\n')
    cfg = TrackerConfig.from_toml(p)
    assert cfg.default.motion == "ctrv" and cfg.default.confirm_window == 5 and cfg.default.two_stage
    assert cfg.classes[1].motion == "cv" and cfg.classes[1].logic == "llr"
    assert cfg.classes[1].llr_confirm == 3.0 and isinstance(cfg.classes[1].llr_confirm, float)
    Tracker(cfg)
    p.write_text('[classes.2]\nmax_coast_s = -1\n')
    with pytest.raises(ConfigurationError, match=r"t\.toml.*classes\.2\]\.max_coast_s"):
        TrackerConfig.from_toml(p)
