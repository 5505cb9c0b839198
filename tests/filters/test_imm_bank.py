"""IMMBank (the C++ IMM over N tracks): per-track parity with filterpy's IMMEstimator for
same-size models (two and three CV models), parity with fusion's Python IMMEstimator for the
mixed-size CV + CTRV case, properties over long manoeuvring runs, the far-off measurement
(underflow) cases, bad input, and the concurrency contract."""

from __future__ import annotations

import copy
import math
import pickle
import threading

import numpy as np
import pytest
from filterpy.kalman import IMMEstimator as FpIMM
from filterpy.kalman import KalmanFilter as FpKalmanFilter

from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.filters import CTRVToCV, CVToCTRV, ExtendedKalmanFilter, IMMBank, IMMEstimator, KalmanFilter
from fusion.models import CA2D, CTRV, CV2D, Position2D, RadarPolar

from _fhelpers import assert_close, assert_spd

DT = 0.1
P0_CV = np.diag([4.0, 4.0, 9.0, 9.0])
P0_CTRV = np.diag([4.0, 4.0, 9.0, 0.5, 0.1])


def _markov(n, stay=0.97):
    return np.full((n, n), (1.0 - stay) / (n - 1)) + np.eye(n) * (stay - (1.0 - stay) / (n - 1))


def _fp_cv(sigma_a, x0, R):
    m = CV2D(sigma_a=sigma_a)
    kf = FpKalmanFilter(dim_x=4, dim_z=2)
    kf.F = m.jacobian(np.zeros(4), DT)
    kf.Q = m.Q(np.zeros(4), DT)
    kf.H = np.eye(2, 4)
    kf.R = np.eye(2) * R
    kf.x = np.asarray(x0, dtype=float).reshape(4, 1)
    kf.P = P0_CV.copy()
    return kf


def _fusion_cv(sigma_a, x0, R):
    m = CV2D(sigma_a=sigma_a)
    kf = KalmanFilter(dim_x=4, dim_z=2)
    kf.F = m.jacobian(np.zeros(4), DT)
    kf.Q = m.Q(np.zeros(4), DT)
    kf.H = np.eye(2, 4)
    kf.R = np.eye(2) * R
    kf.x = np.asarray(x0, dtype=float).reshape(4, 1)
    kf.P = P0_CV.copy()
    return kf


class _CtrvEKF(ExtendedKalmanFilter):
    """CTRV EKF with a position sensor and the one-argument update(z) the IMM calls."""

    H = np.eye(2, 5)

    def __init__(self, motion, x0, R):
        super().__init__(5, 2)
        self.motion = motion
        self.x = np.asarray(x0, dtype=float).reshape(5, 1)
        self.P = P0_CTRV.copy()
        self.R = np.eye(2) * R

    def predict(self, u=0):
        # Q at the state before the step, set before predict(): fusion's Python EKF reads Q
        # before calling predict_x (filterpy reads it after).
        self.Q = self.motion.Q(self.x.ravel(), DT)
        super().predict(u)

    def predict_x(self, u=0):
        x = self.x.ravel()
        self.F = self.motion.jacobian(x, DT)
        self.x = self.motion.f(x, DT).reshape(5, 1)

    def update(self, z):
        super().update(np.reshape(z, (2, 1)), lambda x: self.H, lambda x: self.H @ x)


def _manoeuvring_measurements(rng, steps, kind="accel", sigma_z=1.0):
    """Per step a position measurement of a target that goes straight, then manoeuvres
    (lateral acceleration, or a 0.5 rad/s turn at 10 m/s)."""
    x, y, vx, vy = 0.0, 0.0, 8.0, 1.0
    zs = []
    for k in range(steps):
        on = k >= steps // 2
        if kind == "accel":
            ax, ay = (2.0, -3.0) if on else (0.0, 0.0)
        else:
            w = 0.5 if on else 0.0
            ax, ay = -w * vy, w * vx
        x += vx * DT + 0.5 * ax * DT**2
        y += vy * DT + 0.5 * ay * DT**2
        vx += ax * DT
        vy += ay * DT
        zs.append(np.array([x, y]) + rng.normal(0.0, sigma_z, 2))
    return np.array(zs)


