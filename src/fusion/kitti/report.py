"""``python -m fusion.kitti.report``: our tracker vs the AB3DMOT-style baseline on KITTI.

Runs ``fusion kitti track`` and ``fusion kitti eval`` for the three categories, for our
configuration (default: the shipped ``pointrcnn.toml``) and for ``--baseline ab3dmot``, and
prints one comparison table plus the tracking FPS::

    python -m fusion.kitti.report --kitti /path/to/kitti-train [--config FILE] [--work DIR]
        [--camera-detections DIR [--camera-config FILE]]

``--kitti`` is a folder with ``detections/``, ``labels/``, ``calib/`` and the seqmap
``evaluate_tracking.seqmap.train`` (or give ``--seqmap``). Evaluation procedure (as AB3DMOT
reports its numbers): HOTA, DetA, AssA, MOTA and IDSW are computed on the output after the
configured per-category ``min_output_score``; sAMOTA and AMOTA sweep score thresholds
themselves and are computed on the unthresholded output (``--all-scores``). The baseline
writes every track, so both come from the same output there.

With ``--camera-detections DIR`` (e.g. ``KITTI/detections``, which holds ``rrc_Car`` and
``rrc_Pedestrian``) the table also has a ``camera+lidar`` row per category: ``fusion kitti track
--camera-detections DIR`` evaluated the same way (categories without camera detections, cyclist,
are the lidar-only tracker there), and its difference to ours.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from fusion.kitti.io import CATEGORIES
from fusion.kitti.metrics import evaluate_kitti
from fusion.kitti.table import format_cell, render_table
from fusion.kitti.track import config_for, run_tracking

__all__ = ["compare", "report_main"]

COLUMNS = ("HOTA", "DetA", "AssA", "MOTA", "IDSW", "sAMOTA", "AMOTA")
_KIND = {c: "n" if c == "IDSW" else "%" for c in COLUMNS}


def _evaluate(kitti: Path, seqmap: Path, out: Path, cats: list[str], metrics_3d: bool) -> dict[str, Any]:
    return {c: evaluate_kitti(kitti / "labels", out / c, seqmap, [c], metrics_3d=metrics_3d)[c] for c in cats}


def compare(kitti: str | Path, seqmap: str | Path | None = None, config: str | None = None,
            work: str | Path | None = None, categories: list[str] | None = None,
            camera: str | Path | None = None, camera_config: str | None = None,
            camera_stage: str = "engine") -> dict[str, Any]:
    """Returns {"ours"|"baseline"[|"camera"]: {category: {metric: value}}, "fps": {...}}."""
    kitti = Path(kitti)
    seqmap = Path(seqmap) if seqmap else kitti / "evaluate_tracking.seqmap.train"
    cats = list(categories or CATEGORIES)
    tmp = tempfile.TemporaryDirectory() if work is None else None
    root = Path(work) if work is not None else Path(tmp.name)  # type: ignore[union-attr]
    res: dict[str, Any] = {"ours": {}, "baseline": {}, "fps": {}}
    try:
        det, calib = kitti / "detections", str(kitti / "calib")
        # ours: thresholded output for the 2D metrics, unthresholded for the score sweeps
        cfg, output = config_for(config, None)
        stats = run_tracking(cfg, output, det, seqmap, root / "ours", cats, calib)
        cfg, output = config_for(config, None, all_scores=True)
        run_tracking(cfg, output, det, seqmap, root / "ours_all", cats, calib)
        thr = _evaluate(kitti, seqmap, root / "ours", cats, metrics_3d=False)
        alls = _evaluate(kitti, seqmap, root / "ours_all", cats, metrics_3d=True)
        for c in cats:
            res["ours"][c] = {k: thr[c][k] for k in COLUMNS[:5]} | {k: alls[c][k] for k in COLUMNS[5:]}
        frames = sum(f for f, _ in stats.values())
        res["fps"]["ours"] = frames / max(sum(s for _, s in stats.values()), 1e-9)
        if camera is not None:
            from fusion.kitti.fusion_track import run_camera_tracking

            res["camera"] = {}
            cfg, output = config_for(config, None)
            stats = run_camera_tracking(cfg, output, det, camera, seqmap, root / "camera", cats, calib, camera_config,
                                        camera_stage)
            cfg, output = config_for(config, None, all_scores=True)
            run_camera_tracking(cfg, output, det, camera, seqmap, root / "camera_all", cats, calib, camera_config,
                                camera_stage)
            thr = _evaluate(kitti, seqmap, root / "camera", cats, metrics_3d=False)
            alls = _evaluate(kitti, seqmap, root / "camera_all", cats, metrics_3d=True)
            for c in cats:
                res["camera"][c] = {k: thr[c][k] for k in COLUMNS[:5]} | {k: alls[c][k] for k in COLUMNS[5:]}
            frames = sum(f for f, _ in stats.values())
            res["fps"]["camera"] = frames / max(sum(s for _, s in stats.values()), 1e-9)
        cfg, output = config_for(None, "ab3dmot")
        stats = run_tracking(cfg, output, det, seqmap, root / "baseline", cats, calib)
        base = _evaluate(kitti, seqmap, root / "baseline", cats, metrics_3d=True)
        for c in cats:
            res["baseline"][c] = {k: base[c][k] for k in COLUMNS}
        frames = sum(f for f, _ in stats.values())
        res["fps"]["baseline"] = frames / max(sum(s for _, s in stats.values()), 1e-9)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return res


def format_comparison(res: dict[str, Any]) -> str:
    """The comparison table of :func:`compare` (ratios in percent) plus the FPS line."""
    rows = []
    for cat in res["ours"]:
        for who in ("ours", "baseline"):
            rows.append(([cat, who], [format_cell(res[who][cat][c], _KIND[c]) for c in COLUMNS]))
        d, b = res["ours"][cat], res["baseline"][cat]
        rows.append(([cat, "delta"], [format_cell(d[c] - b[c], _KIND[c], signed=True) for c in COLUMNS]))
        if "camera" in res:
            m = res["camera"][cat]
            rows.append(([cat, "camera+lidar"], [format_cell(m[c], _KIND[c]) for c in COLUMNS]))
            rows.append(([cat, "cam - ours"], [format_cell(m[c] - d[c], _KIND[c], signed=True) for c in COLUMNS]))
    lines = [render_table([("category", 11), ("tracker", 12 if "camera" in res else 10)], COLUMNS, rows)]
    lines.append(f"tracking FPS (frames / s inside Tracker.step, all categories): ours {res['fps']['ours']:.0f}, "
                 f"baseline {res['fps']['baseline']:.0f}"
                 + (f", camera+lidar {res['fps']['camera']:.0f} (the camera+lidar stage)" if "camera" in res else ""))
    return "\n".join(lines)


def report_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fusion.kitti.report", description=__doc__.split("\n\n")[0])
    p.add_argument("--kitti", required=True, metavar="DIR", help="folder with detections/, labels/, calib/")
    p.add_argument("--seqmap", metavar="FILE", help="default: DIR/evaluate_tracking.seqmap.train")
    p.add_argument("--config", metavar="FILE", help="our tracker TOML (default: the shipped pointrcnn.toml)")
    p.add_argument("--work", metavar="DIR", help="keep the result files here (default: a temporary folder)")
    p.add_argument("--category", action="append", choices=CATEGORIES, help="default: all three")
    p.add_argument("--json", metavar="OUT", help="also write the numbers as JSON")
    p.add_argument("--camera-detections", metavar="DIR",
                   help="also run camera + lidar (folder of <name>_Car/<name>_Pedestrian camera detection folders)")
    p.add_argument("--camera-config", metavar="FILE",
                   help="camera + lidar TOML (default: the shipped pointrcnn_rrc.toml)")
    p.add_argument("--camera-stage", choices=["engine", "tracker"], default="engine",
                   help="the engine (default) or the lidar Tracker + Python camera stage")
    args = p.parse_args(argv)
    res = compare(args.kitti, args.seqmap, args.config, args.work, args.category, args.camera_detections,
                  args.camera_config, args.camera_stage)
    print(format_comparison(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(report_main())
