"""Where do camera boxes help the lidar tracker on KITTI, and by how much? (training half)

One command (75 s of CPU, 1-2 minutes on 2 shared cores; prints the tables, writes every number as JSON)::

    PYTHONPATH=src python scripts/camera_lidar_study.py --kitti /work/shared/data/kitti-train \\
        --json out/camera_lidar_study.json [--category car|pedestrian ...] [--seqs 0000,0017] [--no-3d]

``--kitti`` holds ``labels/``, ``calib/``, ``detections/pointrcnn_{Car,Pedestrian}`` (lidar 3D boxes)
and ``detections/rrc_{Car,Pedestrian}`` (camera 2D boxes, ``frame,x1,y1,x2,y2,score``), and the
seqmap ``evaluate_tracking.seqmap.train``. The report is ``docs/camera_lidar_study.md``.

What it does, per category (car, pedestrian; RRC has no cyclists):

1. Runs today's lidar-only tracker (``fusion.kitti.track``'s shipped ``pointrcnn.toml``) over each
   sequence and keeps every live track per frame with its 2D box (the box of the lidar detection
   that updated it, i.e. the projected PointRCNN box, else its predicted 3D box projected by P2).
2. Per frame, associates the camera boxes with those track boxes: exact assignment maximising the
   total 2D IoU over pairs with IoU >= ``MATCH_IOU``. Every camera box the detector reports is
   used (the file is already cut at the detector's floor score).
3. Writes one result set per variant (the lidar tracker itself is never changed; fusion here is
   on its output):

   - ``a`` lidar-only: exactly the rows ``fusion kitti track`` writes (reproduces Car HOTA 73.61,
     Pedestrian 41.38, and the sAMOTA of ``python -m fusion.kitti.report``);
   - ``x`` control without camera: a + every lidar-missed (coasting) frame of a confirmed track
     up to max_age (what ``e`` would be if the camera did not choose the frames);
   - ``b`` = a, with the matched camera box as the row's 2D box;
   - ``c`` = b + camera evidence. Score: the track's mean lidar logit (the shipped score) plus the
     mean over its in-image frames of the camera log-odds ``logit(clip(p, floor, CAMERA_P_MAX))``
     (``p`` the matched camera score; a frame without a camera box counts as the floor score: no
     box means the detector was below its reporting floor). The shipped output threshold (2.0)
     applies to this sum, so the camera can veto a lidar ghost and rescue a weak real track.
     Confirmation: a tentative track updated by the lidar AND matched by the camera is written
     (as if confirmed);
   - ``d`` = c + camera-only tracks: camera boxes that no live 3D track explains start 2D tracks
     (constant-velocity box in the image, the same IoU gate, the lidar class's min_hits and
     max_age); they are written with KITTI's "no 3D" values and score = their mean camera
     log-odds (same threshold). When a written 3D track takes the camera box a 2D track follows,
     the 2D track ends and the 3D track takes its id if it had none yet (join); a written 3D
     track the lidar tracker deletes while the camera still saw it continues as a 2D track with
     its id (leave);
   - ``e`` = c + the camera fills lidar-missed frames: a confirmed track that the lidar missed
     this frame (coasting) and the camera sees is written with the camera box and its predicted
     3D box;
   - ``f`` = c + d + e;
   - ``g`` = f with the 2D box of frames that have both a lidar detection and a camera box set to
     their inverse-variance average (per axis, per range bin, variances = the measured noise of
     step 4 on the same sequences).

4. Measures the 2D box noise of both sensors against the label 2D box (scored labels matched
   one-to-one at IoU >= ``NOISE_MATCH_IOU``, any detector score), per range bin, and the
   label's own 3D box projected against its 2D box (is the 2D truth a projected cuboid?); how many
   scored objects each sensor sees (IoU >= 0.5) per range bin; and each detector's precision
   per score bin (how much a score is worth, for the evidence fusion).
5. Scores every variant: HOTA/DetA/AssA/LocA/MOTA/IDSW (KITTI 2D protocol) after the output
   threshold, sAMOTA/AMOTA (3D IoU, AB3DMOT protocol) on the same variant written with all
   scores (``--all-scores``); 2D-only rows carry no 3D box and are left out of the 3D scoring.
   Rows go through a label_02 file round trip first, so the numbers are those ``fusion kitti
   eval`` gives for the written files.
   Also: recall per range bin, false positives, rows by the reason they were written and
   whether they are hits, and the extra time per frame of the camera stage (Python).

Parameters (stated, not searched): ``MATCH_IOU`` 0.3, ``CAMERA_P_MAX`` 0.99, the camera floors
0.1 (car) / 0.3 (pedestrian) which are the lowest scores in the RRC files, the shipped lidar
tracker config and output threshold. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fusion.assoc import gated_assignment, max_weight_matching
from fusion.geometry.box2d import ioa_2d, iou_2d
from fusion.geometry.projection import project_camera_boxes
from fusion.kitti.io import (
    CATEGORY_IDS,
    DETECTION_TYPES,
    TrackRows,
    generic_to_camera_box,
    read_calib,
    read_labels,
    read_seqmap,
    write_results,
)
from fusion.kitti.metrics import evaluate_sequences
from fusion.kitti.protocol import DISTRACTORS, MIN_HEIGHT
from fusion.kitti.track import FRAME_NS, KITTI_CONFIG, KITTI_OUTPUT, detections_by_frame
from fusion.tracking import COASTING, CONFIRMED, TENTATIVE, Tracker

IMAGE_SIZE = (1242, 375)
CAMERA_CLASSES = ("car", "pedestrian")  # RRC has no cyclist detections

#: camera <-> track association gate: minimum 2D IoU of the camera box and the track's 2D box
MATCH_IOU = 0.3
#: lowest score the camera detector reports (the RRC files are cut there): no box = "below the floor"
CAMERA_FLOOR = {"car": 0.1, "pedestrian": 0.3}
#: one camera frame never counts for more than this probability (RRC car scores saturate at 1.0)
CAMERA_P_MAX = 0.99
#: output ids of camera-only tracks start here (lidar track ids are small integers)
CAMERA_ID_BASE = 1_000_000
#: KITTI's "no 3D" values for 2D-only rows: h w l = -1, x y z = -1000, ry = -10
NO_3D = np.array([-1.0, -1.0, -1.0, -1000.0, -1000.0, -1000.0, -10.0])
#: labels are matched to detections for the noise measurement at this 2D IoU (one-to-one)
NOISE_MATCH_IOU = 0.3
#: range bins (label depth z, metres) for the noise, coverage and recall tables
RANGE_BINS = ((0.0, 20.0), (20.0, 40.0), (40.0, np.inf))
RANGE_NAMES = ("0-20m", "20-40m", ">40m")
#: a range bin with fewer matched boxes than this uses the class's all-range noise for the box weights
MIN_NOISE_SAMPLES = 30


# ----------------------------------------------------------------------------------------------
# data


@dataclass
class SeqData:
    """One sequence, one category: lidar and camera detections, calibration, labels."""

    name: str
    category: str
    n_frames: int
    P2: np.ndarray
    labels: TrackRows
    lidar: list  # per frame DETECTION_DTYPE array (generic boxes)
    lidar_bbox: list  # per frame (n, 4) 2D boxes of the lidar detections (their 3D box projected)
    cam_bbox: list  # per frame (m, 4) camera boxes (pixels)
    cam_score: list  # per frame (m,) camera scores


def read_camera(path: Path, n_frames: int) -> tuple[list, list]:
    """RRC file ``frame,x1,y1,x2,y2,score`` -> per-frame (m, 4) boxes and (m,) scores."""
    a = np.loadtxt(path, delimiter=",", ndmin=2) if path.stat().st_size else np.zeros((0, 6))
    a = a[np.argsort(a[:, 0], kind="stable")]
    starts = np.searchsorted(a[:, 0].astype(np.int64), np.arange(n_frames + 1))
    return (
        [a[starts[f] : starts[f + 1], 1:5] for f in range(n_frames)],
        [a[starts[f] : starts[f + 1], 5] for f in range(n_frames)],
    )


def load_sequence(kitti: Path, name: str, n_frames: int, category: str) -> SeqData:
    cid = CATEGORY_IDS[category]
    tname = DETECTION_TYPES[cid]
    dets, bbs = detections_by_frame(
        kitti / "detections" / f"pointrcnn_{tname}" / f"{name}.txt", cid, n_frames
    )
    cb, cs = read_camera(kitti / "detections" / f"rrc_{tname}" / f"{name}.txt", n_frames)
    return SeqData(
        name,
        category,
        n_frames,
        read_calib(kitti / "calib" / f"{name}.txt").P2,
        read_labels(kitti / "labels" / f"{name}.txt"),
        dets[:n_frames],
        bbs[:n_frames],
        cb,
        cs,
    )


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2D IoU matrix; a row or column with a non-finite box (3D box behind the camera) gets 0."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    out = np.zeros((len(a), len(b)))
    fa, fb = np.isfinite(a).all(1), np.isfinite(b).all(1)
    if fa.any() and fb.any():
        out[np.ix_(fa, fb)] = iou_2d(a[fa], b[fb])
    return out


def scored_gt(labels: TrackRows, category: str) -> np.ndarray:
    """Ground truth the KITTI 2D protocol scores: the category, occlusion <= 2, not truncated."""
    t = np.asarray([str(x).lower() for x in labels.type])
    return (t == category) & (labels.occluded <= 2) & (labels.truncated == 0) & (labels.track_id >= 0)


def _f(x: object) -> object:
    """JSON-friendly scalar (None for nan / inf)."""
    if isinstance(x, (np.floating, float)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def range_bin(depth: np.ndarray) -> np.ndarray:
    """Index into RANGE_BINS of each depth (metres)."""
    return np.searchsorted([hi for _, hi in RANGE_BINS[:-1]], depth, side="right")


# ----------------------------------------------------------------------------------------------
# lidar tracker (shipped config), every live track recorded


@dataclass
class LidarFrame:
    tracks: np.ndarray  # TRACK_DTYPE rows of every live track (any status)
    bbox: np.ndarray  # (n, 4) track 2D box: its lidar detection's box when updated, else its 3D box projected
    cam: np.ndarray  # (n, 7) KITTI camera box (h, w, l, x, y, z, ry)


def run_lidar(seq: SeqData) -> tuple[list[LidarFrame], float]:
    """Today's tracker on one sequence; returns the frames and the seconds inside ``Tracker.step``."""
    tracker = Tracker(KITTI_CONFIG)
    out, spent = [], 0.0
    for f in range(seq.n_frames):
        t0 = time.perf_counter()
        tr = tracker.step(seq.lidar[f], f * FRAME_NS)
        spent += time.perf_counter() - t0
        cam = generic_to_camera_box(tr["box"]) if len(tr) else np.zeros((0, 7))
        bb = np.full((len(tr), 4), np.nan)
        hit = tr["detection"] >= 0
        bb[hit] = seq.lidar_bbox[f][tr["detection"][hit]]
        if (~hit).any():
            bb[~hit] = project_camera_boxes(cam[~hit], seq.P2, IMAGE_SIZE)
        out.append(LidarFrame(tr, bb, cam))
    return out, spent


