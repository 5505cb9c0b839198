"""Statistical consistency (NEES, NIS) of the filter banks on Monte-Carlo simulations whose
truth follows the filter's own process model and noise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from fusion.filters import ExtendedKalmanFilterBank, KalmanFilterBank, UnscentedKalmanFilterBank
from fusion.models import CV2D, Position2D, RadarPolar

DT = 0.5
RUNS = 200
STEPS = 100
SIGMA_A = 0.5


def _simulate_cv(rng, x0, runs, steps):
    """Exact CV2D simulation: x' = F x + G a with a ~ N(0, sigma_a^2) per axis, so the process
    noise is exactly the model's Q = G G^T sigma_a^2 (checked against CV2D.Q below)."""
    m = CV2D(sigma_a=SIGMA_A)
    F = m.jacobian(np.zeros(4), DT)
    G = np.array([[0.5 * DT**2, 0], [0, 0.5 * DT**2], [DT, 0], [0, DT]])
    np.testing.assert_allclose(G @ G.T * SIGMA_A**2, m.Q(np.zeros(4), DT), rtol=1e-15)
    X = np.array(x0, dtype=float)
    out = []
    for _ in range(steps):
        X = X @ F.T + rng.normal(0, SIGMA_A, (runs, 2)) @ G.T
        out.append(X.copy())
    return out


def _nees(bank, truth):
    e = bank.x - truth
    return np.einsum("ni,ni->n", e, np.linalg.solve(bank.P, e[..., None])[..., 0])


def _run(bank, truths, measure, rng):
    nees, nis = [], []
    for X in truths:
        bank.predict(DT)
        assert bank.update(measure(X, rng)) == RUNS
        nees.append(_nees(bank, X).mean())
        nis.append(bank.nis.mean())
    return np.array(nees), np.array(nis)


def _start(rng, P0):
    truth0 = np.column_stack([rng.uniform(40, 120, RUNS), rng.uniform(-60, 60, RUNS), rng.normal(0, 5, (RUNS, 2))])
    x0 = truth0 + rng.multivariate_normal(np.zeros(4), P0, RUNS)  # the initial error is N(0, P0)
    return truth0, x0


def test_kf_bank_cv_position_nees_nis_in_chi2_band():
    rng = np.random.default_rng(0)
    R = np.array([[1.0, 0.3], [0.3, 2.0]])
    P0 = np.diag([4.0, 4.0, 1.0, 1.0])
    truth0, x0 = _start(rng, P0)
    truths = _simulate_cv(rng, truth0, RUNS, STEPS)
    bank = KalmanFilterBank(CV2D(sigma_a=SIGMA_A), Position2D(), size=RUNS, x=x0, P=P0, R=R)
    LR = np.linalg.cholesky(R)
    nees, nis = _run(bank, truths, lambda X, r: X[:, :2] + r.standard_normal((RUNS, 2)) @ LR.T, rng)
    lo4, hi4 = chi2.ppf([0.005, 0.995], RUNS * 4) / RUNS
    lo2, hi2 = chi2.ppf([0.005, 0.995], RUNS * 2) / RUNS
    out_nees = np.sum((nees < lo4) | (nees > hi4))
    out_nis = np.sum((nis < lo2) | (nis > hi2))
    # each step is inside its 99% band with probability 0.99: ~1 of 100 steps outside is
    # expected, 5 or more would be very unlikely (p < 0.004) for a consistent filter
    assert out_nees <= 4, (out_nees, nees.min(), nees.max(), (lo4, hi4))
    assert out_nis <= 4, (out_nis, nis.min(), nis.max(), (lo2, hi2))
    # and over the whole run the averages are dim_x and dim_z to within a few percent
    assert nees.mean() == pytest.approx(4.0, rel=0.05)
    assert nis.mean() == pytest.approx(2.0, rel=0.05)


def _check_loose(nees, nis, dim_x, dim_z):
    nees, nis = nees[5:], nis[5:]  # after the first few steps (linearisation of the start)
    assert np.all((nees > 0.7 * dim_x) & (nees < 1.4 * dim_x)), (nees.min(), nees.max())
    assert np.all((nis > 0.7 * dim_z) & (nis < 1.4 * dim_z)), (nis.min(), nis.max())
    assert nees.mean() == pytest.approx(dim_x, rel=0.15)
    assert nis.mean() == pytest.approx(dim_z, rel=0.15)


R_RADAR = np.diag([0.5**2, 0.005**2, 0.2**2])


def _radar_measure(X, rng):
    r = np.hypot(X[:, 0], X[:, 1])
    z = np.column_stack([r, np.arctan2(X[:, 1], X[:, 0]), (X[:, 0] * X[:, 2] + X[:, 1] * X[:, 3]) / r])
    return z + rng.multivariate_normal(np.zeros(3), R_RADAR, len(X))


@pytest.mark.parametrize("bank_cls,kwargs", [(ExtendedKalmanFilterBank, {}), (UnscentedKalmanFilterBank, {}),
                                             (UnscentedKalmanFilterBank, {"alpha": 0.5})])
def test_nonlinear_banks_cv_radar_consistent(bank_cls, kwargs):
    rng = np.random.default_rng(1)
    P0 = np.diag([1.0, 1.0, 1.0, 1.0])
    truth0, x0 = _start(rng, P0)
    truths = _simulate_cv(rng, truth0, RUNS, STEPS)
    bank = bank_cls(CV2D(sigma_a=SIGMA_A), RadarPolar(), size=RUNS, x=x0, P=P0, R=R_RADAR, **kwargs)
    nees, nis = _run(bank, truths, _radar_measure, rng)
    _check_loose(nees, nis, 4, 3)


def test_overconfident_filter_is_detected():
    """The NEES check has teeth: the same simulation with Q too small by 100x fails it."""
    rng = np.random.default_rng(2)
    P0 = np.diag([4.0, 4.0, 1.0, 1.0])
    truth0, x0 = _start(rng, P0)
    truths = _simulate_cv(rng, truth0, RUNS, STEPS)
    bank = KalmanFilterBank(CV2D(sigma_a=SIGMA_A / 10), Position2D(), size=RUNS, x=x0, P=P0, R=1.0)
    nees, _ = _run(bank, truths, lambda X, r: X[:, :2] + r.standard_normal((RUNS, 2)), rng)
    assert nees[20:].mean() > 2 * chi2.ppf(0.995, RUNS * 4) / RUNS
