"""Unscented Kalman filter with filterpy's interface (``filterpy.kalman.UnscentedKalmanFilter``
and ``MerweScaledSigmaPoints``), accepting Python callables for f and h.

As in filterpy 2.x, the sigma points used by an update are drawn from the predicted (x, P).
The innovation covariance is factorised by Cholesky (a clear
:class:`~fusion.errors.NumericalError` when it is not positive definite) and the posterior
covariance is re-symmetrised. For many filters with built-in models use
:class:`~fusion.filters.UnscentedKalmanFilterBank`, which runs entirely in C++.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fusion import _core
from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.filters._common import (
    LOG_FLOAT_MIN,
    FilterLock,
    InnovationStatistics,
    LockSlot,
    as_matrix,
    as_vector,
    check_assigned,
    check_finite,
    check_result,
    check_state,
    external_assignment,
    locked_getstate,
    serialised,
    shallow_copy,
)

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


_LOG_2PI = math.log(2.0 * math.pi)


def _noise_shape_ok(noise: Any, n: int) -> bool:
    """A noise covariance the default unscented transform adds as filterpy does: (n, n), or a
    scalar added to every element (any size-1 array for n == 1)."""
    shape = noise.shape if type(noise) is np.ndarray else np.shape(noise)
    return shape == (n, n) or shape == () or (n == 1 and int(np.prod(shape)) == 1)


class UnscentedKalmanFilter(InnovationStatistics):
    """UKF for ``x' = fx(x, dt)``, ``z = hx(x)`` with sigma points from ``points``.

    Same constructor, methods and attributes as filterpy's: ``predict(dt=None, UT=None,
    fx=None, **fx_args)``, ``update(z, R=None, UT=None, hx=None, **hx_args)``,
    :meth:`batch_filter`, :meth:`rts_smoother`, :meth:`cross_variance`,
    :meth:`compute_process_sigmas`; ``x`` (1-D), ``P``, ``Q``, ``R``, ``x_prior``,
    ``P_prior``, ``x_post``, ``P_post``, ``sigmas_f``, ``sigmas_h``, ``K``, ``y``, ``z``,
    ``S``, ``SI``, ``log_likelihood``, ``likelihood``, ``mahalanobis``, ``Wm``, ``Wc``,
    ``inv`` (``np.linalg.inv``), ``msqrt`` and ``_dt``. Every step assigns new arrays, so a
    reference kept to ``kf.x``, ``kf.P``, ``kf.sigmas_f``... keeps its value; editing them in
    place before a step changes the filter, as in filterpy.

    Noise follows filterpy exactly: ``Q`` and a stored ``R`` are handed to the unscented
    transform as they are, so a scalar is added to every element of the covariance; a scalar
    ``R`` *argument* to :meth:`update` means r I (and :meth:`batch_filter` passes ``self.R``
    as that argument when ``Rs`` is None, as filterpy does).

    Differences from filterpy: with the default ``inv`` the gain is a Cholesky solve of S
    (an S that is not positive definite raises :class:`~fusion.errors.NumericalError` and
    leaves the state unchanged; set ``kf.inv`` to another function, e.g. ``np.linalg.pinv``,
    and it is used for K and ``SI`` as in filterpy); P is re-symmetrised; a non-finite z
    raises NumericalError; ``sqrt_fn`` is used for the sigma points (filterpy stores it in
    ``msqrt`` but never uses it); each predict/update (and
    :meth:`compute_process_sigmas`) first checks that x and P are finite, so an in-place
    ``ukf.P[0, 0] = np.nan`` raises NumericalError naming ``UnscentedKalmanFilter.P`` and
    changes nothing; :meth:`rts_smoother` uses ``Qs`` (filterpy ignores it and
    always uses ``self.Q``) and adds the correction with ``state_add``; :meth:`batch_filter`
    checks every z before the first step and accepts a scalar ``dts``.

    Threads: calls on one object are serialised (each public mutating call holds a
    per-object re-entrant lock), so concurrent calls never interleave silently; their order
    is whichever thread gets the lock first. Callbacks (fx, hx, UT...) run under the lock and
    may call the filter's methods again. The lock is not shared by copies or pickles.
    """

    _lock = LockSlot()
    __copy__ = shallow_copy
    __getstate__ = locked_getstate

    _CHECKED = {"x": "vector", "P": "covariance", "Q": "covariance", "R": "covariance"}

    def __setattr__(self, name: str, value: Any) -> None:
        """``x``, ``P``, ``Q``, ``R`` assigned by the user are checked (a typed error naming the
        attribute; the filter keeps its value): see :func:`fusion.filters._common.check_assigned`."""
        kind = self._CHECKED.get(name)
        if kind is not None and "_dim_x" in self.__dict__ and external_assignment():
            rows = self._dim_z if name == "R" else self._dim_x
            check_assigned(type(self).__name__, name, value, kind, rows)
        super().__setattr__(name, value)

    def __init__(
        self,
        dim_x: int,
        dim_z: int,
        dt: float,
        hx: Callable[..., Any],
        fx: Callable[..., Any],
        points: Any,
        sqrt_fn: Callable[[np.ndarray], np.ndarray] | None = None,
        x_mean_fn: Callable[..., Any] | None = None,
        z_mean_fn: Callable[..., Any] | None = None,
        residual_x: Callable[[Any, Any], Any] | None = None,
        residual_z: Callable[[Any, Any], Any] | None = None,
        state_add: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        self._lock = FilterLock()
        self.x = np.zeros(dim_x)
        self.P = np.eye(dim_x)
        self.Q: Any = np.eye(dim_x)
        self.R: Any = np.eye(dim_z)
        self._dim_x, self._dim_z, self._dt = dim_x, dim_z, dt
        self.points_fn = points
        self._num_sigmas = points.num_sigmas()
        self.hx, self.fx = hx, fx
        self.x_mean, self.z_mean = x_mean_fn, z_mean_fn
        if sqrt_fn is not None:
            points.sqrt = sqrt_fn
        self.msqrt = sqrt_fn if sqrt_fn is not None else getattr(points, "sqrt", _upper_cholesky)
        self.inv: Callable[[np.ndarray], np.ndarray] = np.linalg.inv
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

    # ------------------------------------------------------------------ one step
    def compute_process_sigmas(
        self, dt: float | None = None, fx: Callable[..., Any] | None = None, **fx_args: Any
    ) -> None:
        """Sigma points of (x, P) passed through fx into a new ``sigmas_f`` array. Call it
        before a second :meth:`update` between two predictions so the sigma points reflect
        the updated (x, P), as in filterpy."""
        with self._lock:
            check_state("UnscentedKalmanFilter", self.x, self.P)
            dt = self._dt if dt is None else dt
            fx = self.fx if fx is None else fx
            sigmas = self.points_fn.sigma_points(self.x, self.P)
            out = np.empty((len(sigmas), self._dim_x))
            try:
                for i, s in enumerate(sigmas):
                    out[i] = fx(s, dt, **fx_args)
            except ValueError as e:
                raise ShapeError(
                    f"UnscentedKalmanFilter: fx(x, dt) must return {self._dim_x} values per sigma point ({e})"
                ) from None
            self.sigmas_f = out

    def predict(
        self,
        dt: float | None = None,
        UT: Callable[..., Any] | None = None,
        fx: Callable[..., Any] | None = None,
        **fx_args: Any,
    ) -> None:
        """Unscented prediction; afterwards ``sigmas_f`` holds sigma points of the prior."""
        with self._lock:
            check_state("UnscentedKalmanFilter", self.x, self.P)
            if UT is None:
                UT = unscented_transform
                if not _noise_shape_ok(self.Q, self._dim_x):
                    raise ShapeError(
                        f"UnscentedKalmanFilter.predict: Q must be a scalar or of shape "
                        f"({self._dim_x}, {self._dim_x}), but got {np.shape(self.Q)}"
                    )
            sigmas_before = self.sigmas_f
            try:  # a failed predict changes nothing (sigmas_f is put back)
                self.compute_process_sigmas(dt, fx, **fx_args)
                with np.errstate(over="ignore", invalid="ignore"):  # an overflow is checked below
                    x, P = UT(self.sigmas_f, self.Wm, self.Wc, self.Q, self.x_mean, self.residual_x)
                P = np.asarray(P, dtype=float)
                x, P = np.array(x, dtype=float), 0.5 * P + 0.5 * P.T
                check_result("UnscentedKalmanFilter", "predict", x, P)
                sigmas = self.points_fn.sigma_points(x, P)  # raises when the predicted P is not SPD
            except BaseException:
                self.sigmas_f = sigmas_before
                raise
            self.x, self.P, self.sigmas_f = x, P, sigmas
            self.x_prior, self.P_prior = np.copy(self.x), np.copy(self.P)

    def _measurement_sigmas(self, hx: Callable[..., Any], hx_args: dict[str, Any]) -> np.ndarray:
        sig = np.asarray([hx(s, **hx_args) for s in self.sigmas_f], dtype=float)
        if sig.ndim == 1:  # hx returned scalars (dim_z == 1)
            sig = sig.reshape(-1, 1)
        elif sig.ndim == 3 and sig.shape[2] == 1:  # hx returned columns
            sig = sig[:, :, 0]
        if sig.shape[1:] != (self._dim_z,):
            raise ShapeError(
                f"UnscentedKalmanFilter.update: hx(x) must return {self._dim_z} values, "
                f"but returned shape {sig.shape[1:]}"
            )
        return sig

    def update(
        self,
        z: Any,
        R: Any = None,
        UT: Callable[..., Any] | None = None,
        hx: Callable[..., Any] | None = None,
        **hx_args: Any,
    ) -> None:
        """Unscented update with measurement z (``None`` skips it); ``R`` overrides
        ``self.R`` for this call (a scalar means r I)."""
        with self._lock:
            m, n = self._dim_z, self._dim_x
            check_state("UnscentedKalmanFilter", self.x, self.P)
            if z is None:
                self.z = np.array([[None] * m]).T
                self.x_post, self.P_post = self.x.copy(), self.P.copy()
                return
            hx = self.hx if hx is None else hx
            what = "UnscentedKalmanFilter.update"
            if R is None:
                R = self.R
            elif np.ndim(R) == 0:
                R = np.eye(m) * float(R)
            if UT is None:
                UT = unscented_transform
                if not _noise_shape_ok(R, m):
                    raise ShapeError(f"{what}: R must be a scalar or of shape ({m}, {m}), but got {np.shape(R)}")
                if np.ndim(R) == 1:
                    R = np.reshape(R, (1, 1))
            zv = as_vector(z, m, f"{what}: z")
            check_finite(zv, what)
            sigmas_h = self._measurement_sigmas(hx, hx_args)
            zp, S = UT(sigmas_h, self.Wm, self.Wc, R, self.z_mean, self.residual_z)
            S = np.asarray(S, dtype=float).reshape(m, m)
            S = 0.5 * (S + S.T)
            Pxz = self.cross_variance(self.x, zp, self.sigmas_f, sigmas_h)
            y = np.asarray(self.residual_z(zv, zp), dtype=float)
            yv = y.reshape(m)
            if self.inv is np.linalg.inv:
                # K = Pxz S^-1 and S^-1 y from one Cholesky factorisation of S.
                sol, logdet = _core.solve_spd(S, np.column_stack([Pxz.T, yv]), f"{what}: innovation covariance S")
                K = sol[:, :n].T
                nis = float(yv @ sol[:, n])
            else:
                SI = np.asarray(self.inv(S), dtype=float)
                K = Pxz @ SI
                nis = float(yv @ SI @ yv)
                sign, logdet = np.linalg.slogdet(S)
                if sign <= 0:
                    logdet = math.inf
            x = np.array(self.state_add(self.x, K @ yv), dtype=float)
            P = self.P - K @ S @ K.T
            self.x, self.P = x, 0.5 * (P + P.T)
            self.sigmas_h, self.S, self.K, self.y = sigmas_h, S, K, y
            self.nis = nis
            self.log_likelihood = -0.5 * (nis + logdet + m * _LOG_2PI)
            self.z = np.array(z, dtype=float)
            self.x_post, self.P_post = self.x.copy(), self.P.copy()

    def cross_variance(self, x: Any, z: Any, sigmas_f: np.ndarray, sigmas_h: np.ndarray) -> np.ndarray:
        """Cross covariance sum_i Wc_i residual_x(sigmas_f[i], x) residual_z(sigmas_h[i], z)^T."""
        if self.residual_x is np.subtract:
            dx = sigmas_f - np.reshape(x, (1, -1))
        else:
            dx = np.array([self.residual_x(s, x) for s in sigmas_f], dtype=float)
        if self.residual_z is np.subtract:
            dz = sigmas_h - np.reshape(z, (1, -1))
        else:
            dz = np.array([self.residual_z(s, z) for s in sigmas_h], dtype=float)
        return (dx.T * self.Wc) @ dz

    # ------------------------------------------------------------------ whole sequences
    @staticmethod
    def _per_step(values: Any, n: int, where: str, name: str, default: Any) -> Sequence[Any]:
        if values is None:
            return [default] * n
        if len(values) != n:
            raise ShapeError(
                f"UnscentedKalmanFilter.{where}: {name} has {len(values)} entries, expected {n} (one per step)"
            )
        return values

    @serialised
    def batch_filter(
        self,
        zs: Sequence[Any],
        Rs: Sequence[Any] | None = None,
        dts: Any = None,
        UT: Callable[..., Any] | None = None,
        saver: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predict and update over the measurements ``zs`` (a ``None`` entry only predicts).

        ``Rs``: per-step R (``None`` entries use ``self.R``); ``dts``: per-step or one dt
        (default ``self._dt``); ``saver.save()`` runs after every step. Returns ``(means,
        covariances)`` with shapes ``(n, dim_x)`` (``(n, dim_x, 1)`` for a column x) and
        ``(n, dim_x, dim_x)``: exactly what a predict/update loop gives. Every z is checked
        before the first step (a :class:`~fusion.errors.ShapeError` or
        :class:`~fusion.errors.NumericalError` naming its index).
        """
        try:
            n = len(zs)
        except TypeError:
            raise TypeError("UnscentedKalmanFilter.batch_filter: zs must be list-like") from None
        for i, z in enumerate(zs):
            if z is not None:
                zv = as_vector(z, self._dim_z, f"UnscentedKalmanFilter.batch_filter: zs[{i}]")
                check_finite(zv, f"UnscentedKalmanFilter.batch_filter: zs[{i}]")
        Rs = self._per_step(Rs, n, "batch_filter", "Rs", self.R)
        if dts is not None and np.ndim(dts) == 0:
            dts = [dts] * n
        dts = self._per_step(dts, n, "batch_filter", "dts", self._dt)
        means = np.zeros((n, self._dim_x) if self.x.ndim == 1 else (n, self._dim_x, 1))
        covariances = np.zeros((n, self._dim_x, self._dim_x))
        for i, (z, r, dt) in enumerate(zip(zs, Rs, dts)):
            self.predict(dt=dt, UT=UT)
            self.update(z, r, UT=UT)
            means[i] = self.x
            covariances[i] = self.P
            if saver is not None:
                saver.save()
        return means, covariances

    @serialised
    def rts_smoother(
        self,
        Xs: Any,
        Ps: Any,
        Qs: Sequence[Any] | None = None,
        dts: Any = None,
        UT: Callable[..., Any] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unscented Rauch-Tung-Striebel smoother over filtered means and covariances (the
        output of :meth:`batch_filter`), with ``self.fx``, the points and residual functions.

        ``Qs``: per-step process noise (default ``self.Q``); ``dts``: per-step or one dt
        (default ``self._dt``). Returns ``(xs, Ps, Ks)``: smoothed means (shaped like
        ``Xs``), covariances and smoother gains (``Ks[-1]`` is zero). The filter's state is
        not changed.
        """
        Xs = np.asarray(Xs, dtype=float)
        Ps = np.asarray(Ps, dtype=float)
        d = self._dim_x
        if len(Xs) != len(Ps):
            raise ShapeError(
                f"UnscentedKalmanFilter.rts_smoother: Xs and Ps must have the same length, got {len(Xs)} and {len(Ps)}"
            )
        n = len(Xs)
        if Xs.shape not in ((n, d), (n, d, 1)):
            raise ShapeError(
                f"UnscentedKalmanFilter.rts_smoother: Xs must have shape ({n}, {d}) or ({n}, {d}, 1), "
                f"but got {Xs.shape}"
            )
        if Ps.shape != (n, d, d):
            raise ShapeError(
                f"UnscentedKalmanFilter.rts_smoother: Ps must have shape ({n}, {d}, {d}), but got {Ps.shape}"
            )
        if dts is not None and np.ndim(dts) == 0:
            dts = [dts] * n
        dts = self._per_step(dts, n, "rts_smoother", "dts", self._dt)
        Qs = self._per_step(Qs, n, "rts_smoother", "Qs", self.Q)
        if UT is None:
            UT = unscented_transform
        X0 = Xs.reshape(n, d)
        xs, ps = X0.copy(), Ps.copy()
        Ks = np.zeros((n, d, d))
        for k in reversed(range(n - 1)):
            sigmas = self.points_fn.sigma_points(xs[k], ps[k])
            sigmas_f = np.empty((len(sigmas), d))
            for i, s in enumerate(sigmas):
                sigmas_f[i] = self.fx(s, dts[k])
            xb, Pb = UT(sigmas_f, self.Wm, self.Wc, Qs[k], self.x_mean, self.residual_x)
            Pb = np.asarray(Pb, dtype=float)
            Pb = 0.5 * (Pb + Pb.T)
            if self.residual_x is np.subtract:
                dx, db = sigmas - X0[k], sigmas_f - xb
            else:
                dx = np.array([self.residual_x(s, X0[k]) for s in sigmas], dtype=float)
                db = np.array([self.residual_x(s, xb) for s in sigmas_f], dtype=float)
            Pxb = (dx.T * self.Wc) @ db
            if self.inv is np.linalg.inv:
                K = _core.solve_spd(Pb, Pxb.T, "UnscentedKalmanFilter.rts_smoother: predicted covariance")[0].T
            else:
                K = Pxb @ self.inv(Pb)
            xs[k] = self.state_add(xs[k], K @ np.asarray(self.residual_x(xs[k + 1], xb), dtype=float))
            Pk = ps[k] + K @ (ps[k + 1] - Pb) @ K.T
            ps[k] = 0.5 * (Pk + Pk.T)
            Ks[k] = K
        return xs.reshape(Xs.shape), ps, Ks

    def __repr__(self) -> str:
        return (
            f"UnscentedKalmanFilter(dim_x={self._dim_x}, dim_z={self._dim_z}, dt={self._dt})\n"
            f"x = {np.array2string(np.ravel(self.x), precision=4)}\n"
            f"P diag = {np.array2string(np.diag(self.P), precision=4)}"
        )
