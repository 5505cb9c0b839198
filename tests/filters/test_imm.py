"""IMMEstimator: parity with filterpy's for equal-size models; mixed-size models (CV + CA with
linear state maps, CV + CTRV with the nonlinear maps) on a manoeuvring target."""

from __future__ import annotations

import math

import numpy as np
import pytest
from filterpy.kalman import IMMEstimator as FpIMM
from filterpy.kalman import KalmanFilter as FpKalmanFilter

from fusion.errors import ConfigurationError
from fusion.filters import (
    CTRVToCV,
    CVToCTRV,
    ExtendedKalmanFilter,
    IMMEstimator,
    KalmanFilter,
    LinearStateMap,
)
from fusion.models import CA2D, CTRV, CV2D

from _fhelpers import assert_close, assert_spd

DT = 0.1


def _cv_filter(cls, sigma_a, x0, R=1.0):
    m = CV2D(sigma_a=sigma_a)
    kf = cls(dim_x=4, dim_z=2)
    kf.F = m.jacobian(np.zeros(4), DT)
    kf.Q = m.Q(np.zeros(4), DT)
    kf.H = np.eye(2, 4)
    kf.R = np.eye(2) * R
    kf.x = np.asarray(x0, dtype=float).reshape(4, 1)
    kf.P = np.diag([4.0, 4.0, 9.0, 9.0])
    return kf


def _ca_filter(sigma_j, x0, R=1.0):
    m = CA2D(sigma_j=sigma_j)
    kf = KalmanFilter(dim_x=6, dim_z=2)
    kf.F = m.jacobian(np.zeros(6), DT)
    kf.Q = m.Q(np.zeros(6), DT)
    kf.H = np.eye(2, 6)
    kf.R = np.eye(2) * R
    kf.x = np.asarray(x0, dtype=float).reshape(6, 1)
    kf.P = np.diag([4.0, 4.0, 9.0, 9.0, 4.0, 4.0])
    return kf


class _CtrvEKF(ExtendedKalmanFilter):
    """CTRV EKF with a position sensor, with the one-argument update(z) the IMM calls."""

    H = np.eye(2, 5)

    def __init__(self, motion, x0, R=1.0):
        super().__init__(5, 2)
        self.motion = motion
        self.x = np.asarray(x0, dtype=float).reshape(5, 1)
        self.P = np.diag([4.0, 4.0, 9.0, 0.5, 0.1])
        self.R = np.eye(2) * R

    def predict_x(self, u=0):
        x = self.x.ravel()
        self.F = self.motion.jacobian(x, DT)
        self.Q = self.motion.Q(x, DT)
        self.x = self.motion.f(x, DT).reshape(5, 1)

    def update(self, z):
        super().update(np.reshape(z, (2, 1)), lambda x: self.H, lambda x: self.H @ x)


# ------------------------------------------------------------------ parity with filterpy
def _cv_truth(rng, steps):
    x = np.array([0.0, 0.0, 8.0, 1.0])
    zs = []
    for k in range(steps):
        a = np.array([0.0, 0.0]) if k < steps // 2 else np.array([2.0, -3.0])
        x = x + np.r_[x[2:] * DT + 0.5 * a * DT**2, a * DT]
        zs.append(x[:2] + rng.normal(0, 1.0, 2))
    return zs


