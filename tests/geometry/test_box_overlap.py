"""fusion.geometry box overlap against a shapely oracle, plus properties and error handling.

shapely is a test oracle only: footprints are built with shapely.affinity (independently of
fusion's corner code), BEV intersection/union/convex hull come from GEOS, and 3D values
multiply by the vertical overlap / enclosing extent.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import affinity

import fusion.errors
import fusion.geometry as geo

KINDS = ("iou_bev", "iou_3d", "giou_bev", "giou_3d")
FUNCS = {"iou_bev": geo.iou_bev, "iou_3d": geo.iou_3d, "giou_bev": geo.giou_bev, "giou_3d": geo.giou_3d}
TOL = 1e-9


def footprint(box):
    x, y, _, yaw, l, w, _ = (float(v) for v in box)
    rect = shapely.box(-l / 2, -w / 2, l / 2, w / 2)
    return affinity.translate(affinity.rotate(rect, yaw, origin=(0, 0), use_radians=True), x, y)


def reference(kind, a, b):
    """(n, m) overlap matrix computed with shapely (vectorised over all pairs)."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    pa = np.array([footprint(q) for q in a])[:, None]
    pb = np.array([footprint(q) for q in b])[None, :]
    inter = shapely.area(shapely.intersection(pa, pb))
    union = shapely.area(shapely.union(pa, pb))
    hull = shapely.area(shapely.convex_hull(shapely.union(pa, pb)))
    if kind.endswith("bev"):
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        if kind == "iou_bev":
            return iou
        return iou - (hull - union) / hull
    top_a, bot_a = a[:, 2] + a[:, 6] / 2, a[:, 2] - a[:, 6] / 2
    top_b, bot_b = b[:, 2] + b[:, 6] / 2, b[:, 2] - b[:, 6] / 2
    dz = np.clip(np.minimum(top_a[:, None], top_b[None, :]) - np.maximum(bot_a[:, None], bot_b[None, :]), 0, None)
    extent = np.maximum(top_a[:, None], top_b[None, :]) - np.minimum(bot_a[:, None], bot_b[None, :])
    inter3 = inter * dz
    vol_a = a[:, 4] * a[:, 5] * a[:, 6]
    vol_b = b[:, 4] * b[:, 5] * b[:, 6]
    union3 = vol_a[:, None] + vol_b[None, :] - inter3
    iou = inter3 / union3
    if kind == "iou_3d":
        return iou
    enclosing = hull * extent
    return iou - (enclosing - union3) / enclosing


def random_boxes(rng, n, spread=4.0, yaw=None):
    boxes = np.empty((n, 7))
    boxes[:, 0:2] = rng.uniform(-spread, spread, (n, 2))
    boxes[:, 2] = rng.uniform(-1.0, 1.0, n)
    boxes[:, 3] = rng.uniform(-np.pi, np.pi, n) if yaw is None else rng.choice(yaw, n)
    boxes[:, 4:6] = rng.uniform(0.3, 5.0, (n, 2))
    boxes[:, 6] = rng.uniform(0.5, 3.0, n)
    return boxes


# ---------------------------------------------------------------- parity with shapely


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed,spread", [(0, 2.0), (1, 4.0), (2, 8.0)])
def test_matches_shapely_on_random_rotated_pairs(kind, seed, spread):
    rng = np.random.default_rng(seed)
    a, b = random_boxes(rng, 50, spread), random_boxes(rng, 60, spread)  # 3000 pairs
    got = FUNCS[kind](a, b)
    assert got.shape == (50, 60)
    np.testing.assert_allclose(got, reference(kind, a, b), rtol=0, atol=TOL)
    if kind == "iou_bev":  # the scene mixes overlapping and disjoint pairs
        assert 0.05 < np.mean(got > 0) < 0.95 or spread == 2.0


@pytest.mark.parametrize("kind", KINDS)
def test_matches_shapely_on_grid_aligned_boxes(kind):
    # Integer positions/sizes at multiples of 90 degrees: shared and collinear edges, corners
    # touching, boxes stacked exactly; cos(pi/2) is not exactly 0, so edges are near-collinear.
    rng = np.random.default_rng(5)
    n = 60
    boxes = np.empty((n, 7))
    boxes[:, 0:2] = rng.integers(-3, 4, (n, 2))
    boxes[:, 2] = rng.integers(-1, 2, n) * 0.5
    boxes[:, 3] = rng.choice([0.0, np.pi / 2, np.pi, -np.pi / 2], n)
    boxes[:, 4:6] = rng.integers(1, 4, (n, 2))
    boxes[:, 6] = rng.integers(1, 3, n) * 0.5
    np.testing.assert_allclose(FUNCS[kind](boxes, boxes), reference(kind, boxes, boxes), rtol=0, atol=TOL)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", ["same_yaw_jitter", "almost_touching", "tiny", "needle", "crossed"])
