"""Smoke test of ``scripts/camera_lidar_study.py`` on one short KITTI sequence (0017, 145 frames)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from fusion.kitti.track import KITTI_CONFIG, KITTI_OUTPUT, track_sequence
from fusion.tracking import Tracker

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "camera_lidar_study.py"
SEQ, N_FRAMES = "0017", 145


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("camera_lidar_study", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the script is executed
    try:
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        yield mod
    finally:
        sys.modules.pop(spec.name, None)


def test_helpers(study) -> None:
    ev = study.camera_evidence(np.array([0.0, 0.5, 1.0]), "car")
    assert ev[0] == pytest.approx(math.log(0.1 / 0.9))  # below the floor counts as the floor
    assert ev[1] == pytest.approx(0.0)
    assert ev[2] == pytest.approx(math.log(0.99 / 0.01))  # saturated scores are capped
    tracks = np.array([[0, 0, 10, 10], [100, 100, 120, 130], [np.nan] * 4])
    cams = np.array([[101, 99, 121, 131], [1, 1, 11, 11], [300, 0, 310, 10]])
    assert study.associate(tracks, cams).tolist() == [1, 0, -1]


def test_variant_a_is_the_shipped_tracker(study, kitti_train: Path) -> None:
    seq = study.load_sequence(kitti_train, SEQ, N_FRAMES, "pedestrian")
    frames, _ = study.run_lidar(seq)
    min_score = KITTI_OUTPUT["min_output_score"]["pedestrian"]
    rows, _, tags = study.fuse_sequence(seq, frames, study.VARIANTS[0], min_score)
    ref, _ = track_sequence(Tracker(KITTI_CONFIG), seq.lidar, seq.lidar_bbox, 1, seq.P2, KITTI_OUTPUT)
    assert len(rows) == len(ref) > 0
    np.testing.assert_array_equal(rows.frame, ref.frame)
    np.testing.assert_array_equal(rows.track_id, ref.track_id)
    np.testing.assert_allclose(rows.bbox, ref.bbox)
    np.testing.assert_allclose(rows.score, ref.score)
    assert set(tags) == {"lidar"}
    # the camera variants keep the lidar rows' 3D boxes and add camera boxes
    b = next(v for v in study.VARIANTS if v.key == "b")
    rows_b, st, _ = study.fuse_sequence(seq, frames, b, min_score)
    assert st.camera_box_rows > 0
    np.testing.assert_allclose(rows_b.loc, rows.loc)


def test_main_writes_table_and_json(study, kitti_train: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "study.json"
    rc = study.main(
        [
            "--kitti",
            str(kitti_train),
            "--seqs",
            SEQ,
            "--category",
            "pedestrian",
            "--no-3d",
            "--quiet",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "HOTA" in text and "pedestrian" in text and "noise" in text
    data = json.loads(out.read_text())
    ped = data["categories"]["pedestrian"]
    assert list(ped["variants"]) == list(study.VARIANT_KEYS)
    for key, m in ped["variants"].items():
        for metric in ("HOTA", "DetA", "AssA", "LocA", "MOTA"):
            assert 0.0 <= m[metric] <= 1.0 or metric == "MOTA", (key, metric)
        assert m["IDSW"] >= 0
    assert ped["noise"]["camera"]["all"]["n"] > 0 and ped["noise"]["lidar"]["all"]["n"] > 0
    assert ped["coverage"]["all"]["n"] > 0
