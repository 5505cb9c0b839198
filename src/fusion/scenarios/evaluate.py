"""Evaluation of the engine on the simulated drives of :mod:`fusion.datasets.driving`.

:func:`evaluate` runs one scenario with one set of sensors through :class:`fusion.engine.FusionEngine`
(public API only) and scores its confirmed 3D tracks against the truth every ``eval_period_s``:

- Frame of reference. Central fusion (the default) gives the engine the ego's speed and yaw
  rate (its CAN signals) as they happen, so the tracks live in the engine's fixed odometry
  frame (stationary objects stay put, a turning ego does not swing the tracks round), and
  reads them in the vehicle frame of each scoring time, where the truth is scored
  (:func:`fusion.datasets.truth.to_vehicle`). The radar's range rate is predicted with the
  sensor's own velocity from the ego motion. The roadside unit is static: no ego input,
  vehicle frame = world frame. (``CentralRunner(ego=False)`` tracks in the vehicle frame of
  each measurement's time instead, without ego input.)
- Arrival. ``order="timestamp"`` (default) feeds every frame in timestamp order and scores
  at time t with the frames stamped up to t (an offline replay: latency plays no part).
  ``order="arrival"`` feeds frames when they arrive (timestamp + latency) and scores at t
  with what has arrived by t; the engine fuses a frame that arrives out of sequence by
  re-processing its history when it is within ``oosm_horizon_s`` (0.3 s; counted in
  ``reprocessed_frames``) and drops and counts older ones (``late_frames``).
  ``shuffle_latency_s`` redraws every frame's latency uniformly in [0, shuffle_latency_s)
  (seeded), the out-of-sequence test of issue 8; ``publish_delay_s`` scores time t after the
  frames whose key is up to t + delay are fused, with the engine's fixed-lag output at t
  (``tracks(at_ns=t, fixed_lag=True)``: the state after exactly the frames stamped up to t,
  from its out-of-sequence history), so that frames arriving late within the delay count
  and the frames stamped after t do not: given every frame up to t, the result does not
  depend on the arrival order.
- Scoring. Objects whose centre is within the scenario's region of interest
  (``roi_radius_m`` of the ego, or of the intersection for the roadside unit) are the truth;
  tracks are predicted to the scoring time with their velocity and kept when they fall in the
  same region. Positions are ground-plane
  (x, y): a radar has no height. GOSPA: ``c = 5 m``, ``p = 2``, switching penalty 5 m
  (:func:`fusion.metrics.gospa_over_time`), averaged over scoring times. HOTA, MOTA and
  IDF1 on points with similarity ``max(0, 1 - d / 2 m)`` (:func:`fusion.metrics.point_sequence`).
  NEES of the (x, y) position of every track assigned to an object by GOSPA, at the track's
  own time (dof 2), averaged over all such (track, time) samples, with the chi-square 95 %
  band for that many samples. The band assumes independent samples; successive samples of a
  track are correlated, so a consistent filter's average falls outside it more often than 5%
  of the time (``nees_se_tracks``, the standard error from per-track sums, says by how much;
  the band is not widened).
- Engine configuration: the scenario's (:meth:`DrivingScenario.engine_config`: each sensor's
  simulated noise as its R, its pd and clutter density, constant-velocity boxes), and with a
  lidar in the set only the lidar starts tracks (:func:`engine_config`).
- Camera only. A camera measures no range, so the engine starts no 3D tracks from it (its
  detections keep image tracks, not 3D tracks). Camera-only is scored like every other set,
  in 3D: every object is missed (GOSPA = its missed part, HOTA 0, no NEES: ``anees`` is
  None). Its image tracks are scored apart, in the image: ``image_hota`` is HOTA of the
  confirmed image tracks against the objects' projected boxes (image IoU as the similarity).

- Fusion. ``fusion="central"`` (default) feeds every frame into one engine; ``"t2t"`` tracks
  each sensor with its own engine and fuses their confirmed track lists with a
  :class:`~fusion.t2t.TrackFuser` (:mod:`fusion.scenarios.runners`); the row's ``fusion`` key
  says which, and t2t rows add ``t2t_late_lists``, ``t2t_dropped_lists``, ``t2t_id_changes``.

Thread safety: :func:`evaluate` builds its own engine; concurrent calls are safe.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fusion.datasets.driving import DrivingScenario
from fusion.datasets.sensors import camera_h, in_fov
from fusion.datasets.truth import VehicleFrameTruth, to_vehicle
from fusion.errors import ConfigurationError
from fusion.geometry import iou_2d
from fusion.metrics import (
    chi2_band,
    clear_combine,
    clear_sequence,
    gospa_over_time,
    hota_combine,
    hota_sequence,
    identity_combine,
    identity_sequence,
    nees,
    point_sequence,
)
from fusion.metrics.sequence import SequenceData
from fusion.scenarios.runners import FUSION_MODES, CentralRunner, ExternalList, TrackListRunner, engine_config

__all__ = ["FUSION_MODES", "ORDERS", "SENSOR_SETS", "engine_config", "evaluate"]

#: The sensor sets of ``fusion scenarios`` (sensor kinds, in the scenario's sensor order).
SENSOR_SETS: tuple[tuple[str, ...], ...] = (("lidar",), ("radar",), ("camera",), ("camera", "radar"),
                                            ("lidar", "radar", "camera"))
ORDERS = ("timestamp", "arrival")
NEES_DOF = 2


def evaluate(sc: DrivingScenario, sensors: Sequence[str], *, order: str = "timestamp", eval_period_s: float = 0.1,
             c: float = 5.0, p: float = 2.0, switching_penalty: float = 5.0, similarity_distance: float = 2.0,
             shuffle_latency_s: float | None = None, publish_delay_s: float = 0.0,
             fusion: str = "central") -> dict[str, Any]:
    """Tracks ``sc`` with ``sensors`` (names of ``sc.sensors``) and scores the tracks (module
    docstring). Returns a JSON-ready dict: ``scenario``, ``sensors``, ``fusion``, ``gospa`` and its parts
    (``gospa_localisation``, ``gospa_missed``, ``gospa_false``, ``gospa_switching``, mean per
    scoring time, m^2 except ``gospa`` [m]), ``switches``, ``hota``, ``mota``, ``idf1``,
    ``anees``, ``nees_dof``, ``nees_band``, ``nees_inside``, ``nees_samples``, ``nees_tracks``,
    ``nees_se_tracks`` (the average's standard error from per-track sums, :func:`_nees`),
    ``single_id_fraction``, ``objects``, ``late_frames``, ``frames``, ``image_tracks`` (count),
    ``image_hota`` (camera only, else None)."""
    names = [s.name for s in sc.sensors]
    if isinstance(sensors, str) or not isinstance(sensors, Sequence) or not all(isinstance(s, str) for s in sensors):
        raise ConfigurationError(f"sensors: expected a list of sensor names of {sc.name!r} ({', '.join(names)}), "
                                 f"got {sensors!r}")
    asked = list(dict.fromkeys(sensors))
    unknown = [s for s in asked if s not in names]
    if unknown or not sensors:
        raise ConfigurationError(f"sensors: unknown sensor(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                                 f"sensors of {sc.name!r}: {', '.join(names)}")
    if order not in ORDERS:
        raise ConfigurationError(f"order: expected one of {', '.join(ORDERS)}, got {order!r}")
    if fusion not in FUSION_MODES:
        raise ConfigurationError(f"fusion: expected one of {', '.join(FUSION_MODES)}, got {fusion!r}")
    for what, v in (("shuffle_latency_s", shuffle_latency_s), ("publish_delay_s", publish_delay_s)):
        if v is not None and not (_is_number(v) and 0.0 <= v < 60.0):
            raise ConfigurationError(f"{what}: expected seconds in [0, 60), got {v!r}")
    # checked before the engine runs, not after it when the metrics see them (review)
    if not (_is_number(eval_period_s) and _truth_step_s(sc) <= eval_period_s <= sc.duration_s):
        raise ConfigurationError(f"eval_period_s: expected seconds in [{_truth_step_s(sc):g}, {sc.duration_s:g}] "
                                 f"(the truth step to the drive's length), got {eval_period_s!r}")
    for what, v in (("c", c), ("p", p), ("switching_penalty", switching_penalty),
                    ("similarity_distance", similarity_distance)):
        if not (_is_number(v) and math.isfinite(v) and (v >= 0 if what == "switching_penalty" else v > 0)):
            raise ConfigurationError(f"{what}: expected a finite number "
                                     f"{'>= 0' if what == 'switching_penalty' else '> 0'}, got {v!r}")
    if p < 1:
        raise ConfigurationError(f"p: expected an order >= 1, got {p!r}")
    sensors = [n for n in names if n in asked]  # engine sensor indices follow the scenario's order
    runner: CentralRunner | TrackListRunner = (CentralRunner(sc, sensors) if fusion == "central"
                                               else TrackListRunner(sc, sensors, own="t2t"))
    rows_out = _run(sc, sensors, runner, order=order, eval_period_s=eval_period_s,
                    shuffle_latency_s=shuffle_latency_s, publish_delay_s=publish_delay_s)
    return _score(sc, asked, sensors, rows_out, runner.stats(), order=order, fusion=fusion, c=c, p=p,
                  switching_penalty=switching_penalty, similarity_distance=similarity_distance,
                  shuffle_latency_s=shuffle_latency_s, publish_delay_s=publish_delay_s)


@dataclass
class _Trace:
    """What a run produced, per scoring time (the input of :func:`_score`)."""

    t_ids: list[np.ndarray] = field(default_factory=list)
    t_pts: list[np.ndarray] = field(default_factory=list)
    e_ids: list[np.ndarray] = field(default_factory=list)
    e_pts: list[np.ndarray] = field(default_factory=list)
    est_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    image_ids: set[int] = field(default_factory=set)
    img: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = field(default_factory=lambda: ([], [], []))


def _frame_events(sc: DrivingScenario, sensors: Sequence[str], order: str, shuffle_latency_s: float | None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(key time, sensor index, frame index) of every frame of every sensor, sorted by key
    (timestamp or arrival), ties by sensor index."""
    keys, sens, fidx = [], [], []
    for i, n in enumerate(sensors):
        d = sc.data[n]
        arrival = d.frame_arrival_ns
        if shuffle_latency_s is not None:  # each frame's latency redrawn uniformly in [0, shuffle_latency_s)
            rng = np.random.default_rng([sc.seed, zlib.crc32(n.encode()), 7])
            arrival = d.frame_t_ns + np.round(rng.uniform(0.0, shuffle_latency_s, d.num_frames) * 1e9).astype(np.int64)
        keys.append(d.frame_t_ns if order == "timestamp" else arrival)
        sens.append(np.full(d.num_frames, i))
        fidx.append(np.arange(d.num_frames))
    key = np.concatenate(keys)
    sen = np.concatenate(sens)
    fi = np.concatenate(fidx)
    o = np.lexsort((sen, key))
    return key[o], sen[o], fi[o]


def _run(sc: DrivingScenario, sensors: Sequence[str], runner: CentralRunner | TrackListRunner, *, order: str,
         eval_period_s: float, shuffle_latency_s: float | None, publish_delay_s: float,
         external: Sequence[tuple[int, ExternalList]] = ()) -> _Trace:
    """Feeds the frames (and the external lists, by arrival key) to ``runner`` and records
    truth and estimates at every scoring time."""
    dt_ns = sc.truth.dt_ns
    stride = max(1, round(eval_period_s * 1e9 / dt_ns))
    key, sen, fi = _frame_events(sc, sensors, order, shuffle_latency_s)
    data = [sc.data[n] for n in sensors]
    offs = [d.frame_slices() for d in data]
    eval_steps = np.arange(stride, len(sc.ego), stride)
    delay_ns = round(publish_delay_s * 1e9)
    cx, cy = sc.roi_centre
    out = _Trace()
    j = 0
    x_j = 0
    camera_only = [sc.sensor(n).kind for n in sensors] == ["camera"]
    for k in eval_steps:
        t_e = int(k * dt_ns)
        while True:
            kf = int(key[j]) if j < len(key) and key[j] <= t_e + delay_ns else None
            ke = external[x_j][0] if x_j < len(external) and external[x_j][0] <= t_e + delay_ns else None
            if kf is None and ke is None:
                break
            if ke is not None and (kf is None or ke < kf):
                assert isinstance(runner, TrackListRunner)
                runner.feed_external(external[x_j][1])
                x_j += 1
                continue
            d, f = data[sen[j]], int(fi[j])
            a, b = offs[sen[j]][f], offs[sen[j]][f + 1]
            runner.process(int(sen[j]), int(d.frame_t_ns[f]), d.z[a:b], d.score[a:b])
            j += 1
        rows = sc.truth.rows_at(int(k))
        vt = to_vehicle(sc.truth, sc.ego, rows)
        inside = np.hypot(vt.position[:, 0] - cx, vt.position[:, 1] - cy) <= sc.roi_radius_m
        out.t_ids.append(sc.truth.id[rows[inside]])
        out.t_pts.append(vt.position[inside, :2])
        est = runner.estimates(t_e, int(k))
        keep = np.hypot(est.points[:, 0] - cx, est.points[:, 1] - cy) <= sc.roi_radius_m
        out.e_ids.append(est.ids[keep])
        out.e_pts.append(est.points[keep])
        out.est_rows.append((est.steps[keep], est.xy[keep], est.Pxy[keep]))
        it = runner.image_tracks(t_e)
        if it is not None:
            out.image_ids.update(int(x) for x in it["id"])
            if camera_only:
                _image_frame(sc, sensors[0], rows, vt, it, t_e, out.img)
    return out


def _score(sc: DrivingScenario, asked: Sequence[str], sensors: Sequence[str], tr: _Trace, stats: dict[str, int], *,
           order: str, fusion: str, c: float, p: float, switching_penalty: float, similarity_distance: float,
           shuffle_latency_s: float | None, publish_delay_s: float) -> dict[str, Any]:
    """The metrics of one run (the row of :func:`evaluate`)."""
    t_ids, t_pts, e_ids, e_pts, est_rows = tr.t_ids, tr.t_pts, tr.e_ids, tr.e_pts, tr.est_rows
    img, image_ids = tr.img, tr.image_ids
    camera_only = [sc.sensor(n).kind for n in sensors] == ["camera"]
    g = gospa_over_time(t_ids, t_pts, e_ids, e_pts, c=c, p=p, switching_penalty=switching_penalty)
    seq = point_sequence(t_ids, t_pts, e_ids, e_pts, similarity_distance, name=sc.name)
    hota = hota_combine([hota_sequence(seq)])
    clear = clear_combine([clear_sequence(seq)])
    ident = identity_combine([identity_sequence(seq)])
    image_hota = None
    if camera_only:
        iseq = SequenceData.from_frames(img[0], img[1], img[2], name=sc.name)
        image_hota = hota_combine([hota_sequence(iseq)])["HOTA"]
    anees, band, n_s, n_tracks, se_tracks = _nees(sc, g.assigned, t_ids, e_ids, est_rows)
    means = g.mean()
    return {
        "scenario": sc.name, "sensors": [sc.sensor(n).kind for n in asked], "sensor_names": list(asked),
        "fusion": fusion, "order": order, "shuffle_latency_s": shuffle_latency_s, "publish_delay_s": publish_delay_s,
        "gospa": means["gospa"], "gospa_localisation": means["localisation"],
        "gospa_missed": means["missed"], "gospa_false": means["false"], "gospa_switching": means["switching"],
        "switches": means["switches"], "hota": hota["HOTA"], "deta": hota["DetA"], "assa": hota["AssA"],
        "mota": clear["MOTA"], "idf1": ident["IDF1"], "anees": anees, "nees_dof": NEES_DOF,
        "nees_band": list(band) if band is not None else None,
        "nees_inside": bool(band[0] <= anees <= band[1]) if (band is not None and anees is not None) else None,
        "nees_samples": n_s, "nees_tracks": n_tracks, "nees_se_tracks": se_tracks,
        "single_id_fraction": _single_id(t_ids, g.assigned, min_ticks=10),
        "objects": int(len(np.unique(np.concatenate(t_ids)))) if t_ids else 0,
        "late_frames": int(stats.get("late_frames", 0)), "frames": int(stats.get("frames", 0)),
        **{k: v for k, v in stats.items() if k.startswith("t2t_")},
        "reprocessed_frames": int(stats.get("reprocessed_frames", 0)),  # late frames fused (oosm_horizon_s)
        "image_tracks": len(image_ids), "image_hota": image_hota, "duration_s": sc.duration_s, "seed": sc.seed,
        "gospa_c": c, "gospa_p": p, "switching_penalty": switching_penalty, "similarity_distance": similarity_distance,
    }


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _truth_step_s(sc: DrivingScenario) -> float:
    """The scenario's truth step [s]: the shortest scoring period."""
    return float(sc.truth.dt_ns) * 1e-9


def _image_frame(sc: DrivingScenario, camera: str, rows: np.ndarray, vt: VehicleFrameTruth, it: np.ndarray,
                 t_e: int, img: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]) -> None:
    """One scoring time of the camera-only image score: the objects whose projected box is in
    the image against the confirmed image tracks (centre predicted with their pixel velocity),
    similarity = image IoU."""
    s = sc.sensor(camera)
    Rm, tm = np.asarray(s.config.mount_R, np.float64), np.asarray(s.config.mount_t, np.float64)
    size = tuple(float(x) for x in np.asarray(s.config.image_size).ravel())
    boxes = np.column_stack([vt.position, vt.yaw, sc.truth.size[rows]])
    zb, ok = camera_h(boxes, Rm, tm, np.asarray(s.config.projection, np.float64), (size[0], size[1]))
    ok &= in_fov(vt.position, s.config.fov, Rm, tm)
    dt = (t_e - it["t_ns"]) * 1e-9
    tb = it["box"] + np.column_stack([it["velocity"], it["velocity"]]) * dt[:, None]
    img[0].append(sc.truth.id[rows[ok]])
    img[1].append(it["id"].astype(np.int64))
    img[2].append(iou_2d(zb[ok], tb) if ok.any() and len(tb) else np.zeros((int(ok.sum()), len(tb))))