# ------------------------------------------------------------------ parity with filterpy
@pytest.mark.parametrize("sigmas", [(0.1, 5.0), (0.05, 1.0, 10.0)], ids=["two-cv", "three-cv"])
def test_per_track_parity_with_filterpy_imm(sigmas):
    """Each of N tracks, with its own measurements and start, equals filterpy's IMMEstimator on
    the same inputs after every predict and every update (combined x, P, mu and every model)."""
    n_tracks, steps, r, R = 6, 60, len(sigmas), 1.0
    rng = np.random.default_rng(7 + r)
    M = _markov(r)
    mu0 = np.linspace(1.0, 2.0, r)
    mu0 /= mu0.sum()
    x0s = rng.normal(0.0, 2.0, (n_tracks, 4)) + [0.0, 0.0, 7.0, 0.0]
    zs = np.stack([_manoeuvring_measurements(rng, steps) + x0s[i, :2] for i in range(n_tracks)], axis=1)
    bank = IMMBank([CV2D(sigma_a=s) for s in sigmas], Position2D(), n_tracks, M=M, mu=mu0, R=R,
                   x=[x0s] * r, P=[P0_CV] * r)
    refs = [FpIMM([_fp_cv(s, x0s[i], R) for s in sigmas], mu0.copy(), M) for i in range(n_tracks)]
    for i, ref in enumerate(refs):
        assert_close(bank.x[i], ref.x.ravel(), what=f"track {i}: initial x")
        assert_close(bank.P[i], ref.P, what=f"track {i}: initial P")
    for k in range(steps):
        bank.predict(DT)
        for i, ref in enumerate(refs):
            ref.predict()
            assert_close(bank.x[i], ref.x.ravel(), rtol=1e-8, what=f"step {k} track {i}: prior x")
            assert_close(bank.P[i], ref.P, rtol=1e-8, what=f"step {k} track {i}: prior P")
        assert bank.update(zs[k]) == n_tracks
        for i, ref in enumerate(refs):
            ref.update(zs[k, i])
            assert_close(bank.x[i], ref.x.ravel(), rtol=1e-8, what=f"step {k} track {i}: x")
            assert_close(bank.P[i], ref.P, rtol=1e-8, what=f"step {k} track {i}: P")
            assert_close(bank.mu[i], ref.mu, rtol=1e-8, what=f"step {k} track {i}: mu")
            for j, f in enumerate(ref.filters):
                assert_close(bank.mode_x(j)[i], f.x.ravel(), rtol=1e-8, what=f"step {k} track {i}: model {j} x")
                assert_close(bank.mode_P(j)[i], f.P, rtol=1e-8, what=f"step {k} track {i}: model {j} P")
                assert bank.log_likelihood[i, j] == pytest.approx(math.log(f.likelihood), rel=1e-8)
    assert np.all(bank.status == 0)
    # the manoeuvre half moved probability to the highest-noise model
    assert np.all(bank.mu[:, -1] > 0.5)


# ------------------------------------------------------------------ parity with IMMEstimator, mixed sizes
def test_cv_ctrv_parity_with_python_imm_estimator():
    """CV (4 states) + CTRV (5 states): each track equals fusion's Python IMMEstimator with the
    CVToCTRV / CTRVToCV state maps on the same inputs, through a 0.5 rad/s turn."""
    n_tracks, steps, R = 4, 80, 0.25
    rng = np.random.default_rng(21)
    x0cv = np.array([0.0, 0.0, 8.0, 1.0])
    x0ctrv = np.array([0.0, 0.0, math.hypot(8.0, 1.0), math.atan2(1.0, 8.0), 0.0])
    zs = np.stack([_manoeuvring_measurements(rng, steps, "turn", 0.5) for _ in range(n_tracks)], axis=1)
    M = [[0.95, 0.05], [0.05, 0.95]]
    cv, ctrv = CV2D(sigma_a=0.2), CTRV(sigma_a=0.5, sigma_yawdd=1.0)
    bank = IMMBank([cv, ctrv], Position2D(), n_tracks, M=M, mu=[0.9, 0.1], R=R,
                   x=[x0cv, x0ctrv], P=[P0_CV, P0_CTRV])
    refs = [IMMEstimator([_fusion_cv(0.2, x0cv, R), _CtrvEKF(ctrv, x0ctrv, R)], [0.9, 0.1], M,
                         state_maps={(0, 1): CVToCTRV(), (1, 0): CTRVToCV()}) for _ in range(n_tracks)]
    assert bank.output_model == 1 and bank.dim_x == 5
    for i, ref in enumerate(refs):
        assert_close(bank.x[i], ref.x.ravel(), what=f"track {i}: initial x")
    for k in range(steps):
        bank.predict(DT)
        for i, ref in enumerate(refs):
            ref.predict()
            assert_close(bank.x[i], ref.x.ravel(), rtol=1e-7, what=f"step {k} track {i}: prior x")
            assert_close(bank.P[i], ref.P, rtol=1e-7, what=f"step {k} track {i}: prior P")
        bank.update(zs[k])
        for i, ref in enumerate(refs):
            ref.update(zs[k, i])
            assert_close(bank.x[i], ref.x.ravel(), rtol=1e-7, what=f"step {k} track {i}: x")
            assert_close(bank.P[i], ref.P, rtol=1e-7, what=f"step {k} track {i}: P")
            assert_close(bank.mu[i], ref.mu, rtol=1e-7, what=f"step {k} track {i}: mu")
            assert_close(bank.mode_x(0)[i], ref.filters[0].x.ravel(), rtol=1e-7, what=f"step {k}: CV x")
            assert_close(bank.mode_x(1)[i], ref.filters[1].x.ravel(), rtol=1e-7, what=f"step {k}: CTRV x")
    # the turn moved probability to CTRV and the heading followed it
    assert np.all(bank.mu[:, 1] > 0.5)


def test_cv_ca_mixing_matches_python_linear_state_maps():
    """CV + CA (4 and 6 states): one predict + update equals IMMEstimator with
    LinearStateMap(np.eye(6, 4)) / LinearStateMap(np.eye(4, 6))."""
    from fusion.filters import LinearStateMap

    R = 0.5
    x0 = np.array([1.0, 2.0, 3.0, -1.0])
    xa = np.r_[x0, 0.5, -0.2]
    Pa = np.diag([4.0, 4.0, 9.0, 9.0, 2.0, 3.0])
    ca = CA2D(sigma_j=2.0)
    kca = KalmanFilter(dim_x=6, dim_z=2)
    kca.F, kca.Q, kca.H, kca.R = ca.jacobian(np.zeros(6), DT), ca.Q(np.zeros(6), DT), np.eye(2, 6), np.eye(2) * R
    kca.x, kca.P = xa.reshape(6, 1), Pa.copy()
    ref = IMMEstimator([_fusion_cv(0.3, x0, R), kca], [0.6, 0.4], [[0.9, 0.1], [0.2, 0.8]],
                       state_maps={(0, 1): LinearStateMap(np.eye(6, 4)), (1, 0): LinearStateMap(np.eye(4, 6))})
    bank = IMMBank([CV2D(0.3), ca], Position2D(), 2, M=[[0.9, 0.1], [0.2, 0.8]], mu=[0.6, 0.4], R=R,
                   x=[x0, xa], P=[P0_CV, Pa])
    for z in ([1.5, 2.1], [1.9, 1.8], [2.6, 1.7]):
        bank.predict(DT)
        ref.predict()
        bank.update(np.array([z, z]))
        ref.update(np.array(z))
        for i in range(2):
            assert_close(bank.x[i], ref.x.ravel(), rtol=1e-9, what="x")
            assert_close(bank.P[i], ref.P, rtol=1e-9, what="P")
            assert_close(bank.mu[i], ref.mu, rtol=1e-9, what="mu")


