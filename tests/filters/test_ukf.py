"""UnscentedKalmanFilter / MerweScaledSigmaPoints against filterpy, and the C++
UnscentedKalmanFilterBank / ExtendedKalmanFilterBank (CTRV + RadarPolar) against filterpy
running independent Python re-implementations of the same models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from filterpy.kalman import ExtendedKalmanFilter as FpEKF
from filterpy.kalman import MerweScaledSigmaPoints as FpPoints
from filterpy.kalman import UnscentedKalmanFilter as FpUKF
from filterpy.kalman import unscented_transform as fp_unscented_transform

from _fhelpers import (
    assert_close,
    circular_mean_fn,
    ctrv_f,
    ctrv_Q,
    radar_h,
    random_spd,
    simulate_ctrv_truth,
    wrap_angle,
    wrapped_residual_fn,
)
from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.filters import (
    ExtendedKalmanFilterBank,
    MerweScaledSigmaPoints,
    UnscentedKalmanFilter,
    UnscentedKalmanFilterBank,
)
from fusion.models import CTRV, RadarPolar

DT = 0.1


# ------------------------------------------------------------------ sigma points and weights
@pytest.mark.parametrize("n,alpha,beta,kappa", [(1, 0.1, 2.0, 0.0), (4, 1e-3, 2.0, 0.0), (5, 0.5, 2.0, -2.0), (7, 1.0, 0.0, 3.0)])
def test_weights_equal_filterpy_exactly(n, alpha, beta, kappa):
    ours, ref = MerweScaledSigmaPoints(n, alpha, beta, kappa), FpPoints(n, alpha, beta, kappa)
    np.testing.assert_array_equal(ours.Wm, ref.Wm)
    np.testing.assert_array_equal(ours.Wc, ref.Wc)
    assert ours.num_sigmas() == ref.num_sigmas() == 2 * n + 1
    assert ours.Wm.sum() == pytest.approx(1.0, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("n", [1, 3, 5, 8])
def test_sigma_points_equal_filterpy(n):
    rng = np.random.default_rng(n)
    x, P = rng.standard_normal(n), random_spd(rng, n, 2.0)
    # same square root: bit-identical
    ours = MerweScaledSigmaPoints(n, 0.3, 2.0, 0.5, sqrt_method=scipy.linalg.cholesky)
    ref = FpPoints(n, 0.3, 2.0, 0.5)
    np.testing.assert_array_equal(ours.sigma_points(x, P), ref.sigma_points(x, P))
    # default square root (numpy's Cholesky, transposed): equal to rounding
    ours_default = MerweScaledSigmaPoints(n, 0.3, 2.0, 0.5)
    assert_close(ours_default.sigma_points(x, P), ref.sigma_points(x, P), rtol=1e-13)


def test_sigma_points_reject_bad_input():
    with pytest.raises(ConfigurationError):
        MerweScaledSigmaPoints(3, 0.0, 2.0)
    pts = MerweScaledSigmaPoints(2, 0.5, 2.0)
    with pytest.raises(NumericalError):
        pts.sigma_points(np.zeros(2), -np.eye(2))


# ------------------------------------------------------------------ Python UKF vs filterpy
RADAR_XY, RADAR_YAW = (1.5, -0.5), 0.3
X0 = np.array([-30.0, -14.0, 5.0, math.pi / 2, 0.4])  # turns left: yaw crosses +pi, azimuth crosses -pi
R_RADAR = np.diag([0.3**2, 0.01**2, 0.2**2])
SIGMA_A, SIGMA_YAWDD = 0.5, 0.2


def _hx(x):
    return radar_h(x, RADAR_XY, RADAR_YAW)


def _state_add(x, dx):
    out = np.asarray(x, dtype=float) + dx
    out[3] = wrap_angle(float(out[3]))
    return out


def _subtract_x(a, b):  # sigma point construction: x - (-U_k) etc., yaw wrapped as in the C++
    d = np.asarray(a, dtype=float) - b
    d[3] = wrap_angle(float(d[3]))
    return d


def _measurements(rng, steps=60):
    truth = simulate_ctrv_truth(X0, DT, steps)
    zs = []
    for x in truth:
        z = _hx(x) + rng.multivariate_normal(np.zeros(3), R_RADAR)
        z[1] = wrap_angle(float(z[1]))
        zs.append(z)
    return truth, zs


def _q_ut(sigmas, Wm, Wc, noise_cov, mean_fn=None, residual_fn=None):
    """filterpy's unscented transform with the CTRV Q evaluated at the predicted mean, as the C++."""
    x, P = fp_unscented_transform(sigmas, Wm, Wc, None, mean_fn, residual_fn)
    return x, P + ctrv_Q(x, DT, SIGMA_A, SIGMA_YAWDD)


