"""KITTI 2D-box tracking protocol (as TrackEval's ``Kitti2DBox`` dataset applies it).

Per category and frame:

1. Ground truth of the category and of its distractor class (car: Van; pedestrian:
   Person_sitting; cyclist: none) is kept, plus DontCare regions; tracker rows of the category only.
   Rows with a negative track id are dropped (DontCare regions are kept as regions).
2. Tracker boxes are matched to that ground truth with a maximum-IoU assignment over pairs with
   2D IoU >= 0.5; tracker boxes matched to a distractor, or to ground truth with occlusion > 2 or
   truncation > 0, are removed.
3. Unmatched tracker boxes are removed if their height is <= 25 px or if more than half of their
   area lies inside one DontCare region.
4. Distractor, occluded (> 2) and truncated (> 0) ground truth is removed.

Ids are then relabelled 0..K-1 per sequence (:meth:`fusion.metrics.SequenceData.from_frames`).
The similarity used by the metrics is the 2D IoU.
(TrackEval only evaluates car and pedestrian; cyclist follows the same rules with no distractor.)
"""

from __future__ import annotations

import numpy as np

from fusion.assoc import max_weight_matching
from fusion.errors import ConfigurationError, DecodeError
from fusion.geometry.box2d import ioa_2d, iou_2d
from fusion.kitti.io import CATEGORIES, TrackRows
from fusion.metrics.sequence import SequenceData

__all__ = ["DISTRACTORS", "check_unique_ids", "frame_index", "preprocess_2d"]

_EPS = float(np.finfo(float).eps)

#: Ground-truth classes treated as "neither hit nor miss" for each category.
DISTRACTORS: dict[str, tuple[str, ...]] = {
    "car": ("van",),
    "pedestrian": ("person_sitting", "person"),
    "cyclist": (),
}
MAX_OCCLUSION = 2
MAX_TRUNCATION = 0
MIN_HEIGHT = 25.0  # pixels


def _lower_types(rows: TrackRows) -> np.ndarray:
    return np.asarray([str(t).lower() for t in rows.type], dtype=object)


def frame_index(rows: TrackRows, n_frames: int, what: str) -> list[np.ndarray]:
    """Row indices per frame 0..n_frames-1; raises DecodeError for a frame outside the range."""
    bad = np.nonzero((rows.frame < 0) | (rows.frame >= n_frames))[0]
    if len(bad):
        i = int(bad[0])
        raise DecodeError(f"{rows.where(i)}: {what} frame {int(rows.frame[i])} is outside the seqmap range "
                          f"0..{n_frames - 1}")
    order = np.argsort(rows.frame, kind="stable")
    bounds = np.searchsorted(rows.frame[order], np.arange(n_frames + 1))
    return [order[bounds[t]:bounds[t + 1]] for t in range(n_frames)]


def check_unique_ids(rows: TrackRows, what: str) -> None:
    """Raise DecodeError if one track id occurs twice in one frame of ``rows``."""
    if len(rows) == 0:
        return
    key = rows.frame.astype(np.int64) * (1 << 32) + (rows.track_id - rows.track_id.min())
    uniq, counts = np.unique(key, return_counts=True)
    if np.any(counts > 1):
        dup = uniq[counts > 1][0]
        idx = np.nonzero(key == dup)[0]
        i = int(idx[1])
        raise DecodeError(f"{rows.where(i)}: {what} track id {int(rows.track_id[i])} occurs more than once in "
                          f"frame {int(rows.frame[i])} (first at line {int(rows.line[idx[0]])})")


def preprocess_2d(gt: TrackRows, tracker: TrackRows, n_frames: int, category: str,
                  name: str = "") -> SequenceData:
    """Apply the KITTI 2D protocol (module docstring) to one sequence for one category.

    Args:
        gt: ground-truth ``label_02`` rows of the sequence.
        tracker: tracker rows of the sequence (any classes; only ``category`` is evaluated).
        n_frames: number of frames of the sequence (frames 0..n_frames-1).
        category: ``"car"``, ``"pedestrian"`` or ``"cyclist"``.
        name: sequence name, for error messages.
    Raises:
        ConfigurationError: unknown category.
        DecodeError: frames outside the sequence, or a track id repeated within a frame.
    """
    if category not in CATEGORIES:
        raise ConfigurationError(f"category: expected one of {CATEGORIES}, got {category!r}")
    distractors = DISTRACTORS[category]
    gtype = _lower_types(gt)
    ttype = _lower_types(tracker)
    is_dc = gtype == "dontcare"
    gkeep = np.isin(gtype, (category,) + distractors) & (gt.track_id >= 0)
    g = gt.select(gkeep)
    gtype_k = gtype[gkeep]
    dc = gt.select(is_dc)
    tr = tracker.select((ttype == category) & (tracker.track_id >= 0))
    check_unique_ids(tr, "tracker")
    check_unique_ids(g, "ground-truth")
    g_by_t = frame_index(g, n_frames, "ground-truth")
    dc_by_t = frame_index(dc, n_frames, "DontCare")
    t_by_t = frame_index(tr, n_frames, "tracker")
    g_occ = g.occluded
    g_trunc = g.truncated.astype(np.int64)  # TrackEval casts truncation to int
    g_is_distr = gtype_k != category

    gt_ids, tr_ids, sims = [], [], []
    for t in range(n_frames):
        gi, ti = g_by_t[t], t_by_t[t]
        gboxes, tboxes = g.bbox[gi], tr.bbox[ti]
        sim = iou_2d(gboxes, tboxes)
        remove = np.zeros(len(ti), bool)
        matched = np.zeros(len(ti), bool)
        if len(gi) and len(ti):
            score = np.where(sim >= 0.5 - _EPS, sim, 0.0)
            rows, cols = max_weight_matching(score)
            ok = score[rows, cols] > _EPS
            rows, cols = rows[ok], cols[ok]
            matched[cols] = True
            bad_gt = (g_is_distr[gi][rows] | (g_occ[gi][rows] > MAX_OCCLUSION + _EPS)
                      | (g_trunc[gi][rows] > MAX_TRUNCATION + _EPS))
            remove[cols[bad_gt]] = True
        un = ~matched
        if un.any():
            heights = tboxes[:, 3] - tboxes[:, 1]
            small = heights <= MIN_HEIGHT + _EPS
            in_dc = np.zeros(len(ti), bool)
            if len(dc_by_t[t]):
                in_dc = np.any(ioa_2d(tboxes, dc.bbox[dc_by_t[t]]) > 0.5 + _EPS, axis=1)
            remove |= un & (small | in_dc)
        keep_t = ~remove
        keep_g = (g_occ[gi] <= MAX_OCCLUSION) & (g_trunc[gi] <= MAX_TRUNCATION) & ~g_is_distr[gi]
        gt_ids.append(g.track_id[gi][keep_g])
        tr_ids.append(tr.track_id[ti][keep_t])
        sims.append(sim[np.ix_(keep_g, keep_t)])
    return SequenceData.from_frames(gt_ids, tr_ids, sims, name)
