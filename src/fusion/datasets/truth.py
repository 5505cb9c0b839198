"""Ground truth of simulated driving scenes: object trajectories, the ego vehicle's trajectory,
and the transform between the world (odometry) frame and the vehicle frame.

Frames (z up, metres, radians counter-clockwise):

- world: a fixed odometry frame; every :class:`GroundTruth` row and the :class:`EgoTrajectory`
  pose are in it.
- vehicle: x forward, y left, z up, origin on the ground under the ego vehicle's reference
  point, heading ``ego.yaw``. The engine's sensors are mounted in this frame
  (``SensorConfig.mount_R`` / ``mount_t``). A static unit (a roadside unit) has an ego
  trajectory that stays at the world origin, so its vehicle frame IS the world frame.

Objects move as unicycles (position, heading, speed) driven by speed and yaw-rate controls
(:func:`integrate_unicycle`); the recorded velocity is the over-ground velocity of the box
centre, ``speed * (cos yaw, sin yaw, 0)``.

Thread safety: everything here is immutable data and pure functions; any calls may run
concurrently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fusion.errors import ShapeError

__all__ = ["CLASS_NAMES", "EgoTrajectory", "GroundTruth", "VehicleFrameTruth", "integrate_unicycle",
           "to_vehicle"]

#: Object classes of the simulated scenes (class id -> name).
CLASS_NAMES = ("car", "pedestrian", "cyclist")

#: Controls of :func:`integrate_unicycle`: ``f(k, t_s, state) -> (speed, yaw_rate)`` per object,
#: where ``state`` is a dict of (N,) arrays ``x, y, yaw, speed, s`` (s: path length so far).
Controls = Callable[[int, float, dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class GroundTruth:
    """True object states, one row per (object, time step) while the object exists.

    Rows are sorted by ``step`` then ``id``; time step ``step`` is at ``t_ns = step * dt_ns``.

    Attributes:
        id: i8[n], object id (unique per object, never reused).
        class_id: i4[n], index into :data:`CLASS_NAMES`.
        step: i8[n], time-step index; t_ns: i8[n], time [ns].
        position: f8[n, 3], box centre x, y, z in the world frame [m].
        yaw: f8[n], heading of the box's length axis [rad].
        size: f8[n, 3], length, width, height [m].
        velocity: f8[n, 3], over-ground velocity of the centre in the world frame [m/s].
        yaw_rate: f8[n], [rad/s].
        dt_ns: the time step [ns].
    """

    id: np.ndarray
    class_id: np.ndarray
    step: np.ndarray
    t_ns: np.ndarray
    position: np.ndarray
    yaw: np.ndarray
    size: np.ndarray
    velocity: np.ndarray
    yaw_rate: np.ndarray
    dt_ns: int

    def __len__(self) -> int:
        return len(self.id)

    @property
    def boxes(self) -> np.ndarray:
        """(n, 7) world-frame boxes ``x, y, z, yaw, l, w, h``."""
        return np.column_stack([self.position, self.yaw, self.size])

    @property
    def num_objects(self) -> int:
        return len(np.unique(self.id))

    def rows_at(self, step: int) -> np.ndarray:
        """Row indices of the objects present at time step ``step`` (sorted by id)."""
        lo, hi = np.searchsorted(self.step, [step, step + 1])
        return np.arange(lo, hi)

    def lookup(self, step: np.ndarray, obj_id: np.ndarray) -> np.ndarray:
        """Row index of each (step, id) pair, -1 where that object is absent at that step."""
        key = self.step * _ID_SPAN + self.id
        q = np.asarray(step, np.int64) * _ID_SPAN + np.asarray(obj_id, np.int64)
        i = np.searchsorted(key, q)
        i_c = np.minimum(i, len(key) - 1)
        ok = (len(key) > 0) & (i < len(key)) & (key[i_c] == q)
        return np.where(ok, i_c, -1)


_ID_SPAN = np.int64(1 << 32)  # ids stay below 2^32


@dataclass(frozen=True)
class EgoTrajectory:
    """The ego vehicle on every time step: pose in the world frame and what it puts on CAN.

    Attributes:
        t_ns: i8[T]; x, y, yaw: f8[T] pose of the vehicle frame in the world [m, rad];
        speed: f8[T] forward speed [m/s]; yaw_rate: f8[T] [rad/s].
        static: True for a unit that never moves (a roadside unit: pose at the origin, speed 0).
    """

    t_ns: np.ndarray
    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    speed: np.ndarray
    yaw_rate: np.ndarray
    static: bool = False

    def __len__(self) -> int:
        return len(self.t_ns)

    def sensor_velocity(self, steps: np.ndarray, mount_t: np.ndarray) -> np.ndarray:
        """(n, 3) over-ground velocity of a point mounted at ``mount_t`` (vehicle frame),
        expressed in the vehicle frame: ``(v, 0, 0) + omega x t`` (the lever arm)."""
        v, w = self.speed[steps], self.yaw_rate[steps]
        t = np.asarray(mount_t, np.float64)
        return np.column_stack([v - w * t[1], w * t[0], np.zeros_like(v)])


@dataclass(frozen=True)
class VehicleFrameTruth:
    """Truth rows expressed in the vehicle frame of their time step (:func:`to_vehicle`).

    ``velocity_ground`` is the over-ground velocity rotated into the vehicle frame (what a
    tracker with ego-motion compensation estimates); ``velocity_apparent`` is the velocity
    relative to the moving, turning vehicle frame, ``R^T (v - v_ego) - omega x p`` (what a
    tracker that works in the vehicle frame without compensation sees)."""

    position: np.ndarray
    yaw: np.ndarray
    velocity_ground: np.ndarray
    velocity_apparent: np.ndarray


def to_vehicle(truth: GroundTruth, ego: EgoTrajectory, rows: np.ndarray | None = None) -> VehicleFrameTruth:
    """The truth rows ``rows`` (default all) in the vehicle frame of their time step."""
    r = np.arange(len(truth)) if rows is None else np.asarray(rows, np.int64)
    k = truth.step[r]
    c, s = np.cos(ego.yaw[k]), np.sin(ego.yaw[k])
    dx = truth.position[r, 0] - ego.x[k]
    dy = truth.position[r, 1] - ego.y[k]
    px, py = c * dx + s * dy, -s * dx + c * dy
    vx_w, vy_w = truth.velocity[r, 0], truth.velocity[r, 1]
    gx, gy = c * vx_w + s * vy_w, -s * vx_w + c * vy_w
    w = ego.yaw_rate[k]
    ax, ay = gx - ego.speed[k] + w * py, gy - w * px
    pos = np.column_stack([px, py, truth.position[r, 2]])
    yaw = np.angle(np.exp(1j * (truth.yaw[r] - ego.yaw[k])))
    vz = truth.velocity[r, 2]
    return VehicleFrameTruth(pos, yaw, np.column_stack([gx, gy, vz]), np.column_stack([ax, ay, vz]))


def integrate_unicycle(x0: np.ndarray, y0: np.ndarray, yaw0: np.ndarray, birth_step: np.ndarray,
                       death_step: np.ndarray, num_steps: int, dt_s: float, controls: Controls,
                       keep: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None,
                       ) -> dict[str, np.ndarray]:
    """Integrates N unicycles over ``num_steps`` steps of ``dt_s`` and returns their rows.

    Object i exists from ``birth_step[i]`` (its state is the initial pose there) until
    ``death_step[i]`` (exclusive) or until ``keep(state)`` turns False for it (then it is gone
    for good). Each step records the state, then advances it with the midpoint heading:
    ``yaw += w dt; x += v cos(yaw_mid) dt`` (exact for a straight line, second order on arcs).

    Returns a dict of row arrays (``obj`` index, ``step``, ``x``, ``y``, ``yaw``, ``speed``,
    ``yaw_rate``), sorted by step then object."""
    n = len(x0)
    if not (len(y0) == len(yaw0) == len(birth_step) == len(death_step) == n):
        raise ShapeError("integrate_unicycle: x0, y0, yaw0, birth_step and death_step need one entry per object")
    st = {"x": np.asarray(x0, np.float64).copy(), "y": np.asarray(y0, np.float64).copy(),
          "yaw": np.asarray(yaw0, np.float64).copy(), "speed": np.zeros(n), "s": np.zeros(n)}
    alive_ever = np.ones(n, bool)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("obj", "step", "x", "y", "yaw", "speed", "yaw_rate")}
    idx = np.arange(n)
    for k in range(num_steps):
        v, w = controls(k, k * dt_s, st)
        v = np.broadcast_to(np.asarray(v, np.float64), (n,))
        w = np.broadcast_to(np.asarray(w, np.float64), (n,))
        alive = alive_ever & (birth_step <= k) & (k < death_step)
        if keep is not None:
            gone = alive & ~keep(st)
            alive_ever &= ~gone
            alive &= ~gone
        if alive.any():
            out["obj"].append(idx[alive])
            out["step"].append(np.full(int(alive.sum()), k, np.int64))
            for key, val in (("x", st["x"]), ("y", st["y"]), ("yaw", st["yaw"]), ("speed", v), ("yaw_rate", w)):
                out[key].append(val[alive].copy())
        mov = alive
        st["speed"] = np.where(mov, v, st["speed"])
        ymid = st["yaw"] + 0.5 * w * dt_s
        st["x"] = np.where(mov, st["x"] + v * np.cos(ymid) * dt_s, st["x"])
        st["y"] = np.where(mov, st["y"] + v * np.sin(ymid) * dt_s, st["y"])
        st["yaw"] = np.where(mov, st["yaw"] + w * dt_s, st["yaw"])
        st["s"] = np.where(mov, st["s"] + v * dt_s, st["s"])
    return {k: (np.concatenate(v) if v else np.zeros(0, np.int64 if k in ("obj", "step") else np.float64))
            for k, v in out.items()}
