"""Geometry for tracking.

- :mod:`fusion.geometry.box_overlap`: overlap of oriented 3D boxes ``(x, y, z, yaw, l, w, h)``
  (C++), with the box convention and the exact definitions.
- :mod:`fusion.geometry.box2d`: IoU / IoA of 2D axis-aligned image boxes ``(x1, y1, x2, y2)``.
- :mod:`fusion.geometry.projection`: 3D box corners (KITTI camera and z-up conventions) and
  pinhole projection of points and boxes to image boxes.
"""

from fusion.geometry.box2d import ioa_2d, iou_2d
from fusion.geometry.box_overlap import (
    BOX_FIELDS,
    OverlapKind,
    box_overlap,
    giou_3d,
    giou_bev,
    iou_3d,
    iou_bev,
)

__all__ = [
    "BOX_FIELDS",
    "OverlapKind",
    "box_overlap",
    "giou_3d",
    "giou_bev",
    "ioa_2d",
    "iou_2d",
    "iou_3d",
    "iou_bev",
]