def test_matches_shapely_on_near_degenerate_pairs(kind, case):
    # Pairs where rounding decides which side of a clip edge a vertex falls on.
    rng = np.random.default_rng(12)
    n = 40
    a = random_boxes(rng, n, 1.0)
    a[: n // 2, 3] = 0.0  # half axis-aligned, so "almost touching" really touches
    b = a.copy()
    if case == "same_yaw_jitter":
        b[:, 3] += rng.normal(0.0, 1e-12, n)
        b[:, 0] += rng.normal(0.0, 0.3, n)
    elif case == "almost_touching":
        b[:, 0] += b[:, 4] * (1.0 + rng.normal(0.0, 1e-13, n))
    elif case == "tiny":
        b[:, 4:6] *= 1e-6
    elif case == "needle":
        b[:, 4] *= 100.0
        b[:, 5] *= 0.01
    else:
        b[:, 3] += np.pi / 2
        b[:, 0:2] += rng.normal(0.0, 1e-10, (n, 2))
    got = FUNCS[kind](a, b)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, reference(kind, a, b), rtol=0, atol=TOL)


def test_matches_shapely_far_from_the_origin():
    rng = np.random.default_rng(6)
    a, b = random_boxes(rng, 30, 3.0), random_boxes(rng, 30, 3.0)
    a[:, :2] += [350.0, -120.0]  # a KITTI-like map frame offset
    b[:, :2] += [350.0, -120.0]
    for kind in KINDS:
        np.testing.assert_allclose(FUNCS[kind](a, b), reference(kind, a, b), rtol=0, atol=TOL)


# ---------------------------------------------------------------- hand values and shapes


def unit(x=0.0, y=0.0, z=0.0, yaw=0.0):
    return np.array([x, y, z, yaw, 1.0, 1.0, 1.0])


def test_hand_computed_values():
    assert geo.iou_bev(unit(), unit(0.5)) == pytest.approx(1 / 3, abs=1e-12)
    assert geo.iou_3d(unit(), unit(0.5, 0.0, 0.5)) == pytest.approx(1 / 7, abs=1e-12)
    assert geo.giou_bev(unit(), unit(2.0)) == pytest.approx(-1 / 3, abs=1e-12)
    assert geo.iou_bev(unit(), unit(yaw=np.pi / 4)) == pytest.approx(1 / np.sqrt(2), abs=1e-12)
    assert geo.iou_3d(unit(), unit()) == 1.0
    assert geo.iou_3d(unit(), unit(1.0)) == 0.0


def test_result_shapes_and_types():
    rng = np.random.default_rng(7)
    a, b = random_boxes(rng, 4), random_boxes(rng, 3)
    for f in FUNCS.values():
        assert isinstance(f(a[0], b[0]), float)
        assert f(a, b).shape == (4, 3)
        assert f(a[0], b).shape == (3,)
        assert f(a, b[1]).shape == (4,)
        np.testing.assert_array_equal(f(a[0], b), f(a, b)[0])
        assert f(np.empty((0, 7)), b).shape == (0, 3)
        assert f(a[0].tolist(), b[0].tolist()) == f(a[0], b[0])  # lists work
        assert f(a.astype(np.float32), b).dtype == np.float64


def test_generic_entry_point_and_prefilter_do_not_change_results():
    rng = np.random.default_rng(8)
    a, b = random_boxes(rng, 40, 8.0), random_boxes(rng, 40, 8.0)
    for kind in KINDS:
        fast = geo.box_overlap(kind, a, b)
        np.testing.assert_array_equal(fast, geo.box_overlap(kind, a, b, skip_disjoint=False))
        np.testing.assert_array_equal(fast, FUNCS[kind](a, b))


