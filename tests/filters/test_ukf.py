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

from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.filters import (
    ExtendedKalmanFilterBank,
    MerweScaledSigmaPoints,
    UnscentedKalmanFilter,
    UnscentedKalmanFilterBank,
)
from fusion.models import CTRV, RadarPolar

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

DT = 0.1


# ------------------------------------------------------------------ sigma points and weights
@pytest.mark.parametrize("n,alpha,beta,kappa",
                         [(1, 0.1, 2.0, 0.0), (4, 1e-3, 2.0, 0.0), (5, 0.5, 2.0, -2.0), (7, 1.0, 0.0, 3.0)])
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


# ------------------------------------------------------------------ filterpy surface: batch, RTS
def cv_fx(x, dt):
    return np.array([x[0] + dt * x[1], x[1], x[2] + dt * x[3], x[3]])


def cv_hx(x):
    return np.array([x[0], x[2]])


def range_fx(x, dt):  # filterpy's radar example: downrange position, velocity, altitude
    return np.array([x[0] + dt * x[1], x[1], x[2]])


def range_hx(x):
    return [math.hypot(x[0], x[2])]


def _pair(dim_x, dim_z, fx, hx, dt=DT, points=None, **kw):
    """Our UKF and filterpy's with the same (filterpy) sigma points object type."""
    p1 = points() if points else FpPoints(dim_x, 0.3, 2.0, 3.0 - dim_x)
    p2 = points() if points else FpPoints(dim_x, 0.3, 2.0, 3.0 - dim_x)
    return (UnscentedKalmanFilter(dim_x, dim_z, dt, hx=hx, fx=fx, points=p1, **kw),
            FpUKF(dim_x, dim_z, dt, hx=hx, fx=fx, points=p2, **kw))


def _radar_pair(R=10.0):
    ours, ref = _pair(3, 1, range_fx, range_hx, dt=0.05)
    for f in (ours, ref):
        f.Q = np.eye(3) * 0.01
        f.R = R
        f.x = np.array([0.0, 90.0, 1100.0])
        f.P = np.eye(3) * 100.0
    return ours, ref


def _radar_ranges(n, seed=200):
    rng = np.random.default_rng(seed)
    pos, out = 0.0, []
    for _ in range(n):
        pos += (100 + 5 * rng.normal()) * 0.05
        alt = 1000 + 10 * rng.normal()
        out.append(math.hypot(pos, alt) + pos * 0.05 * rng.normal())
    return out


def test_batch_filter_matches_filterpy_and_a_predict_update_loop():
    rng = np.random.default_rng(11)
    ours, ref = _pair(4, 2, cv_fx, cv_hx)
    loop, _ = _pair(4, 2, cv_fx, cv_hx)
    for f in (ours, ref, loop):
        f.x = np.array([-1.0, 1.0, -1.0, 1.0])
        f.P *= 0.5
        f.R = np.eye(2) * 0.01
        f.Q = np.eye(4) * 1e-4
    zs = [np.array([0.1 * i, 0.1 * i]) + rng.normal(0, 0.1, 2) for i in range(30)]
    zs[2] = zs[9] = None
    Rs = [np.eye(2) * 0.01] * len(zs)
    Rs[4] = None       # self.R
    Rs[5] = 0.02       # scalar argument: r I
    dts = [DT * (1 + 0.1 * (i % 3)) for i in range(len(zs))]
    calls = []

    class CountingSaver:
        def save(self):
            calls.append(ours.x.copy())

    means, covs = ours.batch_filter(zs, Rs=Rs, dts=dts, saver=CountingSaver())
    means_ref, covs_ref = ref.batch_filter(zs, Rs=Rs, dts=dts)
    assert means.shape == (30, 4) and covs.shape == (30, 4, 4)
    assert_close(means, means_ref, rtol=1e-8, what="means")
    assert_close(covs, covs_ref, rtol=1e-8, what="covariances")
    assert len(calls) == 30 and np.array_equal(calls[-1], means[-1])
    for i, (z, r, dt) in enumerate(zip(zs, Rs, dts)):
        loop.predict(dt=dt)
        loop.update(z, r)
        np.testing.assert_array_equal(loop.x, means[i])  # bit-identical to the loop
        np.testing.assert_array_equal(loop.P, covs[i])