# ------------------------------------------------------------------ properties over long runs
def test_long_manoeuvring_runs_keep_mu_normalised_and_covariances_spd():
    """3000 steps of alternating straight runs, turns and hard accelerations for 40 tracks,
    CV + CTRV: mu is finite and sums to 1, every covariance (combined and per model) stays
    symmetric positive definite, and the mode follows the manoeuvres."""
    n, steps = 40, 3000
    rng = np.random.default_rng(3)
    bank = IMMBank([CV2D(0.3), CTRV(1.0, 1.0)], Position2D(), n, M=[[0.98, 0.02], [0.02, 0.98]], R=0.3,
                   x=[[0.0, 0.0, 10.0, 0.0], [0.0, 0.0, 10.0, 0.0, 0.0]])
    pos = np.zeros((n, 2))
    yaw = rng.uniform(-math.pi, math.pi, n)
    speed = rng.uniform(5.0, 20.0, n)
    mu_turning, mu_straight = [], []
    for k in range(steps):
        phase = (k // 150) % 3  # straight, turning, straight with a speed change
        w = np.where(phase == 1, 0.6 * np.sign(np.sin(np.arange(n) + k // 450)), 0.0)
        speed = np.clip(speed + (3.0 * DT if phase == 2 else 0.0), 2.0, 30.0)
        yaw = yaw + w * DT
        pos += np.stack([speed * np.cos(yaw), speed * np.sin(yaw)], axis=1) * DT
        bank.predict(DT)
        bank.update(pos + rng.normal(0.0, 0.55, (n, 2)))
        mu = bank.mu
        assert np.all(np.isfinite(mu)) and np.allclose(mu.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        if k % 50 == 49:
            assert_spd(bank.P, f"step {k}: combined P")
            assert_spd(bank.mode_P(0), f"step {k}: CV P")
            assert_spd(bank.mode_P(1), f"step {k}: CTRV P")
        if k % 150 > 60:
            (mu_turning if phase == 1 else mu_straight).append(mu[:, 1].mean())
    assert np.all(np.isfinite(bank.x)) and np.all(bank.status == 0)
    assert np.mean(mu_turning) > np.mean(mu_straight) + 0.2, (np.mean(mu_turning), np.mean(mu_straight))


def test_identical_models_reduce_to_one_kalman_filter():
    """Two identical CV models: mixing changes nothing, so the IMM equals one Kalman filter
    whatever mu does."""
    R = 0.5
    bank = IMMBank([CV2D(1.0), CV2D(1.0)], Position2D(), 1, M=[[0.7, 0.3], [0.4, 0.6]], mu=[0.2, 0.8], R=R,
                   x=[[1.0, 2.0, 3.0, 4.0]] * 2, P=[P0_CV] * 2)
    kf = _fp_cv(1.0, [1.0, 2.0, 3.0, 4.0], R)
    for z in _manoeuvring_measurements(np.random.default_rng(0), 50):
        bank.predict(DT)
        kf.predict()
        bank.update(z[None, :])
        kf.update(z)
        assert_close(bank.x[0], kf.x.ravel(), rtol=1e-9)
        assert_close(bank.P[0], kf.P, rtol=1e-9)


# ------------------------------------------------------------------ far-off measurements
def _pair_bank(n=3):
    return IMMBank([CV2D(0.1), CV2D(5.0)], Position2D(), n, M=_markov(2), mu=[0.5, 0.5], R=1.0,
                   x=[[0.5, -0.5, 7.0, 0.0]] * 2, P=[P0_CV] * 2)


def test_far_measurement_gives_the_log_domain_posterior_and_a_flag():
    """1e4 m off (NIS ~1e8): every model's likelihood underflows (filterpy floors them all to the
    float minimum, which leaves mu at the prior); the bank computes mu in the log domain as the
    Python IMMEstimator does, finite and normalised, and flags status 4."""
    bank = _pair_bank(1)
    ours = IMMEstimator([_fusion_cv(s, [0.5, -0.5, 7.0, 0.0], 1.0) for s in (0.1, 5.0)], [0.5, 0.5], _markov(2))
    z = np.array([[1e4, -1e4]])
    bank.predict(DT)
    ours.predict()
    bank.update(z)
    ours.update(z[0])
    assert bank.status[0] == 4
    assert np.all(bank.log_likelihood[0] < math.log(np.finfo(float).tiny))
    assert_close(bank.mu[0], ours.mu, rtol=1e-9, what="mu")
    assert_close(bank.x[0], ours.x.ravel(), rtol=1e-9, what="x")
    assert bank.mu[0, 1] > 0.99 and np.all(np.isfinite(bank.P))


def test_nis_beyond_1e10_counts_as_no_likelihood():
    """A model whose NIS exceeds 1e10 (a measurement 1e5 sigma off) does not take it
    (kImmMaxNis, imm.hpp): taking it would move the state so far that the mixture's covariance
    loses positive definiteness in double precision (the session-7 fuzz findings). Just below the
    bound the measurement is taken (status 4), just above it counts as no measurement (status 5:
    models as predicted, mu = mu @ M)."""
    P = np.eye(4)
    for nis, status in ((0.99e10, 4), (1.01e10, 5)):
        bank = IMMBank([CV2D(0.1), CV2D(5.0)], Position2D(), 1, M=_markov(2), mu=[0.5, 0.5], R=1.0,
                       x=[[0.0, 0.0, 0.0, 0.0]] * 2, P=[P] * 2)  # S = P_xy + R = 2 I: NIS = d^2 / 2
        before = [(bank.mode_x(j).copy(), bank.mode_P(j).copy()) for j in range(2)]
        mu_before = bank.mu.copy()
        bank.update(np.array([[math.sqrt(2 * nis), 0.0]]))
        assert bank.status[0] == status, nis
        moved = not np.array_equal(bank.mode_x(0), before[0][0])
        assert moved == (status == 4)
        if status == 5:
            assert_close(bank.mu[0], mu_before[0] @ bank.M, rtol=1e-12, what="mu = predicted")
            assert all(np.array_equal(bank.mode_P(j), before[j][1]) for j in range(2))
        assert_spd(bank.P)


def test_far_measurements_then_ordinary_ones_keep_covariances_positive_definite():
    """The fuzz findings' pattern: measurements of 1e58-1e70 m in some tracks, ordinary ones
    after, predicts in between. Before the NIS bound the models' states jumped to ~1e58 while the
    others stayed near 20 m, and the mixture's covariance became indefinite (eigenvalue -1e54)."""
    bank = IMMBank([CV2D(0.2), CA2D(1.0)], Position2D(), 4, M=_markov(2), R=1.0)
    for k in range(2):
        x0 = np.zeros((4, bank.model_dims[k]))
        x0[:, 0] = 20.0
        bank.set_model_state(k, x=x0)
    rng = np.random.default_rng(7)
    for step in range(40):
        bank.predict(0.1 + 0.3 * rng.random())
        z = rng.uniform(-60, 60, (4, 2))
        if step in (3, 11, 12):
            z[step % 4] = [1e70, -3e58]
        bank.update(z)
        for j in range(2):
            assert np.all(np.isfinite(bank.mode_x(j))) and np.abs(bank.mode_x(j)).max() < 1e4
            assert_spd(bank.mode_P(j))
        assert np.all(np.isfinite(bank.x)) and np.all(np.isfinite(bank.mu))
        assert_spd(bank.P)


def test_no_finite_likelihood_keeps_predicted_mode_probabilities():
    """1e200 m off: the NIS overflows in every model. The measurement is treated as no
    measurement: models keep their predicted states, mu becomes mu @ M, status 5, nothing NaN."""
    bank = _pair_bank(3)
    bank.predict(DT)
    bank.update(np.tile([3.0, -1.0], (3, 1)))  # an ordinary update first: mu != uniform
    bank.predict(DT)
    mu_before = bank.mu.copy()
    modes_before = [(bank.mode_x(j).copy(), bank.mode_P(j).copy()) for j in range(2)]
    z = np.array([[1e200, 1e200], [3.5, -1.0], [-1e200, 1e200]])
    assert bank.update(z) == 1
    assert list(bank.status) == [5, 0, 5]
    for i in (0, 2):
        assert_close(bank.mu[i], mu_before[i] @ bank.M, rtol=1e-12, what="mu = predicted")
        for j in range(2):
            assert np.array_equal(bank.mode_x(j)[i], modes_before[j][0][i])
            assert np.array_equal(bank.mode_P(j)[i], modes_before[j][1][i])
    assert np.all(np.isfinite(bank.x)) and np.all(np.isfinite(bank.P)) and np.all(np.isfinite(bank.mu))
    assert_spd(bank.P)


def test_masked_out_tracks_get_the_no_measurement_update():
    bank = _pair_bank(2)
    bank.predict(DT)
    bank.update(np.array([[3.0, -1.0], [3.0, -1.0]]))
    bank.predict(DT)
    mu_before, x0 = bank.mu.copy(), bank.mode_x(0).copy()
    assert bank.update(np.array([[3.6, -1.0], [np.nan, np.nan]]), mask=[True, False]) == 1
    assert list(bank.status) == [0, -1]
    assert_close(bank.mu[1], mu_before[1] @ bank.M, rtol=1e-12)
    assert np.array_equal(bank.mode_x(0)[1], x0[1])


# ------------------------------------------------------------------ bad input
def _state(bank):
    arrays = [bank.x, bank.P, bank.mu, bank.status, bank.log_likelihood]
    arrays += [bank.mode_x(j) for j in range(bank.n_models)] + [bank.mode_P(j) for j in range(bank.n_models)]
    return [a.copy() for a in arrays]


def _unchanged(bank, before):
    return all(np.array_equal(a, b, equal_nan=True) for a, b in zip(_state(bank), before))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda b: b.update(np.zeros((3, 3))), ShapeError, r"update: z: expected shape \(3, 2\)"),
        (lambda b: b.update(np.array([[0.0, 1.0], [np.nan, 0.0], [0.0, 0.0]])), NumericalError,
         "z: non-finite.*track 1"),
        (lambda b: b.update(np.zeros((3, 2)), mask=[True, False]), ShapeError, "mask"),
        (lambda b: b.update(np.zeros((3, 2)), R=-np.eye(2)), NumericalError, "R: not positive definite"),
        (lambda b: b.update(np.zeros((3, 2)), R=np.eye(3)), ShapeError, "R: expected shape"),
        (lambda b: b.predict(-0.1), ConfigurationError, "dt_s"),
        (lambda b: b.predict(float("nan")), ConfigurationError, "dt_s"),
        (lambda b: setattr(b, "mu", [-0.5, 1.5]), ConfigurationError, "mu"),
        (lambda b: setattr(b, "mu", np.zeros((3, 3))), ShapeError, "mu"),
        (lambda b: b.set_model_state(0, x=[0.0, 0.0, 1.0], P=np.eye(4)), ShapeError, r"x\[0\]"),
        (lambda b: b.set_model_state(1, x=[0.0] * 4, P=np.diag([1.0, -1.0, 1.0, 1.0])), NumericalError, r"P\[1\]"),
        (lambda b: b.set_model_state(0, x=[np.inf, 0.0, 0.0, 0.0]), NumericalError, r"x\[0\]"),
        (lambda b: b.set_model_state(2, x=[0.0] * 4), ConfigurationError, "model"),
        # review: bools, strings, None, arrays, complex numbers and int64 extremes where numbers or
        # indices go were accepted (True as 1, 1.5 as model 1), or raised a bare TypeError/ValueError
        # or a pybind11 signature dump
        (lambda b: b.predict(True), ConfigurationError, "dt_s: expected a number"),
        (lambda b: b.predict("0.1"), ConfigurationError, "dt_s: expected a number"),
        (lambda b: b.predict(None), ConfigurationError, "dt_s: expected a number"),
        (lambda b: b.predict(np.array([0.1])), ConfigurationError, "dt_s: expected a number"),
        (lambda b: b.mode_x(2**40), ConfigurationError, r"mode_x: model must be in \[0, 2\)"),
        (lambda b: b.mode_P(np.int64(-(2**63))), ConfigurationError, r"mode_P: model must be in \[0, 2\)"),
        (lambda b: b.mode_x(True), ConfigurationError, "mode_x: model: expected an integer"),
        (lambda b: b.mode_P(1.5), ConfigurationError, "mode_P: model: expected an integer"),
        (lambda b: b.set_model_state("a", x=[0.0] * 4), ConfigurationError, "set_model_state: model: expected an"),
        (lambda b: b.set_model_state(None, x=[0.0] * 4), ConfigurationError, "set_model_state: model: expected an"),
        (lambda b: b.set_model_state(0, x=["a"] * 4), ConfigurationError, r"x\[0\]: expected real numbers"),
        (lambda b: b.set_model_state(0, x=[True] * 4), ConfigurationError, r"x\[0\]: expected real numbers"),
        (lambda b: b.update("ab"), ConfigurationError, "update: z: expected real numbers"),
        (lambda b: b.update(np.full((3, 2), 1 + 1j)), ConfigurationError, "update: z: expected real numbers"),
        (lambda b: b.update([[0.0, 1.0], [2.0]]), ShapeError, "update: z"),
        (lambda b: b.update(np.zeros((3, 2)), mask=np.full(3, np.nan)), ConfigurationError, "mask: expected booleans"),
        (lambda b: b.update(np.zeros((3, 2)), R="a"), ConfigurationError, "R: expected real numbers"),
        (lambda b: b.update(np.zeros((3, 2)), R=True), ConfigurationError, "R: expected real numbers"),
        (lambda b: setattr(b, "mu", "ab"), ConfigurationError, "mu: expected real numbers"),
        (lambda b: setattr(b, "mu", [True, False]), ConfigurationError, "mu: expected real numbers"),
    ],
)
def test_bad_input_raises_typed_error_naming_the_argument_and_changes_nothing(call, exc, match):
    bank = _pair_bank(3)
    bank.predict(DT)
    bank.update(np.tile([3.0, -1.0], (3, 1)))
    before = _state(bank)
    with pytest.raises(exc, match=match):
        call(bank)
    assert _unchanged(bank, before)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"size": True}, ConfigurationError, "size: expected an integer"),
        ({"size": 2.5}, ConfigurationError, "size: expected an integer"),
        ({"size": "3"}, ConfigurationError, "size: expected an integer"),
        ({"size": None}, ConfigurationError, "size: expected an integer"),
        ({"size": float("nan")}, ConfigurationError, "size: expected an integer"),
        ({"size": 10**12}, ConfigurationError, "size: .* tracks need .* GiB"),
        ({"min_speed_mps": True}, ConfigurationError, "min_speed_mps: expected a number"),
        ({"min_speed_mps": None}, ConfigurationError, "min_speed_mps: expected a number"),
        ({"M": "ab"}, ConfigurationError, "M: expected real numbers"),
        ({"M": [[True, False], [False, True]]}, ConfigurationError, "M: expected real numbers"),
        ({"motions": None}, ConfigurationError, "motions: expected a sequence"),
        ({"R": "a"}, ConfigurationError, "R: expected real numbers"),
        ({"x": 5}, ShapeError, "x: expected one entry per model"),
        ({"P": np.eye(4)}, ShapeError, "P: expected one entry per model"),
    ],
)
def test_bad_constructor_arguments_raise_typed_errors(kwargs, exc, match):
    """Review: 10**12 tried to allocate terabytes (2**62, which crashed, is in test_crashes.py)."""
    args = {"motions": [CV2D(0.1), CV2D(5.0)], "size": 2, "M": _markov(2)}
    args.update(kwargs)
    motions, size = args.pop("motions"), args.pop("size")
    with pytest.raises(exc, match=match):
        IMMBank(motions, Position2D(), size, **args)


