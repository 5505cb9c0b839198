"""A synthetic two-sensor scene with known ground truth, shared by the engine tests.

Vehicle frame: x forward, y left, z up, origin on the ground. A lidar on the roof (1.8 m up,
range 40 m) reports 3D boxes in its own frame; a forward camera (1.5 m up, f = 1000 px,
1280 x 720) reports the image boxes of the same cars, through the pinhole below and
fusion.geometry.projection (the corners of the 3D box projected, their 2D extent).
The lidar runs at 10 Hz (t = 0, 100, 200 ms, ...), the camera at 10 Hz half a period later.

Targets (constant velocity, cars 4.2 x 1.8 x 1.5 m, centre 0.75 m above the ground):
  A  from (15, 3) at (3, 0) m/s      seen by both sensors throughout
  B  from (20, -4) at (-2, 0) m/s    seen by both sensors throughout
  C  from (62, 1) at (-8, 0) m/s     beyond lidar range until t = 2.75 s: camera only first

Detections are shuffled within each frame (so a record's ``detection`` index is meaningful)
and carry seeded Gaussian noise (lidar 5 cm / 0.02 rad, camera 1.5 px).
"""

from __future__ import annotations

import numpy as np

from fusion.engine import EngineConfig, FieldOfView, LifecycleConfig, SensorConfig
from fusion.geometry.projection import box_corners

LIDAR_T = np.array([0.0, 0.0, 1.8])
CAMERA_T = np.array([0.0, 0.0, 1.5])
W, H = 1280.0, 720.0
P = np.array([[1000.0, 0.0, W / 2, 0.0], [0.0, 1000.0, H / 2, 0.0], [0.0, 0.0, 1.0, 0.0]])
# optical frame (x right, y down, z forward) from the camera body frame (x forward, y left, z up)
B = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
LIDAR_RANGE = 40.0
FRAME_NS = 100_000_000
CAMERA_OFFSET_NS = 50_000_000

START = {"A": (15.0, 3.0, 3.0, 0.0), "B": (20.0, -4.0, -2.0, 0.0), "C": (62.0, 1.0, -8.0, 0.0)}
SIZE = (4.2, 1.8, 1.5)


def config(**kw) -> EngineConfig:
    lidar = SensorConfig.lidar("lidar", mount_t=LIDAR_T.tolist(), R=np.diag([0.01, 0.01, 0.01, 0.01, 0.01, 0.01,
                                                                            0.01]),
                               fov=FieldOfView(max_range_m=LIDAR_RANGE), confusion=[[0.8, 0.2], [0.2, 0.8]])
    camera = SensorConfig.camera("camera", projection=P.tolist(), image_size=[W, H], mount_t=CAMERA_T.tolist(),
                                 R=np.diag([9.0] * 4), confusion=[[0.9, 0.1], [0.1, 0.9]])
    camera.fov.max_range_m = 150.0
    kw.setdefault("lifecycle", LifecycleConfig(confirm_hits=3, confirm_window=5, max_coast_s=0.5))
    return EngineConfig(sensors=[lidar, camera], num_classes=2, **kw)


def truth(name: str, t_s: float) -> np.ndarray:
    """The box (x, y, z, yaw, l, w, h) of target `name` at t_s, vehicle frame."""
    x0, y0, vx, vy = START[name]
    return np.array([x0 + vx * t_s, y0 + vy * t_s, 0.75, 0.0, *SIZE])


def image_box(box: np.ndarray) -> np.ndarray:
    """x1, y1, x2, y2 [px] of a vehicle-frame box, clipped to the image."""
    corners = box_corners(box)[0] - CAMERA_T
    o = corners @ B.T
    hom = o @ P[:, :3].T + P[:, 3]
    uv = hom[:, :2] / hom[:, 2:3]
    x1, y1 = uv.min(axis=0)
    x2, y2 = uv.max(axis=0)
    return np.array([np.clip(x1, 0, W), np.clip(y1, 0, H), np.clip(x2, 0, W), np.clip(y2, 0, H)])


def frames(duration_s: float = 4.5, seed: int = 0, t0_ns: int = 0) -> list[dict]:
    """Sensor frames in time order: dicts with sensor, t_ns, z, score, class_id, truth (the
    target name of each detection)."""
    rng = np.random.default_rng(seed)
    out = []
    n = int(round(duration_s * 10))
    for k in range(n):
        for sensor, off in (("lidar", 0), ("camera", CAMERA_OFFSET_NS)):
            t_ns = k * FRAME_NS + off
            t_s = t_ns * 1e-9
            rows, names = [], []
            for name in START:
                box = truth(name, t_s)
                rng_m = float(np.hypot(box[0], box[1]))
                if sensor == "lidar":
                    if rng_m > LIDAR_RANGE - 1.0:
                        continue
                    z = box.copy()
                    z[:3] -= LIDAR_T
                    z += rng.normal(0.0, [0.05, 0.05, 0.05, 0.02, 0.05, 0.05, 0.05])
                else:
                    z = image_box(box) + rng.normal(0.0, 1.5, 4)
                    z[2], z[3] = max(z[2], z[0] + 1.0), max(z[3], z[1] + 1.0)
                rows.append(z)
                names.append(name)
            order = rng.permutation(len(rows))
            m = 7 if sensor == "lidar" else 4
            out.append({
                "sensor": sensor, "t_ns": t0_ns + t_ns,
                "z": np.array([rows[i] for i in order]).reshape(-1, m),
                "score": np.array([0.9 for _ in order]),
                "class_id": np.zeros(len(order), np.int32),
                "truth": [names[i] for i in order],
            })
    return out


def run(engine, frames_: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Processes every frame; returns (tracks, image_tracks) after each."""
    outs = []
    for f in frames_:
        engine.process(f["sensor"], f["t_ns"], f["z"], score=f["score"], class_id=f["class_id"])
        outs.append((engine.tracks(), engine.image_tracks()))
    return outs
