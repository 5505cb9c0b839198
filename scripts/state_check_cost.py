"""Cost of the finite-state check every predict/update makes (issue 10, in-place edits).

Times a filterpy-style loop -- predict + update of a 4-state constant-velocity filter with a
2-D position measurement -- for ``KalmanFilter`` (C++ step) and ``ExtendedKalmanFilter``
(Python step). Run it once against a tree without the check and once with it:

    PYTHONPATH=src python scripts/state_check_cost.py
"""

from __future__ import annotations

import timeit

import numpy as np

from fusion.filters import ExtendedKalmanFilter, KalmanFilter


def _kf() -> KalmanFilter:
    kf = KalmanFilter(4, 2)
    kf.F = np.array([[1.0, 0, 0.1, 0], [0, 1, 0, 0.1], [0, 0, 1, 0], [0, 0, 0, 1]])
    kf.H = np.array([[1.0, 0, 0, 0], [0, 1, 0, 0]])
    kf.Q = np.eye(4) * 0.01
    kf.R = np.eye(2) * 0.5
    return kf


def _ekf() -> ExtendedKalmanFilter:
    ekf = ExtendedKalmanFilter(4, 2)
    ekf.F = np.array([[1.0, 0, 0.1, 0], [0, 1, 0, 0.1], [0, 0, 1, 0], [0, 0, 0, 1]])
    ekf.Q = np.eye(4) * 0.01
    ekf.R = np.eye(2) * 0.5
    return ekf


def main() -> None:
    z = np.array([[1.0], [2.0]])
    H = np.array([[1.0, 0, 0, 0], [0, 1, 0, 0]])
    kf, ekf = _kf(), _ekf()

    def kf_step() -> None:
        kf.predict()
        kf.update(z)

    def ekf_step() -> None:
        ekf.predict()
        ekf.update(z, lambda x: H, lambda x: H @ x)

    for name, fn, n in (("KalmanFilter", kf_step, 20000), ("ExtendedKalmanFilter", ekf_step, 5000)):
        best = min(timeit.repeat(fn, number=n, repeat=7)) / n
        print(f"{name:22s} predict+update: {best * 1e6:7.2f} us (best of 7 x {n})")


if __name__ == "__main__":
    main()