def test_bad_configuration_raises():
    with pytest.raises(ConfigurationError, match="every row of M must sum to 1"):
        IMMBank([CV2D(), CV2D()], Position2D(), 2, M=[[0.5, 0.4], [0.5, 0.5]])
    with pytest.raises(ShapeError, match=r"M: expected shape \(2, 2\)"):
        IMMBank([CV2D(), CV2D()], Position2D(), 2, M=np.eye(3))
    with pytest.raises(ConfigurationError, match="non-negative"):
        IMMBank([CV2D(), CV2D()], Position2D(), 2, M=[[1.5, -0.5], [0.5, 0.5]])
    with pytest.raises(ConfigurationError, match="available.*CV2D \\+ CTRV \\+ Position2D"):
        IMMBank([CTRV(), CTRV()], Position2D(), 2, M=np.eye(2))
    with pytest.raises(ConfigurationError, match="at least two"):
        IMMBank([CV2D()], Position2D(), 2, M=np.eye(1))
    with pytest.raises(ShapeError, match="x: expected one entry per model"):
        IMMBank([CV2D(), CV2D()], Position2D(), 2, M=np.eye(2), x=[np.zeros(4)])
    with pytest.raises(ConfigurationError, match="on_invalid"):
        IMMBank([CV2D(), CV2D()], Position2D(), 2, M=np.eye(2), on_invalid="ignore")