# ----------------------------------------------------------------------------------------------
# measurement noise of the two 2D boxes against the label 2D box; what each sensor sees


def noise_pairs(seq: SeqData) -> dict[str, np.ndarray]:
    """Per sensor, (n, 7) rows ``dx1, dy1, dx2, dy2, depth_m, iou, label_height_px`` (detection minus label).

    Each frame's scored labels are matched one-to-one to the sensor's boxes (maximum total IoU over
    pairs with IoU >= NOISE_MATCH_IOU, any detector score). "lidar" is the PointRCNN 3D box
    projected by P2 (the detection file's 2D box, which is that projection); "label_3d" is the
    label's own 3D box projected the same way (how far the 2D truth is from a projected cuboid)."""
    lab = seq.labels.select(scored_gt(seq.labels, seq.category))
    proj = project_camera_boxes(lab.camera_boxes(), seq.P2, IMAGE_SIZE) if len(lab) else np.zeros((0, 4))
    out: dict[str, list] = {"camera": [], "lidar": [], "label_3d": []}
    for f in range(seq.n_frames):
        g = lab.frame == f
        if not g.any():
            continue
        G, depth = lab.bbox[g], lab.loc[g, 2]
        for sensor, B in (("camera", seq.cam_bbox[f]), ("lidar", seq.lidar_bbox[f]), ("label_3d", proj[g])):
            if not len(B):
                continue
            m = iou(G, B)
            r, c = max_weight_matching(np.where(m >= NOISE_MATCH_IOU, m, 0.0))
            if len(r):
                out[sensor].append(np.column_stack([B[c] - G[r], depth[r], m[r, c], G[r, 3] - G[r, 1]]))
    return {k: np.concatenate(v) if v else np.zeros((0, 7)) for k, v in out.items()}


