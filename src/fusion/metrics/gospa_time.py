"""GOSPA over time with a track-switch component, and point-target sequences for HOTA, CLEAR
and Identity.

- :func:`gospa_over_time`: per frame, GOSPA (``alpha = 2``, order ``p``, cut-off ``c``) between
  the true and the estimated points, split into localisation, missed and false parts, plus a
  switching part for identity changes over time (the rule of Stone Soup's ``GOSPAMetric`` with
  ``switching_penalty``, after MathWorks' ``trackGOSPAMetric``): each true object remembers the
  estimate id it was last assigned; when that changes, it costs half a switch if it becomes or
  stops being unassigned, a full switch if it moves from one estimate to another. A frame's
  switching part is ``switching_penalty ** p * switches`` (units of length ** p, like the
  other parts) and its distance is ``(localisation + missed + false + switching) ** (1/p)``;
  for ``p = 2`` this equals Stone Soup's ``sqrt(distance ** 2 + switching ** 2)``.
- :func:`point_sequence`: a :class:`~fusion.metrics.sequence.SequenceData` of point targets
  whose similarity is ``max(0, 1 - d / max_distance)`` (1 at the same place, 0 from
  ``max_distance`` on), the input of :func:`~fusion.metrics.hota_sequence`,
  :func:`~fusion.metrics.clear_sequence` and :func:`~fusion.metrics.identity_sequence`.

Both take per-frame lists: ids ``(m,)`` (integers, unique within a frame) and points ``(m, d)``.
Bad input raises ShapeError, NumericalError or ConfigurationError (module
:mod:`fusion.metrics.ospa` rules), naming the frame.

Thread safety: pure functions; any calls may run concurrently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fusion.assoc.linear_assignment import linear_sum_assignment
from fusion.errors import ConfigurationError, ShapeError
from fusion.metrics.ospa import _check_cutoff_order, _distances
from fusion.metrics.sequence import SequenceData

__all__ = ["GospaOverTime", "gospa_over_time", "point_sequence"]


@dataclass(frozen=True)
class GospaOverTime:
    """Per-frame GOSPA parts (arrays of length T; parts in units of length ** p).

    ``assigned[t]`` is the (m_t,) estimate id assigned to each true object of frame t (-1: none)."""

    distance: np.ndarray
    localisation: np.ndarray
    missed: np.ndarray
    false: np.ndarray
    switching: np.ndarray
    switches: np.ndarray        #: switch count per frame (half switches count 0.5)
    num_missed: np.ndarray
    num_false: np.ndarray
    assigned: list[np.ndarray]
    c: float
    p: float
    switching_penalty: float

    def mean(self) -> dict[str, float]:
        """Time averages: ``gospa`` (mean per-frame distance) and the mean of each part."""
        T = max(len(self.distance), 1)
        return {"gospa": float(self.distance.sum() / T), "localisation": float(self.localisation.sum() / T),
                "missed": float(self.missed.sum() / T), "false": float(self.false.sum() / T),
                "switching": float(self.switching.sum() / T), "switches": float(self.switches.sum())}


def _frames(n: int, *lists: Sequence[npt.ArrayLike]) -> None:
    if any(len(x) != n for x in lists):
        raise ShapeError(f"expected one entry per frame in every list, got lengths {[len(x) for x in lists]}")


def _check_numbers(**values: object) -> None:
    for what, v in values.items():
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ConfigurationError(f"{what}: expected a number, got {v!r}")


def _power(base: float, p: float) -> float:
    try:
        return float(base) ** float(p)
    except OverflowError:
        return math.inf


def _num_frames(truth_ids: Sequence[npt.ArrayLike]) -> int:
    try:
        return len(truth_ids)
    except TypeError:
        raise ShapeError(f"truth_ids: expected one entry per frame, got {truth_ids!r}") from None


def _ids(x: npt.ArrayLike, what: str, t: int, n: int) -> np.ndarray:
    a = np.asarray(x)
    if a.size == 0:
        a = a.reshape(0).astype(np.int64)
    if a.ndim != 1 or a.dtype.kind not in "iu" or len(a) != n:
        raise ShapeError(f"{what}: frame {t}: expected {n} integer ids (one per point), got shape {a.shape} "
                         f"dtype {a.dtype}")
    if len(np.unique(a)) != len(a):
        raise ShapeError(f"{what}: frame {t}: ids repeat within the frame")
    return a.astype(np.int64)


def _frame_dist(truth: npt.ArrayLike, est: npt.ArrayLike, t: int) -> np.ndarray:
    try:
        return _distances(truth, est)
    except (ShapeError, ConfigurationError) as e:
        raise type(e)(f"frame {t}: {e}") from None


def gospa_over_time(truth_ids: Sequence[npt.ArrayLike], truth_points: Sequence[npt.ArrayLike],
                    est_ids: Sequence[npt.ArrayLike], est_points: Sequence[npt.ArrayLike], c: float = 5.0,
                    p: float = 2.0, switching_penalty: float = 0.0) -> GospaOverTime:
    """GOSPA of every frame with its localisation, missed, false and switching parts.

    Args:
        truth_ids, truth_points: per frame, (m,) object ids and (m, d) true points.
        est_ids, est_points: per frame, (n,) track ids and (n, d) estimated points.
        c: cut-off distance (> 0); p: order (>= 1).
        switching_penalty: gamma >= 0 (units of length); 0 turns the switching part off.
    """
    _check_numbers(c=c, p=p, switching_penalty=switching_penalty)
    _check_cutoff_order(c, p)
    if not (math.isfinite(switching_penalty) and switching_penalty >= 0):
        raise ConfigurationError(f"switching_penalty: expected a finite number >= 0, got {switching_penalty!r}")
    for what, base in (("c", c), ("switching_penalty", switching_penalty)):
        if not math.isfinite(_power(base, p)):
            raise ConfigurationError(f"{what} ** p overflows (c = {c!r}, p = {p!r}, switching_penalty = "
                                     f"{switching_penalty!r}): choose a smaller distance or order")
    T = _num_frames(truth_ids)
    _frames(T, truth_points, est_ids, est_points)
    half = c ** p / 2.0
    out = {k: np.zeros(T) for k in ("distance", "localisation", "missed", "false", "switching", "switches")}
    nm = np.zeros(T, np.int64)
    nf = np.zeros(T, np.int64)
    assigned: list[np.ndarray] = []
    last: dict[int, int] = {}  # truth id -> last assigned estimate id (-1: unassigned)
    for t in range(T):
        dist = _frame_dist(truth_points[t], est_points[t], t)
        m, n = dist.shape
        g = _ids(truth_ids[t], "truth_ids", t, m)
        e = _ids(est_ids[t], "est_ids", t, n)
        a = np.full(m, -1, np.int64)
        loc = 0.0
        if m and n:
            r, col = linear_sum_assignment(np.minimum(dist, c) ** p)
            inside = dist[r, col] < c
            loc = float(np.sum(dist[r[inside], col[inside]] ** p))
            a[r[inside]] = e[col[inside]]
        k = int((a >= 0).sum())
        sw = 0.0
        for gid, eid in zip(g.tolist(), a.tolist()):
            prev = last.get(gid)
            if prev is None:
                if eid >= 0:
                    last[gid] = eid
                continue
            if prev != eid:
                sw += 0.5 + (0.5 if (prev >= 0 and eid >= 0) else 0.0)
                last[gid] = eid
        out["localisation"][t] = loc
        out["missed"][t] = half * (m - k)
        out["false"][t] = half * (n - k)
        out["switches"][t] = sw
        out["switching"][t] = switching_penalty ** p * sw
        nm[t], nf[t] = m - k, n - k
        total = loc + half * (m - k) + half * (n - k) + out["switching"][t]
        out["distance"][t] = total ** (1.0 / p)
        assigned.append(a)
    return GospaOverTime(out["distance"], out["localisation"], out["missed"], out["false"], out["switching"],
                         out["switches"], nm, nf, assigned, float(c), float(p), float(switching_penalty))


def point_sequence(truth_ids: Sequence[npt.ArrayLike], truth_points: Sequence[npt.ArrayLike],
                   est_ids: Sequence[npt.ArrayLike], est_points: Sequence[npt.ArrayLike], max_distance: float,
                   name: str = "") -> SequenceData:
    """Point targets as a :class:`SequenceData` with similarity ``max(0, 1 - d / max_distance)``.

    With the default threshold 0.5 of CLEAR and Identity a match needs ``d <= max_distance / 2``;
    HOTA averages over similarity thresholds 0.05 .. 0.95."""
    _check_numbers(max_distance=max_distance)
    if not (math.isfinite(max_distance) and max_distance > 0):
        raise ConfigurationError(f"max_distance: expected a positive finite distance, got {max_distance!r}")
    T = _num_frames(truth_ids)
    _frames(T, truth_points, est_ids, est_points)
    sims = []
    for t in range(T):
        dist = _frame_dist(truth_points[t], est_points[t], t)
        _ids(truth_ids[t], "truth_ids", t, dist.shape[0])
        _ids(est_ids[t], "est_ids", t, dist.shape[1])
        sims.append(np.maximum(0.0, 1.0 - dist / max_distance))
    return SequenceData.from_frames(truth_ids, est_ids, sims, name=name)
