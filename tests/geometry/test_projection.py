"""fusion.geometry.projection: corners in both conventions, pinhole projection, near-plane
clipping; parity with the previous KITTI implementation and agreement with KITTI's own 2D boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.geometry.projection import (
    BOX_EDGES,
    box_corners,
    camera_box_corners,
    image_box_of_corners,
    project_camera_boxes,
    project_points,
)
from fusion.kitti.io import camera_box_to_generic, read_calib, read_labels

F = 100.0
P_SIMPLE = np.array([[F, 0, 0, 0], [0, F, 0, 0], [0, 0, 1, 0]], np.float64)  # focal 100 px, centre (0, 0)


def test_box_corners_hand_computed() -> None:
    # heading +y (yaw pi/2): +length is +y, +width (left of the heading) is -x
    c = box_corners([1.0, 2.0, 3.0, np.pi / 2, 4.0, 2.0, 6.0])
    expected_xy = [(0, 4), (2, 4), (2, 0), (0, 0)]
    np.testing.assert_allclose(c[0, :4, :2], expected_xy, atol=1e-12)
    np.testing.assert_allclose(c[0, 4:, :2], expected_xy, atol=1e-12)
    np.testing.assert_allclose(c[0, :, 2], [0] * 4 + [6] * 4, atol=1e-12)


def test_camera_box_corners_hand_computed() -> None:
    # ry = 0: length along camera +x, width along +z, bottom at y = 1, top at y = 1 - h (y down)
    c = camera_box_corners([[2.0, 1.0, 4.0, 0.0, 1.0, 10.0, 0.0]])
    np.testing.assert_allclose(c[0, :4], [(2, 1, 10.5), (2, 1, 9.5), (-2, 1, 9.5), (-2, 1, 10.5)], atol=1e-12)
    np.testing.assert_allclose(c[0, 4:], [(2, -1, 10.5), (2, -1, 9.5), (-2, -1, 9.5), (-2, -1, 10.5)], atol=1e-12)


def test_conventions_give_the_same_corners() -> None:
    # a KITTI box and its z-up conversion have the same corners, in the same order, once the
    # camera corners are mapped to the z-up axes X = z_cam, Y = -x_cam, Z = -y_cam
    rng = np.random.default_rng(4)
    cam = np.column_stack([rng.uniform(1, 3, (40, 3)), rng.uniform(-10, 10, (40, 3)), rng.uniform(-3, 3, 40)])
    cc = camera_box_corners(cam)
    mapped = np.stack([cc[..., 2], -cc[..., 0], -cc[..., 1]], axis=-1)
    np.testing.assert_allclose(box_corners(camera_box_to_generic(cam)), mapped, atol=1e-12)


def test_project_points() -> None:
    uv, depth = project_points([[1.0, 2.0, 10.0], [1.0, 2.0, -10.0], [0.0, 0.0, 0.0]], P_SIMPLE)
    np.testing.assert_allclose(uv[0], [10.0, 20.0])
    assert np.isnan(uv[1:]).all()                    # behind the camera, and on its plane
    np.testing.assert_allclose(depth, [10.0, -10.0, 0.0])
    uv, depth = project_points(np.zeros((2, 3, 3)) + [0, 0, 5.0], P_SIMPLE)
    assert uv.shape == (2, 3, 2) and depth.shape == (2, 3)


def _cube(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> np.ndarray:
    # corners in the documented order (bottom face y1 .. then top face y0; any consistent
    # ordering of the faces works for an axis-aligned box)
    face = [(x1, z1), (x1, z0), (x0, z0), (x0, z1)]
    return np.array([[(x, y1, z) for x, z in face] + [(x, y0, z) for x, z in face]], np.float64)


def test_image_box_in_front_straddling_and_behind() -> None:
    front = _cube(-1, 1, -1, 1, 9, 11)
    np.testing.assert_allclose(image_box_of_corners(front, P_SIMPLE)[0], [-F / 9, -F / 9, F / 9, F / 9])
    # from z = -1 to z = 3: only z in [near, 3] is visible; the nearest visible points are the
    # crossings of the 4 z-edges with the near plane, at x, y = +-1
    straddle = _cube(-1, 1, -1, 1, -1, 3)
    np.testing.assert_allclose(image_box_of_corners(straddle, P_SIMPLE, near=0.5)[0], [-2 * F, -2 * F, 2 * F, 2 * F])
    np.testing.assert_allclose(image_box_of_corners(straddle, P_SIMPLE, near=1.0)[0], [-F, -F, F, F])
    behind = _cube(-1, 1, -1, 1, -5, -1)
    assert np.isnan(image_box_of_corners(behind, P_SIMPLE)).all()
    both = np.concatenate([front, behind, straddle])
    clipped = image_box_of_corners(both, P_SIMPLE, image_size=(50, 40), near=1.0)
    np.testing.assert_allclose(clipped[0], [0, 0, F / 9, F / 9])
    assert np.isnan(clipped[1]).all()
    np.testing.assert_allclose(clipped[2], [0, 0, 49, 39])
    assert image_box_of_corners(np.zeros((0, 8, 3)), P_SIMPLE).shape == (0, 4)


def test_bad_input() -> None:
    with pytest.raises(ShapeError, match=r"P: expected shape \(3, 4\)"):
        project_points([0.0, 0.0, 1.0], np.eye(3))
    with pytest.raises(ShapeError, match=r"points: expected shape \(\.\.\., 3\)"):
        project_points([0.0, 1.0], P_SIMPLE)
    with pytest.raises(NumericalError, match="points"):
        project_points([0.0, np.nan, 1.0], P_SIMPLE)
    with pytest.raises(ShapeError, match=r"corners: expected shape \(n, 8, 3\)"):
        image_box_of_corners(np.zeros((2, 4, 3)), P_SIMPLE)
    with pytest.raises(ConfigurationError, match="near"):
        image_box_of_corners(np.zeros((1, 8, 3)), P_SIMPLE, near=-0.1)
    with pytest.raises(ShapeError, match=r"boxes: expected a box \(7,\) or boxes \(n, 7\) as \(h, w, l"):
        camera_box_corners(np.zeros((3, 6)))
    with pytest.raises(NumericalError, match="boxes: box 1"):
        box_corners([[0, 0, 0, 0, 1, 1, 1], [0, 0, np.inf, 0, 1, 1, 1]])


def _previous_projection(boxes: np.ndarray, P: np.ndarray, image_size, near: float = 0.1) -> np.ndarray:
    """The per-box loop that ``fusion.kitti.io.project_boxes_to_image`` ran before the move (oracle)."""
    corners = camera_box_corners(boxes)
    out = np.full((len(corners), 4), np.nan)
    for i, cs in enumerate(corners):
        pts = [p for p in cs if p[2] >= near]
        for a, b in BOX_EDGES:
            za, zb = cs[a, 2], cs[b, 2]
            if (za - near) * (zb - near) < 0:
                t = (near - za) / (zb - za)
                pts.append(cs[a] + t * (cs[b] - cs[a]))
        if not pts:
            continue
        ph = np.column_stack([np.asarray(pts), np.ones(len(pts))]) @ P.T
        uv = ph[:, :2] / ph[:, 2:3]
        out[i] = [uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()]
    if image_size is not None:
        wd, ht = image_size
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, wd - 1)
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, ht - 1)
    return out


@pytest.mark.parametrize("seq", ["0000", "0017"])
def test_parity_with_previous_kitti_projection(kitti_train: Path, seq: str) -> None:
    rows = read_labels(kitti_train / "labels" / f"{seq}.txt")
    cal = read_calib(kitti_train / "calib" / f"{seq}.txt")
    boxes = rows.camera_boxes()
    moved = boxes.copy()
    moved[:, 5] = np.random.default_rng(int(seq)).uniform(-5.0, 5.0, len(boxes))  # in front, across, behind
    for b in (boxes, moved):
        for size in (None, (1242, 375)):
            new = project_camera_boxes(b, cal.P2, size)
            np.testing.assert_array_equal(new, _previous_projection(b, cal.P2, size))  # bit for bit, NaN rows too
    assert np.isnan(project_camera_boxes(moved, cal.P2)).any(axis=1).sum() > 10


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area - inter)


def test_projected_labels_match_their_2d_boxes(kitti_train: Path) -> None:
    # KITTI's 2D boxes are (nearly) the image boxes of the 3D boxes. Measured on the 10 training
    # sequences, 9828 untruncated, unoccluded object boxes: median coordinate error 0.29 px,
    # 90th percentile 1.41 px; median IoU 0.975, 91.7 % of the boxes at IoU >= 0.9, 98.2 % >= 0.7.
    errs, ious = [], []
    for path in sorted((kitti_train / "labels").glob("*.txt")):
        rows = read_labels(path)
        cal = read_calib(kitti_train / "calib" / path.name)
        sel = (rows.track_id >= 0) & (rows.truncated == 0) & (rows.occluded == 0)
        proj = project_camera_boxes(rows.camera_boxes()[sel], cal.P2, image_size=(1242, 375))
        errs.append(np.abs(proj - rows.bbox[sel]))
        ious.append(_pair_iou(proj, rows.bbox[sel]))
    err = np.concatenate(errs)
    iou = np.concatenate(ious)
    assert len(iou) > 9000
    assert np.median(err) < 0.5 and np.percentile(err, 90) < 2.0
    assert np.median(iou) > 0.96 and np.mean(iou >= 0.9) > 0.9 and np.mean(iou >= 0.7) > 0.97