def noise_summary(rows: np.ndarray) -> dict:
    """Pixel statistics of the edge residuals, all ranges and per range bin.

    Per edge kind (``x``: left/right edges, ``y``: top/bottom edges): ``bias`` (median signed, px),
    ``abs_p50/p90/p95`` (percentiles of |residual|, px), ``sigma`` (1.4826 x median absolute
    deviation, px, a robust standard deviation) and ``rel_sigma`` (the same for the residual over
    the label box height); and the IoU with the label box (median, 10th percentile)."""

    def stats(r: np.ndarray) -> dict:
        if not len(r):
            return {"n": 0}
        d: dict = {
            "n": len(r),
            "iou_p50": float(np.median(r[:, 5])),
            "iou_p10": float(np.percentile(r[:, 5], 10)),
        }
        for kind, cols in (("x", [0, 2]), ("y", [1, 3])):
            e = r[:, cols].reshape(-1)
            rel = (r[:, cols] / r[:, 6:7]).reshape(-1)
            d[f"{kind}_bias"] = float(np.median(e))
            for q in (50, 90, 95):
                d[f"{kind}_abs_p{q}"] = float(np.percentile(np.abs(e), q))
            d[f"{kind}_sigma"] = float(1.4826 * np.median(np.abs(e - np.median(e))))
            d[f"{kind}_rel_sigma"] = float(1.4826 * np.median(np.abs(rel - np.median(rel))))
        return d

    out = {"all": stats(rows)}
    b = range_bin(rows[:, 4])
    for k, name in enumerate(RANGE_NAMES):
        out[name] = stats(rows[b == k])
    return out


def box_weights(noise: dict) -> list[tuple[float, float]]:
    """Camera weight of the inverse-variance 2D box per range bin, (w_x, w_y): sigma_l^2 / (sigma_l^2 + sigma_c^2)."""
    out = []
    for name in RANGE_NAMES:
        c, l = noise["camera"][name], noise["lidar"][name]
        if min(c["n"], l["n"]) < MIN_NOISE_SAMPLES:
            c, l = noise["camera"]["all"], noise["lidar"]["all"]
        if min(c["n"], l["n"]) < MIN_NOISE_SAMPLES:  # nothing measured: the camera box, as in (b)
            out.append((1.0, 1.0))
            continue
        out.append(tuple(l[f"{k}_sigma"] ** 2 / (l[f"{k}_sigma"] ** 2 + c[f"{k}_sigma"] ** 2) for k in "xy"))
    return out


def coverage(seq: SeqData) -> np.ndarray:
    """(n_scored_labels, 3): depth, lidar sees it (a PointRCNN box at IoU >= 0.5, any score),
    camera sees it (an RRC box at IoU >= 0.5)."""
    lab = seq.labels.select(scored_gt(seq.labels, seq.category))
    rows = []
    for f in range(seq.n_frames):
        g = lab.frame == f
        if not g.any():
            continue
        G = lab.bbox[g]
        seen = [
            (iou(G, B) >= 0.5).any(1) if len(B) else np.zeros(len(G), bool)
            for B in (seq.lidar_bbox[f], seq.cam_bbox[f])
        ]
        rows.append(np.column_stack([lab.loc[g, 2], seen[0], seen[1]]))
    return np.concatenate(rows) if rows else np.zeros((0, 3))


#: score bins of the precision table: camera probabilities, lidar (PointRCNN) logits
SCORE_BINS = {
    ("camera", "car"): (0.0, 0.5, 0.9, 0.99, 0.999, np.inf),
    ("camera", "pedestrian"): (0.0, 0.5, 0.7, 0.8, np.inf),
    ("lidar", "car"): (-np.inf, 0.0, 2.0, 4.0, 8.0, np.inf),
    ("lidar", "pedestrian"): (-np.inf, 0.0, 2.0, 4.0, np.inf),
}


def precision_pairs(seq: SeqData) -> dict[str, np.ndarray]:
    """Per sensor, (n, 3) rows ``score, true, depth`` for every detection box outside DontCare regions:
    true when it matches (one-to-one, IoU >= 0.5) a label of the category or its distractor class
    (any occlusion or truncation); depth of that label (nan otherwise)."""
    t = np.asarray([str(x).lower() for x in seq.labels.type])
    cls = np.isin(t, (seq.category,) + DISTRACTORS[seq.category]) & (seq.labels.track_id >= 0)
    dc = t == "dontcare"
    out: dict[str, list] = {"camera": [], "lidar": []}
    for f in range(seq.n_frames):
        gi = np.nonzero(cls & (seq.labels.frame == f))[0]
        dcb = seq.labels.bbox[dc & (seq.labels.frame == f)]
        lid = seq.lidar[f]
        for sensor, B, S in (
            ("camera", seq.cam_bbox[f], seq.cam_score[f]),
            ("lidar", seq.lidar_bbox[f], lid["score"]),
        ):
            if not len(B):
                continue
            ok = np.zeros(len(B), bool)
            depth = np.full(len(B), np.nan)
            if len(gi):
                m = iou(seq.labels.bbox[gi], B)
                r, c = max_weight_matching(np.where(m >= 0.5 - 1e-9, m, 0.0))
                ok[c] = True
                depth[c] = seq.labels.loc[gi[r], 2]
            keep = ok.copy()
            if len(dcb):
                keep |= ~(ioa_2d(np.nan_to_num(B), dcb) > 0.5).any(1)
            else:
                keep[:] = True
            out[sensor].append(np.column_stack([S, ok, depth])[keep])
    return {k: np.concatenate(v) if v else np.zeros((0, 3)) for k, v in out.items()}


