"""``fusion kitti track``: run the 3D multi-object tracker on KITTI detection files.

Usage::

    python -m fusion.kitti.track --detections DIR --seqmap FILE --out DIR
        [--category car|pedestrian|cyclist ...] [--config FILE] [--calib DIR]
        [--min-output-score X | --all-scores] [--baseline ab3dmot]
        [--camera-detections DIR [--camera-config FILE] [--camera-stage engine|tracker]] [--engine]

``--detections`` is either a folder holding one sub-folder per category whose name ends in
``_Car``, ``_Pedestrian``, ``_Cyclist`` (e.g. ``pointrcnn_Car/0000.txt``), or a single category
folder of ``<seq>.txt`` files (then ``--category`` names its category, or it is taken from the
folder name). Results are written as ``label_02`` files with a score column:

- from a parent folder: ``OUT/<category>/<seq>.txt`` (``OUT/car``, ``OUT/pedestrian``, ...);
- from a single category folder: ``OUT/<seq>.txt``.

Timestamps are ``frame * 100 ms`` (KITTI runs at 10 Hz). Each output row carries the 2D box of
the detection that updated the track in that frame; coasting tracks get the image box of their
predicted 3D box projected through ``P2`` of ``--calib`` (default: ``DIR/../calib`` or
``DIR/../../calib``; without calibration, coasting tracks are not written).

Which tracks are written: confirmed tracks, coasting tracks up to ``output_max_coast`` missed
frames, and, in the first ``min_hits`` frames of a sequence, tentative tracks that were updated
(AB3DMOT's start-up rule, otherwise the first frames would be empty by construction). The score
column is the track's mean detection score (PointRCNN logits are kept as they are, so
sAMOTA/AMOTA thresholds run over the per-track mean, as in AB3DMOT).

With ``--camera-detections DIR`` (a folder of ``<name>_Car`` / ``<name>_Pedestrian`` folders of
``frame,x1,y1,x2,y2,score`` camera boxes, e.g. RRC) the categories with a camera folder are
tracked with camera + lidar by :mod:`fusion.kitti.fusion_track` (its output policy and parameters
are documented there; ``--camera-config`` defaults to ``configs/pointrcnn_rrc.toml``); the others
(cyclist) are written by the lidar-only tracker exactly as without the option.

The tracker parameters default to :data:`KITTI_CONFIG` (tuned on the KITTI training half);
``--config`` reads a TOML file as :meth:`TrackerConfig.from_toml` does, plus an optional
``[kitti]`` table with ``output_max_coast`` (int, default 0) and ``min_output_score`` (a number,
or a table ``{car = 2.0, pedestrian = 2.0, cyclist = 0.0}``: tracks whose mean detection score is
below are not written). ``--baseline ab3dmot`` runs AB3DMOT-like settings instead (see
:func:`ab3dmot_config`; every track is written whatever its score, one coasted frame included).

The default parameters are the TOML file ``fusion/kitti/configs/pointrcnn.toml`` shipped with
the package (:data:`DEFAULT_CONFIG`). Its ``[kitti]`` table may also set ``output_score``:
``"mean"`` (mean detection score of the track), ``"existence"`` (the tracker's existence
probability) or ``"llr"`` (its log-likelihood ratio).

Evaluation procedure: HOTA/MOTA/IDSW are reported on the output after the per-category
``min_output_score`` (as AB3DMOT reports them); sAMOTA/AMOTA sweep score thresholds
themselves and are computed on the unthresholded output written with ``--all-scores``
(``--min-output-score X`` sets one threshold for every category instead).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from fusion.errors import ConfigurationError, FusionError
from fusion.geometry.projection import project_camera_boxes
from fusion.kitti.io import (
    CATEGORIES,
    CATEGORY_IDS,
    DETECTION_TYPES,
    TrackRows,
    camera_box_to_generic,
    check_frames_within,
    generic_to_camera_box,
    read_calib,
    read_detections,
    read_seqmap,
    write_results,
)
from fusion.tracking import (
    COASTING,
    CONFIRMED,
    DETECTION_DTYPE,
    TENTATIVE,
    ClassConfig,
    Tracker,
    TrackerConfig,
)

__all__ = [
    "DEFAULT_CONFIG",
    "KITTI_CONFIG",
    "KITTI_OUTPUT",
    "ab3dmot_config",
    "config_for",
    "load_config",
    "run_tracking",
    "track_main",
    "track_sequence",
]

_IMAGE_SIZE = (1242, 375)
FRAME_NS = 100_000_000


#: The default tracker parameters and output rules (tuned on the training half).
DEFAULT_CONFIG = Path(__file__).with_name("configs") / "pointrcnn.toml"
_SCORE_FIELD = {"mean": "score", "existence": "existence", "llr": "llr"}
_OUTPUT_SCORES = tuple(_SCORE_FIELD)


def ab3dmot_config() -> TrackerConfig:
    """AB3DMOT-like baseline: CV 10-state filter, 3D GIoU > -0.2, min_hits 3, max_age 2, all detections."""
    c = ClassConfig(cost="giou_3d", gate=-0.2, min_hits=3, max_age=2)
    return TrackerConfig(default=c, classes={}, max_tracks=512, max_detections=512)


_BUILTIN_OUTPUT: dict[str, Any] = {"output_max_coast": 0, "min_output_score": -np.inf, "output_score": "mean"}


def load_config(path: str | os.PathLike[str] | None) -> tuple[TrackerConfig, dict[str, Any]]:
    """Tracker config and output rules from a TOML file (default: :data:`DEFAULT_CONFIG`)."""
    if path is None:
        path = DEFAULT_CONFIG
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{os.fspath(path)}: invalid TOML: {exc}") from None
    out = dict(_BUILTIN_OUTPUT)
    kt = data.pop("kitti", {})
    for k, v in kt.items():
        if k not in out:
            raise ConfigurationError(f"{os.fspath(path)}: [kitti] unknown key {k!r}; known: {', '.join(out)}")
        out[k] = v
    mc, ms = out["output_max_coast"], out["min_output_score"]
    if out["output_score"] not in _OUTPUT_SCORES:
        raise ConfigurationError(f"{os.fspath(path)}: [kitti] output_score: expected one of "
                                 f"{', '.join(_OUTPUT_SCORES)}, got {out['output_score']!r}")
    if isinstance(mc, bool) or not isinstance(mc, int) or mc < 0:
        raise ConfigurationError(f"{os.fspath(path)}: [kitti] output_max_coast: expected an integer >= 0, got {mc!r}")
    scores = ms.values() if isinstance(ms, dict) else [ms]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in scores) or (
            isinstance(ms, dict) and set(ms) - set(CATEGORY_IDS)):
        raise ConfigurationError(f"{os.fspath(path)}: [kitti] min_output_score: expected a number or a table "
                                 f"with keys among {', '.join(CATEGORY_IDS)}, got {ms!r}")
    try:
        cfg = TrackerConfig.from_dict(data)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{os.fspath(path)}: {exc}") from None
    return cfg, out


#: Default tracker parameters for KITTI (class ids as in :data:`fusion.kitti.io.CATEGORY_IDS`) and output
#: rules (see the module docstring; min_output_score is one number or category -> number).
KITTI_CONFIG, KITTI_OUTPUT = load_config(DEFAULT_CONFIG)


def detections_by_frame(path: str | os.PathLike[str], class_id: int,
                        n_frames: int | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per frame ``0 .. n_frames - 1``: a DETECTION_DTYPE array (generic boxes) and the (N, 4) 2D boxes
    (``n_frames=None``: up to the file's last frame, for a file without a seqmap).

    Raises:
        DecodeError: ``path:line`` of a malformed row, or of a row whose frame is ``n_frames`` or later
            (a seqmap that does not fit the file, or a stray frame number); without a seqmap, of a row
            whose frame is :data:`fusion.kitti.io.MAX_FRAMES_WITHOUT_SEQMAP` or later.
    """
    d = read_detections(path)
    check_frames_within(d.frame, d.line, d.path, n_frames)
    keep = d.category == class_id
    frames = d.frame[keep]
    boxes = camera_box_to_generic(d.camera_boxes()[keep]) if keep.any() else np.zeros((0, 7))
    arr = np.zeros(len(frames), DETECTION_DTYPE)
    arr["box"] = boxes
    arr["class_id"] = class_id
    arr["score"] = d.score[keep]
    bbox = d.bbox[keep]
    order = np.argsort(frames, kind="stable")
    frames, arr, bbox = frames[order], arr[order], bbox[order]
    n = max(n_frames, 0) if n_frames is not None else int(frames.max()) + 1 if len(frames) else 0
    starts = np.searchsorted(frames, np.arange(n + 1))
    return ([arr[starts[f]:starts[f + 1]] for f in range(n)], [bbox[starts[f]:starts[f + 1]] for f in range(n)])


