"""Extended Kalman filter with filterpy's interface (``filterpy.kalman.ExtendedKalmanFilter``).

The measurement function and its Jacobian are Python callables, as in filterpy; the update
itself (Joseph form, Cholesky-solved gain) runs in the C++ core. For many filters with the
built-in motion and sensor models use :class:`~fusion.filters.ExtendedKalmanFilterBank`.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from fusion import _core
from fusion.filters._common import LOG_FLOAT_MIN, InnovationStatistics, as_matrix, as_vector

__all__ = ["ExtendedKalmanFilter"]


class ExtendedKalmanFilter(InnovationStatistics):
    """EKF: ``x' = F x + B u`` for the prediction (override :meth:`predict_x` for a
    nonlinear f), ``z = h(x)`` linearised by the ``HJacobian`` callable for the update.

    Attributes match filterpy: ``x`` (dim_x, 1), ``P``, ``F``, ``Q``, ``R``, ``B``, ``y``,
    ``S``, ``K``, ``x_prior``, ``P_prior``, ``x_post``, ``P_post``, ``log_likelihood``,
    ``likelihood``, ``mahalanobis``.
    """

    def __init__(self, dim_x: int, dim_z: int, dim_u: int = 0) -> None:
        self.dim_x, self.dim_z, self.dim_u = dim_x, dim_z, dim_u
        self.x = np.zeros((dim_x, 1))
        self.P = np.eye(dim_x)
        self.B: Any = 0
        self.F = np.eye(dim_x)
        self.R = np.eye(dim_z)
        self.Q = np.eye(dim_x)
        self.y = np.zeros((dim_z, 1))
        self.z = np.full((dim_z, 1), None)
        self.K = np.zeros((dim_x, dim_z))
        self.S = np.zeros((dim_z, dim_z))
        self.log_likelihood = LOG_FLOAT_MIN
        self.nis = 0.0
        self.x_prior, self.P_prior = self.x.copy(), self.P.copy()
        self.x_post, self.P_post = self.x.copy(), self.P.copy()

    def predict_x(self, u: Any = 0) -> None:
        """x = F x + B u. Override for a nonlinear state transition."""
        self.x = self.F @ self.x + np.dot(self.B, u)

    def predict(self, u: Any = 0) -> None:
        """Predict: :meth:`predict_x`, then P = F P F^T + Q."""
        self.predict_x(u)
        P = self.F @ self.P @ self.F.T + self.Q
        self.P = 0.5 * (P + P.T)
        self.x_prior, self.P_prior = np.copy(self.x), np.copy(self.P)

    def update(
        self,
        z: Any,
        HJacobian: Callable[..., Any],
        Hx: Callable[..., Any],
        R: Any = None,
        args: Any = (),
        hx_args: Any = (),
        residual: Callable[[Any, Any], Any] = np.subtract,
    ) -> None:
        """Update with measurement z; ``HJacobian(x, *args)`` gives H, ``Hx(x, *hx_args)`` h(x).

        ``residual(z, h(x))`` computes the innovation (wrap angles there). ``z=None`` skips the
        update. Raises :class:`~fusion.errors.NumericalError` for a non-finite z or an S that
        is not positive definite, leaving x and P unchanged.
        """
        if z is None:
            self.z = np.full((self.dim_z, 1), None)
            self.x_post, self.P_post = self.x.copy(), self.P.copy()
            return
        if not isinstance(args, tuple):
            args = (args,)
        if not isinstance(hx_args, tuple):
            hx_args = (hx_args,)
        if R is None:
            R = self.R
        R = as_matrix(R, (self.dim_z, self.dim_z), "ExtendedKalmanFilter.update: R", scalar_is_identity=True)
        if np.isscalar(z) and self.dim_z == 1:
            z = np.asarray([z], float)
        H = as_matrix(HJacobian(self.x, *args), (self.dim_z, self.dim_x), "ExtendedKalmanFilter.update: HJacobian(x)")
        y = residual(z, Hx(self.x, *hx_args))
        yv = as_vector(y, self.dim_z, "ExtendedKalmanFilter.update: residual(z, Hx(x))")
        x, P, S, K, nis, ll = _core.kalman_update(self.x.reshape(-1), self.P, yv, H, R)
        self.x = x.reshape(self.x.shape)
        self.P, self.S, self.K = P, S, K
        self.y = np.asarray(y)
        self.nis, self.log_likelihood = nis, ll
        self.z = np.copy(z)
        self.x_post, self.P_post = self.x.copy(), self.P.copy()

    def predict_update(
        self, z: Any, HJacobian: Callable[..., Any], Hx: Callable[..., Any], args: Any = (), hx_args: Any = (), u: Any = 0
    ) -> None:
        """Predict then update in one call (filterpy's predict_update)."""
        self.predict(u)
        self.update(z, HJacobian, Hx, args=args, hx_args=hx_args)