def precision_table(rows: np.ndarray, sensor: str, category: str) -> list[dict]:
    """Precision of the detection boxes per score bin (``score_from <= score < score_to``)."""
    edges = SCORE_BINS[(sensor, category)]
    out = []
    for lo, hi in itertools.pairwise(edges):
        m = (rows[:, 0] >= lo) & (rows[:, 0] < hi)
        if m.any():
            out.append(
                {
                    "score_from": f"{lo:g}",
                    "score_to": f"{hi:g}",
                    "n": int(m.sum()),
                    "precision": float(rows[m, 1].mean()),
                }
            )
    return out


# ----------------------------------------------------------------------------------------------
# camera evidence and the variants


def camera_evidence(p: np.ndarray | float, category: str) -> np.ndarray:
    """Log-odds of one camera frame: logit of the score clipped to [floor, CAMERA_P_MAX]."""
    q = np.clip(np.asarray(p, float), CAMERA_FLOOR[category], CAMERA_P_MAX)
    return np.log(q / (1.0 - q))


@dataclass(frozen=True)
class Variant:
    key: str
    camera_box: bool = False  # (b) write the matched camera box as the row's 2D box
    evidence: bool = False  # (c) fused score; the camera confirms tentative tracks
    camera_only: bool = False  # (d) camera-only 2D tracks, joining / leaving 3D tracks with their id
    coast_fill: bool = False  # (e) write lidar-missed (coasting) frames of a track the camera sees
    box_fusion: bool = False  # (g) inverse-variance 2D box where a lidar and a camera box exist
    coast_all: bool = False  # control for (e): write every coasting frame, camera or not (lidar only)
    label: str = ""


VARIANTS = (
    Variant("a", label="lidar-only (shipped config)"),
    Variant("x", coast_all=True, label="control, no camera: a + every lidar-missed frame up to max_age"),
    Variant("b", camera_box=True, label="a + matched camera box as the 2D box"),
    Variant("c", camera_box=True, evidence=True, label="b + camera evidence (score, confirmation)"),
    Variant("d", camera_box=True, evidence=True, camera_only=True, label="c + camera-only 2D tracks"),
    Variant(
        "e", camera_box=True, evidence=True, coast_fill=True, label="c + camera fills lidar-missed frames"
    ),
    Variant("f", camera_box=True, evidence=True, camera_only=True, coast_fill=True, label="c + d + e"),
    Variant(
        "g",
        camera_box=True,
        evidence=True,
        camera_only=True,
        coast_fill=True,
        box_fusion=True,
        label="f + inverse-variance 2D box",
    ),
)
VARIANT_KEYS = tuple(v.key for v in VARIANTS)


@dataclass
class _T3:
    """Camera bookkeeping of one 3D track."""

    out_id: int
    ev_sum: float = 0.0
    ev_n: int = 0
    written: bool = False
    cam_box: np.ndarray | None = None  # last matched camera box and its frame, and the one before
    cam_frame: int = -1
    prev_box: np.ndarray | None = None
    prev_frame: int = -1


@dataclass
class _T2:
    """One camera-only track: a constant-velocity box in the image."""

    out_id: int
    box: np.ndarray
    vel: np.ndarray
    frame: int
    hits: int
    ev_sum: float
    ev_n: int
    misses: int = 0

    def predict(self, f: int) -> np.ndarray:
        return self.box + self.vel * (f - self.frame)

    def update(self, box: np.ndarray, f: int) -> None:
        self.vel = (box - self.box) / max(f - self.frame, 1)
        self.box, self.frame = box, f
        self.hits += 1
        self.misses = 0


@dataclass
class FuseStats:
    frames: int = 0
    seconds: float = 0.0  # time in the camera stage + output selection (Python)
    camera_box_rows: int = 0  # written rows whose 2D box came from the camera
    lidar_missed_camera_seen: int = (
        0  # track-frames: confirmed track coasting (lidar missed) but camera-matched
    )
    tentative_rows: int = 0  # rows written because the camera confirmed a tentative track
    coast_rows: int = 0  # rows written by the coast fill
    camera_only_rows: int = 0  # rows of camera-only tracks
    joins: int = 0  # camera-only tracks taken over by a 3D track that kept their id
    leaves: int = 0  # written 3D tracks continued by a camera-only track with their id

    def add(self, o: FuseStats) -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(o, k))


def _in_view(bb: np.ndarray) -> np.ndarray:
    return np.isfinite(bb).all(1) & (bb[:, 2] - bb[:, 0] > 1.0) & (bb[:, 3] - bb[:, 1] > 1.0)


def associate(track_boxes: np.ndarray, cam_boxes: np.ndarray) -> np.ndarray:
    """Track -> camera box index (-1 none): exact assignment maximising the total 2D IoU over pairs
    with IoU >= MATCH_IOU."""
    match = np.full(len(track_boxes), -1, np.int64)
    if len(track_boxes) and len(cam_boxes):
        m = iou(track_boxes, cam_boxes)
        a = gated_assignment(-m, -MATCH_IOU)
        ok = m[a.row_ind, a.col_ind] >= MATCH_IOU
        match[a.row_ind[ok]] = a.col_ind[ok]
    return match


def roundtrip(rows: TrackRows) -> TrackRows:
    """The rows as ``fusion kitti eval`` sees them: written as a label_02 file (6 decimals) and read back.
    (sAMOTA's score re-averaging is sensitive to the last bits of the scores.)"""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.txt"
        write_results(path, rows)
        return read_labels(path)


def _rows(cat: str, rows: dict) -> TrackRows:
    tname = DETECTION_TYPES[CATEGORY_IDS[cat]]
    if not rows["frame"]:
        e = np.zeros((0, 3))
        return TrackRows.create([], [], tname, np.zeros((0, 4)), e, e, [], score=[])
    box = np.array(rows["box"])
    return TrackRows.create(
        rows["frame"],
        rows["id"],
        tname,
        np.array(rows["bbox"]),
        box[:, 0:3],
        box[:, 3:6],
        box[:, 6],
        score=rows["score"],
    )


