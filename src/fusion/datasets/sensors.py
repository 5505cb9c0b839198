"""Simulated lidar, radar and camera: measurements generated from the ground truth by the same
measurement models the engine uses (``csrc/include/fusion/sensor/*.hpp``), with per-sensor
rate, latency, noise, detection probability, clutter and field of view.

A :class:`SimSensor` pairs the engine's :class:`~fusion.engine.SensorConfig` (mounting, field
of view, default covariance ``R = diag(noise_std**2)``, ``pd``, clutter density: the SAME
numbers drive the simulation and the engine) with what only the simulation needs (rate,
phase, latency, clutter count). :func:`simulate` turns truth into a :class:`SensorData`.

Measurement functions (vectorised, inputs in the vehicle frame, :mod:`fusion.datasets.truth`):

- :func:`lidar_h`: 3D box in the sensor frame, ``p_s = R^T (p - t)``, ``yaw_s`` the heading
  ``R^T (cos yaw, sin yaw, 0)`` in the sensor's x-y plane, sizes unchanged (``lidar_box3d.hpp``).
- :func:`radar_h`: range, azimuth and range rate in the sensor's x-y plane, with the sensor's
  own over-ground velocity (``radar_polar.hpp``): ``q = [R^T (p - t)]_xy``,
  ``w = [R^T (v - v_sensor)]_xy``, ``rr = q . w / |q|``. A stationary object seen by a moving
  car has a non-zero range rate.
- :func:`camera_h`: the tightest image box around the 8 projected corners of the 3D box
  through the 3x4 pinhole ``P`` of the optical frame (x right, y down, z forward), clipped to
  the image; undefined (not detected) when any corner is nearer than 0.1 m in depth or the
  clipped box is empty (``camera_box2d.hpp``).

Not simulated: occlusion, radar multipath and extended-target returns (the radar reflects at
the box centre), false class labels.

Thread safety: pure functions and immutable data; any calls may run concurrently.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from fusion.datasets.truth import EgoTrajectory, GroundTruth, to_vehicle
from fusion.engine import FieldOfView, MeasurementBatch, SensorConfig
from fusion.errors import ConfigurationError

__all__ = ["KINDS", "SensorData", "SimSensor", "camera_h", "in_fov", "lidar_h", "radar_h", "simulate"]

#: Sensor kinds and the engine's sensor model key of each.
KINDS = {"lidar": "lidar_box3d", "radar": "radar", "camera": "camera_box2d"}
_OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])  # body (x fwd, y left) -> optical
_MIN_DEPTH_M = 0.1
_RADAR_MIN_RANGE_M = 0.1
# The simulated clutter (:func:`_clutter`), shared with the density the engine is told
# (:func:`_clutter_density`) so that the two cannot drift apart.
_CLUTTER_MAX_RANGE_M = 100.0
_CLUTTER_RR_STD_MPS = 0.5        # radar: range rate of a stationary reflector + this noise
_CLUTTER_Z_STD_M = 0.1           # lidar: centre height noise around a pedestrian's
_CLUTTER_LW_M = (0.4, 1.0)       # lidar: length and width, uniform
_CLUTTER_H_M = (1.0, 1.9)        # lidar: height, uniform
_CLUTTER_BOX_PX = (10.0, 100.0)  # camera: box width and height, uniform


@dataclass(frozen=True)
class SimSensor:
    """One simulated sensor.

    Attributes:
        config: the engine's sensor configuration (mounting in the vehicle frame, field of
            view, ``R`` = the simulated noise covariance, ``pd``, ``clutter_density``).
        kind: ``"lidar"``, ``"radar"`` or ``"camera"``.
        rate_hz: frame rate; frames fall on the truth grid (the period is rounded to it).
        phase_s: time of the first frame.
        latency_s: delay from a frame's timestamp to its arrival (``arrival = t + latency``).
        latency_jitter_s: extra uniform delay in [0, jitter) per frame.
        noise_std: (M,) standard deviation of each measurement component (units of z).
        pd: detection probability of an object inside the field of view.
        clutter_per_frame: mean number of false detections per frame (Poisson).
    """

    config: SensorConfig
    kind: str
    rate_hz: float
    phase_s: float
    latency_s: float
    latency_jitter_s: float
    noise_std: tuple[float, ...]
    pd: float
    clutter_per_frame: float

    @property
    def name(self) -> str:
        return self.config.name

    @classmethod
    def make(cls, kind: str, name: str | None = None, *, rate_hz: float, latency_s: float,
             noise_std: tuple[float, ...], pd: float, clutter_per_frame: float, phase_s: float = 0.0,
             latency_jitter_s: float = 0.0, **config_kw: Any) -> SimSensor:
        """A sensor of ``kind`` whose engine configuration (``SensorConfig.lidar()`` /
        ``radar()`` / ``camera()`` with ``config_kw``) carries the simulated noise, pd and
        clutter density."""
        if kind not in KINDS:
            raise ConfigurationError(f"kind: unknown sensor kind {kind!r}; known kinds: {', '.join(KINDS)}")
        base = {"lidar": SensorConfig.lidar, "radar": SensorConfig.radar, "camera": SensorConfig.camera}[kind]
        cfg = base(name or kind, **config_kw)
        m = cfg.model_info().measurement_dim
        if len(noise_std) != m:
            raise ConfigurationError(f"noise_std: a {kind} measures {m} components "
                                     f"({', '.join(cfg.model_info().components)}), got {len(noise_std)} values")
        cfg = replace(cfg, R=np.diag(np.square(np.asarray(noise_std, np.float64))).tolist(), pd=float(pd),
                      clutter_density=max(_clutter_density(kind, cfg, clutter_per_frame), 1e-12))
        return cls(cfg, kind, float(rate_hz), float(phase_s), float(latency_s), float(latency_jitter_s),
                   tuple(float(x) for x in noise_std), float(pd), float(clutter_per_frame))


def _clutter_density(kind: str, cfg: SensorConfig, per_frame: float) -> float:
    """False alarms per unit volume of the measurement space (the engine's scalar
    clutter_density) for the clutter :func:`_clutter` simulates: ``per_frame`` times the
    expected density at a false detection, ``E[p(z)] = integral of p(z)^2 dz`` under the
    clutter's own distribution p. The simulated clutter is not uniform: a radar's false returns
    have the range rate of a stationary reflector (within ``_CLUTTER_RR_STD_MPS``, not spread
    over every possible range rate) and, like the lidar's, are uniform over the ground area
    (density rising with range); so a uniform volume would understate the density where the
    clutter actually falls, where a track fed by clutter sits (by about 60 times for the
    radar), and make every gated false return strong evidence for a track's existence."""
    f = cfg.fov
    r0, r1 = max(f.min_range_m, 1.0), min(f.max_range_m, _CLUTTER_MAX_RANGE_M)
    gauss = 1.0 / (2.0 * math.sqrt(math.pi))  # integral of N(x; 0, 1)^2 dx
    if kind == "radar":  # r^2 uniform: p(r) = 2 r / (r1^2 - r0^2); azimuth uniform; range rate normal
        e_range = 4.0 * (r1 ** 3 - r0 ** 3) / (3.0 * (r1 ** 2 - r0 ** 2) ** 2)
        return per_frame * e_range / (2.0 * f.azimuth_half_rad) * gauss / _CLUTTER_RR_STD_MPS
    if kind == "camera":  # corner uniform in the image, width and height uniform
        w, h = (np.asarray(cfg.image_size, np.float64) if cfg.image_size is not None else (1280.0, 720.0))
        span = _CLUTTER_BOX_PX[1] - _CLUTTER_BOX_PX[0]
        return per_frame / (float(w * h) * span ** 2)
    # lidar: uniform over the sector's area, height normal, yaw, length, width, height uniform
    area = f.azimuth_half_rad * (r1 ** 2 - r0 ** 2)
    size = (_CLUTTER_LW_M[1] - _CLUTTER_LW_M[0]) ** 2 * (_CLUTTER_H_M[1] - _CLUTTER_H_M[0])
    return per_frame / (area * 2.0 * math.pi * size) * gauss / _CLUTTER_Z_STD_M


