"""Interacting multiple model (IMM) estimator, filterpy-compatible, with explicit state maps
so that models whose states differ in size (CV 4-state with CA 6-state or CTRV 5-state) mix.

Mixing model i into model j needs model i's estimate in model j's state space. A
:class:`StateMap` gives it: :class:`LinearStateMap` for components shared linearly (CV -> CA
copies position and velocity), :class:`CVToCTRV` / :class:`CTRVToCV` for the nonlinear
speed-and-heading conversion. Components of model j that model i does not have are taken
from model j's own current estimate, uncorrelated with the rest (the "augment from the target
model" strategy for unequal state vectors), so no fill values need tuning.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.filters._common import FilterLock, LockSlot, check_assigned, check_state, external_assignment, shallow_copy

__all__ = ["CTRVToCV", "CVToCTRV", "IMMEstimator", "IdentityMap", "LinearStateMap", "StateMap"]


class StateMap:
    """Maps a Gaussian estimate from a source model's state to a target model's state.

    Subclasses implement :meth:`map`, returning the mapped mean and covariance and a boolean
    mask of target components the source defines; the others are filled from the target.
    ``target_angles`` lists target components that are angles (mixed as circular quantities).
    """

    target_angles: tuple[int, ...] = ()

    def map(self, x: np.ndarray, P: np.ndarray, n_target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def apply(self, x: np.ndarray, P: np.ndarray, x_target: np.ndarray,
              P_target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source (x, P) in the target's space, missing components from (x_target, P_target)."""
        n = x_target.size
        xm, Pm, defined = self.map(x, P, n)
        if defined.all():
            return xm, Pm
        missing = ~defined
        xm = xm.copy()
        Pm = Pm.copy()
        xm[missing] = x_target[missing]
        Pm[missing, :] = 0.0
        Pm[:, missing] = 0.0
        Pm[np.ix_(missing, missing)] = P_target[np.ix_(missing, missing)]
        return xm, Pm


