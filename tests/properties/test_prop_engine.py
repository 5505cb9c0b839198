"""Properties of the fusion step (fusion.engine.FusionEngine): a car's lidar, camera and radar
fed random detection frames at random times, late ones included (inside and beyond the
out-of-sequence horizon), under both late policies and both bad-detection policies. Only
documented fusion.errors exceptions; a call that raises leaves the tracks unchanged; live track
ids unique; x, box, velocity finite; P symmetric positive definite; ids never reused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fusion.engine import EngineConfig, FusionEngine
from fusion.errors import FusionError, TimestampError

from _props import assert_spd, reals

_RANGES = {
    0: [(-60, 60), (-60, 60), (-3, 3), (-3.2, 3.2), (0.1, 8), (0.1, 3), (0.1, 3)],  # lidar x y z yaw l w h
    1: [(0, 1280), (0, 720), (0, 1280), (0, 720)],  # camera x1 y1 x2 y2
    2: [(0.5, 150), (-1, 1), (-30, 30)],  # radar range azimuth range_rate
}


@st.composite
def frame(draw: st.DrawFn) -> tuple[int, int, np.ndarray, np.ndarray | None, np.ndarray | None]:
    sensor = draw(st.integers(0, 2))
    dt_ms = draw(st.one_of(st.integers(0, 200), st.integers(-1000, 0), st.integers(-100, 100)))
    n = draw(st.integers(0, 6))
    r = _RANGES[sensor]
    z = np.array([[draw(st.one_of(reals(lo, hi), reals(lo, hi), reals(lo, hi), reals(lo, hi),
                                  st.sampled_from([np.nan, np.inf, -1e300, 1e300])))
                   for lo, hi in r] for _ in range(n)], np.float64).reshape(n, len(r))
    if sensor == 1 and draw(st.booleans()):
        z[:, 2:] = np.maximum(z[:, 2:], z[:, :2] + 1.0)
    score = np.array(draw(st.lists(reals(0, 1), min_size=n, max_size=n))) if draw(st.booleans()) else None
    cls = np.array(draw(st.lists(st.integers(-1, 3), min_size=n, max_size=n)), np.int32) if draw(st.booleans()) \
        else None
    return sensor, dt_ms, z, score, cls


@pytest.mark.parametrize("late", ["drop", "raise"])
@pytest.mark.parametrize("bad", ["raise", "skip"])
@given(frames=st.lists(frame(), min_size=1, max_size=25))
def test_fusion_step_properties(late: str, bad: str, frames: list) -> None:
    e = FusionEngine(EngineConfig.car(num_classes=3, late_policy=late, bad_detection=bad, max_tracks=64,
                                      max_detections=8))
    t = 10**12
    ever: dict[int, int] = {}  # id -> birth time: an id is never given to another track
    for sensor, dt_ms, z, score, cls in frames:
        t += dt_ms * 1_000_000
        before = e.tracks()
        reprocessed = e.stats()["reprocessed_frames"]
        late_before = e.stats()["late_frames"]
        try:
            e.process(sensor, t, z, score=score, class_id=cls)
        except TimestampError:
            assert late == "raise", "a late frame raised under late_policy = 'drop'"
            assert before.tobytes() == e.tracks().tobytes()
            continue
        except FusionError:
            assert bad == "raise" or len(z) > 8 or (cls is not None and (cls > 2).any()), "bad_detection = 'skip'"
            assert before.tobytes() == e.tracks().tobytes(), "a failed call changed the tracks"
            continue
        # a non-finite detection raises under bad_detection = "raise" (else it is skipped); a
        # late frame may be dropped before the detections are looked at
        assert bad == "skip" or np.isfinite(z).all() or e.stats()["late_frames"] > late_before, \
            "a non-finite detection was accepted under bad_detection = 'raise'"
        if e.stats()["reprocessed_frames"] > reprocessed:
            # documented: after a re-processing, tracks born after the late frame's time carry the
            # ids of the time-ordered run, which may differ from those already published
            ever = {i: b for i, b in ever.items() if b < t}
        tr = e.tracks()
        live = tr[tr["status"] != 3]
        assert len(np.unique(live["id"])) == len(live), live["id"]
        for i, b in zip(tr["id"].tolist(), tr["birth_t_ns"].tolist()):
            assert ever.setdefault(i, b) == b, f"id {i} reused"
        for name in ("x", "box", "velocity", "existence"):
            assert np.isfinite(tr[name]).all(), (name, tr[name])
        assert_spd(tr["P"], "track P")
