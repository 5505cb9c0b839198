"""Where the average NEES of ``fusion scenarios`` comes from: one scenario and sensor set,
its NEES samples split by track age, by class, by whether the track's object at that time is
its main object (the one it is assigned to most often: the others are mis-associated), by
whether the object manoeuvred in the last 1.5 s, by range and by the ego's motion, the
samples' correlation (per-track standard error), and the per-sensor measurement check
(simulated residuals ``z - h(truth)`` normalised by the R the sensor gives the engine: the
average is ``dim z`` when the two agree).

    PYTHONPATH=src python scripts/nees_breakdown.py --scenario highway --sets lidar radar
    PYTHONPATH=src python scripts/nees_breakdown.py --scenario roadside --duration 60 --json out.json

The samples are exactly those of :func:`fusion.scenarios.evaluate` (central fusion, frames in
timestamp order): every (track, estimate time) that GOSPA assigns to an object.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

import numpy as np

from fusion.datasets import make_scenario
from fusion.datasets.driving import DrivingScenario
from fusion.datasets.sensors import camera_h, lidar_h, radar_h
from fusion.datasets.truth import CLASS_NAMES, to_vehicle
from fusion.errors import FusionError
from fusion.metrics import chi2_band, gospa_over_time, nees
from fusion.scenarios.evaluate import NEES_DOF, _run, nees_samples
from fusion.scenarios.runners import CentralRunner, Estimates

_SETS = {"lidar": ("lidar",), "radar": ("radar",), "camera+radar": ("camera", "radar"),
         "all": ("lidar", "radar", "camera")}


def measurement_nis(sc: DrivingScenario, name: str) -> dict[str, Any]:
    """Residuals of the object-caused detections of sensor ``name`` against the noise-free
    measurement of their object, normalised by the sensor's R (per component and jointly)."""
    s = sc.sensor(name)
    d = sc.data[name]
    m = d.truth_id >= 0
    steps = d.t_ns[m] // sc.truth.dt_ns
    rows = sc.truth.lookup(steps, d.truth_id[m])
    vt = to_vehicle(sc.truth, sc.ego, rows)
    Rm, tm = np.asarray(s.config.mount_R, np.float64), np.asarray(s.config.mount_t, np.float64)
    boxes = np.column_stack([vt.position, vt.yaw, sc.truth.size[rows]])
    if s.kind == "lidar":
        h = lidar_h(boxes, Rm, tm)
    elif s.kind == "radar":
        h, _ = radar_h(vt.position, vt.velocity_ground, sc.ego.sensor_velocity(steps, tm), Rm, tm)
    else:
        size = tuple(float(x) for x in np.asarray(s.config.image_size).ravel())
        h, _ = camera_h(boxes, Rm, tm, np.asarray(s.config.projection, np.float64), (size[0], size[1]))
    r = d.z[m] - h
    if s.kind in ("lidar", "radar"):
        k = 3 if s.kind == "lidar" else 1
        r[:, k] = np.angle(np.exp(1j * r[:, k]))
    R = np.asarray(s.config.R, np.float64)
    per = (r ** 2 / np.diag(R)).mean(0)
    v = nees(r, R)
    return {"sensor": name, "kind": s.kind, "n": int(len(v)), "nis": float(v.mean()), "dim": int(R.shape[0]),
            "band": list(chi2_band(int(R.shape[0]), max(len(v), 1))), "per_component": per.round(3).tolist()}


class _Recorder(CentralRunner):
    """A CentralRunner that also keeps the birth time and class of every estimate."""

    def __init__(self, sc: DrivingScenario, sensors: list[str]) -> None:
        super().__init__(sc, sensors)
        self.extra: dict[tuple[int, int], tuple[int, int, int]] = {}

    def estimates(self, t_e: int, k: int) -> Estimates:
        est = super().estimates(t_e, k)
        tr = self.engine.tracks(confirmed_only=True, at_ns=t_e, frame="vehicle", fixed_lag=True)
        for i in range(len(tr)):
            self.extra[(int(tr["id"][i]), int(est.steps[i]))] = (int(tr["birth_t_ns"][i]), int(tr["class_id"][i]),
                                                                 int(tr["birth_sensor"][i]))
        return est