@dataclass(frozen=True)
class SensorData:
    """Every frame one simulated sensor produced, with its detections.

    Attributes:
        name, kind: the sensor's.
        frame_t_ns: i8[F] timestamp of every frame (frames without detections included: they
            carry the misses); frame_arrival_ns: i8[F] when the frame arrives (t + latency).
        frame: i8[n] frame index of each detection (sorted); t_ns, arrival_ns: i8[n] its
            frame's timestamp and arrival time.
        z: f8[n, M] measurements in the sensor model's units (sensor frame / pixels).
        truth_id: i8[n] the object that caused the detection, -1 for clutter.
        class_id: i4[n] the object's class (clutter: a random class).
        score: f8[n] detection score in (0, 1].
    """

    name: str
    kind: str
    frame_t_ns: np.ndarray
    frame_arrival_ns: np.ndarray
    frame: np.ndarray
    t_ns: np.ndarray
    arrival_ns: np.ndarray
    z: np.ndarray
    truth_id: np.ndarray
    class_id: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def num_frames(self) -> int:
        return len(self.frame_t_ns)

    def frame_slices(self) -> np.ndarray:
        """(F + 1,) offsets: the detections of frame f are rows ``[off[f], off[f + 1])``."""
        return np.searchsorted(self.frame, np.arange(self.num_frames + 1))

    def frames(self) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """(t_ns, arrival_ns, z, score) of every frame in time order (z may have 0 rows)."""
        off = self.frame_slices()
        for f in range(self.num_frames):
            a, b = off[f], off[f + 1]
            yield int(self.frame_t_ns[f]), int(self.frame_arrival_ns[f]), self.z[a:b], self.score[a:b]

    def to_batch(self, sensor_index: int) -> MeasurementBatch:
        """The detections as a :class:`~fusion.engine.MeasurementBatch` for sensor
        ``sensor_index`` (a batch holds no empty frames: feed those to ``process``)."""
        return MeasurementBatch(np.full(len(self), sensor_index, np.int32), self.t_ns, self.z, score=self.score)