def fuse_sequence(
    seq: SeqData,
    frames: list[LidarFrame],
    v: Variant,
    min_score: float,
    weights: list[tuple[float, float]] | None = None,
) -> tuple[TrackRows, FuseStats, np.ndarray]:
    """Write one variant's rows for one sequence (rules in the module docstring).

    ``weights``: camera weight (w_x, w_y) per range bin for ``box_fusion``.
    Returns the rows, counters, and per row why it was written: "lidar" (the lidar-only rule, on
    the variant's score), "tentative" (camera-confirmed tentative track), "coast" (lidar-missed,
    camera-seen frame), "camera" (camera-only track)."""
    cat = seq.category
    cfg = KITTI_CONFIG.for_class(CATEGORY_IDS[cat])
    floor_ev = float(camera_evidence(0.0, cat))
    use_cam = v.camera_box or v.evidence or v.coast_fill or v.camera_only
    st = FuseStats(frames=len(frames))
    t3: dict[int, _T3] = {}
    t2: list[_T2] = []
    next2 = CAMERA_ID_BASE
    rows: dict[str, list] = {k: [] for k in ("frame", "id", "bbox", "box", "score", "tag")}

    def emit(f: int, oid: int, bb: np.ndarray, box: np.ndarray, score: float, tag: str) -> None:
        for k, x in zip(rows, (f, oid, bb, box, score, tag)):
            rows[k].append(x)

    for f, lf in enumerate(frames):
        t0 = time.perf_counter()
        tr, bb3 = lf.tracks, lf.bbox
        cb, cs = seq.cam_bbox[f], seq.cam_score[f]
        ids = tr["track_id"].tolist()
        live = set(ids)
        # 3D tracks the lidar tracker deleted; (d) a written one the camera saw in its last frame
        # continues as a camera-only track with its id
        for tid in [t for t in t3 if t not in live]:
            s = t3.pop(tid)
            if v.camera_only and s.written and s.cam_frame == f - 1 and s.cam_box is not None:
                vel = (
                    (s.cam_box - s.prev_box) / max(s.cam_frame - s.prev_frame, 1)
                    if s.prev_box is not None
                    else np.zeros(4)
                )
                t2.append(_T2(s.out_id, s.cam_box, vel, s.cam_frame, max(cfg.min_hits, 1), s.ev_sum, s.ev_n))
                st.leaves += 1
        for tid in ids:
            t3.setdefault(tid, _T3(out_id=int(tid)))
        match = associate(bb3, cb) if use_cam else np.full(len(tr), -1, np.int64)
        view = _in_view(bb3)
        stat = tr["status"]
        hit = tr["detection"] >= 0
        score = tr["score"].astype(float)
        for i, tid in enumerate(ids):
            s = t3[tid]
            if match[i] >= 0:
                s.prev_box, s.prev_frame = s.cam_box, s.cam_frame
                s.cam_box, s.cam_frame = cb[match[i]], f
            if v.evidence and view[i]:
                s.ev_sum += float(camera_evidence(cs[match[i]], cat)) if match[i] >= 0 else floor_ev
                s.ev_n += 1
            if v.evidence and s.ev_n:
                score[i] += s.ev_sum / s.ev_n
        st.lidar_missed_camera_seen += int(((stat == COASTING) & (match >= 0)).sum())
        # which 3D tracks are written: the rule of `fusion kitti track` (on the fused score from c on)
        sel = stat == CONFIRMED
        if f < cfg.min_hits:
            sel |= (stat == TENTATIVE) & hit
        tent = (stat == TENTATIVE) & hit & (match >= 0) & ~sel if v.evidence else np.zeros(len(tr), bool)
        coast = (stat == COASTING) & (match >= 0) if v.coast_fill else np.zeros(len(tr), bool)
        if v.coast_all:
            coast = stat == COASTING
        sel = (sel | tent | coast) & (score >= min_score)
        out_bb = bb3.copy()
        if v.camera_box:
            m = match >= 0
            out_bb[m] = cb[match[m]]
            if v.box_fusion and weights is not None:
                both = np.nonzero(m & hit)[0]
                w = np.array([[wx, wy, wx, wy] for wx, wy in weights])[range_bin(lf.cam[both, 5])]
                out_bb[both] = w * cb[match[both]] + (1.0 - w) * bb3[both]
        # (d) camera-only tracks follow the camera boxes; a camera box that a written 3D track holds
        # ends the 2D track, and the 3D track takes its id if it had never been written
        cam_rows: list[tuple[_T2, int]] = []
        if v.camera_only:
            held = {int(match[i]): i for i in np.nonzero(sel & (match >= 0))[0]}
            free = np.ones(len(cb), bool)
            free[match[match >= 0]] = False  # explained by a live 3D track
            m2 = associate(np.array([t.predict(f) for t in t2]).reshape(-1, 4), cb)
            keep: list[_T2] = []
            for k, t in enumerate(t2):
                j = int(m2[k])
                if j in held:
                    s3 = t3[ids[held[j]]]
                    if not s3.written:
                        s3.out_id = t.out_id
                        st.joins += 1
                    continue
                if j >= 0:
                    t.update(cb[j], f)
                    t.ev_sum += float(camera_evidence(cs[j], cat))
                    free[j] = False
                    if t.hits >= cfg.min_hits or f < cfg.min_hits:
                        cam_rows.append((t, j))
                else:
                    t.misses += 1
                    t.ev_sum += floor_ev
                    if t.misses > cfg.max_age:
                        continue
                t.ev_n += 1
                keep.append(t)
            t2 = keep
            for j in np.nonzero(free)[0].tolist():
                t = _T2(next2, cb[j], np.zeros(4), f, 1, float(camera_evidence(cs[j], cat)), 1)
                next2 += 1
                t2.append(t)
                if cfg.min_hits <= 1 or f < cfg.min_hits:
                    cam_rows.append((t, int(j)))
        for i in np.nonzero(sel & np.isfinite(out_bb).all(1))[
            0
        ].tolist():  # as `fusion kitti track`: no 2D box, no row
            s = t3[ids[i]]
            s.written = True
            emit(
                f,
                s.out_id,
                out_bb[i],
                lf.cam[i],
                score[i],
                "coast" if coast[i] else "tentative" if tent[i] else "lidar",
            )
            st.camera_box_rows += int(v.camera_box and match[i] >= 0)
            st.coast_rows += int(coast[i])
            st.tentative_rows += int(tent[i])
        for t, j in cam_rows:
            if t.ev_sum / t.ev_n >= min_score:
                emit(f, t.out_id, cb[j], NO_3D, t.ev_sum / t.ev_n, "camera")
                st.camera_only_rows += 1
        st.seconds += time.perf_counter() - t0
    return _rows(cat, rows), st, np.array(rows["tag"], dtype=object)


