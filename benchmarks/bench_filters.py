"""Filter speed, fusion next to filterpy in the same run (issue 2's targets).

Groups (each benchmark asserts its result matches the reference before it is timed):
- kf-object-cv4: one predict+update of a CV filter (4 states, 2 measurements) through the
  filterpy-compatible object API: fusion.filters.KalmanFilter vs filterpy.
- kf-object-cv4-read: the same, reading x after predict and x, P after update (a tracker's
  loop; fusion hands out fresh arrays on read, as filterpy does).
- kf-bank-cv4: one predict+update of N filters: KalmanFilterBank vs a loop of filterpy
  filters. Per-filter time = mean / N (recorded in extra_info).
- ukf-ctrv-radar: one predict+update of a CTRV + radar UKF: UnscentedKalmanFilterBank vs
  filterpy's UnscentedKalmanFilter with the same model in Python.

Run:  python -m pytest benchmarks/bench_filters.py --benchmark-enable --benchmark-columns=mean,stddev,rounds
"""

from __future__ import annotations

import math

import filterpy.kalman as filterpy_kalman
import numpy as np
import pytest

from fusion.filters import KalmanFilter, KalmanFilterBank, UnscentedKalmanFilterBank
from fusion.models import CTRV, CV2D, Position2D, RadarPolar

DT = 0.1
CV = CV2D(sigma_a=1.0)
F_CV = CV.jacobian(np.zeros(4), DT)
Q_CV = CV.Q(np.zeros(4), DT)
H_CV = np.eye(2, 4)
R_CV = np.eye(2) * 0.25
BANK_N = 10_000
UKF_BANK_N = 1_000


def _configure(kf):
    kf.F = F_CV.copy()
    kf.Q = Q_CV.copy()
    kf.H = H_CV.copy()
    kf.R = R_CV.copy()
    kf.P = np.eye(4) * 10.0
    return kf


def _measurements(n):
    rng = np.random.default_rng(0)
    t = np.arange(n) * DT
    return np.stack([1.0 + 10.0 * t, 2.0 - 3.0 * t], axis=1) + rng.normal(0, 0.5, (n, 2))


# ---------------------------------------------------------------- object API
@pytest.mark.benchmark(group="kf-object-cv4")
@pytest.mark.parametrize("impl", ["fusion", "filterpy"])
def test_kf_object_predict_update(benchmark, impl):
    zs = _measurements(64)
    make = KalmanFilter if impl == "fusion" else filterpy_kalman.KalmanFilter
    kf = _configure(make(dim_x=4, dim_z=2))
    ref = _configure(filterpy_kalman.KalmanFilter(dim_x=4, dim_z=2))
    for z in zs:  # same inputs, same result
        kf.predict()
        kf.update(z)
        ref.predict()
        ref.update(z)
    np.testing.assert_allclose(np.ravel(kf.x), np.ravel(ref.x), rtol=1e-9)
    z = zs[-1].reshape(2, 1)

    def step():
        kf.predict()
        kf.update(z)

    benchmark(step)


@pytest.mark.benchmark(group="kf-object-cv4-read")
@pytest.mark.parametrize("impl", ["fusion", "filterpy"])
def test_kf_object_predict_update_read_state(benchmark, impl):
    """As a tracker loop does (SORT, AB3DMOT): predict, read x, update, read x and P. Reading
    hands out a fresh array (value semantics), so this measures that cost too."""
    make = KalmanFilter if impl == "fusion" else filterpy_kalman.KalmanFilter
    kf = _configure(make(dim_x=4, dim_z=2))
    z = _measurements(2)[-1].reshape(2, 1)
    kept = []

    def step():
        kf.predict()
        before = kf.x
        kf.update(z)
        kept[:] = [before, kf.x, kf.P]

    benchmark(step)
    assert not np.shares_memory(kept[0], kept[1])  # the value read before the update kept it


