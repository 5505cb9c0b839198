"""Geometry for tracking: overlap of oriented 3D boxes ``(x, y, z, yaw, l, w, h)``.

See :mod:`fusion.geometry.box_overlap` for the box convention and the exact definitions.
"""

from fusion.geometry.box_overlap import (
    BOX_FIELDS,
    OverlapKind,
    box_overlap,
    giou_3d,
    giou_bev,
    iou_3d,
    iou_bev,
)

__all__ = ["BOX_FIELDS", "OverlapKind", "box_overlap", "iou_bev", "iou_3d", "giou_bev", "giou_3d"]
