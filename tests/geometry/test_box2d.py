"""fusion.geometry.box2d: hand-computed values, a shapely oracle, degenerate boxes, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from fusion.errors import NumericalError, ShapeError
from fusion.geometry import ioa_2d, iou_2d


def test_hand_computed() -> None:
    a = np.array([0.0, 0.0, 4.0, 2.0])                      # area 8
    b = np.array([[2.0, 1.0, 6.0, 3.0],                     # overlap 2 x 1 = 2, union 14
                  [0.0, 0.0, 4.0, 2.0],                     # identical
                  [1.0, 0.5, 2.0, 1.5],                     # inside a: area 1
                  [4.0, 0.0, 5.0, 2.0],                     # touching edge: 0
                  [10.0, 10.0, 11.0, 11.0]])                # disjoint
    np.testing.assert_allclose(iou_2d(a, b), [[2 / 14, 1.0, 1 / 8, 0.0, 0.0]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(ioa_2d(a, b), [[2 / 8, 1.0, 1 / 8, 0.0, 0.0]], rtol=0, atol=1e-15)
    # IoA is over the area of the first argument: the small box lies entirely inside a
    np.testing.assert_allclose(ioa_2d(b, a)[:, 0], [2 / 8, 1.0, 1.0, 0.0, 0.0], rtol=0, atol=1e-15)
    assert iou_2d(a, b).shape == (1, 5) and iou_2d(b, b).shape == (5, 5)


def test_against_shapely() -> None:
    rng = np.random.default_rng(7)
    p = rng.uniform(0, 100, (60, 2))
    a = np.column_stack([p, p + rng.uniform(0.5, 40, (60, 2))])
    q = rng.uniform(0, 100, (45, 2))
    b = np.column_stack([q, q + rng.uniform(0.5, 40, (45, 2))])
    sa = [shapely.box(*x) for x in a]
    sb = [shapely.box(*x) for x in b]
    inter = np.array([[u.intersection(v).area for v in sb] for u in sa])
    union = np.array([[u.union(v).area for v in sb] for u in sa])
    area_a = np.array([u.area for u in sa])
    iou, ioa = iou_2d(a, b), ioa_2d(a, b)
    assert np.count_nonzero(iou) > 100  # the cases overlap often enough to mean something
    np.testing.assert_allclose(iou, inter / union, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ioa, inter / area_a[:, None], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(iou, iou_2d(b, a).T, rtol=0, atol=0)


def test_degenerate_and_empty() -> None:
    boxes = np.array([[0.0, 0.0, 0.0, 5.0],    # zero width
                      [3.0, 3.0, 1.0, 1.0],    # inverted (x2 < x1, y2 < y1): "positive" product, still degenerate
                      [0.0, 0.0, 5.0, 5.0]])
    iou = iou_2d(boxes, boxes)
    assert iou[0].tolist() == [0.0, 0.0, 0.0] and iou[1].tolist() == [0.0, 0.0, 0.0]
    assert iou[2, 2] == 1.0
    ioa = ioa_2d(boxes, boxes)
    assert ioa[0].tolist() == [0.0, 0.0, 0.0] and ioa[1].tolist() == [0.0, 0.0, 0.0]
    assert iou_2d(np.zeros((0, 4)), boxes).shape == (0, 3)
    assert ioa_2d(boxes, np.zeros(0)).shape == (3, 0)


@pytest.mark.parametrize("func", [iou_2d, ioa_2d])
def test_bad_input(func) -> None:
    good = np.array([[0.0, 0.0, 1.0, 1.0]])
    with pytest.raises(ShapeError, match=r"b: expected a box \(4,\) or boxes \(n, 4\)"):
        func(good, np.zeros((2, 3)))
    with pytest.raises(ShapeError, match="a: expected"):
        func(np.zeros(8), good)
    with pytest.raises(NumericalError, match=r"a: box 1 has a non-finite coordinate"):
        func(np.array([[0.0, 0.0, 1.0, 1.0], [0.0, np.nan, 1.0, 1.0]]), good)
    with pytest.raises(NumericalError, match="b: box 0"):
        func(good, [0.0, 0.0, np.inf, 1.0])
