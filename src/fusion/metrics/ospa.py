"""Distances between finite point sets (multi-target estimation error in one frame): OSPA,
GOSPA, and an optimal truth-to-estimate id matching.

Points are rows of ``(m, d)`` arrays in any unit of length (metres for positions); ``d`` is
the same for both sets.  An empty set may be given as ``(0, d)`` or ``(0,)``.  All three
functions solve an exact assignment with :func:`fusion.assoc.linear_sum_assignment` (no
scipy at runtime).

- :func:`ospa`: Schuhmacher, Vo & Vo (2008), order ``p``, cut-off ``c``: the mean per-target
  error, where a missing or extra target costs ``c``.
- :func:`gospa`: Rahmathullah, García-Fernández & Svensson (2017) with ``alpha = 2``: the total
  error, split into localisation, missed-target and false-target parts.
- :func:`match_ids`: which estimate (by id) is matched to each truth within a gate, for
  identity statistics over time.

Bad input raises :class:`fusion.errors.ShapeError` (shapes),
:class:`fusion.errors.NumericalError` (NaN or infinite coordinates) or
:class:`fusion.errors.ConfigurationError` (a cut-off or gate that is not a positive number,
an order outside ``[1, inf)``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from fusion.assoc.linear_assignment import linear_sum_assignment
from fusion.errors import ConfigurationError, NumericalError, ShapeError

__all__ = ["GospaResult", "gospa", "match_ids", "ospa"]


class GospaResult(NamedTuple):
    """GOSPA (``alpha = 2``) and its parts; ``distance = (localisation + missed + false) ** (1/p)``.

    The three parts are in units of length to the power ``p`` (as Stone Soup reports them).
    """

    distance: float       #: the GOSPA distance (units of length)
    localisation: float   #: sum of ``d ** p`` over the assigned pairs (those with ``d < c``)
    missed: float         #: ``c ** p / 2`` per unassigned truth
    false: float          #: ``c ** p / 2`` per unassigned estimate
    num_assigned: int     #: number of assigned pairs
    num_missed: int       #: number of unassigned truths
    num_false: int        #: number of unassigned estimates


def _points(x: npt.ArrayLike, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1 and a.size == 0:
        return a.reshape(0, 0)
    if a.ndim != 2:
        raise ShapeError(f"{name}: expected points of shape (m, d), got {a.shape}")
    if not np.all(np.isfinite(a)):
        i = int(np.nonzero(~np.all(np.isfinite(a), axis=1))[0][0])
        raise NumericalError(f"{name}: point {i} has a non-finite coordinate {a[i].tolist()}")
    return a


def _distances(truth: npt.ArrayLike, estimates: npt.ArrayLike) -> np.ndarray:
    """(m, n) Euclidean distances; (m, 0) / (0, n) when a set is empty."""
    x = _points(truth, "truth")
    y = _points(estimates, "estimates")
    if len(x) and len(y) and x.shape[1] != y.shape[1]:
        raise ShapeError(f"truth and estimates: points must have the same dimension, got {x.shape[1]} and "
                         f"{y.shape[1]}")
    if len(x) == 0 or len(y) == 0:
        return np.zeros((len(x), len(y)))
    return np.linalg.norm(x[:, None, :] - y[None, :, :], axis=2)


def _check_cutoff_order(c: float, p: float) -> None:
    if not (math.isfinite(c) and c > 0):
        raise ConfigurationError(f"c: expected a positive finite cut-off distance, got {c!r}")
    if not (math.isfinite(p) and p >= 1):
        raise ConfigurationError(f"p: expected a finite order >= 1, got {p!r}")


def ospa(truth: npt.ArrayLike, estimates: npt.ArrayLike, c: float = 5.0, p: float = 2.0) -> float:
    """OSPA distance between two point sets (units of the coordinates).

    ``((min over assignments of sum min(d, c) ** p + c ** p * |m - n|) / max(m, n)) ** (1/p)``;
    0 for two empty sets, ``c`` when exactly one is empty.

    Args:
        truth: (m, d) true points.
        estimates: (n, d) estimated points.
        c: cut-off distance (> 0, same unit).
        p: order (>= 1).
    """
    _check_cutoff_order(c, p)
    dist = _distances(truth, estimates)
    m, n = dist.shape
    if m == 0 and n == 0:
        return 0.0
    if m == 0 or n == 0:
        return float(c)
    d = np.minimum(dist, c) ** p
    r, col = linear_sum_assignment(d)
    return float(((d[r, col].sum() + c ** p * abs(m - n)) / max(m, n)) ** (1.0 / p))


def gospa(truth: npt.ArrayLike, estimates: npt.ArrayLike, c: float = 5.0, p: float = 2.0) -> GospaResult:
    """GOSPA with ``alpha = 2`` between two point sets, with its localisation/missed/false split.

    ``(min over partial assignments gamma of sum_{gamma} d ** p + c ** p / 2 * (m + n - 2 |gamma|)) ** (1/p)``:
    a pair is assigned only when ``d < c`` (else leaving both points unassigned costs no more).
    Unlike OSPA it is not normalised by the number of targets.

    Args:
        truth: (m, d) true points.
        estimates: (n, d) estimated points.
        c: cut-off distance (> 0, same unit).
        p: order (>= 1).
    """
    _check_cutoff_order(c, p)
    dist = _distances(truth, estimates)
    m, n = dist.shape
    half = c ** p / 2.0
    loc = 0.0
    k = 0
    if m and n:
        r, col = linear_sum_assignment(np.minimum(dist, c) ** p)
        dd = dist[r, col]
        inside = dd < c
        k = int(inside.sum())
        loc = float(np.sum(dd[inside] ** p))
    missed, false = half * (m - k), half * (n - k)
    return GospaResult(float((loc + missed + false) ** (1.0 / p)), loc, missed, false, k, m - k, n - k)


def match_ids(truth: npt.ArrayLike, estimates: npt.ArrayLike, est_ids: npt.ArrayLike, max_dist: float) -> np.ndarray:
    """For each truth, the id of the estimate matched to it within ``max_dist``, else -1.

    The matching first maximises the number of truth-estimate pairs closer than ``max_dist``
    (inclusive), then minimises their total distance.

    Args:
        truth: (m, d) true points.
        estimates: (n, d) estimated points.
        est_ids: (n,) integer id of each estimate.
        max_dist: gate (>= 0, same unit as the coordinates).
    Returns:
        (m,) int64 ids.
    """
    if not max_dist >= 0:  # False for NaN too
        raise ConfigurationError(f"max_dist: expected a distance >= 0, got {max_dist!r}")
    dist = _distances(truth, estimates)
    ids = np.asarray(est_ids)
    if ids.shape != (dist.shape[1],):
        raise ShapeError(f"est_ids: expected shape ({dist.shape[1]},) (one id per estimate), got {ids.shape}")
    out = np.full(dist.shape[0], -1, np.int64)
    if dist.size == 0:
        return out
    ok = dist <= max_dist
    # an out-of-gate pair costs more than any set of in-gate pairs: the number of in-gate pairs comes first
    penalty = max(1e6, min(dist.shape) * float(max_dist) + 1.0) if math.isfinite(max_dist) else 0.0
    r, col = linear_sum_assignment(np.where(ok, dist, penalty))
    good = ok[r, col]
    out[r[good]] = ids[col[good]]
    return out
