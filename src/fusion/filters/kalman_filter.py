"""Linear Kalman filter with filterpy's interface and a C++ engine.

``fusion.filters.KalmanFilter`` is a drop-in for ``filterpy.kalman.KalmanFilter``: same
constructor, attributes, methods and Python semantics, so code written for filterpy switches
by changing one import (filterpy's own test suite runs against it: ``tests/peers``).

Semantics, as filterpy's:

- **Values**: each step makes new ``x, P, x_prior, P_prior, x_post, P_post, y, S, K, z``;
  an array kept from before a step (``xs.append(kf.x)``, ``filterpy.common.Saver``) keeps
  its value. In-place edits of the current state (``kf.P[2:, 2:] *= 10``, ``kf.x[:2] = z``)
  take effect at the next step.
- **References**: an assigned model matrix is kept as the object itself (``kf.F = Fm``; a
  later edit of ``Fm`` reaches the filter; ``b.F = a.F`` shares it). Lists and non-float64
  arrays are converted to a new float64 array on assignment.
- **Scalars**: ``kf.Q = q`` and ``kf.R = r`` stay scalars and broadcast into every element
  (``P = F P F^T + q`` adds q everywhere); a scalar ``Q``/``R`` *argument* to
  ``predict``/``update`` means ``q * I``; a scalar ``P`` means ``p * I``.
- ``copy.copy`` is shallow (the copy shares the array objects), ``copy.deepcopy`` and
  pickling are deep; an unpickled state is validated against the dimensions.

Deliberate differences:

- the update is always the Joseph form with a Cholesky-solved gain (filterpy inverts S with
  ``self.inv``; the attribute exists but the update does not call it);
- assigning an array of the wrong shape raises :class:`~fusion.errors.ShapeError` naming the
  attribute and both shapes, where filterpy would fail later or silently broadcast;
- a non-finite measurement, or an S that is not positive definite, raises
  :class:`~fusion.errors.NumericalError` and leaves the filter unchanged (filterpy raises
  ``LinAlgError`` or propagates NaN);
- ``P`` is re-symmetrised after each step (differences at round-off level, 1e-16 relative);
- an assigned ``P`` (``kf.P = ...``) and ``Q`` before a predict are checked in O(n^2): a
  negative or NaN diagonal entry or an asymmetric pair (to a relative 1e-8) raises
  :class:`~fusion.errors.NumericalError` naming the matrix and the entry, and the filter is
  unchanged (filterpy propagates such a covariance silently). An indefinite matrix with a
  non-negative diagonal, an in-place edit (``kf.P[0, 0] = -1``) and the ``P`` a step produced
  are not checked, as filterpy does not (its own test_MMAE2 relies on that);
- every step (``predict``, ``update``, also with ``z=None``, and the step methods written in
  Python) starts from a finite state: an ``x`` or ``P`` holding NaN or infinity (an in-place
  edit ``kf.P[0, 0] = np.nan``, or the array ``kf.P *= np.nan`` edited before its assignment
  was refused) raises :class:`~fusion.errors.NumericalError` "KalmanFilter.P contains NaN or
  infinity (edited in place?); assign a valid P" and the filter is unchanged; every step raises
  until a valid value is assigned (O(n^2) finiteness only; copying and pickling do not check).

Threads: ``predict``, ``update``, each attribute read or assignment, copying and pickling
are atomic (C++ with the GIL held); the methods written in Python here (``update_sequential``,
``update_correlated``, the steady-state methods, ``batch_filter``, ``get_prediction``,
``get_update``) are sequences of those calls and are not, nor is a predict/update sequence:
give each thread its own filter, or hold your own lock around them (``docs/threading.md``).
"""

from __future__ import annotations

import copy as _copy
import math
import sys
from typing import Any, Sequence

import numpy as np

from fusion import _core
from fusion.errors import NumericalError, ShapeError
from fusion.filters._common import InnovationStatistics, as_integer, check_bank_size, check_state

__all__ = ["KalmanFilter"]

_LOG_FLOAT_MIN = math.log(sys.float_info.min)