class IdentityMap(StateMap):
    """Same state layout in both models."""

    def map(self, x: np.ndarray, P: np.ndarray, n_target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if x.size != n_target:
            raise ShapeError(f"IdentityMap: source state has {x.size} components, target {n_target}; give a state map")
        return x, P, np.ones(n_target, dtype=bool)


class LinearStateMap(StateMap):
    """x_target = T x_source for the rows of T that are not all zero; the all-zero rows mark
    target components the source does not have (filled from the target model).

    Example, CV (x, y, vx, vy) into CA (x, y, vx, vy, ax, ay): ``T = np.eye(6, 4)``.
    """

    def __init__(self, T: Any) -> None:
        self.T = np.asarray(T, dtype=float)
        if self.T.ndim != 2:
            raise ShapeError(f"LinearStateMap: T must be 2-D, got shape {self.T.shape}")
        self.defined = np.any(self.T != 0.0, axis=1)

    def map(self, x: np.ndarray, P: np.ndarray, n_target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.T.shape != (n_target, x.size):
            raise ShapeError(f"LinearStateMap: T has shape {self.T.shape}, expected ({n_target}, {x.size})")
        return self.T @ x, self.T @ P @ self.T.T, self.defined


class CVToCTRV(StateMap):
    """CV2D (x, y, vx, vy) into CTRV (x, y, v, yaw, yaw_rate); yaw_rate comes from the target.

    Linearised: v = |(vx, vy)|, yaw = atan2(vy, vx), covariance through the Jacobian. Below
    ``min_speed`` the heading is undefined and is taken from the target model.
    """

    target_angles = (3,)

    def __init__(self, min_speed: float = 0.1) -> None:
        self.min_speed = min_speed

    def map(self, x: np.ndarray, P: np.ndarray, n_target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if x.size != 4 or n_target != 5:
            raise ShapeError(f"CVToCTRV maps 4 -> 5 components, got {x.size} -> {n_target}")
        px, py, vx, vy = x
        v = math.hypot(vx, vy)
        J = np.zeros((5, 4))
        J[0, 0] = J[1, 1] = 1.0
        defined = np.array([True, True, True, v > self.min_speed, False])
        xm = np.array([px, py, v, math.atan2(vy, vx) if v > 0 else 0.0, 0.0])
        if v > 0:
            J[2, 2], J[2, 3] = vx / v, vy / v
        if v > self.min_speed:
            J[3, 2], J[3, 3] = -vy / v**2, vx / v**2
        return xm, J @ P @ J.T, defined


class CTRVToCV(StateMap):
    """CTRV (x, y, v, yaw, yaw_rate) into CV2D (x, y, vx, vy), linearised."""

    def map(self, x: np.ndarray, P: np.ndarray, n_target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if x.size != 5 or n_target != 4:
            raise ShapeError(f"CTRVToCV maps 5 -> 4 components, got {x.size} -> {n_target}")
        px, py, v, yaw, _ = x
        c, s = math.cos(yaw), math.sin(yaw)
        J = np.zeros((4, 5))
        J[0, 0] = J[1, 1] = 1.0
        J[2, 2], J[2, 3] = c, -v * s
        J[3, 2], J[3, 3] = s, v * c
        return np.array([px, py, v * c, v * s]), J @ P @ J.T, np.ones(4, dtype=bool)


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2.0 * np.pi) - np.pi


def _moment_match(weights: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]],
                  angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a Gaussian mixture; angular components are averaged as wrapped
    offsets from the first component, so headings near +pi and -pi mix to +-pi, not 0."""
    ref = parts[0][0]
    x = np.zeros_like(ref)
    for w, (xm, _) in zip(weights, parts):
        d = xm - ref
        d[angles] = _wrap(d[angles])
        x += w * d
    x += ref
    x[angles] = _wrap(x[angles])
    P = np.zeros_like(parts[0][1])
    for w, (xm, Pm) in zip(weights, parts):
        d = xm - x
        d[angles] = _wrap(d[angles])
        P += w * (np.outer(d, d) + Pm)
    return x, P


def _state_of(f: Any) -> tuple[np.ndarray, tuple[int, ...]]:
    x = np.asarray(f.x, dtype=float)
    return x.reshape(-1), x.shape


class IMMEstimator:
    """IMM over a bank of filters (fusion's or filterpy-like objects with x, P, predict,
    update and log_likelihood or likelihood).

    Parameters
    ----------
    filters : sequence of filters, one per mode.
    mu : initial mode probabilities (sums to 1).
    M : Markov transition matrix, ``M[i, j]`` = P(mode j at k+1 | mode i at k); rows sum to 1.
    state_maps : optional ``{(i, j): StateMap}`` for pairs whose states differ; pairs not
        given use :class:`IdentityMap` (same layout).
    output_model : index of the filter whose state space holds the combined estimate
        ``x``/``P`` (default: the largest state).
    angles : optional ``{i: [k, ...]}``: state components of filter i that are angles, mixed
        as circular quantities. Components named by a state map's ``target_angles`` (CTRV's
        yaw for :class:`CVToCTRV`) are added automatically.

    Attributes as filterpy's: ``filters``, ``N``, ``M``, ``mu``, ``cbar``, ``omega``,
    ``likelihood``, ``x``, ``P``, ``x_prior``, ``P_prior``, ``x_post``, ``P_post``. Every step
    assigns new arrays (filterpy fills ``x``, ``P``, ``likelihood`` and ``omega`` in place),
    so ``history.append(imm.x)`` records each step's value.

    Differences from filterpy: ``mu`` is normalised as in filterpy but must be finite and
    non-negative with a positive sum, and every row of ``M`` must sum to 1
    (:class:`~fusion.errors.ConfigurationError`); the mode probabilities are updated from
    the filters' ``log_likelihood`` in the log domain (filterpy multiplies ``likelihood``,
    which underflows to the float minimum for far-off measurements); ``predict()`` without
    ``u`` calls each filter's ``predict()`` without arguments; filters of different state
    sizes need ``state_maps`` (filterpy rejects them); ``predict`` and ``update`` first check
    that every filter's x and P are finite (NumericalError naming ``IMMEstimator.filters[i]``,
    nothing changed), so an in-place edit of one mode cannot leave the others stepped.

    Threads: calls on one object are serialised (``predict`` and ``update`` hold a
    per-object re-entrant lock, and each filter's own methods hold the filter's lock), so
    concurrent calls never interleave silently. The lock is not shared by copies or pickles.
    """

    _lock = LockSlot()
    __copy__ = shallow_copy

    def __getstate__(self) -> dict[str, Any]:
        """A deep snapshot taken under the lock: the filters are mutable objects that a step
        changes, so a shallow snapshot pickled after the lock is released could pair this
        step's mu and x with the next step's filters."""
        with self._lock:
            return copy.deepcopy(self.__dict__)

    def __deepcopy__(self, memo: dict[int, Any]) -> IMMEstimator:
        """Deep copy with the filters, all under the lock (a state between two calls)."""
        with self._lock:
            new = type(self).__new__(type(self))
            memo[id(self)] = new
            new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    _CHECKED = {"mu": "probabilities", "M": "markov"}

    def __setattr__(self, name: str, value: Any) -> None:
        """``mu`` and ``M`` assigned by the user are checked (a typed error naming the attribute;
        the estimator keeps its value): see :func:`fusion.filters._common.check_assigned`."""
        kind = self._CHECKED.get(name)
        if kind is not None and "filters" in self.__dict__ and external_assignment():
            check_assigned(type(self).__name__, name, value, kind, len(self.filters))
        super().__setattr__(name, value)

    def __init__(
        self,
        filters: Sequence[Any],
        mu: Any,
        M: Any,
        state_maps: dict[tuple[int, int], StateMap] | None = None,
        output_model: int | None = None,
        angles: dict[int, Sequence[int]] | None = None,
    ) -> None:
        self._lock = FilterLock()
        if len(filters) < 2:
            raise ConfigurationError("IMMEstimator: need at least two filters")
        self.filters = list(filters)
        self.N = len(self.filters)
        mu = np.array(mu, dtype=float)
        self.M = np.asarray(M, dtype=float)
        if mu.shape != (self.N,):
            raise ShapeError(f"IMMEstimator: mu must have shape ({self.N},), got {mu.shape}")
        if self.M.shape != (self.N, self.N):
            raise ShapeError(f"IMMEstimator: M must have shape ({self.N}, {self.N}), got {self.M.shape}")
        if not np.allclose(self.M.sum(axis=1), 1.0):
            raise ConfigurationError("IMMEstimator: every row of M must sum to 1")
        if not np.all(np.isfinite(mu)) or np.any(mu < 0) or not mu.sum() > 0:
            raise ConfigurationError(
                f"IMMEstimator: mu must be non-negative mode probabilities with a positive sum, got {mu}")
        self.mu = mu / mu.sum()  # normalised, as filterpy
        sizes = [_state_of(f)[0].size for f in self.filters]
        self._maps: dict[tuple[int, int], StateMap] = {}
        for i in range(self.N):
            for j in range(self.N):
                if i == j:
                    continue
                given = (state_maps or {}).get((i, j))
                if given is None and sizes[i] != sizes[j]:
                    raise ConfigurationError(
                        f"IMMEstimator: filters {i} and {j} have {sizes[i]} and {sizes[j]} states; "
                        f"state_maps[({i}, {j})] is required"
                    )
                self._maps[(i, j)] = given if given is not None else IdentityMap()
        self._angles = [np.zeros(n, dtype=bool) for n in sizes]
        for i, idx in (angles or {}).items():
            self._angles[i][list(idx)] = True
        for (_, j), smap in self._maps.items():
            self._angles[j][list(smap.target_angles)] = True
        self.output_model = int(np.argmax(sizes)) if output_model is None else output_model
        n_out = sizes[self.output_model]
        column = _state_of(self.filters[self.output_model])[1] == (n_out, 1)
        self.x: np.ndarray = np.zeros((n_out, 1)) if column else np.zeros(n_out)
        self.P = np.zeros((n_out, n_out))
        self.likelihood = np.zeros(self.N)
        self.omega = np.zeros((self.N, self.N))
        self._compute_mixing_probabilities()
        self._compute_state_estimate()
        self.x_prior, self.P_prior = self.x.copy(), self.P.copy()
        self.x_post, self.P_post = self.x.copy(), self.P.copy()

    def _to(self, i: int, j: int, x: np.ndarray, P: np.ndarray, xj: np.ndarray,
            Pj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if i == j:
            return x, P
        return self._maps[(i, j)].apply(x, P, xj, Pj)

    def _compute_mixing_probabilities(self) -> None:
        self.cbar = self.mu @ self.M
        self.omega = (self.M * self.mu[:, None]) / self.cbar[None, :]

    def _compute_state_estimate(self) -> None:
        o = self.output_model
        xo, shape = _state_of(self.filters[o])
        Po = np.asarray(self.filters[o].P, dtype=float)
        mapped = []
        for i, f in enumerate(self.filters):
            xi, _ = _state_of(f)
            mapped.append(self._to(i, o, xi, np.asarray(f.P, dtype=float), xo, Po))
        x, P = _moment_match(self.mu, mapped, self._angles[o])
        self.x = x.reshape(shape)
        self.P = P

    def _check_filters(self) -> None:
        """Every filter's x and P finite before a step touches any of them (an in-place edit
        ``imm.filters[1].P[0, 0] = np.nan`` would otherwise be found only by that filter, after
        the filters before it had stepped)."""
        for i, f in enumerate(self.filters):
            check_state(f"{type(self).__name__}.filters[{i}]", np.asarray(f.x, dtype=float),
                        np.asarray(f.P, dtype=float))
        for name in ("M", "mu", "cbar", "omega"):  # the mixing arrays, edited in place or not
            v = np.asarray(getattr(self, name), dtype=float)
            if not np.all(np.isfinite(v)):
                raise NumericalError(f"{type(self).__name__}.{name} contains NaN or infinity (edited in place?); "
                                     f"assign a valid {name}")

    def update(self, z: Any) -> None:
        """Update every filter with z, then the mode probabilities and the combined estimate.

        Not atomic across modes (as filterpy's): a measurement every filter refuses (non-finite,
        wrong shape) changes nothing, but if only a later filter's update raises (e.g. its S is
        not positive definite) the filters before it keep their update while ``mu``, ``x`` and
        ``P`` do not; recover with a copy taken before the call."""
        with self._lock:
            self._check_filters()
            logl = np.empty(self.N)
            for i, f in enumerate(self.filters):
                f.update(z)
                ll = getattr(f, "log_likelihood", None)
                logl[i] = float(ll) if ll is not None else math.log(f.likelihood)
            # floored at the smallest positive float, as filterpy's filters' `likelihood`
            self.likelihood = np.maximum(np.exp(logl), sys.float_info.min)
            # mu_j ~ cbar_j L_j, evaluated in the log domain so that tiny likelihoods do not underflow.
            w = np.log(self.cbar) + logl
            if np.isfinite(w.max()):
                w = np.exp(w - w.max())
                self.mu = w / w.sum()
            else:  # the likelihood underflows to 0 in every model: no evidence, mu = cbar (as IMMBank)
                self.mu = np.array(self.cbar, dtype=float)
            self._compute_mixing_probabilities()
            self._compute_state_estimate()
            self.x_post, self.P_post = self.x.copy(), self.P.copy()

    def predict(self, u: Any = None) -> None:
        """Mix the filters' estimates, then predict each filter."""
        with self._lock:
            self._check_filters()
            states = [(_state_of(f), np.asarray(f.P, dtype=float)) for f in self.filters]
            mixed = []
            for j in range(self.N):
                (xj, _), Pj = states[j]
                parts = [self._to(i, j, states[i][0][0], states[i][1], xj, Pj) for i in range(self.N)]
                mixed.append(_moment_match(self.omega[:, j], parts, self._angles[j]))
            saved = [{a: getattr(f, a) for a in ("x", "P", "x_prior", "P_prior") if hasattr(f, a)}
                     for f in self.filters]
            try:  # a filter whose predict raises (an overflow) leaves every filter as it was
                for j, f in enumerate(self.filters):
                    (_, shape), _ = states[j]
                    f.x = mixed[j][0].reshape(shape)
                    f.P = mixed[j][1]
                    if u is None:
                        f.predict()
                    else:
                        f.predict(u)
            except BaseException:
                for f, kept in zip(self.filters, saved):
                    for a, v in kept.items():
                        try:
                            setattr(f, a, v)
                        except AttributeError:  # a read-only attribute of some filter class
                            pass
                raise
            self._compute_state_estimate()
            self.x_prior, self.P_prior = self.x.copy(), self.P.copy()

    def __repr__(self) -> str:
        return (
            f"IMMEstimator(N={self.N})\n"
            f"mu = {np.array2string(self.mu, precision=4)}\n"
            f"x = {np.array2string(np.ravel(self.x), precision=4)}"
        )
