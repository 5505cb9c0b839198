"""KITTI tracking evaluation: CLEAR, HOTA and Identity (2D protocol) plus sAMOTA/AMOTA/AMOTP (3D).

Entry points:

- :func:`evaluate_sequences` scores in-memory :class:`~fusion.kitti.io.TrackRows`.
- :func:`evaluate_kitti` reads a ``label_02`` ground-truth folder, a results folder
  (``<seq>.txt`` per sequence, label_02 + score column) and a seqmap, then scores them.

Result per category is a flat dict of floats; ratios are fractions (1.0 = 100 %):
``HOTA, DetA, AssA, LocA, DetRe, DetPr, AssRe, AssPr`` (HOTA family, averaged over alpha),
``MOTA, MOTP, MODA, CLR_Re, CLR_Pr, CLR_TP, CLR_FN, CLR_FP, IDSW, FRAG, MT, PT, ML, MTR, PTR, MLR``
(CLEAR, 2D IoU >= 0.5), ``IDF1, IDR, IDP, IDTP, IDFN, IDFP`` (Identity) and
``sAMOTA, AMOTA, AMOTP, MOTA_best`` (3D IoU >= ``min_iou_3d``, 40 recall points).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import numpy as np

from fusion.errors import ConfigurationError
from fusion.kitti.amota import amota, prepare_3d
from fusion.kitti.io import CATEGORIES, SeqmapEntry, TrackRows, read_labels, read_seqmap
from fusion.kitti.protocol import preprocess_2d
from fusion.metrics import (
    clear_combine,
    clear_sequence,
    hota_combine,
    hota_sequence,
    identity_combine,
    identity_sequence,
)

__all__ = ["evaluate_kitti", "evaluate_sequences", "load_kitti"]


def evaluate_sequences(
    gt: Mapping[str, TrackRows],
    results: Mapping[str, TrackRows],
    n_frames: Mapping[str, int],
    categories: Iterable[str] = CATEGORIES,
    *,
    metrics_3d: bool = True,
    min_iou_3d: float = 0.25,
    num_recall: int = 41,
) -> dict[str, dict[str, float]]:
    """Score tracker results against ground truth, per category, combined over sequences.

    Args:
        gt: sequence name -> ground-truth rows.
        results: sequence name -> tracker rows (a missing sequence counts as no output).
        n_frames: sequence name -> number of frames; defines the evaluated sequences.
        categories: subset of ``("car", "pedestrian", "cyclist")``.
        metrics_3d: also compute sAMOTA/AMOTA/AMOTP (the slow part).
        min_iou_3d: 3D IoU threshold of the sAMOTA protocol (0.25 for all classes on KITTI).
        num_recall: number of recall sample points including recall 0 (41 -> 40 points).
    Returns:
        category -> metric name -> value (see module docstring).
    """
    cats = list(categories)
    for c in cats:
        if c not in CATEGORIES:
            raise ConfigurationError(f"categories: expected a subset of {CATEGORIES}, got {c!r}")
    empty = TrackRows.create([], [], [], np.zeros((0, 4)), np.zeros((0, 3)), np.zeros((0, 3)), [])
    out: dict[str, dict[str, float]] = {}
    for cat in cats:
        clr, hot, idn, seqs3d = [], [], [], []
        for name, nf in n_frames.items():
            if name not in gt:
                raise ConfigurationError(f"gt: no ground truth for sequence {name!r}")
            res = results.get(name, empty)
            data = preprocess_2d(gt[name], res, nf, cat, name)
            clr.append(clear_sequence(data))
            hot.append(hota_sequence(data))
            idn.append(identity_sequence(data))
            if metrics_3d:
                seqs3d.append(prepare_3d(gt[name], res, nf, cat, name))
        summary: dict[str, float] = {}
        summary.update(hota_combine(hot))
        summary.update(clear_combine(clr))
        summary.update(identity_combine(idn))
        if metrics_3d:
            summary.update(amota(seqs3d, min_iou_3d, num_recall))  # type: ignore[arg-type]
        out[cat] = summary
    return out


def load_kitti(
    labels_dir: str | os.PathLike[str],
    results_dir: str | os.PathLike[str],
    seqmap: str | os.PathLike[str] | list[SeqmapEntry],
    *,
    require_results: bool = True,
) -> tuple[dict[str, TrackRows], dict[str, TrackRows], dict[str, int]]:
    """Read ground truth, results and frame counts for the sequences of a seqmap.

    Raises:
        FileNotFoundError: a label file is missing, or a result file when ``require_results``.
        DecodeError: a malformed file (``path:line:`` in the message).
    """
    entries = read_seqmap(seqmap) if not isinstance(seqmap, list) else seqmap
    gt, res, nfr = {}, {}, {}
    for e in entries:
        gpath = os.path.join(labels_dir, f"{e.name}.txt")
        gt[e.name] = read_labels(gpath)
        rpath = os.path.join(results_dir, f"{e.name}.txt")
        if os.path.exists(rpath):
            res[e.name] = read_labels(rpath)
        elif require_results:
            raise FileNotFoundError(f"results: missing {rpath} for sequence {e.name} of the seqmap")
        nfr[e.name] = e.n_frames
    return gt, res, nfr


def evaluate_kitti(
    labels_dir: str | os.PathLike[str],
    results_dir: str | os.PathLike[str],
    seqmap: str | os.PathLike[str],
    categories: Iterable[str] = CATEGORIES,
    **kwargs: object,
) -> dict[str, dict[str, float]]:
    """Read KITTI folders (see :func:`load_kitti`) and score them with :func:`evaluate_sequences`."""
    gt, res, nfr = load_kitti(labels_dir, results_dir, seqmap)
    return evaluate_sequences(gt, res, nfr, categories, **kwargs)  # type: ignore[arg-type]
