"""Point multi-target trackers: ms per frame on the same seeded 2D constant-velocity scenario
(Pd = 0.9, Poisson clutter, 0.5 m noise) at N = 10, 100, 1000 targets.

Implementations: fusion PointTracker (GNN, JPDA), a batched numpy + scipy GNN tracker written
here, and Stone Soup (GNN with a Mahalanobis DistanceHypothesiser: GNNWith2DAssignment and the
KD-tree DetectionKDTreeGNN2D; JPDA: its plain JPDA where it can run, and JPDAwithLBP). Stone
Soup components do prediction, gating, association and updates; the same thin M-of-N /
deletion / birth logic wraps every Python implementation.

Each benchmark warms the tracker up for WARMUP frames (untimed, in the pedantic setup), then
times TIMED frames (Stone Soup at N = 1000: 5 and 2) and checks the result (confirmed tracks
within 10% of N, position RMSE).
With the repo default ``--benchmark-disable`` each runs once; Stone Soup at N >= 100 (0.1 to
2 s a frame) only runs with ``--benchmark-enable``. See RESULTS_trackers.md.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import numpy as np
import pytest

from fusion.datasets.point_targets import simulate_point_targets
from fusion.metrics import match_ids
from fusion.tracking.point_tracker import PointTracker, PointTrackerConfig

WARMUP, TIMED = 15, 10
GATE = 9.21
CONFIRM_M, CONFIRM_N, MAX_MISSES = 3, 4, 3
SIGMA_A = 0.5
INIT_SPEED = 6.0
_SCENARIOS: dict = {}


def scenario(n: int):
    if n not in _SCENARIOS:
        _SCENARIOS[n] = simulate_point_targets(n, WARMUP + TIMED, seed=42)
    return _SCENARIOS[n]


def check_result(scen, frame: int, xy: np.ndarray, n: int) -> None:
    """Confirmed tracks within 10% of N and matched position RMSE below 0.6 m (noise 0.5 m per
    axis)."""
    assert abs(len(xy) - n) <= max(1, 0.1 * n), (len(xy), n)
    truth = scen.truth[frame, :, :2]
    ids = match_ids(truth, xy, np.arange(len(xy)), 2.0)
    ok = ids >= 0
    assert ok.mean() >= 0.85, ok.mean()
    rmse = np.sqrt(np.mean(np.sum((xy[ids[ok]] - truth[ok]) ** 2, axis=1)))
    assert rmse < 0.6, rmse


# ---------------------------------------------------------------- fusion
class FusionRunner:
    def __init__(self, association: str, scen):
        n_max = int(3 * len(scen.truth[0]) + 64)
        self.trk = PointTracker(PointTrackerConfig(
            association=association, gate_chi2=GATE, prob_detection=scen.prob_detection,
            clutter_density=scen.clutter_density, sigma_a=SIGMA_A, sigma_meas=scen.sigma_meas,
            init_speed_sigma=INIT_SPEED, confirm_m=CONFIRM_M, confirm_n=CONFIRM_N, max_misses=MAX_MISSES,
            max_tracks=n_max, max_measurements=n_max))
        self.out = None

    def step(self, z, t_ns):
        self.out = self.trk.step(z, t_ns)

    def confirmed_xy(self):
        return self.out["x"][self.out["status"] != 0][:, :2]


# ---------------------------------------------------------------- numpy + scipy GNN reference
class NumpyGnnRunner:
    """Batched reference: vectorised KF predict/update over all tracks, dense Mahalanobis cost,
    scipy.optimize.linear_sum_assignment (gated pairs cost d2, others a large constant and are
    dropped afterwards)."""

    def __init__(self, scen):
        self.r = scen.sigma_meas ** 2
        self.x = np.zeros((0, 4))
        self.P = np.zeros((0, 4, 4))
        self.hits = np.zeros(0, int)
        self.age = np.zeros(0, int)
        self.misses = np.zeros(0, int)
        self.confirmed = np.zeros(0, bool)
        self.last = None

    def step(self, z, t_ns):
        from scipy.optimize import linear_sum_assignment

        dt = 0.0 if self.last is None else (t_ns - self.last) * 1e-9
        self.last = t_ns
        if dt > 0 and len(self.x):
            F = np.eye(4)
            F[0, 2] = F[1, 3] = dt
            g0, g1, q = 0.5 * dt * dt, dt, SIGMA_A ** 2
            Q = np.zeros((4, 4))
            for a in range(2):
                Q[a, a], Q[a, a + 2], Q[a + 2, a], Q[a + 2, a + 2] = g0 * g0 * q, g0 * g1 * q, g0 * g1 * q, g1 * g1 * q
            self.x = self.x @ F.T
            self.P = F @ self.P @ F.T + Q
        T, n = len(self.x), len(z)
        assigned = np.full(T, -1)
        used = np.zeros(n, bool)
        if T and n:
            S = self.P[:, :2, :2] + self.r * np.eye(2)
            det = S[:, 0, 0] * S[:, 1, 1] - S[:, 0, 1] ** 2
            a, b, c = S[:, 1, 1] / det, -S[:, 0, 1] / det, S[:, 0, 0] / det
            dx = z[None, :, 0] - self.x[:, None, 0]
            dy = z[None, :, 1] - self.x[:, None, 1]
            d2 = a[:, None] * dx * dx + 2 * b[:, None] * dx * dy + c[:, None] * dy * dy
            cost = np.where(d2 <= GATE, d2, 1e6)
            rows, cols = linear_sum_assignment(cost)
            ok = d2[rows, cols] <= GATE
            assigned[rows[ok]] = cols[ok]
            used[cols[ok]] = True
            i = rows[ok]
            if len(i):
                Si = np.stack([np.stack([a[i], b[i]], -1), np.stack([b[i], c[i]], -1)], -2)
                K = self.P[i][:, :, :2] @ Si
                y = z[cols[ok]] - self.x[i, :2]
                self.x[i] += np.einsum("nij,nj->ni", K, y)
                IKH = np.eye(4) - np.concatenate([K, np.zeros((len(i), 4, 2))], axis=2)
                self.P[i] = IKH @ self.P[i] @ IKH.transpose(0, 2, 1) + self.r * K @ K.transpose(0, 2, 1)
        hit = assigned >= 0
        self.age += 1
        self.hits += hit
        self.misses = np.where(hit, 0, self.misses + 1)
        self.confirmed |= self.hits >= CONFIRM_M
        hopeless = ~self.confirmed & (self.hits + (CONFIRM_N - (self.age + 1)) < CONFIRM_M)
        keep = (self.misses < MAX_MISSES) & ~hopeless
        new = z[~used]
        nb = len(new)
        P0 = np.diag([self.r, self.r, INIT_SPEED ** 2, INIT_SPEED ** 2])
        self.x = np.concatenate([self.x[keep], np.c_[new, np.zeros((nb, 2))]])
        self.P = np.concatenate([self.P[keep], np.broadcast_to(P0, (nb, 4, 4))])
        self.hits = np.r_[self.hits[keep], np.ones(nb, int)]
        self.age = np.r_[self.age[keep], np.zeros(nb, int)]
        self.misses = np.r_[self.misses[keep], np.zeros(nb, int)]
        self.confirmed = np.r_[self.confirmed[keep], np.full(nb, CONFIRM_M <= 1)]

    def confirmed_xy(self):
        return self.x[self.confirmed, :2]


# ---------------------------------------------------------------- Stone Soup
class StoneSoupRunner:
    def __init__(self, kind: str, scen):
        from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
        from stonesoup.dataassociator.probability import JPDA, JPDAwithLBP
        from stonesoup.dataassociator.tree import DetectionKDTreeGNN2D
        from stonesoup.hypothesiser.distance import DistanceHypothesiser
        from stonesoup.hypothesiser.probability import PDAHypothesiser
        from stonesoup.measures import Mahalanobis
        from stonesoup.models.measurement.linear import LinearGaussian
        from stonesoup.models.transition.linear import CombinedLinearGaussianTransitionModel, ConstantVelocity
        from stonesoup.predictor.kalman import KalmanPredictor
        from stonesoup.updater.kalman import KalmanUpdater

        self.kind = kind
        self.r = scen.sigma_meas ** 2
        tm = CombinedLinearGaussianTransitionModel([ConstantVelocity(SIGMA_A ** 2)] * 2)
        self.mm = LinearGaussian(ndim_state=4, mapping=(0, 2), noise_covar=np.eye(2) * self.r)
        self.predictor = KalmanPredictor(tm)
        self.updater = KalmanUpdater(self.mm)
        if kind in ("gnn", "gnn_kdtree"):
            hyp = DistanceHypothesiser(self.predictor, self.updater, measure=Mahalanobis(),
                                       missed_distance=float(np.sqrt(GATE)))
            if kind == "gnn":
                self.assoc = GNNWith2DAssignment(hyp)
            else:
                self.assoc = DetectionKDTreeGNN2D(hyp, self.predictor, self.updater,
                                                  number_of_neighbours=None,
                                                  max_distance=float(np.sqrt(GATE)))
        else:
            hyp = PDAHypothesiser(self.predictor, self.updater, clutter_spatial_density=scen.clutter_density,
                                  prob_detect=scen.prob_detection, prob_gate=0.99)
            self.assoc = JPDA(hyp) if kind == "jpda" else JPDAwithLBP(hyp)
        self.tracks = {}  # Track -> [hits, age, misses, confirmed]
        self.t0 = datetime(2020, 1, 1)

    def step(self, z, t_ns):
        from stonesoup.functions import gm_reduce_single
        from stonesoup.types.array import StateVectors
        from stonesoup.types.detection import Detection
        from stonesoup.types.state import GaussianState
        from stonesoup.types.track import Track
        from stonesoup.types.update import GaussianStateUpdate

        ts = self.t0 + timedelta(microseconds=int(t_ns) // 1000)
        dets = [Detection(np.array([[zi[0]], [zi[1]]]), timestamp=ts, measurement_model=self.mm) for zi in z]
        hits = {}
        used = set()
        if self.tracks:
            assoc = self.assoc.associate(set(self.tracks), set(dets), ts)
            if self.kind.startswith("gnn"):
                for track, hyp in assoc.items():
                    if hyp:
                        track.append(self.updater.update(hyp))
                        used.add(hyp.measurement)
                        hits[track] = True
                    else:
                        track.append(hyp.prediction)
                        hits[track] = False
            else:
                taken = {}
                for track, hyps in assoc.items():
                    states, weights, p_miss = [], [], 0.0
                    for hyp in hyps:
                        if not hyp:
                            states.append(hyp.prediction)
                            p_miss = float(hyp.probability)
                        else:
                            states.append(self.updater.update(hyp))
                            taken[hyp.measurement] = taken.get(hyp.measurement, 0.0) + float(hyp.probability)
                        weights.append(float(hyp.probability))
                    means = StateVectors([s.state_vector for s in states])
                    covars = np.stack([s.covar for s in states], axis=2)
                    mean, covar = gm_reduce_single(means, covars, np.asarray(weights))
                    track.append(GaussianStateUpdate(mean, covar, hyps, ts))
                    hits[track] = p_miss < 0.5
                used = {d for d, p in taken.items() if p >= 0.5}
        for track, meta in list(self.tracks.items()):
            meta[1] += 1
            if hits.get(track, False):
                meta[0] += 1
                meta[2] = 0
            else:
                meta[2] += 1
            meta[3] = meta[3] or meta[0] >= CONFIRM_M
            hopeless = not meta[3] and meta[0] + (CONFIRM_N - (meta[1] + 1)) < CONFIRM_M
            if meta[2] >= MAX_MISSES or hopeless:
                del self.tracks[track]
        P0 = np.diag([self.r, INIT_SPEED ** 2, self.r, INIT_SPEED ** 2])
        for d in dets:
            if d not in used:
                x0 = np.array([[d.state_vector[0, 0]], [0.0], [d.state_vector[1, 0]], [0.0]])
                self.tracks[Track([GaussianState(x0, P0, timestamp=ts)])] = [1, 0, 0, CONFIRM_M <= 1]

    def confirmed_xy(self):
        xy = [[t.state_vector[0, 0], t.state_vector[2, 0]] for t, m in self.tracks.items() if m[3]]
        return np.array(xy).reshape(-1, 2)


# ---------------------------------------------------------------- the benchmarks
def make_runner(impl: str, scen):
    if impl.startswith("fusion_"):
        return FusionRunner(impl.split("_", 1)[1], scen)
    if impl == "numpy_scipy_gnn":
        return NumpyGnnRunner(scen)
    return StoneSoupRunner(impl.split("_", 1)[1], scen)


IMPLS = ["fusion_gnn", "fusion_jpda", "numpy_scipy_gnn", "stonesoup_gnn", "stonesoup_gnn_kdtree",
         "stonesoup_jpda", "stonesoup_jpdawithlbp"]


@pytest.mark.parametrize("n", [10, 100, 1000])
@pytest.mark.parametrize("impl", IMPLS)
def test_tracker_frame_time(benchmark, impl, n):
    if impl.startswith("stonesoup"):
        if impl == "stonesoup_jpda" and n > 10:
            pytest.skip("Stone Soup's plain JPDA enumerates all joint hypotheses: N = 10 only")
        if n >= 100 and benchmark.disabled:
            pytest.skip("Stone Soup at N >= 100 takes 0.1-2 s a frame: run with --benchmark-enable")
        if impl == "stonesoup_jpdawithlbp" and n >= 1000:
            pytest.skip("Stone Soup JPDAwithLBP at N = 1000: too slow to be useful here")
    scen = scenario(n)
    # Stone Soup at N = 1000 takes seconds a frame: a short warm-up and two timed frames.
    warmup, timed_frames = (5, 2) if impl.startswith("stonesoup") and n >= 1000 else (WARMUP, TIMED)
    state = {}

    def setup():
        runner = make_runner(impl, scen)
        for k in range(warmup):
            runner.step(scen.measurements[k], int(scen.t_ns[k]))
        state["runner"] = runner
        return (runner,), {}

    def timed(runner):
        t0 = time.perf_counter()
        for k in range(warmup, warmup + timed_frames):
            runner.step(scen.measurements[k], int(scen.t_ns[k]))
        state["ms_per_frame"] = (time.perf_counter() - t0) * 1e3 / timed_frames

    benchmark.pedantic(timed, setup=setup, rounds=1 if impl.startswith("stonesoup") else 3)
    benchmark.extra_info["ms_per_frame"] = state["ms_per_frame"]
    benchmark.extra_info["measurements_per_frame"] = float(np.mean([len(z) for z in scen.measurements]))
    print(f"\nRESULT {impl} N={n} ms_per_frame={state['ms_per_frame']:.4f} frames={timed_frames}")
    check_result(scen, warmup + timed_frames - 1, state["runner"].confirmed_xy(), n)