# ---------------------------------------------------------------- measurement functions

def _mount(cfg: SensorConfig) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(cfg.mount_R, np.float64), np.asarray(cfg.mount_t, np.float64)


def lidar_h(boxes: np.ndarray, mount_R: np.ndarray, mount_t: np.ndarray) -> np.ndarray:
    """(n, 7) vehicle-frame boxes -> (n, 7) sensor-frame boxes (``lidar_box3d.hpp``)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 7)
    p = (b[:, :3] - mount_t) @ mount_R
    d = np.column_stack([np.cos(b[:, 3]), np.sin(b[:, 3]), np.zeros(len(b))]) @ mount_R
    return np.column_stack([p, np.arctan2(d[:, 1], d[:, 0]), b[:, 4:7]])


def radar_h(position: np.ndarray, velocity: np.ndarray, sensor_velocity: np.ndarray, mount_R: np.ndarray,
            mount_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Range, azimuth, range rate (``radar_polar.hpp``) of vehicle-frame positions and
    over-ground velocities (rotated into the vehicle frame), seen by a radar whose own
    over-ground velocity (vehicle frame) is ``sensor_velocity`` ((n, 3) or (3,)).

    Returns ((n, 3) z, (n,) bool defined: farther than 0.1 m in the sensor plane)."""
    q = ((np.asarray(position, np.float64) - mount_t) @ mount_R)[:, :2]
    w = ((np.asarray(velocity, np.float64) - sensor_velocity) @ mount_R)[:, :2]
    r = np.hypot(q[:, 0], q[:, 1])
    ok = r > _RADAR_MIN_RANGE_M
    rs = np.where(ok, r, 1.0)
    z = np.column_stack([r, np.arctan2(q[:, 1], q[:, 0]), np.einsum("ij,ij->i", q, w) / rs])
    return z, ok


