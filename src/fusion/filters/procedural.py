"""filterpy's module-level Kalman filter functions (``filterpy.kalman.predict``, ``update``,
``predict_steadystate``, ``update_steadystate``, ``batch_filter``, ``rts_smoother``) with the
same signatures, return values, shapes and scalar handling, so ``from filterpy.kalman import
predict, update`` switches by changing the import.

Shapes, as filterpy's: ``x`` may be a scalar, ``(n,)`` or a column ``(n, 1)``, and comes back
with its own shape (``y`` likewise as ``(m,)`` or ``(m, 1)``). ``H=None`` means ``[1]`` (a
1-D H, allowed for one-element states only): then ``P`` comes back as a scalar, ``K`` as
``(1,)`` and ``S`` as a scalar when R is one. A scalar x updated with a 2-D H comes back as
``(1, 1)``, as in filterpy.

Noise, as filterpy's: a scalar ``Q`` is added to every element of ``F P F^T``; a scalar
``R`` to every element of ``H P H^T`` (and enters the Joseph term as ``r K K^T``).

Differences from filterpy, all deliberate:

- :func:`update` is the Joseph form with a Cholesky-solved gain (C++ core): an S that is
  not positive definite, or a non-finite z, raises :class:`~fusion.errors.NumericalError`;
- bad shapes raise :class:`~fusion.errors.ShapeError` naming the argument and both shapes
  (filterpy raises a bare numpy error or, for ``x (n, 1)`` with ``B u (n,)``, silently
  broadcasts to ``(n, n)``; here ``B u`` is reshaped to x's shape);
- :func:`batch_filter` checks that ``Fs, Qs, Hs, Rs`` (and ``Bs, us``) have one entry per
  z (filterpy's ``zip`` silently stops at the shortest), and ``us`` without ``Bs`` uses
  ``B = 1`` (filterpy fails);
- :func:`rts_smoother` solves for the smoother gain by Cholesky instead of inverting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fusion import _core
from fusion.errors import ShapeError
from fusion.filters._common import (
    check_finite,
    gaussian_log_likelihood,
    joseph_update,
    noise_for_update,
)

__all__ = ["batch_filter", "predict", "predict_steadystate", "rts_smoother", "update", "update_steadystate"]


# ------------------------------------------------------------------------------ helpers
def _out(a: np.ndarray) -> Any:
    """0-d arrays as numpy scalars (what filterpy's np.dot arithmetic returns)."""
    return a[()] if a.ndim == 0 else a


def _state(x: Any, what: str) -> tuple[np.ndarray, int]:
    xa = np.asarray(x, dtype=float)
    if xa.ndim == 0:
        return xa, 1
    if (xa.ndim == 1 or (xa.ndim == 2 and xa.shape[1] == 1)) and xa.shape[0] > 0:
        return xa, xa.shape[0]
    raise ShapeError(f"{what}: x must be a scalar, (n,) or (n, 1), but got shape {xa.shape}")


def _square(value: Any, n: int, name: str, x_shape: tuple[int, ...], what: str) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    if a.ndim == 0 or a.shape == (n, n):
        return a
    raise ShapeError(f"{what}: {name} must be a scalar or of shape ({n}, {n}) for x of shape {x_shape}, "
                     f"but got shape {a.shape}")


def _transition(x: Any, F: Any, u: Any, B: Any, what: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(F x + B u, F as array, n)."""
    xa, n = _state(x, what)
    Fa = _square(F, n, "F", xa.shape, what)
    Fx = np.dot(Fa, xa)
    if u is None or B is None:
        return Fx, Fa, n
    Ba, ua = np.asarray(B, dtype=float), np.asarray(u, dtype=float)
    try:
        Bu = np.dot(Ba, ua)
    except ValueError:
        raise ShapeError(f"{what}: B (shape {Ba.shape}) and u (shape {ua.shape}) do not multiply") from None
    if Bu.ndim == 0:
        return Fx + Bu, Fa, n
    if Bu.size != n:
        raise ShapeError(f"{what}: B u has shape {Bu.shape}, which does not match x of shape {xa.shape}")
    return Fx + Bu.reshape(Fx.shape), Fa, n


def _measurement_matrix(H: Any, n: int, x_shape: tuple[int, ...], what: str) -> tuple[np.ndarray, bool]:
    """(H as (m, n), whether H was 1-D -- filterpy's scalar-output form)."""
    Ha = np.ones(1) if H is None else np.asarray(H, dtype=float)
    if Ha.ndim == 0:
        Ha = Ha.reshape(1)
    if Ha.ndim == 1:
        if n != 1 or Ha.size != 1:
            raise ShapeError(
                f"{what}: a 1-D H (shape {Ha.shape}) is only defined for a one-element state, "
                f"but x has shape {x_shape}; give H as (m, {n})"
            )
        return Ha.reshape(1, 1), True
    if Ha.ndim == 2 and Ha.shape[1] == n:
        return Ha, False
    raise ShapeError(f"{what}: H must have shape (m, {n}) for x of shape {x_shape}, but got shape {Ha.shape}")


def _measurement(z: Any, m: int, H_shape: tuple[int, ...], what: str) -> np.ndarray:
    za = np.asarray(z, dtype=float)
    if za.size != m or za.ndim > 2 or (za.ndim == 2 and 1 not in za.shape):
        raise ShapeError(f"{what}: z must have {m} elements ((), ({m},), ({m}, 1) or (1, {m})) "
                         f"for H of shape {H_shape}, but got shape {za.shape}")
    zv = za.reshape(m)
    check_finite(zv, what)
    return zv


# ------------------------------------------------------------------------------ functions
def predict(x: Any, P: Any, F: Any = 1, Q: Any = 0, u: Any = 0, B: Any = 1, alpha: float = 1.0) -> tuple[Any, Any]:
    """Kalman prediction: ``x = F x + B u``, ``P = alpha^2 F P F^T + Q``; returns (x, P).

    Scalars work as in filterpy: ``F=1`` (the default) leaves x as it is, a scalar ``Q`` is
    added to every element of P, and all-scalar arguments give scalar results. ``alpha`` is
    the fading-memory factor.
    """
    what = "predict"
    x_new, Fa, n = _transition(x, F, u, B, what)
    xa = np.asarray(x, dtype=float)
    Pa = _square(P, n, "P", xa.shape, what)
    Qa = 0.0 if Q is None else _square(Q, n, "Q", xa.shape, what)
    P_new = (alpha * alpha) * np.dot(np.dot(Fa, Pa), Fa.T) + Qa
    return _out(np.asarray(x_new)), _out(np.asarray(P_new))


def predict_steadystate(x: Any, F: Any = 1, u: Any = 0, B: Any = 1) -> Any:
    """Prediction of the state only (steady-state filter): ``F x + B u``."""
    x_new, _, _ = _transition(x, F, u, B, "predict_steadystate")
    return _out(np.asarray(x_new))


def update(x: Any, P: Any, z: Any, R: Any, H: Any = None, return_all: bool = False) -> tuple[Any, ...]:
    """Kalman update of (x, P) with measurement z; returns (x, P).

    ``z=None`` returns x and P unchanged. With ``return_all=True`` returns ``(x, P, y, K, S,
    log_likelihood)``; as in filterpy, ``log_likelihood`` is log N(z; H x, S) evaluated at
    the *updated* x. The update is the Joseph form with a Cholesky-solved gain.
    """
    if z is None:
        return (x, P, None, None, None, None) if return_all else (x, P)
    what = "update"
    xa, n = _state(x, what)
    Pa = np.asarray(P, dtype=float)
    if Pa.ndim == 0:
        Pm = np.eye(n) * float(Pa)
    elif Pa.shape == (n, n):
        Pm = Pa
    else:
        raise ShapeError(f"{what}: P must be a scalar or of shape ({n}, {n}) for x of shape {xa.shape}, "
                         f"but got shape {Pa.shape}")
    Hm, row = _measurement_matrix(H, n, xa.shape, what)
    m = Hm.shape[0]
    zv = _measurement(z, m, np.shape(H) if H is not None else (1,), what)
    R_S, R_J = noise_for_update(R, m, what)
    xv = xa.reshape(n)
    y = zv - Hm @ xv
    x_new, P_new, S, K, _, _ = joseph_update(xv, Pm, y, Hm, R_S, R_J)
    column = xa.ndim != 1  # scalar and (n, 1) states give column results, as filterpy's dot algebra
    if row:
        x_out: Any = _out(x_new.reshape(xa.shape))
        P_out: Any = _out(P_new.reshape(()))
        y_out = y.reshape((1, 1) if xa.ndim == 2 else (1,))
        K_out = K.reshape(1)
        S_out: Any = _out(S.reshape(())) if np.ndim(R) == 0 else S
    else:
        x_out = x_new.reshape(n, 1) if column else x_new
        P_out = P_new
        y_out = y.reshape(m, 1) if column else y
        K_out, S_out = K, S
    if not return_all:
        return x_out, P_out
    log_likelihood, _ = gaussian_log_likelihood(zv - Hm @ x_new, S, f"{what}: S")
    return x_out, P_out, y_out, K_out, S_out, np.float64(log_likelihood)


def update_steadystate(x: Any, z: Any, K: Any, H: Any = None) -> Any:
    """Update of the state only with a fixed gain K (steady-state filter): ``x + K (z - H x)``.
    ``z=None`` returns x unchanged."""
    if z is None:
        return x
    what = "update_steadystate"
    xa, n = _state(x, what)
    Hm, row = _measurement_matrix(H, n, xa.shape, what)
    m = Hm.shape[0]
    zv = _measurement(z, m, np.shape(H) if H is not None else (1,), what)
    Ka = np.asarray(K, dtype=float)
    if Ka.size != n * m or (Ka.ndim == 2 and Ka.shape != (n, m)) or Ka.ndim > 2:
        raise ShapeError(f"{what}: K must have shape ({n}, {m}) for x of shape {xa.shape} and {m} measurement(s), "
                         f"but got shape {Ka.shape}")
    xv = xa.reshape(n)
    x_new = xv + Ka.reshape(n, m) @ (zv - Hm @ xv)
    if row or xa.ndim == 1:
        return _out(x_new.reshape(xa.shape))
    return x_new.reshape(n, 1)


def batch_filter(
    x: Any,
    P: Any,
    zs: Sequence[Any],
    Fs: Sequence[Any],
    Qs: Sequence[Any],
    Hs: Sequence[Any],
    Rs: Sequence[Any],
    Bs: Sequence[Any] | None = None,
    us: Sequence[Any] | None = None,
    update_first: bool = False,
    saver: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kalman filter over a sequence of measurements with per-step ``Fs, Qs, Hs, Rs`` (and
    optional ``Bs, us``); ``None`` in ``zs`` only predicts.

    Each step is :func:`predict` then :func:`update` (``update_first=True``: the other way
    round). ``saver.save()`` runs after every step. Returns ``(means, covariances,
    means_predicted, covariances_predicted)`` of shapes ``(n, dim_x)`` (``(n, dim_x, 1)`` for
    a column x) and ``(n, dim_x, dim_x)``.
    """
    what = "batch_filter"
    xa = np.asarray(x, dtype=float)
    if xa.ndim not in (1, 2) or (xa.ndim == 2 and xa.shape[1] != 1):
        raise ShapeError(f"{what}: x must have shape (n,) or (n, 1), but got shape {xa.shape}")
    n = len(zs)
    if us is None:
        us_: Sequence[Any] = [None] * n
        Bs_: Sequence[Any] = [None] * n
    else:
        us_ = us
        Bs_ = [1.0] * n if Bs is None else Bs
    for name, seq in (("Fs", Fs), ("Qs", Qs), ("Hs", Hs), ("Rs", Rs), ("Bs", Bs_), ("us", us_)):
        if len(seq) != n:
            raise ShapeError(f"{what}: {name} has {len(seq)} entries, expected {n} (one per z)")
    dim_x = xa.shape[0]
    shape = (n, dim_x) if xa.ndim == 1 else (n, dim_x, 1)
    means, means_p = np.zeros(shape), np.zeros(shape)
    covariances, covariances_p = np.zeros((n, dim_x, dim_x)), np.zeros((n, dim_x, dim_x))
    xk, Pk = xa, P
    for i in range(n):
        if update_first:
            xk, Pk = update(xk, Pk, zs[i], R=Rs[i], H=Hs[i])
            means[i], covariances[i] = xk, Pk
            xk, Pk = predict(xk, Pk, F=Fs[i], Q=Qs[i], u=us_[i], B=Bs_[i])
            means_p[i], covariances_p[i] = xk, Pk
        else:
            xk, Pk = predict(xk, Pk, F=Fs[i], Q=Qs[i], u=us_[i], B=Bs_[i])
            means_p[i], covariances_p[i] = xk, Pk
            xk, Pk = update(xk, Pk, zs[i], R=Rs[i], H=Hs[i])
            means[i], covariances[i] = xk, Pk
        if saver is not None:
            saver.save()
    return means, covariances, means_p, covariances_p


def rts_smoother(Xs: Any, Ps: Any, Fs: Sequence[Any],
                 Qs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rauch-Tung-Striebel smoother over filtered means ``Xs`` and covariances ``Ps`` (e.g.
    from :func:`batch_filter`) with per-step ``Fs`` and ``Qs`` (``Fs[k]`` maps step k to
    k + 1; the last entry is not used, so n - 1 entries suffice).

    Returns ``(x, P, K, Pp)``: smoothed means (shaped like ``Xs``), covariances, smoother
    gains and predicted covariances (``Pp[-1] = Ps[-1]``, ``K[-1] = 0``), as filterpy.
    """
    what = "rts_smoother"
    Xa = np.asarray(Xs, dtype=float)
    Pa = np.asarray(Ps, dtype=float)
    if len(Xa) != len(Pa):
        raise ShapeError(f"{what}: Xs and Ps must have the same length, got {len(Xa)} and {len(Pa)}")
    n = len(Xa)
    if not (Xa.ndim == 2 or (Xa.ndim == 3 and Xa.shape[2] == 1)):
        raise ShapeError(f"{what}: Xs must have shape (n, dim_x) or (n, dim_x, 1), but got shape {Xa.shape}")
    d = Xa.shape[1]
    if Pa.shape != (n, d, d):
        raise ShapeError(f"{what}: Ps must have shape ({n}, {d}, {d}) for Xs of shape {Xa.shape}, "
                         f"but got shape {Pa.shape}")
    for name, seq in (("Fs", Fs), ("Qs", Qs)):
        if len(seq) < n - 1:
            raise ShapeError(f"{what}: {name} has {len(seq)} entries, expected at least {n - 1} for {n} steps")
    if n == 0:
        return Xa.copy(), Pa.copy(), np.zeros((0, d, d)), Pa.copy()
    # The core takes the KalmanFilter.rts_smoother convention (step k -> k + 1 by Fs[k + 1]);
    # this function's (filterpy's module-level one) is Fs[k]: shift by one.
    Fa = np.empty((n, d, d))
    Qa = np.zeros((n, d, d))
    Fa[0] = np.eye(d)
    for k in range(n - 1):
        Fk = _square(Fs[k], d, f"Fs[{k}]", (d,), what)
        Fa[k + 1] = np.eye(d) * Fk if Fk.ndim == 0 else Fk
        Qa[k + 1] = _square(Qs[k], d, f"Qs[{k}]", (d,), what)  # a scalar is added to every element, as filterpy
    x, P, K, Pp = _core.rts_smooth(Xa.reshape(n, d), Pa, Fa, Qa)
    Pp[-1] = Pa[-1]
    return x.reshape(Xa.shape), P, K, Pp