# ---------------------------------------------------------------- bank
@pytest.mark.benchmark(group="kf-bank-cv4")
@pytest.mark.parametrize("impl", ["fusion-bank", "filterpy-loop"])
def test_kf_bank_predict_update(benchmark, impl):
    n = BANK_N if impl == "fusion-bank" else 200  # filterpy is timed on fewer filters, per filter
    rng = np.random.default_rng(1)
    z = rng.normal(0.0, 5.0, (n, 2))
    if impl == "fusion-bank":
        bank = KalmanFilterBank(CV, Position2D(), n, R=R_CV, P=np.eye(4) * 10.0)
        check = _configure(filterpy_kalman.KalmanFilter(dim_x=4, dim_z=2))
        bank.predict(DT)
        bank.update(z)
        check.predict()
        check.update(z[0])
        np.testing.assert_allclose(bank.x[0], np.ravel(check.x), rtol=1e-9)

        def step():
            bank.predict(DT)
            bank.update(z)
    else:
        filters = [_configure(filterpy_kalman.KalmanFilter(dim_x=4, dim_z=2)) for _ in range(n)]

        def step():
            for f, zi in zip(filters, z):
                f.predict()
                f.update(zi)

    benchmark(step)
    benchmark.extra_info["filters"] = n
    if benchmark.stats is not None:
        benchmark.extra_info["us_per_filter"] = benchmark.stats.stats.mean / n * 1e6


# ---------------------------------------------------------------- UKF, CTRV + radar
def _wrap(a):
    return (a + math.pi) % (2 * math.pi) - math.pi


def _ctrv_fx(x, dt):
    return CTRV_MODEL.f(x, dt)


def _radar_hx(x):
    px, py, v, yaw = x[0], x[1], x[2], x[3]
    r = math.hypot(px, py)
    return np.array([r, math.atan2(py, px), (px * v * math.cos(yaw) + py * v * math.sin(yaw)) / r])


def _angle_mean(sigmas, Wm, k):
    # the bank's angular mean: wrapped offsets from the central sigma point
    m = Wm @ sigmas
    m[k] = _wrap(sigmas[0, k] + Wm[1:] @ _wrap(sigmas[1:, k] - sigmas[0, k]))
    return m


def _mean_x(sigmas, Wm):
    return _angle_mean(sigmas, Wm, 3)


def _mean_z(sigmas, Wm):
    return _angle_mean(sigmas, Wm, 1)


def _res_x(a, b):
    d = a - b
    d[3] = _wrap(d[3])
    return d


def _res_z(a, b):
    d = a - b
    d[1] = _wrap(d[1])
    return d


CTRV_MODEL = CTRV(sigma_a=2.0, sigma_yawdd=0.5)
R_RADAR = np.diag([0.25, 1e-4, 0.04])
X0 = np.array([30.0, 5.0, 12.0, 0.3, 0.05])
Z_RADAR = np.array([30.8, 0.2, 11.5])


def _filterpy_ukf():
    pts = filterpy_kalman.MerweScaledSigmaPoints(5, alpha=0.5, beta=2.0, kappa=0.0)
    ukf = filterpy_kalman.UnscentedKalmanFilter(
        dim_x=5, dim_z=3, dt=DT, fx=_ctrv_fx, hx=_radar_hx, points=pts,
        x_mean_fn=_mean_x, z_mean_fn=_mean_z, residual_x=_res_x, residual_z=_res_z,
    )
    ukf.x = X0.copy()
    ukf.P = np.eye(5)
    ukf.R = R_RADAR.copy()
    return ukf


@pytest.mark.benchmark(group="ukf-ctrv-radar")
@pytest.mark.parametrize("impl", ["fusion-bank", "filterpy"])
def test_ukf_ctrv_radar(benchmark, impl):
    ref = _filterpy_ukf()
    ref.Q = CTRV_MODEL.Q(ref.x, DT)  # filterpy holds Q fixed; match it for this check
    if impl == "fusion-bank":
        n = UKF_BANK_N
        bank = UnscentedKalmanFilterBank(CTRV_MODEL, RadarPolar(), n, alpha=0.5, R=R_RADAR, x=X0, P=np.eye(5))
        z = np.tile(Z_RADAR, (n, 1))
        bank.predict(DT)
        bank.update(z)
        # Reference with the state-dependent Q evaluated at the predicted mean, as the bank does.
        ref.Q = CTRV_MODEL.Q(CTRV_MODEL.f(X0, DT), DT)
        ref.predict()
        ref.update(Z_RADAR)
        np.testing.assert_allclose(bank.x[0], ref.x, rtol=1e-6, atol=1e-9)

        def step():
            bank.predict(DT)
            bank.update(z)
    else:
        n = 1
        ref.predict()
        ref.update(Z_RADAR)
        assert np.all(np.isfinite(ref.x))

        def step():
            ref.predict()
            ref.update(Z_RADAR)

    benchmark(step)
    benchmark.extra_info["filters"] = n
    if benchmark.stats is not None:
        benchmark.extra_info["us_per_filter"] = benchmark.stats.stats.mean / n * 1e6
