"""``fusion scenarios``: every simulated drive through the engine with five sensor sets, one
table of GOSPA, HOTA and average NEES (and a JSON file with the same rows)."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

from fusion.errors import ConfigurationError

_FUSION_MODES = ("central", "t2t")  # fusion.scenarios.runners.FUSION_MODES (not imported: --help stays fast)

_DESCRIPTION = """\
Generate the simulated drives of fusion.datasets.driving (deterministic: same seed, same data),
track each with lidar only, radar only, camera only, camera+radar and all three through
fusion.engine.FusionEngine, and print one row per scenario and sensor set:

  GOSPA   mean per scoring time (every 0.1 s) of GOSPA [m] over ground-plane positions,
          c = 5 m, p = 2, switching penalty 5 m; loc/miss/false/switch are its parts [m^2]
  HOTA    on points, similarity max(0, 1 - d / 2 m); IDF1 likewise
  ANEES   average NEES of the (x, y) position of tracks assigned to an object (dof 2), with
          the chi-square 95% band for that many samples ('in' when inside); the band assumes
          independent samples, and successive samples of a track are not: 'SE (tracks)' is
          the average's standard error from per-track sums, over that many tracks

Fusion (--fusion): 'central' feeds every sensor's detections into one engine; 't2t' tracks
each sensor alone with its own engine and fuses the track lists with covariance intersection
(fusion.t2t.TrackFuser; with a lidar in the set only its list starts fused tracks). Rows of
t2t runs say '(t2t)' after the sensors.

Roadside scene: besides the roadside unit's own rows, cars that drive straight through the
intersection are egos with the car sensors of the other scenes ('roadside_vehicle' rows):
each sensor set of the car alone, and the same with the roadside unit's track list fused in
by track-to-track fusion ('+ roadside list', arriving --roadside-latency after its stamp).

Objects count while within the scenario's region of interest (60 m around the ego car, 50 m
around the intersection for the roadside unit). Central fusion feeds the engine the ego's speed
and yaw rate, so its tracks live in the odometry frame; they are scored in the vehicle frame of
each scoring time. A camera measures no range, so camera only starts no 3D tracks:
it is scored in 3D like the others, every object missed; '(image H)' beside its HOTA is the
HOTA of its image tracks against the projected boxes (image IoU), in the image alone.
"""

_EPILOG = """\
examples:
  fusion scenarios                                   # all scenarios, the full table (about a minute)
  fusion scenarios --scenario highway --json out.json
  fusion scenarios --scenario roadside --duration 30 --sets lidar all
  fusion scenarios --order arrival                   # feed frames when they arrive (late ones re-processed)
  fusion scenarios --sets all --publish-delay 0.3    # in order, scored 0.3 s after the fact, against:
  fusion scenarios --sets all --publish-delay 0.3 --order arrival --shuffle-latency 0.3
  fusion scenarios --fusion t2t                      # each sensor tracked alone, then the track lists fused
  fusion scenarios --scenario roadside --sets all --roadside-latency 0.2
"""

_SETS = {"lidar": ("lidar",), "radar": ("radar",), "camera": ("camera",), "camera+radar": ("camera", "radar"),
         "all": ("lidar", "radar", "camera")}


def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows of :func:`fusion.scenarios.evaluate` as a Markdown table."""
    head = ("| scenario | sensors | GOSPA [m] | loc | miss | false | switch | HOTA | IDF1 | ANEES (dof) | "
            "95% band | in band | tracks | SE (tracks) |")
    out = [head, "|" + "---|" * 14]
    for r in rows:
        band = r["nees_band"]
        band_s = f"[{band[0]:.2f}, {band[1]:.2f}]" if band else "-"
        anees = f"{r['anees']:.2f} ({r['nees_dof']})" if r["anees"] is not None else "-"
        inside = "-" if r["nees_inside"] is None else ("yes" if r["nees_inside"] else "no")
        img = f" (image {r['image_hota']:.3f})" if r.get("image_hota") is not None else ""
        sens = "+".join(r["sensors"]) + (" (t2t)" if r.get("fusion") == "t2t" else "")
        if r.get("roadside_list"):
            sens += f" + roadside list ({r['roadside_latency_s'] * 1e3:.0f} ms)"
        out.append(f"| {r['scenario']} | {sens} | {_fmt(r['gospa'], '.2f')} | "
                   f"{_fmt(r['gospa_localisation'], '.2f')} | {_fmt(r['gospa_missed'], '.1f')} | "
                   f"{_fmt(r['gospa_false'], '.1f')} | {_fmt(r['gospa_switching'], '.1f')} | "
                   f"{_fmt(r['hota'], '.3f')}{img} | {_fmt(r['idf1'], '.3f')} | {anees} | {band_s} | {inside} | "
                   f"{_fmt(r.get('nees_tracks') if r['anees'] is not None else None, 'd')} | "
                   f"{_fmt(r.get('nees_se_tracks'), '.3f')} |")
    return "\n".join(out)


