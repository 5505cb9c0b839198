"""``fusion kitti eval``: score KITTI tracking results (CLEAR, HOTA, IDF1, sAMOTA/AMOTA/AMOTP).

Run as ``python -m fusion.kitti.cli eval --labels DIR --results DIR --seqmap FILE``; the
top-level ``fusion`` command forwards ``fusion kitti ...`` to :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from fusion.errors import FusionError
from fusion.kitti.io import CATEGORIES
from fusion.kitti.metrics import evaluate_kitti
from fusion.kitti.table import format_cell, render_table

__all__ = ["eval_main", "format_table", "main"]

_COLUMNS = [("HOTA", "%"), ("DetA", "%"), ("AssA", "%"), ("MOTA", "%"), ("MOTP", "%"), ("IDSW", "n"),
            ("FRAG", "n"), ("IDF1", "%"), ("sAMOTA", "%"), ("AMOTA", "%"), ("AMOTP", "%")]


def format_table(results: dict[str, dict[str, float]]) -> str:
    """Render per-category results as a fixed-width text table (ratios in percent)."""
    rows = [([cat], [format_cell(res.get(name), kind) for name, kind in _COLUMNS]) for cat, res in results.items()]
    return render_table([("category", 11)], [name for name, _ in _COLUMNS], rows)


def _jsonable(res: dict[str, dict[str, float]]) -> dict[str, Any]:
    def conv(v: object) -> object:
        if isinstance(v, (np.floating, float)):
            return None if np.isnan(v) else float(v)
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (list, tuple, np.ndarray)):
            return [conv(x) for x in v]
        return v
    return {c: {k: conv(v) for k, v in r.items()} for c, r in res.items()}


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fusion kitti",
        description="KITTI tracking benchmark tools.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser(
        "eval",
        help="score tracking results against KITTI label_02 ground truth",
        description=(
            "Score KITTI tracking results per category. CLEAR (MOTA, MOTP, IDSW, FRAG), HOTA (HOTA, DetA, "
            "AssA) and IDF1 use the KITTI 2D-box protocol as TrackEval applies it (2D IoU >= 0.5, Van / "
            "Person_sitting as distractors, DontCare regions, occlusion/truncation and 25 px height filters). "
            "sAMOTA, AMOTA, AMOTP follow AB3DMOT (3D IoU >= 0.25, 40 recall points, thresholds on the "
            "per-track mean score). Ratios are printed in percent."),
    )
    sub.add_parser("track", add_help=False,
                   help="run the 3D multi-object tracker on KITTI detections (fusion kitti track --help)")
    e.add_argument("--labels", required=True, metavar="DIR",
                   help="folder of ground-truth label_02 files <seq>.txt")
    e.add_argument("--results", required=True, metavar="DIR",
                   help="folder of tracker results <seq>.txt (label_02 rows + a score column)")
    e.add_argument("--seqmap", required=True, metavar="FILE",
                   help="seqmap file, one 'seq empty first_frame n_frames' line per sequence")
    e.add_argument("--category", action="append", choices=CATEGORIES, metavar="{" + ",".join(CATEGORIES) + "}",
                   help="category to evaluate; repeat for several (default: all three)")
    e.add_argument("--json", metavar="OUT", help="also write all metrics (fractions) to this JSON file")
    e.add_argument("--no-3d", action="store_true", help="skip sAMOTA/AMOTA/AMOTP (faster)")
    e.add_argument("--min-iou-3d", type=float, default=0.25, metavar="IOU",
                   help="3D IoU threshold for sAMOTA/AMOTA/AMOTP (default: 0.25, as AB3DMOT)")
    return p


def eval_main(argv: list[str] | None = None) -> int:
    """Entry point of ``fusion kitti eval`` (``argv`` excludes the ``eval`` word itself).

    Prints a per-category table and returns 0; returns 2 on unreadable or malformed input.
    """
    args = _build_parser().parse_args(["eval"] + list(sys.argv[1:] if argv is None else argv))
    cats = args.category or list(CATEGORIES)
    t0 = time.perf_counter()
    try:
        res = evaluate_kitti(args.labels, args.results, args.seqmap, cats,
                             metrics_3d=not args.no_3d, min_iou_3d=args.min_iou_3d)
    except (FusionError, OSError) as exc:
        print(f"fusion kitti eval: error: {exc}", file=sys.stderr)
        return 2
    print(format_table(res))
    print(f"({time.perf_counter() - t0:.1f} s)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(_jsonable(res), fh, indent=2)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``fusion kitti <command> ...``: ``eval`` (score results) or ``track`` (run the tracker)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "eval":
        return eval_main(argv[1:])
    if argv and argv[0] == "track":
        from fusion.kitti.track import (
            track_main,  # imports the compiled core only when needed
        )

        return track_main(argv[1:])
    _build_parser().parse_args(argv)  # prints usage / help and exits
    return 2


if __name__ == "__main__":
    sys.exit(main())
