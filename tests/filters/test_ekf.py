"""fusion.filters.ExtendedKalmanFilter against filterpy.kalman.ExtendedKalmanFilter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from filterpy.kalman import ExtendedKalmanFilter as FpEKF

from _fhelpers import assert_close, wrap
from fusion.errors import NumericalError, ShapeError
from fusion.filters import ExtendedKalmanFilter

DT = 0.05


# --- the radar-range example (Labbe, Kalman and Bayesian Filters in Python, ch. 11):
# state (downrange position, velocity, altitude), slant range measured from the origin.
def range_jacobian(x):
    horiz, alt = x[0, 0], x[2, 0]
    r = math.hypot(horiz, alt)
    return np.array([[horiz / r, 0.0, alt / r]])


def range_hx(x):
    return np.array([[math.hypot(x[0, 0], x[2, 0])]])


def test_radar_range_parity_with_filterpy():
    rng = np.random.default_rng(0)
    F = np.eye(3) + np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0]]) * DT
    Q = np.zeros((3, 3))
    q = np.array([[DT**4 / 4, DT**3 / 2], [DT**3 / 2, DT**2]]) * 0.1
    Q[0:2, 0:2] = q
    Q[2, 2] = 0.1 * DT
    ours, ref = ExtendedKalmanFilter(3, 1), FpEKF(3, 1)
    for f in (ours, ref):
        f.x = np.array([[-10.0, 90.0, 1100.0]]).T
        f.F = F.copy()
        f.Q = Q.copy()
        f.R = np.eye(1) * 25.0
        f.P = np.diag([50.0, 10.0, 50.0]) ** 2
    pos, vel, alt = 0.0, 100.0, 1000.0
    for k in range(80):
        pos += vel * DT
        alt += rng.normal(0, 0.5)
        z = np.array([[math.hypot(pos, alt) + rng.normal(0, 5.0)]])
        ours.predict()
        ref.predict()
        assert_close(ours.x, ref.x, what=f"{k}: prior x")
        assert_close(ours.P, ref.P, what=f"{k}: prior P")
        assert_close(ours.x_prior, ref.x_prior, what=f"{k}: x_prior")
        assert_close(ours.P_prior, ref.P_prior, what=f"{k}: P_prior")
        ours.update(z, range_jacobian, range_hx)
        ref.update(z, range_jacobian, range_hx)
        assert_close(ours.x, ref.x, what=f"{k}: x")
        assert_close(ours.P, ref.P, what=f"{k}: P")
        assert_close(ours.y, ref.y, what=f"{k}: y")
        assert_close(ours.S, ref.S, what=f"{k}: S")
        assert_close(ours.K, ref.K, what=f"{k}: K")
        assert ours.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-9)
        assert ours.likelihood == pytest.approx(ref.likelihood, rel=1e-9)
        assert ours.mahalanobis == pytest.approx(ref.mahalanobis, rel=1e-9)
    # the filter tracked the target (sanity: the parity above is not parity of two broken filters)
    assert abs(ours.x[0, 0] - pos) < 50.0 and abs(ours.x[1, 0] - vel) < 20.0


# --- 2D range/bearing with angle-wrapping residual, bearing crossing +-pi, control input.
def rb_hx(x):
    return np.array([[math.hypot(x[0, 0], x[2, 0])], [math.atan2(x[2, 0], x[0, 0])]])


def rb_jacobian(x):
    px, py = x[0, 0], x[2, 0]
    r2 = px * px + py * py
    r = math.sqrt(r2)
    return np.array([[px / r, 0.0, py / r, 0.0], [-py / r2, 0.0, px / r2, 0.0]])


def rb_residual(a, b):
    y = np.asarray(a, dtype=float) - b
    y[1] = wrap(y[1])
    return y


def test_range_bearing_with_wrapping_residual_and_control():
    rng = np.random.default_rng(1)
    F = np.array([[1, DT, 0, 0], [0, 1, 0, 0], [0, 0, 1, DT], [0, 0, 0, 1]], dtype=float)
    B = np.array([[0.5 * DT**2, 0], [DT, 0], [0, 0.5 * DT**2], [0, DT]])
    ours, ref = ExtendedKalmanFilter(4, 2, 2), FpEKF(4, 2, 2)
    for f in (ours, ref):
        f.x = np.array([[-40.0, 0.0, -3.0, 2.0]]).T
        f.F = F.copy()
        f.B = B.copy()
        f.Q = np.diag([1e-3, 1e-2, 1e-3, 1e-2])
        f.R = np.diag([0.5**2, 0.01**2])
        f.P = np.diag([4.0, 1.0, 4.0, 1.0])
    truth = np.array([-40.0, 0.0, -3.0, 2.0])
    crossed = False
    for k in range(100):
        u = np.array([[0.1 * math.sin(0.1 * k)], [0.05]])
        truth = F @ truth + (B @ u).ravel()
        z = np.array([[math.hypot(truth[0], truth[2]) + rng.normal(0, 0.5)],
                      [float(wrap(math.atan2(truth[2], truth[0]) + rng.normal(0, 0.01)))]])
        crossed |= truth[2] > 0
        ours.predict(u)
        ref.predict(u)
        ours.update(z, rb_jacobian, rb_hx, residual=rb_residual)
        ref.update(z, rb_jacobian, rb_hx, residual=rb_residual)
        assert_close(ours.x, ref.x, what=f"{k}: x")
        assert_close(ours.P, ref.P, what=f"{k}: P")
        assert_close(ours.y, ref.y, what=f"{k}: y")
        assert_close(ours.K, ref.K, what=f"{k}: K")
        assert ours.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-9)
    assert crossed, "the target never crossed the +-pi bearing cut"
    assert np.hypot(ours.x[0, 0] - truth[0], ours.x[2, 0] - truth[2]) < 2.0


def test_update_none_and_errors():
    ekf = ExtendedKalmanFilter(3, 1)
    ekf.x = np.array([[1.0, 2.0, 1000.0]]).T
    ekf.update(None, range_jacobian, range_hx)
    np.testing.assert_array_equal(ekf.x_post, ekf.x)
    x0, P0 = ekf.x.copy(), ekf.P.copy()
    with pytest.raises(NumericalError):
        ekf.update(np.array([[np.nan]]), range_jacobian, range_hx)
    np.testing.assert_array_equal(ekf.x, x0)
    np.testing.assert_array_equal(ekf.P, P0)
    with pytest.raises(NumericalError):
        ekf.update(np.array([[1000.0]]), range_jacobian, range_hx, R=-1e9)
    np.testing.assert_array_equal(ekf.x, x0)
    with pytest.raises(ShapeError, match="HJacobian"):
        ekf.update(np.array([[1000.0]]), lambda x: np.zeros((1, 2)), range_hx)