@pytest.mark.parametrize("sigmas", [(0.1, 5.0), (0.05, 1.0, 10.0)])
def test_equal_size_parity_with_filterpy(sigmas):
    rng = np.random.default_rng(len(sigmas))
    zs = _cv_truth(rng, 60)
    x0 = [0.5, -0.5, 7.0, 0.0]
    n = len(sigmas)
    M = np.full((n, n), 0.03 / (n - 1)) + np.eye(n) * (0.97 - 0.03 / (n - 1))
    mu = np.full(n, 1.0 / n)
    ours = IMMEstimator([_cv_filter(KalmanFilter, s, x0) for s in sigmas], mu, M)
    ref = FpIMM([_cv_filter(FpKalmanFilter, s, x0) for s in sigmas], mu, M)
    assert_close(ours.x, ref.x, what="initial x")
    for k, z in enumerate(zs):
        ours.predict()
        ref.predict()
        assert_close(ours.x, ref.x, what=f"{k}: prior x")
        assert_close(ours.P, ref.P, what=f"{k}: prior P")
        assert_close(ours.x_prior, ref.x_prior, what=f"{k}: x_prior")
        ours.update(z)
        ref.update(z)
        assert_close(ours.x, ref.x, what=f"{k}: x")
        assert_close(ours.P, ref.P, what=f"{k}: P")
        assert_close(ours.mu, ref.mu, what=f"{k}: mu")
        assert_close(ours.cbar, ref.cbar, what=f"{k}: cbar")
        assert_close(ours.omega, ref.omega, what=f"{k}: omega")
        assert_close(ours.likelihood, ref.likelihood, what=f"{k}: likelihood")
        for a, b in zip(ours.filters, ref.filters):
            assert_close(a.x, b.x, what=f"{k}: filter x")
            assert_close(a.P, b.P, what=f"{k}: filter P")
    # the manoeuvre half should have moved probability to the high-noise model
    assert ours.mu[-1] > 0.5


# ------------------------------------------------------------------ mixed sizes
def _manoeuvre_truth(rng, kind, straight=40, manoeuvre=40, sigma_z=0.5):
    """Straight at 10 m/s along x, then a 0.5 rad/s turn ("turn") or a 4 m/s^2 lateral
    acceleration ("accel"). Returns true positions, measurements and the manoeuvre flags."""
    x, y, v, yaw = 0.0, 0.0, 10.0, 0.0
    vx, vy = 10.0, 0.0
    pos, zs, flags = [], [], []
    for k in range(straight + manoeuvre):
        on = k >= straight
        if kind == "turn":
            w = 0.5 if on else 0.0
            if w:
                x += v / w * (math.sin(yaw + w * DT) - math.sin(yaw))
                y += v / w * (math.cos(yaw) - math.cos(yaw + w * DT))
            else:
                x += v * math.cos(yaw) * DT
                y += v * math.sin(yaw) * DT
            yaw += w * DT
        else:
            ay = 4.0 if on else 0.0
            x += vx * DT
            y += vy * DT + 0.5 * ay * DT**2
            vy += ay * DT
        pos.append((x, y))
        zs.append(np.array([x, y]) + rng.normal(0, sigma_z, 2))
        flags.append(on)
    return np.array(pos), zs, np.array(flags)


def _run(estimator, zs):
    xs, mus = [], []
    for z in zs:
        estimator.predict()
        estimator.update(z)
        xs.append(np.ravel(estimator.x)[:2].copy())
        if hasattr(estimator, "mu"):
            mus.append(estimator.mu.copy())
            assert_spd(estimator.P, "IMM P")
            for f in estimator.filters:
                assert_spd(f.P, "mode P")
    return np.array(xs), np.array(mus)


def _rmse(est, truth, flags):
    d = est - truth
    return math.sqrt(np.mean(np.sum(d[flags] ** 2, axis=1)))


def test_cv_plus_ca_with_linear_state_maps():
    rng = np.random.default_rng(10)
    truth, zs, flags = _manoeuvre_truth(rng, "accel")
    x0cv = [0.0, 0.0, 10.0, 0.0]
    imm = IMMEstimator(
        [_cv_filter(KalmanFilter, 0.2, x0cv, R=0.25), _ca_filter(2.0, x0cv + [0.0, 0.0], R=0.25)],
        mu=[0.9, 0.1],
        M=[[0.95, 0.05], [0.05, 0.95]],
        state_maps={(0, 1): LinearStateMap(np.eye(6, 4)), (1, 0): LinearStateMap(np.eye(4, 6))},
    )
    assert np.ravel(imm.x).shape == (6,)  # output in the larger (CA) state
    est, mus = _run(imm, zs)
    cv_only, _ = _run(_cv_filter(KalmanFilter, 0.2, x0cv, R=0.25), zs)
    mu_ca_straight = mus[10:40, 1].mean()
    mu_ca_manoeuvre = mus[50:, 1].mean()
    assert mu_ca_manoeuvre > mu_ca_straight + 0.3, (mu_ca_straight, mu_ca_manoeuvre)
    rmse_imm, rmse_cv = _rmse(est, truth, flags), _rmse(cv_only, truth, flags)
    assert rmse_imm < 0.8 * rmse_cv, (rmse_imm, rmse_cv)


