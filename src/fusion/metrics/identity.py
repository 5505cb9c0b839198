"""Identity metrics (Ristani et al. 2016): IDF1, IDR, IDP.

Input: :class:`~fusion.metrics.sequence.SequenceData`.  A one-to-one map between ground-truth
and tracker ids maximises the number of frames where the mapped pair has a similarity >=
``threshold`` (IDTP); IDFN/IDFP are the remaining gt/tracker detections.  Counts are summed
over sequences.  Results equal TrackEval's ``Identity`` (checked to 1e-6 in the tests).
"""

from __future__ import annotations

import numpy as np

from fusion.assoc import max_weight_matching
from fusion.errors import ConfigurationError
from fusion.metrics.sequence import SequenceData

__all__ = ["identity_combine", "identity_sequence"]


def identity_sequence(seq: SequenceData, threshold: float = 0.5) -> dict[str, float]:
    """IDTP, IDFN, IDFP of one sequence (``threshold`` in (0, 1]; ConfigurationError otherwise)."""
    if not 0.0 < threshold <= 1.0:  # False for NaN too
        raise ConfigurationError(f"threshold: expected a similarity in (0, 1], got {threshold!r}")
    if seq.num_tracker_dets == 0 or seq.num_gt_dets == 0:
        return {"IDTP": 0, "IDFN": seq.num_gt_dets, "IDFP": seq.num_tracker_dets}
    overlap = np.zeros((seq.num_gt_ids, seq.num_tracker_ids))
    for gids, tids, sim in zip(seq.gt_ids, seq.tracker_ids, seq.similarity):
        gi, ti = np.nonzero(sim >= threshold)
        np.add.at(overlap, (gids[gi], tids[ti]), 1.0)
    r, c = max_weight_matching(overlap)
    idtp = int(np.rint(overlap[r, c].sum()))
    return {"IDTP": idtp, "IDFN": seq.num_gt_dets - idtp, "IDFP": seq.num_tracker_dets - idtp}


def identity_combine(per_seq: list[dict[str, float]]) -> dict[str, float]:
    """Sum counts and derive IDF1, IDR, IDP (fractions)."""
    tot: dict[str, float] = {k: sum(r[k] for r in per_seq) for k in ("IDTP", "IDFN", "IDFP")}
    tp, fn, fp = tot["IDTP"], tot["IDFN"], tot["IDFP"]
    tot["IDR"] = tp / max(1.0, tp + fn)
    tot["IDP"] = tp / max(1.0, tp + fp)
    tot["IDF1"] = tp / max(1.0, tp + 0.5 * fp + 0.5 * fn)
    return tot
