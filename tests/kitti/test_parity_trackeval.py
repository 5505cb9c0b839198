"""Parity of fusion.kitti's 2D metrics with TrackEval (Kitti2DBox + HOTA/CLEAR/Identity)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
import trackeval

from fusion.kitti.io import TrackRows, read_labels, write_results
from fusion.kitti.metrics import evaluate_sequences

SEQS = ("0000", "0005", "0017")
METRICS = {"HOTA": ("HOTA", "HOTA"), "DetA": ("HOTA", "DetA"), "AssA": ("HOTA", "AssA"),
           "MOTA": ("CLEAR", "MOTA"), "MOTP": ("CLEAR", "MOTP"), "IDSW": ("CLEAR", "IDSW"),
           "FRAG": ("CLEAR", "Frag"), "IDF1": ("Identity", "IDF1")}


def perturb(gt: TrackRows, seed: int) -> TrackRows:
    """Deterministic fake tracker output from ground truth: jitter, drops, id swaps, FPs, scores."""
    rng = np.random.default_rng(seed)
    keep = (gt.track_id >= 0) & (rng.random(len(gt)) > 0.1)
    r = gt.select(keep)
    n = len(r)
    w = r.bbox[:, 2] - r.bbox[:, 0]
    h = r.bbox[:, 3] - r.bbox[:, 1]
    bbox = r.bbox + rng.normal(0, 0.08, (n, 4)) * np.column_stack([w, h, w, h])
    tid = r.track_id.copy() + 1000
    # swap ids of some track pairs from a random frame onwards
    ids = np.unique(tid)
    for _ in range(max(1, len(ids) // 5)):
        a, b = rng.choice(ids, 2, replace=False)
        f0 = rng.integers(r.frame.min(), r.frame.max() + 1)
        sel = r.frame >= f0
        ma, mb = sel & (tid == a), sel & (tid == b)
        tid[ma], tid[mb] = b, a
    # split some tracks into a new id
    for a in rng.choice(ids, max(1, len(ids) // 6), replace=False):
        f0 = rng.integers(r.frame.min(), r.frame.max() + 1)
        tid[(tid == a) & (r.frame >= f0)] = a + 5000
    # false positives
    nfp = n // 8
    src = rng.integers(0, n, nfp)
    fp_box = r.bbox[src] + rng.normal(0, 60, (nfp, 4))
    fp_box[:, 2:] = np.maximum(fp_box[:, 2:], fp_box[:, :2] + rng.uniform(5, 120, (nfp, 2)))
    types = np.concatenate([r.type, r.type[src]])
    fr = np.concatenate([r.frame, r.frame[src]])
    tids = np.concatenate([tid, 20000 + np.arange(nfp)])
    out = TrackRows.create(
        frame=fr, track_id=tids, type=types, bbox=np.concatenate([bbox, fp_box]),
        dims=np.concatenate([r.dims, r.dims[src]]), loc=np.concatenate([r.loc, r.loc[src]]),
        rotation_y=np.concatenate([r.rotation_y, r.rotation_y[src]]),
        score=rng.uniform(0, 1, n + nfp), alpha=np.concatenate([r.alpha, r.alpha[src]]))
    order = np.argsort(out.frame, kind="stable")
    return out.select(order)


def run_trackeval(root: Path, classes: list[str]) -> dict:
    cfg_eval = {"USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False, "TIME_PROGRESS": False,
                "DISPLAY_LESS_PROGRESS": True, "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False,
                "PLOT_CURVES": False, "LOG_ON_ERROR": None, "PRINT_ONLY_COMBINED": True}
    cfg_data = {"GT_FOLDER": str(root / "gt"), "TRACKERS_FOLDER": str(root / "trackers"),
                "TRACKERS_TO_EVAL": ["fake"], "CLASSES_TO_EVAL": classes, "SPLIT_TO_EVAL": "training",
                "PRINT_CONFIG": False, "OUTPUT_FOLDER": str(root / "out")}
    with contextlib.redirect_stdout(io.StringIO()):
        ev = trackeval.Evaluator(cfg_eval)
        ds = trackeval.datasets.Kitti2DBox(cfg_data)
        mets = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
                trackeval.metrics.Identity({"PRINT_CONFIG": False})]
        res, _ = ev.evaluate([ds], mets)
    return res["Kitti2DBox"]["fake"]["COMBINED_SEQ"]


@pytest.fixture(scope="module")
def parity_setup(kitti_train: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("te")
    (root / "gt" / "label_02").mkdir(parents=True)
    (root / "trackers" / "fake" / "data").mkdir(parents=True)
    seqmap = {}
    for line in (kitti_train / "evaluate_tracking.seqmap.train").read_text().splitlines():
        f = line.split()
        if f and f[0] in SEQS:
            seqmap[f[0]] = int(f[3])
    (root / "gt" / "evaluate_tracking.seqmap.training").write_text(
        "".join(f"{s} empty 000000 {n:06d}\n" for s, n in seqmap.items()))
    gts, res = {}, {}
    for i, s in enumerate(SEQS):
        src = kitti_train / "labels" / f"{s}.txt"
        (root / "gt" / "label_02" / f"{s}.txt").write_bytes(src.read_bytes())
        gts[s] = read_labels(src)
        write_results(root / "trackers" / "fake" / "data" / f"{s}.txt", perturb(gts[s], 1234 + i))
        res[s] = read_labels(root / "trackers" / "fake" / "data" / f"{s}.txt")
    ours = evaluate_sequences(gts, res, seqmap, ("car", "pedestrian"), metrics_3d=False)
    theirs = run_trackeval(root, ["car", "pedestrian"])
    return ours, theirs


@pytest.mark.parametrize("cat", ["car", "pedestrian"])
@pytest.mark.parametrize("metric", list(METRICS))
def test_parity_with_trackeval(parity_setup, cat: str, metric: str) -> None:
    ours, theirs = parity_setup
    fam, key = METRICS[metric]
    ref = np.mean(theirs[cat][fam][key])
    got = ours[cat][metric]
    assert abs(got - ref) <= 1e-6, f"{cat} {metric}: fusion {got} vs TrackEval {ref}"


def test_parity_is_not_trivial(parity_setup) -> None:
    ours, _ = parity_setup
    for cat in ("car", "pedestrian"):
        assert 0.3 < ours[cat]["HOTA"] < 0.95
        assert ours[cat]["IDSW"] > 0