def track_sequence(tracker: Tracker, dets: list[np.ndarray], bboxes: list[np.ndarray], class_id: int,
                   P2: np.ndarray | None, output: dict[str, Any]) -> tuple[TrackRows, float]:
    """Run one sequence; returns the result rows and the seconds spent inside ``step``."""
    tracker.reset()
    cfg = tracker.config.for_class(class_id)
    min_score = output["min_output_score"]
    if isinstance(min_score, dict):
        min_score = min_score.get(DETECTION_TYPES[class_id].lower(), -np.inf)
    rows: dict[str, list[Any]] = {k: [] for k in ("frame", "id", "bbox", "box", "score")}
    spent = 0.0
    for f, (det, bb) in enumerate(zip(dets, bboxes)):
        t0 = time.perf_counter()
        tr = tracker.step(det, f * FRAME_NS)
        spent += time.perf_counter() - t0
        st = tr["status"]
        sel = (st == CONFIRMED) | ((st == COASTING) & (tr["time_since_update"] <= output["output_max_coast"]))
        if f < cfg.min_hits:
            sel |= (st == TENTATIVE) & (tr["detection"] >= 0)
        score = tr[_SCORE_FIELD[output.get("output_score", "mean")]]
        sel &= score >= min_score
        tr, score = tr[sel], score[sel]
        if not len(tr):
            continue
        cam = generic_to_camera_box(tr["box"])
        box2d = np.full((len(tr), 4), np.nan)
        hit = tr["detection"] >= 0
        box2d[hit] = bb[tr["detection"][hit]]
        if (~hit).any() and P2 is not None:
            box2d[~hit] = project_camera_boxes(cam[~hit], P2, _IMAGE_SIZE)
        ok = np.isfinite(box2d).all(axis=1)
        rows["frame"].append(np.full(ok.sum(), f))
        rows["id"].append(tr["track_id"][ok])
        rows["bbox"].append(box2d[ok])
        rows["box"].append(cam[ok])
        rows["score"].append(score[ok])
    if rows["frame"]:
        cam = np.concatenate(rows["box"])
        res = TrackRows.create(np.concatenate(rows["frame"]), np.concatenate(rows["id"]), DETECTION_TYPES[class_id],
                               np.concatenate(rows["bbox"]), cam[:, 0:3], cam[:, 3:6], cam[:, 6],
                               score=np.concatenate(rows["score"]))
    else:
        e = np.zeros((0, 3))
        res = TrackRows.create([], [], DETECTION_TYPES[class_id], np.zeros((0, 4)), e, e, [], score=[])
    return res, spent


