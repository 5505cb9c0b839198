"""``fusion demo``: track a simulated vehicle with radar and report how well it went.

The main job until the CAN replay lands: a deterministic 20 s drive, observed by a radar,
tracked by the C++ EKF and UKF banks with the CTRV model and by a filterpy-compatible CV
Kalman filter on converted positions, with position error, consistency (NEES) and speed.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from fusion.datasets import RadarScenario, simulate_radar_drive
from fusion.filters import ExtendedKalmanFilterBank, KalmanFilter, UnscentedKalmanFilterBank
from fusion.models import CTRV, CV2D


def _run_bank(bank_cls: type[ExtendedKalmanFilterBank | UnscentedKalmanFilterBank], scenario: RadarScenario,
              **kwargs: Any) -> tuple[np.ndarray, np.ndarray, float]:
    bank = bank_cls(CTRV(sigma_a=1.5, sigma_yawdd=0.6), scenario.radar, 1, R=scenario.R, **kwargs)
    r, az = scenario.z[0, 0], scenario.z[0, 1]
    bank.x = [r * math.cos(az), r * math.sin(az), 10.0, 0.0, 0.0]
    bank.P = np.diag([4.0, 4.0, 25.0, 1.0, 0.1])
    dt = scenario.dt_s
    est = np.empty_like(scenario.truth)
    nees = np.empty(len(scenario.z))
    t0 = time.perf_counter()
    for k, z in enumerate(scenario.z):
        if k:
            bank.predict(dt)
        bank.update(z[None, :])
        est[k] = bank.x[0]
        err = bank.x[0] - scenario.truth[k]
        err[3] = (err[3] + math.pi) % (2 * math.pi) - math.pi
        nees[k] = err @ np.linalg.solve(bank.P[0], err)
    return est, nees, time.perf_counter() - t0


def _run_cv(scenario: RadarScenario) -> np.ndarray:
    dt = scenario.dt_s
    cv = CV2D(sigma_a=3.0)
    kf = KalmanFilter(dim_x=4, dim_z=2)
    kf.F = cv.jacobian(np.zeros(4), dt)
    kf.Q = cv.Q(np.zeros(4), dt)
    kf.H = np.eye(2, 4)
    kf.P = np.diag([4.0, 4.0, 100.0, 100.0])
    est = np.empty((len(scenario.z), 2))
    for k, (r, az, _) in enumerate(scenario.z):
        pos = np.array([r * math.cos(az), r * math.sin(az)])
        # Radar noise mapped to Cartesian coordinates (first order).
        J = np.array([[math.cos(az), -r * math.sin(az)], [math.sin(az), r * math.cos(az)]])
        R = J @ scenario.R[:2, :2] @ J.T
        if k == 0:
            kf.x = np.r_[pos, 0.0, 0.0]
        else:
            kf.predict()
        kf.update(pos, R=R)
        est[k] = kf.x.ravel()[:2]
    return est


def run(seed: int = 0, plot: str | None = None) -> int:
    sc = simulate_radar_drive(seed=seed)
    print(f"fusion demo: {len(sc.z)} radar measurements at {1 / sc.dt_s:.0f} Hz, "
          f"20 s drive with two turns (seed {seed})")
    rows = []
    results = {}
    for name, cls, kw in [("EKF bank, CTRV + radar", ExtendedKalmanFilterBank, {}),
                          ("UKF bank, CTRV + radar", UnscentedKalmanFilterBank, {"alpha": 0.5})]:
        est, nees, secs = _run_bank(cls, sc, **kw)
        rmse = float(np.sqrt(np.mean(np.sum((est[20:, :2] - sc.truth[20:, :2]) ** 2, axis=1))))
        rows.append((name, rmse, float(np.mean(nees[20:])), secs / len(sc.z) * 1e6))
        results[name] = est
    cv_est = _run_cv(sc)
    rmse_cv = float(np.sqrt(np.mean(np.sum((cv_est[20:] - sc.truth[20:, :2]) ** 2, axis=1))))
    r, az = sc.z[:, 0], sc.z[:, 1]
    raw = np.stack([r * np.cos(az), r * np.sin(az)], axis=1)
    rmse_raw = float(np.sqrt(np.mean(np.sum((raw[20:] - sc.truth[20:, :2]) ** 2, axis=1))))
    print(f"{'estimator':<34}{'pos RMSE [m]':>14}{'mean NEES (5 dof)':>20}{'us/step':>10}")
    print(f"{'raw radar, converted to x/y':<34}{rmse_raw:>14.3f}{'':>20}{'':>10}")
    print(f"{'KalmanFilter, CV on converted x/y':<34}{rmse_cv:>14.3f}{'':>20}{'':>10}")
    for name, rmse, mean_nees, us in rows:
        print(f"{name:<34}{rmse:>14.3f}{mean_nees:>20.2f}{us:>10.1f}")
    print("(NEES near 5 means the filter's covariance matches its real error; first 1 s excluded)")
    if plot:
        _plot(sc, results, cv_est, raw, plot)
    return 0


def _plot(sc: RadarScenario, results: dict[str, np.ndarray], cv_est: np.ndarray, raw: np.ndarray, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib (pip install matplotlib); skipped")
        return
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.plot(raw[:, 0], raw[:, 1], ".", ms=2, color="0.7", label="radar (converted)")
    ax.plot(sc.truth[:, 0], sc.truth[:, 1], "k-", lw=2, label="truth")
    ax.plot(cv_est[:, 0], cv_est[:, 1], "-", lw=1, label="KalmanFilter CV")
    for name, est in results.items():
        ax.plot(est[:, 0], est[:, 1], "-", lw=1, label=name)
    ax.plot([0], [0], "r^", ms=10, label="radar")
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    ax.set_aspect("equal")
    ax.legend(loc="best", fontsize=8)
    ax.set_title("fusion demo: simulated drive tracked from radar")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    print(f"picture written to {path}")
