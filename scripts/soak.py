"""Soak tests (issue 10): a long simulated drive through the fusion engine and a long CAN replay
through the HIL harness, checking that nothing leaks, drifts, collides or gets lost.

    python scripts/soak.py drive  --duration-s 3600 --json out/soak_drive.json   # 36,000 cycles
    python scripts/soak.py replay --duration-s 3600 --json out/soak_replay.json
    python scripts/soak.py both   --duration-s 180                                # a short run

``drive``: the ``roadside`` scenario of :func:`fusion.datasets.make_scenario` (a static roadside
unit at a signalised intersection: lidar 10 Hz, radar 20 Hz, camera 12.5 Hz; cars, cyclists and
pedestrians enter and leave the scene all the time). The generator makes up to 3600 s in one
piece, but its cost grows faster than the length (every actor of the drive is integrated at
every 10 ms step: an hour took more than 3 CPU minutes), so the drive is a chain of
``--scene-s`` (300 s) scenes, scene j with seed ``1000 seed + j`` and its times shifted by
j x 300 s: fresh objects (the engine never sees truth ids) and fresh traffic; at each seam the
scene's objects vanish at once and the next scene starts with an empty intersection (an extra
mass deletion and re-population every 5 minutes).
Every sensor frame (empty ones included) gets a latency drawn uniformly in [0, --latency-max-s]
(default 0.3 s, the engine's out-of-sequence horizon) and the frames are fed to
:class:`fusion.engine.FusionEngine` in ARRIVAL order, so frames come out of sequence all the
time. One fusion cycle = 100 ms of wall-clock of the drive (10 Hz): the frames that arrived in it
are processed, then the tracks and image tracks are read (the publish step). 3600 s = 36,000
cycles.

``replay``: :func:`fusion.datasets.sample_drive.make_sample_drive` writes a drive of
``--duration-s`` (as chained ``--scene-s`` sample drives, each replayed with its timestamps
shifted to follow the previous one; the ``roadside`` scenario by default, as the drive soak:
radar and camera on CAN as object lists, vehicle speed and yaw rate on CAN, the lidar as a
sensor stream) into a temporary folder (or
``--workdir``), and the frames are fed through :class:`fusion.hil.replay.Replayer` in time
order, as :func:`fusion.hil.replay.replay` does. One cycle = one :class:`~fusion.hil.replay.Cycle`
(one sensor frame fused and published).

Measured (JSON with ``--json``, and a table on stdout):

- memory after the warm-up (``--warmup-s`` of drive time, default the first scene and a minute,
  360 s, or a tenth of a shorter run), sampled every ``--sample-every`` cycles: the resident set
  size (``/proc/self/statm``) and the Python heap (``tracemalloc``, started once the input is
  generated, so its overhead is in the timings), each
  with its least-squares slope; the growth the slope projects over the measured span must stay
  within ``--max-rss-growth-mib`` / ``--max-py-growth-mib``;
- per-cycle time (wall clock and the thread's CPU time, ``time.thread_time_ns``; the checks'
  own work excluded) p50, p99 and max per 10-minute window (``--window-s``) and the
  least-squares slope of the per-minute CPU-time medians: the drift it projects over the run
  must stay within ``--max-drift`` (a fraction of the overall median; CPU time, not wall clock,
  so that the other processes on a shared machine do not count as drift);
- track ids: in every published output no id is held by two live tracks (3D and image tracks
  share one id space), and an id never names another track later (its ``birth_t_ns`` does not
  change), except the re-assignment that ``csrc/include/fusion/engine/oosm.hpp`` documents: a
  track born after a late frame's time may lose its id to another track when the late frame is
  re-processed; such re-assignments are counted and allowed only for tracks (the old holder and
  the new) born within the out-of-sequence horizon of the last output that showed the id (which
  need not be the previous output: a re-processing can give the id to a track that a later frame
  deletes before any output shows it, and a later late frame revive it; counted apart as
  ``reassigned_while_unpublished``); and the identity hand-over of the engine's one
  id space (a 3D track lost by the range sensors lives on as an image track with its id, a 3D
  track that takes over an image track takes its id), counted and allowed only for ids that have
  been an image track's;
- nothing lost: drive: frames and detections fed = the engine's ``frames`` + ``late_frames``
  (and ``detections`` + ``late_detections``; ``skipped_detections`` are inside ``detections``,
  counted with their reason); replay: every CAN frame read is decoded, an unknown id, or a bad
  frame counted with its kind; every decoded sensor cycle is a published Cycle or a
  ``rejected_cycle``; every Cycle is one engine frame (``frames`` + ``late_frames``).

Exit status 1 when a check fails (each failure is printed), 0 otherwise.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import math
import os
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fusion.datasets import make_scenario
from fusion.engine import FusionEngine
from fusion.engine.engine import DELETED

CYCLE_NS = 100_000_000  # 10 Hz fusion cycles (drive)
_PAGE = os.sysconf("SC_PAGE_SIZE")
_UNSET = np.iinfo(np.int64).min
_MIB = 1024.0 * 1024.0


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/statm (pages)."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


def lsq_slope(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Least-squares slope of y over x (0 for fewer than two points)."""
    xa, ya = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(xa) < 2 or np.ptp(xa) == 0:
        return 0.0
    xc = xa - xa.mean()
    return float((xc * (ya - ya.mean())).sum() / (xc * xc).sum())