def _category_dirs(det_dir: Path, categories: list[str] | None) -> tuple[dict[str, Path], bool]:
    """Map category -> folder; the flag says whether det_dir was a parent of category folders."""
    subs: dict[str, Path] = {}
    for p in sorted(det_dir.iterdir()) if det_dir.is_dir() else []:
        for cat in CATEGORY_IDS:
            if p.is_dir() and p.name.lower().endswith("_" + cat):
                subs.setdefault(cat, p)
    if subs:
        cats = categories or [c for c in CATEGORIES if c in subs]
        missing = [c for c in cats if c not in subs]
        if missing:
            raise ConfigurationError(f"--detections {det_dir}: no *_{missing[0].capitalize()} folder")
        return {c: subs[c] for c in cats}, True
    if categories and len(categories) == 1:
        return {categories[0]: det_dir}, False
    for cat in CATEGORY_IDS:
        if det_dir.name.lower().endswith(cat):
            return {cat: det_dir}, False
    raise ConfigurationError(f"--detections {det_dir}: not a folder of *_Car/_Pedestrian/_Cyclist folders; "
                             "for a single category folder give --category")


def _find_calib(det_dir: Path, calib: str | None) -> Path | None:
    if calib:
        return Path(calib)
    for cand in (det_dir.parent / "calib", det_dir.parent.parent / "calib"):
        if cand.is_dir():
            return cand
    return None


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fusion kitti track",
        description="Run the 3D multi-object tracker on KITTI detection files and write label_02 "
        "results (one file per sequence, with 2D boxes and a track score) for `fusion kitti eval`.",
        epilog="example: fusion kitti track --detections ../shared/data/kitti-train/detections "
        "--seqmap ../shared/data/kitti-train/evaluate_tracking.seqmap.train "
        "--calib ../shared/data/kitti-train/calib --out out/kitti",
    )
    p.add_argument("--detections", required=True, metavar="DIR",
                   help="folder of <name>_Car/_Pedestrian/_Cyclist detection folders, or one such folder")
    p.add_argument("--seqmap", required=True, metavar="FILE", help="seqmap: 'seq empty first_frame n_frames' lines")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (OUT/<category>/ or OUT/)")
    p.add_argument("--category", action="append", choices=list(CATEGORY_IDS),
                   help="category to track; repeat for several (default: every one found)")
    p.add_argument("--config", metavar="FILE", help=f"tracker TOML (default: {DEFAULT_CONFIG.name} shipped in "
                   "fusion/kitti/configs)")
    p.add_argument("--baseline", choices=["ab3dmot"], help="use AB3DMOT-like settings instead of --config")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--min-output-score", type=float, metavar="X",
                   help="write only tracks scoring >= X, every category (default: the config's min_output_score)")
    g.add_argument("--all-scores", action="store_true",
                   help="write every track whatever its score (the input of sAMOTA/AMOTA, which sweep thresholds)")
    p.add_argument("--calib", metavar="DIR", help="calibration folder (for the 2D boxes of coasting tracks)")
    p.add_argument("--camera-detections", metavar="DIR",
                   help="folder of <name>_Car/<name>_Pedestrian camera detection folders (frame,x1,y1,x2,y2,score): "
                   "track camera + lidar (fusion.kitti.fusion_track; categories without a camera folder stay "
                   "lidar-only). Without it: the lidar-only tracker")
    p.add_argument("--camera-config", metavar="FILE",
                   help="camera + lidar TOML ([engine] and [kitti.<category>] tables; default: pointrcnn_rrc.toml "
                   "shipped in fusion/kitti/configs); --config stays the lidar Tracker's (categories without camera, "
                   "--camera-stage tracker)")
    p.add_argument("--camera-stage", choices=["engine", "tracker"], default="engine",
                   help="with --camera-detections: the multi-sensor engine (default), or the lidar Tracker followed "
                   "by a Python camera stage (the study's post-tracker fusion)")
    p.add_argument("--engine", action="store_true",
                   help="without --camera-detections: run the lidar-only preset of the multi-sensor engine "
                   "(--camera-config's settings without the camera) instead of the lidar Tracker")
    p.add_argument("--quiet", action="store_true", help="no per-sequence progress")
    return p


