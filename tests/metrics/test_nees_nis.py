"""fusion.metrics.consistency: NEES/NIS by hand, the chi-square quantile and band against
scipy, a Monte-Carlo check that the band has the stated coverage, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.metrics import (
    average_nees,
    average_nis,
    chi2_band,
    chi2_quantile,
    nees,
    nis,
)


def test_nees_nis_hand_computed() -> None:
    P = np.array([[4.0, 0.0], [0.0, 1.0]])
    assert nees([2.0, 1.0], P) == pytest.approx(2.0)                 # 4/4 + 1/1
    S = np.array([[2.0, 1.0], [1.0, 2.0]])                           # S^-1 = [[2, -1], [-1, 2]] / 3
    assert nis([1.0, 1.0], S) == pytest.approx((2 - 1 - 1 + 2) / 3)
    # batches broadcast: (3, 2) errors against one covariance, and (2, 3, 2) against (3, 2, 2)
    e = np.array([[2.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    np.testing.assert_allclose(nees(e, P), [1.0, 1.0, 2.0])
    covs = np.stack([P, S, np.eye(2)])
    out = nees(np.stack([e, 2 * e]), covs)
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[1], 4 * out[0])
    np.testing.assert_allclose(out[0], [e[i] @ np.linalg.solve(covs[i], e[i]) for i in range(3)])


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 6, 10, 50, 400, 800, 4000, 0.5, 1.5])
def test_chi2_quantile_against_scipy(dof: float) -> None:
    for q in (1e-12, 1e-6, 0.005, 0.025, 0.3, 0.5, 0.9, 0.975, 0.995, 1 - 1e-6, 1 - 1e-12):
        assert chi2_quantile(q, dof) == pytest.approx(chi2.ppf(q, dof), rel=1e-11)


def test_chi2_band_against_scipy() -> None:
    # the band of tests/filters/test_consistency.py: 200 runs, 4 states, 99 %
    lo, hi = chi2_band(4, 200, 0.99)
    ref = chi2.ppf([0.005, 0.995], 800) / 200
    assert (lo, hi) == pytest.approx(tuple(ref), rel=1e-12)
    lo, hi = chi2_band(3, 1, 0.95)
    assert (lo, hi) == pytest.approx((chi2.ppf(0.025, 3), chi2.ppf(0.975, 3)), rel=1e-12)


def test_average_nees_coverage_and_overconfidence() -> None:
    # 50 runs x 400 steps of errors drawn from the filter's own covariance: the per-step average
    # lies in the 95 % band about 95 % of the time; a covariance 2x too small (overconfident)
    # puts nearly every step above the band
    rng = np.random.default_rng(0)
    runs, steps, n = 50, 400, 3
    A = rng.normal(size=(n, n))
    P = A @ A.T + n * np.eye(n)
    e = rng.multivariate_normal(np.zeros(n), P, size=(runs, steps))
    res = average_nees(e, P, confidence=0.95)
    assert res.average.shape == (steps,) and res.dof == n and res.num_runs == runs
    assert (res.lower, res.upper) == pytest.approx(tuple(chi2.ppf([0.025, 0.975], runs * n) / runs), rel=1e-12)
    assert 0.92 < res.inside.mean() < 0.98
    assert res.average.mean() == pytest.approx(n, rel=0.02)
    over = average_nees(e, P / 2, confidence=0.95)
    assert over.inside.mean() < 0.05 and over.average.mean() == pytest.approx(2 * n, rel=0.02)
    under = average_nis(e, 2 * P, confidence=0.95)  # same maths under the NIS name; too pessimistic
    assert under.inside.mean() < 0.05 and np.all(under.average < res.upper)


@pytest.mark.parametrize("call, err, needle", [
    (lambda: nees([1.0, 2.0], np.eye(3)), ShapeError, "shapes do not match"),
    (lambda: nees(np.zeros((4, 2)), np.zeros((3, 2, 2)) + np.eye(2)), ShapeError, "do not broadcast"),
    (lambda: nees([1.0, np.nan], np.eye(2)), NumericalError, "error: every entry must be finite"),
    (lambda: nis([1.0, 1.0], [[1.0, 0.5], [0.0, 1.0]]), NumericalError, "symmetric"),
    (lambda: nis([1.0, 1.0], [[1.0, 2.0], [2.0, 1.0]]), NumericalError, "not positive definite"),
    (lambda: average_nees(np.zeros(3), np.eye(3)), ShapeError, "at least one run"),
    (lambda: chi2_band(0, 10), ConfigurationError, "dof"),
    (lambda: chi2_band(2, 0), ConfigurationError, "num_runs"),
    (lambda: chi2_band(2, 10, confidence=1.0), ConfigurationError, "confidence"),
    (lambda: chi2_quantile(0.0, 2), ConfigurationError, r"q: expected a probability in \(0, 1\)"),
    (lambda: chi2_quantile(0.5, -1), ConfigurationError, "dof"),
])
def test_bad_input(call, err, needle) -> None:
    with pytest.raises(err, match=needle):
        call()
