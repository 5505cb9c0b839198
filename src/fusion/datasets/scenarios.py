"""Deterministic simulated scenarios with known ground truth.

The same seed gives the same arrays on every machine (numpy's PCG64 generator and the C++
motion models, which are exact IEEE arithmetic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fusion.models import CTRV, RadarPolar


@dataclass(frozen=True)
class RadarScenario:
    """A vehicle driven with the CTRV model and observed by one radar.

    Attributes
    ----------
    t_ns : (T,) int64, timestamps [ns]
    truth : (T, 5) CTRV states (x [m], y [m], v [m/s], yaw [rad], yaw_rate [rad/s])
    z : (T, 3) radar measurements (range [m], azimuth [rad], range rate [m/s])
    R : (3, 3) measurement noise covariance used to draw ``z``
    radar : the radar model (mounting pose)
    """

    t_ns: np.ndarray
    truth: np.ndarray
    z: np.ndarray
    R: np.ndarray
    radar: RadarPolar

    @property
    def dt_s(self) -> float:
        return float(self.t_ns[1] - self.t_ns[0]) * 1e-9


def simulate_radar_drive(
    seed: int = 0,
    n_steps: int = 400,
    dt_s: float = 0.05,
    sigma_range_m: float = 0.5,
    sigma_azimuth_rad: float = 0.01,
    sigma_range_rate_mps: float = 0.2,
) -> RadarScenario:
    """A 20 s drive: straight at 15 m/s, a left turn, straight again, a gentle right turn."""
    if n_steps < 2:
        raise ValueError(f"n_steps must be at least 2, got {n_steps}")
    rng = np.random.default_rng(seed)
    model = CTRV(sigma_a=0.0, sigma_yawdd=0.0)
    radar = RadarPolar()
    x = np.array([20.0, -30.0, 15.0, 0.6, 0.0])
    truth = np.empty((n_steps, 5))
    for k in range(n_steps):
        phase = k / n_steps
        x[4] = 0.25 if 0.25 <= phase < 0.4 else (-0.1 if phase >= 0.7 else 0.0)
        truth[k] = x
        x = model.f(x, dt_s)
    R = np.diag([sigma_range_m**2, sigma_azimuth_rad**2, sigma_range_rate_mps**2])
    z = np.empty((n_steps, 3))
    for k in range(n_steps):
        zk, _ = radar.h(np.array([truth[k, 0], truth[k, 1], 0.0,
                                  truth[k, 2] * np.cos(truth[k, 3]), truth[k, 2] * np.sin(truth[k, 3]), 0.0]))
        z[k] = zk + rng.normal(0.0, np.sqrt(np.diag(R)))
    t_ns = np.arange(n_steps, dtype=np.int64) * np.int64(round(dt_s * 1e9))
    return RadarScenario(t_ns=t_ns, truth=truth, z=z, R=R, radar=radar)