def test_raw_core_class_checks_shapes_too():
    """The private _core class cannot be driven past its buffers either."""
    bank = _pair_bank(3)
    with pytest.raises(ShapeError, match="update: z"):
        bank._core.update(np.zeros((2, 2)), None, np.eye(2))
    with pytest.raises(ShapeError, match="update: R"):
        bank._core.update(np.zeros((3, 2)), None, np.eye(3))
    with pytest.raises(ConfigurationError, match="model"):
        bank._core.mode_x(5)
    with pytest.raises(ConfigurationError, match="every row of the Markov matrix"):
        type(bank._core)((CV2D(), CV2D()), Position2D(), 2, np.array([[0.9, 0.0], [0.0, 1.0]]), np.ones(2))


def test_update_failing_in_one_track_leaves_it_unchanged_and_raises_or_skips():
    """Radar: a track at the sensor's origin has an undefined range rate / azimuth Jacobian
    (status 3). 'raise' leaves every track unchanged (all or nothing) and raises naming the
    track; 'skip' leaves that track unchanged, updates the others, counts and warns."""
    for mode in ("raise", "skip"):
        bank = IMMBank([CV2D(1.0), CTRV(1.0, 0.5)], RadarPolar(), 3, M=_markov(2, 0.9), R=np.diag([0.25, 1e-4, 0.04]),
                       x=[[20.0, 5.0, 3.0, 0.0], [20.0, 5.0, 3.0, 0.0, 0.0]], on_invalid=mode)
        at_origin = np.zeros(4), np.zeros(5)
        x0 = bank.mode_x(0).copy()
        x0[1] = at_origin[0]
        x1 = bank.mode_x(1).copy()
        x1[1] = at_origin[1]
        bank.set_model_state(0, x=x0)
        bank.set_model_state(1, x=x1)
        before = _state(bank)
        z = np.array([[20.6, 0.25, 2.8], [1.0, 0.1, 0.0], [20.6, 0.25, 2.8]])
        if mode == "raise":
            with pytest.raises(NumericalError, match="undefined.*track 1"):
                bank.update(z)
        else:
            with pytest.warns(RuntimeWarning, match="1 skipped"):
                assert bank.update(z) == 2
            assert bank.skipped == 1
        assert list(bank.status) == [0, 3, 0]
        after = _state(bank)
        for a, b in zip(after[:3], before[:3]):  # x, P, mu of track 1 unchanged, others updated in 'skip'
            assert np.array_equal(a[1], b[1]) and np.array_equal(a[0], b[0]) == (mode == "raise")


