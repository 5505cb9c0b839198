"""Filter banks: N independent filters of one (motion model, sensor model) pair, held in C++.

``x`` has shape (N, n) and ``P`` shape (N, n, n); both are numpy views of the bank's own
storage, so reading them copies nothing. The storage is allocated once and never moves:
assigning ``bank.x = ...`` or ``bank.P = ...`` copies into it, and every view keeps the bank
alive, so a view never points at freed memory. :meth:`predict` and :meth:`update` run over
every filter in one call with the GIL released and allocate nothing.

Threads (docs/threading.md): predict, update, the x/P setters and copying are serialised
by a per-bank mutex taken after the GIL is released, so each call is atomic and two threads
stepping one bank give the same result as running their calls one after the other. The views
are not locked: reading ``bank.x`` while another thread steps sees a partly updated state,
and writing through a view while another thread steps is a data race (not allowed).
``copy.copy``/``copy.deepcopy`` give an independent bank; pickling raises TypeError (the
C++ motion and sensor models cannot be pickled).

- :class:`KalmanFilterBank`: linear models (CV/CA with a position sensor).
- :class:`ExtendedKalmanFilterBank`: any built-in pair, linearised with analytic Jacobians.
- :class:`UnscentedKalmanFilterBank`: any built-in pair, Merwe scaled sigma points.

Invalid measurements raise :class:`~fusion.errors.NumericalError` by default. A NaN or
infinite measurement is found before anything changes. An innovation that overflows (a huge
state or measurement), an innovation covariance that is not positive definite, or a sensor
model undefined at a filter's state (radar at the origin) is only found during the update:
with ``on_invalid="raise"`` every filter is then restored from a whole-bank snapshot
(reserved at construction: no allocation), so the call changes nothing but ``status``
(which says which filters failed), and the error names the first failing filter. With
``on_invalid="skip"`` exactly the failing filters are left unchanged, counted in ``skipped``,
and a warning is issued at a bounded rate. ``predict`` is the same: a filter whose covariance
cannot be factorised (UKF) or whose prediction overflows makes a strict call change nothing;
with ``"skip"`` the others are predicted.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

from fusion import _core
from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.filters._common import as_number, check_bank_size, real_array

__all__ = ["KalmanFilterBank", "ExtendedKalmanFilterBank", "UnscentedKalmanFilterBank"]

_LINEAR_MOTIONS = {"CV2D", "CV3D", "CA2D", "CA3D"}
_LINEAR_SENSORS = {"Position2D", "Position3D"}
_WARN_FIRST, _WARN_EVERY = 5, 1000  # lenient mode: warn on the first few, then every 1000th


def _core_bank_class(prefix: str, motion: Any, sensor: Any) -> Any:
    name = f"{prefix}Bank_{type(motion).__name__}_{type(sensor).__name__}"
    cls = getattr(_core, name, None)
    if cls is None:
        pairs = sorted(k[len(prefix) + 5 :].replace("_", " + ") for k in dir(_core) if k.startswith(prefix + "Bank_"))
        raise ConfigurationError(
            f"no built-in {prefix.upper()} bank for motion {type(motion).__name__} with sensor "
            f"{type(sensor).__name__}; available pairs: {', '.join(pairs)}"
        )
    return cls


def checked_noise(value: Any, dim_z: int, size: int, what: str = "R") -> np.ndarray:
    """A measurement noise for a bank of ``size``: (dim_z, dim_z) for all or (size, dim_z, dim_z),
    a scalar s meaning s * I; symmetric positive definite; returned as a read-only C-contiguous
    copy (never aliases the caller's array)."""
    R = real_array(value, what)
    if R.ndim == 0:
        if not np.isfinite(R):  # before the product: inf * I puts inf * 0 = NaN off the diagonal
            raise NumericalError(f"{what}: contains NaN or infinity")
        R = np.eye(dim_z) * float(R)
    if R.shape not in ((dim_z, dim_z), (size, dim_z, dim_z)):
        raise ShapeError(f"{what}: expected shape ({dim_z}, {dim_z}) or ({size}, {dim_z}, {dim_z}), but got {R.shape}")
    _FilterBank._check_spd(R, what)
    R = np.array(R, dtype=float, order="C", copy=True)
    R.flags.writeable = False
    return R


class BankSettings:
    """The banks' plain settings, checked on assignment (a failed assignment changes nothing):
    ``on_invalid`` ("raise" or "skip"; ConfigurationError otherwise), ``skipped`` (the lenient
    mode's counter: an int >= 0, e.g. reset to 0), ``dim_x`` / ``dim_z`` (fixed by the models:
    assigning one is a ConfigurationError, not a silent change that later calls would trust)."""

    _on_invalid: str
    _skipped: int
    _core: Any

    @property
    def on_invalid(self) -> str:
        return self._on_invalid

    @on_invalid.setter
    def on_invalid(self, value: Any) -> None:
        if not isinstance(value, str) or value not in ("raise", "skip"):
            raise ConfigurationError(f"on_invalid must be 'raise' or 'skip', got {value!r}")
        self._on_invalid = value

    @property
    def skipped(self) -> int:
        return self._skipped

    @skipped.setter
    def skipped(self, value: Any) -> None:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ConfigurationError(f"skipped: expected an integer >= 0 (a counter), got {value!r}")
        lock = self.__dict__.get("_skipped_lock")  # None while __init__ sets the first value
        if lock is None:
            self._skipped = int(value)
            return
        with lock:  # serialised with the counting in _invalid: a reset is never lost
            self._skipped = int(value)

    @property
    def dim_x(self) -> int:
        return int(self._core.dim_x)

    @dim_x.setter
    def dim_x(self, value: Any) -> None:
        raise ConfigurationError(f"dim_x is fixed by the motion model ({self.dim_x}); cannot set it to {value!r}")

    @property
    def dim_z(self) -> int:
        return int(self._core.dim_z)

    @dim_z.setter
    def dim_z(self, value: Any) -> None:
        raise ConfigurationError(f"dim_z is fixed by the sensor model ({self.dim_z}); cannot set it to {value!r}")


class _FilterBank(BankSettings):
    _prefix = "Ekf"

    def __init__(
        self,
        motion: Any,
        sensor: Any,
        size: int,
        *,
        x: Any = None,
        P: Any = None,
        R: Any = None,
        on_invalid: str = "raise",
        **core_kwargs: Any,
    ) -> None:
        if on_invalid not in ("raise", "skip"):
            raise ConfigurationError(f"on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
        cls = _core_bank_class(self._prefix, motion, sensor)
        dim_x = int(cls.dim_x)  # a static property of the bound class
        size = check_bank_size(size, 8 * 2 * (dim_x + dim_x ** 2 + 2) + 4, "size", "filters")  # + strict snapshot
        self._core = cls(motion, sensor, size, **core_kwargs)
        self.on_invalid = on_invalid
        self.skipped = 0  # filters left unchanged by invalid measurements, over the bank's life
        self._skipped_lock = threading.Lock()  # `skipped += n` is not atomic across threads
        self.R = np.eye(self.dim_z) if R is None else R
        if x is not None:
            self.x = x
        if P is not None:
            self.P = P

    def __len__(self) -> int:
        return len(self._core)

    @property
    def motion(self) -> Any:
        """A copy of the bank's motion model: assigning an attribute of it changes the copy only,
        never the bank (build a new bank to change its models)."""
        return self._core.motion

    @property
    def sensor(self) -> Any:
        """A copy of the bank's sensor model: assigning an attribute of it changes the copy only,
        never the bank (build a new bank to change its models)."""
        return self._core.measurement

    @property
    def x(self) -> np.ndarray:
        """States, shape (N, dim_x): a view of the bank's storage."""
        return self._core.x

    @x.setter
    def x(self, value: Any) -> None:
        v = real_array(value, "x")
        shape = (len(self), self.dim_x)
        if v.shape not in (shape, (self.dim_x,)):
            raise ShapeError(f"x: expected shape {shape} or ({self.dim_x},), but got {v.shape}")
        if not np.isfinite(v).all():  # a NaN state was taken and propagated through every step
            where = f" (filter {int(np.argmax(~np.isfinite(v).all(axis=1)))})" if v.ndim == 2 else ""
            raise NumericalError(f"x{where}: contains NaN or infinity")
        self._core.set_x(v)  # copies into the existing storage under the bank's lock

    @property
    def P(self) -> np.ndarray:
        """Covariances, shape (N, dim_x, dim_x): a view of the bank's storage."""
        return self._core.P

    @P.setter
    def P(self, value: Any) -> None:
        v = real_array(value, "P")
        n = self.dim_x
        if v.shape not in ((len(self), n, n), (n, n)):
            raise ShapeError(f"P: expected shape ({len(self)}, {n}, {n}) or ({n}, {n}), but got {v.shape}")
        self._check_spd(v, "P")
        self._core.set_P(v)  # copies into the existing storage under the bank's lock

    @property
    def R(self) -> np.ndarray:
        """Measurement noise: (dim_z, dim_z) shared by all filters, or (N, dim_z, dim_z).
        A read-only copy of what was assigned: replace it with ``bank.R = ...`` (atomic), an
        update running in another thread keeps the array it started with."""
        return self._R

    @R.setter
    def R(self, value: Any) -> None:
        self._R = self._checked_R(value)

    @property
    def nis(self) -> np.ndarray:
        """Normalised innovation squared of each filter's last successful update."""
        return self._core.nis

    @property
    def log_likelihood(self) -> np.ndarray:
        """log N(y; 0, S) of each filter's last successful update."""
        return self._core.log_likelihood

    @property
    def status(self) -> np.ndarray:
        """Per filter, the last update's outcome: -1 not updated (masked out), 0 ok,
        1 non-finite measurement, 2 S not positive definite, 3 sensor model undefined."""
        return self._core.status

    @staticmethod
    def _check_spd(M: np.ndarray, what: str) -> None:
        if not np.all(np.isfinite(M)):
            raise NumericalError(f"{what}: contains NaN or infinity")
        if not np.allclose(M, np.swapaxes(M, -1, -2), rtol=1e-9, atol=1e-12):
            raise NumericalError(f"{what}: not symmetric")
        try:
            np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            raise NumericalError(f"{what}: not positive definite") from None

    def _checked_R(self, value: Any) -> np.ndarray:
        return checked_noise(value, self.dim_z, len(self))

    def predict(self, dt_s: float) -> None:
        """Predict every filter ``dt_s`` seconds ahead.

        UKF: a filter whose covariance cannot be factorised into sigma points fails. With
        ``on_invalid="raise"`` no filter is predicted and NumericalError is raised (the call
        changes nothing); with ``"skip"`` the failing filters are left unchanged and counted."""
        dt = as_number(dt_s, "predict: dt_s")  # a string, None, complex: ConfigurationError, not TypeError
        if not np.isfinite(dt) or dt < 0:
            raise ConfigurationError(f"predict: dt_s must be finite and >= 0, got {dt_s}")
        # strict mode: all or nothing (a failed call changes nothing); lenient: the failing
        # filters are left unchanged and counted, the others are predicted
        strict = self.on_invalid == "raise"  # read once: another thread may assign on_invalid meanwhile
        failures = self._core.predict(dt, strict)
        if failures:
            self._invalid(failures, "predict: covariance not positive definite, or the prediction not finite", -1,
                          strict)

    def update(self, z: Any, mask: Any = None, R: Any = None) -> int:
        """Update filter i with row i of ``z`` (shape (N, dim_z)) where ``mask[i]`` is true
        (all filters when mask is None). ``R`` overrides the bank's R for this call.
        Returns the number of filters updated."""
        n, m = len(self), self.dim_z
        zz = real_array(z, "update: z")  # complex, bool, str: refused, never cast
        if zz.shape != (n, m):
            raise ShapeError(f"update: z: expected shape ({n}, {m}), but got {zz.shape}")
        mk = None
        if mask is not None:
            mk = np.ascontiguousarray(mask, dtype=bool)
            if mk.shape != (n,):
                raise ShapeError(f"update: mask: expected shape ({n},), but got {mk.shape}")
        strict = self.on_invalid == "raise"  # read once: another thread may assign on_invalid meanwhile
        if strict and not np.isfinite(zz).all():  # per-row search only on failure
            finite = np.isfinite(zz).all(axis=1)
            bad = ~finite if mk is None else (~finite & mk)
            if bad.any():
                i = int(np.argmax(bad))
                raise NumericalError(f"update: non-finite measurement for filter {i}: z = {zz[i]}")
        RR = self._R if R is None else self._checked_R(R)
        updated, skipped, first, reason = self._core.update(zz, None if mk is None else mk.view(np.uint8), RR, strict)
        if skipped:
            self._invalid(skipped, f"update: {reason}", first, strict)
        return int(updated)

    def _invalid(self, count: int, what: str, first: int, strict: bool) -> None:
        where = f" (first: filter {first})" if first >= 0 else ""
        if strict:  # the mode the core ran in, not the attribute now
            raise NumericalError(f"{what}{where}; {count} filter(s) failed, no filter changed")
        with self._skipped_lock:
            before = self._skipped
            self._skipped = total = before + count
        if before < _WARN_FIRST or before // _WARN_EVERY != total // _WARN_EVERY:
            warnings.warn(f"{type(self).__name__}.{what}{where}: {count} skipped, {total} in total",
                          RuntimeWarning, stacklevel=3)

    def __copy__(self) -> _FilterBank:
        """An independent bank with this one's state (x, P, nis, log_likelihood, status,
        taken atomically), R, on_invalid and skipped."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._core = self._core.copy()
        new._skipped_lock = threading.Lock()
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> _FilterBank:
        new = self.__copy__()
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(
            f"{type(self).__name__} cannot be pickled: its motion and sensor models are C++ "
            "objects without a serialised form. Save x, P and R (numpy arrays) and build a new "
            "bank from them; copy.copy / copy.deepcopy work within a process.")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.motion).__name__}, {type(self.sensor).__name__}, size={len(self)})"


class KalmanFilterBank(_FilterBank):
    """N linear Kalman filters: a linear motion model (CV2D, CV3D, CA2D, CA3D) with a
    position sensor. F, Q and H are computed once per call, not once per filter.

    >>> from fusion.models import CV2D, Position2D
    >>> bank = KalmanFilterBank(CV2D(sigma_a=1.0), Position2D(), size=1000, R=0.25)
    >>> bank.predict(0.1); bank.update(z)             # z: (1000, 2)

    Threads: calls on one bank are serialised by its own lock; see docs/threading.md.
    """

    _prefix = "Ekf"  # the EKF step reduces to the KF exactly for linear models

    def __init__(self, motion: Any, sensor: Any, size: int, **kwargs: Any) -> None:
        if type(motion).__name__ not in _LINEAR_MOTIONS or type(sensor).__name__ not in _LINEAR_SENSORS:
            raise ConfigurationError(
                f"KalmanFilterBank needs a linear motion model ({', '.join(sorted(_LINEAR_MOTIONS))}) and a "
                f"position sensor; got {type(motion).__name__} with {type(sensor).__name__}: use "
                "ExtendedKalmanFilterBank or UnscentedKalmanFilterBank"
            )
        super().__init__(motion, sensor, size, **kwargs)


class ExtendedKalmanFilterBank(_FilterBank):
    """N extended Kalman filters of any built-in (motion model, sensor model) pair.

    Threads: calls on one bank are serialised by its own lock; see docs/threading.md."""

    _prefix = "Ekf"


class UnscentedKalmanFilterBank(_FilterBank):
    """N unscented Kalman filters (Merwe scaled sigma points ``alpha``, ``beta``, ``kappa``)
    of any built-in (motion model, sensor model) pair.

    Threads: calls on one bank are serialised by its own lock; see docs/threading.md."""

    _prefix = "Ukf"

    def __init__(self, motion: Any, sensor: Any, size: int, *, alpha: float = 1e-3, beta: float = 2.0,
                 kappa: float = 0.0, **kwargs: Any) -> None:
        alpha, beta, kappa = (as_number(v, f"{type(self).__name__}: {k}")  # not pybind11's signature dump
                              for k, v in (("alpha", alpha), ("beta", beta), ("kappa", kappa)))
        super().__init__(motion, sensor, size, alpha=alpha, beta=beta, kappa=kappa, **kwargs)
