"""The clutter density a simulated sensor tells the engine (``SensorConfig.clutter_density``)
is the one of the clutter it simulates: the expected density at a false detection,
``per_frame * integral p(z)^2 dz``, estimated here from the simulated false detections
themselves with a histogram (``sum_k c_k (c_k - 1) / (n F V)`` over cells of volume V, an
unbiased estimate for a density that is about constant over a cell). The radar's false
returns have the range rate of a stationary reflector, so a uniform range-rate span would
understate the density where they fall, and the engine would take every gated false return
as strong evidence for a track (the roadside scene's false tracks)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusion.datasets.driving import make_scenario


def histogram_density(cols: list[np.ndarray], widths: list[float], frames: int) -> float:
    """per_frame * integral p^2, from n samples over ``frames`` frames (cells of ``widths``)."""
    keys = np.column_stack([np.floor(c / w).astype(np.int64) for c, w in zip(cols, widths, strict=True)])
    _, counts = np.unique(keys, axis=0, return_counts=True)
    n = len(cols[0])
    return float((counts * (counts - 1)).sum()) / (n * frames * math.prod(widths))


@pytest.fixture(scope="module")
def roadside():
    return make_scenario("roadside", seed=0, duration_s=120.0)


def test_radar_clutter_density_is_the_simulated_one(roadside) -> None:
    sc = roadside
    d, s = sc.data["radar"], sc.sensor("radar")
    z = d.z[d.truth_id < 0]
    assert len(z) > 5000
    est = histogram_density([z[:, 0], z[:, 1], z[:, 2]], [2.0, 0.02, 0.1], d.num_frames)
    lam = s.config.clutter_density
    assert lam == pytest.approx(est, rel=0.1)
    # a uniform spread over 80 m/s of range rate and over range (the density before) is far off
    f = s.config.fov
    uniform = s.clutter_per_frame / ((min(f.max_range_m, 100.0) - f.min_range_m) * 2 * f.azimuth_half_rad * 80.0)
    assert lam > 30 * uniform


def test_lidar_clutter_density_is_the_simulated_one(roadside) -> None:
    sc = roadside
    d, s = sc.data["lidar"], sc.sensor("lidar")
    z = d.z[d.truth_id < 0]
    assert len(z) > 150
    # the components are drawn independently: per_frame * the product of each one's integral of p^2
    per_frame = len(z) / d.num_frames
    lam = s.config.clutter_density
    assert per_frame == pytest.approx(s.clutter_per_frame, rel=0.15)
    parts = [histogram_density([z[:, 0], z[:, 1]], [4.0, 4.0], d.num_frames) / per_frame]
    for col, w in ((2, 0.05), (3, 0.5), (4, 0.1), (5, 0.1), (6, 0.1)):
        parts.append(histogram_density([z[:, col]], [w], d.num_frames) / per_frame)
    est = s.clutter_per_frame * math.prod(parts)
    assert lam == pytest.approx(est, rel=0.3)