def test_degenerate_boxes_give_zero_and_no_nan():
    flat_l = np.array([0.2, 0.1, 0.0, 0.3, 0.0, 1.0, 1.0])
    point = np.zeros(7)
    boxes = np.stack([unit(), flat_l, point, unit(3.0)])
    for kind, f in FUNCS.items():
        out = f(boxes, boxes)
        assert np.all(np.isfinite(out)), kind
        if kind.startswith("iou"):
            assert out[1, 0] == out[0, 1] == out[2, 2] == out[1, 1] == 0.0


# ---------------------------------------------------------------- properties


@pytest.mark.parametrize("kind", KINDS)
def test_symmetry_and_bounds(kind):
    rng = np.random.default_rng(9)
    a, b = random_boxes(rng, 80, 3.0), random_boxes(rng, 70, 3.0)
    ab, ba = FUNCS[kind](a, b), FUNCS[kind](b, a)
    np.testing.assert_allclose(ab, ba.T, rtol=0, atol=1e-12)
    low = -1.0 if kind.startswith("giou") else 0.0
    assert ab.min() >= low and ab.max() <= 1.0
    assert np.all(np.diag(FUNCS[kind](a, a)) == 1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_invariant_to_moving_both_boxes_together(kind):
    rng = np.random.default_rng(10)
    a, b = random_boxes(rng, 40, 3.0), random_boxes(rng, 40, 3.0)
    before = FUNCS[kind](a, b)
    for _ in range(5):
        theta = rng.uniform(-np.pi, np.pi)
        shift = rng.uniform(-100.0, 100.0, 3)
        c, s = np.cos(theta), np.sin(theta)

        def move(q, c=c, s=s, shift=shift, theta=theta):
            out = q.copy()
            out[:, 0] = c * q[:, 0] - s * q[:, 1] + shift[0]
            out[:, 1] = s * q[:, 0] + c * q[:, 1] + shift[1]
            out[:, 2] = q[:, 2] + shift[2]
            out[:, 3] = q[:, 3] + theta
            return out

        np.testing.assert_allclose(FUNCS[kind](move(a), move(b)), before, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_yaw_plus_pi_is_the_same_box(kind):
    rng = np.random.default_rng(11)
    a, b = random_boxes(rng, 40, 3.0), random_boxes(rng, 40, 3.0)
    flipped = b.copy()
    flipped[:, 3] += np.pi
    np.testing.assert_allclose(FUNCS[kind](a, flipped), FUNCS[kind](a, b), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.diag(FUNCS[kind](b, flipped)), 1.0, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("bad", [np.zeros((3, 6)), np.zeros(6), np.zeros((2, 3, 7)), np.float64(1.0)])
def test_wrong_shapes_raise_shape_error_naming_the_argument(bad):
    good = unit()
    with pytest.raises(fusion.errors.ShapeError, match=r"iou_3d: argument 'a'.*\(7,\) or \(n, 7\)"):
        geo.iou_3d(bad, good)
    with pytest.raises(fusion.errors.ShapeError, match=r"giou_bev: argument 'b'.*but got"):
        geo.giou_bev(good, bad)
    with pytest.raises(ValueError):  # ShapeError is also a ValueError
        geo.iou_bev(good, bad)


def test_shape_error_reports_actual_shape():
    with pytest.raises(fusion.errors.ShapeError, match=r"but got \(3, 6\)"):
        geo.iou_bev(np.zeros((3, 6)), unit())
    with pytest.raises(fusion.errors.ShapeError, match="expected an array of numbers"):
        geo.iou_bev("boxes", unit())


def test_non_finite_and_negative_values_raise_numerical_error_naming_the_box():
    boxes = np.stack([unit(), unit(1.0), unit(2.0)])
    boxes[2, 3] = np.nan
    with pytest.raises(fusion.errors.NumericalError, match=r"b\[2\].*non-finite"):
        geo.iou_3d(unit(), boxes)
    with pytest.raises(fusion.errors.NumericalError, match=r"a\[2\]"):
        geo.giou_3d(boxes, unit())
    with pytest.raises(fusion.errors.NumericalError, match="box a has a non-finite"):
        geo.iou_bev(np.full(7, np.inf), unit())
    negative = unit()
    negative[5] = -1.0
    with pytest.raises(fusion.errors.NumericalError, match="box b has a negative size"):
        geo.iou_bev(unit(), negative)
    with pytest.raises(ArithmeticError):
        geo.iou_bev(unit(), boxes)


def test_unknown_kind_raises_configuration_error():
    with pytest.raises(fusion.errors.ConfigurationError, match="iou_2d"):
        geo.box_overlap("iou_2d", unit(), unit())
