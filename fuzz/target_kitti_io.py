"""Fuzz target: arbitrary bytes read by the KITTI file readers (fusion.kitti.io: label_02 /
tracker results, detections, camera detections, calibration, seqmap; the first byte picks one).

Documented: DecodeError naming file and line. Checks: rows read have finite numbers where the
format requires them (frames >= 0, box sizes finite and >= 0 on labelled objects)."""

from __future__ import annotations

import numpy as np

from fusion.kitti import io

from fuzz_harness import Target, write_input


def run(data: bytes) -> None:
    which = data[0] % 5 if data else 0
    path = write_input("input.txt", data[1:])
    if which == 0:
        rows = io.read_labels(path)
        assert (rows.frame >= 0).all()
        care = rows.type != "DontCare"
        assert np.isfinite(rows.dims[care]).all() and (rows.dims[care] >= 0).all(), rows.dims
        assert np.isfinite(rows.loc[care]).all(), rows.loc
    elif which == 1:
        io.read_detections(path)
    elif which == 2:
        io.read_camera_detections(path)
    elif which == 3:
        c = io.read_calib(path)
        for v in vars(c).values():
            if isinstance(v, np.ndarray):
                assert np.isfinite(v).all(), c
    else:
        io.read_seqmap(path)


TARGET = Target("kitti_io", run)
