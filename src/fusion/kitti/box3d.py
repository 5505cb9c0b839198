"""Intersection over union of oriented 3D boxes (pure numpy / Python polygon clipping).

Boxes are the project's generic boxes ``(x, y, z, yaw, l, w, h)``: centre (metres) in a z-up
frame, yaw of the length axis about z (radians, counter-clockwise from x), length ``l`` along
the heading, width ``w``, height ``h`` (metres).  A box is a rectangle ``l x w`` in the ground
(x, y) plane extruded over ``z - h/2 .. z + h/2``, so

    IoU3D = area(A_bev & B_bev) * overlap_z / (vol A + vol B - intersection volume)

with the footprint intersection computed exactly by Sutherland-Hodgman clipping of the two
convex rectangles.  (KITTI camera boxes convert with :func:`fusion.kitti.io.camera_box_to_generic`.)
"""

from __future__ import annotations

import numpy as np

from fusion.errors import ShapeError

__all__ = ["bev_corners", "convex_polygon_area", "convex_polygon_intersection", "iou_bev", "iou_3d"]


def bev_corners(boxes: np.ndarray) -> np.ndarray:
    """(N, 4, 2) footprint corners (metres), counter-clockwise, of generic boxes ``(N, 7)``."""
    b = np.asarray(boxes, np.float64).reshape(-1, 7)
    x, y, yaw, l, w = b[:, 0], b[:, 1], b[:, 3], b[:, 4], b[:, 5]
    sl = np.array([0.5, -0.5, -0.5, 0.5])
    sw = np.array([0.5, 0.5, -0.5, -0.5])
    dl = l[:, None] * sl
    dw = w[:, None] * sw
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    return np.stack([x[:, None] + c * dl - s * dw, y[:, None] + s * dl + c * dw], axis=-1)


def convex_polygon_area(poly: np.ndarray | list[tuple[float, float]]) -> float:
    """Signed area (shoelace; positive when counter-clockwise) of a polygon given as (K, 2) points."""
    p = np.asarray(poly, np.float64).reshape(-1, 2)
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _clip(subject: list[tuple[float, float]], clip: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = subject
    nc = len(clip)
    for k in range(nc):
        if not out:
            break
        ax, ay = clip[k]
        bx, by = clip[(k + 1) % nc]
        ex, ey = bx - ax, by - ay
        inp = out
        out = []
        px, py = inp[-1]
        pside = ex * (py - ay) - ey * (px - ax)
        for qx, qy in inp:
            qside = ex * (qy - ay) - ey * (qx - ax)
            if qside >= 0:
                if pside < 0:
                    t = pside / (pside - qside)
                    out.append((px + t * (qx - px), py + t * (qy - py)))
                out.append((qx, qy))
            elif pside >= 0:
                t = pside / (pside - qside)
                out.append((px + t * (qx - px), py + t * (qy - py)))
            px, py, pside = qx, qy, qside
    return out


def convex_polygon_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection polygon (K, 2) of two convex counter-clockwise polygons (Sutherland-Hodgman)."""
    pa = [tuple(p) for p in np.asarray(a, np.float64).reshape(-1, 2).tolist()]
    pb = [tuple(p) for p in np.asarray(b, np.float64).reshape(-1, 2).tolist()]
    res = _clip(pa, pb)
    return np.asarray(res, np.float64).reshape(-1, 2)


def _area(pts: list[tuple[float, float]]) -> float:
    n = len(pts)
    if n < 3:
        return 0.0
    s = 0.0
    for i in range(n):
        x0, y0 = pts[i]
        x1, y1 = pts[(i + 1) % n]
        s += x0 * y1 - x1 * y0
    return 0.5 * s


def _check(boxes: np.ndarray, name: str) -> np.ndarray:
    b = np.asarray(boxes, np.float64)
    if b.ndim == 1 and b.shape[0] == 7:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 7:
        raise ShapeError(f"{name}: expected shape (N, 7) as (x, y, z, yaw, l, w, h), got {np.shape(boxes)}")
    return b


def _bev_intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) footprint intersection areas (square metres)."""
    inter = np.zeros((len(a), len(b)))
    if len(a) == 0 or len(b) == 0:
        return inter
    ra = 0.5 * np.hypot(a[:, 4], a[:, 5])
    rb = 0.5 * np.hypot(b[:, 4], b[:, 5])
    d = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    cand = d < ra[:, None] + rb[None, :]
    if not cand.any():
        return inter
    ca = bev_corners(a).tolist()
    cb = bev_corners(b).tolist()
    for i, j in zip(*np.nonzero(cand)):
        poly = _clip([tuple(p) for p in ca[i]], [tuple(p) for p in cb[j]])
        inter[i, j] = max(_area(poly), 0.0)
    return inter


def iou_bev(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(N, M) bird's-eye-view IoU of the footprints of generic boxes (dimensionless, 0..1)."""
    a = _check(boxes_a, "boxes_a")
    b = _check(boxes_b, "boxes_b")
    inter = _bev_intersections(a, b)
    union = (a[:, 4] * a[:, 5])[:, None] + (b[:, 4] * b[:, 5])[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def iou_3d(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(N, M) 3D IoU of oriented generic boxes ``(x, y, z, yaw, l, w, h)`` (dimensionless, 0..1)."""
    a = _check(boxes_a, "boxes_a")
    b = _check(boxes_b, "boxes_b")
    inter = _bev_intersections(a, b)
    top = np.minimum(a[:, None, 2] + a[:, None, 6] / 2, b[None, :, 2] + b[None, :, 6] / 2)
    bot = np.maximum(a[:, None, 2] - a[:, None, 6] / 2, b[None, :, 2] - b[None, :, 6] / 2)
    inter_vol = inter * np.maximum(top - bot, 0.0)
    vol_a = a[:, 4] * a[:, 5] * a[:, 6]
    vol_b = b[:, 4] * b[:, 5] * b[:, 6]
    union = vol_a[:, None] + vol_b[None, :] - inter_vol
    return np.where(union > 0, inter_vol / np.where(union > 0, union, 1.0), 0.0)
