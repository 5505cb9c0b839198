"""Unscented Kalman filter with filterpy's interface (``filterpy.kalman.UnscentedKalmanFilter``
and ``MerweScaledSigmaPoints``), accepting Python callables for f and h.

As in filterpy 2.x, the sigma points used by an update are drawn from the predicted (x, P).
The innovation covariance is factorised by Cholesky (a clear
:class:`~fusion.errors.NumericalError` when it is not positive definite) and the posterior
covariance is re-symmetrised. For many filters with built-in models use
:class:`~fusion.filters.UnscentedKalmanFilterBank`, which runs entirely in C++.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from fusion import _core
from fusion.errors import ConfigurationError, NumericalError
from fusion.filters._common import LOG_FLOAT_MIN, InnovationStatistics, as_matrix, as_vector, check_finite, gaussian_log_likelihood

__all__ = ["MerweScaledSigmaPoints", "UnscentedKalmanFilter", "unscented_transform"]


def _upper_cholesky(A: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(A).T
    except np.linalg.LinAlgError:
        raise NumericalError("sigma points: (n + lambda) P is not symmetric positive definite") from None


class MerweScaledSigmaPoints:
    """Van der Merwe's scaled sigma points: 2n+1 points with parameters alpha, beta, kappa.

    ``sqrt_method`` defaults to the upper Cholesky factor (rows are the offsets), as filterpy;
    ``subtract`` computes x - y for states with angles.
    """

    def __init__(
        self,
        n: int,
        alpha: float,
        beta: float,
        kappa: float = 0.0,
        sqrt_method: Callable[[np.ndarray], np.ndarray] | None = None,
        subtract: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        if n < 1:
            raise ConfigurationError(f"MerweScaledSigmaPoints: n must be 1 or more, got {n}")
        if not alpha > 0:
            raise ConfigurationError(f"MerweScaledSigmaPoints: alpha must be > 0, got {alpha}")
        self.n, self.alpha, self.beta, self.kappa = n, alpha, beta, kappa
        self.sqrt = sqrt_method if sqrt_method is not None else _upper_cholesky
        self.subtract = subtract if subtract is not None else np.subtract
        lambda_ = alpha**2 * (n + kappa) - n
        c = 0.5 / (n + lambda_)
        self.Wc = np.full(2 * n + 1, c)
        self.Wm = np.full(2 * n + 1, c)
        self.Wc[0] = lambda_ / (n + lambda_) + (1 - alpha**2 + beta)
        self.Wm[0] = lambda_ / (n + lambda_)

    def num_sigmas(self) -> int:
        return 2 * self.n + 1

    def sigma_points(self, x: Any, P: Any) -> np.ndarray:
        """Sigma points as rows of a (2n+1, n) array."""
        n = self.n
        x = as_vector(x, n, "sigma_points: x")
        P = as_matrix(P, (n, n), "sigma_points: P", scalar_is_identity=True)
        lambda_ = self.alpha**2 * (n + self.kappa) - n
        U = self.sqrt((lambda_ + n) * P)
        sigmas = np.zeros((2 * n + 1, n))
        sigmas[0] = x
        for k in range(n):
            sigmas[k + 1] = self.subtract(x, -U[k])
            sigmas[n + k + 1] = self.subtract(x, U[k])
        return sigmas


def unscented_transform(
    sigmas: np.ndarray,
    Wm: np.ndarray,
    Wc: np.ndarray,
    noise_cov: np.ndarray | None = None,
    mean_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    residual_fn: Callable[[Any, Any], Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of weighted sigma points (rows), plus optional additive noise."""
    x = Wm @ sigmas if mean_fn is None else np.asarray(mean_fn(sigmas, Wm))
    if residual_fn is None or residual_fn is np.subtract:
        y = sigmas - x[np.newaxis, :]
    else:
        y = np.array([residual_fn(s, x) for s in sigmas])
    P = (y.T * Wc) @ y
    if noise_cov is not None:
        P = P + noise_cov
    return x, P


