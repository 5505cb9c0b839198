"""Covariance intersection (Julier and Uhlmann) of n Gaussian estimates of one state whose
cross-correlations are unknown:

    P^-1 = sum_i w_i P_i^-1,   P^-1 x = sum_i w_i P_i^-1 x_i,   w_i >= 0,  sum_i w_i = 1.

For any weights and any cross-covariance between the estimates, ``P`` bounds the true error
covariance of ``x`` (``P - E[e e^T]`` is positive semi-definite). The weights minimise
``trace(P)`` (``criterion="trace"``) or ``log det(P)`` (``criterion="det"``): both are
convex in ``w``; the C++ core (``csrc/include/fusion/t2t/covariance_intersection.hpp``)
finds the minimum over the simplex by pairwise exact line searches (for two estimates, one
exact 1D minimisation over ``w_1`` in [0, 1]).

Thread safety: a pure function; the computation releases the GIL; any calls may run concurrently.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from fusion import _core
from fusion.errors import ConfigurationError, ShapeError

__all__ = ["CRITERIA", "CiResult", "covariance_intersection"]

#: The objectives the weights minimise.
CRITERIA = ("trace", "det")


class CiResult(NamedTuple):
    """Result of :func:`covariance_intersection`."""

    x: npt.NDArray[np.float64]        #: (d,) fused state
    P: npt.NDArray[np.float64]        #: (d, d) fused covariance (symmetric positive definite)
    weights: npt.NDArray[np.float64]  #: (n,) the weights w_i (on the simplex)
    objective: float                  #: trace(P) or log det(P) at the weights


def covariance_intersection(xs: npt.ArrayLike, Ps: npt.ArrayLike, criterion: str = "trace") -> CiResult:
    """Fuses n estimates ``xs`` (n, d) with covariances ``Ps`` (n, d, d) (module docstring).

    Raises:
        ShapeError: wrong shapes (n = 0 included).
        NumericalError: a non-finite state or covariance, or a covariance that is not
            symmetric positive definite (naming which: ``xs[i]`` / ``Ps[i]``).
        ConfigurationError: ``criterion`` not in :data:`CRITERIA`.
    """
    if criterion not in CRITERIA:
        raise ConfigurationError(f"criterion: expected one of {', '.join(map(repr, CRITERIA))}, got {criterion!r}")
    try:
        xa = np.asarray(xs, dtype=np.float64)
        Pa = np.asarray(Ps, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"covariance_intersection: expected arrays of numbers: {exc}") from None
    x, P, w, obj = _core.covariance_intersection(xa, Pa, criterion)
    return CiResult(x, P, w, float(obj))
