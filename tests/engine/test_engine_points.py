"""The engine on 2D point targets (motion ``cv_point2d``, sensor ``position2d``): the sparse
(grid pre-gated) Mahalanobis association against a dense numpy + scipy reference on the same
inputs, the JPDA options (``jpda_birth_threshold``, ``jpda_miss_beta0``, ``jpda_method``) on
hand-built scenes, and the configuration errors of the new keys."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from fusion.engine import EngineConfig, FusionEngine, LifecycleConfig, SensorConfig, registry
from fusion.errors import ConfigurationError

FRAME = 100_000_000
GATE_CHI2 = 9.21034037  # chi-square 99% at 2 dof (the tabulated quantile of gate = 0.99)


def point_config(associator: str = "gnn", **sensor_kw) -> EngineConfig:
    """Tracks never die and are confirmed at birth: association and filtering only."""
    kw = dict(name="p", model="position2d", R=np.eye(2) * 0.25, gate=0.99, associator=associator, pd=0.9,
              clutter_density=1e-3)
    kw.update(sensor_kw)
    return EngineConfig(motion="cv_point2d", motion_noise={"accel_std": 0.5}, p0_diag=[0.25, 0.25, 4.0, 4.0],
                        max_tracks=512, max_detections=512, max_image_tracks=0,
                        lifecycle=LifecycleConfig(confirm_hits=1, confirm_window=1, confirm_by_existence=False,
                                                  delete_existence=0.0, max_coast_s=math.inf,
                                                  tentative_max_coast_s=math.inf),
                        sensors=[SensorConfig(**kw)])


def predicted(prev: np.ndarray, dt: float, q: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """The CV prediction of the previous records (numpy reference of the motion model)."""
    F = np.eye(4)
    F[0, 2] = F[1, 3] = dt
    g0, g1 = 0.5 * dt * dt, dt
    Q = np.zeros((4, 4))
    for a in range(2):
        Q[a, a], Q[a, a + 2], Q[a + 2, a], Q[a + 2, a + 2] = g0 * g0 * q, g0 * g1 * q, g0 * g1 * q, g1 * g1 * q
    return prev["x"] @ F.T, F @ prev["P"] @ F.T + Q


def test_point_model_and_sensor_are_registered():
    assert registry.MOTION_MODELS["cv_point2d"].state == ("x", "y", "vx", "vy")
    assert registry.SENSOR_MODELS["position2d"].measurement_dim == 2
    assert "cv_point2d" not in registry.BOX_MOTION_MODELS
    eng = FusionEngine(point_config())
    assert eng.state_dim == 4
    with pytest.raises(ConfigurationError, match="does not estimate every view component"):
        FusionEngine(EngineConfig(motion="cv_point2d", sensors=[SensorConfig.lidar()], max_image_tracks=0))


@pytest.mark.parametrize("seed", range(6))
def test_sparse_gnn_matches_a_dense_scipy_assignment(seed):
    """Many tracks on a small area (crowded gates): after every frame, each track's assigned
    detection is the one of the dense gated minimum-cost assignment (scipy on the full
    tracks x (detections + one private 'unassigned' column per track) matrix, cost d2, gate q)
    computed from the engine's own previous records; no in-gate pair is lost to the grid."""
    rng = np.random.default_rng(seed)
    eng = FusionEngine(point_config())
    n = 60
    truth = rng.uniform(0, 40, (n, 2))
    vel = rng.normal(0, 1.0, (n, 2))
    prev = None
    for k in range(8):
        z = truth + vel * k * 0.1 + rng.normal(0, 0.5, (n, 2))
        z = np.vstack([z[rng.random(n) < 0.9], rng.uniform(0, 40, (10, 2))])
        eng.process("p", k * FRAME, z)
        tr = eng.tracks(include_deleted=False)
        if prev is not None:
            x, P = predicted(prev, 0.1)
            S = P[:, :2, :2] + 0.25 * np.eye(2)
            y = z[None, :, :] - x[:, None, :2]
            d2 = np.einsum("tmi,tij,tmj->tm", y, np.linalg.inv(S), y)
            T, m = d2.shape
            big = 1e9
            C = np.full((T, m + T), big)
            C[:, :m] = np.where(d2 <= GATE_CHI2, d2, big)
            C[np.arange(T), m + np.arange(T)] = GATE_CHI2
            rows, cols = linear_sum_assignment(C)
            want = np.where(cols < m, cols, -1)[np.argsort(rows)]
            got = tr["detection"][:len(prev), 0]
            assert np.array_equal(tr["id"][:len(prev)], prev["id"])
            np.testing.assert_array_equal(got, want)
        prev = tr