def test_batch_filter_scalar_R_is_passed_as_an_argument_like_filterpy():
    """filterpy's batch_filter hands self.R to update as the R argument, where a scalar
    means r I (not the stored-scalar broadcast): same here."""
    ours, ref = _pair(4, 2, cv_fx, cv_hx)
    for f in (ours, ref):
        f.x = np.array([0.0, 1.0, 0.0, 1.0])
        f.R = 0.05
    zs = [np.array([0.1 * i + 0.02, 0.1 * i - 0.01]) for i in range(10)]
    m1, c1 = ours.batch_filter(zs)
    m2, c2 = ref.batch_filter(zs)
    assert_close(m1, m2, rtol=1e-9)
    assert_close(c1, c2, rtol=1e-9)
    np.testing.assert_allclose(ours.S - ours.S.T, 0.0)
    assert ours.S[0, 1] == pytest.approx(ref.S[0, 1], abs=1e-12)


def test_batch_filter_checks_every_z_first_and_leaves_the_filter_untouched():
    ours, _ = _pair(4, 2, cv_fx, cv_hx)
    x0, P0 = ours.x.copy(), ours.P.copy()
    zs = [np.zeros(2)] * 3 + [np.zeros(3)] + [np.zeros(2)]
    with pytest.raises(ShapeError, match=r"zs\[3\]"):
        ours.batch_filter(zs)
    with pytest.raises(NumericalError, match=r"zs\[1\]"):
        ours.batch_filter([np.zeros(2), np.array([np.nan, 0.0])])
    with pytest.raises(ShapeError, match="Rs has 2 entries, expected 3"):
        ours.batch_filter([np.zeros(2)] * 3, Rs=[np.eye(2)] * 2)
    np.testing.assert_array_equal(ours.x, x0)
    np.testing.assert_array_equal(ours.P, P0)


def test_rts_smoother_matches_filterpy_on_the_radar_example():
    ours, ref = _radar_pair()
    rs = _radar_ranges(200)
    M, P = ours.batch_filter(rs)
    M_ref, _ = ref.batch_filter(rs)
    assert_close(M, M_ref, rtol=1e-8, what="filtered means")
    xs, ps, ks = ours.rts_smoother(M, P)
    xs_ref, ps_ref, ks_ref = ref.rts_smoother(M, P)
    assert_close(xs, xs_ref, rtol=1e-8, what="smoothed means")
    assert_close(ps, ps_ref, rtol=1e-7, what="smoothed covariances")
    assert_close(ks, ks_ref, rtol=1e-7, what="gains")
    assert np.all(ks[-1] == 0.0)
    # smoothing reduces the uncertainty and the smoother leaves the filter alone
    assert np.all(ps[:-1, 0, 0] < P[:-1, 0, 0])
    np.testing.assert_array_equal(ours.x, M[-1])
    # one dt as a scalar, per-step dts and a column Xs
    np.testing.assert_array_equal(ours.rts_smoother(M, P, dts=0.05)[0], xs)
    np.testing.assert_array_equal(ours.rts_smoother(M, P, dts=[0.05] * len(M))[0], xs)
    col = ours.rts_smoother(M[:, :, None], P)[0]
    assert col.shape == (len(M), 3, 1)
    np.testing.assert_array_equal(col[:, :, 0], xs)


def test_rts_smoother_uses_Qs():
    """filterpy's UKF smoother ignores Qs (always self.Q); here Qs is used: equal to filterpy
    run with self.Q = that Q."""
    ours, ref = _radar_pair()
    M, P = ours.batch_filter(_radar_ranges(60))
    Q2 = np.diag([0.5, 0.2, 0.1])
    ref.Q = Q2
    xs, ps, _ = ours.rts_smoother(M, P, Qs=[Q2] * len(M))
    xs_ref, ps_ref, _ = ref.rts_smoother(M, P)
    assert_close(xs, xs_ref, rtol=1e-8)
    assert_close(ps, ps_ref, rtol=1e-7)
    assert not np.allclose(xs, ours.rts_smoother(M, P)[0])
    with pytest.raises(ShapeError, match="Qs has 3 entries"):
        ours.rts_smoother(M, P, Qs=[Q2] * 3)
    with pytest.raises(ShapeError, match="same length"):
        ours.rts_smoother(M, P[:-1])


