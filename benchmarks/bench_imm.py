"""IMM speed: fusion's IMMBank next to filterpy's IMMEstimator in the same run (issue 8).

Groups (each benchmark first checks that its implementation gives the reference's estimate on
the same inputs, then times one filter step = predict + update of one track):
- imm-cv2: two CV models (sigma_a 0.1 and 5 m/s^2), position measurements: IMMBank over
  N = 10,000 tracks per call vs filterpy's IMMEstimator over two filterpy KalmanFilters (one
  track per step). Per-track time = mean / N (extra_info "us_per_track").
- imm-cv3: the same with three CV models.
- imm-cv-ctrv: CV + CTRV (4 and 5 states, mixed through the CV <-> CTRV state maps): IMMBank
  vs fusion's Python IMMEstimator (filterpy cannot mix different state sizes).

Run:  python -m pytest benchmarks/bench_imm.py --benchmark-enable --benchmark-columns=min,mean,rounds
"""

from __future__ import annotations

import math

import filterpy.kalman as filterpy_kalman
import numpy as np
import pytest

from fusion.filters import CTRVToCV, CVToCTRV, ExtendedKalmanFilter, IMMBank, IMMEstimator, KalmanFilter
from fusion.models import CTRV, CV2D, Position2D

DT = 0.1
R_POS = 0.25
BANK_N = 10_000
P0_CV = np.diag([4.0, 4.0, 9.0, 9.0])
P0_CTRV = np.diag([4.0, 4.0, 9.0, 0.5, 0.1])
X0_CV = np.array([0.5, -0.5, 7.0, 1.0])
X0_CTRV = np.array([0.5, -0.5, math.hypot(7.0, 1.0), math.atan2(1.0, 7.0), 0.0])
WARMUP = 30


def _markov(r):
    off = 0.03 / (r - 1)
    return np.full((r, r), off) + np.eye(r) * (0.97 - off)


def _kf(cls, sigma_a):
    m = CV2D(sigma_a=sigma_a)
    kf = cls(dim_x=4, dim_z=2)
    kf.F = m.jacobian(np.zeros(4), DT)
    kf.Q = m.Q(np.zeros(4), DT)
    kf.H = np.eye(2, 4)
    kf.R = np.eye(2) * R_POS
    kf.x = X0_CV.reshape(4, 1).copy()
    kf.P = P0_CV.copy()
    return kf


class _CtrvEKF(ExtendedKalmanFilter):
    """CTRV EKF with a position sensor and the one-argument update(z) the IMM calls."""

    H = np.eye(2, 5)

    def __init__(self, motion):
        super().__init__(5, 2)
        self.motion = motion
        self.x = X0_CTRV.reshape(5, 1).copy()
        self.P = P0_CTRV.copy()
        self.R = np.eye(2) * R_POS

    def predict(self, u=0):
        self.Q = self.motion.Q(self.x.ravel(), DT)  # read by the EKF before predict_x
        super().predict(u)

    def predict_x(self, u=0):
        x = self.x.ravel()
        self.F = self.motion.jacobian(x, DT)
        self.x = self.motion.f(x, DT).reshape(5, 1)

    def update(self, z):
        super().update(np.reshape(z, (2, 1)), lambda x: self.H, lambda x: self.H @ x)


