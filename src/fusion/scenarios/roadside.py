"""A vehicle driving through the roadside scene, tracking with its own sensors, with and
without the roadside unit's track list fused in by track-to-track fusion (issue 8, section 3).

- The roadside unit's list (:func:`roadside_lists`): one :class:`~fusion.engine.FusionEngine`
  on the unit's lidar, radar and camera in the world frame (the unit is static), frames in
  timestamp order; after each lidar frame (10 Hz) its confirmed tracks (x, y, vx, vy and
  covariance) are the list, stamped with that frame's time. The list reaches the vehicle
  ``latency_s`` later (default 0.1 s: the unit's processing and the V2X link).
- The vehicles (:func:`pick_vehicles`): cars of the scene that drive straight through the
  intersection (from 70 m out to 70 m out, about 14 s), the first ``n`` after the unit has
  been running ``min_start_s``; each is the ego of its own short drive
  (:func:`vehicle_scenario`): the other objects of the scene over its stay, in its vehicle
  frame, seen by the car sensors of the other scenes (lidar, radar, camera: the same
  :class:`~fusion.datasets.sensors.SimSensor` setup) simulated from its pose.
- Own sensors alone: that drive through the central engine or the per-sensor lists fused
  (``fusion`` central or t2t), as :func:`fusion.scenarios.evaluate` does. With the roadside
  list: a :class:`~fusion.t2t.TrackFuser` in the world frame whose sources are the vehicle's
  own list(s) (pose: the ego pose at each list's time) and the roadside list (static pose:
  the world; latency as above), after the vehicle removes its own track from the roadside
  list (any track within 3 m of its own position at the list's time: the unit sees the
  vehicle too).
- Scoring: as :func:`fusion.scenarios.evaluate` (objects within 60 m of the vehicle, in its
  vehicle frame), per vehicle, from ``warmup_s`` (2 s) into its drive on (its own tracker
  starts from nothing; the roadside list would win those seconds by construction); the row
  averages the vehicles weighted by scoring times (ANEES by samples, with the band for the
  total). The vehicle's own tracker without the list misses objects for seconds at a time
  (e.g. a cyclist 45-60 m away for 3 s): that, more than localisation, is what the list fixes.

Thread safety: every function builds its own objects; concurrent calls are safe.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from fusion.datasets.driving import SCENARIOS, DrivingScenario
from fusion.datasets.sensors import simulate
from fusion.datasets.truth import EgoTrajectory, GroundTruth
from fusion.engine import FusionEngine
from fusion.errors import ConfigurationError
from fusion.metrics import chi2_band
from fusion.scenarios.evaluate import NEES_DOF, _run, _score
from fusion.scenarios.runners import CentralRunner, ExternalList, TrackListRunner, engine_config, engine_tracks_xy

__all__ = ["evaluate_vehicle", "pick_vehicles", "roadside_lists", "vehicle_scenario"]

_CAR = 0
_SELF_RADIUS_M = 3.0


def roadside_lists(sc: DrivingScenario) -> list[ExternalList]:
    """The roadside unit's track list after each of its lidar frames (world frame)."""
    names = [s.name for s in sc.sensors]
    engine = FusionEngine(engine_config(sc, names))
    lidar = next(i for i, s in enumerate(sc.sensors) if s.kind == "lidar")
    events = sorted((int(t), i, f) for i, n in enumerate(names) for f, t in enumerate(sc.data[n].frame_t_ns))
    offs = [sc.data[n].frame_slices() for n in names]
    out: list[ExternalList] = []
    for t, i, f in events:
        d = sc.data[names[i]]
        a, b = offs[i][f], offs[i][f + 1]
        engine.process(i, t, d.z[a:b], score=d.score[a:b])
        if i == lidar:
            tr, ix, iy, ivx, ivy = engine_tracks_xy(engine)
            sel = [ix, iy, ivx, ivy]
            out.append(ExternalList(t, tr["id"].astype(np.int64), np.ascontiguousarray(tr["x"][:, sel]),
                                    np.ascontiguousarray(tr["P"][:, sel][:, :, sel])))
    return out


