"""Linear Kalman filter with filterpy's interface and a C++ engine.

``fusion.filters.KalmanFilter`` behaves like ``filterpy.kalman.KalmanFilter`` for the surface
that tracking code uses (``x, P, F, Q, H, R, B``, ``predict``, ``update``, the prior and
posterior copies, ``y, S, K``, ``log_likelihood, likelihood, mahalanobis``,
``batch_filter``, ``rts_smoother``), so SORT- or AB3DMOT-style code switches by changing
one import. Differences, all deliberate:

- the update is always the Joseph form with a Cholesky-solved gain (filterpy inverts S);
- assigning an array of the wrong shape raises :class:`~fusion.errors.ShapeError` naming the
  attribute, where filterpy would fail later (or silently broadcast);
- a non-finite measurement, or an S that is not positive definite, raises
  :class:`~fusion.errors.NumericalError` and leaves the state untouched.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from fusion import _core
from fusion.errors import ShapeError
from fusion.filters._common import InnovationStatistics

__all__ = ["KalmanFilter"]


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

    Matrices start as filterpy's do: ``x`` zeros, ``P``, ``F``, ``Q``, ``R`` identity,
    ``H`` zeros. Every attribute reads as a numpy view of the filter's own storage, so
    ``kf.P *= 10`` or ``kf.x[:2] = z`` change the filter in place.
    """

    def __init__(self, dim_x: int, dim_z: int, dim_u: int = 0) -> None:
        super().__init__(dim_x, dim_z, dim_u)

    def get_prediction(self, u: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Predicted (x, P) without changing the filter."""
        x = self.F @ self.x
        if u is not None and self.B is not None:
            x = x + (self.B @ np.asarray(u, dtype=float).reshape(-1)).reshape(x.shape)
        P = self.alpha**2 * (self.F @ self.P @ self.F.T) + self.Q
        return x, P

    def residual_of(self, z: Any) -> np.ndarray:
        """z - H x for the current state."""
        return np.reshape(z, (self.dim_z, 1)) - self.H @ np.reshape(self.x, (self.dim_x, 1))

    def measurement_of_state(self, x: Any) -> np.ndarray:
        """H x."""
        return self.H @ x

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
        ``(n, dim_x, 1)`` (or ``(n, dim_x)`` when x is 1-D) and ``(n, dim_x, dim_x)``.
        """
        n = len(zs)
        per_step = {"Fs": Fs, "Qs": Qs, "Hs": Hs, "Rs": Rs, "Bs": Bs, "us": us}
        for name, seq in per_step.items():
            if seq is not None and len(seq) != n:
                raise ShapeError(f"batch_filter: {name} has {len(seq)} entries, expected {n} (one per z)")
        x_shape = self.x.shape
        means = np.zeros((n,) + x_shape)
        means_p = np.zeros((n,) + x_shape)
        covs = np.zeros((n, self.dim_x, self.dim_x))
        covs_p = np.zeros((n, self.dim_x, self.dim_x))

        def predict(i: int) -> None:
            u = None if us is None else us[i]
            if u is not None and self.dim_u == 0 and np.isscalar(u) and u == 0:
                u = None
            self.predict(
                u=u,
                B=None if Bs is None else Bs[i],
                F=None if Fs is None else Fs[i],
                Q=None if Qs is None else Qs[i],
            )
            means_p[i] = self.x
            covs_p[i] = self.P

        def update(i: int) -> None:
            self.update(zs[i], R=None if Rs is None else Rs[i], H=None if Hs is None else Hs[i])
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
        Fa = np.broadcast_to(self.F, Ps.shape) if Fs is None else np.asarray(Fs, dtype=float)
        Qa = np.broadcast_to(self.Q, Ps.shape) if Qs is None else np.asarray(Qs, dtype=float)
        x, P, K, Pp = _core.rts_smooth(Xs.reshape(n, self.dim_x), Ps, Fa, Qa)
        if n > 0:
            Pp[-1] = Ps[-1]  # as filterpy: no prediction past the last step, Pp[-1] = Ps[-1]
        return x.reshape(Xs.shape), P, K, Pp

    def __repr__(self) -> str:
        return (
            f"KalmanFilter(dim_x={self.dim_x}, dim_z={self.dim_z}, dim_u={self.dim_u})\n"
            f"x = {np.array2string(self.x.ravel(), precision=4)}\n"
            f"P diag = {np.array2string(np.diag(self.P), precision=4)}"
        )