def camera_h(boxes: np.ndarray, mount_R: np.ndarray, mount_t: np.ndarray, projection: np.ndarray,
             image_size: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Image boxes x1, y1, x2, y2 [px] of (n, 7) vehicle-frame boxes (``camera_box2d.hpp``).

    Returns ((n, 4) boxes, (n,) bool defined: every corner deeper than 0.1 m and, with an
    image size, a non-empty box after clipping)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 7)
    P = np.asarray(projection, np.float64)
    sx = np.array([-1, 1, -1, 1, -1, 1, -1, 1], np.float64)
    sy = np.array([-1, -1, 1, 1, -1, -1, 1, 1], np.float64)
    sz = np.array([-1, -1, -1, -1, 1, 1, 1, 1], np.float64)
    c, s = np.cos(b[:, 3:4]), np.sin(b[:, 3:4])
    ox, oy, oz = sx * 0.5 * b[:, 4:5], sy * 0.5 * b[:, 5:6], sz * 0.5 * b[:, 6:7]
    corners = np.stack([b[:, 0:1] + c * ox - s * oy, b[:, 1:2] + s * ox + c * oy, b[:, 2:3] + oz], axis=2)
    C = _OPTICAL @ mount_R.T                                  # vehicle -> optical
    o = (corners - mount_t) @ C.T                             # (n, 8, 3)
    hom = o @ P[:, :3].T + P[:, 3]
    depth_ok = np.all(hom[..., 2] > _MIN_DEPTH_M, axis=1)
    den = np.where(hom[..., 2] > _MIN_DEPTH_M, hom[..., 2], 1.0)
    u, v = hom[..., 0] / den, hom[..., 1] / den
    z = np.column_stack([u.min(1), v.min(1), u.max(1), v.max(1)])
    ok = depth_ok
    if image_size is not None and image_size[0] > 0 and image_size[1] > 0:
        W, H = float(image_size[0]), float(image_size[1])
        z[:, [0, 2]] = np.clip(z[:, [0, 2]], 0.0, W)
        z[:, [1, 3]] = np.clip(z[:, [1, 3]], 0.0, H)
        ok = ok & (z[:, 2] > z[:, 0]) & (z[:, 3] > z[:, 1])
    return z, ok


def in_fov(position: np.ndarray, fov: FieldOfView, mount_R: np.ndarray, mount_t: np.ndarray) -> np.ndarray:
    """Whether vehicle-frame points lie in a sensor's field of view (azimuth, elevation, range
    of the point in the sensor frame)."""
    p = (np.asarray(position, np.float64) - mount_t) @ mount_R
    r = np.linalg.norm(p, axis=1)
    az = np.abs(np.arctan2(p[:, 1], p[:, 0]))
    el = np.abs(np.arctan2(p[:, 2], np.hypot(p[:, 0], p[:, 1])))
    return (az <= fov.azimuth_half_rad) & (el <= fov.elevation_half_rad) & (r >= fov.min_range_m) & \
        (r <= fov.max_range_m)


# ---------------------------------------------------------------- simulation

def frame_steps(sensor: SimSensor, num_steps: int, dt_ns: int) -> np.ndarray:
    """Truth-grid steps of the sensor's frames (period rounded to the grid)."""
    stride = max(1, round(1e9 / (sensor.rate_hz * dt_ns)))
    first = round(sensor.phase_s * 1e9 / dt_ns)
    return np.arange(first, num_steps, stride, dtype=np.int64)


def simulate(sensor: SimSensor, truth: GroundTruth, ego: EgoTrajectory, rng: np.random.Generator) -> SensorData:
    """All frames of ``sensor`` over the scene: each object in the field of view (and, for a
    camera, projectable into the image) is detected with probability ``pd`` with Gaussian
    noise ``noise_std``; Poisson clutter with mean ``clutter_per_frame`` per frame; rows in a
    frame are shuffled. Deterministic given ``rng``'s state."""
    cfg = sensor.config
    steps = frame_steps(sensor, len(ego), truth.dt_ns)
    F = len(steps)
    t_f = steps * truth.dt_ns
    jitter = rng.uniform(0.0, sensor.latency_jitter_s, F) if sensor.latency_jitter_s > 0 else np.zeros(F)
    arr_f = t_f + np.round((sensor.latency_s + jitter) * 1e9).astype(np.int64)
    frame_of_step = np.full(len(ego), -1, np.int64)
    frame_of_step[steps] = np.arange(F)
    rows = np.nonzero(frame_of_step[truth.step] >= 0)[0]
    vt = to_vehicle(truth, ego, rows)
    R_m, t_m = _mount(cfg)
    boxes = np.column_stack([vt.position, vt.yaw, truth.size[rows]])
    visible = in_fov(vt.position, cfg.fov, R_m, t_m)
    if sensor.kind == "lidar":
        z = lidar_h(boxes, R_m, t_m)
    elif sensor.kind == "radar":
        vs = ego.sensor_velocity(truth.step[rows], t_m)
        z, ok = radar_h(vt.position, vt.velocity_ground, vs, R_m, t_m)
        visible &= ok
    else:
        size = None if cfg.image_size is None else tuple(float(x) for x in np.asarray(cfg.image_size).ravel())
        z, ok = camera_h(boxes, R_m, t_m, np.asarray(cfg.projection, np.float64), size)  # type: ignore[arg-type]
        visible &= ok
    det = visible & (rng.random(len(rows)) < sensor.pd)
    z = z[det] + rng.normal(0.0, 1.0, (int(det.sum()), z.shape[1])) * np.asarray(sensor.noise_std)
    frame = frame_of_step[truth.step[rows[det]]]
    tid = truth.id[rows[det]]
    cls = truth.class_id[rows[det]].astype(np.int32)
    score = rng.uniform(0.6, 1.0, len(frame))
    zc, fc = _clutter(sensor, steps, ego, rng)
    nc = len(fc)
    z = np.vstack([_tidy(sensor.kind, z), zc])
    frame = np.concatenate([frame, fc])
    tid = np.concatenate([tid, np.full(nc, -1, np.int64)])
    cls = np.concatenate([cls, rng.integers(0, 3, nc).astype(np.int32)])
    score = np.concatenate([score, rng.uniform(0.3, 0.8, nc)])
    order = np.lexsort((rng.random(len(frame)), frame))
    frame = frame[order]
    return SensorData(cfg.name, sensor.kind, t_f, arr_f, frame, t_f[frame], arr_f[frame],
                      np.ascontiguousarray(z[order]), tid[order], cls[order], score[order])