def pick_vehicles(sc: DrivingScenario, n: int = 3, min_start_s: float = 10.0) -> list[int]:
    """Ids of the first ``n`` cars that drive straight through the scene (net displacement
    over 120 m, heading unchanged) and whose whole stay lies in [min_start_s, end)."""
    tr = sc.truth
    out: list[tuple[int, int]] = []
    last_step = len(sc.ego) - 1
    for oid in np.unique(tr.id[tr.class_id == _CAR]).tolist():
        rows = np.flatnonzero(tr.id == oid)
        k0, k1 = int(tr.step[rows[0]]), int(tr.step[rows[-1]])
        disp = float(np.hypot(*(tr.position[rows[-1], :2] - tr.position[rows[0], :2])))
        turn = abs(float(np.angle(np.exp(1j * (tr.yaw[rows[-1]] - tr.yaw[rows[0]])))))
        if disp > 120.0 and turn < 0.05 and k0 * tr.dt_ns * 1e-9 >= min_start_s and k1 < last_step:
            out.append((k0, oid))
    return [oid for _, oid in sorted(out)[:n]]


def vehicle_scenario(sc: DrivingScenario, vehicle_id: int) -> tuple[DrivingScenario, int]:
    """The drive of car ``vehicle_id`` through ``sc``: its stay only, time re-based to 0 at
    its first step (returned: that offset [ns]), the other objects as truth, car sensors
    simulated from its pose (seeded by the scene's seed and the vehicle id)."""
    tr = sc.truth
    rows = np.flatnonzero(tr.id == vehicle_id)
    if not len(rows):
        raise ConfigurationError(f"vehicle_id: no object {vehicle_id} in {sc.name!r}")
    k0, k1 = int(tr.step[rows[0]]), int(tr.step[rows[-1]]) + 1
    keep = (tr.id != vehicle_id) & (tr.step >= k0) & (tr.step < k1)
    off = k0 * tr.dt_ns
    truth = GroundTruth(id=tr.id[keep], class_id=tr.class_id[keep], step=tr.step[keep] - k0, t_ns=tr.t_ns[keep] - off,
                        position=tr.position[keep], yaw=tr.yaw[keep], size=tr.size[keep], velocity=tr.velocity[keep],
                        yaw_rate=tr.yaw_rate[keep], dt_ns=tr.dt_ns)
    T = k1 - k0
    ego = EgoTrajectory(np.arange(T, dtype=np.int64) * tr.dt_ns, tr.position[rows, 0].copy(),
                        tr.position[rows, 1].copy(), tr.yaw[rows].copy(),
                        np.hypot(tr.velocity[rows, 0], tr.velocity[rows, 1]), tr.yaw_rate[rows].copy())
    sensors = SCENARIOS["urban"][1]()  # the car sensors of the on-road scenes
    ss = np.random.SeedSequence([sc.seed, zlib.crc32(b"roadside_vehicle"), int(vehicle_id)])
    data = {s.name: simulate(s, truth, ego, np.random.default_rng(st))
            for s, st in zip(sensors, ss.spawn(len(sensors)))}
    vsc = DrivingScenario(name="roadside_vehicle", seed=sc.seed, duration_s=T * tr.dt_ns * 1e-9, truth=truth, ego=ego,
                          sensors=tuple(sensors), data=data, roi_radius_m=60.0,
                          notes=f"car {vehicle_id} of {sc.name!r} from {off * 1e-9:.2f} s")
    return vsc, off


def _lists_for(vsc: DrivingScenario, lists: Sequence[ExternalList], off_ns: int, latency_s: float
               ) -> list[tuple[int, ExternalList]]:
    """The roadside lists re-based to the vehicle's drive, keyed by arrival, without the
    vehicle's own track."""
    lat = round(latency_s * 1e9)
    end = len(vsc.ego) * vsc.truth.dt_ns
    out = []
    e = vsc.ego
    for lst in lists:
        t = lst.t_ns - off_ns
        if t + lat < -500_000_000 or t + lat > end:
            continue
        k = min(max(round(t / vsc.truth.dt_ns), 0), len(e) - 1)
        me = np.hypot(lst.x[:, 0] - e.x[k], lst.x[:, 1] - e.y[k]) > _SELF_RADIUS_M
        out.append((t + lat, ExternalList(t, lst.ids[me], lst.x[me], lst.P[me])))
    return out


