"""Seeded 2D multi-target scenario with missed detections and Poisson clutter.

Used by the point-tracker tests and benchmarks: N targets move with a (nearly) constant
velocity in a square whose side grows with sqrt(N), so the target density, and the clutter
per target, stay the same at every N.  Score trackers on it with :func:`fusion.metrics.ospa`,
:func:`fusion.metrics.gospa` and :func:`fusion.metrics.match_ids`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PointScenario", "simulate_point_targets"]


@dataclass(frozen=True)
class PointScenario:
    """Attributes:
        t_ns: (T,) int64 timestamps.
        truth: (T, N, 4) true states (px, py, vx, vy).
        measurements: list of T (n_k, 2) arrays (detections then clutter, shuffled).
        is_clutter: list of T (n_k,) bool arrays.
        area: (xmin, xmax, ymin, ymax) of the clutter region (m).
    """

    t_ns: np.ndarray
    truth: np.ndarray
    measurements: list[np.ndarray]
    is_clutter: list[np.ndarray]
    area: tuple[float, float, float, float]
    sigma_meas: float
    sigma_a: float
    prob_detection: float
    clutter_density: float


def simulate_point_targets(num_targets: int, num_frames: int, *, seed: int = 0, dt: float = 0.1,
                           spacing: float = 40.0, speed: float = 3.0, sigma_a: float = 0.2,
                           sigma_meas: float = 0.5, prob_detection: float = 0.9,
                           clutter_density: float = 1e-4) -> PointScenario:
    """Targets start uniformly in a square of side ``spacing * sqrt(N)`` with velocities
    N(0, speed^2) per axis and follow the discrete white-acceleration CV model (sigma_a).
    Each is detected with probability ``prob_detection`` (noise sigma_meas per axis); clutter
    is Poisson with mean ``clutter_density * area`` per frame, uniform over the square."""
    rng = np.random.default_rng(seed)
    side = spacing * np.sqrt(num_targets)
    area = (0.0, side, 0.0, side)
    x = np.empty((num_frames, num_targets, 4))
    x[0, :, :2] = rng.uniform(0.0, side, (num_targets, 2))
    x[0, :, 2:] = rng.normal(0.0, speed, (num_targets, 2))
    for k in range(1, num_frames):
        a = rng.normal(0.0, sigma_a, (num_targets, 2))
        x[k, :, :2] = x[k - 1, :, :2] + dt * x[k - 1, :, 2:] + 0.5 * dt * dt * a
        x[k, :, 2:] = x[k - 1, :, 2:] + dt * a
    zs, clutter = [], []
    for k in range(num_frames):
        det = rng.random(num_targets) < prob_detection
        z_t = x[k, det, :2] + rng.normal(0.0, sigma_meas, (int(det.sum()), 2))
        n_c = rng.poisson(clutter_density * side * side)
        z_c = rng.uniform(0.0, side, (n_c, 2))
        z = np.vstack([z_t, z_c])
        flag = np.r_[np.zeros(len(z_t), bool), np.ones(n_c, bool)]
        perm = rng.permutation(len(z))
        zs.append(np.ascontiguousarray(z[perm]))
        clutter.append(flag[perm])
    t_ns = (np.arange(num_frames, dtype=np.int64) * round(dt * 1e9))
    return PointScenario(t_ns, x, zs, clutter, area, sigma_meas, sigma_a, prob_detection, clutter_density)
