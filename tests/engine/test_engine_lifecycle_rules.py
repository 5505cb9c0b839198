"""The engine options the tracker presets need, each on its own through fusion.engine (not through
the Tracker): two-stage association, the chi-square Mahalanobis gate, the "llr" existence model,
consecutive-miss and miss-time deletion, M hits ever and M within the first N frames, the record
fields llr / frames_since_birth / consecutive_misses, and their TOML keys."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2

from fusion.engine import COASTING, CONFIRMED, TENTATIVE, EngineConfig, FusionEngine, LifecycleConfig, SensorConfig
from fusion.errors import ConfigurationError

FRAME = 100_000_000


def lidar_engine(lifecycle: LifecycleConfig | None = None, **sensor_kw) -> FusionEngine:
    sensor_kw.setdefault("cost", "giou_3d")
    sensor_kw.setdefault("gate", -0.5 if sensor_kw["cost"] == "giou_3d" else None)
    sensor_kw.setdefault("R", np.diag([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05]))
    cfg = EngineConfig(sensors=[SensorConfig.lidar(**sensor_kw)], motion="cv_box", max_tracks=16, max_detections=16,
                       lifecycle=lifecycle or LifecycleConfig(max_coast_s=math.inf, tentative_max_coast_s=math.inf))
    return FusionEngine(cfg)


def box(x: float, y: float = 0.0) -> list[float]:
    return [x, y, 0.8, 0.0, 4.0, 1.8, 1.6]


def live(eng: FusionEngine) -> np.ndarray:
    return eng.tracks(include_deleted=False)


# ---------------------------------------------------------------- association

def test_two_stage_lets_a_confident_detection_take_the_track_first():
    def run(two_stage: bool) -> tuple[np.ndarray, np.ndarray]:
        eng = lidar_engine(two_stage=two_stage, birth_score_threshold=2.0)
        eng.process("lidar", 0, [box(0.0)], score=[5.0])
        # the weak detection sits on the track; the confident one 0.8 m off (still gated)
        eng.process("lidar", FRAME, [box(0.0), box(0.8)], score=[0.5, 5.0])
        return live(eng), eng.tracks()

    one, _ = run(False)
    assert len(one) == 2 and one["detection"][0, 0] == 0  # the weak one matched; the strong one born
    two, _ = run(True)
    assert len(two) == 1 and two["detection"][0, 0] == 1  # the strong one matched; the weak one starts nothing
    with pytest.raises(ConfigurationError, match="two_stage"):
        SensorConfig.lidar(cost="mahalanobis", associator="jpda", two_stage=True).validate()


def test_gate_chi2_is_the_chi_square_value_of_the_gate_probability():
    rng = np.random.default_rng(3)
    frames = [(k * FRAME, [box(2.0 * i + 0.4 * k + rng.normal(0, 0.3), 5.0 * i + rng.normal(0, 0.3))
                           for i in range(4) if rng.random() < 0.8]) for k in range(30)]

    def run(**kw) -> list[bytes]:
        eng = lidar_engine(cost="mahalanobis", **kw)
        out = []
        for t, z in frames:
            eng.process("lidar", t, np.array(z).reshape(-1, 7))
            out.append(eng.tracks().tobytes())
        return out

    by_p = run(gate=0.99)
    assert run(gate=0.95, gate_chi2=float(chi2.ppf(0.99, 7))) == by_p  # gate_chi2 wins over gate
    never = run(gate=0.99, gate_chi2=1e-9)  # nothing associates: every detection starts a track
    assert never != by_p
    eng = lidar_engine(cost="mahalanobis", gate_chi2=1e-9)
    for t, z in frames[:3]:
        eng.process("lidar", t, np.array(z).reshape(-1, 7))
    assert np.all(eng.tracks()["hits"][:, 0] == 1)
    with pytest.raises(ConfigurationError, match="gate_chi2"):
        SensorConfig.lidar(cost="giou_3d", gate_chi2=9.0).validate()


# ---------------------------------------------------------------- lifecycle

def test_llr_existence_model_by_hand():
    lc = LifecycleConfig(existence_model="llr", confirm_hits=0, confirm_by_existence=True, llr_init=0.5,
                         llr_confirm=6.0, llr_delete=-3.0, llr_max=6.0, max_coast_s=math.inf,
                         tentative_max_coast_s=math.inf)
    eng = lidar_engine(lc, pd=0.8, gate_probability=0.9, clutter_density=1e-3)
    eng.process("lidar", 0, [box(0.0)])
    rec = live(eng)[0]
    assert rec["llr"] == 0.5 and rec["existence"] == pytest.approx(1 / (1 + math.exp(-0.5)), abs=1e-15)
    want = 0.5
    for k in range(1, 4):  # in-view misses: + log(1 - pd P_G) each
        eng.process("lidar", k * FRAME, np.zeros((0, 7)))
        want += math.log1p(-0.8 * 0.9)
        rec = eng.tracks()[0]
        assert rec["llr"] == pytest.approx(want, abs=1e-12)
    assert want < -3.0 and rec["status"] == 3  # deleted below llr_delete at the third miss
    # a hit adds log(pd) + log N(y; 0, S) - log(clutter) > 0 here, clamped to llr_max
    eng2 = lidar_engine(lc, pd=0.8, gate_probability=0.9, clutter_density=1e-3)
    for k in range(6):
        eng2.process("lidar", k * FRAME, [box(0.1 * k)])
    r2 = live(eng2)[0]
    assert r2["llr"] == 6.0 and r2["status"] == CONFIRMED  # clamped at llr_max = llr_confirm


def test_max_misses_and_the_record_counters():
    lc = LifecycleConfig(confirm_hits=1, confirm_window=1, max_misses=3, max_coast_s=math.inf,
                         delete_existence=0.0, tentative_max_coast_s=math.inf)
    eng = lidar_engine(lc)
    eng.process("lidar", 0, [box(0.0)])
    for k in (1, 2):
        eng.process("lidar", k * FRAME, np.zeros((0, 7)))
    rec = live(eng)[0]
    assert (rec["status"], rec["consecutive_misses"], rec["frames_since_birth"]) == (COASTING, 2, 2)
    eng.process("lidar", 3 * FRAME, [box(0.0)])
    rec = live(eng)[0]
    assert (rec["status"], rec["consecutive_misses"], rec["frames_since_birth"]) == (CONFIRMED, 0, 3)
    for k in (4, 5):
        eng.process("lidar", k * FRAME, np.zeros((0, 7)))
    assert len(live(eng)) == 1
    eng.process("lidar", 6 * FRAME, np.zeros((0, 7)))  # the third consecutive miss
    assert len(live(eng)) == 0 and eng.tracks()["consecutive_misses"][0] == 3


def test_miss_max_coast_s_spares_a_matched_track():
    lc = LifecycleConfig(confirm_hits=1, confirm_window=1, miss_max_coast_s=0.25, max_coast_s=math.inf,
                         delete_existence=0.0, tentative_max_coast_s=math.inf)
    eng = lidar_engine(lc)
    eng.process("lidar", 0, [box(0.0)])
    eng.process("lidar", 4 * FRAME, [box(0.0)])  # 0.4 s without an update, but matched
    assert len(live(eng)) == 1 and live(eng)["id"][0] == 1
    eng.process("lidar", 6 * FRAME, np.zeros((0, 7)))  # 0.2 s
    assert len(live(eng)) == 1
    eng.process("lidar", 7 * FRAME, np.zeros((0, 7)))  # 0.3 s > 0.25
    assert len(live(eng)) == 0


@pytest.mark.parametrize("rule", ["last", "first"])
def test_confirmation_rules(rule: str):
    # hits: H M M M M M H H H (frame 0 is the birth)
    pattern = [1, 0, 0, 0, 0, 0, 1, 1, 1]
    lc = LifecycleConfig(confirm_hits=3, confirm_window=0 if rule == "last" else 5, confirm_rule=rule,
                         max_coast_s=math.inf, tentative_max_coast_s=math.inf, delete_existence=0.0)
    eng = lidar_engine(lc)
    seen = []
    for k, hit in enumerate(pattern):
        eng.process("lidar", k * FRAME, [box(0.0)] if hit else np.zeros((0, 7)))
        rec = eng.tracks()
        seen.append(int(rec["status"][0]) if len(rec) and rec["id"][0] == 1 else None)
    if rule == "last":  # window 0: the third hit ever confirms, however late
        assert seen == [TENTATIVE] * 7 + [CONFIRMED, CONFIRMED]
    else:  # 1 + (5 - frames) < 3 from the 4th frame: deleted then, a new track starts at frame 6
        assert seen[:3] == [TENTATIVE] * 3 and seen[3] == 3 and seen[4] is None
        assert live(eng)["id"].tolist() == [2] and live(eng)["status"][0] == CONFIRMED


def test_new_lifecycle_keys_round_trip_through_toml(tmp_path: Path):
    p = tmp_path / "e.toml"
    p.write_text(textwrap.dedent("""
        motion = "cv_box"
        [lifecycle]
        confirm_hits = 2
        confirm_window = 0
        max_misses = 4
        miss_max_coast_s = 0.5
        existence_model = "llr"
        llr_init = 1.0
        llr_confirm = 3.0
        llr_delete = -2.0
        llr_max = 9.0
        [sensors.lidar]
        model = "lidar_box3d"
        cost = "mahalanobis"
        gate_chi2 = 20.0
        two_stage = true
        birth_score_threshold = 1.5
        """))
    cfg = EngineConfig.from_toml(p)
    assert EngineConfig.from_dict(cfg.to_dict()) == cfg
    spec = cfg.to_spec()
    assert spec["lifecycle"]["existence_model"] == "llr" and spec["lifecycle"]["max_misses"] == 4
    assert spec["sensors"][0]["gate_chi2"] == 20.0 and spec["sensors"][0]["two_stage"] is True
    FusionEngine(cfg)  # the binding takes every key
    for text, key in (('confirm_rule = "middle"', "confirm_rule"), ('existence_model = "x"', "existence_model"),
                      ("max_misses = 0", "max_misses"), ("confirm_window = 0\ntentative_max_misses = 1",
                                                         "tentative_max_misses")):
        p.write_text(f"[lifecycle]\n{text}\n[sensors.lidar]\nmodel = \"lidar_box3d\"\n")
        with pytest.raises(ConfigurationError, match=key):
            EngineConfig.from_toml(p)
