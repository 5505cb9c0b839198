"""Multi-target tracking of 2D points: :class:`PointTracker` with GNN or JPDA association.

A preset of the multi-sensor engine (:mod:`fusion.engine`): the C++ tracker runs one engine
with motion model ``cv_point2d`` and one ``position2d`` sensor, configured from
:class:`PointTrackerConfig` by one mapping (``docs/ARCHITECTURE.md``, "The PointTracker
preset"). Each track is a 2D constant-velocity Kalman filter ``x = (px, py, vx, vy)`` observed
through its position. Every :meth:`PointTracker.step` runs in C++ with the GIL released:

1. predict to ``t_ns``; 2. gate pairs by squared Mahalanobis distance ``d2 <= gate_chi2``;
3. associate, either

   - ``"gnn"``: the exact minimum-cost assignment over the in-gate pairs (cost ``d2``, a track
     may stay unassigned at cost ``gate_chi2``), or
   - ``"jpda"``: the gated graph is split into connected clusters and each cluster's marginal
     association probabilities are computed exactly (enumeration of joint events for small
     clusters, a forward-backward recursion over the tracks whose state is the set of used
     measurements still reachable by later tracks for larger ones) or, when that table would
     exceed ``jpda_max_states`` entries, by loopy belief propagation (Williams & Lau 2014);
     tracks are then updated with the PDA combined innovation and spread-of-innovations term;

4. manage tracks (confirmed after ``confirm_m`` hits in the first ``confirm_n`` steps, deleted
   after ``max_misses`` consecutive misses) and start tentative tracks from measurements no
   track explains.

Measurements are an ``(n, 2)`` float array (metres); timestamps are int64 nanoseconds. The
output is a structured array with :data:`POINT_TRACK_DTYPE` fields ``track_id`` int64,
``status`` int32 (0 tentative, 1 confirmed, 2 coasting), ``hits``, ``age``, ``misses``,
``measurement`` int32 (GNN: the assigned measurement; JPDA: the most probable one; -1: none),
``x`` (4,) float64, ``P`` (4, 4) float64 and ``score`` float64 (cumulative log-likelihood
ratio of target versus clutter). Rows are in track-id order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fusion import _core
from fusion.engine.batch import check_timestamp, real_values
from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.tracking.tracker import CoreTracker, TimestampError

__all__ = ["PointTracker", "PointTrackerConfig", "POINT_TRACK_DTYPE", "ASSOCIATIONS", "JPDA_METHODS",
           "jpda_marginals", "TimestampError"]

ASSOCIATIONS = ("gnn", "jpda")
JPDA_METHODS = ("auto", "enumerate", "exact", "lbp")


def _point_track_dtype() -> np.dtype:
    lay = _core.point_tracker_output_layout()
    fields = [("track_id", np.int64, ()), ("status", np.int32, ()), ("hits", np.int32, ()),
              ("age", np.int32, ()), ("misses", np.int32, ()), ("measurement", np.int32, ()),
              ("x", np.float64, (4,)), ("P", np.float64, (4, 4)), ("score", np.float64, ())]
    return np.dtype({
        "names": [f[0] for f in fields],
        "formats": [(f[1], f[2]) if f[2] else f[1] for f in fields],
        "offsets": [lay[f[0]] for f in fields],
        "itemsize": lay["itemsize"],
    })


POINT_TRACK_DTYPE = _point_track_dtype()


@dataclass
class PointTrackerConfig:
    """Parameters of :class:`PointTracker`.

    Attributes:
        association: ``"gnn"`` or ``"jpda"``.
        gate_chi2: gate on the squared Mahalanobis distance (9.21: 99% at 2 dof).
        prob_detection: probability of detection Pd, in (0, 1].
        clutter_density: expected false measurements per m^2 per scan (> 0).
        sigma_a: white acceleration noise of the constant-velocity model (m/s^2).
        sigma_meas: position measurement noise per axis (m).
        init_speed_sigma: velocity standard deviation per axis of a new track (m/s).
        confirm_m, confirm_n: a track is confirmed after ``confirm_m`` hits within its first
            ``confirm_n`` steps (birth counts as a hit), else deleted.
        max_misses: consecutive misses that delete a track (JPDA: a miss is a step where the
            track's no-detection probability exceeds 0.5).
        max_tracks, max_measurements: capacities reserved at construction.
        max_gated_pairs: in-gate (track, measurement) pairs reserved (0: 16 * max capacity).
        birth_threshold: JPDA only; a measurement whose total association probability is
            below this starts a tentative track.
        jpda_method: ``"auto"`` (default), or force ``"enumerate"``, ``"exact"`` or ``"lbp"``
            (forced exact methods fall back to LBP when a cluster exceeds the budget).
        jpda_max_states: table budget of the exact JPDA recursion (doubles per cluster).
    """

    association: str = "gnn"
    gate_chi2: float = 9.21
    prob_detection: float = 0.9
    clutter_density: float = 1e-4
    sigma_a: float = 1.0
    sigma_meas: float = 1.0
    init_speed_sigma: float = 10.0
    confirm_m: int = 2
    confirm_n: int = 3
    max_misses: int = 3
    max_tracks: int = 1024
    max_measurements: int = 1024
    max_gated_pairs: int = 0
    birth_threshold: float = 0.5
    jpda_method: str = "auto"
    jpda_max_states: int = 1 << 14

    def validate(self) -> None:
        """Raise :class:`~fusion.errors.ConfigurationError` naming the first invalid field."""
        def fail(name: str, rule: str) -> None:
            raise ConfigurationError(f"PointTrackerConfig.{name}: {rule}, got {getattr(self, name)!r}")

        if self.association not in ASSOCIATIONS:
            fail("association", f"must be one of {ASSOCIATIONS}")
        if self.jpda_method not in JPDA_METHODS:
            fail("jpda_method", f"must be one of {JPDA_METHODS}")
        for name in ("gate_chi2", "prob_detection", "clutter_density", "sigma_a", "sigma_meas",
                     "init_speed_sigma", "birth_threshold"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                fail(name, "must be a finite number")
        for name in ("confirm_m", "confirm_n", "max_misses", "max_tracks", "max_measurements",
                     "max_gated_pairs", "jpda_max_states"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                fail(name, "must be an integer")
        if self.gate_chi2 <= 0:
            fail("gate_chi2", "must be > 0")
        if not 0 < self.prob_detection <= 1:
            fail("prob_detection", "must be in (0, 1]")
        if self.clutter_density <= 0:
            fail("clutter_density", "must be > 0 (false measurements per m^2 per scan)")
        if self.sigma_a < 0:
            fail("sigma_a", "must be >= 0 (m/s^2)")
        if self.sigma_meas <= 0:
            fail("sigma_meas", "must be > 0 (m)")
        if self.init_speed_sigma <= 0:
            fail("init_speed_sigma", "must be > 0 (m/s)")
        if self.confirm_m < 1:
            fail("confirm_m", "must be >= 1")
        if self.confirm_n < self.confirm_m:
            fail("confirm_n", f"must be >= confirm_m ({self.confirm_m})")
        if self.max_misses < 1:
            fail("max_misses", "must be >= 1")
        if self.max_tracks < 1:
            fail("max_tracks", "must be >= 1")
        if self.max_measurements < 1:
            fail("max_measurements", "must be >= 1")
        if self.max_gated_pairs < 0:
            fail("max_gated_pairs", "must be >= 0")
        if not 0 <= self.birth_threshold <= 1:
            fail("birth_threshold", "must be in [0, 1]")
        if self.jpda_max_states < 1:
            fail("jpda_max_states", "must be >= 1")


class PointTracker(CoreTracker):
    """2D point multi-target tracker (constant-velocity Kalman filters, GNN or JPDA).

    The step runs in C++ with the GIL released; no heap allocation once capacities are
    reserved; the output is deterministic and is a new array owned by the caller. Thread
    safety: calls on one tracker (step, reset, stats, association_probabilities, num_tracks,
    last_t_ns) are serialised, see docs/threading.md. ``copy.copy``/``copy.deepcopy`` give an
    independent tracker; pickling raises TypeError.
    """

    _core: _core.PointTrackerCore
    config: PointTrackerConfig

    def __init__(self, config: PointTrackerConfig | None = None) -> None:
        self.config = config if config is not None else PointTrackerConfig()
        if not isinstance(self.config, PointTrackerConfig):
            raise ConfigurationError(f"config: expected a PointTrackerConfig, got {type(config).__name__}")
        self.config.validate()
        c = self.config
        self._core = _core.PointTrackerCore(
            c.association, float(c.gate_chi2), float(c.prob_detection), float(c.clutter_density),
            float(c.sigma_a), float(c.sigma_meas), float(c.init_speed_sigma), int(c.confirm_m),
            int(c.confirm_n), int(c.max_misses), int(c.max_tracks), int(c.max_measurements),
            int(c.max_gated_pairs), float(c.birth_threshold), c.jpda_method, int(c.jpda_max_states))

    def stats(self) -> dict[str, int]:
        """Counters of the last step: gated pairs, clusters (and how each was solved), births."""
        return dict(self._core.stats())

    def association_probabilities(self) -> np.ndarray:
        """JPDA marginals of the last step as a structured array (``track_id``, ``measurement``,
        ``probability``); ``measurement == -1`` is the missed-detection hypothesis. Covers the
        tracks that existed before the step's births. Empty for GNN."""
        ids, meas, prob = self._core.association_probabilities()
        out = np.zeros(len(ids), [("track_id", np.int64), ("measurement", np.int64), ("probability", np.float64)])
        out["track_id"], out["measurement"], out["probability"] = ids, meas, prob
        return out

    def step(self, measurements: np.ndarray, t_ns: int) -> np.ndarray:
        """Advance to ``t_ns`` (int64 nanoseconds) with the ``(n, 2)`` positions seen then.

        Raises:
            ShapeError: ``measurements`` is not (n, 2) (an empty array of any shape with 0 rows
                is accepted), or has more than ``max_measurements`` rows.
            NumericalError: a measurement is NaN or infinite (the message names its row).
            TimestampError: ``t_ns`` is not an int64 integer (a float, a bool, int64 min) or is
                earlier than the previous step's (a ValueError).
        """
        t = check_timestamp(t_ns, "PointTracker.step: t_ns")
        try:
            z = np.asarray(measurements)
        except (TypeError, ValueError) as e:  # ragged nesting
            raise ShapeError(f"measurements: not an array of numbers ({e})") from None
        if z.size and z.dtype.kind not in "iuf":  # complex, bool, str: no silent cast
            raise ShapeError(f"measurements: expected real numbers, got {z.dtype} data")
        z = z.astype(np.float64, copy=False)
        if z.size == 0:
            z = np.zeros((0, 2))
        if z.ndim != 2 or z.shape[1] != 2:
            raise ShapeError(f"measurements: expected shape (n, 2), but got {z.shape}")
        zc = np.ascontiguousarray(z)
        raw = self._checked_step(lambda: self._core.step(zc, t), t, "PointTracker")
        return raw.view(POINT_TRACK_DTYPE)


def jpda_marginals(likelihood_ratios: np.ndarray, miss_weights: np.ndarray, method: str = "auto",
                   max_states: int = 1 << 16) -> tuple[np.ndarray, np.ndarray, str]:
    """JPDA marginal association probabilities of one cluster.

    Args:
        likelihood_ratios: (K, m) array; entry (t, j) is ``Pd N(z_j; H x_t, S_t) / lambda``
            for in-gate pairs and 0 (or NaN) outside the gate.
        miss_weights: (K,) weights of each track being missed, usually ``1 - Pd Pg``.
        method: ``"auto"``, ``"enumerate"``, ``"exact"`` or ``"lbp"``.
        max_states: table budget of the exact recursion.

    Returns:
        ``(beta, beta0, method_used)``: beta (K, m) with P(track t produced measurement j)
        (0 outside the gate), beta0 (K,) with P(track t was missed), and the method that ran.

    Raises:
        ShapeError: ``likelihood_ratios`` is not 2-D, or ``miss_weights`` is not (K,).
        NumericalError: a likelihood ratio is negative or infinite, or a miss weight is not
            positive and finite (the message names the entry).
        ConfigurationError: unknown ``method``, or ``max_states < 1``.

    Any size is accepted (no recursion: 150,000 tracks are fine). Pure function: runs with the
    GIL released and may be called from several threads at once (docs/threading.md).
    """
    W = real_values(likelihood_ratios, "likelihood_ratios")
    miss = np.ascontiguousarray(real_values(miss_weights, "miss_weights"))
    if W.ndim != 2:
        raise ShapeError(f"likelihood_ratios: expected shape (K, m), but got {W.shape}")
    if miss.shape != (W.shape[0],):
        raise ShapeError(f"miss_weights: expected shape ({W.shape[0]},), but got {miss.shape}")
    if method not in JPDA_METHODS:
        raise ConfigurationError(f"method: must be one of {JPDA_METHODS}, got {method!r}")
    if isinstance(max_states, bool) or int(max_states) < 1:
        raise ConfigurationError(f"max_states: must be an integer >= 1, got {max_states!r}")
    bad = (W < 0) | np.isinf(W)  # NaN (outside the gate) compares False
    if bad.any():
        t, j = (int(i) for i in np.argwhere(bad)[0])
        raise NumericalError(f"likelihood_ratios[{t}, {j}] = {W[t, j]}: must be >= 0 and finite "
                             "(0 or NaN outside the gate)")
    if W.shape[0] and not (np.all(np.isfinite(miss)) and np.all(miss > 0)):
        t = int(np.argmax(~(np.isfinite(miss) & (miss > 0))))
        raise NumericalError(f"miss_weights[{t}] = {miss[t]}: must be positive and finite")
    gated = np.nan_to_num(W, nan=0.0) > 0
    rows, cols = np.nonzero(gated)
    ptr = np.zeros(W.shape[0] + 1, np.int64)
    np.cumsum(gated.sum(axis=1), out=ptr[1:])
    beta_e, beta0, used, _ = _core.jpda_marginals(ptr, cols.astype(np.int64), W[rows, cols], miss,
                                                  W.shape[1], method, int(max_states))
    beta = np.zeros(W.shape)
    beta[rows, cols] = beta_e
    return beta, np.asarray(beta0), used
