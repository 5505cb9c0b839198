"""HOTA (Luiten et al. 2021): HOTA, DetA, AssA, LocA and their recall/precision parts.

Input: :class:`~fusion.metrics.sequence.SequenceData` (the similarity plays the role of IoU).
For each localisation threshold alpha in 0.05, 0.10, ..., 0.95 a per-frame matching maximises
``global_alignment(gt_id, tracker_id) * IoU``; matched pairs with IoU >= alpha are TPs.  DetA =
TP / (TP + FN + FP); AssA = mean over TPs of the association Jaccard TPA / (TPA + FNA + FPA);
HOTA = sqrt(DetA * AssA).  Sequences are combined by summing TP/FN/FP and TP-weighting AssA,
AssRe, AssPr and LocA; the reported scalars are the means over the 19 alpha values.  Results
equal TrackEval's ``HOTA`` (checked to 1e-6 in the tests).
"""

from __future__ import annotations

import numpy as np

from fusion.assoc import max_weight_matching
from fusion.metrics.sequence import SequenceData

__all__ = ["HOTA_ALPHAS", "hota_combine", "hota_sequence"]

_EPS = float(np.finfo(float).eps)
#: Localisation thresholds (same floating-point values as TrackEval).
HOTA_ALPHAS = np.arange(0.05, 0.99, 0.05)


def hota_sequence(seq: SequenceData) -> dict[str, np.ndarray]:
    """Per-alpha arrays ``HOTA_TP, HOTA_FN, HOTA_FP, AssA, AssRe, AssPr, LocA`` of one sequence."""
    na = len(HOTA_ALPHAS)
    res = {k: np.zeros(na) for k in ("HOTA_TP", "HOTA_FN", "HOTA_FP", "AssA", "AssRe", "AssPr", "LocA")}
    if seq.num_tracker_dets == 0 or seq.num_gt_dets == 0:
        res["HOTA_FN"][:] = seq.num_gt_dets
        res["HOTA_FP"][:] = seq.num_tracker_dets
        res["LocA"][:] = 1.0
        return res
    ng, nt = seq.num_gt_ids, seq.num_tracker_ids
    potential = np.zeros((ng, nt))
    gt_count = np.zeros((ng, 1))
    tr_count = np.zeros((1, nt))
    for gids, tids, sim in zip(seq.gt_ids, seq.tracker_ids, seq.similarity):
        denom = sim.sum(0)[None, :] + sim.sum(1)[:, None] - sim
        ok = denom > _EPS
        share = np.zeros_like(sim)
        share[ok] = sim[ok] / denom[ok]
        potential[gids[:, None], tids[None, :]] += share
        gt_count[gids] += 1
        tr_count[0, tids] += 1
    alignment = potential / (gt_count + tr_count - potential)
    matches = np.zeros((na, ng, nt))
    loc_sum = np.zeros(na)
    for gids, tids, sim in zip(seq.gt_ids, seq.tracker_ids, seq.similarity):
        if len(gids) == 0:
            res["HOTA_FP"] += len(tids)
            continue
        if len(tids) == 0:
            res["HOTA_FN"] += len(gids)
            continue
        score = alignment[gids[:, None], tids[None, :]] * sim
        r, c = max_weight_matching(score)
        s = sim[r, c]
        for a, alpha in enumerate(HOTA_ALPHAS):
            ok = s >= alpha - _EPS
            k = int(ok.sum())
            res["HOTA_TP"][a] += k
            res["HOTA_FN"][a] += len(gids) - k
            res["HOTA_FP"][a] += len(tids) - k
            if k:
                loc_sum[a] += s[ok].sum()
                matches[a, gids[r[ok]], tids[c[ok]]] += 1
    for a in range(na):
        m = matches[a]
        tp = max(1.0, res["HOTA_TP"][a])
        res["AssA"][a] = np.sum(m * m / np.maximum(1.0, gt_count + tr_count - m)) / tp
        res["AssRe"][a] = np.sum(m * m / np.maximum(1.0, gt_count)) / tp
        res["AssPr"][a] = np.sum(m * m / np.maximum(1.0, tr_count)) / tp
    res["LocA"] = np.maximum(1e-10, loc_sum) / np.maximum(1e-10, res["HOTA_TP"])
    return res


def hota_combine(per_seq: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Combine sequences; returns alpha-averaged scalars (fractions) and ``*_alpha`` arrays."""
    tp = sum(r["HOTA_TP"] for r in per_seq)
    fn = sum(r["HOTA_FN"] for r in per_seq)
    fp = sum(r["HOTA_FP"] for r in per_seq)
    arr: dict[str, np.ndarray] = {}
    for k in ("AssA", "AssRe", "AssPr"):
        arr[k] = sum(r[k] * r["HOTA_TP"] for r in per_seq) / np.maximum(1.0, tp)
    arr["LocA"] = np.maximum(1e-10, sum(r["LocA"] * r["HOTA_TP"] for r in per_seq)) / np.maximum(1e-10, tp)
    arr["DetRe"] = tp / np.maximum(1.0, tp + fn)
    arr["DetPr"] = tp / np.maximum(1.0, tp + fp)
    arr["DetA"] = tp / np.maximum(1.0, tp + fn + fp)
    arr["HOTA"] = np.sqrt(arr["DetA"] * arr["AssA"])
    out: dict[str, float] = {k: float(np.mean(v)) for k, v in arr.items()}
    out["HOTA(0)"] = float(arr["HOTA"][0])
    out["LocA(0)"] = float(arr["LocA"][0])
    for k, v in arr.items():
        out[f"{k}_alpha"] = v.tolist()
    out["HOTA_TP"] = float(np.mean(tp))
    return out
