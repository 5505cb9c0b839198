"""sAMOTA/AMOTA/AMOTP sanity and 3D IoU checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusion.geometry import iou_3d, iou_bev
from fusion.kitti.amota import recall_thresholds
from fusion.kitti.io import TrackRows, read_labels
from fusion.kitti.metrics import evaluate_sequences


def _rows(frames, ids, boxes_cam, scores, types="Car", bbox=None):
    n = len(frames)
    b = np.asarray(boxes_cam, float).reshape(n, 7)
    if bbox is None:
        bbox = np.tile([100.0, 100.0, 200.0, 200.0], (n, 1)) + np.arange(n)[:, None] * 0
    return TrackRows.create(frames, ids, types, bbox, b[:, :3], b[:, 3:6], b[:, 6], score=scores)


CAR = [1.5, 1.6, 4.0, 0.0, 1.7, 10.0, 0.0]


def test_perfect_tracks_on_real_labels(kitti_train: Path) -> None:
    gt = {s: read_labels(kitti_train / "labels" / f"{s}.txt") for s in ("0000", "0017")}
    nf = {"0000": 154, "0017": 145}
    res = {}
    for s, g in gt.items():
        r = g.select(g.track_id >= 0)
        r.score[:] = 1.0
        res[s] = r
    out = evaluate_sequences(gt, res, nf, ("car", "pedestrian"))
    for cat in ("car", "pedestrian"):
        assert out[cat]["sAMOTA"] == pytest.approx(1.0)
        assert out[cat]["AMOTA"] == pytest.approx(1.0)
        assert out[cat]["AMOTP"] == pytest.approx(1.0)
        assert out[cat]["MOTA"] == pytest.approx(1.0)
        assert out[cat]["HOTA"] == pytest.approx(1.0)
        assert out[cat]["IDF1"] == pytest.approx(1.0)


@pytest.mark.parametrize("n_frames, points", [(80, 20), (4, 3)])
def test_hand_made_half_recall(n_frames: int, points: int) -> None:
    # two cars; the tracker finds only car A (IoU 1) in every frame, score 0.9: recall 0.5.
    # With 80 frames the matched scores reach recall levels 1/40 .. 20/40 (sMOTA = 1 at each);
    # with 4 frames only the 4 matched scores can serve as thresholds (the first is dropped): 3 levels.
    a = CAR
    b = [1.5, 1.6, 4.0, 5.0, 1.7, 20.0, 0.0]
    frames = np.repeat(np.arange(n_frames), 2)
    gt = _rows(frames, [1, 2] * n_frames, [a, b] * n_frames, [np.nan] * (2 * n_frames),
               bbox=np.tile([[100, 100, 200, 200], [400, 100, 500, 200]], (n_frames, 1)))
    tr = _rows(np.arange(n_frames), [5] * n_frames, [a] * n_frames, [0.9] * n_frames)
    out = evaluate_sequences({"s": gt}, {"s": tr}, {"s": n_frames}, ("car",))["car"]
    assert out["MOTA"] == pytest.approx(0.5)
    assert out["sAMOTA"] == pytest.approx(points / 40)
    assert out["AMOTA"] == pytest.approx(points * 0.5 / 40)
    assert out["AMOTP"] == pytest.approx(points / 40)


def test_hand_made_id_switch_and_false_positive() -> None:
    gt = _rows([0, 1, 2, 3], [1] * 4, [CAR] * 4, [np.nan] * 4)
    shifted = list(CAR)
    shifted[5] += 8.0  # far away: a false positive in 3D
    tr = _rows([0, 1, 2, 3, 3], [5, 5, 6, 6, 9], [CAR] * 4 + [shifted], [0.8] * 5)
    out = evaluate_sequences({"s": gt}, {"s": tr}, {"s": 4}, ("car",))["car"]
    assert out["IDSW"] == 1 and out["CLR_FP"] == 1
    assert out["MOTA"] == pytest.approx(1 - 2 / 4)
    assert out["IDSW_all"] == 1 and out["MOTA_all"] == pytest.approx(0.5)


def test_recall_thresholds_rule() -> None:
    thr, rec = recall_thresholds([0.9, 0.8, 0.7, 0.6], num_gt=4, num_recall=5)
    # the point taken at the highest score has recall level 0 and is dropped (AB3DMOT's rule)
    assert thr == [0.8, 0.7, 0.6]
    assert rec == pytest.approx([0.25, 0.5, 0.75])


def test_iou3d_known_values() -> None:
    a = np.array([[0, 0, 0, 0, 4, 2, 2.0]])
    b = np.array([[1, 0, 0, 0, 4, 2, 2.0], [0, 0, 1, np.pi / 2, 4, 2, 2], [10, 0, 0, 0, 4, 2, 2]])
    np.testing.assert_allclose(iou_3d(a, b), [[3 / 5, 1 / 7, 0]], atol=1e-12)
    np.testing.assert_allclose(iou_bev(a, b), [[3 / 5, 1 / 3, 0]], atol=1e-12)
    rng = np.random.default_rng(1)
    boxes = np.column_stack([rng.uniform(-2, 2, (20, 3)), rng.uniform(-np.pi, np.pi, 20), rng.uniform(1, 4, (20, 3))])
    m = iou_3d(boxes, boxes)
    np.testing.assert_allclose(np.diag(m), 1.0, atol=1e-12)
    np.testing.assert_allclose(m, m.T, atol=1e-12)


def test_iou_bev_monte_carlo() -> None:
    rng = np.random.default_rng(2)
    a = np.array([0.3, -0.2, 0, 0.7, 4.0, 1.8, 1.5])
    b = np.array([1.0, 0.4, 0, -0.4, 3.5, 2.0, 1.5])
    pts = rng.uniform(-4, 4, (400000, 2))

    def inside(box):
        c, s = np.cos(box[3]), np.sin(box[3])
        d = pts - box[:2]
        u, v = d @ [c, s], d @ [-s, c]
        return (np.abs(u) <= box[4] / 2) & (np.abs(v) <= box[5] / 2)

    ia, ib = inside(a), inside(b)
    mc = (ia & ib).sum() / (ia | ib).sum()
    assert iou_bev(a[None], b[None])[0, 0] == pytest.approx(mc, abs=5e-3)


@pytest.mark.parametrize("reference_rounding, expected", [(True, 0.0), (False, 6 / 40)])
def test_reference_reaveraging_drops_the_threshold_track(reference_rounding: bool, expected: float) -> None:
    # One car in frames 0..6, tracked perfectly (IoU 1) by one track with per-frame scores
    # 0.1 x 6 and 0.4.  Its mean, summed left to right, is 0.14285714285714285; all 7 matched
    # scores equal that mean, so with num_gt = 7 the closest-point rule gives 6 thresholds (all
    # equal to it) at recall 1/40 .. 6/40.  The AB3DMOT script re-takes the mean of the 7 stored
    # copies at every threshold: 7 x 0.14285714285714285 summed left to right, / 7, is
    # 0.14285714285714282 < threshold, so it removes the track at each of its own thresholds:
    # TP 0, FN 7 -> sMOTA = MOTA = MOTP = 0 at every level.  Comparing the exact mean instead
    # keeps the track: sMOTA = MOTA = MOTP = 1 at 6 levels -> 6/40.
    from fusion.kitti.amota import amota, prepare_3d

    mean = 0.0
    for x in [0.1] * 6 + [0.4]:
        mean += x
    mean /= 7.0
    again = 0.0
    for _ in range(7):
        again += mean
    assert mean == 0.14285714285714285 and again / 7.0 < mean  # the rounding the test relies on

    gt = _rows(np.arange(7), [1] * 7, [CAR] * 7, [np.nan] * 7)
    tr = _rows(np.arange(7), [3] * 7, [CAR] * 7, [0.1] * 6 + [0.4])
    out = amota([prepare_3d(gt, tr, 7, "car", "s")], reference_rounding=reference_rounding)
    assert out["recalls"] == pytest.approx([k / 40 for k in range(1, 7)])
    assert out["sAMOTA"] == pytest.approx(expected)
    assert out["AMOTA"] == pytest.approx(expected)
    assert out["AMOTP"] == pytest.approx(expected)
    if reference_rounding:
        # the public entry point uses the script's behaviour
        res = evaluate_sequences({"s": gt}, {"s": tr}, {"s": 7}, ("car",))["car"]
        assert res["sAMOTA"] == pytest.approx(0.0) and res["MOTA_all"] == pytest.approx(1.0)


def test_track_mean_summed_in_frame_order() -> None:
    # The script sums a track's scores frame by frame; rows written out of frame order must give
    # the same (bit-identical) mean as rows written in order.
    from fusion.kitti.amota import prepare_3d

    scores = [0.1, 0.7, 0.2, 0.9, 0.3]
    frames = [4, 0, 3, 1, 2]          # file order; frame order gives scores 0.7 0.9 0.3 0.2 0.1
    gt = _rows(np.arange(5), [1] * 5, [CAR] * 5, [np.nan] * 5)
    tr = _rows(frames, [3] * 5, [CAR] * 5, scores)
    acc = 0.0
    for x in (0.7, 0.9, 0.3, 0.2, 0.1):
        acc += x
    seq = prepare_3d(gt, tr, 5, "car", "s")
    assert seq.trk_mean.tolist() == [acc / 5.0]
    assert seq.trk_score.tolist() == [acc / 5.0] * 5


def test_fractional_truncation_cast_to_int_for_ignore() -> None:
    # The script parses truncation with int(float(.)): 0.4 counts as 0 (not ignored), 1.0 as 1.
    from fusion.kitti.amota import prepare_3d

    gt = _rows([0, 1], [1, 2], [CAR, CAR], [np.nan, np.nan])
    gt.truncated[:] = [0.4, 1.0]
    seq = prepare_3d(gt, _rows([0], [3], [CAR], [1.0]), 2, "car", "s")
    assert seq.gt_ign.tolist() == [False, True]
