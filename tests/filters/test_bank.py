"""Filter banks: equality with independent KalmanFilters, masks, per-filter R, invalid
measurements, shape and configuration errors, and covariance health over long random runs."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.filters import ExtendedKalmanFilterBank, KalmanFilter, KalmanFilterBank, UnscentedKalmanFilterBank
from fusion.models import CA2D, CTRV, CV2D, Position2D, Position3D, RadarPolar

from _fhelpers import assert_spd

DT = 0.1
N = 20


def _initial(rng, n=N):
    x = rng.normal(0, 10, (n, 4))
    A = rng.standard_normal((n, 4, 4))
    P = A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(4)
    return x, P


def _independent_filters(x, P, sigma_a, R):
    m = CV2D(sigma_a=sigma_a)
    out = []
    for i in range(len(x)):
        kf = KalmanFilter(4, 2)
        kf.F = m.jacobian(x[i], DT)
        kf.Q = m.Q(x[i], DT)
        kf.H = np.eye(2, 4)
        kf.R = R if np.ndim(R) == 2 else R[i]
        kf.x = x[i].copy()
        kf.P = P[i].copy()
        out.append(kf)
    return out


def _assert_bank_equals(bank, filters, rtol=1e-12):
    for i, kf in enumerate(filters):
        np.testing.assert_allclose(bank.x[i], kf.x, rtol=rtol, atol=1e-12 * np.max(np.abs(kf.x)))
        np.testing.assert_allclose(bank.P[i], kf.P, rtol=rtol, atol=1e-12 * np.max(np.abs(kf.P)))


def test_kalman_filter_bank_equals_independent_filters():
    rng = np.random.default_rng(0)
    x, P = _initial(rng)
    R = np.array([[0.5, 0.1], [0.1, 0.3]])
    bank = KalmanFilterBank(CV2D(sigma_a=1.5), Position2D(), size=N, x=x, P=P, R=R)
    filters = _independent_filters(x, P, 1.5, R)
    for _ in range(60):
        bank.predict(DT)
        for kf in filters:
            kf.predict()
        _assert_bank_equals(bank, filters)
        z = bank.x[:, :2] + rng.normal(0, 1.0, (N, 2))
        assert bank.update(z) == N
        for i, kf in enumerate(filters):
            kf.update(z[i])
            assert bank.nis[i] == pytest.approx(kf.nis, rel=1e-12)
            assert bank.log_likelihood[i] == pytest.approx(kf.log_likelihood, rel=1e-12)
        _assert_bank_equals(bank, filters)
        np.testing.assert_array_equal(bank.status, 0)


def test_x_and_P_are_views_and_setters_broadcast():
    bank = KalmanFilterBank(CV2D(), Position2D(), size=3)
    np.testing.assert_array_equal(bank.P, np.broadcast_to(np.eye(4), (3, 4, 4)))
    bank.x[1, 2] = 5.0  # in place
    bank.predict(1.0)
    assert bank.x[1, 0] == 5.0
    bank.x = np.array([1.0, 2.0, 3.0, 4.0])  # one state for all
    np.testing.assert_array_equal(bank.x, np.tile([1.0, 2.0, 3.0, 4.0], (3, 1)))
    bank.P = 2.0 * np.eye(4)
    np.testing.assert_array_equal(bank.P[2], 2.0 * np.eye(4))
    with pytest.raises(NumericalError):
        bank.P = -np.eye(4)
    assert len(bank) == 3


def test_mask_leaves_masked_out_filters_unchanged():
    rng = np.random.default_rng(1)
    x, P = _initial(rng)
    bank = KalmanFilterBank(CV2D(), Position2D(), size=N, x=x, P=P, R=0.5)
    filters = _independent_filters(x, P, 1.0, 0.5 * np.eye(2))
    bank.predict(DT)
    for kf in filters:
        kf.predict()
    mask = rng.random(N) < 0.5
    mask[0], mask[1] = True, False
    x_before, P_before = bank.x.copy(), bank.P.copy()
    z = rng.normal(0, 10, (N, 2))
    assert bank.update(z, mask=mask) == mask.sum()
    np.testing.assert_array_equal(bank.status[~mask], -1)
    np.testing.assert_array_equal(bank.status[mask], 0)
    np.testing.assert_array_equal(bank.x[~mask], x_before[~mask])
    np.testing.assert_array_equal(bank.P[~mask], P_before[~mask])
    for i in np.flatnonzero(mask):
        filters[i].update(z[i])
    _assert_bank_equals(bank, filters)


def test_per_filter_R():
    rng = np.random.default_rng(2)
    x, P = _initial(rng)
    Rs = np.array([np.diag(rng.uniform(0.1, 3.0, 2)) for _ in range(N)])
    bank = KalmanFilterBank(CV2D(), Position2D(), size=N, x=x, P=P, R=Rs)
    filters = _independent_filters(x, P, 1.0, Rs)
    for _ in range(10):
        bank.predict(DT)
        z = rng.normal(0, 10, (N, 2))
        bank.update(z)
        for i, kf in enumerate(filters):
            kf.predict()
            kf.update(z[i])
    _assert_bank_equals(bank, filters)
    # a per-call override of shape (N, m, m) as well
    R2 = Rs[::-1].copy()
    z = rng.normal(0, 10, (N, 2))
    bank.update(z, R=R2)
    for i, kf in enumerate(filters):
        kf.update(z[i], R=R2[i])
    _assert_bank_equals(bank, filters)


def test_nan_row_raises_by_default_and_changes_nothing():
    rng = np.random.default_rng(3)
    x, P = _initial(rng)
    bank = KalmanFilterBank(CV2D(), Position2D(), size=N, x=x, P=P)
    z = rng.normal(0, 1, (N, 2))
    z[7, 1] = np.nan
    with pytest.raises(NumericalError, match="filter 7"):
        bank.update(z)
    np.testing.assert_array_equal(bank.x, x)
    np.testing.assert_array_equal(bank.P, P)
    # a NaN row that is masked out is fine
    mask = np.ones(N, bool)
    mask[7] = False
    assert bank.update(z, mask=mask) == N - 1


def test_nan_row_with_skip_leaves_that_filter_and_warns():
    rng = np.random.default_rng(4)
    x, P = _initial(rng)
    bank = KalmanFilterBank(CV2D(), Position2D(), size=N, x=x, P=P, on_invalid="skip")
    z = rng.normal(0, 1, (N, 2))
    z[3] = [np.inf, 0.0]
    z[11, 0] = np.nan
    with pytest.warns(RuntimeWarning, match="skipped"):
        updated = bank.update(z)
    assert updated == N - 2
    assert bank.skipped == 2
    for i in (3, 11):
        np.testing.assert_array_equal(bank.x[i], x[i])
        np.testing.assert_array_equal(bank.P[i], P[i])
        assert bank.status[i] == 1
    others = np.setdiff1d(np.arange(N), [3, 11])
    assert np.all(bank.status[others] == 0)
    assert np.all(np.any(bank.x[others] != x[others], axis=1))


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"z": np.zeros((N, 3))}, "z"),
        ({"z": np.zeros((N + 1, 2))}, "z"),
        ({"z": np.zeros((N, 2)), "mask": np.ones(N - 1, bool)}, "mask"),
        ({"z": np.zeros((N, 2)), "R": np.eye(3)}, "R"),
        ({"z": np.zeros((N, 2)), "R": np.ones((N - 1, 2, 2))}, "R"),
    ],
)
def test_wrong_shapes_raise_shape_error(kwargs, name):
    bank = KalmanFilterBank(CV2D(), Position2D(), size=N)
    with pytest.raises(ShapeError) as info:
        bank.update(**kwargs)
    assert name in str(info.value)
    assert "expected shape" in str(info.value)


def test_wrong_shape_x_P_R_at_construction():
    with pytest.raises(ShapeError, match="x"):
        KalmanFilterBank(CV2D(), Position2D(), size=3, x=np.zeros((3, 5)))
    with pytest.raises(ShapeError, match="P"):
        KalmanFilterBank(CV2D(), Position2D(), size=3, P=np.eye(3))
    with pytest.raises(ShapeError, match="R"):
        KalmanFilterBank(CV2D(), Position2D(), size=3, R=np.eye(3))


def test_unknown_pair_and_nonlinear_kf_bank_raise_configuration_error():
    with pytest.raises(ConfigurationError) as info:
        ExtendedKalmanFilterBank(CV2D(), Position3D(), size=2)
    msg = str(info.value)
    assert "CV2D" in msg and "Position3D" in msg
    assert "CV2D + Position2D" in msg and "CTRV + RadarPolar" in msg  # lists the available pairs
    with pytest.raises(ConfigurationError, match="UKF bank"):
        UnscentedKalmanFilterBank(CV2D(), Position3D(), size=2)
    with pytest.raises(ConfigurationError, match="ExtendedKalmanFilterBank"):
        KalmanFilterBank(CTRV(), Position2D(), size=2)
    with pytest.raises(ConfigurationError):
        KalmanFilterBank(CA2D(), RadarPolar(), size=2)
    with pytest.raises(ConfigurationError):
        KalmanFilterBank(CV2D(), Position2D(), size=2, on_invalid="ignore")
    bank = KalmanFilterBank(CV2D(), Position2D(), size=2)
    with pytest.raises(ConfigurationError):
        bank.predict(-0.1)


# ------------------------------------------------------------------ long random runs
def _ctrv_truth_step(X, dt, rng):
    """Vectorised CTRV step for many targets, with random yaw-acceleration kicks."""
    px, py, v, yaw, w = X.T
    small = np.abs(w * dt) < 1e-6
    ws = np.where(small, 1.0, w)
    dx = np.where(small, v * np.cos(yaw) * dt, v / ws * (np.sin(yaw + w * dt) - np.sin(yaw)))
    dy = np.where(small, v * np.sin(yaw) * dt, v / ws * (np.cos(yaw) - np.cos(yaw + w * dt)))
    w = np.clip(w + rng.normal(0, 0.3, len(w)) * dt, -0.8, 0.8)
    v = np.clip(v + rng.normal(0, 1.0, len(v)) * dt, 0.5, 30.0)
    return np.column_stack([px + dx, py + dy, v, yaw + X[:, 4] * dt, w])


def _radar_z(X, rng, R):
    dx, dy = X[:, 0], X[:, 1]
    r = np.hypot(dx, dy)
    vx, vy = X[:, 2] * np.cos(X[:, 3]), X[:, 2] * np.sin(X[:, 3])
    z = np.column_stack([r, np.arctan2(dy, dx), (dx * vx + dy * vy) / r])
    z += rng.multivariate_normal(np.zeros(3), R, len(X))
    z[:, 1] = (z[:, 1] + np.pi) % (2 * np.pi) - np.pi
    return z


R_RADAR = np.diag([0.5**2, 0.02**2, 0.3**2])


@pytest.mark.parametrize("bank_cls", [ExtendedKalmanFilterBank, UnscentedKalmanFilterBank])
def test_covariances_stay_symmetric_and_pd_over_500_random_steps(bank_cls):
    rng = np.random.default_rng(5)
    n = 50
    truth = np.column_stack([rng.uniform(-60, 60, n), rng.uniform(-60, 60, n), rng.uniform(1, 20, n),
                             rng.uniform(-np.pi, np.pi, n), rng.uniform(-0.5, 0.5, n)])
    truth[np.hypot(truth[:, 0], truth[:, 1]) < 5, :2] += 10.0
    x0 = truth + rng.normal(0, 1, (n, 5)) * [2.0, 2.0, 2.0, 0.3, 0.1]
    x0[:, 3] = (x0[:, 3] + np.pi) % (2 * np.pi) - np.pi
    P0 = np.diag([4.0, 4.0, 4.0, 0.1, 0.01])
    kw = {"alpha": 0.1} if bank_cls is UnscentedKalmanFilterBank else {}
    bank = bank_cls(CTRV(sigma_a=1.0, sigma_yawdd=0.5), RadarPolar(), size=n, x=x0, P=P0, R=R_RADAR,
                    on_invalid="skip", **kw)
    for k in range(500):
        truth = _ctrv_truth_step(truth, DT, rng)
        bank.predict(DT)
        mask = rng.random(n) < 0.8  # dropped detections
        bank.update(_radar_z(truth, rng, R_RADAR), mask=mask)
        if k % 25 == 24 or k == 499:
            P = bank.P
            assert np.all(np.isfinite(P)) and np.all(np.isfinite(bank.x))
            assert_spd(P, f"{bank_cls.__name__} step {k}")
    assert bank.skipped == 0
    err = np.hypot(*(bank.x[:, :2] - truth[:, :2]).T)
    assert np.median(err) < 2.0, np.median(err)


def _textbook_ekf(x, P, z, R, motion, radar):
    """Predict with the bound model, then the textbook update P = (I - K H) P with inv(S)."""
    F, Q = motion.jacobian(x, DT), motion.Q(x, DT)
    x = motion.f(x, DT)
    P = F @ P @ F.T + Q
    kin, J = motion.kinematics(x)
    zp, Hk = radar.h(kin)
    H = Hk @ J
    y = z - zp
    y[1] = (y[1] + np.pi) % (2 * np.pi) - np.pi
    S = H @ P @ H.T + R
    K = P @ H.T @ np.linalg.inv(S)
    return x + K @ y, (np.eye(5) - K @ H) @ P


def test_textbook_ekf_loses_symmetry_and_pd_where_the_bank_keeps_them(record_property):
    """A vague prior (position std 500 m) meets a very precise radar (1 mm range, 0.1 urad
    azimuth, 10 um/s range rate): the textbook covariance update P = (I - K H) P with inv(S)
    loses symmetry (relative asymmetry > 1%) and positive definiteness (a negative eigenvalue)
    on this run, while the bank's Joseph-form, symmetrised update stays exactly symmetric and
    positive definite at every one of the 200 steps. Both are asserted: the contrast is the
    point of the test."""
    rng = np.random.default_rng(6)
    motion, radar = CTRV(sigma_a=0.1, sigma_yawdd=0.01), RadarPolar()
    R = np.diag([1e-3**2, 1e-7**2, 1e-5**2])
    truth = np.array([[40.0, 5.0, 12.0, 0.3, 0.05]])
    x = truth[0] + [1.0, -1.0, 0.5, 0.05, 0.0]
    P = np.diag([25.0, 25.0, 9.0, 0.5, 0.1]) * 1e4
    bank = ExtendedKalmanFilterBank(motion, radar, size=1, x=x, P=P, R=R)
    xt, Pt = x.copy(), P.copy()
    worst_textbook = worst_bank = 0.0
    min_eig_textbook = np.inf
    for k in range(200):
        truth = _ctrv_truth_step(truth, DT, rng)
        z = _radar_z(truth, rng, R)
        bank.predict(DT)
        assert bank.update(z) == 1, f"bank update failed at step {k}"
        xt, Pt = _textbook_ekf(xt, Pt, z[0], R, motion, radar)
        worst_textbook = max(worst_textbook, np.max(np.abs(Pt - Pt.T)) / np.max(np.abs(Pt)))
        min_eig_textbook = min(min_eig_textbook, float(np.min(np.linalg.eigvalsh(0.5 * (Pt + Pt.T)))))
        Pb = bank.P[0]
        worst_bank = max(worst_bank, np.max(np.abs(Pb - Pb.T)) / np.max(np.abs(Pb)))
        assert_spd(Pb, f"bank step {k}")
    record_property("textbook_ekf_max_relative_asymmetry", worst_textbook)
    record_property("textbook_ekf_min_eigenvalue", min_eig_textbook)
    record_property("bank_max_relative_asymmetry", worst_bank)
    assert worst_textbook > 1e-2, worst_textbook  # the textbook update really loses symmetry ...
    assert min_eig_textbook < 0.0, min_eig_textbook  # ... and positive definiteness
    assert worst_bank <= 1e-12
    assert np.linalg.norm(bank.x[0, :2] - truth[0, :2]) < 0.1  # and still tracks the target


def test_R_is_a_read_only_copy_replaced_atomically():
    """bank.R never aliases the caller's array, and cannot be changed in place (an update
    running in another thread reads it without the GIL); assigning bank.R replaces it."""
    R = np.array([[0.5, 0.1], [0.1, 0.3]])
    bank = KalmanFilterBank(CV2D(sigma_a=1.0), Position2D(), size=3, R=R)
    R[0, 0] = 100.0
    assert bank.R[0, 0] == 0.5
    with pytest.raises(ValueError, match="read-only"):
        bank.R[0, 0] = 2.0
    old = bank.R
    bank.R = 2.0
    np.testing.assert_array_equal(bank.R, 2.0 * np.eye(2))
    assert old[0, 0] == 0.5  # the previous array is untouched


def test_raw_core_bank_checks_shapes():
    """The private C++ class validates too: a wrong z, R or mask is a ShapeError, never a crash."""
    from fusion import _core

    b = _core.EkfBank_CV2D_Position2D(CV2D(1.0), Position2D(), 1000)
    with pytest.raises(ShapeError, match=r"z: expected shape \(1000, 2\)"):
        b.update(np.ones((1, 2)), None, np.eye(2))
    with pytest.raises(ShapeError, match="R"):
        b.update(np.ones((1000, 2)), None, np.eye(3))
    with pytest.raises(ShapeError, match="mask"):
        b.update(np.ones((1000, 2)), np.ones(3, bool), np.eye(2))


@pytest.mark.parametrize("R", ["0.5", True, np.full((2, 2), 1 + 0j), [[0.5, "a"], [0.0, 0.5]]])
def test_noise_of_the_wrong_type_is_a_configuration_error_naming_R(R) -> None:
    """The banks and IMMBank share one R check (fusion.filters.bank.checked_noise): strings,
    bools and complex numbers are ConfigurationErrors naming R (were a bare ValueError, or
    True taken as 1), and the bank's R is unchanged."""
    bank = KalmanFilterBank(CV2D(), Position2D(), 3, R=0.25)
    before = bank.R.copy()
    with pytest.raises(ConfigurationError, match="R: expected real numbers"):
        bank.R = R
    with pytest.raises(ConfigurationError, match="R: expected real numbers"):
        bank.update(np.zeros((3, 2)), R=R)
    assert np.array_equal(bank.R, before)


