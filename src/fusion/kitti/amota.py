"""sAMOTA / AMOTA / AMOTP (Weng et al., "3D Multi-Object Tracking: A Baseline and New Evaluation
Metrics", IROS 2020) with 3D IoU matching, following the AB3DMOT KITTI evaluation protocol.

Protocol (per category, over all sequences together):

- Ground truth: rows of the category and its distractor class (car: Van; pedestrian:
  Person_sitting) with a track id >= 0; DontCare rows are 2D ignore regions.  A ground-truth box
  is *ignored* if it is a distractor, occluded > 2 or truncated > 0.
- Tracker rows of the category and of its distractor class; each row's score is replaced by the
  mean score of its track in that sequence (rows without a score column count as -1).
- Per frame, ground truth and tracker boxes are matched by minimum total ``1 - IoU3D`` among
  pairs with IoU3D >= ``min_iou`` (0.25), maximising the number of matches first.
  Unmatched tracker boxes are ignored if of the distractor class, if their 2D box is <= 25 px
  high, or if more than half of the 2D box lies in a DontCare region; unmatched ignored ground
  truth is not a miss; matched ignored ground truth is neither TP nor FP for MOTA.
- ID switches, fragmentations and MT/PT/ML follow the KITTI devkit's per-trajectory rules.
- MOTA = 1 - (FN + FP + IDSW) / n_gt (n_gt: non-ignored ground truth); MOTP = mean IoU3D of all
  matches; sMOTA_r = clip(1 - (FN + FP + IDSW - (1 - r) n_gt) / (r n_gt), 0, 1).
- Recall thresholds: the scores of the matched tracker boxes (evaluated with all tracks),
  sorted, give up to ``num_recall - 1`` score thresholds at recall r = 1/40, 2/40, ... (the
  devkit's closest-point rule); at each, tracks with mean score < threshold are removed and the
  metrics recomputed.  sAMOTA, AMOTA, AMOTP are the sums of sMOTA_r, MOTA_r, MOTP_r divided by
  40 (recalls never reached contribute 0).
- Score re-averaging (``reference_rounding=True``, the default): the AB3DMOT script overwrites
  every row's score with its track mean and, at every later threshold, re-takes the mean of
  those copies (a left-to-right float sum divided by the row count) before comparing it with the
  threshold.  The re-taken mean can come out an ulp or so below the original one, and the
  threshold *is* the original mean of some matched track, so the script often drops exactly the
  track whose score defines the recall level (measured recall < r, sMOTA_r penalised).  This is
  reproduced bit for bit here (means are summed in the script's order: by frame, then file
  order); ``reference_rounding=False`` compares the exact track means instead (the rule as
  written in the paper; it gives higher sAMOTA/AMOTA/AMOTP).

Differences from the AB3DMOT script: matching/ignore state is recomputed from scratch at each
threshold (the script keeps a stale "matched once" flag on tracker boxes between thresholds, so a
box matched at an earlier threshold and unmatched later counts as a false positive even when it is
small, of the distractor class or inside a DontCare region), tracker DontCare rows are dropped,
class names are compared exactly (lower case; the script tests substrings, which selects the same
KITTI classes), and frames outside the seqmap range are an error (the script extends the sequence).
``reference_rounding`` reproduces the script as run under Python <= 3.11, whose ``sum`` of
floats is a plain left-to-right sum (Python 3.12's compensated ``sum`` changes which tracks the
script drops, so the script's own numbers depend on the interpreter).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from fusion.assoc import max_weight_matching
from fusion.errors import ConfigurationError
from fusion.geometry import iou_3d
from fusion.geometry.box2d import ioa_2d
from fusion.kitti.io import CATEGORIES, TrackRows, camera_box_to_generic
from fusion.kitti.protocol import (
    MAX_OCCLUSION,
    MAX_TRUNCATION,
    MIN_HEIGHT,
    check_unique_ids,
    frame_index,
)

__all__ = ["Sequence3D", "amota", "clear_3d", "prepare_3d", "recall_thresholds"]

AB3DMOT_DISTRACTORS: dict[str, tuple[str, ...]] = {
    "car": ("van",),
    "pedestrian": ("person_sitting",),
    "cyclist": (),
}


@dataclass
class _Frame:
    gt_tid: np.ndarray      # (ng,) gt track ids
    gt_ign: np.ndarray      # (ng,) ignored gt
    trk: np.ndarray         # (nt,) tracker row indices (into Sequence3D arrays)
    cost: np.ndarray        # (ng, nt) 1 - IoU3D
    trk_ignorable: np.ndarray  # (nt,) ignored if left unmatched
    cache: dict[bytes, tuple[Any, ...]] = field(default_factory=dict)


@dataclass
class Sequence3D:
    """One sequence prepared for the 3D protocol (see module docstring)."""

    name: str
    frames: list[_Frame]
    trk_tid: np.ndarray     # (n_rows,) tracker track ids
    trk_score: np.ndarray   # (n_rows,) track-averaged scores
    gt_tid: np.ndarray      # (n_inst,) gt track id of each gt instance, in frame order
    gt_ign: np.ndarray      # (n_inst,) ignored flag of each instance
    frame_start: np.ndarray  # (n_frames + 1,) offsets of each frame's instances
    trk_inv: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (n_rows,) row -> track
    trk_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (n_tracks,) rows per track
    trk_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n_tracks,) mean score per track


def prepare_3d(gt: TrackRows, tracker: TrackRows, n_frames: int, category: str, name: str = "") -> Sequence3D:
    """Select, index and pre-compute 3D IoUs of one sequence for one category."""
    if category not in CATEGORIES:
        raise ConfigurationError(f"category: expected one of {CATEGORIES}, got {category!r}")
    classes = (category,) + AB3DMOT_DISTRACTORS[category]
    gtype = np.asarray([str(t).lower() for t in gt.type], dtype=object)
    ttype = np.asarray([str(t).lower() for t in tracker.type], dtype=object)
    g = gt.select(np.isin(gtype, classes) & (gt.track_id >= 0))
    g_distr = np.asarray([str(t).lower() != category for t in g.type], bool)
    dc = gt.select(gtype == "dontcare")
    # rows with KITTI's "no 3D" values (x y z = -1000, e.g. a camera-only track's image box) make no
    # 3D claim: they are left out of the 3D scoring (and of their track's mean score)
    tsel = np.isin(ttype, classes) & (tracker.track_id >= 0) & (tracker.loc[:, 0] > -999.0)
    tr = tracker.select(tsel)
    t_distr = np.asarray([str(t).lower() != category for t in tr.type], bool)
    check_unique_ids(tr, "tracker")
    score = np.where(np.isfinite(tr.score), tr.score, -1.0)
    avg = np.zeros(len(tr))
    inv = np.zeros(0, np.int64)
    cnts = np.zeros(0, np.int64)
    means = np.zeros(0)
    if len(tr):
        uniq, inv = np.unique(tr.track_id, return_inverse=True)
        inv = inv.reshape(-1)
        # sum each track's scores left to right in frame order (file order within a frame), as
        # the AB3DMOT script does; bincount accumulates its weights sequentially in input order
        order = np.argsort(tr.frame, kind="stable")
        sums = np.bincount(inv[order], weights=score[order], minlength=len(uniq))
        cnts = np.bincount(inv, minlength=len(uniq))
        means = sums / cnts
        avg = means[inv]
    g_by_t = frame_index(g, n_frames, "ground-truth")
    dc_by_t = frame_index(dc, n_frames, "DontCare")
    t_by_t = frame_index(tr, n_frames, "tracker")
    g_gen = camera_box_to_generic(g.camera_boxes()) if len(g) else np.zeros((0, 7))
    t_gen = camera_box_to_generic(tr.camera_boxes()) if len(tr) else np.zeros((0, 7))
    # the script parses truncation and occlusion with int(float(.)) before comparing them
    g_occ = np.trunc(np.asarray(g.occluded, np.float64))
    g_trunc = np.trunc(np.asarray(g.truncated, np.float64))
    g_ign_all = g_distr | (g_occ > MAX_OCCLUSION) | (g_trunc > MAX_TRUNCATION)
    frames = []
    inst_tid, inst_ign, starts = [], [], [0]
    for t in range(n_frames):
        gi, ti = g_by_t[t], t_by_t[t]
        cost = 1.0 - cast(np.ndarray, iou_3d(g_gen[gi], t_gen[ti]))  # (n, 7) x (m, 7): an array
        tb = tr.bbox[ti]
        in_dc = np.any(ioa_2d(tb, dc.bbox[dc_by_t[t]]) > 0.5, axis=1)
        ignorable = t_distr[ti] | (np.abs(tb[:, 1] - tb[:, 3]) <= MIN_HEIGHT) | in_dc
        frames.append(_Frame(g.track_id[gi], g_ign_all[gi], ti, cost, ignorable))
        inst_tid.append(g.track_id[gi])
        inst_ign.append(g_ign_all[gi])
        starts.append(starts[-1] + len(gi))
    return Sequence3D(
        name=name,
        frames=frames,
        trk_tid=tr.track_id,
        trk_score=avg,
        gt_tid=np.concatenate(inst_tid) if inst_tid else np.zeros(0, np.int64),
        gt_ign=np.concatenate(inst_ign) if inst_ign else np.zeros(0, bool),
        frame_start=np.asarray(starts),
        trk_inv=np.asarray(inv, np.int64),
        trk_count=np.asarray(cnts, np.int64),
        trk_mean=np.asarray(means, np.float64),
    )


def _match(fr: _Frame, active: np.ndarray, min_iou: float) -> tuple[Any, ...]:
    key = active.tobytes()
    hit = fr.cache.get(key)
    if hit is not None:
        return hit
    cost = fr.cost[:, active]
    rows_idx = fr.trk[active]
    ng, na = cost.shape
    valid = cost <= 1.0 - min_iou
    if valid.any():
        big = min(ng, na) + 1.0
        r, c = max_weight_matching(np.where(valid, big - cost, 0.0))
    else:
        r = c = np.zeros(0, np.int64)
    assigned = np.full(ng, -1, np.int64)
    assigned[r] = rows_idx[c]
    matched_t = np.zeros(na, bool)
    matched_t[c] = True
    n_fp = int(np.sum(~matched_t & ~fr.trk_ignorable[active]))
    n_fn = int(np.sum((assigned < 0) & ~fr.gt_ign))
    out = (len(r), float(np.sum(1.0 - cost[r, c])), rows_idx[c], assigned, n_fn, n_fp)
    fr.cache[key] = out
    return out


def _trajectory_stats(assigned_ids: list[int], ign: list[bool]) -> tuple[int, int, int, bool]:
    """(idsw, frag, tracked, skip) of one gt trajectory, KITTI devkit rules."""
    n = len(assigned_ids)
    g = assigned_ids
    last = g[0]
    tracked = 1 if g[0] >= 0 else 0
    idsw = frag = 0
    f = 0
    for f in range(1, n):
        if ign[f]:
            last = -1
            continue
        if last != g[f] and last != -1 and g[f] != -1 and g[f - 1] != -1:
            idsw += 1
        if f < n - 1 and g[f - 1] != g[f] and last != -1 and g[f] != -1 and g[f + 1] != -1:
            frag += 1
        if g[f] != -1:
            tracked += 1
            last = g[f]
    if n > 1 and g[f - 1] != g[f] and last != -1 and g[f] != -1 and not ign[f]:
        frag += 1
    return idsw, frag, tracked, False


def clear_3d(seqs: list[Sequence3D], threshold: float = -np.inf, recall: float = 1.0,
             min_iou: float = 0.25, row_scores: list[np.ndarray] | None = None) -> dict[str, float | list[float]]:
    """CLEAR metrics with 3D IoU matching after removing tracks whose mean score < ``threshold``.

    ``row_scores`` (one (n_rows,) array per sequence) replaces ``seq.trk_score`` in the comparison
    with ``threshold`` (used for the script's re-averaged scores, see the module docstring).

    Returns counts ``TP`` (all matches, ignored ones included, as the devkit), ``FN``, ``FP``,
    ``IDSW``, ``FRAG``, ``n_gt``, ``MT``/``PT``/``ML`` (fractions of non-ignored trajectories),
    and ``MOTA``, ``MOTP`` (mean IoU3D), ``sMOTA`` at ``recall``, plus ``scores``: the track-mean
    scores of all matched tracker boxes.
    """
    tp = fn = fp = n_gt = idsw = frag = 0
    cost = 0.0
    mt = pt = ml = n_traj = 0
    scores: list[np.ndarray] = []
    for k, seq in enumerate(seqs):
        active_rows = (seq.trk_score if row_scores is None else row_scores[k]) >= threshold
        assigned = np.full(len(seq.gt_tid), -1, np.int64)
        for f, fr in enumerate(seq.frames):
            if len(fr.gt_tid) == 0 and len(fr.trk) == 0:
                continue
            k, c, mrows, asg, nfn, nfp = _match(fr, active_rows[fr.trk], min_iou)
            tp += k
            cost += c
            fn += nfn
            fp += nfp
            if k:
                scores.append(seq.trk_score[mrows])
            s0 = seq.frame_start[f]
            assigned[s0:s0 + len(asg)] = asg
        n_gt += int(np.sum(~seq.gt_ign))
        if len(seq.gt_tid) == 0:
            continue
        ids = np.where(assigned >= 0, seq.trk_tid[np.maximum(assigned, 0)] if len(seq.trk_tid) else -1, -1)
        order = np.argsort(seq.gt_tid, kind="stable")
        tids_sorted = seq.gt_tid[order]
        cuts = np.nonzero(np.diff(tids_sorted))[0] + 1
        for grp in np.split(order, cuts):
            ign = seq.gt_ign[grp].tolist()
            if all(ign):
                continue
            n_traj += 1
            g = ids[grp].tolist()
            if all(x == -1 for x in g):
                ml += 1
                continue
            s_idsw, s_frag, tracked, _ = _trajectory_stats(g, ign)
            idsw += s_idsw
            frag += s_frag
            ratio = tracked / float(len(g) - sum(ign))
            if ratio > 0.8:
                mt += 1
            elif ratio < 0.2:
                ml += 1
            else:
                pt += 1
    res: dict[str, float | list[float]] = {
        "TP": tp, "FN": fn, "FP": fp, "IDSW": idsw, "FRAG": frag, "n_gt": n_gt,
        "MT": mt / n_traj if n_traj else 0.0, "PT": pt / n_traj if n_traj else 0.0,
        "ML": ml / n_traj if n_traj else 0.0,
    }
    if n_gt == 0:
        res["MOTA"] = res["sMOTA"] = float("nan")
    else:
        res["MOTA"] = 1.0 - (fn + fp + idsw) / n_gt
        res["sMOTA"] = min(1.0, max(0.0, 1.0 - (fn + fp + idsw - (1.0 - recall) * n_gt) / (recall * n_gt)))
    res["MOTP"] = cost / tp if tp else 0.0
    res["scores"] = np.concatenate(scores).tolist() if scores else []
    return res


def recall_thresholds(scores: list[float] | np.ndarray, num_gt: int,
                      num_recall: int = 41) -> tuple[list[float], list[float]]:
    """Score thresholds and their recall levels (devkit rule; the recall-0 point is dropped).

    Walking the matched scores from high to low, a score is taken for the next recall level
    ``k / (num_recall - 1)`` when the recall after it is no closer to that level than the
    recall at it (the last score is always taken).
    """
    s = np.sort(np.asarray(scores, np.float64))[::-1]
    target = 0.0
    thr: list[float] = []
    rec: list[float] = []
    n = len(s)
    for i in range(n):
        here = (i + 1) / float(num_gt)
        nxt = (i + 2) / float(num_gt) if i < n - 1 else here
        if i < n - 1 and (nxt - target) < (target - here):
            continue
        thr.append(float(s[i]))
        rec.append(target)
        target += 1.0 / (num_recall - 1.0)
    return thr[1:], rec[1:]


def _reaverage(means: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per track, the mean of ``count`` copies of ``mean`` summed left to right (float64)."""
    out = np.empty(len(means))
    for i, (m, n) in enumerate(zip(means.tolist(), counts.tolist())):
        acc = 0.0
        for _ in range(n):
            acc += m
        out[i] = acc / float(n)
    return out


def amota(seqs: list[Sequence3D], min_iou: float = 0.25, num_recall: int = 41,
          reference_rounding: bool = True) -> dict[str, float | list[float]]:
    """sAMOTA, AMOTA, AMOTP (fractions) over prepared sequences, plus the per-recall curves.

    ``reference_rounding`` reproduces the AB3DMOT script's re-averaging of track scores at each
    threshold (module docstring); False compares the exact track means with the thresholds.
    Also returns ``MOTA_best`` (highest MOTA over the thresholds, as AB3DMOT reports) and the
    3D CLEAR counts with all tracks (``IDSW_all``, ``FRAG_all``, ``MOTA_all``, ``MOTP_all``).
    """
    full = clear_3d(seqs, -np.inf, 1.0, min_iou)
    # devkit: includes matched-but-ignored ground truth
    num_gt = int(full["TP"]) + int(full["FN"])  # type: ignore[arg-type]
    out: dict[str, float | list[float]] = {
        "MOTA_all": full["MOTA"], "MOTP_all": full["MOTP"], "IDSW_all": full["IDSW"], "FRAG_all": full["FRAG"],
    }
    if num_gt == 0 or int(full["n_gt"]) == 0:  # type: ignore[arg-type]
        out.update(sAMOTA=float("nan"), AMOTA=float("nan"), AMOTP=float("nan"), MOTA_best=float("nan"),
                   recalls=[], sMOTA_curve=[], MOTA_curve=[], MOTP_curve=[])
        return out
    thresholds, recalls = recall_thresholds(full["scores"], num_gt, num_recall)  # type: ignore[arg-type]
    s_sum = m_sum = p_sum = 0.0
    best = 0.0
    curves: dict[str, list[float]] = {"sMOTA_curve": [], "MOTA_curve": [], "MOTP_curve": []}
    means = [seq.trk_mean for seq in seqs]
    for thr, r in zip(thresholds, recalls):
        row_scores = None
        if reference_rounding:
            means = [_reaverage(m, seq.trk_count) for m, seq in zip(means, seqs)]
            row_scores = [m[seq.trk_inv] if len(seq.trk_inv) else np.zeros(0) for m, seq in zip(means, seqs)]
        res = clear_3d(seqs, thr, r, min_iou, row_scores)
        s_sum += float(res["sMOTA"])  # type: ignore[arg-type]
        m_sum += float(res["MOTA"])  # type: ignore[arg-type]
        p_sum += float(res["MOTP"])  # type: ignore[arg-type]
        best = max(best, float(res["MOTA"]))  # type: ignore[arg-type]
        curves["sMOTA_curve"].append(float(res["sMOTA"]))  # type: ignore[arg-type]
        curves["MOTA_curve"].append(float(res["MOTA"]))  # type: ignore[arg-type]
        curves["MOTP_curve"].append(float(res["MOTP"]))  # type: ignore[arg-type]
    denom = num_recall - 1.0
    out.update(sAMOTA=s_sum / denom, AMOTA=m_sum / denom, AMOTP=p_sum / denom, MOTA_best=best,
               recalls=list(recalls), **curves)
    return out
