"""CLEAR MOT metrics (Bernardin & Stiefelhagen 2008): MOTA, MOTP, MODA, IDSW, FRAG, MT/PT/ML.

Input: :class:`~fusion.metrics.sequence.SequenceData` (ids plus a similarity per frame).
Matching per frame maximises ``1000 * continues_previous_match + IoU`` over pairs with
IoU >= ``threshold`` (TrackEval's rule), so an established correspondence is kept whenever it is
still valid, then total IoU is maximised.  Counts are summed over sequences; ratios are computed
from the sums.  All ratios are fractions (1.0 = 100 %).
"""

from __future__ import annotations

import numpy as np

from fusion.assoc import max_weight_matching
from fusion.errors import ConfigurationError
from fusion.metrics.sequence import SequenceData

__all__ = ["CLEAR_COUNTS", "clear_combine", "clear_sequence"]

_EPS = float(np.finfo(float).eps)
CLEAR_COUNTS = ("CLR_TP", "CLR_FN", "CLR_FP", "IDSW", "MT", "PT", "ML", "FRAG", "CLR_Frames")


def clear_sequence(seq: SequenceData, threshold: float = 0.5) -> dict[str, float]:
    """Raw CLEAR counts of one sequence.

    Args:
        seq: the sequence.
        threshold: a pair can match when its similarity is >= ``threshold`` (in (0, 1]).
    Returns:
        ``CLR_TP, CLR_FN, CLR_FP, IDSW, MT, PT, ML, FRAG, CLR_Frames`` and ``MOTP_sum`` (the sum
        of the similarity of the matched pairs); combine sequences with :func:`clear_combine`.
    Raises:
        ConfigurationError: ``threshold`` outside (0, 1].
    """
    _check_threshold(threshold)
    res: dict[str, float] = {k: 0 for k in CLEAR_COUNTS}
    res["MOTP_sum"] = 0.0
    res["CLR_Frames"] = seq.num_frames
    if seq.num_tracker_dets == 0:
        res["CLR_FN"] = seq.num_gt_dets
        res["ML"] = seq.num_gt_ids
        return res
    if seq.num_gt_dets == 0:
        res["CLR_FP"] = seq.num_tracker_dets
        return res
    n = seq.num_gt_ids
    present = np.zeros(n)
    matched_count = np.zeros(n)
    frag_starts = np.zeros(n)
    last_match = np.full(n, np.nan)      # tracker id last matched to each gt id (any earlier frame)
    prev_frame_match = np.full(n, np.nan)  # tracker id matched in the previous evaluated frame
    for gids, tids, sim in zip(seq.gt_ids, seq.tracker_ids, seq.similarity):
        if len(gids) == 0:
            res["CLR_FP"] += len(tids)
            continue
        if len(tids) == 0:
            res["CLR_FN"] += len(gids)
            present[gids] += 1
            continue
        cont = tids[None, :] == prev_frame_match[gids][:, None]
        score = np.where(sim >= threshold - _EPS, 1000.0 * cont + sim, 0.0)
        r, c = max_weight_matching(score)
        ok = score[r, c] > _EPS
        r, c = r[ok], c[ok]
        mg, mt = gids[r], tids[c]
        prev = last_match[mg]
        res["IDSW"] += int(np.sum(~np.isnan(prev) & (mt != prev)))
        present[gids] += 1
        matched_count[mg] += 1
        was_untracked = np.isnan(prev_frame_match)
        last_match[mg] = mt
        prev_frame_match[:] = np.nan
        prev_frame_match[mg] = mt
        frag_starts += was_untracked & ~np.isnan(prev_frame_match)
        res["CLR_TP"] += len(r)
        res["CLR_FN"] += len(gids) - len(r)
        res["CLR_FP"] += len(tids) - len(r)
        res["MOTP_sum"] += float(np.sum(sim[r, c]))
    ratio = matched_count[present > 0] / present[present > 0]
    res["MT"] = int(np.sum(ratio > 0.8))
    res["PT"] = int(np.sum(ratio >= 0.2)) - res["MT"]
    res["ML"] = n - res["MT"] - res["PT"]
    res["FRAG"] = int(np.sum(frag_starts[frag_starts > 0] - 1))
    return res


def _check_threshold(threshold: float) -> None:
    if not 0.0 < threshold <= 1.0:  # False for NaN too
        raise ConfigurationError(f"threshold: expected a similarity in (0, 1], got {threshold!r}")


def clear_combine(per_seq: list[dict[str, float]]) -> dict[str, float]:
    """Sum the counts of :func:`clear_sequence` over sequences and derive the ratios.

    Returns the summed counts plus ``MOTA = (TP - FP - IDSW) / n_gt``, ``MODA``, ``MOTP`` (mean
    similarity of the matches), ``CLR_Re``, ``CLR_Pr`` and ``MTR``/``PTR``/``MLR`` (fractions).
    """
    tot: dict[str, float] = {k: sum(r[k] for r in per_seq) for k in CLEAR_COUNTS + ("MOTP_sum",)}
    tp, fn, fp, idsw = tot["CLR_TP"], tot["CLR_FN"], tot["CLR_FP"], tot["IDSW"]
    n_ids = tot["MT"] + tot["PT"] + tot["ML"]
    n_gt = max(1.0, tp + fn)
    tot["MOTA"] = (tp - fp - idsw) / n_gt
    tot["MODA"] = (tp - fp) / n_gt
    tot["MOTP"] = tot["MOTP_sum"] / max(1.0, tp)
    tot["CLR_Re"] = tp / n_gt
    tot["CLR_Pr"] = tp / max(1.0, tp + fp)
    tot["MTR"] = tot["MT"] / max(1.0, n_ids)
    tot["PTR"] = tot["PT"] / max(1.0, n_ids)
    tot["MLR"] = tot["ML"] / max(1.0, n_ids)
    return tot