# ----------------------------------------------------------------------------------------------
# row-level accounting: the KITTI 2D protocol's matching (IoU >= 0.5), as fusion.kitti.protocol


@dataclass
class Accounting:
    row_state: np.ndarray  # per written row: 1 hit, 0 false positive, -1 ignored
    gt_depth: np.ndarray  # per scored label: depth (m)
    gt_hit: np.ndarray  # per scored label: matched by a row at IoU >= 0.5
    gt_id: np.ndarray  # per scored label: its label track id
    gt_row: np.ndarray  # per scored label: index of the matching row (-1 none)


def account(labels: TrackRows, rows: TrackRows, category: str, n_frames: int) -> Accounting:
    """Rows matched to scored labels are hits; rows matched to distractor/occluded/truncated labels,
    or unmatched but <= 25 px high or mostly inside a DontCare region, are ignored; the rest are
    false positives (the rules of fusion.kitti.protocol)."""
    t = np.asarray([str(x).lower() for x in labels.type])
    cls = np.isin(t, (category,) + DISTRACTORS[category]) & (labels.track_id >= 0)
    scored = scored_gt(labels, category)
    dc = t == "dontcare"
    state = np.zeros(len(rows), np.int64)
    depth, hits, gids = [], [], []
    for f in range(n_frames):
        gi = np.nonzero(cls & (labels.frame == f))[0]
        ri = np.nonzero(rows.frame == f)[0]
        matched = np.full(len(ri), -1)
        hit = np.full(len(gi), -1)
        if len(gi) and len(ri):
            sim = iou(labels.bbox[gi], rows.bbox[ri])
            r, c = max_weight_matching(np.where(sim >= 0.5 - 1e-9, sim, 0.0))
            matched[c] = gi[r]
            hit[r] = ri[c]
        dcb = labels.bbox[dc & (labels.frame == f)]
        for k, row in enumerate(ri):
            if matched[k] >= 0:
                state[row] = 1 if scored[matched[k]] else -1
            else:
                b = rows.bbox[row]
                ign = b[3] - b[1] <= MIN_HEIGHT or (len(dcb) and (ioa_2d(b[None], dcb) > 0.5).any())
                state[row] = -1 if ign else 0
        s = scored[gi]
        depth.append(labels.loc[gi[s], 2])
        hits.append(hit[s])
        gids.append(labels.track_id[gi[s]])
    hit_row = np.concatenate(hits) if hits else np.zeros(0, np.int64)
    return Accounting(
        state,
        np.concatenate(depth) if depth else np.zeros(0),
        hit_row >= 0,
        np.concatenate(gids) if gids else np.zeros(0, np.int64),
        hit_row,
    )


def id_changes(acc: Accounting, rows: TrackRows, tags: np.ndarray) -> tuple[int, int]:
    """(changes, changes at a camera-confirmed tentative row): times a scored label's matched output id
    differs from the id it last matched (CLEAR's IDSW, up to CLEAR's preference for the previous match)."""
    n = n_tent = 0
    for g in np.unique(acc.gt_id):
        r = acc.gt_row[(acc.gt_id == g) & (acc.gt_row >= 0)]
        ch = np.nonzero(rows.track_id[r][1:] != rows.track_id[r][:-1])[0]
        n += len(ch)
        n_tent += int(((tags[r[ch]] == "tentative") | (tags[r[ch + 1]] == "tentative")).sum())
    return n, n_tent


# ----------------------------------------------------------------------------------------------
# the study