@pytest.mark.parametrize("size, match", [
    (10**13, "size: .* filters need .* GiB"),
    (True, "size: expected an integer"), (2.5, "size: expected an integer"), ("3", "size: expected an integer"),
    (-1, "size must be >= 0"),
])
def test_bank_size_is_checked_before_allocating(size, match) -> None:
    """Review: 10**13 tried to allocate terabytes; 2.5 and True were taken as 2 and 1 (2**62, which
    segfaulted, is in test_crashes.py)."""
    for cls in (KalmanFilterBank, ExtendedKalmanFilterBank, UnscentedKalmanFilterBank):
        with pytest.raises(ConfigurationError, match=match):
            cls(CV2D(), Position2D(), size)


# ---- a prediction that overflows is a NumericalError (or counted), never a silent inf/NaN


@pytest.mark.parametrize("cls, motion", [(KalmanFilterBank, CV2D()), (ExtendedKalmanFilterBank, CTRV()),
                                         (UnscentedKalmanFilterBank, CTRV())],
                         ids=["kf", "ekf", "ukf"])
@pytest.mark.parametrize("on_invalid", ["raise", "skip"])
def test_predict_whose_result_overflows_changes_nothing(cls, motion, on_invalid: str) -> None:
    bank = cls(motion, Position2D(), size=3, on_invalid=on_invalid)
    bank.x = np.arange(3 * bank.dim_x, dtype=float).reshape(3, -1)
    x0, P0 = bank.x.copy(), bank.P.copy()
    if on_invalid == "raise":
        with pytest.raises(NumericalError, match="not finite; 3 filter"):
            bank.predict(1e200)  # finite, but the process noise overflows: every filter fails up front
    else:
        with pytest.warns(RuntimeWarning, match="not finite: 3 skipped"):
            bank.predict(1e200)
        assert bank.skipped == 3
    np.testing.assert_array_equal(bank.x, x0)
    np.testing.assert_array_equal(bank.P, P0)


@pytest.mark.parametrize("cls, motion", [(KalmanFilterBank, CV2D()), (ExtendedKalmanFilterBank, CTRV()),
                                         (UnscentedKalmanFilterBank, CTRV())],
                         ids=["kf", "ekf", "ukf"])
def test_one_filter_whose_prediction_overflows_is_left_unchanged_and_counted(cls, motion) -> None:
    bank = cls(motion, Position2D(), size=3, on_invalid="skip")
    x = np.zeros((3, bank.dim_x))
    x[1, :] = 1e307  # its predicted position overflows; the others' does not
    bank.x = x
    x0, P0 = bank.x.copy(), bank.P.copy()
    with pytest.warns(RuntimeWarning, match="1 skipped"):
        bank.predict(100.0)
    assert bank.skipped == 1
    np.testing.assert_array_equal(bank.x[1], x0[1])
    np.testing.assert_array_equal(bank.P[1], P0[1])
    assert np.isfinite(bank.x).all() and np.isfinite(bank.P).all()
    assert not np.array_equal(bank.P[0], P0[0]) and not np.array_equal(bank.P[2], P0[2])
