"""How ``fusion scenarios`` turns a drive's sensor frames into tracks: central
(measurement-level) fusion or track-to-track fusion (:data:`FUSION_MODES`).

- ``central``: one :class:`~fusion.engine.FusionEngine` takes every sensor's frames
  (:class:`CentralRunner`).
- ``t2t``: each sensor is tracked alone by its own engine (the same configuration as in
  central, one sensor each); after every frame, that engine's confirmed 3D tracks are its
  track list, sent to a :class:`~fusion.t2t.TrackFuser` (one source per sensor) which fuses
  the lists with covariance intersection (:class:`TrackListRunner`); the lists hold confirmed
  tracks, so a fused track is confirmed by its first list (``confirm_updates = 1``). With a lidar in the set
  only the lidar's list starts fused tracks (``births = False`` for the others), the
  counterpart of central fusion's "only the lidar starts tracks". A camera's engine has no
  3D tracks (no range): its list is empty and it contributes nothing in 3D.
- A vehicle with a roadside unit's track list (:mod:`fusion.scenarios.roadside`): the same
  :class:`TrackListRunner` with the roadside list as one more source, in the world frame.

Frames. Without the roadside list the fusion frame is the vehicle frame, exactly as the
central engine's (no ego motion: every list's pose is the identity and velocities are
relative to the vehicle frame). With it, the fusion frame is the world frame: each vehicle
list is mapped by the ego pose at its time, its velocities made over-ground
(``v_ground = v_apparent + (speed, 0) + omega x p`` in the vehicle frame, the inverse of
:func:`fusion.datasets.truth.to_vehicle`, with that Jacobian on the covariance), and the
fused tracks are mapped back into the vehicle frame of each scoring time.

Thread safety: a runner is used by one evaluation (one thread).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fusion.datasets.driving import DrivingScenario
from fusion.engine import EngineConfig, FusionEngine
from fusion.t2t import SourceConfig, TrackFuser, TrackFuserConfig

__all__ = ["FUSION_MODES", "CentralRunner", "Estimates", "ExternalList", "TrackListRunner", "engine_config",
           "engine_tracks_xy"]

#: ``fusion scenarios --fusion``: measurement-level or track-to-track.
FUSION_MODES = ("central", "t2t")

F64 = npt.NDArray[np.float64]


@dataclass
class Estimates:
    """Confirmed tracks at one scoring time, in the vehicle frame of that time."""

    ids: npt.NDArray[np.int64]
    points: F64                      # (n, 2) positions predicted to the scoring time
    steps: npt.NDArray[np.int64]     # (n,) truth step of the estimate's own time (for NEES)
    xy: F64                          # (n, 2) position at that time
    Pxy: F64                         # (n, 2, 2) its covariance


@dataclass
class ExternalList:
    """A track list from outside the vehicle (the roadside unit): ``t_ns`` its stamp, ids,
    states (n, 4) x, y, vx, vy and covariances (n, 4, 4) in the world frame."""

    t_ns: int
    ids: npt.NDArray[np.int64]
    x: F64
    P: F64


def engine_config(sc: DrivingScenario, sensors: Sequence[str]) -> EngineConfig:
    """The scenario's engine configuration for ``sensors`` with the evaluation's one policy:
    when a lidar is in the set, only the lidar starts 3D tracks (radar returns update and
    confirm them). A radar return carries no extent and only the radial velocity, so a radar
    birth next to a lidar track is a duplicate more often than a new object; radar-only sets
    keep radar births."""
    from dataclasses import replace

    cfg = sc.engine_config(sensors)
    if any(s.model == "lidar_box3d" for s in cfg.sensors):
        cfg.sensors = [replace(s, births=False) if s.model == "radar" else s for s in cfg.sensors]
    return cfg


def engine_tracks_xy(engine: FusionEngine) -> tuple[npt.NDArray[Any], int, int, int, int]:
    """The engine's confirmed tracks and the indices of x, y, vx, vy in its state."""
    st = engine.config.motion_info().state
    return engine.tracks(confirmed_only=True), st.index("x"), st.index("y"), st.index("vx"), st.index("vy")