def study_category(
    kitti: Path, entries: list, cat: str, metrics_3d: bool, keys: tuple[str, ...], log=print
) -> dict:
    """Everything for one category: noise, coverage, every variant's metrics and accounting."""
    min_score = KITTI_OUTPUT["min_output_score"]
    min_score = min_score.get(cat, -np.inf) if isinstance(min_score, dict) else min_score
    seqs = [load_sequence(kitti, e.name, e.n_frames, cat) for e in entries]
    gt = {s.name: s.labels for s in seqs}
    nf = {s.name: s.n_frames for s in seqs}
    lidar, step_s = [], 0.0
    for s in seqs:
        fr, sec = run_lidar(s)
        lidar.append(fr)
        step_s += sec
    n_frames = sum(nf.values())
    # sensor noise and coverage
    pairs = [noise_pairs(s) for s in seqs]
    noise = {k: noise_summary(np.concatenate([p[k] for p in pairs])) for k in ("camera", "lidar", "label_3d")}
    weights = box_weights(noise)
    prec = [precision_pairs(s) for s in seqs]
    precision = {
        k: precision_table(np.concatenate([p[k] for p in prec]), k, cat) for k in ("camera", "lidar")
    }
    cov = np.concatenate([coverage(s) for s in seqs])
    cb = range_bin(cov[:, 0])
    cover = {}
    for k, name in enumerate(RANGE_NAMES + ("all",)):
        m = cb == k if name != "all" else np.ones(len(cov), bool)
        li, ca = cov[m, 1] > 0, cov[m, 2] > 0
        cover[name] = {
            "n": int(m.sum()),
            "lidar": int(li.sum()),
            "camera": int(ca.sum()),
            "both": int((li & ca).sum()),
            "camera_only": int((ca & ~li).sum()),
            "lidar_only": int((li & ~ca).sum()),
            "neither": int((~li & ~ca).sum()),
        }
    out: dict = {
        "frames": n_frames,
        "lidar_step_ms_per_frame": 1e3 * step_s / n_frames,
        "noise": noise,
        "box_weights": {n: {"w_x": w[0], "w_y": w[1]} for n, w in zip(RANGE_NAMES, weights)},
        "coverage": cover,
        "precision_by_score": precision,
        "variants": {},
    }
    base_sec = None
    base_keys: dict | None = None
    for v in VARIANTS:
        if v.key not in keys:
            continue
        res, stats, tags, accs = {}, FuseStats(), {}, {}
        for s, fr in zip(seqs, lidar):
            r, st, tg = fuse_sequence(s, fr, v, min_score, weights)
            res[s.name], tags[s.name] = roundtrip(r), tg
            stats.add(st)
            accs[s.name] = account(s.labels, r, cat, s.n_frames)
        m = evaluate_sequences(gt, res, nf, [cat], metrics_3d=False)[cat]
        rec: dict = {
            k: _f(m[k])
            for k in (
                "HOTA",
                "DetA",
                "AssA",
                "LocA",
                "DetRe",
                "DetPr",
                "MOTA",
                "MOTP",
                "IDSW",
                "FRAG",
                "IDF1",
                "CLR_TP",
                "CLR_FP",
                "CLR_FN",
            )
        }
        if metrics_3d:
            res_all = {}
            for s, fr in zip(seqs, lidar):
                r, _, _ = fuse_sequence(s, fr, v, -np.inf, weights)
                res_all[s.name] = roundtrip(r.select(r.loc[:, 0] > -999.0))  # 2D-only rows have no 3D box
            m3 = evaluate_sequences(gt, res_all, nf, [cat], metrics_3d=True)[cat]
            rec.update({k: _f(m3[k]) for k in ("sAMOTA", "AMOTA", "AMOTP")})
        # where the rows come from, and recall per range bin
        state = np.concatenate([accs[n].row_state for n in nf])
        tag = np.concatenate([tags[n] for n in nf])
        gd = np.concatenate([accs[n].gt_depth for n in nf])
        gh = np.concatenate([accs[n].gt_hit for n in nf])
        rec["rows_by_reason"] = {
            t: {
                "rows": int((tag == t).sum()),
                "hits": int(((tag == t) & (state == 1)).sum()),
                "false_pos": int(((tag == t) & (state == 0)).sum()),
            }
            for t in ("lidar", "tentative", "coast", "camera")
        }
        ch = [id_changes(accs[n], res[n], tags[n]) for n in nf]
        rec["id_changes"] = {
            "all": sum(c for c, _ in ch),
            "at_camera_confirmed_tentative_rows": sum(t for _, t in ch),
        }
        rb = range_bin(gd)
        rec["recall_by_range"] = {
            name: _f(gh[rb == k].mean()) if (rb == k).any() else None for k, name in enumerate(RANGE_NAMES)
        }
        rec["hits_by_range"] = {name: int(gh[rb == k].sum()) for k, name in enumerate(RANGE_NAMES)}
        rec["scored_by_range"] = {name: int((rb == k).sum()) for k, name in enumerate(RANGE_NAMES)}
        # rows kept / dropped relative to b (same lidar ids): what the camera evidence did
        if v.key == "b":
            base_keys = {
                (n, int(fr_), int(i)): int(st_)
                for n in nf
                for fr_, i, st_ in zip(res[n].frame, res[n].track_id, accs[n].row_state)
            }
        if base_keys is not None and v.key != "b" and not v.camera_only:
            mine = {
                (n, int(fr_), int(i)): int(st_)
                for n in nf
                for fr_, i, st_ in zip(res[n].frame, res[n].track_id, accs[n].row_state)
            }
            dropped = [st_ for k_, st_ in base_keys.items() if k_ not in mine]
            rec["dropped_vs_b"] = {
                "rows": len(dropped),
                "hits": dropped.count(1),
                "false_pos": dropped.count(0),
            }
        st_d = asdict(stats)
        if base_sec is None:
            base_sec = stats.seconds
        st_d["extra_ms_per_frame"] = 1e3 * (stats.seconds - base_sec) / n_frames
        rec["stats"] = st_d
        out["variants"][v.key] = rec
        log(f"{cat:10s} {v.key}  HOTA {100 * rec['HOTA']:.2f}  ({v.label})")
    return out


