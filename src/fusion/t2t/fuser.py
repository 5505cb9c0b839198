"""The track-list fuser: :class:`TrackFuser` (the C++ core ``fusion::t2t::TrackFuser``,
``csrc/include/fusion/t2t/track_fuser.hpp``, where every rule below is implemented).

State and frames. Every track is a 2D constant-velocity point ``(x, y, vx, vy)`` [m, m/s]
(:data:`STATE`) with a 4 x 4 covariance. A source gives its tracks in its own frame, with
OVER-GROUND velocity in that frame's axes (a vehicle tracking in its own moving frame must
add its own velocity first). The fusion frame is one fixed frame (world or odometry); a
source's ``pose`` (x, y, yaw) maps its frame into it: ``p = R(yaw) p_s + (x, y)``,
``v = R(yaw) v_s``. The pose is static (:class:`~fusion.t2t.SourceConfig`, a roadside unit)
or given with each list (a moving vehicle: its pose at the list's time).

Time. ``update(source, t_ns, ...)`` is the source's complete current list, stamped ``t_ns``
(each track has its own time, e.g. an older coasted one). It reaches the fuser
``latency_s`` later: it is fused at ``t_ns + latency_s``, each track predicted to that time
(constant velocity, white acceleration ``accel_std``). A list whose fusion time is older than
the fuser's time is fused at the fuser's time (predicted forward; ``stats()["late_lists"]``)
when it is at most ``max_delay_s`` late, and dropped otherwise (``update`` returns False,
``stats()["dropped_lists"]``; nothing changes).

Association and id stability. A source track id keeps the fused track it fed while it stays
consistent with its own previous estimate (squared Mahalanobis distance of the state
difference within ``gate``, 4 dof; a jump means the id now names another object) and, for a
source without ``births``, with the fused track too (an auxiliary source's wrong link breaks). The other
source tracks are assigned by a gated minimum-cost assignment to the fused tracks this
source does not feed in this list (distance to the fused track within ``gate``); the rest
start fused tracks (if the source has ``births``). An id missing from its
source's list loses its link. So when a source re-numbers a track (a new id, or ids that
jump), the new id is gated onto the fused track the old id fed and the fused id stays
(``stats()["id_changes"]``).

Fusion. A fused track keeps each source's latest estimate; after a list, each fused track it
touched is the covariance intersection (:func:`fusion.t2t.covariance_intersection`) of its
sources' latest estimates predicted to the fusion time; no fused estimate is fed back into
itself, so correlated inputs are never counted twice. Confirmation after ``confirm_updates``
source updates. Deletion as soon as no source reports the track any more (the last source
that fed it dropped its id from its complete list, and no new id took it over), or after
``delete_after_s`` without any source update (its sources fell silent); sources without
``births`` only refine, so a track only they still report is deleted too. Fused ids start at 1
and are never reused.

Merging (``merge_after``, default 2; 0 disables). A lagging source's track can fail the gate
against another source's fused track in their first lists and start a second fused track for
the same object. After each list, each fused track it touched looks for its best partner: the
nearest alive fused track (squared Mahalanobis distance of the two fused states with the sum
of their covariances) within ``gate`` that none of its own sources feeds (disjoint
``sources`` masks: a source feeds at most one of the two, so two tracks of one source, which
that source says are two objects, never merge). The same partner in ``merge_after``
consecutive updates of the track merges them: the older fused id stays, the younger's source
estimates join it, its state is the covariance intersection of them all, and the younger id
is retired (never reused; ``stats()["merges"]``, not counted in ``deletions``).

Bad input (a failed update changes nothing): an id repeated within one list ->
:class:`~fusion.errors.TrackListError` naming the source and the id; a non-finite state,
covariance or pose, a covariance that is not symmetric positive definite, or a state or
covariance that overflows once moved into the fusion frame and predicted to the fusion time, a
covariance whose condition number exceeds :data:`MAX_CONDITION` ->
:class:`~fusion.errors.NumericalError` naming the source, the track id and the field; wrong
shapes or non-integer ids/times -> :class:`~fusion.errors.ShapeError`; an unknown source ->
:class:`~fusion.errors.ConfigurationError`; a non-integer ``t_ns`` ->
:class:`~fusion.errors.TimestampError`.

Thread safety: every method may be called from any thread at any time. Calls are serialised
by a first-come-first-served lock taken with the GIL released, so ``stats()`` or ``tracks()``
from one thread get in between two ``update`` calls of another (tested).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fusion import _core
from fusion.errors import NumericalError, ShapeError, TimestampError
from fusion.t2t.config import TrackFuserConfig

__all__ = ["FUSED_TRACK_DTYPE", "STATE", "TrackFuser"]

#: The state of every source and fused track.
STATE = ("x", "y", "vx", "vy")

#: One fused track: ``id``; ``t_ns`` (time of x and P); ``x`` (4,); ``P`` (4, 4);
#: ``last_update_ns`` (last time a source fed it); ``sources`` (bit s: source s feeds it);
#: ``updates`` (source updates so far); ``confirmed``.
FUSED_TRACK_DTYPE = np.dtype([("id", np.int64), ("t_ns", np.int64), ("x", np.float64, (4,)),
                              ("P", np.float64, (4, 4)), ("last_update_ns", np.int64), ("sources", np.uint64),
                              ("updates", np.int32), ("confirmed", np.bool_)])

_I64 = (np.int64, np.int32, np.int16, np.int8, np.uint32, np.uint16, np.uint8)


def _time(v: object, what: str) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TimestampError(f"{what}: expected an integer number of nanoseconds, got {v!r}")
    iv = int(v)
    if not -(2**63) <= iv < 2**63:
        raise TimestampError(f"{what}: outside int64: {iv}")
    return iv


def _ids(v: npt.ArrayLike, what: str) -> npt.NDArray[np.int64]:
    a = np.asarray(v)
    if a.size == 0:
        return np.zeros(a.shape, np.int64)
    if a.dtype == np.uint64 or a.dtype.kind not in "iu":
        raise ShapeError(f"{what}: expected int64 integers, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


def _real(v: npt.ArrayLike, what: str) -> npt.ArrayLike:
    """``v`` unchanged if it is numbers; ShapeError for bools, complex numbers (the core's
    conversion dropped the imaginary part with only a warning) or other non-real arrays."""
    try:
        a = np.asarray(v)
    except (TypeError, ValueError) as exc:  # a ragged list
        raise ShapeError(f"{what}: expected an array of real numbers: {exc}") from None
    if a.size and a.dtype.kind not in "iuf":
        raise ShapeError(f"{what}: expected an array of real numbers, got dtype {a.dtype}")
    return v


MAX_CONDITION = 1e12
"""The largest condition number (largest / smallest eigenvalue) of a source track's covariance
:meth:`TrackFuser.update` takes: a numerically singular one (the fuzzer's variance of 4e110 next
to variances of 10) made a later covariance intersection fail its Cholesky factorisation after
the list had already changed the fused tracks."""


def _check_conditioning(P: npt.ArrayLike, ids: npt.NDArray[np.int64], source: str) -> None:
    """NumericalError naming the source, the track id and ``P`` when a finite, symmetric (n, 4, 4)
    covariance is not positive definite enough to be fused (the core checks the rest)."""
    a = np.asarray(P)
    if a.ndim != 3 or a.shape[1:] != (4, 4) or a.shape[0] != len(ids) or a.dtype.kind not in "iuf" or len(a) == 0:
        return
    a = a.astype(np.float64, copy=False)
    if not np.isfinite(a).all() or not np.allclose(a, np.swapaxes(a, 1, 2), rtol=1e-9, atol=0.0):
        return
    with np.errstate(all="ignore"):
        ev = np.linalg.eigvalsh(a)
        lo, hi = ev[:, 0], ev[:, -1]
        bad = (lo > 0) & ~(hi <= MAX_CONDITION * lo)
    if bad.any():
        i = int(np.argmax(bad))
        raise NumericalError(f"source {source!r}, track id {int(ids[i])}: P is numerically singular (condition number "
                             f"{hi[i] / lo[i]:.3g} > {MAX_CONDITION:g}): it cannot be fused")


def _source_id(v: object) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or not -(2**63) <= int(v) < 2**63:
        raise ShapeError(f"source_id: expected an int64 integer, got {v!r}")
    return int(v)


class TrackFuser:
    """Fuses track lists of several sources into one list (module docstring).

    Args:
        config: the sources and the fuser's parameters (validated here).
    """

    def __init__(self, config: TrackFuserConfig) -> None:
        if not isinstance(config, TrackFuserConfig):
            raise TypeError(f"config: expected a TrackFuserConfig, got {type(config).__name__}")
        config.validate()
        self._config = config
        s = config.sources
        poses = [(float(x.pose[0]), float(x.pose[1]), float(x.pose[2])) for x in s]
        self._core = _core.TrackFuser([x.name for x in s], [float(x.latency_s) for x in s], poses,
                                      config.max_fused_tracks,
                                      config.max_source_tracks, float(config.accel_std), float(config.gate),
                                      config.criterion, config.confirm_updates, float(config.delete_after_s),
                                      float(config.max_delay_s), [bool(x.births) for x in s],
                                      config.merge_after)

    @property
    def config(self) -> TrackFuserConfig:
        return self._config

    def update(self, source: int | str, t_ns: int, ids: npt.ArrayLike, t: npt.ArrayLike | None, x: npt.ArrayLike,
               P: npt.ArrayLike, pose: tuple[float, float, float] | None = None) -> bool:
        """Fuses source ``source``'s complete list stamped ``t_ns``: ``ids`` (n,) int64 source
        track ids, ``t`` (n,) int64 track times (None: all ``t_ns``), ``x`` (n, 4) states and
        ``P`` (n, 4, 4) covariances in the source frame; ``pose`` (x, y, yaw) of the source frame
        for this list (default: the configured one). Returns False when the list was dropped
        as too late. Raises as the module docstring says; a failed call changes nothing."""
        si = self._config.source_index(source)
        tn = _time(t_ns, "t_ns")
        idv = _ids(ids, "ids")
        tv = np.full(idv.shape, tn, np.int64) if t is None else _ids(t, "t")
        if pose is not None:
            try:
                pz = tuple(float(v) for v in pose)
            except (TypeError, ValueError):
                raise ShapeError(f"pose: expected (x, y, yaw), got {pose!r}") from None
            if len(pz) != 3:
                raise ShapeError(f"pose: expected (x, y, yaw), got {pose!r}")
            pose = (pz[0], pz[1], pz[2])
        Pr = _real(P, "P")
        _check_conditioning(Pr, idv, self._config.sources[si].name)
        ok: bool = self._core.update(si, tn, idv, tv, _real(x, "x"), Pr, pose)
        return ok

    def tracks(self, confirmed_only: bool = False, at: int | None = None) -> npt.NDArray[Any]:
        """The fused tracks (fusion frame) as a :data:`FUSED_TRACK_DTYPE` array sorted by id;
        with ``at`` (int ns) each is predicted to that time (the fuser does not change)."""
        at_i = None if at is None else _time(at, "at")
        id_, t, x, P, last, mask, upd, conf = self._core.tracks(bool(confirmed_only), at_i)
        out = np.zeros(len(id_), FUSED_TRACK_DTYPE)
        out["id"], out["t_ns"], out["x"], out["P"] = id_, t, x, P
        out["last_update_ns"], out["sources"], out["updates"], out["confirmed"] = last, mask, upd, conf
        return out[np.argsort(out["id"], kind="stable")]

    def fused_id_of(self, source: int | str, source_id: int) -> int | None:
        """The fused id that ``source``'s track ``source_id`` feeds now (None if none)."""
        fid = int(self._core.fused_id_of(self._config.source_index(source), _source_id(source_id)))
        return fid or None

    def stats(self) -> dict[str, int | None]:
        """Counters: ``updates``, ``late_lists``, ``dropped_lists``, ``source_tracks``,
        ``births``, ``deletions``, ``id_changes``, ``gate_breaks``, ``merges``, ``tracks``,
        ``confirmed_tracks``, ``time_ns`` (None before the first list)."""
        d: dict[str, int | None] = self._core.stats()
        return d

    @property
    def time_ns(self) -> int | None:
        """The fuser's time (latest fusion time), None before the first list."""
        t: int | None = self._core.time_ns
        return t

    def reset(self) -> None:
        """Forgets every track, the time and the counters (fused ids restart at 1)."""
        self._core.reset()