def _tidy(kind: str, z: np.ndarray) -> np.ndarray:
    """Noisy measurements back into their domain: angles wrapped, sizes >= 0.05 m, x1 <= x2."""
    z = z.copy()
    if kind == "lidar":
        z[:, 3] = np.angle(np.exp(1j * z[:, 3]))
        z[:, 4:7] = np.maximum(z[:, 4:7], 0.05)
    elif kind == "radar":
        z[:, 0] = np.maximum(z[:, 0], 2 * _RADAR_MIN_RANGE_M)
        z[:, 1] = np.angle(np.exp(1j * z[:, 1]))
    else:
        lo = np.minimum(z[:, 0:2], z[:, 2:4])
        hi = np.maximum(z[:, 0:2], z[:, 2:4])
        z = np.column_stack([lo, hi])
    return z


def _clutter(sensor: SimSensor, steps: np.ndarray, ego: EgoTrajectory,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Poisson false detections: (z, frame index). Lidar: pedestrian-sized boxes uniform over
    the field of view's ground area; radar: uniform in range and azimuth with the range rate
    of a stationary reflector (plus noise); camera: random boxes in the image."""
    cfg = sensor.config
    F = len(steps)
    counts = rng.poisson(sensor.clutter_per_frame, F) if sensor.clutter_per_frame > 0 else np.zeros(F, np.int64)
    n = int(counts.sum())
    fc = np.repeat(np.arange(F, dtype=np.int64), counts)
    f = cfg.fov
    rmax = min(f.max_range_m, _CLUTTER_MAX_RANGE_M)
    R_m, t_m = _mount(cfg)
    if sensor.kind == "camera":
        W, H = (np.asarray(cfg.image_size, np.float64) if cfg.image_size is not None else np.array([1280.0, 720.0]))
        x1, y1 = rng.uniform(0, W, n), rng.uniform(0, H, n)
        w, h = rng.uniform(*_CLUTTER_BOX_PX, n), rng.uniform(*_CLUTTER_BOX_PX, n)
        return np.column_stack([x1, y1, np.minimum(x1 + w, W), np.minimum(y1 + h, H)]), fc
    r = np.sqrt(rng.uniform(max(f.min_range_m, 1.0) ** 2, rmax ** 2, n))
    az = rng.uniform(-f.azimuth_half_rad, f.azimuth_half_rad, n)
    if sensor.kind == "radar":
        u = np.column_stack([np.cos(az), np.sin(az), np.zeros(n)]) @ R_m.T  # line of sight, vehicle frame
        vs = ego.sensor_velocity(steps[fc], t_m)
        rr = -np.einsum("ij,ij->i", u, vs) + rng.normal(0.0, _CLUTTER_RR_STD_MPS, n)
        return np.column_stack([r, az, rr]), fc
    z_s = -t_m[2] + 0.85 + rng.normal(0, _CLUTTER_Z_STD_M, n)  # about a pedestrian's centre height above the ground
    return np.column_stack([r * np.cos(az), r * np.sin(az), z_s, rng.uniform(-np.pi, np.pi, n),
                            rng.uniform(*_CLUTTER_LW_M, n), rng.uniform(*_CLUTTER_LW_M, n),
                            rng.uniform(*_CLUTTER_H_M, n)]), fc
