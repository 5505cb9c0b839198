"""Deterministic simulated driving scenarios with ground truth, ego motion and lidar, radar and
camera measurements (:func:`make_scenario`, :data:`SCENARIOS`).

Scenarios (all on a 10 ms truth grid; classes :data:`~fusion.datasets.truth.CLASS_NAMES`):

- ``highway`` (60 s): three lanes at 22, 25 and 28 m/s; the ego car at 25 m/s in the middle
  lane; a slower car changes into the ego lane ahead and a faster one cuts in 10-15 m ahead.
- ``urban`` (60 s): a signalised four-way intersection; the ego car approaches, stops at the
  stop line, waits for its green and turns left (yaw rate up to 0.57 rad/s); cars go straight or turn left,
  cyclists ride in bike lanes (straight or right), pedestrians walk the sidewalks and cross
  on the crosswalks; parked cars line the ego's road (stationary objects with a non-zero
  radar range rate while the ego moves).
- ``stop_and_go`` (60 s): the ego car at the back of a queue whose speed oscillates between
  0 and 8 m/s (each car repeats its leader's speed 0.8 s later), a second queue in the next
  lane, parked cars and a pedestrian.
- ``roadside`` (300 s): the same intersection with denser traffic, seen by a static roadside
  unit (lidar, radar and camera on a 6 m pole at the south-west corner, mounted in the world
  frame: its ego trajectory stays at the origin with zero speed): more than 100 objects
  over five minutes.

Actors follow their paths without reacting to each other; the intersection's signal plan
(one approach at a time, then pedestrians: :data:`_PHASES`) and lane geometry keep
conflicting movements apart, so no two objects' boxes ever overlap (tested). Each
scenario's sensors are :class:`~fusion.datasets.sensors.SimSensor` with the engine's
:class:`~fusion.engine.SensorConfig` inside, so the same mounting, noise and field of view
feed the engine (:meth:`DrivingScenario.engine_config`).

Determinism: one :class:`numpy.random.SeedSequence` from ``(seed, scenario name)`` spawns the
truth stream and one stream per sensor, so the same seed gives byte-identical arrays, and
dropping a sensor does not change the others.

Thread safety: :func:`make_scenario` builds new objects and shares nothing; concurrent calls are safe.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fusion.datasets.sensors import SensorData, SimSensor, simulate
from fusion.datasets.truth import EgoTrajectory, GroundTruth, integrate_unicycle
from fusion.engine import EngineConfig, FieldOfView, LifecycleConfig, MeasurementBatch, rotation_from_ypr
from fusion.errors import ConfigurationError

__all__ = ["DT_NS", "SCENARIOS", "DrivingScenario", "make_scenario", "scenario_names"]

DT_NS = 10_000_000  #: truth time step [ns] (10 ms)
MAX_DURATION_S = 3600.0  #: longest drive make_scenario generates (360,000 truth steps)
_DT = DT_NS * 1e-9
CAR, PEDESTRIAN, CYCLIST = 0, 1, 2


@dataclass(frozen=True)
class DrivingScenario:
    """One simulated drive.

    Attributes:
        name, seed, duration_s: what was asked for.
        truth: :class:`~fusion.datasets.truth.GroundTruth` (world frame).
        ego: :class:`~fusion.datasets.truth.EgoTrajectory` (speed and yaw rate: the CAN signals).
        sensors: the simulated sensors, in sensor-index order.
        data: name -> :class:`~fusion.datasets.sensors.SensorData`.
        roi_centre, roi_radius_m: objects are scored while their centre is within this
            ground-plane distance of ``roi_centre`` (vehicle frame: the ego car; roadside: the
            intersection).
    """

    name: str
    seed: int
    duration_s: float
    truth: GroundTruth
    ego: EgoTrajectory
    sensors: tuple[SimSensor, ...]
    data: dict[str, SensorData]
    roi_centre: tuple[float, float] = (0.0, 0.0)
    roi_radius_m: float = 60.0
    notes: str = ""

    @property
    def static(self) -> bool:
        return self.ego.static

    def sensor(self, name: str) -> SimSensor:
        for s in self.sensors:
            if s.name == name:
                return s
        raise ConfigurationError(f"sensor: unknown sensor {name!r}; sensors: {', '.join(s.name for s in self.sensors)}")

    def engine_config(self, sensors: Sequence[str] | None = None, **kw: Any) -> EngineConfig:
        """An :class:`~fusion.engine.EngineConfig` with the named sensors (default all, in
        scenario order), their simulated noise as ``R`` and their pd and clutter density; a
        constant-velocity box model. ``kw`` overrides EngineConfig fields."""
        names = [s.name for s in self.sensors] if sensors is None else list(sensors)
        cfgs = [self.sensor(n).config for n in names]
        kw.setdefault("motion", "cv_box")
        kw.setdefault("motion_noise", {"accel_std": 2.0})
        kw.setdefault("max_tracks", 512)
        kw.setdefault("max_detections", 512)
        kw.setdefault("lifecycle", LifecycleConfig(confirm_hits=3, confirm_window=5, max_coast_s=1.0))
        return EngineConfig(sensors=cfgs, **kw)

    def batch(self, sensors: Sequence[str] | None = None) -> MeasurementBatch:
        """The detections of the named sensors (default all) as one MeasurementBatch, sensor
        index = position in ``sensors`` (as in :meth:`engine_config`)."""
        names = [s.name for s in self.sensors] if sensors is None else list(sensors)
        parts = [self.data[n] for n in names]
        mmax = max(d.z.shape[1] for d in parts)
        z = np.full((sum(len(d) for d in parts), mmax), np.nan)
        off = 0
        for d in parts:
            z[off:off + len(d), :d.z.shape[1]] = d.z
            off += len(d)
        return MeasurementBatch(np.concatenate([np.full(len(d), i, np.int32) for i, d in enumerate(parts)]),
                                np.concatenate([d.t_ns for d in parts]), z,
                                score=np.concatenate([d.score for d in parts]))


# ---------------------------------------------------------------- sensors of a car and of a roadside unit

def _car_sensors() -> list[SimSensor]:
    return [
        SimSensor.make("lidar", rate_hz=10.0, phase_s=0.0, latency_s=0.05, latency_jitter_s=0.01,
                       noise_std=(0.1, 0.1, 0.1, 0.05, 0.1, 0.1, 0.1), pd=0.95, clutter_per_frame=0.2,
                       fov=FieldOfView(min_range_m=0.5, max_range_m=80.0)),
        SimSensor.make("radar", rate_hz=20.0, phase_s=0.02, latency_s=0.03, latency_jitter_s=0.01,
                       noise_std=(0.3, 0.01, 0.2), pd=0.9, clutter_per_frame=3.0, gate=0.999),
        SimSensor.make("camera", rate_hz=12.5, phase_s=0.03, latency_s=0.08, latency_jitter_s=0.02,
                       noise_std=(4.0, 4.0, 4.0, 4.0), pd=0.9, clutter_per_frame=0.3),
    ]


_POLE = (-14.0, -14.0)
# The roadside lidar associates by ground-plane centre distance (gate 2 m, the cost's default),
# not by box overlap (the lidar model's default, GIoU >= -0.2). An overlap gate shrinks with
# the box, to 0.3-0.5 m for a pedestrian, and ignores the track's uncertainty: a pedestrian's
# track confirmed after three hits 0.1 s apart has a velocity error of 1-3 m/s (0.1 m noise
# over 0.1 s) or lags a corner turn, its predicted box lands 0.3-0.5 m off, outside the gate,
# and a second track was born on the next detection (6% of the roadside objects changed track
# id, all pedestrians). At the intersection every object is slow (at most 11 m/s: 1.1 m
# per lidar frame, inside 2 m even from a new track's zero velocity). The car lidars keep the
# overlap gate: on the highway a car moves 3 m per frame relative to the odometry frame, out
# of a 2 m gate from a new track (highway lidar GOSPA 0.29 -> 7.4 m with it).
_ROADSIDE_LIDAR_COST, _ROADSIDE_LIDAR_GATE_M = "distance_bev", 2.0


def _roadside_sensors() -> list[SimSensor]:
    look = math.radians(45.0)  # towards the intersection centre
    return [
        SimSensor.make("lidar", rate_hz=10.0, phase_s=0.0, latency_s=0.06, latency_jitter_s=0.01,
                       noise_std=(0.1, 0.1, 0.1, 0.05, 0.1, 0.1, 0.1), pd=0.95, clutter_per_frame=0.2,
                       mount_t=[_POLE[0], _POLE[1], 6.0], fov=FieldOfView(min_range_m=1.0, max_range_m=100.0),
                       cost=_ROADSIDE_LIDAR_COST, gate=_ROADSIDE_LIDAR_GATE_M),
        SimSensor.make("radar", rate_hz=20.0, phase_s=0.02, latency_s=0.04, latency_jitter_s=0.01,
                       noise_std=(0.3, 0.01, 0.2), pd=0.9, clutter_per_frame=3.0, gate=0.999,
                       mount_t=[_POLE[0], _POLE[1], 5.0], mount_R=rotation_from_ypr(look),
                       fov=FieldOfView(azimuth_half_rad=math.radians(60.0), min_range_m=1.0, max_range_m=150.0)),
        SimSensor.make("camera", rate_hz=12.5, phase_s=0.03, latency_s=0.1, latency_jitter_s=0.02,
                       noise_std=(4.0, 4.0, 4.0, 4.0), pd=0.9, clutter_per_frame=0.3,
                       mount_t=[_POLE[0], _POLE[1], 6.0], mount_R=rotation_from_ypr(look, math.radians(12.0))),
    ]


# ---------------------------------------------------------------- actors

@dataclass
class _Actors:
    """Per-object specs before integration (one entry per object)."""

    cls: list[int] = field(default_factory=list)
    size: list[tuple[float, float, float]] = field(default_factory=list)
    pose: list[tuple[float, float, float]] = field(default_factory=list)
    birth: list[int] = field(default_factory=list)
    # path segments: (length, curvature) list; speed knots over path length: (s, v) lists
    segs: list[list[tuple[float, float]]] = field(default_factory=list)
    knots: list[list[tuple[float, float]]] = field(default_factory=list)

    def add(self, cls: int, size: tuple[float, float, float], pose: tuple[float, float, float], birth_s: float,
            segs: list[tuple[float, float]], knots: list[tuple[float, float]]) -> None:
        self.cls.append(cls)
        self.size.append(size)
        self.pose.append(pose)
        self.birth.append(round(birth_s / _DT))
        self.segs.append(segs)
        self.knots.append(knots)


def _size(cls: int, rng: np.random.Generator) -> tuple[float, float, float]:
    if cls == CAR:
        return (float(rng.uniform(4.0, 5.0)), float(rng.uniform(1.7, 1.95)), float(rng.uniform(1.4, 1.7)))
    if cls == PEDESTRIAN:
        return (float(rng.uniform(0.5, 0.7)), float(rng.uniform(0.5, 0.7)), float(rng.uniform(1.6, 1.9)))
    return (float(rng.uniform(1.6, 1.9)), float(rng.uniform(0.5, 0.7)), float(rng.uniform(1.6, 1.8)))


def _path_controls(a: _Actors, speed: np.ndarray | None = None
                   ) -> tuple[Callable[..., tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Path-following controls: speed v(s) piecewise linear in path length s, and the yaw rate
    that turns the heading by exactly the path's heading change over the step (v * curvature
    inside a segment); ``speed`` (T, N), if given, replaces the knots' speed by a speed per
    time step. Returns (controls, total path length per object)."""
    n = len(a.cls)
    S = max(len(s) for s in a.segs)
    ends = np.full((n, S), np.inf)
    starts = np.full((n, S), np.inf)
    curv = np.zeros((n, S))
    head0 = np.zeros((n, S))  # heading change accumulated at each segment's start
    for i, segs in enumerate(a.segs):
        lens = np.array([L for L, _ in segs])
        ks_i = np.array([k for _, k in segs])
        e = np.cumsum(lens)
        ends[i, :len(segs)] = e
        starts[i, :len(segs)] = e - lens
        curv[i, :len(segs)] = ks_i
        head0[i, :len(segs)] = np.concatenate([[0.0], np.cumsum(lens * ks_i)[:-1]])
    total = np.array([sum(L for L, _ in segs) for segs in a.segs])
    K = max(len(k) for k in a.knots)
    ks = np.full((n, K), np.inf)
    kv = np.zeros((n, K))
    for i, kn in enumerate(a.knots):
        ks[i, :len(kn)] = [s for s, _ in kn]
        kv[i, :len(kn)] = [v for _, v in kn]
        kv[i, len(kn):] = kn[-1][1]
    rows = np.arange(n)

    last = np.array([len(sg) - 1 for sg in a.segs])

    def heading(s: np.ndarray) -> np.ndarray:
        seg = np.minimum((s[:, None] >= ends).sum(1), last)
        return head0[rows, seg] + curv[rows, seg] * (s - starts[rows, seg])

    def controls(k: int, t: float, st: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        s = st["s"]
        j = np.clip((s[:, None] >= ks).sum(1) - 1, 0, K - 2)
        s0, s1 = ks[rows, j], ks[rows, j + 1]
        v0, v1 = kv[rows, j], kv[rows, j + 1]
        frac = np.where(np.isfinite(s1) & (s1 > s0), (s - s0) / np.where(np.isfinite(s1) & (s1 > s0), s1 - s0, 1.0),
                        0.0)
        v = np.where(np.isfinite(s1), v0 + np.clip(frac, 0.0, 1.0) * (v1 - v0), v0)
        if speed is not None:  # a time-based speed profile (T, N) instead of the knots
            v = speed[min(k, len(speed) - 1)]
        # the exact heading change over this step's path length (no overshoot at segment ends)
        return v, (heading(s + v * _DT) - heading(s)) / _DT

    return controls, total


def _finish(a: _Actors, ego_rows: dict[str, np.ndarray] | None, num_steps: int) -> GroundTruth:
    """Integrates the actors along their paths and packs the rows into a GroundTruth."""
    if not a.cls:  # a short roadside drive: nobody has arrived yet
        z3 = np.zeros((0, 3))
        return GroundTruth(id=np.zeros(0, np.int64), class_id=np.zeros(0, np.int32), step=np.zeros(0, np.int64),
                           t_ns=np.zeros(0, np.int64), position=z3, yaw=np.zeros(0), size=z3, velocity=z3,
                           yaw_rate=np.zeros(0), dt_ns=DT_NS)
    controls, total = _path_controls(a)
    pose = np.array(a.pose, np.float64)
    rows = integrate_unicycle(pose[:, 0], pose[:, 1], pose[:, 2], np.array(a.birth, np.int64),
                              np.full(len(a.cls), num_steps, np.int64), num_steps, _DT, controls,
                              keep=lambda st: st["s"] < total - 1e-9)
    del ego_rows
    obj = rows["obj"]
    size = np.array(a.size, np.float64)[obj]
    cls = np.array(a.cls, np.int32)[obj]
    pos = np.column_stack([rows["x"], rows["y"], 0.5 * size[:, 2]])
    vel = np.column_stack([rows["speed"] * np.cos(rows["yaw"]), rows["speed"] * np.sin(rows["yaw"]),
                           np.zeros(len(obj))])
    order = np.lexsort((obj, rows["step"]))
    return GroundTruth(id=(obj + 1).astype(np.int64)[order], class_id=cls[order], step=rows["step"][order],
                       t_ns=rows["step"][order] * DT_NS, position=pos[order],
                       yaw=np.angle(np.exp(1j * rows["yaw"]))[order], size=size[order], velocity=vel[order],
                       yaw_rate=rows["yaw_rate"][order], dt_ns=DT_NS)


def _ego(num_steps: int, speed: np.ndarray | None = None, static: bool = False) -> EgoTrajectory:
    """An ego vehicle driving straight along +x from the origin with the given speed profile
    (a static unit: zero speed, the world origin)."""
    t = np.arange(num_steps, dtype=np.int64) * DT_NS
    v = np.zeros(num_steps) if speed is None else np.asarray(speed, np.float64)
    x = np.concatenate([[0.0], np.cumsum(v[:-1] * _DT)])
    z = np.zeros(num_steps)
    return EgoTrajectory(t, x, z.copy(), z.copy(), v, z.copy(), static=static)


# ---------------------------------------------------------------- intersection traffic

_LANE = 1.75      # lane centre offset from the road axis [m]
_BIKE = 3.3       # cyclists ride in a bike lane beside the car lane
_ENTRY = 7.0      # the intersection box: |x|, |y| < 7 m
_WALK = 9.0       # sidewalk / crosswalk offset
_APPROACH = 70.0  # actors appear this far from the centre


def _rot(theta: float, x: float, y: float) -> tuple[float, float]:
    c, s = math.cos(theta), math.sin(theta)
    return c * x - s * y, s * x + c * y


def _vehicle_path(approach: int, turn: str, lateral: float, v: float, v_turn: float
                  ) -> tuple[tuple[float, float, float], list[tuple[float, float]], list[tuple[float, float]]]:
    """Pose, segments and speed knots of a vehicle entering from approach 0..3 (0: from the
    west heading east, then counter-clockwise) on the lane at ``lateral`` right of the axis."""
    theta = approach * 0.5 * math.pi
    x0, y0 = _rot(theta, -_APPROACH, -lateral)
    L0 = _APPROACH - _ENTRY
    if turn == "straight":
        segs = [(2 * _APPROACH, 0.0)]
        knots = [(0.0, v), (1.0, v)]
    else:
        r = _ENTRY - lateral if turn == "right" else _ENTRY + lateral
        arc = 0.5 * math.pi * r
        k = -1.0 / r if turn == "right" else 1.0 / r
        segs = [(L0, 0.0), (arc, k), (_APPROACH - _ENTRY, 0.0)]
        knots = [(0.0, v), (max(L0 - 15.0, 0.0), v), (L0, v_turn), (L0 + arc, v_turn), (L0 + arc + 15.0, v)]
    return (x0, y0, theta), segs, knots


def _pedestrian_path(corner: int, clockwise: bool, v: float
                     ) -> tuple[tuple[float, float, float], list[tuple[float, float]], list[tuple[float, float]]]:
    """Along a sidewalk to the corner ``corner``, across one arm on its crosswalk, and away
    along the sidewalk on the other side (each pedestrian crosses exactly one road). Walkers
    keep right: counter-clockwise ones on the lines at W = 9.8 m from the road axes, clockwise
    ones at 8.2 m, so that the two directions pass 1.6 m apart."""
    theta = corner * 0.5 * math.pi
    r = 0.5
    if not clockwise:   # east along y = -W, left, north across the west arm on x = -W, left, west along y = W
        W = _WALK + 0.8
        x0, y0 = _rot(theta, -W - r - _SIDEWALK, -W)
        yaw, k = theta, 1.0 / r
    else:               # north along x = -W, right, east across the south arm on y = -W, right, south along x = W
        W = _WALK - 0.8
        x0, y0 = _rot(theta, -W, -W - r - _SIDEWALK)
        yaw, k = theta + 0.5 * math.pi, -1.0 / r
    arc = 0.5 * math.pi * r
    segs = [(_SIDEWALK, 0.0), (arc, k), (2 * (W - r), 0.0), (arc, k), (_SIDEWALK, 0.0)]
    return (x0, y0, yaw), segs, [(0.0, v), (1.0, v)]


_SIDEWALK = 30.0
#: Signal cycle [s]: each approach alone (0: from the west, then counter-clockwise), then all
#: vehicles stop and pedestrians cross. No two conflicting movements share a phase: cars go
#: straight or turn left, cyclists go straight or turn right, and only one approach moves.
_PHASES = (("approach", 0, 12.0), ("approach", 1, 12.0), ("approach", 2, 12.0), ("approach", 3, 12.0),
           ("walk", -1, 20.0))
_CYCLE_S = sum(p[2] for p in _PHASES)
_MARGIN_S = 1.0


def _box_times(segs: list[tuple[float, float]], knots: list[tuple[float, float]], length: float
               ) -> tuple[float, float]:
    """(time to reach the intersection box, time to clear it including the own length),
    from the path start, for a vehicle path of :func:`_vehicle_path` (speed linear in path length)."""
    ks = [k[0] for k in knots]
    vs = [k[1] for k in knots]

    def t_at(s_end: float) -> float:
        t, s0, v0 = 0.0, 0.0, vs[0]
        for s1, v1 in zip(ks[1:] + [math.inf], vs[1:] + [vs[-1]]):
            seg_end = min(s1, s_end)
            if seg_end > s0:
                frac = (seg_end - s0) / (s1 - s0) if math.isfinite(s1) else 0.0
                ve = v0 + frac * (v1 - v0)
                L = seg_end - s0
                t += L / v0 if abs(ve - v0) < 1e-9 else L * math.log(ve / v0) / (ve - v0)
            if s_end <= s1:
                return t
            s0, v0 = s1, v1
        return t

    L0 = _APPROACH - _ENTRY
    inside = segs[1][0] if len(segs) > 1 else 2 * _ENTRY
    return t_at(L0), t_at(L0 + inside + length)


def _intersection_traffic(a: _Actors, rng: np.random.Generator, duration_s: float, *, cycle_start_s: float,
                          car_headway_s: float, bike_prob: float, ped_prob: float,
                          skip_approach: int = -1) -> None:
    """Signalised traffic: in its approach's green phase each car (straight or left) or cyclist
    (straight or right) enters the intersection box and clears it before the phase ends (at
    least ``car_headway_s`` after the previous one); in the walk phase pedestrians are on the
    crosswalks only while it lasts. Actors appear 70 m out at the time that gets them there."""
    k0 = math.floor(-cycle_start_s / _CYCLE_S) - 1
    k = k0
    while cycle_start_s + k * _CYCLE_S < duration_s:
        g = cycle_start_s + k * _CYCLE_S
        k += 1
        for kind, ap, dur in _PHASES:
            g0, g1 = g, g + dur - _MARGIN_S
            g += dur
            if kind == "approach":
                if ap == skip_approach:
                    continue
                t_in = g0 + float(rng.uniform(0.0, 1.0))
                while True:
                    if rng.random() < bike_prob:
                        cls, turn = CYCLIST, str(rng.choice(["straight", "straight", "right"]))
                        pose, segs, knots = _vehicle_path(ap, turn, _BIKE, float(rng.uniform(4.5, 5.5)), 3.5)
                    else:
                        cls, turn = CAR, str(rng.choice(["straight", "straight", "left"]))
                        pose, segs, knots = _vehicle_path(ap, turn, _LANE, float(rng.uniform(9.0, 11.0)), 5.0)
                    size = _size(cls, rng)
                    reach, clear = _box_times(segs, knots, size[0])
                    if t_in + (clear - reach) > g1:
                        break
                    spawn = t_in - reach
                    if 0.0 <= spawn < duration_s - 2.0:
                        a.add(cls, size, pose, spawn, segs, knots)
                    t_in += car_headway_s + float(rng.exponential(1.0))
                continue
            for corner in range(4):
                for clockwise in (False, True):
                    t_x = g0 + float(rng.uniform(0.0, 2.0))
                    v = float(rng.uniform(1.3, 1.6))  # one pace per group: nobody walks into the one ahead
                    while rng.random() < ped_prob:
                        to_cross = (_SIDEWALK + 0.25 * math.pi) / v  # path length to the crosswalk
                        if t_x + (2 * _WALK + 1.0) / v > g1:
                            break
                        spawn = t_x - to_cross
                        if 0.0 <= spawn < duration_s - 2.0:
                            pose, segs, knots = _pedestrian_path(corner, clockwise, v)
                            a.add(PEDESTRIAN, _size(PEDESTRIAN, rng), pose, spawn, segs, knots)
                        t_x += float(rng.uniform(1.0, 3.0))


def _parked(a: _Actors, rng: np.random.Generator, xs: Sequence[float], y: float) -> None:
    for x in xs:
        a.add(CAR, _size(CAR, rng), (float(x), y, 0.0), 0.0, [(1.0, 0.0)], [(0.0, 0.0), (1.0, 0.0)])


# ---------------------------------------------------------------- scenarios

def _highway(rng: np.random.Generator, duration_s: float) -> tuple[GroundTruth, EgoTrajectory, dict[str, Any]]:
    T = round(duration_s / _DT)
    a = _Actors()
    lanes = {-3.5: 22.0, 0.0: 25.0, 3.5: 28.0}
    far = 30.0 * duration_s + 400.0
    # the lane change: a right-lane car joins the ego lane ahead (rel. x ~ 57 m at t = 17 s)
    # the cut-in: a left-lane car cuts in 10-15 m ahead of the ego at t = 20 s
    changes = {(-3.5, 5): (17.0, 3.5, 4.0), (3.5, 3): (20.0, -3.5, 3.0)}
    starts = {-3.5: [-90.0 + 40 * j for j in range(8)], 0.0: [-30.0, 35.0, 80.0],
              3.5: [-170.0 + 40 * j for j in range(8)]}
    for y, xs in starts.items():
        v = lanes[y]
        for j, x in enumerate(xs):
            x += float(rng.uniform(-2.0, 2.0))
            spec = changes.get((y, j))
            if spec is None:
                a.add(CAR, _size(CAR, rng), (x, y, 0.0), 0.0, [(far, 0.0)], [(0.0, v), (1.0, v)])
                continue
            t0, dy, Tc = spec
            v1 = lanes[y + dy]
            s0 = v * t0
            vm = 0.5 * (v + v1)
            A = 2 * math.pi * dy / (vm * Tc * Tc)  # peak yaw rate of a sinusoidal lane change
            a.add(CAR, _size(CAR, rng), (x, y, 0.0), 0.0, [(far, 0.0)],
                  [(0.0, v), (s0, v), (s0 + vm * Tc, v1)])
            a.segs[-1] = _lane_change_segments(s0, vm, Tc, A, far)
    truth = _finish(a, None, T)
    return truth, _ego(T, np.full(T, 25.0)), {"roi_radius_m": 60.0}


def _lane_change_segments(s0: float, vm: float, Tc: float, A: float, far: float) -> list[tuple[float, float]]:
    """Curvature segments approximating yaw rate A sin(2 pi t / Tc) at speed vm: 20 pieces."""
    n = 20
    ds = vm * Tc / n
    segs = [(s0, 0.0)]
    for i in range(n):
        tm = (i + 0.5) * Tc / n
        segs.append((ds, A * math.sin(2 * math.pi * tm / Tc) / vm))
    segs.append((far, 0.0))
    return segs


def _urban(rng: np.random.Generator, duration_s: float) -> tuple[GroundTruth, EgoTrajectory, dict[str, Any]]:
    T = round(duration_s / _DT)
    a = _Actors()
    # The ego turns left in its own approach's phase (green from 20 s to 32 s); no other
    # traffic on its approach.
    _intersection_traffic(a, rng, duration_s, cycle_start_s=20.0, car_headway_s=2.5, bike_prob=0.2, ped_prob=0.6,
                          skip_approach=0)
    _parked(a, rng, [-48.0, -40.0, -32.0, 20.0, 30.0, 45.0], -4.9)
    truth = _finish(a, None, T)
    t = np.arange(T) * _DT
    # 10 m/s, brake to a stop at the stop line (x = -12, 58 m along the path), wait for the
    # green (20 s), turn left at 5 m/s (the arc: 63 m to 76.7 m along the path, 20-25 s), then
    # accelerate to 10 m/s northwards.
    v = np.where(t < 4.0, 10.0, np.where(t < 7.6, 10.0 - (t - 4.0) * 10.0 / 3.6, 0.0))
    v = np.where(t >= 20.0, np.minimum(5.0, 2.0 * (t - 20.0)), v)
    v = np.where(t >= 25.0, np.minimum(10.0, 5.0 + 2.0 * (t - 25.0)), v)
    e = _Actors()
    pose, segs, _ = _vehicle_path(0, "left", _LANE, 10.0, 5.0)
    e.add(CAR, (4.6, 1.9, 1.5), pose, 0.0, segs[:-1] + [(1e4, 0.0)], [(0.0, 10.0)])
    controls, _ = _path_controls(e, v[:, None])
    rows = integrate_unicycle(np.array([pose[0]]), np.array([pose[1]]), np.array([pose[2]]), np.zeros(1, np.int64),
                              np.full(1, T, np.int64), T, _DT, controls)
    ego = EgoTrajectory(np.arange(T, dtype=np.int64) * DT_NS, rows["x"], rows["y"], rows["yaw"], rows["speed"],
                        rows["yaw_rate"])
    return truth, ego, {"roi_radius_m": 60.0}


def _stop_and_go(rng: np.random.Generator, duration_s: float) -> tuple[GroundTruth, EgoTrajectory, dict[str, Any]]:
    T = round(duration_s / _DT)
    t = np.arange(T) * _DT
    tau = 0.8

    def wave(delay: float, t0: float, period: float) -> np.ndarray:
        tt = t - delay - t0
        return np.where(tt > 0, 4.0 * (1.0 - np.cos(2 * math.pi * tt / period)), 0.0)

    n_lead = 6
    a = _Actors()
    speeds: list[np.ndarray] = []
    for j in range(1, n_lead + 1):        # the ego lane, car j at x = 12 j, the front one leads
        a.add(CAR, _size(CAR, rng), (12.0 * j, 0.0, 0.0), 0.0, [(1e4, 0.0)], [(0.0, 0.0)])
        speeds.append(wave((n_lead - j) * tau, 2.0, 16.0))
    for j in range(10):                   # the next lane: another queue, another rhythm
        a.add(CAR, _size(CAR, rng), (-40.0 + 12.0 * j + float(rng.uniform(-1, 1)), 3.5, 0.0), 0.0, [(1e4, 0.0)],
              [(0.0, 0.0)])
        speeds.append(wave((9 - j) * tau, 5.0, 20.0))
    _parked(a, rng, [-20.0, -12.0, 10.0, 25.0, 40.0, 60.0], -3.6)
    speeds += [np.zeros(T)] * 6
    a.add(PEDESTRIAN, _size(PEDESTRIAN, rng), (-15.0, -6.0, 0.0), 0.0, [(1e4, 0.0)], [(0.0, 1.3)])
    speeds.append(np.full(T, 1.3))
    V = np.stack(speeds, axis=1)          # (T, N) time-based speeds

    def controls(k: int, tt: float, st: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return V[k], np.zeros(V.shape[1])

    pose = np.array(a.pose)
    n = len(a.cls)
    rows = integrate_unicycle(pose[:, 0], pose[:, 1], pose[:, 2], np.zeros(n, np.int64), np.full(n, T, np.int64),
                              T, _DT, controls)
    obj = rows["obj"]
    size = np.array(a.size)[obj]
    order = np.lexsort((obj, rows["step"]))
    truth = GroundTruth(id=(obj + 1).astype(np.int64)[order], class_id=np.array(a.cls, np.int32)[obj][order],
                        step=rows["step"][order], t_ns=rows["step"][order] * DT_NS,
                        position=np.column_stack([rows["x"], rows["y"], 0.5 * size[:, 2]])[order],
                        yaw=rows["yaw"][order], size=size[order],
                        velocity=np.column_stack([rows["speed"] * np.cos(rows["yaw"]),
                                                  rows["speed"] * np.sin(rows["yaw"]), np.zeros(len(obj))])[order],
                        yaw_rate=rows["yaw_rate"][order], dt_ns=DT_NS)
    return truth, _ego(T, wave(n_lead * tau, 2.0, 16.0)), {"roi_radius_m": 60.0}


def _roadside(rng: np.random.Generator, duration_s: float) -> tuple[GroundTruth, EgoTrajectory, dict[str, Any]]:
    T = round(duration_s / _DT)
    a = _Actors()
    _intersection_traffic(a, rng, duration_s, cycle_start_s=0.0, car_headway_s=2.0, bike_prob=0.25, ped_prob=0.8)
    return _finish(a, None, T), _ego(T, static=True), {"roi_radius_m": 50.0}


_Builder = Callable[[np.random.Generator, float], tuple[GroundTruth, EgoTrajectory, dict[str, Any]]]

#: name -> (builder, sensors factory, default duration [s], one line).
SCENARIOS: dict[str, tuple[_Builder, Callable[[], list[SimSensor]], float, str]] = {
    "highway": (_highway, _car_sensors, 60.0, "3-lane highway, lane change and cut-in ahead of the ego car"),
    "urban": (_urban, _car_sensors, 60.0, "intersection: turning cars, cyclists, pedestrians, parked cars; "
              "the ego stops and goes straight on"),
    "stop_and_go": (_stop_and_go, _car_sensors, 60.0, "the ego at the back of a 0-8 m/s stop-and-go queue"),
    "roadside": (_roadside, _roadside_sensors, 300.0, "the intersection from a static roadside unit, "
                 "5 minutes, >100 objects"),
}


def scenario_names() -> list[str]:
    return list(SCENARIOS)


def make_scenario(name: str, seed: int = 0, duration_s: float | None = None) -> DrivingScenario:
    """Generates scenario ``name`` (:data:`SCENARIOS`) with ``seed``; ``duration_s`` shortens
    (or lengthens) it (default: the scenario's own, 60 s or 300 s for ``roadside``).

    Raises ConfigurationError for an unknown name (listing the known ones) or a duration that
    is not a number of seconds in [1, :data:`MAX_DURATION_S`]."""
    if not isinstance(name, str) or name not in SCENARIOS:
        raise ConfigurationError(f"scenario: unknown scenario {name!r}; known scenarios: {', '.join(SCENARIOS)}")
    build, make_sensors, default_s, _ = SCENARIOS[name]
    dur = default_s if duration_s is None else duration_s
    if (isinstance(dur, bool) or not isinstance(dur, (int, float)) or not math.isfinite(dur)
            or not 1.0 <= dur <= MAX_DURATION_S):
        raise ConfigurationError(f"duration_s: expected seconds in [1, {MAX_DURATION_S:.0f}], got {duration_s!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigurationError(f"seed: expected an integer >= 0, got {seed!r}")
    ss = np.random.SeedSequence([int(seed), zlib.crc32(name.encode())])
    sensors = make_sensors()
    streams = ss.spawn(1 + len(sensors))
    truth, ego, extra = build(np.random.default_rng(streams[0]), float(dur))
    data = {s.name: simulate(s, truth, ego, np.random.default_rng(st)) for s, st in zip(sensors, streams[1:])}
    return DrivingScenario(name=name, seed=int(seed), duration_s=float(dur), truth=truth, ego=ego,
                           sensors=tuple(sensors), data=data, **extra)