# ---------------------------------------------------------------- measurements


@dataclass
class Meter:
    """Per-cycle times and memory samples of one soak. Arrays are allocated (and touched) up
    front so that the meter itself does not grow the process while it measures."""

    cycles: int
    warmup_cycles: int
    sample_every: int
    wall_ns: np.ndarray = field(init=False)
    cpu_ns: np.ndarray = field(init=False)
    t_s: np.ndarray = field(init=False)  # drive / log time of each cycle [s]
    n: int = 0
    # (cycle, t_s, rss, traced, excluded): excluded = bytes of a documented per-cycle record
    mem: list[tuple[int, float, int, int, int]] = field(default_factory=list)
    exclude: Callable[[], int] | None = None

    def __post_init__(self) -> None:
        self.wall_ns = np.full(self.cycles, 0, np.int64)  # np.full writes every page (np.zeros does not)
        self.cpu_ns = np.full(self.cycles, 0, np.int64)
        self.t_s = np.full(self.cycles, 0.0, np.float64)
        cap = self.cycles // max(self.sample_every, 1) + 2
        self.mem = [(0, 0.0, 0, 0, 0)] * cap  # grown to its size up front
        self.mem.clear()

    def add(self, wall_ns: int, cpu_ns: int, t_s: float) -> None:
        i = self.n
        if i >= self.cycles:
            raise RuntimeError(f"more cycles than the {self.cycles} planned")
        self.wall_ns[i], self.cpu_ns[i], self.t_s[i] = wall_ns, cpu_ns, t_s
        self.n = i + 1
        if i >= self.warmup_cycles and (i - self.warmup_cycles) % self.sample_every == 0:
            self.sample(i, t_s)

    def sample(self, i: int, t_s: float) -> None:
        gc.collect()  # the cyclic garbage is not a leak: measure what survives a collection
        ex = self.exclude() if self.exclude is not None else 0
        self.mem.append((i, t_s, rss_bytes(), tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0,
                         ex))

    def summary(self, window_s: float) -> dict[str, Any]:
        n = self.n
        wall, cpu, t = self.wall_ns[:n] / 1e6, self.cpu_ns[:n] / 1e6, self.t_s[:n]
        t0 = float(t[0]) if n else 0.0
        windows = []
        if n:
            edges = np.arange(t0, float(t[-1]) + window_s, window_s)
            for a in edges:
                sel = (t >= a) & (t < a + window_s)
                if sel.sum() == 0:
                    continue
                windows.append({
                    "from_s": round(float(a - t0), 1), "to_s": round(float(min(a + window_s, t[-1]) - t0), 1),
                    "cycles": int(sel.sum()),
                    "wall_ms": _pct(wall[sel]), "cpu_ms": _pct(cpu[sel])})
        # drift: the slope of the per-minute CPU-time medians after the warm-up (robust to single
        # slow cycles)
        w = min(self.warmup_cycles, n)
        minute = np.floor((t[w:] - t0) / 60.0) if n else np.zeros(0)
        mins = np.unique(minute)
        med_cpu = [float(np.median(cpu[w:][minute == m])) for m in mins]
        med_wall = [float(np.median(wall[w:][minute == m])) for m in mins]
        span_min = float(mins[-1] - mins[0]) if len(mins) else 0.0
        cpu_slope = lsq_slope(mins, med_cpu)  # ms per minute
        wall_slope = lsq_slope(mins, med_wall)
        overall_cpu = float(np.median(cpu[w:])) if n > w else 0.0
        mem = self.mem
        mt = [m[1] / 3600.0 for m in mem]
        # what is measured: the process minus the documented per-cycle record (if any)
        rss = [(m[2] - m[4]) / _MIB for m in mem]
        py = [(m[3] - m[4]) / _MIB for m in mem]
        ex = [m[4] / _MIB for m in mem]
        span_h = (mt[-1] - mt[0]) if len(mt) > 1 else 0.0
        rss_slope, py_slope = lsq_slope(mt, rss), lsq_slope(mt, py)
        return {
            "cycles": n,
            "cycle_ms": {"wall": _pct(wall), "cpu": _pct(cpu)},
            "windows": windows,
            "drift": {"cpu_median_slope_ms_per_min": cpu_slope, "wall_median_slope_ms_per_min": wall_slope,
                      "minutes": len(mins), "cpu_median_ms": overall_cpu,
                      "cpu_projected_change": (cpu_slope * span_min / overall_cpu) if overall_cpu > 0 else 0.0},
            "memory": {
                "samples": len(mem), "warmup_cycles": self.warmup_cycles, "sample_every": self.sample_every,
                "span_h": span_h,
                "rss_mib": {"first": rss[0] if rss else None, "last": rss[-1] if rss else None,
                            "min": min(rss, default=None), "max": max(rss, default=None),
                            "slope_mib_per_h": rss_slope, "projected_growth_mib": rss_slope * span_h},
                "python_mib": {"first": py[0] if py else None, "last": py[-1] if py else None,
                               "min": min(py, default=None), "max": max(py, default=None),
                               "slope_mib_per_h": py_slope, "projected_growth_mib": py_slope * span_h},
                "excluded_record_mib": {"first": ex[0] if ex else None, "last": ex[-1] if ex else None,
                                        "slope_mib_per_h": lsq_slope(mt, ex)},
                "series": [{"cycle": c, "t_s": round(ts, 1), "rss_mib": round(r / _MIB, 3),
                            "python_mib": round(p / _MIB, 3), "excluded_mib": round(e / _MIB, 3)}
                           for c, ts, r, p, e in mem],
            },
        }