def _make_ukf(cls, points_cls, alpha, beta, kappa, x0, P0):
    pts = points_cls(5, alpha, beta, kappa, subtract=_subtract_x)
    ukf = cls(dim_x=5, dim_z=3, dt=DT, hx=_hx, fx=ctrv_f, points=pts,
              x_mean_fn=circular_mean_fn(3), z_mean_fn=circular_mean_fn(1),
              residual_x=wrapped_residual_fn(3), residual_z=wrapped_residual_fn(1), state_add=_state_add)
    ukf.x = np.array(x0, dtype=float)
    ukf.P = np.array(P0, dtype=float)
    ukf.R = R_RADAR.copy()
    return ukf


P0 = np.diag([1.0, 1.0, 1.0, 0.05, 0.02])


def test_python_ukf_matches_filterpy_on_ctrv_radar():
    rng = np.random.default_rng(2)
    truth, zs = _measurements(rng)
    ours = _make_ukf(UnscentedKalmanFilter, MerweScaledSigmaPoints, 0.5, 2.0, 0.0, X0 + [0.5, -0.5, 0.3, 0.05, 0.0], P0)
    ref = _make_ukf(FpUKF, FpPoints, 0.5, 2.0, 0.0, X0 + [0.5, -0.5, 0.3, 0.05, 0.0], P0)
    for k, z in enumerate(zs):
        ours.predict(UT=_q_ut)
        ref.predict(UT=_q_ut)
        assert_close(ours.x, ref.x, what=f"{k}: prior x")
        assert_close(ours.P, ref.P, what=f"{k}: prior P")
        assert_close(ours.sigmas_f, ref.sigmas_f, what=f"{k}: sigmas_f")
        ours.update(z)
        ref.update(z)
        assert_close(ours.x, ref.x, what=f"{k}: x")
        assert_close(ours.P, ref.P, what=f"{k}: P")
        assert_close(ours.y, ref.y, what=f"{k}: y")
        assert_close(ours.S, ref.S, what=f"{k}: S")
        assert_close(ours.K, ref.K, what=f"{k}: K")
        assert ours.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-9)
        assert ours.mahalanobis == pytest.approx(ref.mahalanobis, rel=1e-9)
    assert np.hypot(*(ours.x[:2] - truth[-1][:2])) < 1.5


# ------------------------------------------------------------------ C++ banks vs filterpy
@pytest.mark.parametrize("alpha,beta,kappa", [(0.5, 2.0, 0.0), (1.0, 2.0, -2.0), (1e-3, 2.0, 0.0)])
def test_ukf_bank_matches_filterpy_running_python_ctrv_radar(alpha, beta, kappa):
    rng = np.random.default_rng(3)
    truth, zs = _measurements(rng, steps=60)
    offsets = np.array([[0.5, -0.5, 0.3, 0.05, 0.0], [-1.0, 0.8, -0.5, -0.1, 0.05], [0.0, 0.0, 0.0, 0.0, -0.1]])
    N = len(offsets)
    bank = UnscentedKalmanFilterBank(CTRV(sigma_a=SIGMA_A, sigma_yawdd=SIGMA_YAWDD), RadarPolar(*RADAR_XY, RADAR_YAW),
                                     size=N, alpha=alpha, beta=beta, kappa=kappa, x=X0 + offsets, P=P0, R=R_RADAR)
    refs = [_make_ukf(FpUKF, FpPoints, alpha, beta, kappa, X0 + o, P0) for o in offsets]
    # with alpha = 1e-3 the central weight is ~ -1e6: the means cancel ~6 digits, so the
    # comparison is looser there (still far below any modelling effect)
    rtol = 1e-9 if alpha >= 0.1 else 1e-6
    for k, z in enumerate(zs):
        bank.predict(DT)
        for ref in refs:
            ref.predict(UT=_q_ut)
        for i, ref in enumerate(refs):
            assert_close(bank.x[i], ref.x, rtol=rtol, what=f"{k}: prior x[{i}]")
            assert_close(bank.P[i], ref.P, rtol=rtol, what=f"{k}: prior P[{i}]")
        bank.update(np.tile(z, (N, 1)))
        for ref in refs:
            ref.update(z)
        for i, ref in enumerate(refs):
            assert_close(bank.x[i], ref.x, rtol=rtol, what=f"{k}: x[{i}]")
            assert_close(bank.P[i], ref.P, rtol=rtol, what=f"{k}: P[{i}]")
            assert bank.nis[i] == pytest.approx(ref.mahalanobis**2, rel=100 * rtol)
            assert bank.log_likelihood[i] == pytest.approx(ref.log_likelihood, rel=100 * rtol)
    np.testing.assert_array_equal(bank.status, 0)
    assert np.all(np.hypot(*(bank.x[:, :2] - truth[-1][:2]).T) < 1.5)