def test_predict_that_overflows_leaves_tracks_unchanged_and_raises_or_skips():
    """dt = 1e300 overflows F P F^T + Q: every track keeps its state (no inf covariance
    escapes), its status is -2, and 'raise' raises naming the first track, 'skip' counts."""
    for mode in ("raise", "skip"):
        bank = IMMBank([CV2D(1.0), CTRV(1.0, 0.5)], Position2D(), 2, M=_markov(2, 0.9), R=0.25, on_invalid=mode)
        bank.predict(0.1)
        before = _state(bank)
        if mode == "raise":
            with pytest.raises(NumericalError, match=r"predict.*not finite.*track 0.*2 track"):
                bank.predict(1e300)
        else:
            with pytest.warns(RuntimeWarning, match="2 skipped"):
                bank.predict(1e300)
            assert bank.skipped == 2
        assert list(bank.status) == [-2, -2] and -2 in IMMBank.STATUS
        for i, (a, b) in enumerate(zip(_state(bank), before)):
            assert i == 3 or np.array_equal(a, b)  # everything but the status
        assert np.isfinite(bank.P).all()
        bank.predict(0.1)  # still usable
        assert_spd(bank.P[0])


# ------------------------------------------------------------------ copies
def test_copy_is_independent_and_pickling_is_refused():
    bank = _pair_bank(2)
    bank.predict(DT)
    bank.update(np.tile([3.0, -1.0], (2, 1)))
    for dup in (copy.copy(bank), copy.deepcopy(bank)):
        assert all(np.array_equal(a, b) for a, b in zip(_state(dup), _state(bank)))
        dup.predict(DT)
        assert not np.array_equal(dup.x, bank.x)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(bank)


