"""Overlap of oriented 3D boxes: IoU and generalised IoU, in bird's-eye view and in 3D.

Boxes are ``(x, y, z, yaw, l, w, h)``: metres and radians, z up, ``(x, y, z)`` the box
centre, ``yaw`` the heading of the length axis counter-clockwise from +x, ``l`` along the
heading, ``w`` across it, ``h`` vertical.

Every function takes ``a`` and ``b`` as one box, shape ``(7,)``, or a stack of boxes,
shape ``(n, 7)``, and returns an array of shape ``a.shape[:-1] + b.shape[:-1]``: a float for
two single boxes, ``(n, m)`` for two stacks. Batches run in C++ with the GIL released.

- IoU is in [0, 1]; GIoU = IoU - (C - U) / C is in [-1, 1], with C the convex hull of the
  two footprints (BEV) or that hull times the enclosing vertical extent (3D, as in
  AB3DMOT's ``giou3d``).
- Degenerate boxes (zero footprint area, or zero volume in 3D) have IoU 0; nothing returns NaN.

Raises :class:`fusion.errors.ShapeError` when an argument is not ``(7,)`` or ``(n, 7)``, and
:class:`fusion.errors.NumericalError` (naming the box index) for a non-finite value or a
negative size.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from fusion import _core
from fusion.errors import ConfigurationError

__all__ = ["BOX_FIELDS", "OverlapKind", "box_overlap", "iou_bev", "iou_3d", "giou_bev", "giou_3d"]

#: Column order of a box.
BOX_FIELDS = ("x", "y", "z", "yaw", "l", "w", "h")

OverlapKind = Literal["iou_bev", "iou_3d", "giou_bev", "giou_3d"]


def box_overlap(kind: OverlapKind, a: ArrayLike, b: ArrayLike, *, skip_disjoint: bool = True) -> float | np.ndarray:
    """Overlap measure ``kind`` between the boxes of ``a`` and ``b``.

    ``skip_disjoint`` lets the IoU kinds answer 0 without clipping for pairs whose
    circumscribed footprint circles do not overlap; it changes speed, never the result.
    """
    if not isinstance(kind, str):
        raise ConfigurationError(f"box_overlap: kind: expected one of iou_bev, iou_3d, giou_bev, giou_3d, got {kind!r}")
    return _core.box_overlap(kind, a, b, bool(skip_disjoint))


def iou_bev(a: ArrayLike, b: ArrayLike) -> float | np.ndarray:
    """Bird's-eye-view IoU: footprint intersection area over footprint union area."""
    return _core.box_overlap("iou_bev", a, b, True)


def iou_3d(a: ArrayLike, b: ArrayLike) -> float | np.ndarray:
    """3D IoU: footprint intersection times vertical overlap, over the union volume."""
    return _core.box_overlap("iou_3d", a, b, True)


def giou_bev(a: ArrayLike, b: ArrayLike) -> float | np.ndarray:
    """Bird's-eye-view generalised IoU; C is the convex hull of the 8 footprint corners."""
    return _core.box_overlap("giou_bev", a, b, True)


def giou_3d(a: ArrayLike, b: ArrayLike) -> float | np.ndarray:
    """3D generalised IoU; C is the BEV convex hull area times the enclosing vertical extent."""
    return _core.box_overlap("giou_3d", a, b, True)
