"""Helpers shared by the Python-level filters (EKF, UKF, IMM, the procedural functions):
argument checks, the Gaussian log-likelihood, filterpy's scalar-noise rules, the innovation
statistics mixin and the per-object lock, written once so every filter behaves the same way."""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np

from fusion import _core
from fusion.errors import ConfigurationError, NumericalError, ShapeError

LOG_FLOAT_MIN = math.log(sys.float_info.min)

__all__ = [
    "LOG_FLOAT_MIN",
    "FilterLock",
    "InnovationStatistics",
    "LockSlot",
    "as_integer",
    "as_matrix",
    "as_number",
    "check_bank_size",
    "as_vector",
    "check_finite",
    "check_state",
    "gaussian_log_likelihood",
    "joseph_update",
    "real_array",
    "locked_getstate",
    "noise_for_update",
    "serialised",
    "shallow_copy",
    "spd_inverse",
]


# ------------------------------------------------------------------------------ locking
class _PyRLock:
    """Fallback re-entrant lock for interpreters without ``_thread.RLock``."""

    __slots__ = ("__weakref__", "_rlock")

    def __init__(self) -> None:
        self._rlock = threading.RLock()

    def __enter__(self) -> bool:
        return self._rlock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._rlock.release()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._rlock.acquire(blocking, timeout)

    def release(self) -> None:
        self._rlock.release()


try:  # CPython's C re-entrant lock: its __enter__/__exit__ cost ~0.1 us, a Python wrapper's ~2 us
    from _thread import RLock as _LockBase
except ImportError:  # pragma: no cover - other interpreters
    _LockBase = _PyRLock  # type: ignore[assignment,misc]


class FilterLock(_LockBase):  # type: ignore[misc]  # typeshed marks _thread.RLock final; CPython allows subclasses
    """A re-entrant lock that survives ``copy.deepcopy`` and pickling.

    A filter keeps one in ``_lock`` and holds it for the whole of each public mutating call,
    so that two threads calling ``predict``/``update`` on one object are serialised instead
    of interleaving between bytecodes. ``threading.RLock`` itself cannot be deep-copied or
    pickled, and filterpy's ``Saver`` deep-copies ``kf.__dict__`` on every ``save()``: a copy
    (deep, shallow or pickled) of this lock is a fresh, unlocked lock, never a shared one.
    """

    __slots__ = ()

    def __copy__(self) -> FilterLock:
        return FilterLock()

    def __deepcopy__(self, memo: dict[int, Any]) -> FilterLock:
        return FilterLock()

    def __reduce__(self) -> tuple[type[FilterLock], tuple[()]]:
        return (FilterLock, ())

    def __repr__(self) -> str:
        return "<FilterLock>"


_LOCK_CREATION = threading.Lock()
F = TypeVar("F", bound=Callable[..., Any])


class LockSlot:
    """Class attribute ``_lock = LockSlot()``: the instance's own :class:`FilterLock`.

    Filters store a lock in ``self._lock`` in ``__init__`` (the instance attribute shadows
    this non-data descriptor, so the lookup costs nothing extra); an object built without
    ``__init__`` (e.g. unpickled from a version without a lock) gets one here, created once
    under a module lock.
    """

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        with _LOCK_CREATION:
            lock = obj.__dict__.get("_lock")
            if lock is None:
                lock = obj.__dict__["_lock"] = FilterLock()
        return lock


def shallow_copy(self: Any) -> Any:
    """``copy.copy`` as filterpy's (the copy shares the current array objects), taken under
    the source's lock so that it is a state between two calls, and with a lock of its own:
    the default shallow copy shared the ``_lock`` object, so two "independent" filters
    serialised against each other (and a callback of one waiting for a thread stepping the
    other deadlocked)."""
    with self._lock:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
    new.__dict__["_lock"] = FilterLock()
    return new


def locked_getstate(self: Any) -> dict[str, Any]:
    """``__getstate__`` taken under the object's lock, so ``copy.deepcopy`` and pickling see
    the state between two calls, never the middle of a step running in another thread (the
    ``_lock`` entry itself copies and pickles as a fresh lock)."""
    with self._lock:
        return dict(self.__dict__)