def test_views_outlive_the_bank():
    bank = _pair_bank(2)
    x, mu, px = bank.x, bank.mu, bank.mode_P(1)
    del bank
    assert x.shape == (2, 4) and np.allclose(mu.sum(axis=1), 1.0) and px.shape == (2, 4, 4)


# ------------------------------------------------------------------ threads
def _run_threads(fn, n):
    """n threads running fn(i), started together behind a barrier; fails on any exception."""
    barrier = threading.Barrier(n)
    errors = []

    def wrap(i):
        try:
            barrier.wait()
            fn(i)
        except BaseException as e:  # noqa: BLE001 - reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def _thread_bank(n=2000):
    rng = np.random.default_rng(5)
    bank = IMMBank([CV2D(0.3), CTRV(1.0, 1.0)], Position2D(), n, M=_markov(2, 0.95), R=0.3,
                   x=[np.c_[rng.normal(0, 5, (n, 2)), np.full((n, 2), 5.0)], [0.0, 0.0, 7.0, 0.7, 0.0]])
    z = rng.normal(0.0, 5.0, (n, 2))
    return bank, z


def test_two_threads_stepping_one_bank_are_serialised():
    """Two threads each call predict 6 times, then update 6 times with the same z: identical
    calls in any order give one sequence, so atomic calls must equal the sequential run bit for
    bit (a race would tear tracks between two calls)."""
    ref, z = _thread_bank()
    bank, _ = _thread_bank()
    for _ in range(12):
        ref.predict(DT)
    for _ in range(12):
        ref.update(z)

    _run_threads(lambda i: [bank.predict(DT) for _ in range(6)], 2)
    _run_threads(lambda i: [bank.update(z) for _ in range(6)], 2)
    assert all(np.array_equal(a, b) for a, b in zip(_state(bank), _state(ref)))


def test_reader_thread_while_another_steps_sees_whole_steps_through_copies():
    """One thread steps (predict, update) 40 times; another meanwhile reads the views (allowed,
    possibly mid-step) and takes copy.copy snapshots. Every snapshot equals the state after one
    of the calls of the sequential run: never a half-stepped bank."""
    bank, z = _thread_bank(1500)
    ref = copy.copy(bank)
    states = [ref.mu.copy()]
    for _ in range(40):
        ref.predict(DT)
        states.append(ref.mu.copy())
        ref.update(z)
        states.append(ref.mu.copy())
    xs = {s.tobytes() for s in states}
    done = threading.Event()
    snaps, reads = [], []

    def work(i):
        if i == 0:
            for _ in range(40):
                bank.predict(DT)
                bank.update(z)
            done.set()
        else:
            while not done.is_set():
                reads.append(float(bank.x[:, 0].sum()) + float(bank.mu.sum()))  # the views: allowed
                snaps.append(copy.copy(bank).mu.copy())

    _run_threads(work, 2)
    assert len(snaps) > 3 and all(np.isfinite(reads))
    assert all(s.tobytes() in xs for s in snaps)
    assert np.array_equal(bank.mu, ref.mu)


def test_setters_and_copy_are_atomic():
    """A thread assigning mu = (1, 0) and (0, 1) for all tracks alternately while another
    copies never yields a copy holding both."""
    bank, _ = _thread_bank(3000)
    snaps = []

    def work(i):
        if i == 0:
            for k in range(40):
                bank.mu = [1.0, 0.0] if k % 2 else [0.0, 1.0]
        else:
            for _ in range(40):
                snaps.append(copy.copy(bank).mu[:, 0].copy())

    _run_threads(work, 2)
    assert all(np.all(s == s[0]) for s in snaps)


def test_set_model_states_refused_or_taken_is_atomic_while_another_thread_copies():
    """set_model_states (session 8) writes every model in one locked section and, when a track's
    models would lie too far apart, restores them in the same section: a thread alternating an
    accepted far move of both models with a refused move of one model only, while another
    thread copies, sees whole states only (both models at 0 or both at 1e6), never the refused one."""
    bank, _ = _thread_bank(2000)
    dims = bank.model_dims
    near = [np.zeros(n) for n in dims]
    far = [np.r_[1e6, np.zeros(n - 1)] for n in dims]
    bank.set_model_states(x=near)
    snaps, refused = [], []

    def work(i):
        if i == 0:
            for k in range(40):
                bank.set_model_states(x=far if k % 2 else near)
                try:
                    bank.set_model_state(0, x=far[0] if k % 2 == 0 else near[0])  # one model only: too far
                except NumericalError:
                    refused.append(k)
        else:
            for _ in range(60):
                c = copy.copy(bank)
                snaps.append({(float(c.mode_x(0)[t, 0]), float(c.mode_x(1)[t, 0])) for t in range(len(c))})

    _run_threads(work, 2)
    assert len(refused) == 40
    assert all(s in ({(0.0, 0.0)}, {(1e6, 1e6)}) for s in snaps)


