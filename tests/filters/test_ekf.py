"""fusion.filters.ExtendedKalmanFilter against filterpy.kalman.ExtendedKalmanFilter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from filterpy.kalman import ExtendedKalmanFilter as FpEKF

from fusion.errors import NumericalError, ShapeError
from fusion.filters import ExtendedKalmanFilter

from _fhelpers import assert_close, wrap

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


# --- scalar noise as filterpy: a stored scalar R is added to every element of S and enters the
# Joseph term as r K K^T; a scalar R argument means r I; a scalar Q is added to every element.
def _two_sensor_pair(R, Q):
    F = np.array([[1, DT, 0, 0], [0, 1, 0, 0], [0, 0, 1, DT], [0, 0, 0, 1]], dtype=float)
    ours, ref = ExtendedKalmanFilter(4, 2), FpEKF(4, 2)
    for f in (ours, ref):
        f.x = np.array([[-40.0, 1.0, -3.0, 2.0]]).T
        f.F = F.copy()
        f.Q = Q
        f.R = R
        f.P = np.diag([4.0, 1.0, 4.0, 1.0])
    return ours, ref


@pytest.mark.parametrize("R,Q,R_arg", [
    (0.3, np.eye(4) * 1e-3, None),     # stored scalar R, dim_z = 2: broadcast into S
    (np.diag([0.25, 1e-4]), 0.01, None),  # scalar Q added to every element of F P F^T
    (np.eye(2), np.eye(4) * 1e-3, 0.3),   # scalar R argument: r I
])
def test_scalar_noise_matches_filterpy(R, Q, R_arg):
    rng = np.random.default_rng(7)
    ours, ref = _two_sensor_pair(R, Q)
    for k in range(40):
        z = rb_hx(ref.x) + rng.normal(0, 0.1, (2, 1))
        ours.predict()
        ref.predict()
        assert_close(ours.P, ref.P, what=f"{k}: prior P")
        ours.update(z, rb_jacobian, rb_hx, R=R_arg, residual=rb_residual)
        ref.update(z, rb_jacobian, rb_hx, R=R_arg, residual=rb_residual)
        for name in ("x", "P", "y", "K", "S", "SI"):
            assert_close(getattr(ours, name), getattr(ref, name), rtol=1e-8, what=f"{k}: {name}")
        assert ours.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-9)
    # the scalar really was broadcast (this is not the r I filter)
    if R_arg is None and np.ndim(R) == 0:
        P = ours.P_prior
        H = rb_jacobian(ours.x_prior)
        assert ours.S[0, 1] != pytest.approx((H @ P @ H.T)[0, 1], abs=1e-3)


def test_SI_before_first_update_and_saver_at_start():
    from filterpy.common import Saver

    ekf = ExtendedKalmanFilter(3, 2)
    np.testing.assert_array_equal(ekf.SI, np.zeros((2, 2)))  # filterpy's initial SI
    s = Saver(ekf)
    s.save()  # used to raise LinAlgError: inv of the all-zero S
    ekf.x = np.array([[1.0, 2.0, 1000.0]]).T
    ekf.predict()
    ekf.update(rb_hx(np.array([[1.0], [0], [1000.0]])) + 0.1,
               lambda x: rb_jacobian(np.array([[x[0, 0]], [0], [x[2, 0]], [0]]))[:, :3],
               lambda x: rb_hx(np.array([[x[0, 0]], [0], [x[2, 0]]])))
    s.save()
    s.to_array()
    assert s.SI.shape == (2, 2, 2)
    np.testing.assert_allclose(s.SI[1] @ ekf.S, np.eye(2), atol=1e-9)
    assert np.array_equal(ekf.SI, ekf.SI.T)


def test_SI_of_a_singular_S_is_a_numerical_error_not_linalgerror():
    ekf = ExtendedKalmanFilter(2, 2)
    ekf.S = np.ones((2, 2))  # singular
    with pytest.raises(NumericalError, match="singular"):
        _ = ekf.SI


def test_in_place_edits_before_a_step_take_effect():
    ours, ref = _two_sensor_pair(np.diag([0.25, 1e-4]), np.eye(4) * 1e-3)
    for k in range(5):
        z = rb_hx(ref.x) + 0.05
        for f in (ours, ref):
            f.P[2:, 2:] *= 1.5
            f.x[1] += 0.1
            f.predict()
            f.update(z, rb_jacobian, rb_hx, residual=rb_residual)
        assert_close(ours.x, ref.x, what=f"{k}: x after in-place edits")
        assert_close(ours.P, ref.P, what=f"{k}: P after in-place edits")
    plain, _ = _two_sensor_pair(np.diag([0.25, 1e-4]), np.eye(4) * 1e-3)
    plain.predict()
    assert not np.allclose(plain.x_prior, ours.x_prior)  # the edits mattered


def test_value_semantics_references_keep_their_values():
    """filterpy replaces x, P, ... every step: references taken earlier keep their values."""
    from filterpy.common import Saver

    ours, ref = _two_sensor_pair(np.diag([0.25, 1e-4]), np.eye(4) * 1e-3)
    names = ("x", "P", "x_prior", "P_prior", "x_post", "P_post", "y", "K", "S", "z")
    kept, snapshots = [], []
    saver = Saver(ours)
    for _ in range(5):
        z = rb_hx(ref.x) + 0.05
        ours.predict()
        kept.append({n: getattr(ours, n) for n in ("x", "P", "x_prior", "P_prior")})
        snapshots.append({n: np.array(getattr(ours, n), dtype=float) for n in ("x", "P", "x_prior", "P_prior")})
        ours.update(z, rb_jacobian, rb_hx, residual=rb_residual)
        ref.predict()
        ref.update(z, rb_jacobian, rb_hx, residual=rb_residual)
        kept.append({n: getattr(ours, n) for n in names})
        snapshots.append({n: np.array(getattr(ours, n), dtype=float) for n in names})
        saver.save()
    for k, (refs, snap) in enumerate(zip(kept, snapshots)):
        for n in refs:
            np.testing.assert_array_equal(np.asarray(refs[n], dtype=float), snap[n],
                                          err_msg=f"record {k}: {n} changed later")
    assert not np.array_equal(kept[1]["x"], kept[-1]["x"])
    saver.to_array()
    assert_close(saver.x[-1], ref.x)
    assert len({float(v[0, 0]) for v in saver.x}) == 5  # Saver recorded five different states


def test_predict_rejects_misshapen_Q():
    ekf = ExtendedKalmanFilter(3, 1)
    with pytest.raises(ShapeError, match=r"ExtendedKalmanFilter\.Q: expected shape \(3, 3\)"):
        ekf.Q = np.ones(3)  # refused on assignment (session 7)
    object.__setattr__(ekf, "Q", np.ones(3))  # past the assignment check: predict checks as well
    with pytest.raises(ShapeError, match=r"Q must be a scalar or of shape \(3, 3\)"):
        ekf.predict()


def test_predict_update_is_predict_then_update():
    a, b = ExtendedKalmanFilter(3, 1), ExtendedKalmanFilter(3, 1)
    for f in (a, b):
        f.x = np.array([[-10.0, 90.0, 1100.0]]).T
        f.F = np.eye(3) + np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0]]) * DT
        f.R = np.eye(1) * 25.0
    z = np.array([[1105.0]])
    a.predict_update(z, range_jacobian, range_hx)
    b.predict()
    b.update(z, range_jacobian, range_hx)
    for n in ("x", "P", "x_prior", "P_prior", "y", "K", "S"):
        np.testing.assert_array_equal(getattr(a, n), getattr(b, n), err_msg=n)


@pytest.mark.parametrize("column", [True, False])
def test_shapes_match_filterpy(column):
    ours, ref = ExtendedKalmanFilter(3, 1), FpEKF(3, 1)
    for name in ("x", "y", "z", "S", "SI", "P"):
        assert np.shape(getattr(ours, name)) == np.shape(getattr(ref, name)), name
    assert ours.z.dtype == ref.z.dtype == object
    x0 = np.array([-10.0, 90.0, 1100.0])
    for f in (ours, ref):
        f.x = x0.reshape(3, 1) if column else x0.copy()
        f.predict()
    if column:
        jac, hx, z = range_jacobian, range_hx, np.array([[1105.0]])
    else:
        def jac(x):
            return np.array([[x[0] / math.hypot(x[0], x[2]), 0.0, x[2] / math.hypot(x[0], x[2])]])
        hx, z = lambda x: math.hypot(x[0], x[2]), np.array([1105.0])
    for f in (ours, ref):
        f.update(z, jac, hx)
    for name in ("x", "y", "z", "K", "S", "SI", "P", "x_post"):
        assert np.shape(getattr(ours, name)) == np.shape(getattr(ref, name)), name
        assert_close(np.asarray(getattr(ours, name), dtype=float), np.asarray(getattr(ref, name), dtype=float),
                     what=name)
    for f in (ours, ref):
        f.update(None, jac, hx)
    assert ours.z.shape == ref.z.shape == (1, 1)


def test_failed_predict_and_predict_update_change_nothing():
    """Defects (review): a Q of the wrong shape was found after predict_x had replaced x; a B u
    that broadcast against a column x silently made x (4, 3); predict_update with a bad z
    kept the prediction. Each now raises with the filter as it was."""
    kf = ExtendedKalmanFilter(dim_x=4, dim_z=2)
    kf.x = np.array([[1.0], [2.0], [0.5], [0.1]])
    kf.F = np.eye(4) + np.eye(4, k=2) * 0.1
    def H(x: np.ndarray) -> np.ndarray:
        return np.eye(2, 4)

    def hx(x: np.ndarray) -> np.ndarray:
        return x[:2]

    names = ("x", "P", "x_prior", "P_prior", "x_post", "P_post", "y", "S", "K", "z")
    before = {n: getattr(kf, n) for n in names}
    object.__setattr__(kf, "Q", np.eye(3))  # past the assignment check, which refuses it
    with pytest.raises(ShapeError, match="Q"):
        kf.predict()
    kf.Q = np.eye(4) * 0.01
    kf.B = np.ones((3, 1))
    with pytest.raises(ShapeError, match="predict_x"):
        kf.predict(u=np.ones(1))
    kf.B = 0
    with pytest.raises(ShapeError, match="residual"):
        kf.predict_update(np.ones(3), H, hx)
    with pytest.raises(NumericalError, match=r"ExtendedKalmanFilter\.update: non-finite .*residual y = \[nan"):
        kf.predict_update(np.array([[np.nan], [1.0]]), H, hx)
    for n in names:
        assert getattr(kf, n) is before[n], n
    kf.predict_update(np.ones((2, 1)), H, hx)  # and a good call still works
    assert not np.array_equal(kf.x, before["x"])


def test_predict_x_setting_a_state_dependent_F_and_Q_takes_effect_in_the_same_step():
    """filterpy reads F and Q after predict_x; a subclass that sets them there must match it step for step."""

    def make(base: type) -> object:
        class Turning(base):  # type: ignore[misc, valid-type]
            def predict_x(self, u: object = 0) -> None:
                dt = 0.1
                speed = float(np.hypot(self.x[2, 0], self.x[3, 0]))
                self.F = np.eye(4)
                self.F[0, 2] = self.F[1, 3] = dt
                self.Q = np.diag([0.0, 0.0, 0.01 + speed, 0.01 + speed]) * dt
                self.x = self.F @ self.x

        f = Turning(4, 2)
        f.x = np.array([[0.0], [0.0], [3.0], [-1.0]])
        f.P = np.eye(4)
        return f

    ours, ref = make(ExtendedKalmanFilter), make(FpEKF)

    def hj(x: np.ndarray) -> np.ndarray:
        return np.eye(2, 4)

    def hx(x: np.ndarray) -> np.ndarray:
        return x[:2]

    for k in range(5):
        ours.predict()  # type: ignore[attr-defined]
        ref.predict()  # type: ignore[attr-defined]
        assert_close(ours.P, ref.P)  # type: ignore[attr-defined]
        z = np.array([[0.3 * (k + 1)], [-0.1 * (k + 1)]])
        ours.update(z, hj, hx)  # type: ignore[attr-defined]
        ref.update(z, hj, hx)  # type: ignore[attr-defined]
        assert_close(ours.x, ref.x)  # type: ignore[attr-defined]
        assert_close(ours.P, ref.P)  # type: ignore[attr-defined]
