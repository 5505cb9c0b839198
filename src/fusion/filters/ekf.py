"""Extended Kalman filter with filterpy's interface (``filterpy.kalman.ExtendedKalmanFilter``).

The measurement function and its Jacobian are Python callables, as in filterpy; the update
itself (Joseph form, Cholesky-solved gain) runs in the C++ core. For many filters with the
built-in motion and sensor models use :class:`~fusion.filters.ExtendedKalmanFilterBank`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fusion.errors import ShapeError
from fusion.filters._common import (
    LOG_FLOAT_MIN,
    FilterLock,
    InnovationStatistics,
    LockSlot,
    as_matrix,
    as_vector,
    check_assigned,
    check_result,
    check_state,
    external_assignment,
    joseph_update,
    locked_getstate,
    noise_for_update,
    shallow_copy,
)

__all__ = ["ExtendedKalmanFilter"]


class ExtendedKalmanFilter(InnovationStatistics):
    """EKF: ``x' = F x + B u`` for the prediction (override :meth:`predict_x` for a
    nonlinear f), ``z = h(x)`` linearised by the ``HJacobian`` callable for the update.

    Attributes match filterpy: ``x`` (dim_x, 1) (a 1-D ``x`` may be assigned and keeps its
    shape), ``P``, ``F``, ``Q``, ``R``, ``B``, ``y``, ``z``, ``S``, ``SI``, ``K``,
    ``x_prior``, ``P_prior``, ``x_post``, ``P_post``, ``log_likelihood``, ``likelihood``,
    ``mahalanobis``. Every step assigns new arrays, so a reference kept to ``kf.x`` or
    ``kf.P`` keeps its value; editing them in place before a step (``kf.P[2, 2] *= 10``)
    changes the filter, as in filterpy. Each predict/update first checks that x and P are
    finite (an in-place ``kf.P[0, 0] = np.nan``, or ``kf.P *= np.nan``, which edits the array
    before its assignment is refused): :class:`~fusion.errors.NumericalError` naming
    ``ExtendedKalmanFilter.P``, filter unchanged, until a valid P is assigned.

    Noise follows filterpy exactly: a scalar ``Q`` is added to every element of
    ``F P F^T``; a scalar stored ``R`` is added to every element of ``H P H^T`` and enters
    the Joseph term as ``r K K^T``; a scalar ``R`` *argument* to :meth:`update` means r I.

    Differences from filterpy: the update is the Joseph form with a Cholesky-solved gain; a
    non-finite z or an S that is not positive definite raises
    :class:`~fusion.errors.NumericalError` and leaves the state unchanged; wrong shapes raise
    :class:`~fusion.errors.ShapeError`; P is re-symmetrised after each step; ``SI`` is
    computed on request; :meth:`predict_update` is :meth:`predict` followed by
    :meth:`update` (filterpy's evaluates H and ``x_prior`` at the state before the
    prediction) and accepts ``z=None``.

    Threads: calls on one object are serialised (each public mutating call holds a
    per-object re-entrant lock), so concurrent calls never interleave silently; their order
    is whichever thread gets the lock first. The lock is not shared by copies or pickles.
    """

    _lock = LockSlot()
    __copy__ = shallow_copy
    __getstate__ = locked_getstate

    _CHECKED = {"x": "vector", "P": "covariance", "Q": "covariance", "R": "covariance", "F": "matrix"}

    def __setattr__(self, name: str, value: Any) -> None:
        """``x``, ``P``, ``Q``, ``R``, ``F`` assigned by the user are checked (a typed error naming
        the attribute; the filter keeps its value): see :func:`fusion.filters._common.check_assigned`."""
        kind = self._CHECKED.get(name)
        if kind is not None and "dim_x" in self.__dict__ and external_assignment():
            rows = self.dim_z if name == "R" else self.dim_x
            check_assigned(type(self).__name__, name, value, kind, rows, self.dim_x)
        super().__setattr__(name, value)

    def __init__(self, dim_x: int, dim_z: int, dim_u: int = 0) -> None:
        self._lock = FilterLock()
        self.dim_x, self.dim_z, self.dim_u = dim_x, dim_z, dim_u
        self.x = np.zeros((dim_x, 1))
        self.P = np.eye(dim_x)
        self.B: Any = 0
        self.F = np.eye(dim_x)
        self.R: Any = np.eye(dim_z)
        self.Q: Any = np.eye(dim_x)
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
        with self._lock:
            check_state("ExtendedKalmanFilter", self.x, self.P)
            x_before = self.x
            try:  # a failed predict changes nothing: x is put back if predict_x ran
                self.predict_x(u)
                if np.size(self.x) != self.dim_x:  # e.g. B u broadcast against a column x
                    raise ShapeError(
                        f"ExtendedKalmanFilter.predict: predict_x made x of shape {np.shape(self.x)} "
                        f"from {np.shape(x_before)} (check B and u)"
                    )
                # F and Q are read after predict_x, as filterpy does: a predict_x that sets a
                # state-dependent F or Q takes effect in this step
                Q = self.Q
                shape = Q.shape if type(Q) is np.ndarray else np.shape(Q)
                if shape != (self.dim_x, self.dim_x) and shape != ():
                    raise ShapeError(
                        f"ExtendedKalmanFilter.predict: Q must be a scalar or of shape ({self.dim_x}, {self.dim_x}), "
                        f"but got {shape}"
                    )
                with np.errstate(over="ignore", invalid="ignore"):  # an overflow is checked below
                    P = self.F @ self.P @ self.F.T + Q
                P = 0.5 * P + 0.5 * P.T  # (not 0.5 * (P + P.T): P + P.T overflows for P near 1e308)
                check_result("ExtendedKalmanFilter", "predict", self.x, P)
            except BaseException:
                self.x = x_before
                raise
            self.P = P
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
        update. ``R`` overrides ``self.R`` for this call (a scalar means r I). Raises
        :class:`~fusion.errors.NumericalError` for a non-finite z or an S that is not positive
        definite, leaving x and P unchanged.
        """
        with self._lock:
            check_state("ExtendedKalmanFilter", self.x, self.P)
            if z is None:
                self.z = np.full((self.dim_z, 1), None)
                self.x_post, self.P_post = self.x.copy(), self.P.copy()
                return
            if not isinstance(args, tuple):
                args = (args,)
            if not isinstance(hx_args, tuple):
                hx_args = (hx_args,)
            what = "ExtendedKalmanFilter.update"
            if R is None:
                R_S, R_J = noise_for_update(self.R, self.dim_z, what)
            else:
                R_S, R_J = as_matrix(R, (self.dim_z, self.dim_z), f"{what}: R", scalar_is_identity=True), None
            if self.dim_z == 1 and np.isscalar(z):
                z = np.asarray([z], float)
            # (a non-finite z gives a non-finite residual, which the C++ update rejects)
            H = as_matrix(HJacobian(self.x, *args), (self.dim_z, self.dim_x), f"{what}: HJacobian(x)")
            y = residual(z, Hx(self.x, *hx_args))
            yv = as_vector(y, self.dim_z, f"{what}: residual(z, Hx(x))")
            x, P, S, K, nis, ll = joseph_update(self.x.reshape(-1), self.P, yv, H, R_S, R_J, what)
            self.x = x.reshape(self.x.shape)
            self.P, self.S, self.K = P, S, K
            self.y = np.array(y, dtype=float)
            self.nis, self.log_likelihood = nis, ll
            self.z = np.array(z, dtype=float)
            self.x_post, self.P_post = self.x.copy(), self.P.copy()

    def predict_update(
        self,
        z: Any,
        HJacobian: Callable[..., Any],
        Hx: Callable[..., Any],
        args: Any = (),
        hx_args: Any = (),
        u: Any = 0,
    ) -> None:
        """Predict then update in one call (filterpy's predict_update; see the class notes)."""
        with self._lock:
            saved = dict(self.__dict__)  # every step assigns new arrays: a shallow snapshot restores
            try:
                self.predict(u)
                self.update(z, HJacobian, Hx, args=args, hx_args=hx_args)
            except BaseException:  # a failed update must not leave the prediction applied
                self.__dict__.clear()
                self.__dict__.update(saved)
                raise

    def __repr__(self) -> str:
        return (
            f"ExtendedKalmanFilter(dim_x={self.dim_x}, dim_z={self.dim_z}, dim_u={self.dim_u})\n"
            f"x = {np.array2string(np.ravel(self.x), precision=4)}\n"
            f"P diag = {np.array2string(np.diag(np.atleast_2d(self.P)), precision=4)}"
        )