def run_tracking(cfg: TrackerConfig, output: dict[str, Any], detections: str | os.PathLike[str],
                 seqmap: str | os.PathLike[str], out: str | os.PathLike[str],
                 categories: list[str] | None = None, calib: str | None = None,
                 quiet: bool = True) -> dict[str, tuple[int, float]]:
    """Track every sequence of the seqmap and write the results (see the module docstring).

    Returns category -> (frames, seconds spent inside ``Tracker.step``)."""
    det_dir = Path(detections)
    cats, nested = _category_dirs(det_dir, categories)
    entries = read_seqmap(seqmap)
    calib_dir = _find_calib(det_dir, calib)
    tracker = Tracker(cfg)
    stats: dict[str, tuple[int, float]] = {}
    for cat, folder in cats.items():
        out_dir = Path(out) / cat if nested else Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        cid = CATEGORY_IDS[cat]
        frames = 0
        spent = 0.0
        for entry in entries:
            dets, bbs = detections_by_frame(folder / f"{entry.name}.txt", cid, entry.first_frame + entry.n_frames)
            P2 = None
            if calib_dir is not None and (calib_dir / f"{entry.name}.txt").is_file():
                P2 = read_calib(calib_dir / f"{entry.name}.txt").P2
            rows, sec = track_sequence(tracker, dets, bbs, cid, P2, output)
            write_results(out_dir / f"{entry.name}.txt", rows)
            frames += len(dets)
            spent += sec
            if not quiet:
                print(f"{cat} {entry.name}: {len(dets)} frames, {len(np.unique(rows.track_id))} tracks, "
                      f"{len(dets) / max(sec, 1e-9):.0f} FPS", flush=True)
        stats[cat] = (frames, spent)
        if not quiet:
            print(f"{cat}: {frames} frames in {spent:.3f} s of tracking = {frames / max(spent, 1e-9):.0f} FPS "
                  f"-> {out_dir}", flush=True)
    return stats


