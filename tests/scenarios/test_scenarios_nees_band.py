"""The 95% band of the scenarios' average NEES (``fusion.metrics.chi2_band``, Bar-Shalom, Li &
Kirubarajan 2001, section 5.4: ``N * ANEES ~ chi-square(N d)`` for N independent samples of
dof d) against a hand-computed case, and what it assumes: independent samples. For an even
number of degrees of freedom 2m the chi-square CDF has the closed form
``1 - exp(-x/2) sum_{k<m} (x/2)^k / k!``, so the band's ends are checked by hand, without
scipy. Samples that are correlated in time (successive NEES of one track, as in
``fusion scenarios``) leave the average unbiased but make it vary more: a consistent filter's
average then falls outside the independent-sample band far more often than 5% of the time.
The README says so next to the table; the band is not widened. Well under a second."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusion.metrics import chi2_band


def _cdf_even(x: float, dof: int) -> float:
    m = dof // 2
    h = x / 2.0
    return 1.0 - math.exp(-h) * sum(h ** k / math.factorial(k) for k in range(m))


def test_band_for_one_sample_of_dof_2_by_hand() -> None:
    # chi-square(2) is exponential with mean 2: the quantile of p is -2 ln(1 - p)
    lo, hi = chi2_band(2, 1, 0.95)
    assert lo == pytest.approx(-2.0 * math.log(0.975), rel=1e-12)   # 0.0506
    assert hi == pytest.approx(-2.0 * math.log(0.025), rel=1e-12)   # 7.378


@pytest.mark.parametrize("n", [2, 5, 40])
def test_band_ends_are_the_chi2_quantiles_by_hand(n: int) -> None:
    lo, hi = chi2_band(2, n, 0.95)
    assert _cdf_even(lo * n, 2 * n) == pytest.approx(0.025, abs=1e-10)
    assert _cdf_even(hi * n, 2 * n) == pytest.approx(0.975, abs=1e-10)
    assert lo < 2.0 < hi


def test_correlated_samples_leave_the_band_more_often() -> None:
    # 2000 trials of a consistent filter's 400 NEES samples (dof 2): independent ones, and
    # ones correlated in time like successive estimates of one track (the errors an AR(1)
    # sequence with coefficient 0.8, each still N(0, I): each NEES still chi-square(2), with a
    # lag-1 autocorrelation of 0.64, what the scenes' tracks show at 0.1 s, 0.5 to 0.65)
    rng = np.random.default_rng(4)
    trials, n, a = 2000, 400, 0.8
    lo, hi = chi2_band(2, n, 0.95)
    e = rng.normal(size=(trials, n, 2))
    iid = (e ** 2).sum(-1).mean(1)
    c = np.empty_like(e)
    c[:, 0] = e[:, 0]
    for k in range(1, n):
        c[:, k] = a * c[:, k - 1] + math.sqrt(1 - a * a) * e[:, k]
    cor = (c ** 2).sum(-1).mean(1)
    inside_iid = ((iid >= lo) & (iid <= hi)).mean()
    inside_cor = ((cor >= lo) & (cor <= hi)).mean()
    assert 0.93 < inside_iid < 0.97
    assert abs(cor.mean() - 2.0) < 0.02  # unbiased ...
    # ... but its variance is (1 + 0.64) / (1 - 0.64) = 4.6 times the independent one, so a
    # consistent filter is inside the 95% band only about 64% of the time
    assert 0.55 < inside_cor < 0.72
