"""The per-sequence input of the CLEAR, HOTA and Identity metrics.

A :class:`SequenceData` holds, for every evaluated frame, the ground-truth ids, the tracker
ids and the similarity of every ground-truth object with every tracker object (1 = same
place, 0 = no overlap; for boxes the IoU, for points e.g. ``1 - d / d_max``).  Nothing about
where the objects came from is kept: a dataset adapter (for example
:func:`fusion.kitti.protocol.preprocess_2d`) decides which objects count and builds one
with :meth:`SequenceData.from_frames`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fusion.errors import NumericalError, ShapeError

__all__ = ["SequenceData"]

#: Similarities may exceed 1 by this much (rounding of an IoU); anything beyond is an error.
_SIM_SLACK = 1e-9


@dataclass
class SequenceData:
    """One sequence, ready for :mod:`fusion.metrics.clear`, :mod:`~fusion.metrics.hota` and
    :mod:`~fusion.metrics.identity`.

    Per frame ``t``: ``gt_ids[t]`` and ``tracker_ids[t]`` are int64 arrays of ids relabelled to
    ``0 .. num_gt_ids - 1`` / ``0 .. num_tracker_ids - 1`` over the sequence (unique within a
    frame), and ``similarity[t]`` is the ``(len(gt_ids[t]), len(tracker_ids[t]))`` similarity
    matrix with entries in [0, 1].  ``num_*_dets`` count the objects over all frames.

    Build one with :meth:`from_frames` (raw ids, any integers, checked for repeats within a
    frame).  The constructor checks the other invariants and raises
    :class:`fusion.errors.ShapeError` (lengths, shapes, non-integer ids, ids out of range,
    counts) or :class:`fusion.errors.NumericalError` (a similarity NaN or outside [0, 1]).
    """

    name: str
    gt_ids: list[np.ndarray]
    tracker_ids: list[np.ndarray]
    similarity: list[np.ndarray]
    num_gt_ids: int
    num_tracker_ids: int
    num_gt_dets: int
    num_tracker_dets: int

    def __post_init__(self) -> None:
        where = f"sequence {self.name!r}: " if self.name else ""
        n = len(self.gt_ids)
        if len(self.tracker_ids) != n or len(self.similarity) != n:
            raise ShapeError(f"{where}gt_ids, tracker_ids and similarity must have one entry per frame, got "
                             f"{n}, {len(self.tracker_ids)} and {len(self.similarity)}")
        for t, (g, k, s) in enumerate(zip(self.gt_ids, self.tracker_ids, self.similarity)):
            if g.ndim != 1 or k.ndim != 1 or s.shape != (len(g), len(k)):
                raise ShapeError(f"{where}frame {t}: expected ids of shape (n_gt,), (n_tracker,) and similarity "
                                 f"(n_gt, n_tracker), got {g.shape}, {k.shape} and {s.shape}")
        flat = np.concatenate([s.ravel() for s in self.similarity]) if n else np.zeros(0)
        if flat.size and not (flat.min() >= 0.0 and flat.max() <= 1.0 + _SIM_SLACK):  # NaN fails both tests
            t = next(t for t, s in enumerate(self.similarity)
                     if s.size and not (s.min() >= 0.0 and s.max() <= 1.0 + _SIM_SLACK))
            s = self.similarity[t]
            raise NumericalError(f"{where}frame {t}: similarity must lie in [0, 1], got values in "
                                 f"[{np.min(s)}, {np.max(s)}]")
        for what, ids, count, dets in (("gt", self.gt_ids, self.num_gt_ids, self.num_gt_dets),
                                       ("tracker", self.tracker_ids, self.num_tracker_ids, self.num_tracker_dets)):
            flat = np.concatenate(ids) if ids else np.zeros(0, np.int64)
            if flat.dtype.kind not in "iu":
                raise ShapeError(f"{where}{what}_ids: expected integer ids, got dtype {flat.dtype}")
            if len(flat) != dets:
                raise ShapeError(f"{where}num_{what}_dets: expected {len(flat)} (the ids of all frames), got {dets}")
            if len(flat) and (flat.min() < 0 or flat.max() >= count):
                raise ShapeError(f"{where}{what}_ids: expected ids in 0..{count - 1} (num_{what}_ids = {count}), got "
                                 f"{flat.min()}..{flat.max()}")

    @property
    def num_frames(self) -> int:
        return len(self.gt_ids)

    @classmethod
    def from_frames(
        cls,
        gt_ids: Sequence[npt.ArrayLike],
        tracker_ids: Sequence[npt.ArrayLike],
        similarity: Sequence[npt.ArrayLike],
        name: str = "",
    ) -> SequenceData:
        """Build a sequence from per-frame raw ids (any integers) and similarity matrices.

        Ids are relabelled to ``0 .. K-1`` in increasing order of the raw id, separately for
        ground truth and tracker; the counts are derived.  Repeated ids within one frame are
        an error (one object cannot be in two places).

        Raises:
            ShapeError: mismatched lengths or shapes, non-integer ids, an id repeated in a frame.
            NumericalError: a similarity NaN or outside [0, 1].
        """
        if not len(gt_ids) == len(tracker_ids) == len(similarity):
            raise ShapeError(f"gt_ids, tracker_ids and similarity must have one entry per frame, got {len(gt_ids)}, "
                             f"{len(tracker_ids)} and {len(similarity)}")
        g, n_g = _relabel([_ids(x, "gt_ids", t) for t, x in enumerate(gt_ids)], "gt_ids", name)
        k, n_k = _relabel([_ids(x, "tracker_ids", t) for t, x in enumerate(tracker_ids)], "tracker_ids", name)
        sims = []
        for s, a, b in zip(similarity, g, k):
            m = np.asarray(s, dtype=np.float64)
            sims.append(m.reshape(len(a), len(b)) if m.size == 0 else m)
        return cls(name=name, gt_ids=g, tracker_ids=k, similarity=sims, num_gt_ids=n_g, num_tracker_ids=n_k,
                   num_gt_dets=int(sum(len(x) for x in g)), num_tracker_dets=int(sum(len(x) for x in k)))


def _ids(x: npt.ArrayLike, what: str, t: int) -> np.ndarray:
    a = np.asarray(x)
    if a.size == 0:
        return np.zeros(0, np.int64)
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise ShapeError(f"{what}: frame {t}: expected a 1-D array of integer ids, got shape {a.shape} "
                         f"dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


def _relabel(ids_per_frame: list[np.ndarray], what: str, name: str) -> tuple[list[np.ndarray], int]:
    allids = np.concatenate(ids_per_frame) if ids_per_frame else np.zeros(0, np.int64)
    frames = np.repeat(np.arange(len(ids_per_frame)), [len(x) for x in ids_per_frame])
    order = np.lexsort((allids, frames))
    dup = (np.diff(frames[order]) == 0) & (np.diff(allids[order]) == 0)
    if dup.any():
        where = f"sequence {name!r}: " if name else ""
        i = order[int(np.argmax(dup))]
        raise ShapeError(f"{where}{what}: frame {int(frames[i])} has id {int(allids[i])} more than once")
    uniq = np.unique(allids)
    return [np.searchsorted(uniq, x).astype(np.int64) for x in ids_per_frame], len(uniq)