def nees_samples(assigned: list[np.ndarray], t_ids: list[np.ndarray], e_ids: list[np.ndarray],
                 est_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
                 ) -> tuple[list[int], list[int], list[int], list[np.ndarray], list[np.ndarray]]:
    """The distinct (track, time step) samples GOSPA assigned to an object, in order: track ids,
    time steps, object ids, the tracks' positions and covariances (what :func:`_nees` scores)."""
    seen: set[tuple[int, int]] = set()
    tids: list[int] = []
    steps: list[int] = []
    oids: list[int] = []
    xs: list[np.ndarray] = []
    Ps: list[np.ndarray] = []
    for a, gid, eid, (st, x, P) in zip(assigned, t_ids, e_ids, est_rows):
        if not len(a):
            continue
        pos = {int(v): i for i, v in enumerate(eid.tolist())}
        for obj, tid in zip(gid.tolist(), a.tolist()):
            if tid < 0:
                continue
            i = pos[tid]
            key = (tid, int(st[i]))
            if key in seen:
                continue
            seen.add(key)
            tids.append(tid)
            steps.append(int(st[i]))
            oids.append(obj)
            xs.append(x[i])
            Ps.append(P[i])
    return tids, steps, oids, xs, Ps


def _nees(sc: DrivingScenario, assigned: list[np.ndarray], t_ids: list[np.ndarray], e_ids: list[np.ndarray],
          est_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
          ) -> tuple[float | None, tuple[float, float] | None, int, int, float | None]:
    """Average position NEES over distinct (track, time) samples assigned to an object: (average,
    its chi-square 95% band for that many independent samples, samples, distinct tracks, the
    standard error of the average from per-track sums).

    The band assumes independent samples; successive samples of one track are correlated
    (lag-1 autocorrelation 0.25-0.8 at 0.1 s in the scenes), so the average varies more than
    the band says. ``nees_se_tracks`` (``sqrt(sum_k (S_k - n_k m)^2) / N`` over tracks k with
    n_k samples summing to S_k: tracks taken as independent, samples within one not) is
    reported beside it, as a statistic of its own: the band is not widened."""
    tids, steps, oids, xs, Ps = nees_samples(assigned, t_ids, e_ids, est_rows)
    if not steps:
        return None, None, 0, 0, None
    rows = sc.truth.lookup(np.array(steps), np.array(oids))
    ok = rows >= 0
    vt = to_vehicle(sc.truth, sc.ego, rows[ok])
    e = np.array(xs)[ok] - vt.position[:, :2]
    vals = nees(e, np.array(Ps)[ok])
    n = int(len(vals))
    if n == 0:
        return None, None, 0, 0, None
    m = float(vals.mean())
    _, inv = np.unique(np.array(tids)[ok], return_inverse=True)
    dev = np.bincount(inv, weights=vals - m)
    return m, chi2_band(NEES_DOF, n, 0.95), n, int(len(dev)), float(np.sqrt(np.square(dev).sum())) / n


def _single_id(t_ids: list[np.ndarray], assigned: list[np.ndarray], min_ticks: int) -> float | None:
    """Fraction of objects (present at >= min_ticks scoring times) whose assigned track ids,
    over their whole stay, are one single id (never unassigned counts as failing)."""
    present: dict[int, int] = {}
    ids: dict[int, set[int]] = {}
    for gid, a in zip(t_ids, assigned):
        for obj, tid in zip(gid.tolist(), a.tolist()):
            present[obj] = present.get(obj, 0) + 1
            if tid >= 0:
                ids.setdefault(obj, set()).add(tid)
    objs = [o for o, n in present.items() if n >= min_ticks]
    if not objs:
        return None
    return sum(1 for o in objs if len(ids.get(o, ())) == 1) / len(objs)