def _track_measurements(n, steps, seed):
    """(steps, n, 2): each track goes straight, then turns (0.5 rad/s), plus noise."""
    rng = np.random.default_rng(seed)
    out = np.empty((steps, n, 2))
    pos = np.zeros((n, 2)) + X0_CV[:2]
    yaw = np.full(n, math.atan2(1.0, 7.0))
    for k in range(steps):
        yaw += (0.5 if k >= steps // 2 else 0.0) * DT
        pos += np.stack([np.cos(yaw), np.sin(yaw)], axis=1) * math.hypot(7.0, 1.0) * DT
        out[k] = pos + rng.normal(0.0, math.sqrt(R_POS), (n, 2))
    return out


def _check_and_time(benchmark, impl, make_bank, make_ref, n_bank):
    """Warm up bank track 0 and the reference on the same inputs, assert they agree, then time
    one step (predict + update); the bank's time covers n_bank tracks."""
    if impl == "fusion-bank":
        zs = _track_measurements(n_bank, WARMUP + 1, seed=1)
        bank = make_bank(n_bank)
        ref = make_ref()
        for k in range(WARMUP):
            bank.predict(DT)
            assert bank.update(zs[k]) == n_bank
            ref.predict()
            ref.update(zs[k, 0])
        np.testing.assert_allclose(bank.x[0], np.ravel(ref.x), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(bank.P[0], ref.P, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(bank.mu[0], ref.mu, rtol=1e-7, atol=1e-12)
        z = zs[WARMUP]

        def step():
            bank.predict(DT)
            bank.update(z)

        n = n_bank
    else:
        zs = _track_measurements(1, WARMUP + 1, seed=1)
        ref = make_ref()
        for k in range(WARMUP):
            ref.predict()
            ref.update(zs[k, 0])
        assert np.all(np.isfinite(ref.x)) and np.isclose(np.sum(ref.mu), 1.0)
        z = zs[WARMUP, 0]

        def step():
            ref.predict()
            ref.update(z)

        n = 1
    benchmark(step)
    benchmark.extra_info["tracks"] = n
    if benchmark.stats is not None:
        benchmark.extra_info["us_per_track"] = benchmark.stats.stats.mean / n * 1e6
        benchmark.extra_info["us_per_track_min"] = benchmark.stats.stats.min / n * 1e6


def _cv_case(sigmas):
    r = len(sigmas)
    M = _markov(r)
    mu = np.full(r, 1.0 / r)

    def make_bank(n):
        return IMMBank([CV2D(sigma_a=s) for s in sigmas], Position2D(), n, M=M, mu=mu, R=R_POS,
                       x=[X0_CV] * r, P=[P0_CV] * r)

    def make_ref():
        return filterpy_kalman.IMMEstimator([_kf(filterpy_kalman.KalmanFilter, s) for s in sigmas], mu.copy(), M)

    return make_bank, make_ref


@pytest.mark.benchmark(group="imm-cv2")
@pytest.mark.parametrize("impl", ["fusion-bank", "filterpy"])
def test_imm_two_cv(benchmark, impl):
    make_bank, make_ref = _cv_case((0.1, 5.0))
    _check_and_time(benchmark, impl, make_bank, make_ref, BANK_N)


@pytest.mark.benchmark(group="imm-cv3")
@pytest.mark.parametrize("impl", ["fusion-bank", "filterpy"])
def test_imm_three_cv(benchmark, impl):
    make_bank, make_ref = _cv_case((0.05, 1.0, 10.0))
    _check_and_time(benchmark, impl, make_bank, make_ref, BANK_N)


@pytest.mark.benchmark(group="imm-cv-ctrv")
@pytest.mark.parametrize("impl", ["fusion-bank", "fusion-python-imm"])
def test_imm_cv_ctrv(benchmark, impl):
    ctrv = CTRV(sigma_a=0.5, sigma_yawdd=1.0)
    M = [[0.95, 0.05], [0.05, 0.95]]

    def make_bank(n):
        return IMMBank([CV2D(0.2), ctrv], Position2D(), n, M=M, mu=[0.9, 0.1], R=R_POS,
                       x=[X0_CV, X0_CTRV], P=[P0_CV, P0_CTRV])

    def make_ref():
        return IMMEstimator([_kf(KalmanFilter, 0.2), _CtrvEKF(ctrv)], [0.9, 0.1], M,
                            state_maps={(0, 1): CVToCTRV(), (1, 0): CTRVToCV()})

    _check_and_time(benchmark, "fusion-bank" if impl == "fusion-bank" else "reference", make_bank, make_ref, BANK_N)