def test_jpda_birth_threshold_and_miss_rule():
    """One track at the origin, one detection at d2 ~ 6 from it with a high clutter density:
    beta for that pair is about 0.1 (a miss is likelier), beta_0 about 0.9.
    jpda_birth_threshold decides whether that detection also starts a track; jpda_miss_beta0 =
    0.5 turns the frame into a miss."""

    def run(**kw):
        cfg = point_config("jpda", R=np.eye(2) * 0.01, clutter_density=30.0, **kw)
        cfg.p0_diag = [0.01, 0.01, 1.0, 1.0]
        eng = FusionEngine(cfg)
        eng.process("p", 0, np.array([[0.0, 0.0]]))
        eng.process("p", 0, np.array([[0.34, 0.0]]))  # dt = 0: d2 = 0.34^2 / 0.02 ~ 5.8 < 9.21
        return eng.tracks(include_deleted=False), eng.stats()

    tr, st = run()  # default: in a gate -> explained, no birth; a hit
    assert st["births"] == 1 and len(tr) == 1
    assert tr["detection"][0, 0] == 0 and tr["consecutive_misses"][0] == 0
    tr, st = run(jpda_birth_threshold=0.5)  # sum_t beta < 0.5: births too
    assert st["births"] == 2 and len(tr) == 2
    tr, st = run(jpda_miss_beta0=0.5)  # beta_0 >= 0.5: the frame is a miss (no detection)
    assert tr["detection"][0, 0] == -1 and tr["consecutive_misses"][0] == 1 and tr["misses"][0, 0] == 1
    # the PDA update moved the state towards the detection either way
    assert 0.0 < tr["x"][0, 0] < 0.34


@pytest.mark.parametrize("method", registry.JPDA_METHODS)
def test_jpda_methods_agree_on_a_crowded_scene(method):
    """Exact methods give the same tracks to 1e-9; LBP is approximate (within 0.2 m here, targets
    about 3 m apart with 0.3 m noise: clusters of a few targets)."""
    rng = np.random.default_rng(7)
    base = rng.uniform(0, 10, (8, 2))
    zs = [base + rng.normal(0, 0.3, base.shape) for _ in range(6)]

    def run(m):
        eng = FusionEngine(point_config("jpda", jpda_method=m))
        for k, z in enumerate(zs):
            eng.process("p", k * FRAME, z)
        return eng.tracks(include_deleted=False)

    ref, got = run("enumerate"), run(method)
    assert np.array_equal(ref["id"], got["id"])
    tol = 0.2 if method == "lbp" else 1e-9
    np.testing.assert_allclose(got["x"], ref["x"], atol=tol)


@pytest.mark.parametrize("key, value, match", [
    ("jpda_method", "murty", "jpda_method"),
    ("jpda_max_states", 0, "jpda_max_states"),
    ("jpda_birth_threshold", 1.5, "jpda_birth_threshold"),
    ("jpda_miss_beta0", 0.0, "jpda_miss_beta0"),
])
def test_jpda_option_errors(key, value, match):
    with pytest.raises(ConfigurationError, match=match):
        FusionEngine(point_config("jpda", **{key: value}))
    spec = point_config("jpda").to_spec()
    spec["sensors"][0][key] = value
    from fusion import _core
    with pytest.raises(ConfigurationError, match=match):
        _core.FusionEngine(spec)


def test_toml_round_trip_keeps_the_jpda_options(tmp_path):
    cfg = point_config("jpda", jpda_method="exact", jpda_max_states=4096, jpda_birth_threshold=0.25,
                       jpda_miss_beta0=0.5)
    path = tmp_path / "points.toml"
    path.write_text(cfg.to_toml())
    back = EngineConfig.from_toml(path)
    s = back.sensors[0]
    assert (s.jpda_method, s.jpda_max_states, s.jpda_birth_threshold, s.jpda_miss_beta0) == ("exact", 4096, 0.25, 0.5)
    assert back.to_spec() == cfg.to_spec()