def feed_ego(engine: FusionEngine, sc: DrivingScenario, start: int, until_ns: int) -> int:
    """Gives ``engine``'s odometry the ego samples ``start ..`` stamped up to ``until_ns``;
    returns the index of the next sample to give."""
    e = sc.ego
    stop = int(np.searchsorted(e.t_ns, until_ns, side="right"))
    if stop > start:
        engine.ego_motion(e.t_ns[start:stop], e.speed[start:stop], e.yaw_rate[start:stop])
    return max(stop, start)


class CentralRunner:
    """Every sensor into one engine.

    Ego motion (``ego=True``, the default, for a drive whose ego moves): the ego's speed and yaw
    rate (its CAN signals) are fed to the engine's odometry as they happen (:meth:`feed_ego`,
    up to the current wall time), so the tracks live in the fixed odometry frame and stationary
    objects stay put; the estimates are read in the vehicle frame of the scoring time
    (``tracks(at_ns=..., frame="vehicle", fixed_lag=True)``: the state after the frames stamped
    up to that time, whatever was fused since), the frame the truth is scored in. ``ego=False``:
    the engine tracks in the vehicle frame of each measurement's time (no ego input; the
    behaviour before the time layer existed)."""

    def __init__(self, sc: DrivingScenario, sensors: Sequence[str], ego: bool = True) -> None:
        self.sc = sc
        self.engine = FusionEngine(engine_config(sc, sensors))
        self.camera = next((i for i, n in enumerate(sensors) if sc.sensor(n).kind == "camera"), None)
        self.ego = bool(ego) and not sc.ego.static
        self._ego_next = 0

    def feed_ego(self, until_ns: int) -> None:
        """Gives the odometry the ego samples stamped up to ``until_ns`` (not yet given)."""
        if self.ego:
            self._ego_next = feed_ego(self.engine, self.sc, self._ego_next, until_ns)

    def process(self, sensor: int, t_ns: int, z: F64, score: F64) -> None:
        self.feed_ego(t_ns)
        self.engine.process(sensor, t_ns, z, score=score)

    def estimates(self, t_e: int, k: int) -> Estimates:
        dt_ns = self.sc.truth.dt_ns
        if not self.ego:
            # no ego input: the tracking frame is the vehicle frame (the world frame for a
            # static unit); the fixed-lag state at t_e, as below
            st = self.engine.config.motion_info().state
            ix, iy = st.index("x"), st.index("y")
            tr = self.engine.tracks(confirmed_only=True, at_ns=t_e, fixed_lag=True)
            return Estimates(tr["id"].astype(np.int64), tr["box"][:, :2], tr["t_ns"] // dt_ns, tr["x"][:, [ix, iy]],
                             tr["P"][:, [ix, iy]][:, :, [ix, iy]])
        self.feed_ego(t_e)
        st = self.engine.config.motion_info().state
        ix, iy = st.index("x"), st.index("y")
        # Box and velocity in the (fixed) vehicle frame of t_e. Fixed lag: the state after
        # exactly the frames stamped up to t_e, from the engine's out-of-sequence history, so
        # that with a publish delay the frames stamped after t_e (already fused) play no part
        # and the result does not depend on the order the frames arrived in.
        tr = self.engine.tracks(confirmed_only=True, at_ns=t_e, frame="vehicle", fixed_lag=True)
        pts = tr["box"][:, :2]
        # NEES: x, P (odometry frame) in the vehicle frame of the estimate's own time.
        xy = np.empty((len(tr), 2))
        Pxy = np.empty((len(tr), 2, 2))
        for t in np.unique(tr["t_ns"]):
            m = tr["t_ns"] == t
            pose = self.engine.ego_pose(int(t))
            c, s_ = math.cos(pose["yaw_rad"]), math.sin(pose["yaw_rad"])
            rot = np.array([[c, -s_], [s_, c]])  # vehicle axes in the odometry frame
            xy[m] = (tr["x"][m][:, [ix, iy]] - np.array([pose["x_m"], pose["y_m"]])) @ rot  # R^T d per row
            Pxy[m] = rot.T @ tr["P"][m][:, [ix, iy]][:, :, [ix, iy]] @ rot
        return Estimates(tr["id"].astype(np.int64), pts, tr["t_ns"] // dt_ns, xy, Pxy)

    def image_tracks(self, t_e: int) -> npt.NDArray[Any] | None:
        """The confirmed image tracks after the frames stamped up to ``t_e`` (fixed lag)."""
        return None if self.camera is None else self.engine.image_tracks(confirmed_only=True, at_ns=t_e)

    def stats(self) -> dict[str, int]:
        s = self.engine.stats()
        return {"late_frames": int(s.get("late_frames", 0)), "frames": int(s.get("frames", 0)),
                "reprocessed_frames": int(s.get("reprocessed_frames", 0))}


@dataclass
class _Source:
    name: str
    engine: FusionEngine | None          # None: an external list
    births: bool = True
    sensors: list[int] = field(default_factory=list)  # scenario-set sensor indices it takes
    ego_next: int = 0                    # the next ego sample to give its engine


class TrackListRunner:
    """Track lists fused by a TrackFuser (module docstring).

    Args:
        sc: the drive (its ego trajectory gives the vehicle pose in world mode).
        sensors: the vehicle's sensors (names, in the scenario's order).
        own: ``"t2t"``: one engine and one list per sensor; ``"central"``: one engine on all
            of them, one list (the vehicle's own tracks).
        external: name and latency [s] of an external world-frame list (the roadside unit):
            switches the fusion frame to the world frame.
    """

    def __init__(self, sc: DrivingScenario, sensors: Sequence[str], own: str = "t2t",
                 external: tuple[str, float] | None = None) -> None:
        self.sc = sc
        # A moving vehicle's engines get its ego motion (tracks in their odometry frames) and the
        # lists are fused in the world frame (each list placed by the odometry-to-world pose).
        self.ego = not sc.ego.static
        self.world = external is not None or self.ego
        lidar = any(sc.sensor(n).kind == "lidar" for n in sensors)
        self.sources: list[_Source] = []
        if own == "central":
            self.sources.append(_Source("vehicle", FusionEngine(engine_config(sc, sensors)), True,
                                        list(range(len(sensors)))))
        else:
            for i, n in enumerate(sensors):
                births = not lidar or sc.sensor(n).kind == "lidar"
                self.sources.append(_Source(n, FusionEngine(engine_config(sc, [n])), births, [i]))
        cfgs = [SourceConfig(s.name, births=s.births) for s in self.sources]
        if external is not None:
            cfgs.append(SourceConfig(external[0], latency_s=external[1]))
        self.fuser = TrackFuser(TrackFuserConfig(sources=cfgs, max_fused_tracks=512, max_source_tracks=512,
                                                 delete_after_s=0.5, max_delay_s=0.5, confirm_updates=1))
        self.external = external[0] if external is not None else None
        self._by_sensor = {i: (j, s.sensors.index(i)) for j, s in enumerate(self.sources) for i in s.sensors}
        self.camera = next((i for i, n in enumerate(sensors) if sc.sensor(n).kind == "camera"), None)

    def process(self, sensor: int, t_ns: int, z: F64, score: F64) -> None:
        j, local = self._by_sensor[sensor]
        src = self.sources[j]
        assert src.engine is not None
        if self.ego:  # the ego samples up to this frame (each engine has its own odometry)
            src.ego_next = feed_ego(src.engine, self.sc, src.ego_next, t_ns)
        src.engine.process(local, t_ns, z, score=score)
        tr, ix, iy, ivx, ivy = engine_tracks_xy(src.engine)
        sel = [ix, iy, ivx, ivy]
        x = np.ascontiguousarray(tr["x"][:, sel])
        P = np.ascontiguousarray(tr["P"][:, sel][:, :, sel])
        pose = None
        if self.ego:  # odometry-frame states, over-ground velocity: placed by T_world_odometry
            pose = self._odometry_to_world(src.engine, t_ns)
        elif self.world:
            x, P, pose = self._to_world(x, P, t_ns)
        self.fuser.update(src.name, t_ns, tr["id"].astype(np.int64), tr["t_ns"].astype(np.int64), x, P, pose=pose)

    def feed_external(self, lst: ExternalList) -> None:
        assert self.external is not None
        self.fuser.update(self.external, lst.t_ns, lst.ids, None, lst.x, lst.P)

    def _step(self, t_ns: int) -> int:
        return min(max(round(t_ns / self.sc.truth.dt_ns), 0), len(self.sc.ego) - 1)

    def _odometry_to_world(self, engine: FusionEngine, t_ns: int) -> tuple[float, float, float]:
        """The pose of ``engine``'s odometry frame in the world: T_world_vehicle(t) composed with
        the inverse of the odometry's vehicle pose at t."""
        e = self.sc.ego
        k = self._step(t_ns)
        o = engine.ego_pose(t_ns)
        yaw = float(e.yaw[k]) - o["yaw_rad"]
        c, s = math.cos(yaw), math.sin(yaw)
        return (float(e.x[k]) - (c * o["x_m"] - s * o["y_m"]), float(e.y[k]) - (s * o["x_m"] + c * o["y_m"]), yaw)

    def _to_world(self, x: F64, P: F64, t_ns: int) -> tuple[F64, F64, tuple[float, float, float]]:
        """Vehicle-frame states with apparent velocity -> over-ground velocity (still in the
        vehicle frame's axes); the pose maps the frame into the world (in the fuser)."""
        e = self.sc.ego
        k = self._step(t_ns)
        v, w = float(e.speed[k]), float(e.yaw_rate[k])
        J = np.eye(4)
        J[2, 1], J[3, 0] = -w, w
        xg = x.copy()
        xg[:, 2] += v - w * x[:, 1]
        xg[:, 3] += w * x[:, 0]
        Pg = J @ P @ J.T
        return xg, 0.5 * (Pg + np.swapaxes(Pg, 1, 2)), (float(e.x[k]), float(e.y[k]), float(e.yaw[k]))

    def estimates(self, t_e: int, k: int) -> Estimates:
        tr = self.fuser.tracks(confirmed_only=True, at=t_e)
        x, P = tr["x"], tr["P"]
        pos, Pxy = x[:, :2], P[:, :2, :2]
        if self.world:
            e = self.sc.ego
            c, s = math.cos(e.yaw[k]), math.sin(e.yaw[k])
            Rt = np.array([[c, s], [-s, c]])
            pos = (pos - [e.x[k], e.y[k]]) @ Rt.T
            Pxy = Rt @ Pxy @ Rt.T
        steps = np.full(len(tr), k, np.int64)
        return Estimates(tr["id"].astype(np.int64), pos, steps, pos, Pxy)

    def image_tracks(self, t_e: int) -> npt.NDArray[Any] | None:
        if self.camera is None:
            return None
        j, _ = self._by_sensor[self.camera]
        eng = self.sources[j].engine
        assert eng is not None
        return eng.image_tracks(confirmed_only=True, at_ns=t_e)

    def stats(self) -> dict[str, int]:
        out = {"late_frames": 0, "frames": 0}
        for s in self.sources:
            if s.engine is not None:
                st = s.engine.stats()
                out["late_frames"] += int(st.get("late_frames", 0))
                out["frames"] += int(st.get("frames", 0))
                out["reprocessed_frames"] = out.get("reprocessed_frames", 0) + int(st.get("reprocessed_frames", 0))
        fs = self.fuser.stats()
        for k in ("late_lists", "dropped_lists", "id_changes"):
            out[f"t2t_{k}"] = int(fs[k] or 0)
        return out
