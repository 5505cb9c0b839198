"""fusion.metrics CLEAR / HOTA / Identity: hand-computed sequences, TrackEval parity on
synthetic sequences (no dataset involved), SequenceData construction and bad input.

(The KITTI end-to-end parity with TrackEval's Kitti2DBox is in tests/kitti.)"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import trackeval

from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.metrics import (
    HOTA_ALPHAS,
    SequenceData,
    clear_combine,
    clear_sequence,
    hota_combine,
    hota_sequence,
    identity_combine,
    identity_sequence,
)


def _seq(gt: list[list[int]], tr: list[list[int]], sim: list[list[list[float]]] | float = 1.0) -> SequenceData:
    """Frames of raw ids; ``sim`` a per-frame matrix, or one value for every pair."""
    sims = sim if isinstance(sim, list) else [np.full((len(g), len(t)), sim) for g, t in zip(gt, tr)]
    return SequenceData.from_frames(gt, tr, sims, "hand")


def _all(seq: SequenceData) -> dict[str, float]:
    out = {}
    out.update(hota_combine([hota_sequence(seq)]))
    out.update(clear_combine([clear_sequence(seq)]))
    out.update(identity_combine([identity_sequence(seq)]))
    return out


def test_id_switch_hand_computed() -> None:
    # one object in 4 frames, followed by tracker id 7 in frames 0-1 and id 9 in frames 2-3
    r = _all(_seq([[1]] * 4, [[7], [7], [9], [9]]))
    assert (r["CLR_TP"], r["CLR_FN"], r["CLR_FP"], r["IDSW"], r["FRAG"]) == (4, 0, 0, 1, 0)
    assert r["MOTA"] == pytest.approx((4 - 0 - 1) / 4) and r["MOTP"] == pytest.approx(1.0)
    assert r["MT"] == 1 and r["ML"] == 0
    # IDF1: the best one-to-one id map covers 2 of the 4 frames: IDTP 2, IDFN 2, IDFP 2
    assert (r["IDTP"], r["IDFN"], r["IDFP"]) == (2, 2, 2) and r["IDF1"] == pytest.approx(0.5)
    # HOTA: every detection is right (DetA 1); each TP's association Jaccard is 2 / (2 + 2 + 0)
    assert r["DetA"] == pytest.approx(1.0) and r["AssA"] == pytest.approx(0.5)
    assert r["HOTA"] == pytest.approx(np.sqrt(0.5)) and r["LocA"] == pytest.approx(1.0)


def test_gap_fragmentation_and_false_positives_hand_computed() -> None:
    # tracked in frames 0, 1, 3, 4 by the same id, missed in frame 2 (a fragmentation, no
    # switch), plus false positives (id 5, no overlap) in frames 2 and 4
    gt = [[1]] * 5
    tr = [[7], [7], [5], [7], [7, 5]]
    sim = [[[0.9]], [[0.9]], [[0.0]], [[0.9]], [[0.9, 0.0]]]
    r = _all(_seq(gt, tr, sim))
    assert (r["CLR_TP"], r["CLR_FN"], r["CLR_FP"], r["IDSW"], r["FRAG"]) == (4, 1, 2, 0, 1)
    assert r["MOTA"] == pytest.approx((4 - 2 - 0) / 5) and r["MOTP"] == pytest.approx(0.9)
    assert r["MT"] == 0 and r["PT"] == 1  # tracked 4/5 = 80 %: MT needs more than 80 %
    assert (r["IDTP"], r["IDFN"], r["IDFP"]) == (4, 1, 2) and r["IDF1"] == pytest.approx(4 / (4 + 0.5 + 1))
    # TrackEval's rule, kept for parity: a frame with no tracker output at all does not end the
    # match, so the same gap without the false positive is not a fragmentation
    tr[2], sim[2] = [], np.zeros((1, 0))
    r = _all(_seq(gt, tr, sim))
    assert (r["CLR_TP"], r["CLR_FN"], r["CLR_FP"], r["IDSW"], r["FRAG"]) == (4, 1, 1, 0, 0)


def test_hota_localisation_threshold_hand_computed() -> None:
    # similarity 0.62: a TP for the 12 thresholds alpha = 0.05 .. 0.60, nothing above
    r = _all(_seq([[1]] * 4, [[7], [7], [9], [9]], 0.62))
    k = int(np.sum(HOTA_ALPHAS <= 0.62))
    assert k == 12
    assert r["HOTA"] == pytest.approx(k / 19 * np.sqrt(0.5))
    assert r["DetA"] == pytest.approx(k / 19)
    assert r["LocA"] == pytest.approx((k * 0.62 + (19 - k) * 1.0) / 19)  # no TP: LocA 1 by convention
    assert r["HOTA(0)"] == pytest.approx(np.sqrt(0.5))


def test_empty_sides() -> None:
    only_gt = _all(_seq([[1, 2], [1]], [[], []]))
    assert only_gt["CLR_FN"] == 3 and only_gt["ML"] == 2 and only_gt["MOTA"] == 0.0 and only_gt["HOTA"] == 0.0
    only_tr = _all(_seq([[], []], [[4], [4, 5]]))
    assert only_tr["CLR_FP"] == 3 and only_tr["IDFP"] == 3 and only_tr["HOTA"] == 0.0


# --- TrackEval parity on synthetic sequences -------------------------------------------------

def _synthetic(seed: int, frames: int = 40) -> SequenceData:
    """Objects are intervals on a line; similarity is the 1-D IoU.  The tracker follows the
    truth with jitter, misses, id switches, split tracks and false positives."""
    rng = np.random.default_rng(seed)
    n_obj = 8
    start = rng.integers(0, frames // 2, n_obj)
    stop = start + rng.integers(frames // 4, frames, n_obj)
    pos = rng.uniform(0, 60, n_obj)
    vel = rng.normal(0, 0.6, n_obj)
    size = rng.uniform(2, 6, n_obj)
    tid = np.arange(n_obj) + 100
    gts, trs, sims = [], [], []
    for t in range(frames):
        if rng.random() < 0.08:  # an id switch between two objects
            a, b = rng.choice(n_obj, 2, replace=False)
            tid[a], tid[b] = tid[b], tid[a]
        if rng.random() < 0.05:  # a track split: new id from here on
            tid[rng.integers(n_obj)] = 1000 + t
        alive = np.nonzero((start <= t) & (t < stop))[0]
        centre = pos[alive] + vel[alive] * t
        g_iv = np.column_stack([centre - size[alive] / 2, centre + size[alive] / 2])
        seen = alive[rng.random(len(alive)) > 0.15]
        c_seen = pos[seen] + vel[seen] * t + rng.normal(0, 0.6, len(seen))
        s_seen = size[seen] * rng.uniform(0.8, 1.2, len(seen))
        n_fp = rng.poisson(0.7)
        c_fp = rng.uniform(0, 60, n_fp)
        t_iv = np.vstack([np.column_stack([c_seen - s_seen / 2, c_seen + s_seen / 2]),
                          np.column_stack([c_fp - 2, c_fp + 2])])
        inter = np.clip(np.minimum(g_iv[:, None, 1], t_iv[None, :, 1]) - np.maximum(g_iv[:, None, 0], t_iv[None, :, 0]),
                        0, None)
        union = (g_iv[:, 1] - g_iv[:, 0])[:, None] + (t_iv[:, 1] - t_iv[:, 0])[None, :] - inter
        gts.append(alive + 1)
        trs.append(np.concatenate([tid[seen], 5000 + 100 * t + np.arange(n_fp)]))
        sims.append(inter / union)
    return SequenceData.from_frames(gts, trs, sims, f"synthetic{seed}")


def _trackeval_data(seq: SequenceData) -> dict:
    return {"num_timesteps": seq.num_frames, "num_gt_ids": seq.num_gt_ids, "num_tracker_ids": seq.num_tracker_ids,
            "num_gt_dets": seq.num_gt_dets, "num_tracker_dets": seq.num_tracker_dets, "gt_ids": seq.gt_ids,
            "tracker_ids": seq.tracker_ids, "similarity_scores": seq.similarity, "seq": seq.name}


PARITY = {"HOTA": ("HOTA", "HOTA"), "DetA": ("HOTA", "DetA"), "AssA": ("HOTA", "AssA"), "LocA": ("HOTA", "LocA"),
          "DetRe": ("HOTA", "DetRe"), "DetPr": ("HOTA", "DetPr"), "AssRe": ("HOTA", "AssRe"),
          "AssPr": ("HOTA", "AssPr"), "MOTA": ("CLEAR", "MOTA"), "MOTP": ("CLEAR", "MOTP"),
          "MODA": ("CLEAR", "MODA"), "IDSW": ("CLEAR", "IDSW"), "FRAG": ("CLEAR", "Frag"), "MT": ("CLEAR", "MT"),
          "PT": ("CLEAR", "PT"), "ML": ("CLEAR", "ML"), "IDF1": ("Identity", "IDF1"), "IDR": ("Identity", "IDR"),
          "IDP": ("Identity", "IDP")}


@pytest.fixture(scope="module")
def parity() -> tuple[dict, dict]:
    seqs = [_synthetic(s) for s in range(6)]
    ours = _all_combined(seqs)
    metrics = {"HOTA": trackeval.metrics.HOTA(), "CLEAR": trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
               "Identity": trackeval.metrics.Identity({"PRINT_CONFIG": False})}
    theirs = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for fam, m in metrics.items():
            theirs[fam] = m.combine_sequences({s.name: m.eval_sequence(_trackeval_data(s)) for s in seqs})
    return ours, theirs


def _all_combined(seqs: list[SequenceData]) -> dict[str, float]:
    out = {}
    out.update(hota_combine([hota_sequence(s) for s in seqs]))
    out.update(clear_combine([clear_sequence(s) for s in seqs]))
    out.update(identity_combine([identity_sequence(s) for s in seqs]))
    return out


@pytest.mark.parametrize("metric", list(PARITY))
def test_parity_with_trackeval(parity, metric: str) -> None:
    ours, theirs = parity
    fam, key = PARITY[metric]
    ref = float(np.mean(theirs[fam][key]))
    assert ours[metric] == pytest.approx(ref, abs=1e-9), f"{metric}: fusion {ours[metric]} vs TrackEval {ref}"


def test_parity_cases_are_not_trivial(parity) -> None:
    ours, _ = parity
    assert 0.3 < ours["HOTA"] < 0.9 and 0.3 < ours["AssA"] < 0.95
    assert ours["IDSW"] >= 5 and ours["FRAG"] >= 5 and ours["CLR_FP"] >= 50 and ours["PT"] + ours["ML"] >= 1


# --- SequenceData and bad input --------------------------------------------------------------

def test_from_frames_relabels_ids() -> None:
    s = SequenceData.from_frames([[40, 7], [], [7]], [np.array([3]), [9, 3], [9]],
                                 [np.zeros((2, 1)), np.zeros((0, 2)), [[0.5]]], "x")
    assert [g.tolist() for g in s.gt_ids] == [[1, 0], [], [0]]
    assert [k.tolist() for k in s.tracker_ids] == [[0], [1, 0], [1]]
    assert (s.num_gt_ids, s.num_tracker_ids, s.num_gt_dets, s.num_tracker_dets, s.num_frames) == (2, 2, 3, 4, 3)
    assert all(g.dtype == np.int64 for g in s.gt_ids)


@pytest.mark.parametrize("gt, tr, sim, err, needle", [
    ([[1, 1]], [[2]], [np.zeros((2, 1))], ShapeError, "frame 0 has id 1 more than once"),
    ([[1]], [[2]], [np.zeros((2, 1))], ShapeError, r"similarity \(n_gt, n_tracker\)"),
    ([[1]], [[2]], [[[np.nan]]], NumericalError, r"similarity must lie in \[0, 1\]"),
    ([[1]], [[2]], [[[1.5]]], NumericalError, r"similarity must lie in \[0, 1\]"),
    ([[1]], [[2]], [[[-0.1]]], NumericalError, r"similarity must lie in \[0, 1\]"),
    ([[1.5]], [[2]], [[[0.1]]], ShapeError, "integer ids"),
    ([[1], [2]], [[2]], [[[0.1]]], ShapeError, "one entry per frame"),
])
def test_sequence_bad_input(gt, tr, sim, err, needle) -> None:
    with pytest.raises(err, match=needle):
        SequenceData.from_frames(gt, tr, sim, "bad")


def test_constructor_checks_counts_and_id_range() -> None:
    ids = [np.array([0, 1])]
    with pytest.raises(ShapeError, match=r"gt_ids: expected ids in 0\.\.0"):
        SequenceData("s", ids, [np.zeros(0, np.int64)], [np.zeros((2, 0))], 1, 0, 2, 0)
    with pytest.raises(ShapeError, match="num_gt_dets: expected 2"):
        SequenceData("s", ids, [np.zeros(0, np.int64)], [np.zeros((2, 0))], 2, 0, 3, 0)


@pytest.mark.parametrize("func", [clear_sequence, identity_sequence])
@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5, float("nan")])
def test_bad_threshold(func, bad: float) -> None:
    with pytest.raises(ConfigurationError, match=r"threshold: expected a similarity in \(0, 1\]"):
        func(_seq([[1]], [[2]]), threshold=bad)
