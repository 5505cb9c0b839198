"""A dense three-sensor scene (64 objects that leave and re-enter, lidar and radar clutter,
camera boxes): the engine runs it without an exception, and track and image-track ids stay
unique. Found by the C++ cycle benchmark (csrc/bench/cycle_bench.cpp): a 3D track joining an
image track that a deleted 3D track had left in the same frame raised "TrackTable::set_id:
id N is held by slot S" from inside process()."""

from __future__ import annotations

import numpy as np

from fusion.engine import EngineConfig, FieldOfView, FusionEngine, LifecycleConfig, SensorConfig

F, CU, CV, W, H = 700.0, 640.0, 200.0, 1280.0, 400.0


def _config(n: int) -> EngineConfig:
    lidar = SensorConfig(name="lidar", model="lidar_box3d", cost="mahalanobis", gate=0.99, R=np.eye(7) * 0.05)
    radar = SensorConfig(name="radar", model="radar", cost="mahalanobis", gate=0.99, R=np.diag([0.25, 1e-4, 0.04]),
                         births=False, counts_for_confirmation=False)
    camera = SensorConfig(name="camera", model="camera_box2d", cost="iou_2d", gate=0.3,
                          projection=[[F, 0, CU, 0], [0, F, CV, 0], [0, 0, 1, 0]], image_size=[W, H],
                          R=np.eye(4) * 16.0, births=False, counts_for_confirmation=False, counts_for_coast=False,
                          image_tracks=True, fov=FieldOfView(azimuth_half_rad=0.7))
    return EngineConfig(sensors=[lidar, radar, camera], motion="cv_box", max_tracks=2 * n, max_detections=2 * n,
                        max_image_tracks=n // 2,
                        lifecycle=LifecycleConfig(confirm_hits=2, confirm_window=3, max_coast_s=0.5,
                                                  tentative_max_coast_s=0.3))


def _camera_box(x: float, y: float, length: float, width: float, height: float) -> np.ndarray | None:
    if x < 3.0:
        return None
    c = np.array([[x + sx * length / 2, y + sy * width / 2, height / 2 + sz * height / 2]
                  for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    u, v = F * -c[:, 1] / c[:, 0] + CU, F * -c[:, 2] / c[:, 0] + CV
    b = np.array([max(u.min(), 0.0), max(v.min(), 0.0), min(u.max(), W), min(v.max(), H)])
    return b if b[2] - b[0] > 4 and b[3] - b[1] > 4 else None


def test_dense_scene_runs_and_ids_stay_unique() -> None:
    n, rng = 256, np.random.default_rng(1)
    obj = np.column_stack([rng.uniform(5, 120, n), rng.uniform(-40, 40, n), rng.uniform(-3, 3, n),
                           rng.uniform(-3, 3, n)])
    eng = FusionEngine(_config(n))
    t = 1_000_000_000
    for _ in range(300):
        obj[:, :2] += 0.1 * obj[:, 2:]
        out = (obj[:, 0] < 5) | (obj[:, 0] > 120) | (np.abs(obj[:, 1]) > 40)
        k = int(out.sum())
        obj[out] = np.column_stack([np.full(k, 119.0), rng.uniform(-40, 40, k), -1 - 2 * rng.uniform(0, 1, k),
                                    0.3 * rng.uniform(-3, 3, k)])
        yaw = np.arctan2(obj[:, 3], obj[:, 2])
        noise = rng.standard_normal((n, 3)) * [0.2, 0.2, 0.1]
        zl = np.column_stack([obj[:, 0] + noise[:, 0], obj[:, 1] + noise[:, 1], 0.8 + noise[:, 2], yaw,
                              np.full(n, 4.5), np.full(n, 1.9), np.full(n, 1.6)])
        clutter = np.column_stack([rng.uniform(5, 120, 3), rng.uniform(-40, 40, 3), np.full(3, 0.5), np.zeros(3),
                                   np.ones(3), np.ones(3), np.ones(3)])
        r = np.hypot(obj[:, 0], obj[:, 1])
        seen = rng.uniform(0, 1, n) < 0.8
        rate = (obj[:, 0] * obj[:, 2] + obj[:, 1] * obj[:, 3]) / r
        zr = (np.column_stack([r, np.arctan2(obj[:, 1], obj[:, 0]), rate])
              + rng.standard_normal((n, 3)) * [0.5, 0.01, 0.2])[seen]
        boxes = [b for o in obj if (b := _camera_box(o[0], o[1], 4.5, 1.9, 1.6)) is not None][: n // 4]
        eng.process("lidar", t, np.vstack([zl, clutter]))
        eng.process("radar", t + 33_000_000, zr)
        eng.process("camera", t + 66_000_000, np.array(boxes).reshape(-1, 4))
        tracks, images = eng.tracks(), eng.image_tracks()
        live = np.concatenate([tracks["id"][tracks["status"] != 3], images["id"][images["status"] != 3]])
        assert len(np.unique(live)) == len(live)
        t += 100_000_000
    assert eng.stats()["births"] > n