def _column(z: Any, dim_z: int, ndim: int, what: str) -> np.ndarray:
    """z as filterpy's reshape_z does: a (dim_z, 1) column, or (dim_z,) when x is 1-D."""
    a = np.atleast_2d(np.asarray(z, dtype=float))
    if a.ndim == 2 and a.shape[1] == dim_z and a.shape[0] == 1:
        a = a.T
    if a.shape != (dim_z, 1):
        raise ShapeError(f"{what}: z of shape {np.shape(z)} is not convertible to ({dim_z}, 1)")
    return a[:, 0] if ndim == 1 else a


def _gaussian_stats(y: np.ndarray, S: np.ndarray, what: str) -> tuple[float, float]:
    """(y^T S^-1 y, log N(y; 0, S)) by Cholesky."""
    yv = np.asarray(y, dtype=float).reshape(-1, 1)
    sol, logdet = _core.solve_spd(np.asarray(S, dtype=float), yv, what)
    nis = float(yv[:, 0] @ sol[:, 0])
    return nis, -0.5 * (nis + logdet + yv.shape[0] * math.log(2.0 * math.pi))


class KalmanFilter(InnovationStatistics, _core.KalmanFilter):
    """Kalman filter for a linear system ``x' = F x + B u + w``, ``z = H x + v``.

    Parameters
    ----------
    dim_x : int
        Number of state variables.
    dim_z : int
        Number of measurement inputs.
    dim_u : int, optional
        Size of the control input (0: no control).

    Matrices start as filterpy's do: ``x`` zeros (dim_x, 1), ``P``, ``F``, ``Q``, ``R``
    identity, ``H`` zeros, ``B`` None, ``M`` zeros (dim_x, dim_z), ``z`` a column of None.
    """

    #: filterpy's matrix inverse hook; kept for compatibility (the update solves by Cholesky).
    inv = staticmethod(np.linalg.inv)

    def __init__(self, dim_x: int, dim_z: int, dim_u: int = 0) -> None:
        # integers whose matrices fit in memory: a string gave pybind11's signature dump, 2**40
        # a std::bad_alloc (the C++ side checks the lower bounds)
        n = max(as_integer(dim_x, "KalmanFilter: dim_x"), as_integer(dim_z, "KalmanFilter: dim_z"),
                as_integer(dim_u, "KalmanFilter: dim_u"))
        check_bank_size(n, 8 * 16 * max(n, 1), "KalmanFilter: the largest of dim_x, dim_z, dim_u", "rows")
        if _core.KalmanFilter._constructed(self):
            # kf.__init__(...) again re-initialises the filter, as filterpy's does (pybind11
            # would silently ignore a second construction)
            self._reinit(dim_x, dim_z, dim_u)
        else:
            super().__init__(dim_x, dim_z, dim_u)
        self.M = np.zeros((dim_x, dim_z))  # process-measurement cross-correlation (update_correlated)

    def __setstate__(self, state: Any) -> None:
        """Unpickling; on a live filter (``kf.__setstate__(other.__getstate__())``) it
        replaces the whole state (pybind11 alone would silently ignore it)."""
        if _core.KalmanFilter._constructed(self):
            self._restore(state)
        else:
            _core.KalmanFilter.__setstate__(self, state)

    # ------------------------------------------------------------ innovation statistics
    @property
    def log_likelihood(self) -> float:
        """log N(y; 0, S) of the last update (log of the smallest float before any)."""
        return float(self._log_likelihood)

    @property
    def nis(self) -> float:
        """Normalised innovation squared y^T S^-1 y of the last update."""
        return float(self._nis)

    def _set_innovation_stats(self, what: str) -> None:
        try:
            self._nis, self._log_likelihood = _gaussian_stats(self.y, self.S, what)
        except NumericalError:
            self._nis, self._log_likelihood = math.nan, _LOG_FLOAT_MIN

    # ------------------------------------------------------------ more of filterpy's API
    def _x_column(self) -> np.ndarray:
        return np.asarray(self.x, dtype=float).reshape(self.dim_x, 1)

    def _shaped(self, v: np.ndarray) -> np.ndarray:
        """A (n, 1) result shaped like x."""
        return v.reshape(-1) if self._x_ndim == 1 else v.reshape(-1, 1)

    def predict_steadystate(self, u: Any = 0, B: Any = None) -> None:
        """Predict with the steady-state gain: x = F x + B u, P unchanged (filterpy's)."""
        check_state("KalmanFilter", self.x, self.P)
        if B is None:
            B = self.B
        x = np.asarray(self.F, dtype=float) @ self._x_column()
        if B is not None and not (np.ndim(u) == 0 and u == 0):
            x = x + (np.atleast_2d(np.asarray(B, dtype=float)).reshape(self.dim_x, -1) @ np.asarray(u, dtype=float).reshape(-1, 1))
        self.x = self._shaped(x)
        self.x_prior = np.copy(self.x)
        self.P_prior = np.copy(self.P)

    def update_steadystate(self, z: Any) -> None:
        """Update with the fixed gain ``K`` (set from a converged run); P is not changed."""
        check_state("KalmanFilter", self.x, self.P)
        if z is None:
            self._skip_update()
            return
        zc = _column(z, self.dim_z, self._x_ndim, "KalmanFilter.update_steadystate")
        if not np.all(np.isfinite(zc)):
            raise NumericalError(f"KalmanFilter.update_steadystate: non-finite measurement z = {zc.ravel()}")
        y = zc - self._shaped(np.asarray(self.H, dtype=float) @ self._x_column())
        self.x = self._shaped(self._x_column() + np.asarray(self.K, dtype=float) @ y.reshape(-1, 1))
        self.y = y
        self.z = np.copy(zc)
        self.x_post = np.copy(self.x)
        self.P_post = np.copy(self.P)
        self._set_innovation_stats("KalmanFilter.update_steadystate: S")

    def _skip_update(self) -> None:
        self.update(None)

    def update_correlated(self, z: Any, R: Any = None, H: Any = None) -> None:
        """Update when process and measurement noise are correlated by ``self.M``.

        S = H P H^T + H M + M^T H^T + R, K = (P H^T + M) S^-1 (solved by Cholesky),
        P = P - K (H P + M^T) (filterpy's form, Bulut 2011).
        """
        check_state("KalmanFilter", self.x, self.P)
        if z is None:
            self._skip_update()
            return
        if R is None:
            R = self.R
        elif np.isscalar(R):
            R = np.eye(self.dim_z) * R
        H = self.H if H is None else H
        Hm = np.asarray(H, dtype=float)
        m = Hm.shape[0] if Hm.ndim == 2 else 1
        if m != self.dim_z or Hm.size != m * self.dim_x:
            # (checked first: y, S and K are stored with dim_z rows, so a taller H used to
            # fail after x and P were already replaced)
            raise ShapeError(f"KalmanFilter.update_correlated: H must have shape ({self.dim_z}, {self.dim_x}), but got {Hm.shape}")
        Hm = Hm.reshape(m, self.dim_x)
        zc = _column(z, m, self._x_ndim, "KalmanFilter.update_correlated")
        if not np.all(np.isfinite(zc)):
            raise NumericalError(f"KalmanFilter.update_correlated: non-finite measurement z = {zc.ravel()}")
        M = np.asarray(self.M, dtype=float)
        if M.shape != (self.dim_x, m):
            raise ShapeError(f"KalmanFilter.M: expected shape ({self.dim_x}, {m}), but got {M.shape}")
        P = np.asarray(self.P, dtype=float) * (np.eye(self.dim_x) if np.ndim(self.P) == 0 else 1.0)
        x = self._x_column()
        y = zc.reshape(-1, 1) - Hm @ x
        PHT = P @ Hm.T
        S = Hm @ PHT + Hm @ M + M.T @ Hm.T + np.asarray(R, dtype=float)
        KT, _ = _core.solve_spd(0.5 * (S + S.T), (PHT + M).T, "KalmanFilter.update_correlated: S")
        K = KT.T
        Pn = P - K @ (Hm @ P + M.T)
        self.x = self._shaped(x + K @ y)
        self.P = 0.5 * (Pn + Pn.T)
        self.y = self._shaped(y)
        self.S = S
        self.K = K
        self.z = np.copy(zc)
        self.x_post = np.copy(self.x)
        self.P_post = np.copy(self.P)
        self._set_innovation_stats("KalmanFilter.update_correlated: S")

    def update_sequential(self, start: int, z_i: Any, R_i: Any = None, H_i: Any = None) -> None:
        """Update with measurement components ``start:start+len(z_i)`` only (sequential
        processing); ``y``, ``K`` and ``z`` are filled in for those components."""
        check_state("KalmanFilter", self.x, self.P)
        z_i = np.reshape(np.asarray(z_i, dtype=float), (-1, 1))
        length = z_i.shape[0]
        stop = start + length
        if start < 0 or stop > self.dim_z:
            raise ShapeError(f"KalmanFilter.update_sequential: components {start}:{stop} outside 0:{self.dim_z}")
        if not np.all(np.isfinite(z_i)):
            raise NumericalError(f"KalmanFilter.update_sequential: non-finite measurement z_i = {z_i.ravel()}")
        if R_i is None:
            R_i = np.asarray(self.R, dtype=float)
            R_i = R_i[start:stop, start:stop] if R_i.ndim == 2 else np.full((length, length), float(R_i))
        elif np.isscalar(R_i):
            R_i = np.eye(length) * R_i
        R_i = np.asarray(R_i, dtype=float)
        H_i = np.asarray(self.H, dtype=float)[start:stop] if H_i is None else np.asarray(H_i, dtype=float)
        if R_i.size != length * length or H_i.size != length * self.dim_x:
            raise ShapeError(f"KalmanFilter.update_sequential: R_i of shape {R_i.shape} and H_i of shape {H_i.shape} "
                             f"do not fit {length} measurement(s) and dim_x = {self.dim_x}")
        R_i = R_i.reshape(length, length)
        H_i = H_i.reshape(length, self.dim_x)
        P = np.asarray(self.P, dtype=float) * (np.eye(self.dim_x) if np.ndim(self.P) == 0 else 1.0)
        x = self._x_column()
        y_i = z_i - H_i @ x
        PHT = P @ H_i.T
        S_i = H_i @ PHT + R_i
        KT, _ = _core.solve_spd(0.5 * (S_i + S_i.T), PHT.T, "KalmanFilter.update_sequential: S_i")
        K_i = KT.T
        # y, K and z are filled in place for these components, as filterpy does.
        y = np.array(self.y, dtype=float).reshape(self.dim_z, 1)
        y[start:stop] = y_i
        self.y = self._shaped(y)
        K = np.array(self.K, dtype=float).reshape(self.dim_x, self.dim_z)
        K[:, start:stop] = K_i
        self.K = K
        I_KH = np.eye(self.dim_x) - K_i @ H_i
        Pn = I_KH @ P @ I_KH.T + K_i @ R_i @ K_i.T
        self.x = self._shaped(x + K_i @ y_i)
        self.P = 0.5 * (Pn + Pn.T)
        z = np.asarray(self.z)
        z = np.array(z, dtype=object if z.dtype == object else float).reshape(self.dim_z, 1)
        z[start:stop] = z_i
        self.z = z
        self.x_post = np.copy(self.x)
        self.P_post = np.copy(self.P)

    def get_prediction(self, u: Any = None, B: Any = None, F: Any = None, Q: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Predicted (x, P) without changing the filter (same arguments as :meth:`predict`)."""
        trial = _copy.deepcopy(self)
        trial.predict(u=u, B=B, F=F, Q=Q)
        return trial.x, trial.P

    def get_update(self, z: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Updated (x, P) for measurement z without changing the filter."""
        if z is None:
            return self.x, self.P
        trial = _copy.deepcopy(self)
        trial.update(z)
        return trial.x, trial.P

    def residual_of(self, z: Any) -> np.ndarray:
        """z - H x_prior (filterpy's definition), shaped like x's measurements."""
        zc = _column(z, self.dim_z, self._x_ndim, "KalmanFilter.residual_of")
        x = np.asarray(self.x_prior, dtype=float).reshape(self.dim_x, 1)
        return zc - self._shaped(np.asarray(self.H, dtype=float) @ x)

    def measurement_of_state(self, x: Any) -> np.ndarray:
        """H x."""
        return np.dot(self.H, x)

    def log_likelihood_of(self, z: Any) -> float:
        """log N(z; H x, S) with the current x and the last update's S (call after update)."""
        if z is None:
            return _LOG_FLOAT_MIN
        zc = _column(z, self.dim_z, 2, "KalmanFilter.log_likelihood_of").reshape(-1)
        hx = (np.asarray(self.H, dtype=float) @ self._x_column()).reshape(-1)
        return _gaussian_stats(zc - hx, self.S, "KalmanFilter.log_likelihood_of: S")[1]

    def test_matrix_dimensions(self, z: Any = None, H: Any = None, R: Any = None, F: Any = None, Q: Any = None) -> None:
        """Raise :class:`~fusion.errors.ShapeError` (a ValueError; filterpy raises
        AssertionError) naming the first matrix whose shape does not fit the others."""
        H = self.H if H is None else H
        R = self.R if R is None else R
        F = self.F if F is None else F
        Q = self.Q if Q is None else Q
        n = self.dim_x
        x = np.asarray(self.x)
        if x.shape not in ((n,), (n, 1)):
            raise ShapeError(f"x: expected shape ({n}, 1) or ({n},), but got {x.shape}")
        for name, a in (("P", self.P), ("F", F)):
            if np.shape(a) != (n, n):
                raise ShapeError(f"{name}: expected shape ({n}, {n}), but got {np.shape(a)}")
        if np.ndim(Q) != 0 and np.shape(Q) != (n, n):
            raise ShapeError(f"Q: expected shape ({n}, {n}) or a scalar, but got {np.shape(Q)}")
        if np.ndim(H) != 2 or np.shape(H)[1] != n:
            raise ShapeError(f"H: expected shape (dim_z, {n}), but got {np.shape(H)}")
        m = np.shape(H)[0]
        if m == 1:
            if np.shape(R) not in ((), (1,), (1, 1)):
                raise ShapeError(f"R: expected a scalar or a one-element array, but got {np.shape(R)}")
        elif np.shape(R) != (m, m):
            raise ShapeError(f"R: expected shape ({m}, {m}), but got {np.shape(R)}")
        if z is not None:
            try:
                _column(z, m, x.ndim, "z")
            except ShapeError:
                raise ShapeError(f"z: shape {np.shape(z)} does not fit H of shape {np.shape(H)}") from None

    def batch_filter(
        self,
        zs: Sequence[Any],
        Fs: Sequence[Any] | None = None,
        Qs: Sequence[Any] | None = None,
        Hs: Sequence[Any] | None = None,
        Rs: Sequence[Any] | None = None,
        Bs: Sequence[Any] | None = None,
        us: Sequence[Any] | None = None,
        update_first: bool = False,
        saver: Any = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Filter a whole sequence of measurements (``None`` entries only predict).

        Returns ``(means, covariances, means_predicted, covariances_predicted)`` with shapes
        ``(n, dim_x, 1)`` (or ``(n, dim_x)`` when x is 1-D) and ``(n, dim_x, dim_x)``. As in
        filterpy, a missing ``Qs``/``Rs`` passes ``self.Q``/``self.R`` to every step as an
        argument (so a scalar there means ``q * I``).
        """
        n = len(zs)
        per_step = {"Fs": Fs, "Qs": Qs, "Hs": Hs, "Rs": Rs, "Bs": Bs, "us": us}
        for name, seq in per_step.items():
            if seq is not None and len(seq) != n:
                raise ShapeError(f"batch_filter: {name} has {len(seq)} entries, expected {n} (one per z)")
        Fs = [self.F] * n if Fs is None else Fs
        Qs = [self.Q] * n if Qs is None else Qs
        Hs = [self.H] * n if Hs is None else Hs
        Rs = [self.R] * n if Rs is None else Rs
        Bs = [self.B] * n if Bs is None else Bs
        us = [0] * n if us is None else us
        shape = (n, self.dim_x) if self._x_ndim == 1 else (n, self.dim_x, 1)
        means, means_p = np.zeros(shape), np.zeros(shape)
        covs = np.zeros((n, self.dim_x, self.dim_x))
        covs_p = np.zeros((n, self.dim_x, self.dim_x))

        def predict(i: int) -> None:
            u = us[i]
            if u is not None and Bs[i] is not None and np.ndim(u) == 0 and u == 0:
                u = None  # B u = 0: skip, so a multi-column B needs no u of its width
            self.predict(u=u, B=Bs[i], F=Fs[i], Q=Qs[i])
            means_p[i] = self.x
            covs_p[i] = self.P

        def update(i: int) -> None:
            self.update(zs[i], R=Rs[i], H=Hs[i])
            means[i] = self.x
            covs[i] = self.P

        for i in range(n):
            if update_first:
                update(i)
                predict(i)
            else:
                predict(i)
                update(i)
            if saver is not None:
                saver.save()
        return means, covs, means_p, covs_p

    def rts_smoother(
        self,
        Xs: np.ndarray,
        Ps: np.ndarray,
        Fs: Sequence[Any] | None = None,
        Qs: Sequence[Any] | None = None,
        inv: Any = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rauch-Tung-Striebel smoother over the output of :meth:`batch_filter`.

        Returns ``(x, P, K, Pp)``: smoothed means (shaped like ``Xs``), covariances, smoother
        gains and predicted covariances. ``inv`` is accepted for filterpy compatibility and
        ignored: the gain is computed with a Cholesky solve.
        """
        Xs = np.asarray(Xs, dtype=float)
        Ps = np.asarray(Ps, dtype=float)
        n = Xs.shape[0]
        if Xs.ndim not in (2, 3) or Xs.shape[1] != self.dim_x:
            raise ShapeError(f"rts_smoother: Xs must be (n, {self.dim_x}) or (n, {self.dim_x}, 1), got {Xs.shape}")
        if Ps.shape != (n, self.dim_x, self.dim_x):
            raise ShapeError(f"rts_smoother: Ps must be ({n}, {self.dim_x}, {self.dim_x}), got {Ps.shape}")
        Q = self.Q if np.ndim(self.Q) == 2 else np.full((self.dim_x, self.dim_x), float(self.Q))
        Fa = np.broadcast_to(np.asarray(self.F, dtype=float), Ps.shape) if Fs is None else np.asarray(Fs, dtype=float)
        Qa = np.broadcast_to(np.asarray(Q, dtype=float), Ps.shape) if Qs is None else np.asarray(Qs, dtype=float)
        x, P, K, Pp = _core.rts_smooth(Xs.reshape(n, self.dim_x), Ps, np.ascontiguousarray(Fa), np.ascontiguousarray(Qa))
        if n > 0:
            Pp[-1] = Ps[-1]  # as filterpy: no prediction past the last step, Pp[-1] = Ps[-1]
        return x.reshape(Xs.shape), P, K, Pp

    # ------------------------------------------------------------ copying
    def __copy__(self) -> "KalmanFilter":
        """Shallow copy, as filterpy's: the copy shares the current array objects."""
        new = type(self).__new__(type(self))
        _core.KalmanFilter.__init__(new, self.dim_x, self.dim_z, self.dim_u)
        new._share_from(self)
        new.__dict__.update(self.__dict__)
        return new

    def __repr__(self) -> str:
        return (
            f"KalmanFilter(dim_x={self.dim_x}, dim_z={self.dim_z}, dim_u={self.dim_u})\n"
            f"x = {np.array2string(np.asarray(self.x).ravel(), precision=4)}\n"
            f"P diag = {np.array2string(np.diag(np.atleast_2d(self.P)), precision=4)}"
        )