def correlation(vals: np.ndarray, tids: np.ndarray, steps: np.ndarray) -> dict[str, Any]:
    """How far the samples are from independent: the lag-1 autocorrelation of successive NEES
    samples of a track (scoring times 0.1 s apart), and the standard error of the average from
    per-track sums (a cluster estimate, tracks taken as independent) against the one that
    independent chi-square(2) samples give (sqrt(2 dof / N)); their squared ratio is how many
    times fewer independent samples the average effectively has."""
    m = float(vals.mean())
    n = len(vals)
    num = den = 0.0
    sums = []
    for t in np.unique(tids):
        sel = tids == t
        v = vals[sel][np.argsort(steps[sel])] - m
        num += float((v[1:] * v[:-1]).sum())
        den += float((v * v).sum())
        sums.append(float(v.sum()))
    se_cluster = float(np.sqrt(np.square(sums).sum())) / n
    se_iid = float(np.sqrt(2.0 * NEES_DOF / n))
    return {"lag1_autocorr": round(num / den, 3) if den > 0 else None, "se_cluster": round(se_cluster, 4),
            "se_iid": round(se_iid, 4), "inflation": round((se_cluster / se_iid) ** 2, 1),
            "n_effective": int(n / max((se_cluster / se_iid) ** 2, 1e-9))}


def manoeuvring(sc: DrivingScenario, steps: np.ndarray, oids: np.ndarray, window_s: float = 1.5) -> np.ndarray:
    """Whether each (step, object) sample's object turned (|yaw rate| > 0.05 rad/s) or changed
    its velocity faster than 0.2 m/s^2 on any axis within the last ``window_s``."""
    w = round(window_s * 1e9 / sc.truth.dt_ns)
    out = np.zeros(len(steps), bool)
    for j, (st, o) in enumerate(zip(steps.tolist(), oids.tolist())):
        r = sc.truth.lookup(np.arange(max(st - w, 0), st + 1), np.full(min(st, w) + 1, o))
        r = r[r >= 0]
        if len(r) > 1:
            acc = np.abs(np.diff(sc.truth.velocity[r, :2], axis=0)).max() / (sc.truth.dt_ns * 1e-9)
            out[j] = bool(np.abs(sc.truth.yaw_rate[r]).max() > 0.05 or acc > 0.2)
    return out