def _pct(a: np.ndarray) -> dict[str, float]:
    if len(a) == 0:
        return {"p50": math.nan, "p99": math.nan, "max": math.nan}
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "max": float(a.max())}


class IdChecker:
    """Track-id checks over the published outputs (module docstring). ``births`` is a
    preallocated id -> birth_t_ns table (ids are small consecutive integers)."""

    def __init__(self, horizon_ns: int, capacity: int = 1 << 21) -> None:
        self.horizon_ns = horizon_ns
        self.births3d = np.full(capacity, _UNSET, np.int64)
        self.births_img = np.full(capacity, _UNSET, np.int64)
        # the time (engine time) of the latest output that showed each id: the reference of the
        # re-processing rule (an id may be out of the outputs while re-processings move it)
        self.seen3d = np.full(capacity, _UNSET, np.int64)
        self.seen_img = np.full(capacity, _UNSET, np.int64)
        self.collisions = 0
        self.reuses = 0
        self.reassigned = 0  # documented re-processing re-assignments
        self.reassigned_unseen = 0  # ... of them, of an id absent from the output before
        self.handed_over = 0  # documented JOIN/LEAVE hand-overs through an image track
        self.max_id = 0
        self.outputs = 0
        self.first_failure: str | None = None
        self.prev_t = _UNSET

    def _fail(self, text: str) -> None:
        if self.first_failure is None:
            self.first_failure = text

    def check(self, ids3d: np.ndarray, births3d: np.ndarray, ids_img: np.ndarray, births_img: np.ndarray,
              now_ns: int, all3d: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """``ids3d``, ``ids_img``: the live tracks' ids (and births); ``all3d``: the ids and births of
        every 3D record of the output, those deleted in the latest frame included (default: the
        live ones). A record deleted in the latest frame still names its track: a later output in
        which a late frame revived it (the time-ordered run) shows the same id and birth."""
        self.outputs += 1
        live = np.concatenate([ids3d, ids_img])
        if len(np.unique(live)) != len(live):
            u, c = np.unique(live, return_counts=True)
            self.collisions += 1
            self._fail(f"t_ns={now_ns}: ids held by two live tracks: {u[c > 1].tolist()}")
        if len(live):
            top = int(live.max())
            if top >= len(self.births3d):
                raise RuntimeError(f"track id {top} beyond the checker's table ({len(self.births3d)})")
            self.max_id = max(self.max_id, top)
        self._births(self.births3d, self.seen3d, *(all3d if all3d is not None else (ids3d, births3d)), now_ns, "3D")
        self._births(self.births_img, self.seen_img, ids_img, births_img, now_ns, "image")
        self.prev_t = now_ns

    def _births(self, table: np.ndarray, seen: np.ndarray, ids: np.ndarray, births: np.ndarray, now_ns: int,
                kind: str) -> None:
        if not len(ids):
            return
        old = table[ids]
        new = old == _UNSET
        table[ids[new]] = births[new]
        changed = ~new & (old != births)
        if changed.any():
            # documented (oosm.hpp, "Track ids under re-processing"): a re-processing from a late
            # frame at t gives the tracks born at or after t the ids of the time-ordered run, and
            # every late frame fused after an output at T is at t >= T - horizon (the engine's
            # time never goes back). So an id last shown at T for a track born at b may next be
            # shown for a track born at b' only if b, b' >= T - horizon: T is the latest output
            # that showed the id (not the previous output: a re-processing may give the id to a
            # track that a later frame deletes before any output shows it, and a later
            # re-processing revive that track with the id)
            ref = seen[ids[changed]]
            ok = (old[changed] >= ref - self.horizon_ns) & (births[changed] >= ref - self.horizon_ns)
            self.reassigned += int(ok.sum())
            self.reassigned_unseen += int((ok & (ref < self.prev_t)).sum())
            if kind == "3D":
                # documented (engine.py, track records): a 3D track that takes over an image track
                # keeps the image track's id, and a 3D track lost by the range sensors lives on as an
                # image track with its id: an id that has been an image track's can pass from one
                # 3D track (birth) to another through it
                handed = ~ok & (self.births_img[ids[changed]] != _UNSET)
                self.handed_over += int(handed.sum())
                ok |= handed
            if not ok.all():
                bad = ids[changed][~ok]
                self.reuses += int((~ok).sum())
                self._fail(f"t_ns={now_ns}: {kind} id {int(bad[0])} was born at {int(old[changed][~ok][0])} and is now "
                           f"a track born at {int(births[changed][~ok][0])} (id reused)")
            table[ids[changed]] = births[changed]
        seen[ids] = now_ns

    def summary(self) -> dict[str, Any]:
        return {"outputs": self.outputs, "max_id": self.max_id,
                "distinct_3d_ids": int((self.births3d != _UNSET).sum()),
                "distinct_image_ids": int((self.births_img != _UNSET).sum()),
                "collisions": self.collisions, "reuses": self.reuses,
                "reassigned_by_reprocessing": self.reassigned,
                "reassigned_while_unpublished": self.reassigned_unseen, "handed_over_via_image_track": self.handed_over,
                "first_failure": self.first_failure}


def _trace(on: bool) -> None:
    """Starts tracing the Python heap once the input is made (what was allocated before is not
    traced: only what the run itself keeps alive counts)."""
    if on and not tracemalloc.is_tracing():
        tracemalloc.start()


# ---------------------------------------------------------------- the drive soak


def _arrival_order(sc: Any, latency_max_s: float, rng: np.random.Generator
                   ) -> tuple[list[tuple[int, int, int, np.ndarray, np.ndarray]], int]:
    """Every frame of every sensor as (arrival_ns, sensor, t_ns, z, score), in arrival order;
    and the number of detections."""
    frames: list[tuple[int, int, int, np.ndarray, np.ndarray]] = []
    ndet = 0
    for k, s in enumerate(sc.sensors):
        d = sc.data[s.name]
        lat = rng.uniform(0.0, latency_max_s, d.num_frames)
        for (t, _arr, z, score), L in zip(d.frames(), lat):
            frames.append((t + int(L * 1e9), k, t, z, score))
            ndet += len(z)
    frames.sort(key=lambda f: (f[0], f[1], f[2]))
    return frames, ndet


def _scenes(duration_s: float, scene_s: float) -> list[tuple[int, float]]:
    """(index, length [s]) of the scenes chained into a drive of ``duration_s``."""
    n = max(1, math.ceil(duration_s / scene_s - 1e-9))
    return [(j, min(scene_s, duration_s - j * scene_s)) for j in range(n)]


def soak_drive(duration_s: float, *, seed: int = 0, latency_max_s: float = 0.3, warmup_s: float | None = None,
               sample_every: int | None = None, window_s: float = 600.0, scenario: str = "roadside",
               scene_s: float = 300.0, trace_python: bool = True,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """The simulated-drive soak (module docstring); returns the measurements."""
    w0 = time.perf_counter()
    rng = np.random.default_rng([seed, 10])
    frames: list[tuple[int, int, int, np.ndarray, np.ndarray]] = []
    ndet = objects = 0
    sc: Any = None
    for j, length in _scenes(duration_s, scene_s):
        sc = make_scenario(scenario, seed * 1000 + j, length)
        shift = round(j * scene_s * 1e9)
        part, nd = _arrival_order(sc, latency_max_s, rng)
        frames += [(a + shift, k, t + shift, z, sc_) for a, k, t, z, sc_ in part]
        ndet += nd
        objects += len(np.unique(sc.truth.id))
    frames.sort(key=lambda f: (f[0], f[1], f[2]))
    cfg = sc.engine_config()
    eng = FusionEngine(cfg)
    horizon_ns = round(cfg.oosm_horizon_s * 1e9)
    gen_s = time.perf_counter() - w0
    cycles = int(round(duration_s * 1e9 / CYCLE_NS)) + int(math.ceil(latency_max_s * 1e9 / CYCLE_NS)) + 1
    warmup_s = min(scene_s + 60.0, duration_s / 10.0) if warmup_s is None else warmup_s
    warm = int(warmup_s * 1e9 / CYCLE_NS)
    every = sample_every or max(1, (cycles - warm) // 60)
    meter = Meter(cycles, warm, every)
    ids = IdChecker(horizon_ns)
    log(f"drive: {scenario} seed {seed}, {duration_s:g} s in scenes of {scene_s:g} s, {len(frames)} frames, "
        f"{ndet} detections, {objects} objects; generated in {gen_s:.1f} s")
    fed_frames = fed_dets = 0
    nonfinite = 0
    i, nf = 0, len(frames)
    process, tracks, image_tracks = eng.process, eng.tracks, eng.image_tracks
    pc, tt = time.perf_counter_ns, time.thread_time_ns
    _trace(trace_python)
    w1 = time.perf_counter()
    for c in range(cycles):
        end = (c + 1) * CYCLE_NS
        a_wall, a_cpu = pc(), tt()
        while i < nf and frames[i][0] < end:
            _arr, k, t, z, score = frames[i]
            process(k, t, z, score=score)
            fed_dets += len(z)
            i += 1
        fed_frames = i
        out = tracks(include_deleted=True)
        img = image_tracks()
        b_wall, b_cpu = pc(), tt()
        meter.add(b_wall - a_wall, b_cpu - a_cpu, end / 1e9)
        live = out[out["status"] != DELETED]
        live_img = img[img["status"] != DELETED]
        if not (np.isfinite(live["x"]).all() and np.isfinite(live["P"]).all()):
            nonfinite += 1
        now = eng.time_ns
        ids.check(live["id"], live["birth_t_ns"], live_img["id"], live_img["birth_t_ns"],
                  now if now is not None else 0, (out["id"], out["birth_t_ns"]))
        if c and c % 6000 == 0:
            log(f"  cycle {c}/{cycles}  {time.perf_counter() - w1:.0f} s  tracks {len(live)}  rss "
                f"{rss_bytes() / _MIB:.1f} MiB")
    run_s = time.perf_counter() - w1
    tracemalloc.stop()
    st = eng.stats()
    res: dict[str, Any] = {
        "kind": "drive", "scenario": scenario, "seed": seed, "duration_s": duration_s, "scene_s": scene_s,
        "latency_max_s": latency_max_s, "oosm_horizon_s": cfg.oosm_horizon_s, "generate_s": gen_s,
        "run_s": run_s, "objects": objects,
        "input": {"frames": len(frames), "frames_fed": fed_frames, "detections": ndet, "detections_fed": fed_dets},
        "engine_stats": st,
        "ids": ids.summary(),
        "nonfinite_outputs": nonfinite,
        **meter.summary(window_s),
    }
    accounted_f = st["frames"] + st["late_frames"]
    accounted_d = st["detections"] + st["late_detections"]
    res["accounting"] = {
        "frames": {"fed": fed_frames, "fused": st["frames"], "late_dropped": st["late_frames"],
                   "reprocessed": st["reprocessed_frames"], "unaccounted": fed_frames - accounted_f},
        "detections": {"fed": fed_dets, "fused": st["detections"], "late_dropped": st["late_detections"],
                       "skipped_invalid": st["skipped_detections"], "unaccounted": fed_dets - accounted_d}}
    return res


# ---------------------------------------------------------------- the replay soak


def soak_replay(duration_s: float, *, seed: int = 0, workdir: str | None = None, warmup_s: float | None = None,
                sample_every: int | None = None, window_s: float = 600.0, scenario: str = "roadside",
                scene_s: float = 300.0, trace_python: bool = True,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """The CAN-replay soak (module docstring); returns the measurements."""
    from fusion.datasets.sample_drive import make_sample_drive
    from fusion.hil.logs import LogFrame, read_log
    from fusion.hil.replay import Cycle, Replayer, _stream_iter
    from fusion.hil.rig import load_rig

    w0 = time.perf_counter()
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="fusion-soak-")
        workdir = tmp.name
    try:
        drives = [(j, make_sample_drive(Path(workdir) / f"drive{j:03d}", scenario=scenario, seed=seed * 1000 + j,
                                        duration_s=length)) for j, length in _scenes(duration_s, scene_s)]
        gen_s = time.perf_counter() - w0
        drive = drives[0][1]
        rig = load_rig(drive.rig, logs=[drive.can_log, *drive.streams])
        # one Cycle per engine frame: about (radar + camera + lidar rates) x duration
        rates = 20.0 + 12.5 + 10.0 + 5.0  # generous: the planned buffer only has to be large enough
        planned = int(duration_s * rates) + 1000
        warmup_s = min(scene_s + 60.0, duration_s / 10.0) if warmup_s is None else warmup_s
        meter = Meter(planned, 0, 1)  # warm-up and sampling set once the first cycle's time is known
        every = sample_every or max(1, int((duration_s - warmup_s) * 42.5) // 60)
        ids = IdChecker(round(rig.engine.oosm_horizon_s * 1e9))
        state: dict[str, Any] = {"t0": None, "last_wall": 0, "last_cpu": 0, "warm_set": False}
        pc, tt = time.perf_counter_ns, time.thread_time_ns

        def on_cycle(cy: Cycle) -> None:
            a_wall, a_cpu = pc(), tt()
            if state["t0"] is None:
                state["t0"] = cy.t_ns
            t_s = (cy.t_ns - state["t0"]) / 1e9
            if not state["warm_set"] and t_s >= warmup_s:
                meter.warmup_cycles = meter.n
                meter.sample_every = every
                state["warm_set"] = True
            # since the end of the previous cycle's checks: this cycle's reading, decoding and fusing
            wall = a_wall - state["last_wall"]
            cpu = a_cpu - state["last_cpu"]
            if state["last_wall"]:
                if not state["warm_set"]:
                    meter.warmup_cycles = meter.n + 1
                meter.add(wall, cpu, t_s)
            out = rep.engine.tracks(include_deleted=True)  # every track (the Cycle has confirmed ones)
            tr = out[out["status"] != DELETED]
            img = rep.engine.image_tracks()
            img = img[img["status"] != DELETED]
            ids.check(tr["id"], tr["birth_t_ns"], img["id"], img["birth_t_ns"], cy.t_ns, (out["id"], out["birth_t_ns"]))
            state["last_wall"], state["last_cpu"] = pc(), tt()

        rep = Replayer(rig, on_cycle=on_cycle, sources=[str(drive.can_log)])

        state["last_wall"], state["last_cpu"] = 0, 0
        stream_stats: list[Counter[str]] = [Counter() for _ in drive.streams]

        def chained() -> Iterator[Any]:
            # scene j's frames, its timestamps shifted by j * scene_s (every scene's log starts at
            # the same epoch): one continuous drive
            for j, d in drives:
                shift = round(j * scene_s * 1e9)
                part = heapq.merge(read_log(d.can_log, dict(rig.channels), source=0),
                                   _stream_iter(d.streams, rig, False, stream_stats), key=lambda x: x.t_ns)
                for item in part:
                    yield item._replace(t_ns=item.t_ns + shift) if shift else item

        frames: Iterable[Any] = chained()
        log(f"replay: {scenario} seed {seed}, {duration_s:g} s as {len(drives)} sample drives of {scene_s:g} s "
            f"written in {gen_s:.1f} s ({sum(d.can_log.stat().st_size for _, d in drives) / _MIB:.1f} MiB BLF)")
        _trace(trace_python)
        w1 = time.perf_counter()
        can_frames = stream_frames = 0
        for item in frames:
            if type(item) is LogFrame:
                can_frames += 1
                if not state["last_wall"]:  # the time of the first cycle starts at its first frame
                    state["last_wall"], state["last_cpu"] = pc(), tt()
                rep.feed_frame(item)
            else:
                stream_frames += 1
                rep.feed_stream(item)
            if not (can_frames + stream_frames) % 500_000:
                log(f"  {can_frames + stream_frames} frames  {time.perf_counter() - w1:.0f} s  cycles {meter.n}  "
                    f"rss {rss_bytes() / _MIB:.1f} MiB")
        rep.flush()
        run_s = time.perf_counter() - w1
        tracemalloc.stop()
        report = rep.report()
        dec_frames = dec_decoded = dec_unknown = dec_wrong = dec_cycles = 0
        for dec in rep._decoders:
            s = dict(dec.stats)
            dec_frames += int(s.get("frames", 0))
            dec_decoded += int(s.get("decoded", 0))
            dec_unknown += int(s.get("unknown_id", 0))
            dec_wrong += int(s.get("wrong_length", 0))
            dec_cycles += int(s.get("cycles", 0))
    finally:
        if tmp is not None:
            tmp.cleanup()
    bad: dict[str, int] = {}
    for per_id in report["decode_errors"].values():
        for kind, n in per_id.items():
            bad[kind] = bad.get(kind, 0) + int(n)
    unknown = sum(report["unknown_ids"].values())
    early = sum(bad.get(k, 0) for k in ("time_backwards", "time_jump", "bad_timestamp", "error_frame",
                                        "remote_frame", "fd_on_classic"))
    st = report["engine"]
    rejected = bad.get("rejected_cycle", 0)
    res = {
        "kind": "replay", "scenario": scenario, "seed": seed, "duration_s": duration_s, "scene_s": scene_s,
        "generate_s": gen_s,
        "run_s": run_s, "log_s": report["log_s"],
        "input": {"can_frames": can_frames, "stream_frames": stream_frames},
        "replayer": {k: report[k] for k in ("frames_read", "frames_decoded", "cycles", "tracks_published",
                                            "deadline_misses", "warnings")},
        "decode_errors": bad, "unknown_ids": unknown, "engine_stats": st,
        "stream_bad_rows": {k: int(v) for c in stream_stats for k, v in c.items() if k.startswith("bad_rows.") and v},
        "ids": ids.summary(),
        **meter.summary(window_s),
        "accounting": {
            # every CAN frame: taken by a decoder, an unknown id, or refused before decoding
            "can_frames": {"read": report["frames_read"] - stream_frames, "to_decoders": dec_frames,
                           "unknown": unknown, "refused_early": early,
                           "unaccounted": report["frames_read"] - stream_frames - dec_frames - unknown - early},
            # every frame a decoder took: decoded, or counted as its kind
            "decoder_frames": {"taken": dec_frames, "decoded": dec_decoded, "unknown_id": dec_unknown,
                               "wrong_length": dec_wrong,
                               "unaccounted": dec_frames - dec_decoded - dec_unknown - dec_wrong},
            # every sensor cycle (decoded object lists + stream frames): a Cycle, or rejected
            "sensor_cycles": {"decoded": dec_cycles + stream_frames, "published": report["cycles"],
                              "rejected": rejected,
                              "unaccounted": dec_cycles + stream_frames - report["cycles"] - rejected},
            # every Cycle is one engine frame, fused or dropped as late
            "engine_frames": {"cycles": report["cycles"], "fused": st["frames"], "late_dropped": st["late_frames"],
                              "unaccounted": report["cycles"] - st["frames"] - st["late_frames"]},
        },
    }
    return res


# ---------------------------------------------------------------- checks and output


@dataclass
class Limits:
    max_rss_growth_mib: float = 4.0
    max_py_growth_mib: float = 1.0
    max_drift: float = 0.25


def check(res: dict[str, Any], lim: Limits) -> list[str]:
    """The failed checks of one soak's results (empty: all passed)."""
    fails: list[str] = []
    kind = res["kind"]
    mem = res["memory"]
    if mem["samples"] < 3:
        fails.append(f"{kind}: only {mem['samples']} memory samples after the warm-up (run longer)")
    else:
        g = mem["rss_mib"]["projected_growth_mib"]
        if g > lim.max_rss_growth_mib:
            fails.append(f"{kind}: RSS grows {mem['rss_mib']['slope_mib_per_h']:.2f} MiB/h "
                         f"({g:.2f} MiB over the run > {lim.max_rss_growth_mib} MiB)")
        g = mem["python_mib"]["projected_growth_mib"]
        if g > lim.max_py_growth_mib:
            fails.append(f"{kind}: the Python heap grows {mem['python_mib']['slope_mib_per_h']:.2f} MiB/h "
                         f"({g:.2f} MiB over the run > {lim.max_py_growth_mib} MiB)")
    d = res["drift"]
    if d["minutes"] >= 3 and d["cpu_projected_change"] > lim.max_drift:
        fails.append(f"{kind}: per-cycle CPU time drifts: median {d['cpu_median_ms']:.3f} ms, slope "
                     f"{d['cpu_median_slope_ms_per_min']:.5f} ms/min = {100 * d['cpu_projected_change']:.0f}% over the "
                     f"run > {100 * lim.max_drift:.0f}%")
    ids = res["ids"]
    if ids["collisions"] or ids["reuses"]:
        fails.append(f"{kind}: track ids: {ids['collisions']} outputs with colliding ids, {ids['reuses']} reused ids; "
                     f"first: {ids['first_failure']}")
    for what, acc in res["accounting"].items():
        if acc["unaccounted"] != 0:
            fails.append(f"{kind}: {what}: {acc['unaccounted']} not accounted for ({acc})")
    if res.get("nonfinite_outputs"):
        fails.append(f"{kind}: {res['nonfinite_outputs']} outputs with non-finite track states")
    return fails


def table(res: dict[str, Any]) -> str:
    """The printed summary of one soak."""
    lines = [f"== {res['kind']} soak: {res['scenario']}, {res['duration_s']:g} s of drive, {res['cycles']} cycles, "
             f"ran {res['run_s']:.0f} s (+{res['generate_s']:.0f} s to generate)"]
    lines.append(f"{'window':>15} {'cycles':>7} {'wall p50':>9} {'p99':>8} {'max':>8} {'cpu p50':>8} {'p99':>8} "
                 f"{'max':>8}   [ms]")
    for w in res["windows"]:
        a, b = w["wall_ms"], w["cpu_ms"]
        lines.append(f"{w['from_s']:>7.0f}-{w['to_s']:<7.0f} {w['cycles']:>7} {a['p50']:>9.3f} {a['p99']:>8.3f} "
                     f"{a['max']:>8.2f} {b['p50']:>8.3f} {b['p99']:>8.3f} {b['max']:>8.2f}")
    d = res["drift"]
    lines.append(f"drift: per-minute CPU median slope {d['cpu_median_slope_ms_per_min'] * 1000:+.3f} us/min "
                 f"({100 * d['cpu_projected_change']:+.1f}% of the median over the run); wall "
                 f"{d['wall_median_slope_ms_per_min'] * 1000:+.3f} us/min")
    m = res["memory"]
    for key, name in (("rss_mib", "RSS"), ("python_mib", "Python heap (tracemalloc)")):
        v = m[key]
        if v["first"] is None:
            continue
        lines.append(f"memory {name}: {v['first']:.2f} -> {v['last']:.2f} MiB (min {v['min']:.2f}, max "
                     f"{v['max']:.2f}), slope {v['slope_mib_per_h']:+.3f} MiB/h over {m['span_h'] * 60:.0f} min, "
                     f"{m['samples']} samples")
    e = m["excluded_record_mib"]
    if e["last"]:
        lines.append(f"  (not counted above: a documented per-cycle record, {e['first']:.2f} -> "
                     f"{e['last']:.2f} MiB, {e['slope_mib_per_h']:+.3f} MiB/h)")
    i = res["ids"]
    lines.append(f"ids: {i['distinct_3d_ids']} 3D + {i['distinct_image_ids']} image ids over {i['outputs']} outputs "
                 f"(max id {i['max_id']}); collisions {i['collisions']}, reuses {i['reuses']}, re-assigned by "
                 f"re-processing (documented) {i['reassigned_by_reprocessing']} "
                 f"({i['reassigned_while_unpublished']} of them while the id was out of the outputs), passed on "
                 f"through an image track "
                 f"(documented) {i['handed_over_via_image_track']}")
    for what, acc in res["accounting"].items():
        lines.append(f"accounting {what}: " + ", ".join(f"{k} {v}" for k, v in acc.items()))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["drive", "replay", "both"])
    ap.add_argument("--duration-s", type=float, default=3600.0, help="drive time [s] (default 3600: one hour)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--latency-max-s", type=float, default=0.3, help="drive: frame latency drawn in [0, this)")
    ap.add_argument("--warmup-s", type=float, default=None, help="drive time before memory sampling starts")
    ap.add_argument("--sample-every", type=int, default=None,
                    help="cycles between memory samples (default: 60 samples)")
    ap.add_argument("--window-s", type=float, default=600.0, help="timing windows [s of drive time]")
    ap.add_argument("--scene-s", type=float, default=300.0,
                    help="length of the chained scenes [s] (the generator's cost grows faster than its length)")
    ap.add_argument("--max-rss-growth-mib", type=float, default=Limits.max_rss_growth_mib)
    ap.add_argument("--max-py-growth-mib", type=float, default=Limits.max_py_growth_mib)
    ap.add_argument("--max-drift", type=float, default=Limits.max_drift)
    ap.add_argument("--no-tracemalloc", action="store_true", help="do not trace the Python heap (faster)")
    ap.add_argument("--workdir", default=None, help="replay: where the sample drive is written (default: a temp dir)")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    lim = Limits(args.max_rss_growth_mib, args.max_py_growth_mib, args.max_drift)

    def log(s: str) -> None:
        print(s, file=sys.stderr, flush=True)

    results: dict[str, Any] = {"command": " ".join(["python", "scripts/soak.py", *(argv or sys.argv[1:])]),
                               "load_avg_start": os.getloadavg()}
    fails: list[str] = []
    w0 = time.perf_counter()
    kw = {"seed": args.seed, "trace_python": not args.no_tracemalloc, "warmup_s": args.warmup_s,
          "scene_s": args.scene_s, "sample_every": args.sample_every, "window_s": args.window_s, "log": log}
    if args.mode in ("drive", "both"):
        r = soak_drive(args.duration_s, latency_max_s=args.latency_max_s, **kw)  # type: ignore[arg-type]
        r["failures"] = check(r, lim)
        fails += r["failures"]
        results["drive"] = r
        print(table(r), flush=True)
    if args.mode in ("replay", "both"):
        r = soak_replay(args.duration_s, workdir=args.workdir, **kw)  # type: ignore[arg-type]
        r["failures"] = check(r, lim)
        fails += r["failures"]
        results["replay"] = r
        print(table(r), flush=True)
    results["total_s"] = time.perf_counter() - w0
    results["load_avg_end"] = os.getloadavg()
    results["limits"] = vars(lim)
    results["passed"] = not fails
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n", encoding="utf-8")
    for f in fails:
        print(f"FAIL {f}", flush=True)
    print("soak: " + ("all checks passed" if not fails else f"{len(fails)} checks failed")
          + f" in {results['total_s']:.0f} s", flush=True)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