def test_cv_plus_ctrv_with_nonlinear_state_maps():
    rng = np.random.default_rng(11)
    truth, zs, flags = _manoeuvre_truth(rng, "turn")
    x0cv = [0.0, 0.0, 10.0, 0.0]
    imm = IMMEstimator(
        [_cv_filter(KalmanFilter, 0.2, x0cv, R=0.25),
         _CtrvEKF(CTRV(sigma_a=0.5, sigma_yawdd=1.0), [0.0, 0.0, 10.0, 0.0, 0.0], R=0.25)],
        mu=[0.9, 0.1],
        M=[[0.95, 0.05], [0.05, 0.95]],
        state_maps={(0, 1): CVToCTRV(), (1, 0): CTRVToCV()},
    )
    est, mus = _run(imm, zs)
    cv_only, _ = _run(_cv_filter(KalmanFilter, 0.2, x0cv, R=0.25), zs)
    mu_ctrv_straight = mus[10:40, 1].mean()
    mu_ctrv_turn = mus[50:, 1].mean()
    assert mu_ctrv_turn > mu_ctrv_straight + 0.3, (mu_ctrv_straight, mu_ctrv_turn)
    rmse_imm, rmse_cv = _rmse(est, truth, flags), _rmse(cv_only, truth, flags)
    assert rmse_imm < 0.8 * rmse_cv, (rmse_imm, rmse_cv)
    # the combined heading follows the turn (0.5 rad/s for 4 s = 2 rad)
    assert abs(np.ravel(imm.x)[3] - 2.0) < 0.35


def test_state_maps_round_trip_and_jacobians():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    P = np.diag([1.0, 2.0, 0.3, 0.4])
    xt, Pt = np.zeros(5), np.eye(5) * 7.0
    xm, Pm = CVToCTRV().apply(x, P, xt, Pt)
    assert xm[2] == pytest.approx(5.0) and xm[3] == pytest.approx(math.atan2(4.0, 3.0))
    assert xm[4] == 0.0 and Pm[4, 4] == 7.0 and np.all(Pm[4, :4] == 0.0)
    back, Pb = CTRVToCV().apply(xm, Pm, np.zeros(4), np.eye(4))
    assert_close(back, x, rtol=1e-12)
    # linearised covariance: the round trip of the velocity block is exact to first order
    assert_close(Pb, P, rtol=1e-12)
    # below min_speed the heading is taken from the target
    xm, Pm = CVToCTRV(min_speed=1.0).apply(np.array([0, 0, 0.1, 0.0]), P, np.array([0, 0, 0, 0.7, 0]), Pt)
    assert xm[3] == 0.7 and Pm[3, 3] == 7.0


def test_missing_state_map_for_different_sizes_raises():
    with pytest.raises(ConfigurationError, match=r"state_maps\[\(0, 1\)\]"):
        IMMEstimator([_cv_filter(KalmanFilter, 1.0, np.zeros(4)), _ca_filter(1.0, np.zeros(6))], [0.5, 0.5],
                     np.full((2, 2), 0.5))
    with pytest.raises(ConfigurationError):  # only one direction given
        IMMEstimator([_cv_filter(KalmanFilter, 1.0, np.zeros(4)), _ca_filter(1.0, np.zeros(6))], [0.5, 0.5],
                     np.full((2, 2), 0.5), state_maps={(0, 1): LinearStateMap(np.eye(6, 4))})
    with pytest.raises(ConfigurationError):  # rows of M must sum to 1
        IMMEstimator([_cv_filter(KalmanFilter, 1.0, np.zeros(4))] * 2, [0.5, 0.5], [[0.5, 0.4], [0.5, 0.5]])


