"""Track records with the engine's dtype (FusionEngine.track_dtype) for the output tests, and a
duck-typed replay cycle (the fields fusion.hil.replay.Cycle has)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from fusion.engine import EngineConfig, FusionEngine
from fusion.engine.config import SensorConfig


@functools.cache
def track_dtype() -> np.dtype:
    return FusionEngine(EngineConfig(sensors=[SensorConfig(name="lidar", model="lidar_box3d")])).track_dtype


def random_tracks(rng: np.random.Generator, n: int, *, spread: float = 100.0) -> np.ndarray:
    """n records with random ids, boxes, velocities, classes and existence (some values beyond
    the DBC ranges when ``spread`` is large)."""
    t = np.zeros(n, track_dtype())
    t["id"] = np.sort(rng.choice(60000, size=n, replace=False)) if n else []
    t["status"] = rng.integers(1, 3, n)
    t["box"][:, 0:3] = rng.uniform(-spread, spread, (n, 3))
    t["box"][:, 3] = rng.uniform(-2 * np.pi, 2 * np.pi, n)
    t["box"][:, 4:7] = rng.uniform(0.3, 8.0, (n, 3))
    t["velocity"][:, 0:3] = rng.uniform(-40, 40, (n, 3))
    t["class_id"] = rng.integers(0, 4, n)
    t["existence"] = rng.uniform(0, 1, n)
    return t


@dataclass
class FakeCycle:
    index: int
    t_ns: int
    tracks: Any
    tracks_vehicle: Any
    ego_pose: tuple[float, float, float] | None = None
    sensor: str = "lidar"
    latency_ns: int = 0


def cycles(seed: int, count: int, n_max: int = 6) -> list[FakeCycle]:
    """``count`` cycles 50 ms apart: odometry-frame records and the same records shifted and
    rotated into a moving vehicle frame (ids equal, same order)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        odo = random_tracks(rng, int(rng.integers(0, n_max + 1)), spread=60.0)
        ex, ey, eyaw = 2.0 * i, 0.1 * i, 0.01 * i
        veh = odo.copy()
        c, s = np.cos(eyaw), np.sin(eyaw)
        dx, dy = odo["box"][:, 0] - ex, odo["box"][:, 1] - ey
        veh["box"][:, 0], veh["box"][:, 1] = c * dx + s * dy, -s * dx + c * dy
        veh["box"][:, 3] = odo["box"][:, 3] - eyaw
        out.append(FakeCycle(i, 1_000_000_000 + 50_000_000 * i, odo, veh, (ex, ey, eyaw)))
    return out
