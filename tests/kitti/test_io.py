"""Round trips and error messages of fusion.kitti.io."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusion.errors import DecodeError
from fusion.geometry.projection import camera_box_corners
from fusion.kitti.io import (
    camera_box_to_generic,
    generic_to_camera_box,
    read_calib,
    read_detections,
    read_labels,
    read_seqmap,
    write_results,
)

ROW = "3 7 Car 0 1 -1.5 100.5 120.25 300.0 250.0 1.5 1.6 3.9 2.0 1.7 15.0 0.3"


def test_labels_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text(ROW + "\n\n" + ROW.replace("3 7", "4 8") + " 0.75\n")
    rows = read_labels(p)
    assert len(rows) == 2 and rows.line.tolist() == [1, 3]
    assert np.isnan(rows.score[0]) and rows.score[1] == 0.75
    assert rows.bbox[0].tolist() == [100.5, 120.25, 300.0, 250.0]
    out = tmp_path / "b.txt"
    write_results(out, rows)
    back = read_labels(out)
    assert back.score.tolist() == [1.0, 0.75]
    for name in ("frame", "track_id", "occluded", "truncated"):
        np.testing.assert_array_equal(getattr(back, name), getattr(rows, name))
    np.testing.assert_allclose(back.camera_boxes(), rows.camera_boxes(), atol=1e-6)
    assert all(len(line.split()) == 18 for line in out.read_text().splitlines())


@pytest.mark.parametrize("text, line, needle", [
    (ROW + "\n3 7 Car 0 1\n", 2, "expected 17 or 18"),
    ("\n" + ROW.replace("15.0", "abc") + "\n", 2, "z: expected a number"),
    (ROW.replace("3 7", "3.5 7") + "\n", 1, "frame: expected an integer"),
])
def test_labels_errors(tmp_path: Path, text: str, line: int, needle: str) -> None:
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(DecodeError) as ei:
        read_labels(p)
    assert f"{p}:{line}:" in str(ei.value) and needle in str(ei.value)


def test_detections(tmp_path: Path) -> None:
    p = tmp_path / "d.txt"
    p.write_text("0,2,298.3,165.1,458.2,293.4,8.29,1.96,1.81,4.75,-4.57,1.84,13.53,-2.11,-1.78\n")
    d = read_detections(p)
    assert d.category.tolist() == [2] and d.score[0] == pytest.approx(8.29)
    assert d.generic_boxes().shape == (1, 7)
    p.write_text(p.read_text() + "1,5,1,2,3,4,5,6,7,8,9,10,11,12,13\n")
    with pytest.raises(DecodeError, match=rf"{p}:2: type"):
        read_detections(p)
    p.write_text("1,2,3\n")
    with pytest.raises(DecodeError, match=rf"{p}:1: expected 15"):
        read_detections(p)
    # review: a negative frame was read, then silently dropped by the per-frame split
    p.write_text("0,2,298.3,165.1,458.2,293.4,8.29,1.96,1.81,4.75,-4.57,1.84,13.53,-2.11,-1.78\n"
                 "-1,2,298.3,165.1,458.2,293.4,8.29,1.96,1.81,4.75,-4.57,1.84,13.53,-2.11,-1.78\n")
    with pytest.raises(DecodeError, match=rf"{p}:2: frame: expected >= 0, got -1"):
        read_detections(p)


def test_calib_and_seqmap(tmp_path: Path) -> None:
    c = tmp_path / "c.txt"
    p2 = "721.5 0 609.6 44.9 0 721.5 172.9 0.2 0 0 1 0.003"
    c.write_text(f"P2: {p2}\nR0_rect: 1 0 0 0 1 0 0 0 1\nTr_velo_cam 0 -1 0 0 0 0 -1 0 1 0 0 0\n")
    cal = read_calib(c)
    assert cal.P2.shape == (3, 4) and cal.R_rect.shape == (3, 3) and cal.Tr_velo_cam[0, 1] == -1
    c.write_text("P2: 1 2 3\n")
    with pytest.raises(DecodeError, match=rf"{c}:1: P2: expected 12"):
        read_calib(c)
    s = tmp_path / "s.txt"
    s.write_text("0000 empty 000000 000154\n0002 empty 000000 000233\n")
    assert [(e.name, e.n_frames) for e in read_seqmap(s)] == [("0000", 154), ("0002", 233)]
    s.write_text("0000 empty\n")
    with pytest.raises(DecodeError, match=rf"{s}:1:"):
        read_seqmap(s)


def test_box_conversion_round_trip() -> None:
    rng = np.random.default_rng(0)
    cam = np.column_stack([rng.uniform(1, 3, (50, 3)), rng.uniform(-10, 10, (50, 3)), rng.uniform(-3, 3, 50)])
    gen = camera_box_to_generic(cam)
    back = generic_to_camera_box(gen)
    np.testing.assert_allclose(back[:, :6], cam[:, :6], atol=1e-12)
    np.testing.assert_allclose(np.cos(back[:, 6] - cam[:, 6]), 1.0, atol=1e-12)
    # centre: camera y is the bottom, the generic z is the centre and points up
    np.testing.assert_allclose(gen[:, 2], -(cam[:, 4] - cam[:, 0] / 2))
    # heading: generic yaw axis equals the camera length axis (from the corners) mapped to z-up
    corners = camera_box_corners(cam)
    axis_cam = corners[:, 0] - corners[:, 3]  # along +length
    axis_gen = np.column_stack([axis_cam[:, 2], -axis_cam[:, 0]])
    np.testing.assert_allclose(np.arctan2(axis_gen[:, 1], axis_gen[:, 0]), gen[:, 3], atol=1e-9)


def test_non_finite_occluded_is_a_decode_error(tmp_path):
    from fusion.errors import DecodeError
    from fusion.kitti.io import read_labels

    for bad in ("nan", "inf"):
        p = tmp_path / f"lab_{bad}.txt"
        p.write_text(f"0 1 Car 0 {bad} 0 0 0 10 10 1 1 1 0 0 5 0\n")
        with pytest.raises(DecodeError, match=r"lab_.*:1: occluded"):
            read_labels(p)


def test_class_table_matches_the_detection_files(kitti_train: Path) -> None:
    # each detections/<detector>_<Type>/ folder holds only its own type code
    from fusion.kitti.io import CATEGORIES, CATEGORY_IDS, DETECTION_TYPES, KITTI_CLASSES

    assert CATEGORIES == ("car", "pedestrian", "cyclist")
    for cls in KITTI_CLASSES:
        assert CATEGORY_IDS[cls.category] == cls.code and DETECTION_TYPES[cls.code] == cls.type_name
        d = read_detections(kitti_train / "detections" / f"pointrcnn_{cls.type_name}" / "0000.txt")
        assert len(d) > 0 and set(d.category.tolist()) == {cls.code}