def test_mixing_headings_across_pi_is_circular():
    ctrv = _CtrvEKF(CTRV(), [0.0, 0.0, 10.0, math.pi - 0.01, 0.0])
    cv = _cv_filter(KalmanFilter, 1.0, [0.0, 0.0, -10.0, -0.1])  # heading -pi + 0.01
    imm = IMMEstimator([cv, ctrv], mu=[0.5, 0.5], M=[[0.9, 0.1], [0.1, 0.9]],
                       state_maps={(0, 1): CVToCTRV(), (1, 0): CTRVToCV()})
    assert abs(abs(np.ravel(imm.x)[3]) - math.pi) < 0.05  # combined heading stays near +-pi


# ------------------------------------------------------------------ filterpy surface details
def _pair_imm(mu):
    sigmas = (0.1, 5.0)
    M = np.array([[0.97, 0.03], [0.03, 0.97]])
    x0 = [0.5, -0.5, 7.0, 0.0]
    ours = IMMEstimator([_cv_filter(KalmanFilter, s, x0) for s in sigmas], mu, M)
    ref = FpIMM([_cv_filter(FpKalmanFilter, s, x0) for s in sigmas], mu, M)
    return ours, ref


def test_mu_is_normalised_like_filterpy():
    ours, ref = _pair_imm((2.0, 1.0))
    assert_close(ours.mu, ref.mu, what="mu")
    assert_close(ours.mu, [2.0 / 3.0, 1.0 / 3.0])
    zs = _cv_truth(np.random.default_rng(3), 20)
    for k, z in enumerate(zs):
        for f in (ours, ref):
            f.predict()
            f.update(z)
        assert_close(ours.mu, ref.mu, what=f"{k}: mu")
        assert_close(ours.x, ref.x, what=f"{k}: x")
    for bad in ([-0.5, 1.5], [0.0, 0.0], [np.nan, 1.0]):
        with pytest.raises(ConfigurationError, match="mu must be non-negative"):
            IMMEstimator([_cv_filter(KalmanFilter, 1.0, np.zeros(4))] * 2, bad, np.eye(2))


def test_value_semantics_history_of_references():
    """history.append(imm.x) records each step (filterpy fills x, P, likelihood and omega in
    place, so its history would hold one array many times); Saver records differing values."""
    from filterpy.common import Saver

    ours, _ = _pair_imm((0.5, 0.5))
    names = ("x", "P", "mu", "cbar", "likelihood", "omega", "x_prior", "P_prior", "x_post", "P_post")
    kept, snaps = [], []
    s = Saver(ours)
    for z in _cv_truth(np.random.default_rng(4), 40):
        ours.predict()
        ours.update(z)
        kept.append({n: getattr(ours, n) for n in names})
        snaps.append({n: np.array(getattr(ours, n), dtype=float) for n in names})
        s.save()
    for k, (refs, snap) in enumerate(zip(kept, snaps)):
        for n in names:
            np.testing.assert_array_equal(refs[n], snap[n], err_msg=f"step {k}: {n} changed later")
    hist = np.array([r["x"] for r in kept])
    assert len({tuple(np.round(h.ravel(), 9)) for h in hist}) == len(hist)
    s.to_array()
    assert len({float(m[1]) for m in s.mu}) > 30
    np.testing.assert_array_equal(s.x[-1], ours.x)


def test_likelihood_floor_matches_filterpy_for_an_outlier():
    ours, ref = _pair_imm((0.5, 0.5))
    for f in (ours, ref):
        f.predict()
        f.update(np.array([1e6, -1e6]))  # both modes' likelihoods underflow
    assert_close(ours.likelihood, ref.likelihood)
    assert np.all(ours.likelihood == np.finfo(float).tiny)
    # fusion's mode probabilities come from the log-likelihoods: the high-noise mode wins
    assert ours.mu[1] > 0.99 and np.isfinite(ours.mu).all()