def serialised(method: F) -> F:
    """Run `method` holding ``self._lock`` (re-entrant: a serialised method may call another,
    and a subclass's override may call the base method). The filters themselves take the
    lock inline (``with self._lock:``), which saves this wrapper's call."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return cast(F, wrapper)


# ------------------------------------------------------------------------------ checks
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


def as_integer(value: Any, what: str) -> int:
    """An int (Python or numpy), not a bool, not a float that happens to be whole."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConfigurationError(f"{what}: expected an integer, got {value!r}")
    return int(value)


def as_number(value: Any, what: str) -> float:
    """A real number (Python or numpy scalar), not a bool."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigurationError(f"{what}: expected a number, got {value!r}")
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range (10**400)
        raise ConfigurationError(f"{what}: {value!r} is outside the float64 range") from None


def real_array(value: Any, what: str) -> np.ndarray:
    """``value`` as a C-contiguous float64 array; only integer or float input (no bools, strings,
    complex numbers or objects)."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as e:  # ragged nesting
        raise ShapeError(f"{what}: not an array of numbers ({e})") from None
    if a.dtype.kind not in "iuf":
        raise ConfigurationError(f"{what}: expected real numbers, got {a.dtype} data")
    return np.asarray(a, dtype=float, order="C")  # (ascontiguousarray would make a scalar 1-d)


def _memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def check_bank_size(size: Any, bytes_per_item: int, what: str, unit: str) -> int:
    """A bank's size: an integer >= 0 whose storage (at least ``bytes_per_item`` each) fits in
    this machine's memory. Checked before the C++ bank allocates: a huge size used to overflow
    its element counts (a tiny allocation, then writes past it) or allocate terabytes."""
    n = as_integer(size, what)
    if n < 0:
        raise ConfigurationError(f"{what} must be >= 0, got {n}")
    memory = _memory_bytes()
    if memory is not None and n * bytes_per_item > memory:
        raise ConfigurationError(f"{what}: {n} {unit} need {n * bytes_per_item / 2**30:.3g} GiB, more than this "
                                 f"machine's {memory / 2**30:.3g} GiB of memory")
    return n


def check_finite(z: np.ndarray, what: str) -> None:
    """NumericalError unless every element of the float array z is finite."""
    ok = all(map(math.isfinite, z.ravel().tolist())) if z.size <= 32 else bool(np.isfinite(z).all())
    if not ok:
        raise NumericalError(f"{what}: non-finite measurement {np.array2string(np.ravel(z))}")


def _all_finite(a: Any) -> bool:
    """Whether every entry of the array-like ``a`` is finite; for up to 64 entries by
    math.isfinite over a list (~0.9 us for a 4 x 4 P, np.isfinite(a).all() ~2.8 us)."""
    if type(a) is not np.ndarray:
        a = np.asarray(a, dtype=float)
    if a.size <= 64:
        return all(map(math.isfinite, a.ravel().tolist()))
    return bool(np.isfinite(a).all())


def check_state(owner: str, x: Any, P: Any) -> None:
    """The state a predict/update starts from: :class:`~fusion.errors.NumericalError` naming
    ``owner.x`` or ``owner.P`` unless every entry is finite. Assignments are checked by
    :func:`check_assigned`; this finds what they cannot see, an in-place edit
    (``ekf.P[0, 0] = np.nan``, or the array ``ekf.P *= np.nan`` edited before its assignment
    was refused). O(n^2) finiteness only: no diagonal or definiteness test, since a step may
    legitimately produce a slightly negative diagonal (filterpy's own suite predicts with an
    indefinite Q) and filterpy accepts it."""
    if not _all_finite(x):
        raise NumericalError(f"{owner}.x contains NaN or infinity (edited in place?); assign a valid x")
    if not _all_finite(P):
        raise NumericalError(f"{owner}.P contains NaN or infinity (edited in place?); assign a valid P")


def check_result(owner: str, step: str, x: Any, P: Any) -> None:
    """What a step computed, before the filter takes it: :class:`~fusion.errors.NumericalError`
    naming ``owner.step`` unless x and P are finite (an overflow: a huge P or state), so that
    the failed step changes nothing and the next one is not blamed on an in-place edit."""
    for name, v in (("x", x), ("P", P)):
        if not _all_finite(v):
            raise NumericalError(f"{owner}.{step}: the {step}ed {name} is not finite (an overflow: "
                                 f"|{name}| up to {float(np.nanmax(np.abs(np.asarray(v, dtype=float)))):.3g}); "
                                 "the filter is unchanged")


