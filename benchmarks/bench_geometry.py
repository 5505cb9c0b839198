"""Pairwise 3D IoU of 100 x 100 oriented boxes: fusion against shapely-based references.

Every benchmark also asserts agreement with the shapely oracle (1e-9), so under the default
``--benchmark-disable`` this file still runs once as a test. Figures: RESULTS_geometry.md.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import affinity

import fusion.geometry as geo

N = 100
TOL = 1e-9


def scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tracks and detections like one busy KITTI frame: 100 car-sized boxes over 80 m x 80 m,
    the detections being the tracks displaced by ~0.5 m and ~0.1 rad, shuffled."""
    rng = np.random.default_rng(seed)
    tracks = np.empty((N, 7))
    tracks[:, 0:2] = rng.uniform(-40.0, 40.0, (N, 2))
    tracks[:, 2] = rng.uniform(-1.0, 0.0, N)
    tracks[:, 3] = rng.uniform(-np.pi, np.pi, N)
    tracks[:, 4] = rng.uniform(3.2, 5.0, N)
    tracks[:, 5] = rng.uniform(1.5, 2.0, N)
    tracks[:, 6] = rng.uniform(1.4, 1.8, N)
    dets = tracks[rng.permutation(N)].copy()
    dets[:, 0:3] += rng.normal(0.0, 0.5, (N, 3))
    dets[:, 3] += rng.normal(0.0, 0.1, N)
    return tracks, dets


def _footprint(box):
    x, y, _, yaw, l, w, _ = (float(v) for v in box)
    rect = shapely.box(-l / 2, -w / 2, l / 2, w / 2)
    return affinity.translate(affinity.rotate(rect, yaw, origin=(0, 0), use_radians=True), x, y)


def _vertical(a, b):
    top = np.minimum(a[:, None, 2] + a[:, None, 6] / 2, b[None, :, 2] + b[None, :, 6] / 2)
    bottom = np.maximum(a[:, None, 2] - a[:, None, 6] / 2, b[None, :, 2] - b[None, :, 6] / 2)
    return np.clip(top - bottom, 0.0, None)


def shapely_vectorised_iou_3d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """shapely 2 ufuncs over all pairs at once (the fastest shapely formulation we know)."""
    pa = np.array([_footprint(q) for q in a])[:, None]
    pb = np.array([_footprint(q) for q in b])[None, :]
    inter = shapely.area(shapely.intersection(pa, pb)) * _vertical(a, b)
    vol_a, vol_b = np.prod(a[:, 4:7], axis=1), np.prod(b[:, 4:7], axis=1)
    return inter / (vol_a[:, None] + vol_b[None, :] - inter)


def shapely_loop_iou_3d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The per-pair Python loop common in 3D MOT evaluation code."""
    pa, pb = [_footprint(q) for q in a], [_footprint(q) for q in b]
    out = np.zeros((len(a), len(b)))
    for i, (ba, fa) in enumerate(zip(a, pa)):
        for j, (bb, fb) in enumerate(zip(b, pb)):
            dz = min(ba[2] + ba[6] / 2, bb[2] + bb[6] / 2) - max(ba[2] - ba[6] / 2, bb[2] - bb[6] / 2)
            if dz <= 0.0:
                continue
            inter = fa.intersection(fb).area * dz
            out[i, j] = inter / (ba[4] * ba[5] * ba[6] + bb[4] * bb[5] * bb[6] - inter)
    return out


@pytest.fixture(scope="module")
def boxes():
    return scene()


@pytest.fixture(scope="module")
def oracle(boxes):
    return shapely_vectorised_iou_3d(*boxes)


def test_scene_is_not_trivial(boxes, oracle):
    assert np.count_nonzero(oracle) >= N  # every detection overlaps its track, plus neighbours


def test_fusion_iou_3d(benchmark, boxes, oracle):
    out = benchmark(geo.iou_3d, *boxes)
    np.testing.assert_allclose(out, oracle, rtol=0, atol=TOL)


def test_fusion_iou_3d_without_prefilter(benchmark, boxes, oracle):
    out = benchmark(geo.box_overlap, "iou_3d", *boxes, skip_disjoint=False)
    np.testing.assert_allclose(out, oracle, rtol=0, atol=TOL)


def test_fusion_giou_3d(benchmark, boxes):
    out = benchmark(geo.giou_3d, *boxes)
    iou = geo.iou_3d(*boxes)
    assert np.all(out <= iou + 1e-12) and np.all(out >= -1.0)


def test_shapely_vectorised_iou_3d(benchmark, boxes, oracle):
    out = benchmark(shapely_vectorised_iou_3d, *boxes)
    np.testing.assert_allclose(out, geo.iou_3d(*boxes), rtol=0, atol=TOL)


def test_shapely_loop_iou_3d(benchmark, boxes, oracle):
    out = benchmark.pedantic(shapely_loop_iou_3d, args=boxes, rounds=5, iterations=1)
    np.testing.assert_allclose(out, geo.iou_3d(*boxes), rtol=0, atol=TOL)