@pytest.mark.parametrize("angles", [False, True])
def test_cross_variance_matches_filterpy(angles):
    kw = {"residual_x": wrapped_residual_fn(3), "residual_z": wrapped_residual_fn(1)} if angles else {}
    ours, ref = _pair(5, 3, ctrv_f, _hx, **kw)
    rng = np.random.default_rng(5)
    sf, sh = rng.normal(size=(11, 5)) * 3, rng.normal(size=(11, 3)) * 3
    x, z = rng.normal(size=5), rng.normal(size=3)
    assert_close(ours.cross_variance(x, z, sf, sh), ref.cross_variance(x, z, sf, sh), rtol=1e-12)


def test_inv_and_msqrt_attributes():
    ours, ref = _radar_pair()
    assert ours.inv is np.linalg.inv
    assert ours.msqrt is ours.points_fn.sqrt
    used = []

    def pinv(A):
        used.append(A.shape)
        return np.linalg.pinv(A)

    ours.inv = ref.inv = pinv
    for r in _radar_ranges(20):
        for f in (ours, ref):
            f.predict()
            f.update([r])
        assert_close(ours.x, ref.x, rtol=1e-9)
        assert_close(ours.SI, ref.SI, rtol=1e-9)
        assert ours.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-9)
    assert used  # the user's inverse is the one used, as in filterpy
    sq = UnscentedKalmanFilter(2, 1, DT, hx=lambda x: x[:1], fx=lambda x, dt: x,
                               points=MerweScaledSigmaPoints(2, 0.5, 2.0), sqrt_fn=scipy.linalg.sqrtm)
    assert sq.msqrt is scipy.linalg.sqrtm and sq.points_fn.sqrt is scipy.linalg.sqrtm


# ------------------------------------------------------------------ scalar noise, SI, value semantics
@pytest.mark.parametrize("R,Q,R_arg", [
    (0.02, np.eye(4) * 1e-3, None),           # stored scalar R, dim_z = 2: added to every element of S
    (np.eye(2) * 0.01, 0.001, None),          # scalar Q added to every element of P
    (np.eye(2), np.eye(4) * 1e-3, 0.02),      # scalar R argument: r I
])
def test_scalar_noise_matches_filterpy(R, Q, R_arg):
    rng = np.random.default_rng(8)
    ours, ref = _pair(4, 2, cv_fx, cv_hx)
    for f in (ours, ref):
        f.x = np.array([0.0, 1.0, 0.0, 0.5])
        f.R, f.Q = R, Q
    for k in range(30):
        z = np.array([0.1 * k, 0.05 * k]) + rng.normal(0, 0.1, 2)
        for f in (ours, ref):
            f.predict()
        assert_close(ours.P, ref.P, rtol=1e-9, what=f"{k}: prior P")
        for f in (ours, ref):
            f.update(z, R=R_arg)
        for name in ("x", "P", "y", "K", "S", "SI"):
            assert_close(getattr(ours, name), getattr(ref, name), rtol=1e-8, what=f"{k}: {name}")
        assert ours.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-9)
        assert ours.mahalanobis == pytest.approx(ref.mahalanobis, rel=1e-9)
        for f in (ours, ref):
            # a stored scalar R is fully correlated noise (r 11^T): the posterior is singular
            # along x0 - x2 and the next sigma points would fail (in filterpy too); re-inflate
            f.P += np.eye(4) * 0.05
    if R_arg is None and np.ndim(R) == 0:
        assert ours.S[0, 1] > 0.9 * R  # the broadcast reached the off-diagonal


def test_SI_before_the_first_update_and_saver_at_start():
    """filterpy's test_linear_rts saves before any update: SI must be zeros, not inv(0)."""
    from filterpy.common import Saver

    ours, _ = _pair(2, 1, lambda x, dt: np.array([x[0] + dt * x[1], x[1]]), lambda x: x[:1])
    np.testing.assert_array_equal(ours.SI, np.zeros((1, 1)))
    s = Saver(ours)
    s.save()
    s.to_array()
    ours.predict()
    ours.update(0.3)
    np.testing.assert_allclose(ours.SI, np.linalg.inv(ours.S), rtol=1e-12)
    ours.S = np.zeros((1, 1))  # S all zeros means "no update yet": SI is zeros, not an error
    np.testing.assert_array_equal(ours.SI, np.zeros((1, 1)))


