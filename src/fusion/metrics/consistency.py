"""Filter consistency: NEES and NIS, and their chi-square acceptance band over N runs.

For a consistent filter, the normalised estimation error squared ``NEES = e^T P^-1 e``
(``e = x_hat - x_true``, ``P`` the filter's covariance) of an ``n``-dimensional state is
chi-square with ``n`` degrees of freedom, and the normalised innovation squared
``NIS = nu^T S^-1 nu`` (innovation ``nu``, its covariance ``S``) is chi-square with
``dim z``.  The average over ``N`` independent Monte-Carlo runs times ``N`` is chi-square with
``N n`` degrees of freedom, which gives the two-sided acceptance band of
:func:`chi2_band` (Bar-Shalom, Li & Kirubarajan, *Estimation with Applications to Tracking
and Navigation*, 2001, section 5.4).  The same band applies to a time average over ``N``
steps of one run.

- :func:`nees` / :func:`nis`: the values themselves, for any batch shape.
- :func:`average_nees` / :func:`average_nis`: the average over runs (axis 0) with the band and
  which averages lie inside it.
- :func:`chi2_band`, :func:`chi2_quantile`: the band and the chi-square quantile function,
  computed without scipy.

Bad input raises :class:`fusion.errors.ShapeError` (shapes),
:class:`fusion.errors.NumericalError` (non-finite values, a covariance that is not symmetric
positive definite) or :class:`fusion.errors.ConfigurationError` (a confidence outside (0, 1),
degrees of freedom or run counts below 1).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from fusion.errors import ConfigurationError, NumericalError, ShapeError

__all__ = ["ConsistencyTest", "average_nees", "average_nis", "chi2_band", "chi2_quantile", "nees", "nis"]


class ConsistencyTest(NamedTuple):
    """Average NEES or NIS over ``num_runs`` runs and its chi-square acceptance band."""

    average: np.ndarray   #: mean over the runs, one value per remaining index (e.g. per time step)
    lower: float          #: lower end of the band for the average
    upper: float          #: upper end of the band for the average
    inside: np.ndarray    #: bool, ``lower <= average <= upper``
    dof: int              #: degrees of freedom of one value (state or measurement dimension)
    num_runs: int         #: number of runs averaged
    confidence: float     #: probability that a consistent filter's average lies in the band


def _quadratic_form(vec: npt.ArrayLike, cov: npt.ArrayLike, vname: str, cname: str) -> np.ndarray:
    e = np.asarray(vec, dtype=np.float64)
    S = np.asarray(cov, dtype=np.float64)
    if e.ndim < 1 or S.ndim < 2 or S.shape[-2:] != (e.shape[-1], e.shape[-1]):
        raise ShapeError(f"{vname} (..., n) and {cname} (..., n, n): shapes do not match, got {e.shape} and {S.shape}")
    try:
        batch = np.broadcast_shapes(e.shape[:-1], S.shape[:-2])
    except ValueError:
        raise ShapeError(f"{vname} and {cname}: batch shapes {e.shape[:-1]} and {S.shape[:-2]} do not broadcast") \
            from None
    if not np.all(np.isfinite(e)):
        raise NumericalError(f"{vname}: every entry must be finite")
    if not np.all(np.isfinite(S)):
        raise NumericalError(f"{cname}: every entry must be finite")
    asym = np.abs(S - np.swapaxes(S, -1, -2))
    if np.any(asym > 1e-9 * np.maximum(np.abs(S), np.abs(np.swapaxes(S, -1, -2))).max(initial=0.0)):
        raise NumericalError(f"{cname}: expected a symmetric matrix (largest asymmetry {asym.max():.3g})")
    try:
        L = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        raise NumericalError(f"{cname}: not positive definite") from None
    L = np.broadcast_to(L, batch + S.shape[-2:])
    e = np.broadcast_to(e, batch + e.shape[-1:])
    y = np.linalg.solve(L, e[..., None])[..., 0]
    return np.einsum("...i,...i->...", y, y)


def nees(error: npt.ArrayLike, covariance: npt.ArrayLike) -> np.ndarray:
    """Normalised estimation error squared ``e^T P^-1 e`` (dimensionless).

    Args:
        error: (..., n) estimation errors ``x_hat - x_true`` (state units).
        covariance: (..., n, n) symmetric positive definite covariances of the estimates; batch
            dimensions broadcast against those of ``error``.
    Returns:
        (...) NEES values.
    """
    return _quadratic_form(error, covariance, "error", "covariance")


def nis(innovation: npt.ArrayLike, innovation_covariance: npt.ArrayLike) -> np.ndarray:
    """Normalised innovation squared ``nu^T S^-1 nu`` (dimensionless); shapes as :func:`nees`."""
    return _quadratic_form(innovation, innovation_covariance, "innovation", "innovation_covariance")


def _gamma_pq(a: float, x: float) -> tuple[float, float]:
    """Regularised incomplete gamma functions ``(P(a, x), Q(a, x))``, each to full relative precision
    (series for x < a + 1, Lentz continued fraction otherwise; Numerical Recipes 6.2)."""
    if x <= 0.0:
        return 0.0, 1.0
    log_pre = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(100000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-17:
                break
        p = min(1.0, total * math.exp(log_pre))
        return p, 1.0 - p
    tiny = 1e-300
    b = x + 1.0 - a
    cf = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 100000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        cf = b + an / cf
        cf = tiny if abs(cf) < tiny else cf
        d = 1.0 / d
        delta = d * cf
        h *= delta
        if abs(delta - 1.0) < 1e-17:
            break
    q = min(1.0, math.exp(log_pre) * h)
    return 1.0 - q, q


def chi2_quantile(q: float, dof: float) -> float:
    """Quantile (inverse CDF) of the chi-square distribution with ``dof`` degrees of freedom.

    Accurate to about 1e-12 relative for ``q`` in (1e-12, 1 - 1e-12) (the tests compare it with
    ``scipy.stats.chi2.ppf``).

    Raises:
        ConfigurationError: ``q`` outside (0, 1) or ``dof`` not positive.
    """
    if not 0.0 < q < 1.0:
        raise ConfigurationError(f"q: expected a probability in (0, 1), got {q!r}")
    if not (math.isfinite(dof) and dof > 0):
        raise ConfigurationError(f"dof: expected a positive number of degrees of freedom, got {dof!r}")
    a = dof / 2.0

    def excess(x: float) -> float:  # CDF(x) - q, from the smaller tail so that q near 1 keeps its precision
        lower, upper = _gamma_pq(a, x / 2.0)
        return lower - q if q <= 0.5 else (1.0 - q) - upper

    # start: Wilson-Hilferty, or the small-x series P(a, x/2) ~ (x/2)^a / Gamma(a + 1) when that
    # is smaller (far left tail); then a bracketed Newton iteration (bisection when Newton
    # leaves the bracket)
    z = math.sqrt(2.0) * _erfinv(2.0 * q - 1.0)
    h = 2.0 / (9.0 * dof)
    wh = dof * max(1.0 - h + z * math.sqrt(h), 0.0) ** 3
    small = 2.0 * math.exp((math.log(q) + math.lgamma(a + 1.0)) / a)
    x = max(wh if wh > small or q > 0.5 else small, 1e-300)
    lo, hi = 0.0, math.inf
    for _ in range(200):
        f = excess(x)
        if f == 0.0:
            return x
        if f < 0:
            lo = x
        else:
            hi = x
        log_pdf = (a - 1.0) * math.log(x) - x / 2.0 - a * math.log(2.0) - math.lgamma(a)
        step = f / math.exp(log_pdf) if log_pdf > -700 else math.inf
        nxt = x - step
        if not (lo < nxt < hi):
            nxt = (lo + hi) / 2.0 if math.isfinite(hi) else max(2.0 * x, x + 1.0)
        if abs(nxt - x) <= 1e-14 * max(x, 1e-300):
            return nxt
        x = nxt
    return x


def _erfinv(y: float) -> float:
    """Inverse error function (Giles' single-precision start, polished with two Newton steps)."""
    if y <= -1.0:
        return -math.inf
    if y >= 1.0:
        return math.inf
    w = -math.log((1.0 - y) * (1.0 + y))
    if w < 5.0:
        w -= 2.5
        p = 2.81022636e-08
        for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                  -0.00417768164, 0.246640727, 1.50140941):
            p = c + p * w
    else:
        w = math.sqrt(w) - 3.0
        p = -0.000200214257
        for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
                  0.00943887047, 1.00167406, 2.83297682):
            p = c + p * w
    x = p * y
    for _ in range(2):
        err = math.erf(x) - y
        x -= err / (2.0 / math.sqrt(math.pi) * math.exp(-x * x))
    return x


