"""3D box corners and pinhole projection of points and boxes to image boxes.

Two box conventions, one function each for the corners:

- :func:`box_corners`: the library's boxes ``(x, y, z, yaw, l, w, h)`` (as in
  :mod:`fusion.geometry.box_overlap`): z UP, ``(x, y, z)`` the box CENTRE, ``yaw`` the heading
  of the length axis counter-clockwise from +x (radians), sizes in metres.
- :func:`camera_box_corners`: KITTI camera boxes ``(h, w, l, x, y, z, ry)`` (the column order
  of a KITTI ``label_02`` row): camera frame with x right, y DOWN, z forward, ``(x, y, z)``
  the centre of the BOTTOM face, ``ry`` the yaw about the camera y axis (radians), sizes in
  metres.

Both return ``(n, 8, 3)`` corners in the same order: corners 0-3 are the bottom face, 4-7
the top face, corner ``i + 4`` above corner ``i``; going round a face, the corners are at
(length, width) offsets ``(+l/2, +w/2), (+l/2, -w/2), (-l/2, -w/2), (-l/2, +w/2)`` where +width
is to the left of the heading (z-up) or, for KITTI, towards ``+z`` at ``ry = 0``.  A KITTI box
converted to the library convention (``fusion.kitti.io.camera_box_to_generic``) has the same
corners, mapped ``X = z_cam, Y = -x_cam, Z = -y_cam``.

Projection (:func:`project_points`, :func:`image_box_of_corners`, :func:`project_camera_boxes`)
takes a 3x4 pinhole projection matrix ``P`` (pixels per metre, e.g. KITTI's ``P2``) acting on
points of a frame whose z axis is the optical axis (for KITTI: the rectified camera-0 frame).
``P`` maps ``(x, y, z, 1)`` to ``(u w, v w, w)``; ``w`` is the depth along the optical axis.

Behind-camera handling: :func:`project_points` returns NaN pixels for points with ``w <= 0``.
:func:`image_box_of_corners` first clips each box against the plane ``z = near`` (metres): the
corners in front of it are kept and every box edge that crosses it adds its crossing point, so
a box partly behind the camera gets the image box of its visible part and a box entirely
behind it gets a NaN row.  With ``image_size`` the box is then clipped to the image (a box
wholly outside the image collapses onto the border; it is not dropped).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fusion.errors import ConfigurationError, NumericalError, ShapeError

__all__ = [
    "BOX_EDGES",
    "box_corners",
    "camera_box_corners",
    "image_box_of_corners",
    "project_camera_boxes",
    "project_points",
]

#: The 12 edges of a box as pairs of corner indices (bottom face, top face, verticals).
BOX_EDGES = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4],
                      [0, 4], [1, 5], [2, 6], [3, 7]])

_LEN = np.array([1, 1, -1, -1, 1, 1, -1, -1]) * 0.5    # length offset of each corner (fraction of l)
_WID = np.array([1, -1, -1, 1, 1, -1, -1, 1]) * 0.5    # width offset (fraction of w)
_UP = np.array([0, 0, 0, 0, 1, 1, 1, 1], np.float64)   # height offset from the bottom (fraction of h)


def _box_array(boxes: npt.ArrayLike, fields: str) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 1 and b.shape[0] == 7:
        b = b[None, :]
    if b.ndim == 1 and b.shape[0] == 0:
        b = b.reshape(0, 7)
    if b.ndim != 2 or b.shape[1] != 7:
        raise ShapeError(f"boxes: expected a box (7,) or boxes (n, 7) as {fields}, got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        i = int(np.nonzero(~np.all(np.isfinite(b), axis=1))[0][0])
        raise NumericalError(f"boxes: box {i} has a non-finite value {b[i].tolist()}")
    return b


def box_corners(boxes: npt.ArrayLike) -> np.ndarray:
    """(n, 8, 3) corners of z-up boxes ``(x, y, z, yaw, l, w, h)`` (metres, radians; centre).

    Corners 0-3 are the bottom face (``z - h/2``), 4-7 the top face (module docstring for the
    order).

    Raises:
        ShapeError: ``boxes`` is not ``(7,)`` or ``(n, 7)``.
        NumericalError: a value is NaN or infinite.
    """
    b = _box_array(boxes, "(x, y, z, yaw, l, w, h)")
    x, y, z, yaw, length, width, h = b.T
    du = length[:, None] * _LEN
    dv = width[:, None] * _WID
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    cx = x[:, None] + c * du - s * dv
    cy = y[:, None] + s * du + c * dv
    cz = (z - h / 2.0)[:, None] + h[:, None] * _UP
    return np.stack([cx, cy, cz], axis=-1)


def camera_box_corners(boxes: npt.ArrayLike) -> np.ndarray:
    """(n, 8, 3) corners of KITTI camera boxes ``(h, w, l, x, y, z, ry)`` in the camera frame (metres).

    Corners 0-3 are the bottom face (camera ``y`` = box ``y``), 4-7 the top face (``y - h``,
    the camera y axis points down).

    Raises:
        ShapeError: ``boxes`` is not ``(7,)`` or ``(n, 7)``.
        NumericalError: a value is NaN or infinite.
    """
    b = _box_array(boxes, "(h, w, l, x, y, z, ry)")
    h, w, length, x, y, z, ry = b.T
    lx = length[:, None] * _LEN
    wz = w[:, None] * _WID
    c, s = np.cos(ry)[:, None], np.sin(ry)[:, None]
    cx = x[:, None] + c * lx + s * wz
    cz = z[:, None] - s * lx + c * wz
    cy = y[:, None] - h[:, None] * _UP
    return np.stack([cx, cy, cz], axis=-1)


def _projection_matrix(P: npt.ArrayLike) -> np.ndarray:
    m = np.asarray(P, dtype=np.float64)
    if m.shape != (3, 4):
        raise ShapeError(f"P: expected shape (3, 4), got {m.shape}")
    if not np.all(np.isfinite(m)):
        raise NumericalError("P: every entry must be finite")
    return m


def project_points(points: npt.ArrayLike, P: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection of 3D points through a 3x4 matrix.

    Args:
        points: (..., 3) points in the frame ``P`` acts on (metres).
        P: (3, 4) projection matrix.
    Returns:
        ``(uv, depth)``: (..., 2) pixel coordinates and (...,) depth ``w`` (the third homogeneous
        coordinate).  ``uv`` is NaN where ``depth <= 0`` (the point is behind the camera).
    Raises:
        ShapeError: ``points`` is not (..., 3) or ``P`` not (3, 4).
        NumericalError: a non-finite coordinate or matrix entry.
    """
    m = _projection_matrix(P)
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 0 or p.shape[-1] != 3:
        raise ShapeError(f"points: expected shape (..., 3), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise NumericalError("points: every coordinate must be finite")
    flat = p.reshape(-1, 3)
    ph = np.column_stack([flat, np.ones(len(flat))]) @ m.T
    depth = ph[:, 2]
    ahead = depth > 0
    uv = np.full((len(flat), 2), np.nan)
    uv[ahead] = ph[ahead, :2] / depth[ahead, None]
    return uv.reshape(p.shape[:-1] + (2,)), depth.reshape(p.shape[:-1])


def image_box_of_corners(
    corners: npt.ArrayLike,
    P: npt.ArrayLike,
    image_size: tuple[int, int] | None = None,
    near: float = 0.1,
) -> np.ndarray:
    """2D image boxes of 3D boxes given by their corners, clipped against the plane ``z = near``.

    Args:
        corners: (n, 8, 3) box corners in the order of :func:`box_corners` /
            :func:`camera_box_corners` (the edges are :data:`BOX_EDGES`), in the frame ``P``
            acts on, whose z axis is the optical axis (metres).
        P: (3, 4) projection matrix.
        image_size: optional ``(width, height)`` in pixels: clip the boxes to
            ``[0, width - 1] x [0, height - 1]``.
        near: near clipping distance along z (metres, > 0).
    Returns:
        (n, 4) ``x1, y1, x2, y2`` (pixels): the bounding box of the projected visible part;
        NaN rows for boxes entirely behind ``near``.
    Raises:
        ShapeError: ``corners`` is not (n, 8, 3) or ``P`` not (3, 4).
        NumericalError: a non-finite coordinate or matrix entry.
        ConfigurationError: ``near`` is not a positive finite number.
    """
    m = _projection_matrix(P)
    cs = np.asarray(corners, dtype=np.float64)
    if cs.ndim != 3 or cs.shape[1:] != (8, 3):
        raise ShapeError(f"corners: expected shape (n, 8, 3), got {cs.shape}")
    if not np.all(np.isfinite(cs)):
        raise NumericalError("corners: every coordinate must be finite")
    if not (np.isfinite(near) and near > 0):
        raise ConfigurationError(f"near: expected a positive distance in metres, got {near!r}")
    n = len(cs)
    za = cs[:, BOX_EDGES[:, 0], 2]
    zb = cs[:, BOX_EDGES[:, 1], 2]
    crosses = (za - near) * (zb - near) < 0
    t = (near - za) / np.where(crosses, zb - za, 1.0)
    ca = cs[:, BOX_EDGES[:, 0]]
    cb = cs[:, BOX_EDGES[:, 1]]
    cut = ca + t[..., None] * (cb - ca)
    pts = np.concatenate([cs, cut], axis=1)                         # (n, 20, 3)
    valid = np.concatenate([cs[:, :, 2] >= near, crosses], axis=1)  # (n, 20)
    ph = np.column_stack([pts.reshape(-1, 3), np.ones(n * 20)]) @ m.T
    uv = (ph[:, :2] / np.where(valid.reshape(-1), ph[:, 2], 1.0)[:, None]).reshape(n, 20, 2)
    u = uv[..., 0]
    v = uv[..., 1]
    out = np.column_stack([np.where(valid, u, np.inf).min(1), np.where(valid, v, np.inf).min(1),
                           np.where(valid, u, -np.inf).max(1), np.where(valid, v, -np.inf).max(1)])
    out[~valid.any(axis=1)] = np.nan
    if image_size is not None:
        wd, ht = image_size
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, wd - 1)
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, ht - 1)
    return out


def project_camera_boxes(
    boxes: npt.ArrayLike,
    P: npt.ArrayLike,
    image_size: tuple[int, int] | None = None,
    near: float = 0.1,
) -> np.ndarray:
    """Image boxes of KITTI camera boxes ``(h, w, l, x, y, z, ry)`` through ``P`` (e.g. ``Calib.P2``).

    :func:`camera_box_corners` then :func:`image_box_of_corners` (same arguments and clipping
    rules): (n, 4) ``x1, y1, x2, y2`` in pixels, NaN rows for boxes entirely behind ``near``.
    """
    return image_box_of_corners(camera_box_corners(boxes), P, image_size, near)