def test_value_semantics_references_keep_their_values():
    """References kept to x, P, sigmas_f... keep their values (sigmas_f used to be rewritten
    in place by the next prediction); Saver records each step's own values."""
    from filterpy.common import Saver

    ours, _ = _pair(4, 2, cv_fx, cv_hx)
    ours.R = np.eye(2) * 0.01
    names = ("x", "P", "x_prior", "P_prior", "x_post", "P_post", "sigmas_f", "sigmas_h", "K", "y", "S", "z")
    kept, snaps = [], []
    s = Saver(ours)
    for k in range(6):
        ours.predict()
        ours.update([0.1 * k, 0.2 * k])
        kept.append({n: getattr(ours, n) for n in names})
        snaps.append({n: np.array(getattr(ours, n), dtype=float) for n in names})
        s.save()
    for k, (refs, snap) in enumerate(zip(kept, snaps)):
        for n in names:
            np.testing.assert_array_equal(np.asarray(refs[n], dtype=float), snap[n], err_msg=f"step {k}: {n}")
    s.to_array()
    assert len({tuple(np.round(v, 12)) for v in s.x}) == 6
    assert len({float(v[0, 0]) for v in s.sigmas_f}) == 6
    # in-place edits before a step act on the filter
    a, b = _pair(4, 2, cv_fx, cv_hx)
    a.P[2:, 2:] *= 1000.0
    a.x[:2] = [5.0, -1.0]
    b.P = np.diag([1.0, 1.0, 1000.0, 1000.0])
    b.x = np.array([5.0, -1.0, 0.0, 0.0])
    for f in (a, b):
        f.predict()
    assert_close(a.x, b.x, rtol=1e-9)
    assert_close(a.P, b.P, rtol=1e-9)


def test_y_z_shapes_match_filterpy():
    ours, ref = _pair(4, 2, cv_fx, cv_hx)
    for f in (ours, ref):
        assert f.z.shape == (2, 1) and f.y.shape == (2,)
        f.predict()
        f.update([1.0, 2.0])
    assert ours.y.shape == np.shape(ref.y) == (2,)
    assert ours.z.shape == np.shape(ref.z)
    for f in (ours, ref):
        f.update(None)
    assert ours.z.shape == ref.z.shape == (2, 1) and ours.z.dtype == ref.z.dtype == object


def test_failed_predict_changes_nothing():
    """Defect (review): a predicted P that is not positive definite was found by the sigma
    points drawn after x and P had been replaced, and a custom UT that raised left new
    sigmas_f behind. A failed predict now leaves x, P, sigmas_f and the prior as they were."""
    def fx(x, dt):
        return np.array([x[0] + dt * x[1], x[1]])

    points = MerweScaledSigmaPoints(2, alpha=0.1, beta=2.0, kappa=1.0)
    kf = UnscentedKalmanFilter(dim_x=2, dim_z=1, dt=0.1, hx=lambda x: x[:1], fx=fx, points=points)
    kf.x = np.array([1.0, 0.5])
    kf.predict()
    kf.update(np.array([1.1]))
    names = ("x", "P", "x_prior", "P_prior", "sigmas_f")
    before = {n: getattr(kf, n) for n in names}
    with pytest.raises(NumericalError, match=r"UnscentedKalmanFilter\.Q"):
        kf.Q = -100.0 * np.eye(2)  # refused on assignment (session 7)
    object.__setattr__(kf, "Q", -100.0 * np.eye(2))  # past that check: the predict fails and changes nothing
    with pytest.raises(NumericalError):
        kf.predict()
    kf.Q = np.eye(2) * 0.01

    def broken_ut(*args):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        kf.predict(UT=broken_ut)
    for n in names:
        assert getattr(kf, n) is before[n], n
    kf.predict()
    assert not np.array_equal(kf.x, before["x"])
