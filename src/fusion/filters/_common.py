"""Helpers shared by the Python-level filters (EKF, UKF): argument checks and the Gaussian
log-likelihood, written once so every filter reports errors the same way."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from fusion import _core
from fusion.errors import NumericalError, ShapeError

LOG_FLOAT_MIN = math.log(sys.float_info.min)


def as_matrix(value: Any, shape: tuple[int, int], what: str, scalar_is_identity: bool = False) -> np.ndarray:
    """value as a float array of exactly `shape` (a scalar means scalar * I when allowed)."""
    a = np.asarray(value, dtype=float)
    if a.ndim == 0 and scalar_is_identity and shape[0] == shape[1]:
        return np.eye(shape[0]) * float(a)
    if a.shape != shape:
        raise ShapeError(f"{what}: expected shape {shape}, but got {a.shape}")
    return a


def as_vector(value: Any, n: int, what: str) -> np.ndarray:
    """value as a float vector of n entries; accepts (n,), (n, 1) and, for n == 1, a scalar."""
    a = np.asarray(value, dtype=float)
    if a.size != n or (a.ndim == 2 and 1 not in a.shape) or a.ndim > 2:
        raise ShapeError(f"{what}: expected shape ({n},) or ({n}, 1), but got {a.shape}")
    return a.reshape(n)


def check_finite(z: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(z)):
        raise NumericalError(f"{what}: non-finite measurement {np.array2string(z.ravel())}")


def gaussian_log_likelihood(y: np.ndarray, S: np.ndarray, what: str) -> tuple[float, float]:
    """(log N(y; 0, S), y^T S^-1 y) using a Cholesky solve."""
    sol, logdet = _core.solve_spd(S, y.reshape(-1, 1), what)
    nis = float(y.reshape(-1) @ sol.reshape(-1))
    return -0.5 * (nis + logdet + y.size * math.log(2.0 * math.pi)), nis


class InnovationStatistics:
    """filterpy's derived innovation quantities, from ``log_likelihood``, ``nis`` and ``S``
    of the last update (filterpy computes them lazily; here they are cheap properties)."""

    log_likelihood: float
    nis: float
    S: np.ndarray

    @property
    def likelihood(self) -> float:
        """exp(log_likelihood), floored at the smallest positive float as in filterpy."""
        return max(math.exp(self.log_likelihood), sys.float_info.min)

    @property
    def mahalanobis(self) -> float:
        """sqrt(y^T S^-1 y) of the last update."""
        return math.sqrt(self.nis)

    @property
    def SI(self) -> np.ndarray:
        """Inverse of the innovation covariance of the last update (computed on request)."""
        return np.linalg.inv(self.S)