class UnscentedKalmanFilter(InnovationStatistics):
    """UKF for ``x' = fx(x, dt)``, ``z = hx(x)`` with sigma points from ``points``.

    Same constructor and attributes as filterpy's (``x`` is 1-D here too); ``predict(dt=None,
    UT=None, fx=None, **fx_args)`` and ``update(z, R=None, UT=None, hx=None, **hx_args)``.
    """

    def __init__(
        self,
        dim_x: int,
        dim_z: int,
        dt: float,
        hx: Callable[..., Any],
        fx: Callable[..., Any],
        points: MerweScaledSigmaPoints,
        sqrt_fn: Callable[[np.ndarray], np.ndarray] | None = None,
        x_mean_fn: Callable[..., Any] | None = None,
        z_mean_fn: Callable[..., Any] | None = None,
        residual_x: Callable[[Any, Any], Any] | None = None,
        residual_z: Callable[[Any, Any], Any] | None = None,
        state_add: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        self.x = np.zeros(dim_x)
        self.P = np.eye(dim_x)
        self.Q = np.eye(dim_x)
        self.R = np.eye(dim_z)
        self._dim_x, self._dim_z, self._dt = dim_x, dim_z, dt
        self.points_fn = points
        self._num_sigmas = points.num_sigmas()
        self.hx, self.fx = hx, fx
        self.x_mean, self.z_mean = x_mean_fn, z_mean_fn
        if sqrt_fn is not None:
            points.sqrt = sqrt_fn
        self.Wm, self.Wc = points.Wm, points.Wc
        self.residual_x = residual_x if residual_x is not None else np.subtract
        self.residual_z = residual_z if residual_z is not None else np.subtract
        self.state_add = state_add if state_add is not None else np.add
        self.sigmas_f = np.zeros((self._num_sigmas, dim_x))
        self.sigmas_h = np.zeros((self._num_sigmas, dim_z))
        self.K = np.zeros((dim_x, dim_z))
        self.y = np.zeros(dim_z)
        self.z = np.array([[None] * dim_z]).T
        self.S = np.zeros((dim_z, dim_z))
        self.log_likelihood = LOG_FLOAT_MIN
        self.nis = 0.0
        self.x_prior, self.P_prior = self.x.copy(), self.P.copy()
        self.x_post, self.P_post = self.x.copy(), self.P.copy()

    def compute_process_sigmas(self, dt: float | None = None, fx: Callable[..., Any] | None = None, **fx_args: Any) -> None:
        """Sigma points of (x, P) passed through fx into ``sigmas_f``."""
        dt = self._dt if dt is None else dt
        fx = self.fx if fx is None else fx
        sigmas = self.points_fn.sigma_points(self.x, self.P)
        for i, s in enumerate(sigmas):
            self.sigmas_f[i] = fx(s, dt, **fx_args)

    def predict(self, dt: float | None = None, UT: Callable[..., Any] | None = None, fx: Callable[..., Any] | None = None, **fx_args: Any) -> None:
        """Unscented prediction; afterwards ``sigmas_f`` holds sigma points of the prior."""
        UT = unscented_transform if UT is None else UT
        self.compute_process_sigmas(dt, fx, **fx_args)
        x, P = UT(self.sigmas_f, self.Wm, self.Wc, self.Q, self.x_mean, self.residual_x)
        self.x, self.P = np.asarray(x, dtype=float), 0.5 * (P + P.T)
        self.sigmas_f = self.points_fn.sigma_points(self.x, self.P)
        self.x_prior, self.P_prior = np.copy(self.x), np.copy(self.P)

    def update(self, z: Any, R: Any = None, UT: Callable[..., Any] | None = None, hx: Callable[..., Any] | None = None, **hx_args: Any) -> None:
        """Unscented update with measurement z (``None`` skips it)."""
        if z is None:
            self.z = np.array([[None] * self._dim_z]).T
            self.x_post, self.P_post = self.x.copy(), self.P.copy()
            return
        hx = self.hx if hx is None else hx
        UT = unscented_transform if UT is None else UT
        R = self.R if R is None else R
        R = as_matrix(R, (self._dim_z, self._dim_z), "UnscentedKalmanFilter.update: R", scalar_is_identity=True)
        z = as_vector(z, self._dim_z, "UnscentedKalmanFilter.update: z")
        check_finite(z, "UnscentedKalmanFilter.update")
        self.sigmas_h = np.atleast_2d([hx(s, **hx_args) for s in self.sigmas_f])
        zp, S = UT(self.sigmas_h, self.Wm, self.Wc, R, self.z_mean, self.residual_z)
        S = 0.5 * (S + S.T)
        Wc = self.Wc
        dx = np.array([self.residual_x(s, self.x) for s in self.sigmas_f])
        dz = np.array([self.residual_z(s, zp) for s in self.sigmas_h])
        Pxz = (dx.T * Wc) @ dz
        # K = Pxz S^-1 by Cholesky solve of S K^T = Pxz^T (S symmetric).
        KT, _ = _core.solve_spd(S, Pxz.T, "UnscentedKalmanFilter.update: innovation covariance S")
        K = KT.T
        y = np.asarray(self.residual_z(z, zp), dtype=float)
        self.x = np.asarray(self.state_add(self.x, K @ y), dtype=float)
        P = self.P - K @ S @ K.T
        self.P = 0.5 * (P + P.T)
        self.S, self.K, self.y = S, K, y
        self.log_likelihood, self.nis = gaussian_log_likelihood(y, S, "UnscentedKalmanFilter.update: S")
        self.z = np.copy(z)
        self.x_post, self.P_post = self.x.copy(), self.P.copy()
