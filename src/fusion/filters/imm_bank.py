"""IMM bank: N independent interacting-multiple-model tracks of one set of motion models and one
sensor model, held and stepped in C++ (csrc/include/fusion/filters/imm.hpp, imm_bank.hpp).

Each track runs the IMM cycle of :class:`~fusion.filters.IMMEstimator` (mixing with the Markov
matrix ``M``, model-conditioned EKF predict and update, mode probabilities from the models'
likelihoods, combined estimate), with the same state maps for models of different state sizes
(CV 4-state with CTRV 5-state: :class:`~fusion.filters.CVToCTRV` / :class:`~fusion.filters.CTRVToCV`
semantics; CV with CA: ``LinearStateMap(np.eye(6, 4))``). One :meth:`IMMBank.predict` or
:meth:`IMMBank.update` call steps every track with the GIL released and allocates nothing.

Arrays (numpy views of the bank's storage, allocated once, never moved; each keeps the bank
alive): ``x`` (N, dim_x) and ``P`` (N, dim_x, dim_x), the combined estimate in the state space of
model ``output_model`` (the model with the most states); ``mu`` (N, r) mode probabilities;
``mode_x(k)`` (N, n_k) and ``mode_P(k)`` (N, n_k, n_k) model k's states; ``log_likelihood``
(N, r) the models' last log-likelihoods; ``status`` (N,) the last update's outcome per track
(:data:`STATUS`).

Far-off measurements (the underflow case): the mode probabilities are computed from the
log-likelihoods in the log domain, so a measurement far from every model gives the exact
posterior ``mu`` (finite, summing to 1), never 0/0; when every model's likelihood is below the
smallest normal float the status is 4 (a flag only). A model whose NIS exceeds 1e10 (a
measurement more than 1e5 standard deviations from its prediction) does not take the
measurement: its log-likelihood counts as -inf (taking it would move the model so far from the
others that the mixture's covariance, which adds the squared spread of the models' states, loses
positive definiteness in double precision). When no model has a finite
log-likelihood at all (the NIS overflows or exceeds 1e10), the measurement cannot weigh the modes: the track is
treated as having no measurement (the models keep their predicted states, ``mu`` becomes the
predicted mode probabilities ``mu @ M``) and its status is 5; such tracks are counted in
``flagged``. A track without a measurement this cycle (``mask[i]`` false) gets the same
no-measurement update (status -1).

Bad input: wrong shapes raise :class:`~fusion.errors.ShapeError`, a non-finite measurement
(for a masked-in track), a non-symmetric-positive-definite ``R`` or ``P`` and a bad ``mu`` raise
:class:`~fusion.errors.NumericalError` or :class:`~fusion.errors.ConfigurationError`, each
naming the argument, before anything changes. A model's Kalman update that fails during the
call (S not positive definite, sensor model undefined at the state) makes a call with
``on_invalid="raise"`` change no track (a whole-bank snapshot, reserved at construction,
restores them all; only ``status`` says which failed) and raise
:class:`~fusion.errors.NumericalError` naming the first failing track; with ``"skip"`` exactly
the failing tracks are left unchanged, counted in ``skipped`` and warned at a bounded rate. A ``predict`` whose
result is not finite for some tracks changes no track with ``on_invalid="raise"`` (a whole-bank
snapshot, reserved at construction, restores them) and raises; with ``"skip"`` only the failing
tracks are left as they were.

Threads (docs/threading.md): ``predict``, ``update``, the setters (``mu = ...``,
:meth:`IMMBank.set_model_state`) and copying are serialised by a per-bank FairMutex taken
after the GIL is released, so each call is atomic and two threads stepping one bank give the
result of some sequential order of their calls, never a race. Reading the views from another
thread while one steps is allowed but sees a partly stepped bank (some tracks stepped, others
not); ``copy.copy(bank)`` is an atomic snapshot whose views are consistent. Writing through a
view while another thread steps is a data race (not allowed). Pickling raises TypeError.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from fusion import _core
from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.filters._common import as_integer, as_number, check_bank_size, real_array
from fusion.filters.bank import BankSettings, _FilterBank, checked_noise

__all__ = ["IMMBank", "STATUS"]

#: Meaning of each value of :attr:`IMMBank.status`.
STATUS: dict[int, str] = {
    -2: "prediction not finite (dt too large for the covariance): track unchanged by that predict",
    -1: "no measurement: mu <- predicted mode probabilities, models as predicted",
    0: "ok",
    1: "non-finite measurement: track unchanged",
    2: "some model's innovation covariance is not positive definite: track unchanged",
    3: "sensor model undefined at some model's state: track unchanged",
    4: "ok, but every model's likelihood underflows (mu from the log domain)",
    5: "no model has a finite log-likelihood: treated as no measurement",
}
_WARN_FIRST, _WARN_EVERY = 5, 1000

MAX_STATE = 1e150
"""The largest magnitude :meth:`IMMBank.set_model_state` takes for a state component: the
combined covariance adds the outer product of the models' state differences, which overflows
to inf for states near 1e154."""


def _check_per_model(x: Any, P: Any, r: int, who: str) -> None:
    """x and P (each None or one entry per model) as the constructor and set_model_states take
    them: ShapeError naming ``who`` otherwise."""
    for name, given in (("x", x), ("P", P)):
        if given is not None and (not isinstance(given, (Sequence, np.ndarray)) or isinstance(given, str)
                                  or getattr(given, "ndim", 1) == 0):  # (len() of a 0-d array: TypeError)
            raise ShapeError(f"{who}: {name}: expected one entry per model ({r}), got {given!r}")
        if given is not None and len(given) != r:
            raise ShapeError(f"{who}: {name}: expected one entry per model ({r}), but got {len(given)}")


def _core_class(motions: Sequence[Any], sensor: Any) -> Any:
    name = "ImmBank_" + "_".join(type(m).__name__ for m in motions) + "_" + type(sensor).__name__
    cls = getattr(_core, name, None)
    if cls is None:
        bound = sorted(k[len("ImmBank_"):].replace("_", " + ") for k in dir(_core) if k.startswith("ImmBank_"))
        got = " + ".join(type(m).__name__ for m in motions) + " + " + type(sensor).__name__
        raise ConfigurationError(f"IMMBank: no built-in IMM bank for {got}; available (models + sensor): "
                                 + "; ".join(bound))
    return cls


class IMMBank(BankSettings):
    """N IMM tracks, each over the motion models ``motions`` (one EKF per model) seen by
    ``sensor``.

    Parameters
    ----------
    motions : the models, e.g. ``[CV2D(sigma_a=0.1), CV2D(sigma_a=5.0)]`` or
        ``[CV2D(0.2), CTRV(0.5, 1.0)]`` (bound combinations: see the error message for an
        unknown one).
    sensor : the sensor model (``Position2D()``, ``RadarPolar()``).
    size : number of tracks N.
    M : Markov matrix (r, r), ``M[i, j]`` = P(model j next | model i now); rows sum to 1.
    mu : initial mode probabilities (r,) or (N, r), normalised per track (default uniform).
    R : measurement noise, (dim_z, dim_z) for all tracks or (N, dim_z, dim_z); a scalar s
        means s * I (default I).
    x, P : optional initial states: a sequence with one entry per model, each (n_k,) /
        (n_k, n_k) for every track or (N, n_k) / (N, n_k, n_k); default x = 0, P = I.
    min_speed_mps : CV -> CTRV map: below this speed the heading is taken from the CTRV model.
    on_invalid : "raise" (default) or "skip" for tracks whose update fails during a call.

    >>> from fusion.models import CV2D, CTRV, Position2D
    >>> bank = IMMBank([CV2D(0.2), CTRV(0.5, 1.0)], Position2D(), 1000, M=[[0.95, 0.05], [0.05, 0.95]], R=0.25)
    >>> bank.predict(0.1); bank.update(z)             # z: (1000, 2)
    >>> bank.x, bank.P, bank.mu                         # (1000, 5), (1000, 5, 5), (1000, 2)

    Threads: calls on one bank are serialised by its own lock; views are not (see the module
    docstring and docs/threading.md).

    ``dim_x`` is the size of the combined state (that of model ``output_model``); ``dim_x``,
    ``dim_z``, ``on_invalid`` and ``skipped`` are checked on assignment (:class:`BankSettings`).
    """

    STATUS = STATUS

    def __init__(
        self,
        motions: Sequence[Any],
        sensor: Any,
        size: int,
        *,
        M: Any,
        mu: Any = None,
        R: Any = None,
        x: Sequence[Any] | None = None,
        P: Sequence[Any] | None = None,
        min_speed_mps: float = 0.1,
        on_invalid: str = "raise",
    ) -> None:
        if on_invalid not in ("raise", "skip"):
            raise ConfigurationError(f"IMMBank: on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
        if not isinstance(motions, Sequence) or isinstance(motions, str):
            raise ConfigurationError(f"IMMBank: motions: expected a sequence of motion models, got {motions!r}")
        motions = list(motions)
        if len(motions) < 2:
            raise ConfigurationError(f"IMMBank: motions: need at least two motion models, got {len(motions)}")
        min_speed_mps = as_number(min_speed_mps, "IMMBank: min_speed_mps")
        if not np.isfinite(min_speed_mps) or min_speed_mps < 0:
            raise ConfigurationError(f"IMMBank: min_speed_mps must be finite and >= 0, got {min_speed_mps}")
        cls = _core_class(motions, sensor)
        r = len(motions)
        dims = cls.model_dims
        # bytes per track: the state, mu, log-likelihoods, status and the strict mode's snapshot of them
        size = check_bank_size(size, 8 * (2 * (sum(n + n * n for n in dims) + max(dims) + max(dims) ** 2) + 4 * r) + 4,
                               "IMMBank: size", "tracks")
        Mm = real_array(M, "IMMBank: M")
        if Mm.shape != (r, r):
            raise ShapeError(f"IMMBank: M: expected shape ({r}, {r}), but got {Mm.shape}")
        if not np.all(np.isfinite(Mm)) or np.any(Mm < 0):
            raise ConfigurationError(f"IMMBank: M must be finite and non-negative, got {Mm.tolist()}")
        if not np.allclose(Mm.sum(axis=1), 1.0, rtol=0.0, atol=1e-9):
            raise ConfigurationError(f"IMMBank: every row of M must sum to 1, got row sums {Mm.sum(axis=1).tolist()}")
        Mm = Mm / Mm.sum(axis=1, keepdims=True)
        _check_per_model(x, P, r, "IMMBank")
        self._core = cls(tuple(motions), sensor, size, Mm, np.full(r, 1.0 / r), float(min_speed_mps))
        self.on_invalid = on_invalid
        self.skipped = 0  # tracks left unchanged by failed updates, over the bank's life
        self._skipped_lock = threading.Lock()
        self.R = np.eye(self.dim_z) if R is None else R
        if mu is not None:
            self.mu = mu
        self.set_model_states(x=x, P=P)

    # ------------------------------------------------------------------ fixed properties
    def __len__(self) -> int:
        return len(self._core)

    @property
    def n_models(self) -> int:
        """Number of models r."""
        return int(self._core.n_models)

    @property
    def model_dims(self) -> tuple[int, ...]:
        """State size of each model."""
        return tuple(int(n) for n in self._core.model_dims)

    @property
    def output_model(self) -> int:
        """Index of the model whose state space holds the combined ``x`` and ``P``."""
        return int(self._core.output_model)

    @property
    def motions(self) -> tuple[Any, ...]:
        """A copy of the bank's motion models: assigning an attribute of it changes the copy only,
        never the bank (build a new bank to change its models)."""
        return tuple(self._core.motions)

    @property
    def sensor(self) -> Any:
        """A copy of the bank's sensor model: assigning an attribute of it changes the copy only,
        never the bank (build a new bank to change its models)."""
        return self._core.measurement

    @property
    def M(self) -> np.ndarray:
        """The Markov matrix (a copy)."""
        return np.asarray(self._core.M)

    # ------------------------------------------------------------------ state
    @property
    def x(self) -> np.ndarray:
        """Combined states (N, dim_x): a view of the bank's storage."""
        return self._core.x

    @x.setter
    def x(self, value: Any) -> None:
        raise ConfigurationError("x is the combined estimate, computed from the models' states: set those with "
                                 "set_model_state(k, x=..., P=...)")

    @property
    def P(self) -> np.ndarray:
        """Combined covariances (N, dim_x, dim_x): a view of the bank's storage."""
        return self._core.P

    @P.setter
    def P(self, value: Any) -> None:
        raise ConfigurationError("P is the combined estimate, computed from the models' states: set those with "
                                 "set_model_state(k, x=..., P=...)")

    @property
    def mu(self) -> np.ndarray:
        """Mode probabilities (N, r): a view. Assigning (r,) or (N, r) non-negative rows with a
        positive sum normalises each row and recomputes ``x`` and ``P`` (atomic)."""
        return self._core.mu

    @mu.setter
    def mu(self, value: Any) -> None:
        r, n = self.n_models, len(self)
        v = real_array(value, "mu")
        if v.shape not in ((r,), (n, r)):
            raise ShapeError(f"mu: expected shape ({n}, {r}) or ({r},), but got {v.shape}")
        s = v.sum(axis=-1, keepdims=True)
        if not np.all(np.isfinite(v)) or np.any(v < 0) or not np.all(s > 0):
            raise ConfigurationError(
                "mu: mode probabilities must be finite, non-negative, with a positive sum per track")
        self._core.set_mu(v / s)

    def mode_x(self, model: int) -> np.ndarray:
        """Model ``model``'s states (N, n_k): a view of the bank's storage."""
        return self._core.mode_x(self._model(model, "mode_x"))

    def mode_P(self, model: int) -> np.ndarray:
        """Model ``model``'s covariances (N, n_k, n_k): a view of the bank's storage."""
        return self._core.mode_P(self._model(model, "mode_P"))

    def _model(self, model: Any, what: str) -> int:
        k = as_integer(model, f"{what}: model")
        if not 0 <= k < self.n_models:
            raise ConfigurationError(f"{what}: model must be in [0, {self.n_models}), got {k}")
        return k

    def set_model_state(self, model: int, x: Any = None, P: Any = None) -> None:
        """Copy states (n_k,) or (N, n_k) and/or covariances (n_k, n_k) or (N, n_k, n_k) into
        model ``model``; ``x`` and ``P`` are recomputed. Everything is checked first: a failed
        call changes nothing.

        A track's model states may not lie more than 1e5 standard deviations apart
        (``(x_i - x_j)^T (P_i + P_j)^-1 (x_i - x_j) > 1e10``, the bound under which an update
        is taken): beyond it the mixture's covariance cannot be represented in double precision
        and the call raises :class:`~fusion.errors.NumericalError`. To move tracks far, set
        every model in one call with :meth:`set_model_states`."""
        k = self._model(model, "set_model_state")
        xv, Pv = self._checked_model_state(k, x, P, "set_model_state")
        if xv is not None or Pv is not None:
            self._core.set_mode_state(k, xv, Pv)  # x and P in one locked section

    def set_model_states(self, x: Any = None, P: Any = None) -> None:
        """Set every model at once: ``x`` and ``P`` are sequences with one entry per model (each
        as in :meth:`set_model_state`, or None to keep that model's), or None. Checked first,
        written in one locked section, and the spread bound of :meth:`set_model_state` applies
        after all models are written: a failed call changes nothing."""
        r = self.n_models
        _check_per_model(x, P, r, "set_model_states")
        xs: list[np.ndarray | None] = []
        Ps: list[np.ndarray | None] = []
        for k in range(r):
            xv, Pv = self._checked_model_state(k, None if x is None else x[k], None if P is None else P[k],
                                               "set_model_states")
            xs.append(xv)
            Ps.append(Pv)
        if any(v is not None for v in xs + Ps):
            self._core.set_mode_states(xs, Ps)

    def _checked_model_state(self, k: int, x: Any, P: Any, who: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        n, nk = len(self), self.model_dims[k]
        xv = Pv = None
        if x is not None:
            xv = real_array(x, f"{who}: x[{k}]")
            if xv.shape not in ((nk,), (n, nk)):
                raise ShapeError(f"{who}: x[{k}]: expected shape ({n}, {nk}) or ({nk},), but got {xv.shape}")
            if not np.all(np.isfinite(xv)):
                raise NumericalError(f"{who}: x[{k}]: contains NaN or infinity")
            big = np.abs(xv) > MAX_STATE
            if big.any():
                where = f" (track {int(np.argmax(big.any(axis=1)))})" if xv.ndim == 2 else ""
                raise NumericalError(f"{who}: x[{k}]{where}: |value| = {np.abs(xv).max():.3g} > "
                                     f"{MAX_STATE:g}: the spread of the models' states would overflow the combined "
                                     "covariance")
        if P is not None:
            Pv = real_array(P, f"{who}: P[{k}]")
            if Pv.shape not in ((nk, nk), (n, nk, nk)):
                raise ShapeError(f"{who}: P[{k}]: expected shape ({n}, {nk}, {nk}) or ({nk}, {nk}), but got {Pv.shape}")
            _FilterBank._check_spd(Pv, f"{who}: P[{k}]")
        return xv, Pv

    @property
    def log_likelihood(self) -> np.ndarray:
        """Each model's log N(y; 0, S) of the last update (N, r)."""
        return self._core.log_likelihood

    @property
    def status(self) -> np.ndarray:
        """Per track, the last update's outcome (:data:`STATUS`)."""
        return self._core.status

    @property
    def R(self) -> np.ndarray:
        """Measurement noise (dim_z, dim_z) for all tracks or (N, dim_z, dim_z); a read-only copy
        of what was assigned (replace it with ``bank.R = ...``)."""
        return self._R

    @R.setter
    def R(self, value: Any) -> None:
        self._R = self._checked_R(value)

    def _checked_R(self, value: Any) -> np.ndarray:
        return checked_noise(value, self.dim_z, len(self))

    # ------------------------------------------------------------------ steps
    def predict(self, dt_s: float) -> None:
        """Mix and predict every track ``dt_s`` seconds ahead (``mu`` is unchanged, as filterpy).

        A track whose prediction is not finite (a ``dt_s`` so large that the covariance
        overflows) has its status set to -2. With ``on_invalid="raise"`` every track is left as
        it was (the call changes nothing but ``status``) and NumericalError is raised; with
        ``"skip"`` the failing tracks are left as they were and counted in ``skipped``, the
        other tracks are predicted."""
        dt = as_number(dt_s, "predict: dt_s")
        if not np.isfinite(dt) or dt < 0:
            raise ConfigurationError(f"predict: dt_s must be finite and >= 0, got {dt_s}")
        strict = self.on_invalid == "raise"  # read once: another thread may assign on_invalid meanwhile
        failed, first = self._core.predict(dt, strict)
        if failed:
            self._invalid(int(failed), f"predict: prediction over dt_s = {dt_s} is not finite", int(first), strict)

    def update(self, z: Any, mask: Any = None, R: Any = None) -> int:
        """Update track i with row i of ``z`` (N, dim_z) where ``mask[i]`` is true (every track
        when mask is None); the others get the no-measurement update. ``R`` overrides the
        bank's R for this call. Returns the number of tracks whose measurement was used."""
        n, m = len(self), self.dim_z
        zz = real_array(z, "update: z")
        if zz.shape != (n, m):
            raise ShapeError(f"update: z: expected shape ({n}, {m}), but got {zz.shape}")
        mk = None
        if mask is not None:
            mk = np.asarray(mask)
            if mk.dtype.kind not in "biu":
                raise ConfigurationError(f"update: mask: expected booleans, got {mk.dtype} data")
            if mk.shape != (n,):
                raise ShapeError(f"update: mask: expected shape ({n},), but got {mk.shape}")
            mk = np.ascontiguousarray(mk, dtype=bool)
        strict = self.on_invalid == "raise"  # read once: another thread may assign on_invalid meanwhile
        if strict and not np.isfinite(zz).all():
            bad = ~np.isfinite(zz).all(axis=1)
            if mk is not None:
                bad &= mk
            if bad.any():
                i = int(np.argmax(bad))
                raise NumericalError(f"update: z: non-finite measurement for track {i}: z = {zz[i]}")
        RR = self._R if R is None else self._checked_R(R)
        updated, skipped, _flagged, first, reason = self._core.update(
            zz, None if mk is None else mk.view(np.uint8), RR, strict)
        if skipped:
            self._invalid(int(skipped), f"update: {reason}", int(first), strict)
        return int(updated)

    def _invalid(self, count: int, what: str, first: int, strict: bool) -> None:
        where = f" (first: track {first})" if first >= 0 else ""
        if strict:  # the mode the core ran in, not the attribute now
            raise NumericalError(f"{what}{where}; {count} track(s) failed, no track changed")
        with self._skipped_lock:
            before = self._skipped
            self._skipped = total = before + count
        if before < _WARN_FIRST or before // _WARN_EVERY != total // _WARN_EVERY:
            warnings.warn(f"IMMBank.{what}{where}: {count} skipped, {total} in total",
                          RuntimeWarning, stacklevel=3)

    # ------------------------------------------------------------------ copies
    def __copy__(self) -> IMMBank:
        """An independent bank with this one's whole state (taken atomically), R, on_invalid and
        skipped."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._core = self._core.copy()
        new._skipped_lock = threading.Lock()
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> IMMBank:
        new = self.__copy__()
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("IMMBank cannot be pickled: its motion and sensor models are C++ objects without a "
                        "serialised form. Save mu and each model's x and P and build a new bank from them.")

    def __repr__(self) -> str:
        names = " + ".join(type(m).__name__ for m in self.motions)
        return f"IMMBank({names}, {type(self.sensor).__name__}, size={len(self)})"