def _roadside_vehicle_rows(sc: Any, sets: list[tuple[str, ...]], fusion: str, latency_s: float
                           ) -> list[dict[str, Any]]:
    """The roadside scene's vehicle rows: each sensor set alone, then with the roadside list."""
    from fusion.scenarios.roadside import evaluate_vehicle, pick_vehicles, roadside_lists

    if not sets:
        return []
    if not pick_vehicles(sc):
        print("[roadside] no car drives straight through this drive: no roadside_vehicle rows", file=sys.stderr)
        return []
    t0 = time.perf_counter()
    lists = roadside_lists(sc)
    print(f"[roadside] roadside unit's track list: {len(lists)} lists ({time.perf_counter() - t0:.1f} s)",
          file=sys.stderr, flush=True)
    out: list[dict[str, Any]] = []
    for kinds in sets:
        for with_list in (False, True):
            t1 = time.perf_counter()
            r = evaluate_vehicle(sc, kinds, with_roadside=with_list, fusion=fusion, latency_s=latency_s, lists=lists)
            if r is None:
                continue
            out.append(r)
            print(f"[roadside_vehicle] {'+'.join(kinds) + (' + list' if with_list else ''):<27} GOSPA "
                  f"{r['gospa']:6.2f} m  HOTA {r['hota']:.3f} ({time.perf_counter() - t1:.1f} s)", file=sys.stderr,
                  flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    from fusion.datasets.driving import SCENARIOS

    known = ", ".join(SCENARIOS)
    p = argparse.ArgumentParser(prog="fusion scenarios", description=_DESCRIPTION, epilog=_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help=f"a scenario to run (repeat for several; default all): {known}")
    p.add_argument("--json", metavar="FILE", help="also write the rows as a JSON list to FILE (keys: scenario, "
                   "sensors, gospa, hota, anees, nees_dof, nees_band, ...)")
    p.add_argument("--seed", type=int, default=0, help="scenario seed (default 0)")
    p.add_argument("--duration", type=float, metavar="S",
                   help="seconds of each scenario (default: its own, 60 s; roadside 300 s)")
    p.add_argument("--sets", nargs="+", choices=list(_SETS), metavar="SET",
                   help=f"sensor sets to run (default all five): {', '.join(_SETS)}")
    p.add_argument("--order", choices=("timestamp", "arrival"), default="timestamp",
                   help="feed frames in timestamp order (default; latency plays no part) or in arrival "
                   "order (timestamp + latency; the engine drops frames older than its time)")
    p.add_argument("--shuffle-latency", type=float, metavar="S",
                   help="with --order arrival: redraw each frame's latency uniformly in [0, S) seconds "
                   "(the out-of-sequence test; 0.3 in issue 8)")
    p.add_argument("--fusion", choices=_FUSION_MODES, default="central",
                   help="central: one engine on every sensor's detections (default); t2t: each sensor tracked "
                   "alone, then the track lists fused (JSON key 'fusion')")
    p.add_argument("--roadside-latency", type=float, default=0.1, metavar="S",
                   help="roadside scene: latency of the roadside unit's track list at the car [s] (default 0.1)")
    p.add_argument("--publish-delay", type=float, default=0.0, metavar="S",
                   help="score time t once the frames that arrived by t + S are fused, with the engine's "
                   "fixed-lag output at t (the state after the frames stamped up to t; default 0)")
    args = p.parse_args(argv)
    names = args.scenario or list(SCENARIOS)
    bad = [n for n in names if n not in SCENARIOS]
    if bad:
        print(f"fusion scenarios: unknown scenario {bad[0]!r}; known scenarios: {known}", file=sys.stderr)
        return 2
    if args.seed < 0:
        print("fusion scenarios: --seed must be >= 0", file=sys.stderr)
        return 2
    # Checked before a minute of work, not after it (review).
    for opt, v in (("--shuffle-latency", args.shuffle_latency), ("--publish-delay", args.publish_delay)):
        if v is not None and not 0.0 <= v < 60.0:
            print(f"fusion scenarios: {opt}: expected seconds in [0, 60), got {v}", file=sys.stderr)
            return 2
    if not 0.0 <= args.roadside_latency < 0.5:
        print(f"fusion scenarios: --roadside-latency: expected seconds in [0, 0.5), got {args.roadside_latency}",
              file=sys.stderr)
        return 2
    if args.shuffle_latency is not None and args.order != "arrival":
        print("fusion scenarios: --shuffle-latency redraws arrival times, so it needs --order arrival "
              "(in timestamp order it would change nothing)", file=sys.stderr)
        return 2
    if args.json:
        try:
            open(args.json, "a").close()
        except OSError as e:
            print(f"fusion scenarios: --json: cannot write {args.json!r}: {e.strerror}", file=sys.stderr)
            return 2
    from fusion.datasets.driving import make_scenario
    from fusion.scenarios.evaluate import evaluate

    sets = [_SETS[s] for s in (args.sets or list(_SETS))]
    rows: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    try:
        for name in names:
            t0 = time.perf_counter()
            sc = make_scenario(name, seed=args.seed, duration_s=args.duration)
            print(f"[{name}] generated {sc.duration_s:.0f} s, {sc.truth.num_objects} objects, "
                  + ", ".join(f"{k} {len(d)} detections" for k, d in sc.data.items())
                  + f" ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
            for kinds in sets:
                t1 = time.perf_counter()
                by_kind = {s.kind: s.name for s in sc.sensors}
                r = evaluate(sc, [by_kind[k] for k in kinds], order=args.order,
                             shuffle_latency_s=args.shuffle_latency, publish_delay_s=args.publish_delay,
                             fusion=args.fusion)
                rows.append(r)
                print(f"[{name}] {'+'.join(kinds):<20} GOSPA {r['gospa']:6.2f} m  HOTA {r['hota']:.3f} "
                      f"({time.perf_counter() - t1:.1f} s)", file=sys.stderr, flush=True)
            if name == "roadside":
                rows += _roadside_vehicle_rows(sc, [k for k in sets if k != ("camera",)], args.fusion,
                                               args.roadside_latency)
    except ConfigurationError as e:
        print(f"fusion scenarios: {e}", file=sys.stderr)
        return 2
    print(format_table(rows))
    print(f"done in {time.perf_counter() - t_all:.1f} s", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
            fh.write("\n")
    return 0
