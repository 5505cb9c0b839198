"""Overlap of 2D axis-aligned boxes (image boxes), pairwise and vectorised.

A box is ``(x1, y1, x2, y2)``: the min and max corners, in any length unit (pixels for image
boxes).  Arguments are one box, shape ``(4,)``, or a stack, shape ``(n, 4)``; results are
``(n, m)`` matrices (a single box counts as a stack of one).

- :func:`iou_2d`: intersection over union.
- :func:`ioa_2d`: intersection over the area of the box of ``a`` (e.g. how much of a
  detection lies inside an ignore region).

A box whose area is not positive (``x2 <= x1`` or ``y2 <= y1``, up to machine epsilon) is
degenerate: its IoU and IoA are 0.  No function returns NaN; a non-finite coordinate raises
:class:`fusion.errors.NumericalError` and a wrong shape :class:`fusion.errors.ShapeError`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fusion.errors import NumericalError, ShapeError

__all__ = ["ioa_2d", "iou_2d"]

_EPS = float(np.finfo(float).eps)


def _boxes(x: npt.ArrayLike, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1 and a.shape[0] in (0, 4):  # one box, or no boxes
        a = a.reshape(-1, 4)
    if a.ndim != 2 or a.shape[1] != 4:
        raise ShapeError(f"{name}: expected a box (4,) or boxes (n, 4) as x1, y1, x2, y2, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        i = int(np.nonzero(~np.all(np.isfinite(a), axis=1))[0][0])
        raise NumericalError(f"{name}: box {i} has a non-finite coordinate {a[i].tolist()}")
    return a


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.maximum(iw, 0.0) * np.maximum(ih, 0.0)


def _area(a: np.ndarray) -> np.ndarray:
    return (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])


def iou_2d(a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
    """(n, m) intersection over union of the boxes of ``a`` and ``b`` (dimensionless, in [0, 1]).

    Raises:
        ShapeError: an argument is not ``(4,)`` or ``(n, 4)``.
        NumericalError: a coordinate is NaN or infinite.
    """
    a = _boxes(a, "a")
    b = _boxes(b, "b")
    inter = _intersection(a, b)
    area_a = _area(a)
    area_b = _area(b)
    union = area_a[:, None] + area_b[None, :] - inter
    valid = (area_a[:, None] > _EPS) & (area_b[None, :] > _EPS) & (union > _EPS)
    return np.where(valid, inter / np.where(union > _EPS, union, 1.0), 0.0)


def ioa_2d(a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
    """(n, m) intersection of each box of ``a`` with each box of ``b`` over the area of the ``a`` box.

    Not symmetric: ``ioa_2d(a, b)[i, j]`` is the fraction of box ``a[i]`` covered by ``b[j]``
    (dimensionless, in [0, 1]); 0 where ``a[i]`` is degenerate.

    Raises:
        ShapeError: an argument is not ``(4,)`` or ``(n, 4)``.
        NumericalError: a coordinate is NaN or infinite.
    """
    a = _boxes(a, "a")
    b = _boxes(b, "b")
    inter = _intersection(a, b)
    area_a = _area(a)
    ok = area_a > _EPS
    return np.where(ok[:, None], inter / np.where(ok, area_a, 1.0)[:, None], 0.0)
