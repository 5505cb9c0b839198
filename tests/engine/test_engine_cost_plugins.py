"""Cost plug-ins (csrc/include/fusion/engine/costs/): the recipe's proof, ``mahalanobis_loglik``
(one cost file + one registry line), against the hand computation.

cost = d2 + ln det S with S = H P H^T + R (the negative log likelihood up to a constant), gate on
d2 <= chi2_2(0.99). Two tracks compete for one detection: a converged track A (small S) and a
new track B (large S). Placed where B's d2 is smaller but A's d2 + ln det S is, ``mahalanobis``
gives the detection to B and ``mahalanobis_loglik`` to A. The predicted covariances come from
``tracks(at_ns=...)`` (the engine's own prediction, no state change).
"""

from __future__ import annotations

import numpy as np
import pytest

from fusion.engine import EngineConfig, FusionEngine, LifecycleConfig, SensorConfig, registry

R = 0.25 * np.eye(2)
CHI2_2_099 = 9.21034037197618
DT = 100_000_000


def config(cost: str, associator: str = "gnn") -> EngineConfig:
    pos = SensorConfig(name="pos", model="position2d", R=R, cost=cost, gate=0.99, associator=associator)
    return EngineConfig(sensors=[pos], motion="cv_point2d", q_diag_per_s=[0.01, 0.01, 0.1, 0.1],
                        p0_diag=[4.0, 4.0, 100.0, 100.0], max_tracks=8, max_detections=8, max_image_tracks=0,
                        lifecycle=LifecycleConfig(confirm_hits=1, confirm_window=1))


def scene(eng: FusionEngine) -> None:
    for k in range(10):
        eng.process("pos", k * DT, [[0.0, 0.0]])                      # track A converges at the origin
    eng.process("pos", 10 * DT, [[0.0, 0.0], [3.0, 0.0]])             # B is born 3 m away (outside A's gate)


def hand_costs(eng: FusionEngine, z: np.ndarray, t_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """d2 and ln det S of detection z for each track, from the engine's prediction to t_ns."""
    pr = eng.tracks(at_ns=t_ns)
    d2, logdet = [], []
    for r in pr:
        S = r["P"][:2, :2] + R
        y = z - r["x"][:2]
        d2.append(float(y @ np.linalg.solve(S, y)))
        logdet.append(float(np.log(np.linalg.det(S))))
    return np.array(d2), np.array(logdet)


def test_loglik_gives_the_detection_to_the_tight_track_where_mahalanobis_gives_it_to_the_loose_one() -> None:
    t = 11 * DT
    probe = FusionEngine(config("mahalanobis"))
    scene(probe)
    assert len(probe.tracks()) == 2
    # a detection on the segment A-B where the two costs disagree, both pairs in the gate
    for a in np.linspace(0.2, 2.0, 37):
        z = np.array([a, 0.0])
        d2, logdet = hand_costs(probe, z, t)
        if (d2 <= CHI2_2_099).all() and d2[1] < d2[0] and d2[0] + logdet[0] < d2[1] + logdet[1]:
            break
    else:
        pytest.fail("no detection where the costs disagree")
    assert logdet[1] - logdet[0] > 1.0
    winners = {}
    for cost in ("mahalanobis", "mahalanobis_loglik"):
        eng = FusionEngine(config(cost))
        scene(eng)
        ids = eng.tracks()["id"]
        eng.process("pos", t, [z])
        tr = eng.tracks()
        assert len(tr) == 2 and (tr["id"] == ids).all()
        got = tr["id"][tr["detection"][:, 0] == 0]
        assert len(got) == 1
        winners[cost] = int(got[0])
    assert winners["mahalanobis"] == int(ids[np.argmin(d2)])                 # B: the smaller d2
    assert winners["mahalanobis_loglik"] == int(ids[np.argmin(d2 + logdet)])  # A: the smaller d2 + ln det S
    assert winners["mahalanobis"] != winners["mahalanobis_loglik"]


def test_loglik_equals_mahalanobis_when_no_detection_is_contested() -> None:
    """One track per detection: the same pairs, the same updates, byte-identical tracks."""
    outs = []
    for cost in ("mahalanobis", "mahalanobis_loglik"):
        eng = FusionEngine(config(cost))
        for k in range(30):
            eng.process("pos", k * DT, [[0.5 * k * 0.1, 1.0], [20.0 - 0.3 * k * 0.1, -4.0]])
        outs.append(eng.tracks().tobytes())
    assert outs[0] == outs[1]


def test_jpda_marginals_do_not_depend_on_the_innovation_cost() -> None:
    """JPDA reads the graph's likelihoods, not its assignment costs: the same marginals and tracks."""
    outs = []
    for cost in ("mahalanobis", "mahalanobis_loglik"):
        eng = FusionEngine(config(cost, associator="jpda"))
        scene(eng)
        eng.process("pos", 11 * DT, [[1.0, 0.0], [2.2, 0.1]])
        outs.append(eng.tracks().tobytes())
    assert outs[0] == outs[1]


def test_the_registry_lists_the_new_cost_with_its_gate() -> None:
    info = registry.COSTS["mahalanobis_loglik"]
    assert info.gate_kind == "probability" and info.gate_ok(0.99) and not info.gate_ok(0.9)
    assert all("mahalanobis_loglik" in m.costs for m in registry.SENSOR_MODELS.values())
    assert registry.ASSOCIATORS["jpda"].costs is not None and "mahalanobis_loglik" in registry.ASSOCIATORS["jpda"].costs
    cfg = config("mahalanobis_loglik")
    cfg.sensors[0].gate_chi2 = 16.0
    FusionEngine(cfg)  # gate_chi2 applies to it as to mahalanobis