# ----------------------------------------------------------------------------------------------
# tables


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def format_tables(res: dict) -> str:
    lines = []
    cols = ("HOTA", "DetA", "AssA", "LocA", "MOTA", "IDSW", "CLR_FP", "CLR_FN", "sAMOTA", "AMOTA")
    hdr = f"{'class':10s} {'var':3s} " + " ".join(f"{c.replace('CLR_', ''):>7s}" for c in cols)
    lines += [
        "Metrics (HOTA family and CLEAR after the output threshold; sAMOTA/AMOTA on all scores, 3D rows)",
        hdr,
        "-" * len(hdr),
    ]
    for cat, r in res["categories"].items():
        base = r["variants"].get("a")
        for k, m in r["variants"].items():
            cells = []
            for c in cols:
                x = m.get(c)
                cells.append(
                    f"{'-':>7s}"
                    if x is None
                    else f"{x:7d}"
                    if c in ("IDSW", "CLR_FP", "CLR_FN")
                    else f"{100 * x:7.2f}"
                )
            lines.append(f"{cat:10s} {k:3s} " + " ".join(cells))
            if base is not None and k != "a":
                cells = []
                for c in cols:
                    x, y = m.get(c), base.get(c)
                    cells.append(
                        f"{'':7s}"
                        if x is None or y is None
                        else f"{x - y:+7d}"
                        if c in ("IDSW", "CLR_FP", "CLR_FN")
                        else f"{100 * (x - y):+7.2f}"
                    )
                lines.append(f"{'':10s} {'chg':3s} " + " ".join(cells))
    lines += [
        "",
        (
            "Recall (scored labels hit at IoU >= 0.5) by label depth; rows by reason (rows / hits / false pos);"
            " extra camera-stage ms per frame"
        ),
    ]
    for cat, r in res["categories"].items():
        for k, m in r["variants"].items():
            rb = " ".join(f"{n}:{_pct(m['recall_by_range'][n])}" for n in RANGE_NAMES)
            why = " ".join(
                f"{t}:{d['rows']}/{d['hits']}/{d['false_pos']}"
                for t, d in m["rows_by_reason"].items()
                if d["rows"]
            )
            drop = m.get("dropped_vs_b")
            dr = f" dropped-vs-b:{drop['rows']}/{drop['hits']}/{drop['false_pos']}" if drop else ""
            idc = m["id_changes"]
            lines.append(
                f"{cat:10s} {k:3s} {rb}  {why}{dr}  id changes {idc['all']} (at tentative rows "
                f"{idc['at_camera_confirmed_tentative_rows']})  +{m['stats']['extra_ms_per_frame']:.3f} ms"
            )
    lines += [
        "",
        (
            "Counters (rows with a camera 2D box; track-frames a confirmed track was lidar-missed but camera-matched;"
            " rows written by camera confirmation / coast fill / camera-only tracks; joins; leaves)"
        ),
    ]
    for cat, r in res["categories"].items():
        for k, m in r["variants"].items():
            s = m["stats"]
            lines.append(
                f"{cat:10s} {k:3s} camera-box {s['camera_box_rows']:6d}  lidar-missed camera-seen "
                f"{s['lidar_missed_camera_seen']:4d}  tentative {s['tentative_rows']:4d}  coast {s['coast_rows']:4d}"
                f"  camera-only {s['camera_only_rows']:4d}  joins {s['joins']:4d}  leaves {s['leaves']:3d}"
            )
    lines += [
        "",
        (
            "Detection precision by score (a box outside DontCare that matches a label of the class or its "
            "distractor at IoU >= 0.5, one-to-one)"
        ),
    ]
    for cat, r in res["categories"].items():
        for sensor, tab in r["precision_by_score"].items():
            row = "  ".join(
                f"[{d['score_from']},{d['score_to']}) n={d['n']} {100 * d['precision']:.1f}%" for d in tab
            )
            lines.append(f"{cat:10s} {sensor:6s} {row}")
    lines += ["", "Sensor coverage of the scored labels (a box at IoU >= 0.5, any score)"]
    for cat, r in res["categories"].items():
        for n, c in r["coverage"].items():
            lines.append(
                f"{cat:10s} {n:7s} n={c['n']:6d} lidar {c['lidar']:6d} camera {c['camera']:6d} "
                f"camera-only {c['camera_only']:5d} lidar-only {c['lidar_only']:5d} neither {c['neither']:5d}"
            )
    lines += [
        "",
        "2D box noise vs the label box (px): sigma = 1.4826 MAD; |e| p50/p90/p95; bias; IoU p50/p10",
    ]
    for cat, r in res["categories"].items():
        for sensor in ("camera", "lidar", "label_3d"):
            for n, d in r["noise"][sensor].items():
                if sensor == "label_3d" and n != "all":
                    continue
                if not d["n"]:
                    continue
                lines.append(
                    f"{cat:10s} {sensor:8s} {n:7s} n={d['n']:5d}  x: sigma {d['x_sigma']:5.2f} "
                    f"|e| {d['x_abs_p50']:5.2f}/{d['x_abs_p90']:5.2f}/{d['x_abs_p95']:5.2f} "
                    f"bias {d['x_bias']:+5.2f}  y: sigma {d['y_sigma']:5.2f} "
                    f"|e| {d['y_abs_p50']:5.2f}/{d['y_abs_p90']:5.2f}/{d['y_abs_p95']:5.2f} "
                    f"bias {d['y_bias']:+5.2f}  rel sigma x {d['x_rel_sigma']:.3f} y {d['y_rel_sigma']:.3f}  "
                    f"IoU {d['iou_p50']:.2f}/{d['iou_p10']:.2f}"
                )
        w = " ".join(f"{n}:({d['w_x']:.2f},{d['w_y']:.2f})" for n, d in r["box_weights"].items())
        lines.append(f"{cat:10s} camera weight of the inverse-variance box (x, y) {w}")
    for cat, r in res["categories"].items():
        lines.append(
            f"{cat}: Tracker.step {r['lidar_step_ms_per_frame']:.3f} ms per frame over {r['frames']} frames"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="camera_lidar_study.py", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--kitti", required=True, type=Path, help="folder with labels/, calib/, detections/, the seqmap"
    )
    p.add_argument("--seqmap", type=Path, help="default: KITTI/evaluate_tracking.seqmap.train")
    p.add_argument("--seqs", help="comma separated subset of the seqmap's sequences")
    p.add_argument("--category", action="append", choices=CAMERA_CLASSES, help="default: car and pedestrian")
    p.add_argument("--variants", default=",".join(VARIANT_KEYS), help=f"subset of {','.join(VARIANT_KEYS)}")
    p.add_argument("--no-3d", action="store_true", help="skip sAMOTA/AMOTA (faster)")
    p.add_argument("--json", type=Path, help="write every number here")
    p.add_argument("--quiet", action="store_true", help="no per-variant progress lines")
    args = p.parse_args(argv)
    entries = read_seqmap(args.seqmap or args.kitti / "evaluate_tracking.seqmap.train")
    if args.seqs:
        want = set(args.seqs.split(","))
        entries = [e for e in entries if e.name in want]
    keys = tuple(k for k in args.variants.split(",") if k)
    unknown = set(keys) - set(VARIANT_KEYS)
    if unknown or not entries:
        p.error(f"unknown variants {sorted(unknown)}" if unknown else "no sequence selected")
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    t0 = time.perf_counter()
    res: dict = {
        "sequences": [e.name for e in entries],
        "parameters": {
            "MATCH_IOU": MATCH_IOU,
            "CAMERA_FLOOR": CAMERA_FLOOR,
            "CAMERA_P_MAX": CAMERA_P_MAX,
            "NOISE_MATCH_IOU": NOISE_MATCH_IOU,
            "RANGE_BINS_m": [list(b) for b in RANGE_BINS],
            "min_output_score": KITTI_OUTPUT["min_output_score"],
        },
        "variants": {v.key: v.label for v in VARIANTS if v.key in keys},
        "categories": {},
    }
    for cat in args.category or list(CAMERA_CLASSES):
        res["categories"][cat] = study_category(args.kitti, entries, cat, not args.no_3d, keys, log)
    res["seconds"] = time.perf_counter() - t0
    print(format_tables(res))
    print(f"({res['seconds']:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1, default=_f))
    return 0


if __name__ == "__main__":
    sys.exit(main())
