"""KITTI tracking benchmark support: file I/O, box conversions and evaluation.

- :mod:`fusion.kitti.io`: ``label_02`` / detection / calib / seqmap readers, results writer,
  KITTI camera box <-> generic z-up box conversion (corners and image projection of boxes are
  in :mod:`fusion.geometry.projection`).
- :mod:`fusion.kitti.protocol`, :mod:`fusion.kitti.metrics`: the KITTI 2D protocol
  (TrackEval-compatible) feeding the generic CLEAR, HOTA and Identity metrics of
  :mod:`fusion.metrics`, and sAMOTA/AMOTA/AMOTP (:mod:`fusion.kitti.amota`, AB3DMOT 3D
  protocol; 3D IoU from :mod:`fusion.geometry`, the C++ box overlap).
- :mod:`fusion.kitti.track`, :mod:`fusion.kitti.cli`, :mod:`fusion.kitti.report`: ``fusion kitti
  track``, ``fusion kitti eval`` and the ours-vs-baseline table.
"""

from fusion.kitti.io import (
    Calib,
    Detections,
    SeqmapEntry,
    TrackRows,
    camera_box_to_generic,
    generic_to_camera_box,
    read_calib,
    read_detections,
    read_labels,
    read_seqmap,
    write_results,
)
from fusion.kitti.metrics import evaluate_kitti, evaluate_sequences

__all__ = [
    "Calib",
    "Detections",
    "SeqmapEntry",
    "TrackRows",
    "camera_box_to_generic",
    "evaluate_kitti",
    "evaluate_sequences",
    "generic_to_camera_box",
    "read_calib",
    "read_detections",
    "read_labels",
    "read_seqmap",
    "write_results",
]
