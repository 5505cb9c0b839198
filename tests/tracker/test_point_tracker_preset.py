"""PointTracker is a preset of the engine: a FusionEngine configured by the mapping of
docs/ARCHITECTURE.md ("The PointTracker preset"), written out here independently in Python, gives
the same tracks, bit for bit (ids, status, hits, age, misses, measurement, x, P), on a seeded
scene with clutter, misses and deaths; and configurations the monolith accepted still run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusion.datasets.point_targets import simulate_point_targets
from fusion.engine import EngineConfig, FusionEngine, LifecycleConfig, SensorConfig
from fusion.tracking.point_tracker import PointTracker, PointTrackerConfig


def engine_for(c: PointTrackerConfig) -> FusionEngine:
    s2, v2 = c.sigma_meas ** 2, c.init_speed_sigma ** 2
    return FusionEngine(EngineConfig(
        motion="cv_point2d", motion_noise={"accel_std": c.sigma_a}, p0_diag=[s2, s2, v2, v2],
        max_tracks=c.max_tracks, max_detections=c.max_measurements, max_image_tracks=0, late_policy="raise",
        lifecycle=LifecycleConfig(existence_model="llr", llr_init=0.0, llr_max=math.inf, llr_delete=-math.inf,
                                  confirm_by_existence=False, confirm_rule="first", confirm_hits=c.confirm_m,
                                  confirm_window=c.confirm_n, max_misses=c.max_misses, max_coast_s=math.inf,
                                  tentative_max_coast_s=math.inf),
        sensors=[SensorConfig(name="points", model="position2d", R=np.eye(2) * s2, cost="mahalanobis",
                              gate_chi2=c.gate_chi2, associator=c.association, jpda_method=c.jpda_method,
                              jpda_max_states=c.jpda_max_states, jpda_birth_threshold=c.birth_threshold,
                              jpda_miss_beta0=0.5, pd=c.prob_detection, clutter_density=c.clutter_density,
                              gate_probability=1.0 - math.exp(-0.5 * c.gate_chi2))]))


@pytest.mark.parametrize("association", ["gnn", "jpda"])
def test_point_tracker_equals_the_engine_configured_by_the_mapping(association):
    scen = simulate_point_targets(15, 40, seed=8, spacing=10.0, clutter_density=3e-3)
    cfg = PointTrackerConfig(association=association, sigma_meas=scen.sigma_meas, sigma_a=0.7,
                             prob_detection=0.85, clutter_density=3e-3, init_speed_sigma=4.0, confirm_m=2,
                             confirm_n=4, max_misses=3, max_tracks=512, max_measurements=256,
                             birth_threshold=0.4)
    trk, eng = PointTracker(cfg), engine_for(cfg)
    deaths = 0
    for t, z in zip(scen.t_ns, scen.measurements):
        out = trk.step(z, int(t))
        eng.process("points", int(t), z)
        ref = eng.tracks(include_deleted=False)
        deaths += trk.stats()["deaths"]
        assert np.array_equal(out["track_id"], ref["id"])
        assert np.array_equal(out["status"], ref["status"])
        assert np.array_equal(out["hits"], ref["hits"][:, 0])
        assert np.array_equal(out["age"], ref["frames_since_birth"])
        assert np.array_equal(out["misses"], ref["consecutive_misses"])
        assert np.array_equal(out["measurement"], ref["detection"][:, 0])
        assert np.array_equal(out["x"], ref["x"]) and np.array_equal(out["P"], ref["P"])
        assert np.array_equal(out["score"], ref["llr"])
    assert deaths > 0 and len(out) >= 15


@pytest.mark.parametrize("association", ["gnn", "jpda"])
@pytest.mark.parametrize("kw", [{"prob_detection": 1.0}, {"confirm_m": 2, "confirm_n": 100}, {"sigma_a": 0.0}])
def test_configurations_the_monolith_accepted_still_run(association, kw):
    trk = PointTracker(PointTrackerConfig(association=association, **kw))
    for k in range(6):
        out = trk.step(np.array([[0.0, 0.0], [5.0, 5.0]]) + 0.1 * k, k * 100_000_000)
    assert len(out) == 2 and np.all(np.isfinite(out["score"])) and np.all(np.isfinite(out["P"]))