def evaluate_vehicle(sc: DrivingScenario, sensors: Sequence[str], *, with_roadside: bool, fusion: str = "central",
                     latency_s: float = 0.1, vehicles: int = 3, lists: Sequence[ExternalList] | None = None,
                     eval_period_s: float = 0.1, warmup_s: float = 2.0) -> dict[str, Any] | None:
    """One row: the vehicles of :func:`pick_vehicles` tracking with their own ``sensors``
    (kinds: lidar, radar, camera), with or without the roadside list (module docstring).
    ``lists``: :func:`roadside_lists` of ``sc`` if already computed. The first ``warmup_s``
    of each vehicle's drive are not scored (its own tracks start from nothing there, which
    would flatter the roadside list). None when the drive has no such vehicle (too short)."""
    if sc.name != "roadside":
        raise ConfigurationError(f"evaluate_vehicle: expected the 'roadside' scenario, got {sc.name!r}")
    if not (isinstance(latency_s, (int, float)) and not isinstance(latency_s, bool) and 0.0 <= latency_s < 0.5):
        raise ConfigurationError(f"latency_s: expected seconds in [0, 0.5) (the fuser's max_delay_s), "
                                 f"got {latency_s!r}")
    ids = pick_vehicles(sc, vehicles)
    if not ids:
        return None
    if with_roadside and lists is None:
        lists = roadside_lists(sc)
    rows: list[dict[str, Any]] = []
    for vid in ids:
        vsc, off = vehicle_scenario(sc, vid)
        by_kind = {s.kind: s.name for s in vsc.sensors}
        names = [by_kind[k] for k in sensors]
        ordered = [n for n in (s.name for s in vsc.sensors) if n in names]
        runner: CentralRunner | TrackListRunner
        external: list[tuple[int, ExternalList]] = []
        if not with_roadside:
            runner = CentralRunner(vsc, ordered) if fusion == "central" else TrackListRunner(vsc, ordered)
        else:
            assert lists is not None
            runner = TrackListRunner(vsc, ordered, own=fusion, external=("roadside", latency_s))
            external = _lists_for(vsc, lists, off, latency_s)
        tr = _run(vsc, ordered, runner, order="timestamp", eval_period_s=eval_period_s, shuffle_latency_s=None,
                  publish_delay_s=0.0, external=external)
        skip = int(round(warmup_s / eval_period_s))  # the same scoring times with and without the list
        for lst in (tr.t_ids, tr.t_pts, tr.e_ids, tr.e_pts, tr.est_rows):
            del lst[:skip]
        r = _score(vsc, names, ordered, tr, runner.stats(), order="timestamp", fusion=fusion, c=5.0, p=2.0,
                   switching_penalty=5.0, similarity_distance=2.0, shuffle_latency_s=None, publish_delay_s=0.0)
        r["steps"] = len(tr.t_ids)
        rows.append(r)
    return _combine(rows, sc, ids, with_roadside, latency_s)


def _combine(rows: list[dict[str, Any]], sc: DrivingScenario, ids: list[int], with_roadside: bool,
             latency_s: float) -> dict[str, Any]:
    w = np.array([r["steps"] for r in rows], np.float64)
    out = dict(rows[0])
    for k in ("gospa", "gospa_localisation", "gospa_missed", "gospa_false", "gospa_switching", "switches", "hota",
              "deta", "assa", "mota", "idf1"):
        out[k] = float(np.sum(w * np.array([r[k] for r in rows])) / w.sum())
    ns = np.array([r["nees_samples"] for r in rows], np.float64)
    if ns.sum() > 0:
        out["anees"] = float(sum(r["anees"] * n for r, n in zip(rows, ns) if r["anees"] is not None) / ns.sum())
        band = chi2_band(NEES_DOF, int(ns.sum()), 0.95)
        out["nees_band"] = list(band)
        out["nees_inside"] = bool(band[0] <= out["anees"] <= band[1])
    out["nees_samples"] = int(ns.sum())
    # tracks of different runs are different tracks; each run's per-track deviations are about
    # its own average (between-run differences of the averages are left out)
    out["nees_tracks"] = int(sum(r["nees_tracks"] for r in rows))
    se = [(n * r["nees_se_tracks"]) ** 2 for r, n in zip(rows, ns) if r["nees_se_tracks"] is not None]
    out["nees_se_tracks"] = float(np.sqrt(sum(se)) / ns.sum()) if se and ns.sum() > 0 else None
    for k in ("objects", "late_frames", "frames"):
        out[k] = int(sum(r[k] for r in rows))
    out.pop("steps", None)
    out.pop("single_id_fraction", None)
    out.update(scenario="roadside_vehicle", roadside_list=with_roadside,
               roadside_latency_s=latency_s if with_roadside else None, vehicles=ids, duration_s=sc.duration_s,
               seed=sc.seed)
    return _plain(out)


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready: numpy scalars to Python."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in d.items()}