def chi2_band(dof: int, num_runs: int = 1, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided acceptance band for the average of ``num_runs`` chi-square(``dof``) values.

    ``(chi2_quantile((1 - confidence) / 2, N dof) / N, chi2_quantile((1 + confidence) / 2, N dof) / N)``
    with ``N = num_runs``: a consistent filter's average NEES (``dof`` = state dimension) or
    NIS (``dof`` = measurement dimension) lies inside with probability ``confidence``.
    """
    if isinstance(dof, bool) or int(dof) != dof or dof < 1:
        raise ConfigurationError(f"dof: expected an integer >= 1, got {dof!r}")
    if isinstance(num_runs, bool) or int(num_runs) != num_runs or num_runs < 1:
        raise ConfigurationError(f"num_runs: expected an integer >= 1, got {num_runs!r}")
    if not 0.0 < confidence < 1.0:
        raise ConfigurationError(f"confidence: expected a probability in (0, 1), got {confidence!r}")
    k = int(dof) * int(num_runs)
    tail = (1.0 - confidence) / 2.0
    return chi2_quantile(tail, k) / num_runs, chi2_quantile(1.0 - tail, k) / num_runs


def _average(values: np.ndarray, dof: int, confidence: float) -> ConsistencyTest:
    if values.ndim < 1 or values.shape[0] < 1:
        raise ShapeError(f"expected at least one run along axis 0, got values of shape {values.shape}")
    n_runs = values.shape[0]
    lo, hi = chi2_band(dof, n_runs, confidence)
    avg = values.mean(axis=0)
    return ConsistencyTest(avg, lo, hi, (avg >= lo) & (avg <= hi), dof, n_runs, confidence)


def average_nees(errors: npt.ArrayLike, covariances: npt.ArrayLike, confidence: float = 0.95) -> ConsistencyTest:
    """Average NEES over runs (axis 0) with its chi-square band.

    Args:
        errors: (N, ..., n) estimation errors of N independent runs (e.g. (N, T, n) for T steps).
        covariances: (N, ..., n, n) the filters' covariances (or a shape that broadcasts).
        confidence: probability of the two-sided band (e.g. 0.95 or 0.99).
    Returns:
        :class:`ConsistencyTest` with ``average`` of shape (...) and ``dof = n``.
    """
    e = np.asarray(errors, dtype=np.float64)
    return _average(nees(e, covariances), e.shape[-1], confidence)


def average_nis(innovations: npt.ArrayLike, innovation_covariances: npt.ArrayLike,
                confidence: float = 0.95) -> ConsistencyTest:
    """Average NIS over runs (axis 0) with its chi-square band; shapes as :func:`average_nees`."""
    v = np.asarray(innovations, dtype=np.float64)
    return _average(nis(v, innovation_covariances), v.shape[-1], confidence)