def test_set_model_state_sets_x_and_P_in_one_atomic_step():
    """Review: set_model_state(k, x=..., P=...) took the lock twice (x, then P), so a copy taken
    by another thread could hold the new x with the old P. One thread alternates two whole
    (x, P) states of model 0; snapshots taken meanwhile always hold a matching pair."""
    bank, _ = _thread_bank(3000)
    states = [(np.full(4, 1.0), np.eye(4) * 2.0), (np.full(4, -1.0), np.eye(4) * 5.0)]
    bank.set_model_state(0, x=states[0][0], P=states[0][1])
    snaps = []

    def work(i):
        if i == 0:
            for k in range(1, 61):
                bank.set_model_state(0, x=states[k % 2][0], P=states[k % 2][1])
        else:
            for _ in range(60):
                c = copy.copy(bank)
                snaps.append(set(zip(c.mode_x(0)[:, 0].tolist(), c.mode_P(0)[:, 0, 0].tolist())))

    _run_threads(work, 2)
    assert len(snaps) == 60
    assert all(s in ({(1.0, 2.0)}, {(-1.0, 5.0)}) for s in snaps)   # whole states, never mixed


def test_set_model_state_far_from_the_other_models_is_refused_and_set_model_states_moves_them_together() -> None:
    # The mixture adds the squared spread of the models' states to their covariances; beyond
    # 1e5 standard deviations (NIS 1e10, the bound under which an update is taken) double
    # precision cannot hold it (the session-8 fuzz finding: a state set 1e66 from the other's).
    bank = IMMBank([CV2D(0.2), CTRV(0.5, 1.0)], Position2D(), 2, M=[[0.9, 0.1], [0.1, 0.9]])
    before = [bank.x.copy(), bank.P.copy(), bank.mode_x(0).copy(), bank.mode_x(1).copy()]
    x0 = np.zeros((2, 4))
    x0[1, :2] = [1e7, -1e7]
    with pytest.raises(NumericalError, match=r"set_model_state: model 0: track 1's model states would lie "
                                             r"1(\.\d+)?e\+07 standard deviations apart .*set_model_states"):
        bank.set_model_state(0, x=x0)
    for a, b in zip([bank.x, bank.P, bank.mode_x(0), bank.mode_x(1)], before):
        np.testing.assert_array_equal(a, b)
    x0[1, :2] = [1e4, -1e4]  # 7e3 standard deviations: taken
    bank.set_model_state(0, x=x0)
    assert bank.mode_x(0)[1, 0] == 1e4
    x0[1, :2] = [1e7, -1e7]
    x1 = np.zeros((2, 5))
    x1[1, :2] = [1e7, -1e7]
    bank.set_model_states(x=[x0, x1])  # both models at once: no spread
    np.testing.assert_allclose(bank.x[1, :2], [1e7, -1e7])
    assert np.all(np.linalg.eigvalsh(bank.P) > 0)
    with pytest.raises(ShapeError, match=r"set_model_states: x: expected one entry per model \(2\), but got 1"):
        bank.set_model_states(x=[x0])
    with pytest.raises(NumericalError, match=r"set_model_states: P\[1\]: not positive definite"):
        bank.set_model_states(P=[None, -np.eye(5)])
    np.testing.assert_allclose(bank.x[1, :2], [1e7, -1e7])


def test_an_update_whose_posterior_is_not_positive_definite_is_not_taken() -> None:
    # The session-8 fuzz finding: after a 2.3e11 s prediction (variances ~1e46, indefinite at
    # rounding level), R = 1.3e-309 I (a denormal) gave posteriors with variances of -1e9, and a
    # Cholesky factor that let the NaN pivots through. Such a model does not take the measurement.
    bank = IMMBank([CV2D(0.2), CV2D(5.0)], Position2D(), 1, M=[[0.9, 0.1], [0.1, 0.9]])
    bank.predict(2.3e11)
    modes = [bank.mode_P(k).copy() for k in range(2)]
    bank.update(np.array([[60.0, 60.0]]), R=np.eye(2) * 1.3e-309)
    assert bank.status[0] == 5 and np.all(bank.log_likelihood == -np.inf)
    for k in range(2):
        np.testing.assert_array_equal(bank.mode_P(k), modes[k])
        assert np.all(np.diagonal(bank.mode_P(k), axis1=1, axis2=2) > 0)
    fresh = IMMBank([CV2D(0.2), CV2D(5.0)], Position2D(), 1, M=[[0.9, 0.1], [0.1, 0.9]])
    fresh.update(np.array([[0.5, 0.5]]), R=np.eye(2) * 1e-12)  # a tiny, normal R on a sane prior: taken
    assert fresh.status[0] == 0 and np.all(np.isfinite(fresh.log_likelihood))


@pytest.mark.parametrize("given", [np.array(1.0), np.array(np.eye(4))[0, 0]], ids=["0-d array", "numpy scalar"])
def test_set_model_states_refuses_a_0d_array_with_a_shape_error(given: object) -> None:
    # len() of a 0-d array raises TypeError: it must be refused as "one entry per model" first.
    bank = IMMBank([CV2D(0.2), CTRV(0.5, 1.0)], Position2D(), 2, M=[[0.9, 0.1], [0.1, 0.9]])
    before = [bank.x.copy(), bank.P.copy(), bank.mode_x(0).copy(), bank.mode_P(1).copy()]
    for kw in ("x", "P"):
        with pytest.raises(ShapeError, match=rf"^set_model_states: {kw}: expected one entry per model \(2\), got "):
            bank.set_model_states(**{kw: given})
        with pytest.raises(ShapeError, match=rf"^IMMBank: {kw}: expected one entry per model \(2\), got "):
            IMMBank([CV2D(0.2), CTRV(0.5, 1.0)], Position2D(), 2, M=[[0.9, 0.1], [0.1, 0.9]], **{kw: given})
    for a, b in zip([bank.x, bank.P, bank.mode_x(0), bank.mode_P(1)], before):
        np.testing.assert_array_equal(a, b)