def noise_for_update(R: Any, m: int, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    """filterpy's rule for a measurement noise R that is *stored* on a filter (or passed to
    the procedural ``update``): a scalar r is added to every element of S = H P H^T + r,
    while the Joseph term uses K (r I) K^T (numpy broadcasting in filterpy's formulas).

    Returns ``(R_S, R_J)``: the (m, m) matrix that enters S, and the one for the Joseph term
    when it differs (scalar r with m > 1), else None. A size-1 R counts as (1, 1).
    """
    a = np.asarray(R, dtype=float)
    if a.ndim == 0:
        r = float(a)
        if m == 1:
            return np.full((1, 1), r), None
        return np.full((m, m), r), np.eye(m) * r
    if a.shape == (m, m):
        return a, None
    if m == 1 and a.size == 1:
        return a.reshape(1, 1), None
    raise ShapeError(f"{what}: R must be a scalar or of shape ({m}, {m}), but got {a.shape}")


def joseph_update(
    x: np.ndarray, P: np.ndarray, y: np.ndarray, H: np.ndarray, R_S: np.ndarray, R_J: np.ndarray | None = None,
    what: str = "update",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Joseph-form update with a Cholesky-solved gain (C++ core): (x, P, S, K, nis, log N(y; 0, S)).

    ``R_S`` enters S; ``R_J`` (when given) replaces it in the Joseph term
    ``(I - K H) P (I - K H)^T + K R_J K^T`` -- filterpy's scalar-R semantics, see
    :func:`noise_for_update`.
    """
    xn, Pn, S, K, nis, ll = _core.kalman_update(x, P, y, H, R_S, what)
    if R_J is not None:
        Pn = Pn + K @ (R_J - R_S) @ K.T
        Pn = 0.5 * (Pn + Pn.T)
    return xn, Pn, S, K, nis, ll


def gaussian_log_likelihood(y: np.ndarray, S: np.ndarray, what: str) -> tuple[float, float]:
    """(log N(y; 0, S), y^T S^-1 y) using a Cholesky solve."""
    sol, logdet = _core.solve_spd(S, y.reshape(-1, 1), what)
    nis = float(y.reshape(-1) @ sol.reshape(-1))
    return -0.5 * (nis + logdet + y.size * math.log(2.0 * math.pi)), nis


def _is_symmetric(A: np.ndarray) -> bool:
    scale = float(np.max(np.abs(A))) if A.size else 0.0
    return bool(np.max(np.abs(A - A.T), initial=0.0) <= 1e-12 * scale)


def spd_inverse(S: Any, what: str) -> np.ndarray:
    """S^-1: by Cholesky (and exactly symmetric) when S is symmetric positive definite, by LU
    otherwise. A singular S raises :class:`~fusion.errors.NumericalError`, never numpy's
    LinAlgError."""
    S = np.atleast_2d(np.asarray(S, dtype=float))
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ShapeError(f"{what}: S must be square, but got shape {S.shape}")
    if _is_symmetric(S):
        try:
            X, _ = _core.solve_spd(S, np.eye(S.shape[0]), what)
            return 0.5 * (X + X.T)
        except NumericalError:
            pass
    try:
        X = np.linalg.inv(S)
    except np.linalg.LinAlgError:
        raise NumericalError(f"{what}: the innovation covariance S is singular, so S^-1 does not exist") from None
    if not np.all(np.isfinite(X)):
        raise NumericalError(f"{what}: the innovation covariance S is singular, so S^-1 does not exist")
    return X


# ------------------------------------------------------------------------------ mixin
class InnovationStatistics:
    """filterpy's derived innovation quantities, from ``log_likelihood``, ``nis`` and ``S``
    of the last update (filterpy computes them lazily; here they are cheap properties).

    Contract for a class using the mixin: it provides ``S`` (the innovation covariance of the
    last update, all zeros before the first one), ``nis`` (y^T S^-1 y) and
    ``log_likelihood``; optionally ``inv``, a replacement for ``np.linalg.inv`` used for
    ``SI`` as filterpy's UKF does.
    """

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
        """Inverse of the innovation covariance of the last update, computed on request.

        Before the first update S is all zeros and SI is zeros of the same shape, as
        filterpy's initial value (so ``filterpy.common.Saver(kf).save()`` works at the start).
        Afterwards S^-1 by Cholesky; a singular S raises
        :class:`~fusion.errors.NumericalError` (filterpy would have raised LinAlgError in
        ``update`` already).
        """
        S = np.asarray(self.S, dtype=float)
        if not S.any():
            return np.zeros(S.shape)
        inv = getattr(self, "inv", None)
        if inv is not None and inv is not np.linalg.inv:
            return np.asarray(inv(S))
        return spd_inverse(S, f"{type(self).__name__}.SI")


def check_assigned(owner: str, name: str, value: Any, kind: str, rows: int, cols: int = 0) -> None:
    """The check of a filterpy-compatible attribute assigned from outside the filter
    (``ekf.P = ...``): a typed error naming ``owner.name`` when ``value`` is not real numbers
    (None, a string, complex, bools, a ragged list: ShapeError), not finite (NumericalError), of
    the wrong size (ShapeError), or, by ``kind``:

    - ``"vector"``: ``rows`` values in any shape ((n,) or (n, 1), as filterpy takes them);
    - ``"matrix"``: (rows, cols);
    - ``"covariance"``: (rows, rows) or a scalar (filterpy broadcasts it) with a non-negative
      diagonal and symmetric to 1e-8 relative to the entries and to sqrt(P_ii P_jj) (the
      O(n^2) rule of KalmanFilter.P; R P R^T of an isotropic P has off-diagonal round-off);
    - ``"probabilities"``: ``rows`` values >= 0 with a positive sum;
    - ``"markov"``: (rows, rows) values >= 0, each row summing to 1.

    Raises before anything is assigned, so a refused value changes nothing."""
    what = f"{owner}.{name}"
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as exc:  # a ragged list
        raise ShapeError(f"{what}: expected an array of real numbers: {exc}") from None
    if a.dtype.kind not in "iuf":
        raise ShapeError(f"{what}: expected real numbers, got {type(value).__name__} of dtype {a.dtype}")
    if not np.isfinite(a).all():
        raise NumericalError(f"{what}: contains NaN or infinity")
    if kind in ("vector", "probabilities"):
        if a.size != rows:
            raise ShapeError(f"{what}: expected {rows} values, but got shape {a.shape}")
        if kind == "probabilities" and (np.any(a < 0) or not a.sum() > 0):
            raise NumericalError(f"{what}: probabilities must be >= 0 with a positive sum, got {a.ravel().tolist()}")
        return
    if kind == "covariance" and a.ndim == 0:
        if a < 0:
            raise NumericalError(f"{what}: a covariance cannot be negative, got {float(a)}")
        return
    shape = (rows, cols if kind == "matrix" else rows)
    if a.shape != shape:
        raise ShapeError(f"{what}: expected shape {shape}, but got {a.shape}")
    if kind == "covariance":
        d = np.diagonal(a)
        if np.any(d < 0):
            i = int(np.argmax(d < 0))
            raise NumericalError(f"{what}: diagonal entry [{i}, {i}] = {d[i]} is negative (a covariance is "
                                 "symmetric positive semi-definite)")
        # relative to the entries and to sqrt(a_ii a_jj): a rotated isotropic covariance
        # R (s I) R^T has off-diagonal round-off of 1e-17 where the exact value is 0
        r = np.sqrt(np.abs(d))
        with np.errstate(over="ignore", invalid="ignore"):  # entries near 1e308: an inf bound, taken
            asym = np.abs(a - a.T) > 1e-8 * (np.abs(a) + np.abs(a.T) + np.outer(r, r)) + 1e-300
        if asym.any():
            i, j = (int(k) for k in np.argwhere(asym)[0])
            raise NumericalError(f"{what}: not symmetric: entry [{i}, {j}] = {a[i, j]} (entry [{j}, {i}] = {a[j, i]})")
    elif kind == "markov":
        if np.any(a < 0) or not np.allclose(a.sum(axis=1), 1.0, rtol=0.0, atol=1e-9):
            raise NumericalError(f"{what}: a Markov matrix has entries >= 0 and rows summing to 1, got {a.tolist()}")


def external_assignment() -> bool:
    """Whether the attribute assignment being handled comes from outside fusion.filters (a
    user's ``ekf.P = ...``) rather than a filter's own step (whose intermediate covariances may
    carry round-off that filterpy's semantics keep, see KalmanFilter)."""
    caller = sys._getframe(2).f_globals.get("__name__", "")
    return not str(caller).startswith("fusion.filters")
