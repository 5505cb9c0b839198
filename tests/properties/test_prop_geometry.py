"""Properties of the overlap measures: IoU in [0, 1] and GIoU in [-1, 1], symmetric, 1 for a box
with itself, never NaN, for ordinary, huge and tiny boxes (fusion.geometry)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fusion.errors import NumericalError
from fusion.geometry import giou_3d, giou_bev, iou_2d, iou_3d, iou_bev

from _props import reals

# ordinary, tiny, huge and very huge boxes: values up to 1e99 m (beyond 1e100 m a box is refused,
# its area or volume would overflow: test_box_overlap_refuses_boxes_beyond_1e100_m)
_SCALES = [1.0, 1e-4, 1e6, 1e12, 1e98]


@st.composite
def scales(draw: st.DrawFn) -> tuple[float, float]:
    """The scales of the two stacks: the same, or different by at most 1e11 (beyond ~1e15 the
    tiny box vanishes in the huge one's rounding: GIoU's hull is then not symmetric)."""
    sa = draw(st.sampled_from(_SCALES))
    sb = draw(st.sampled_from([s for s in _SCALES if max(s, sa) / min(s, sa) <= 1e11]))
    return sa, sb


@st.composite
def boxes3d(draw: st.DrawFn, k: int, s: float) -> np.ndarray:
    out = []
    for _ in range(k):
        x, y, z = (draw(reals(-10, 10)) * s for _ in range(3))
        yaw = draw(reals(-7, 7))
        size = [draw(reals(0.05, 5)) * s for _ in range(3)]
        out.append([x, y, z, yaw, *size])
    return np.array(out)


@pytest.mark.parametrize("fn,lo", [(iou_bev, 0.0), (iou_3d, 0.0), (giou_bev, -1.0), (giou_3d, -1.0)])
@given(data=st.data())
def test_box_overlap_range_symmetry_identity(fn: object, lo: float, data: st.DataObject) -> None:
    sa, sb = data.draw(scales())
    a, b = data.draw(boxes3d(3, sa)), data.draw(boxes3d(2, sb))
    ab = fn(a, b)
    assert ab.shape == (3, 2)
    assert np.isfinite(ab).all(), ab
    assert (ab >= lo - 1e-9).all() and (ab <= 1 + 1e-9).all(), ab
    np.testing.assert_allclose(ab, fn(b, a).T, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.diag(fn(a, a)), 1.0, rtol=1e-6)
    for i in range(3):  # one box against a stack gives the same as the stack call
        np.testing.assert_allclose(fn(a[i], b), ab[i], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("fn", [iou_bev, iou_3d, giou_bev, giou_3d])
@given(a=st.sampled_from(_SCALES).flatmap(lambda s: boxes3d(1, s)),
       bad=st.sampled_from([np.nan, np.inf, -np.inf, -1.0]), col=st.integers(0, 6))
def test_box_overlap_rejects_bad_boxes(fn: object, a: np.ndarray, bad: float, col: int) -> None:
    b = a.copy()
    b[0, col] = bad
    if bad == -1.0 and col < 4:  # a negative centre or yaw is fine
        assert np.isfinite(fn(a, b)).all()
        return
    with pytest.raises(NumericalError):
        fn(a, b)


@pytest.mark.parametrize("fn", [iou_bev, iou_3d, giou_bev, giou_3d])
@given(col=st.integers(0, 6), sign=st.sampled_from([1.0, -1.0]))
def test_box_overlap_refuses_boxes_beyond_1e100_m(fn: object, col: int, sign: float) -> None:
    a = np.array([[1.0, 2.0, 0.5, 0.3, 4.0, 2.0, 1.5]])
    b = a.copy()
    b[0, col] = 2e100 if col >= 4 else sign * 2e100
    with pytest.raises(NumericalError, match="beyond 1e100 m"):
        fn(a, b)


@st.composite
def boxes2d(draw: st.DrawFn, k: int, s: float) -> np.ndarray:
    out = []
    for _ in range(k):
        x1, y1 = draw(reals(-100, 100)) * s, draw(reals(-100, 100)) * s
        out.append([x1, y1, x1 + draw(reals(0.01, 50)) * s, y1 + draw(reals(0.01, 50)) * s])
    return np.array(out)


@given(data=st.data())
def test_iou_2d_range_symmetry_identity(data: st.DataObject) -> None:
    sa, sb = data.draw(scales())
    a, b = data.draw(boxes2d(3, sa)), data.draw(boxes2d(2, sb))
    ab = iou_2d(a, b)
    assert np.isfinite(ab).all() and (ab >= 0).all() and (ab <= 1 + 1e-12).all(), ab
    np.testing.assert_allclose(ab, iou_2d(b, a).T, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.diag(iou_2d(a, a)), 1.0, rtol=1e-12)


def _aligned_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of axis-aligned rectangles (x1, y1, x2, y2), written out: the oracle."""
    w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = w * h
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


@given(data=st.data())
def test_iou_values_equal_the_rectangle_formula(data: st.DataObject) -> None:
    """iou_2d, and iou_bev of boxes with yaw 0 (their footprints are axis-aligned rectangles),
    equal the written-out rectangle IoU."""
    s = data.draw(st.sampled_from(_SCALES[:4]))
    a, b = data.draw(boxes2d(3, s)), data.draw(boxes2d(2, s))
    ref = _aligned_iou(a, b)
    np.testing.assert_allclose(iou_2d(a, b), ref, rtol=1e-9, atol=1e-12)

    def bev(r: np.ndarray) -> np.ndarray:
        c = 0.5 * (r[:, :2] + r[:, 2:])
        size = r[:, 2:] - r[:, :2]
        z = np.zeros(len(r))
        return np.column_stack([c[:, 0], c[:, 1], z, z, size[:, 0], size[:, 1], np.ones(len(r))])

    np.testing.assert_allclose(iou_bev(bev(a), bev(b)), ref, rtol=1e-6, atol=1e-9)