class _CtrvEKF(FpEKF):
    """filterpy's EKF with the Python CTRV f and Q, and F from the bound analytic Jacobian."""

    def __init__(self, motion):
        super().__init__(5, 3)
        self.motion = motion

    def predict_x(self, u=0):
        x = self.x.ravel()
        self.F = self.motion.jacobian(x, DT)
        self.Q = ctrv_Q(x, DT, SIGMA_A, SIGMA_YAWDD)
        self.x = ctrv_f(x, DT).reshape(5, 1)


def test_ekf_bank_matches_filterpy_ekf_on_ctrv_radar():
    rng = np.random.default_rng(4)
    truth, zs = _measurements(rng, steps=60)
    motion, radar = CTRV(sigma_a=SIGMA_A, sigma_yawdd=SIGMA_YAWDD), RadarPolar(*RADAR_XY, RADAR_YAW)

    def HJacobian(x):
        kin, J = motion.kinematics(x.ravel())
        return radar.h(kin)[1] @ J

    def Hx(x):
        return _hx(x).reshape(3, 1)

    residual = wrapped_residual_fn(1)
    offsets = np.array([[0.5, -0.5, 0.3, 0.05, 0.0], [-1.0, 0.8, -0.5, -0.1, 0.05]])
    bank = ExtendedKalmanFilterBank(motion, radar, size=2, x=X0 + offsets, P=P0, R=R_RADAR)
    refs = []
    for o in offsets:
        ekf = _CtrvEKF(motion)
        ekf.x = (X0 + o).reshape(5, 1)
        ekf.P = P0.copy()
        ekf.R = R_RADAR.copy()
        refs.append(ekf)
    for k, z in enumerate(zs):
        bank.predict(DT)
        for i, ref in enumerate(refs):
            ref.predict()
            assert_close(bank.x[i], ref.x.ravel(), what=f"{k}: prior x[{i}]")
            assert_close(bank.P[i], ref.P, what=f"{k}: prior P[{i}]")
        bank.update(np.tile(z, (2, 1)))
        for i, ref in enumerate(refs):
            ref.update(z.reshape(3, 1), HJacobian, Hx, residual=residual)
            ref.x[3, 0] = wrap_angle(ref.x[3, 0])  # the C++ wraps yaw after the update
            assert_close(bank.x[i], ref.x.ravel(), what=f"{k}: x[{i}]")
            assert_close(bank.P[i], ref.P, what=f"{k}: P[{i}]")
            assert bank.log_likelihood[i] == pytest.approx(ref.log_likelihood, rel=1e-9)
            assert bank.nis[i] == pytest.approx(ref.mahalanobis**2, rel=1e-9)
    assert np.all(np.hypot(*(bank.x[:, :2] - truth[-1][:2]).T) < 1.5)


def test_column_measurement_is_accepted():
    pts = MerweScaledSigmaPoints(2, 0.5, 2.0, 0.0)
    ukf = UnscentedKalmanFilter(2, 1, 0.1, hx=lambda x: x[:1], fx=lambda x, dt: x, points=pts)
    ukf.predict()
    ukf.update(np.array([[0.5]]))  # (dim_z, 1), as filterpy users often pass
    assert ukf.x.shape == (2,) and np.all(np.isfinite(ukf.x))
    with pytest.raises(ShapeError, match=r"z: expected shape \(1,\)"):
        ukf.update(np.array([0.5, 0.1]))