def config_for(config: str | None, baseline: str | None, min_output_score: float | None = None,
               all_scores: bool = False) -> tuple[TrackerConfig, dict[str, Any]]:
    """Tracker config and output rules as the command-line options select them."""
    cfg, output = load_config(config)
    if baseline == "ab3dmot":
        cfg, output = ab3dmot_config(), {"output_max_coast": 1, "min_output_score": -np.inf, "output_score": "mean"}
    if min_output_score is not None:
        output["min_output_score"] = min_output_score
    if all_scores:
        output["min_output_score"] = -np.inf
    return cfg, output


def track_main(argv: list[str] | None = None) -> int:
    """Entry point of ``fusion kitti track``. Returns 0, or 2 on bad input."""
    args = _build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.baseline and (args.camera_detections or args.engine):
            raise ConfigurationError("--baseline ab3dmot is the lidar-only Tracker: not with --camera-detections "
                                     "or --engine")
        cfg, output = config_for(args.config, args.baseline, args.min_output_score, args.all_scores)
        if args.camera_detections or args.engine:
            from fusion.kitti.fusion_track import run_camera_tracking

            stats = run_camera_tracking(cfg, output, args.detections, args.camera_detections, args.seqmap, args.out,
                                        args.category, args.calib, args.camera_config, args.camera_stage,
                                        quiet=args.quiet)
        else:
            stats = run_tracking(cfg, output, args.detections, args.seqmap, args.out, args.category, args.calib,
                                 quiet=args.quiet)
        if args.quiet:  # the summary line is printed even then
            for cat, (frames, spent) in stats.items():
                print(f"{cat}: {frames} frames in {spent:.3f} s of tracking = {frames / max(spent, 1e-9):.0f} FPS",
                      flush=True)
    except (FusionError, OSError) as exc:
        print(f"fusion kitti track: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(track_main())
