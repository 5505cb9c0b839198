"""The engine's time layer (docs/ARCHITECTURE.md, "The time layer"): out-of-sequence frames.

The key property: a simulated drive (``fusion.datasets.make_scenario``, lidar + radar +
camera) fed with shuffled arrival (each frame delayed by a random latency up to 300 ms) gives the
same tracks (ids, status, x and P to 1e-9) as the same frames fed in time order; frames beyond
the horizon are dropped and counted (or raise); the configuration field round-trips; stats and
reset from a second thread while another thread feeds late frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _isolated import run_isolated

from fusion.datasets import make_scenario
from fusion.engine import EngineConfig, FusionEngine
from fusion.errors import ConfigurationError, NumericalError, TimestampError

HERE = str(Path(__file__).resolve().parent)
MS = 1_000_000


def drive_frames(name: str, seconds: float, max_latency_ns: int, seed: int) -> tuple[Any, list[tuple]]:
    """(scenario, frames): every sensor frame as (t_ns, arrival_ns, sensor, z, score), empty
    frames included, with a latency drawn uniformly in [0, max_latency_ns]."""
    sc = make_scenario(name, seed=seed, duration_s=seconds)
    rng = np.random.default_rng(seed)
    out = []
    for k, s in enumerate(sc.sensors):
        for t, _, z, score in sc.data[s.name].frames():
            out.append((t, t + int(rng.integers(0, max_latency_ns + 1)), k, z, score))
    return sc, out


def feed(eng: FusionEngine, frames: list[tuple], ties: bool = True) -> int:
    """Feeds the frames in list order; returns how many came out of fusion order: older than
    the engine's time, or (``ties``) at its time from a sensor of lower index than one already
    fused then (re-processed too; without a history they are fused in sequence)."""
    late = 0
    at_latest: set[int] = set()
    for t, _, k, z, score in frames:
        now = eng.time_ns
        late += now is not None and (t < now or (ties and t == now and any(s > k for s in at_latest)))
        eng.process(k, t, z, score=score)
        if now is None or t > now:
            at_latest = set()
        if t >= (now if now is not None else t):
            at_latest.add(k)
    return late


def orders(frames: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """(arrival order, fusion order). The time layer's fusion order is time, then sensor index
    (frames of one sensor and one time: arrival order), whatever the arrival order."""
    arrival = sorted(frames, key=lambda f: (f[1], f[2]))
    rank = {id(f): i for i, f in enumerate(arrival)}
    return arrival, sorted(frames, key=lambda f: (f[0], f[2], rank[id(f)]))


def assert_same_tracks(a: np.ndarray, b: np.ndarray, tol: float = 1e-9) -> None:
    assert len(a) == len(b)
    for k in ("id", "status", "t_ns", "birth_t_ns", "hits", "misses", "class_id"):
        assert np.array_equal(a[k], b[k]), k
    assert np.abs(a["x"] - b["x"]).max(initial=0.0) <= tol
    assert np.abs(a["P"] - b["P"]).max(initial=0.0) <= tol


@pytest.mark.parametrize(("name", "seed"), [("urban", 1), ("highway", 2), ("stop_and_go", 3)])
def test_shuffled_arrival_gives_the_time_ordered_tracks(name: str, seed: int) -> None:
    sc, frames = drive_frames(name, 6.0, 300 * MS, seed)
    arrival, in_time = orders(frames)
    cfg = sc.engine_config()
    assert cfg.oosm_horizon_s == 0.3  # the default
    ordered, shuffled = FusionEngine(cfg), FusionEngine(cfg)
    assert feed(ordered, in_time) == 0
    late = feed(shuffled, arrival)
    assert late > 30
    a, b = ordered.tracks(), shuffled.tracks()
    assert len(a) >= 5 and (a["status"] == 1).sum() >= 3
    assert_same_tracks(a, b)
    assert a.tobytes() == b.tobytes()  # in fact identical: the same operations on the same states
    assert ordered.image_tracks().tobytes() == shuffled.image_tracks().tobytes()
    so, ss = ordered.stats(), shuffled.stats()
    assert ss["reprocessed_frames"] == late and ss["late_frames"] == 0 and so["reprocessed_frames"] == 0
    for k in ("frames", "detections", "births", "deletions", "image_births", "rejected_updates"):
        assert ss[k] == so[k], k
    assert shuffled.time_ns == ordered.time_ns


def test_without_the_history_late_frames_are_lost() -> None:
    """The same shuffled feed with oosm_horizon_s = 0: frames dropped, tracks differ (the
    property above is not vacuous)."""
    sc, frames = drive_frames("urban", 6.0, 300 * MS, 1)
    arrival, in_time = orders(frames)
    ordered, off = FusionEngine(sc.engine_config()), FusionEngine(sc.engine_config(oosm_horizon_s=0.0))
    feed(ordered, in_time)
    late = feed(off, arrival, ties=False)
    st = off.stats()
    assert st["late_frames"] == late > 30 and st["reprocessed_frames"] == 0
    a, b = ordered.tracks(), off.tracks()
    assert len(a) != len(b) or not np.array_equal(a["id"], b["id"]) or np.abs(a["x"] - b["x"]).max() > 1e-3


@pytest.mark.parametrize("policy", ["drop", "raise"])
def test_frames_beyond_the_horizon_are_dropped_and_counted_or_raise(policy: str) -> None:
    sc, frames = drive_frames("urban", 3.0, 0, 4)
    _, in_time = orders(frames)
    eng = FusionEngine(sc.engine_config(oosm_horizon_s=0.2, late_policy=policy))
    feed(eng, in_time)
    before = (eng.tracks().tobytes(), eng.stats())
    _, _, k, z, score = next(f for f in in_time if len(f[3]) > 0)
    now = eng.time_ns
    assert now is not None
    if policy == "drop":
        eng.process(k, now - 201 * MS, z, score=score)
        st = eng.stats()
        assert (st["late_frames"], st["late_detections"]) == (1, len(z))
    else:
        with pytest.raises(TimestampError, match="oosm_horizon_s"):
            eng.process(k, now - 201 * MS, z, score=score)
        with pytest.raises(TimestampError, match="beyond oosm_horizon_s"):  # the C++ check alone
            eng._core.process(k, now - 201 * MS, z, None, score, None, None)
        assert eng.stats()["late_frames"] == 0
    assert eng.tracks().tobytes() == before[0]
    assert eng.stats()["frames"] == before[1]["frames"] and eng.stats()["reprocessed_frames"] == 0
    eng.process(k, now - 200 * MS, z, score=score)  # at the horizon: fused
    assert eng.stats()["reprocessed_frames"] == 1 and eng.stats()["frames"] == before[1]["frames"] + 1


def test_an_invalid_late_frame_changes_nothing() -> None:
    sc, frames = drive_frames("urban", 3.0, 0, 5)
    _, in_time = orders(frames)
    eng = FusionEngine(sc.engine_config())
    feed(eng, in_time)
    before = (eng.tracks().tobytes(), eng.image_tracks().tobytes(), eng.stats(), eng._core.history_size)
    t, _, k, z, score = next(f for f in reversed(in_time) if len(f[3]) > 0 and f[0] < eng.time_ns)
    bad = np.array(z, copy=True)
    bad[0, 0] = np.nan
    with pytest.raises(NumericalError, match="finite"):
        eng.process(k, t - 1, bad, score=score)
    assert (eng.tracks().tobytes(), eng.image_tracks().tobytes(), eng.stats(), eng._core.history_size) == before
    eng.process(k, t - 1, z, score=score)
    assert eng.stats()["reprocessed_frames"] == 1


def test_history_is_bounded_by_oosm_max_frames() -> None:
    sc, frames = drive_frames("urban", 3.0, 0, 6)
    _, in_time = orders(frames)
    eng = FusionEngine(sc.engine_config(oosm_max_frames=3))
    feed(eng, in_time)
    assert eng._core.history_size == 3
    t, _, k, z, score = in_time[-6]  # inside the 0.3 s horizon, older than the 3 kept frames
    assert eng.time_ns is not None and eng.time_ns - t < 300 * MS
    eng.process(k, t - 1, z, score=score)
    assert eng.stats()["late_frames"] == 1 and eng.stats()["reprocessed_frames"] == 0


def test_config_field_validates_and_round_trips(tmp_path: Path) -> None:
    cfg = EngineConfig.car(oosm_horizon_s=0.25, oosm_max_frames=12, ego_max_gap_s=0.2, ego_max_extrapolation_s=0.1)
    spec = cfg.to_spec()
    assert (spec["oosm_horizon_s"], spec["oosm_max_frames"], spec["ego_max_gap_s"],
            spec["ego_max_extrapolation_s"]) == (0.25, 12, 0.2, 0.1)
    p = tmp_path / "e.toml"
    p.write_text(cfg.to_toml())
    back = EngineConfig.from_toml(p)
    assert back == cfg and "oosm_horizon_s = 0.25" in cfg.to_toml()
    for key, value, msg in (("oosm_horizon_s", -0.1, "finite value >= 0"), ("oosm_horizon_s", float("nan"), "NaN"),
                            ("oosm_horizon_s", float("inf"), ">= 0"), ("oosm_max_frames", 0, r"\[1, 100000\]"),
                            ("ego_max_gap_s", 0.0, "> 0"), ("ego_max_extrapolation_s", -1.0, ">= 0")):
        with pytest.raises(ConfigurationError, match=f"{key}: .*{msg}"):
            EngineConfig.car(**{key: value}).validate()
    p.write_text("oosm_horizon_s = -1.0\n" + cfg.to_toml().replace("oosm_horizon_s = 0.25\n", ""))
    with pytest.raises(ConfigurationError, match="e.toml: .*oosm_horizon_s"):
        EngineConfig.from_toml(p)
    # the binding checks on its own
    from fusion import _core
    bad = EngineConfig.car().to_spec()
    bad["oosm_horizon_s"] = -1.0
    with pytest.raises(ConfigurationError, match="oosm_horizon_s must be finite and >= 0"):
        _core.FusionEngine(bad)


def test_stats_and_reset_from_another_thread_while_late_frames_are_fused() -> None:
    """A second thread reads stats()/tracks() and resets while the main thread feeds shuffled
    frames (re-processing under the engine's mutex): no deadlock, no exception, every stats()
    read consistent (reprocessed_frames <= frames), ids unique in every read."""
    r = run_isolated("""
        import json, os, sys, threading, time
        import numpy as np
        sys.path[:0] = [HERE, os.path.dirname(HERE)]  # test_oosm and the _isolated it imports
        from test_oosm import drive_frames, orders
        from fusion.engine import FusionEngine

        sc, frames = drive_frames("urban", 20.0, 300_000_000, 7)
        arrival, _ = orders(frames)
        eng = FusionEngine(sc.engine_config())
        done = threading.Event()
        polls, resets, bad, errors = [0], [0], [], []

        def poll():
            try:
                while not done.is_set():
                    st = eng.stats()
                    if st["reprocessed_frames"] > st["frames"] or st["late_frames"] < 0:
                        bad.append(st)
                    tr = eng.tracks()
                    if len(np.unique(tr["id"])) != len(tr) or not np.all(np.isfinite(tr["x"])):
                        bad.append(("tracks", len(tr)))
                    polls[0] += 1
                    if polls[0] % 50 == 0:
                        eng.reset(); resets[0] += 1
            except Exception as exc:  # reported, not swallowed
                errors.append(repr(exc))

        th = threading.Thread(target=poll)
        th.start()
        deadline = time.monotonic() + 60
        fed = 0
        for t, _, k, z, score in arrival:
            eng.process(k, t, z, score=score)
            fed += 1
            if fed >= 300 and (polls[0] >= 200 or time.monotonic() > deadline):
                break
        done.set()
        th.join(60)
        st = eng.stats()
        print(json.dumps({"alive": th.is_alive(), "polls": polls[0], "resets": resets[0], "bad": bad[:3],
                          "errors": errors, "fed": fed, "reprocessed": st["reprocessed_frames"]}))
    """.replace("HERE", repr(HERE)), timeout=300)
    assert not r["alive"] and r["bad"] == [] and r["errors"] == [], r
    assert r["polls"] >= 200 or r["fed"] >= 300, r
    assert r["resets"] >= 1 or r["polls"] < 50, r


def test_fixed_lag_tracks_equal_the_in_order_run_once_every_frame_up_to_t_arrived() -> None:
    """tracks(at_ns=t, fixed_lag=True): the state after exactly the frames stamped up to t. Fed
    the frames that arrived by t + 0.3 s (shuffled latencies < 0.3 s, so every frame stamped up
    to t is in), it is byte-identical to the in-order run's (fed everything stamped up to
    t + 0.3 s) and to an engine fed only the frames up to t, at every t, odometry frame and
    vehicle frame; the latest state predicted back to t is not."""
    sc, frames = drive_frames("urban", 5.0, 299 * MS, 6)
    arrival, in_time = orders(frames)
    cfg = sc.engine_config()
    ordered, shuffled, upto = FusionEngine(cfg), FusionEngine(cfg), FusionEngine(cfg)
    e = sc.ego
    io = ia = iu = 0
    latest_differs = 0
    fed_until = -1  # ego samples given so far (the same to all three: the odometry is causal)
    for t in range(500 * MS, 4500 * MS, 100 * MS):
        until = t + 300 * MS
        m = (e.t_ns > fed_until) & (e.t_ns <= until)
        for eng in (ordered, shuffled, upto):
            eng.ego_motion(e.t_ns[m], e.speed[m], e.yaw_rate[m])
        fed_until = until
        while io < len(in_time) and in_time[io][0] <= until:
            feed(ordered, [in_time[io]])
            io += 1
        while ia < len(arrival) and arrival[ia][1] <= until:
            feed(shuffled, [arrival[ia]])
            ia += 1
        while iu < len(in_time) and in_time[iu][0] <= t:
            feed(upto, [in_time[iu]])
            iu += 1
        for frame in ("odometry", "vehicle"):
            a = ordered.tracks(at_ns=t, frame=frame, fixed_lag=True)
            assert len(a) >= 3
            assert a.tobytes() == shuffled.tracks(at_ns=t, frame=frame, fixed_lag=True).tobytes()
            assert a.tobytes() == upto.tracks(at_ns=t, frame=frame).tobytes()
        img = ordered.image_tracks(at_ns=t).tobytes()
        assert img == shuffled.image_tracks(at_ns=t).tobytes() == upto.image_tracks().tobytes()
        latest_differs += ordered.tracks(at_ns=t).tobytes() != shuffled.tracks(at_ns=t).tobytes()
    assert shuffled.stats()["reprocessed_frames"] > 30
    assert latest_differs > 10


def test_fixed_lag_bad_input() -> None:
    sc, frames = drive_frames("urban", 2.0, 0, 7)
    _, in_time = orders(frames)
    eng = FusionEngine(sc.engine_config())
    with pytest.raises(ConfigurationError, match="needs at_ns"):
        eng.tracks(fixed_lag=True)
    assert len(eng.tracks(at_ns=0, fixed_lag=True)) == 0  # no frame yet: the (empty) live state
    feed(eng, in_time)
    now = eng.time_ns
    assert now is not None
    with pytest.raises(TimestampError, match="older than the out-of-sequence history reaches"):
        eng.tracks(at_ns=now - 400 * MS, fixed_lag=True)
    with pytest.raises(TimestampError, match="older than the out-of-sequence history reaches"):
        eng.image_tracks(at_ns=now - 400 * MS)
    assert eng.image_tracks(at_ns=now).tobytes() == eng.image_tracks().tobytes()
    with pytest.raises(ConfigurationError, match="fixed_lag: expected a bool"):
        eng.tracks(at_ns=now, fixed_lag=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not vehicle_pose"):
        eng.tracks(at_ns=now, fixed_lag=True, vehicle_pose=(0.0, 0.0, 0.0))
    assert eng.tracks(at_ns=now, fixed_lag=True).tobytes() == eng.tracks(at_ns=now).tobytes()
    assert eng.tracks(at_ns=now - 250 * MS, fixed_lag=True).tobytes() != eng.tracks(at_ns=now - 250 * MS).tobytes()