def breakdown(sc: DrivingScenario, sensors: list[str]) -> dict[str, Any]:
    names = [n for n in (s.name for s in sc.sensors) if n in sensors]
    runner = _Recorder(sc, names)
    tr = _run(sc, names, runner, order="timestamp", eval_period_s=0.1, shuffle_latency_s=None, publish_delay_s=0.0)
    g = gospa_over_time(tr.t_ids, tr.t_pts, tr.e_ids, tr.e_pts, c=5.0, p=2.0, switching_penalty=5.0)
    tid_l, step_l, oid_l, xs, Ps = nees_samples(g.assigned, tr.t_ids, tr.e_ids, tr.est_rows)
    tids, steps, oids = np.array(tid_l), np.array(step_l), np.array(oid_l)
    rows = sc.truth.lookup(steps, oids)
    ok = rows >= 0
    vt = to_vehicle(sc.truth, sc.ego, rows[ok])
    e = np.array(xs)[ok] - vt.position[:, :2]
    Pk = np.array(Ps)[ok]
    vals = nees(e, Pk)
    tids, steps, oids = tids[ok], steps[ok], oids[ok]
    main: dict[int, int] = {}
    for t in np.unique(tids):
        main[int(t)] = Counter(oids[tids == t].tolist()).most_common(1)[0][0]
    is_main = np.array([main[int(t)] == int(o) for t, o in zip(tids, oids)])
    dt = sc.truth.dt_ns
    age = np.array([(int(s) * dt - runner.extra[(int(t), int(s))][0]) * 1e-9 for t, s in zip(tids, steps)])
    cls_true = sc.truth.class_id[rows[ok]]
    speed = np.hypot(sc.truth.velocity[rows[ok], 0], sc.truth.velocity[rows[ok], 1])

    def part(mask: np.ndarray) -> dict[str, Any]:
        n = int(mask.sum())
        if n == 0:
            return {"n": 0}
        v = vals[mask]
        ee = e[mask]
        # direction of the error: along the track's own principal axes
        return {"n": n, "anees": round(float(v.mean()), 3), "median": round(float(np.median(v)), 3),
                "band": [round(b, 3) for b in chi2_band(NEES_DOF, n)],
                "rms_err_m": round(float(np.sqrt((ee ** 2).sum(1).mean())), 3),
                "rms_sigma_m": round(float(np.sqrt(np.trace(Pk[mask], axis1=1, axis2=2).mean())), 3),
                "frac_gt_13.8": round(float((v > 13.8).mean()), 4)}

    out: dict[str, Any] = {"scenario": sc.name, "sensors": names, "all": part(np.ones(len(vals), bool)),
                           "main_object": part(is_main), "other_object": part(~is_main)}
    for lo, hi in ((0.0, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 5.0), (5.0, 1e9)):
        out[f"age_{lo:g}-{hi:g}s"] = part((age >= lo) & (age < hi) & is_main)
    for c, cn in enumerate(CLASS_NAMES):
        out[f"class_{cn}"] = part((cls_true == c) & is_main)
    out["static"] = part((speed < 0.05) & is_main)
    out["moving"] = part((speed >= 0.05) & is_main)
    man = manoeuvring(sc, steps, oids)
    out["steady_cv"] = part(~man & is_main)
    out["manoeuvre_1.5s"] = part(man & is_main)
    rng_ = np.hypot(vt.position[:, 0], vt.position[:, 1])
    for lo, hi in ((0.0, 15.0), (15.0, 30.0), (30.0, 1e9)):
        out[f"range_{lo:g}-{hi:g}m"] = part((rng_ >= lo) & (rng_ < hi) & is_main)
    ego_v, ego_w = sc.ego.speed[steps], np.abs(sc.ego.yaw_rate[steps])
    out["ego_stopped"] = part((ego_v < 0.05) & is_main)
    out["ego_straight"] = part((ego_v >= 0.05) & (ego_w < 0.01) & is_main)
    out["ego_turning"] = part((ego_w >= 0.01) & is_main)
    # per-track mean NEES: the spread of track means against what independent samples give
    out["tracks"] = int(len(main))
    out["correlation"] = correlation(vals, tids, steps)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="highway")
    ap.add_argument("--sets", nargs="+", default=list(_SETS), choices=list(_SETS))
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    try:
        sc = make_scenario(a.scenario, a.seed, a.duration)
    except FusionError as exc:  # an unknown scenario, a bad duration: one line, not a traceback
        print(f"nees_breakdown: {exc}", file=sys.stderr)
        return 2
    res: dict[str, Any] = {"measurements": [measurement_nis(sc, s.name) for s in sc.sensors], "sets": []}
    for m in res["measurements"]:
        print(f"{sc.name} {m['sensor']}: residual NIS {m['nis']:.3f} (dim {m['dim']}, band "
              f"[{m['band'][0]:.3f}, {m['band'][1]:.3f}], n {m['n']}); per component {m['per_component']}")
    for s in a.sets:
        b = breakdown(sc, list(_SETS[s]))
        res["sets"].append(b)
        print(f"\n{sc.name} {s}:")
        for k, v in b.items():
            if isinstance(v, dict):
                print(f"  {k:14s} {v}")
            else:
                print(f"  {k:14s} {v}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
