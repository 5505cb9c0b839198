"""fusion.t2t.TrackFuser merging (``merge_after``): two fused tracks of one object started by
different sources merge once they agree, the older id kept; tracks sharing a source never
merge; ids are never reused; ``merge_after = 0`` is the fuser without merging."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusion.errors import ConfigurationError
from fusion.t2t import SourceConfig, TrackFuser, TrackFuserConfig

MS = 1_000_000


def _cfg(merge_after: int = 2) -> TrackFuserConfig:
    return TrackFuserConfig(sources=[SourceConfig("car"), SourceConfig("rsu")], merge_after=merge_after)


def _P(pos_var: float, vel_var: float, n: int = 1) -> np.ndarray:
    return np.repeat(np.diag([pos_var, pos_var, vel_var, vel_var])[None], n, 0)


def _braking_lists(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Step k (100 ms): the car's own track of the car ahead (right) and the roadside unit's
    constant-velocity track of it, lagging by 1.5 m/s at first and converging by step 4."""
    t = 0.1 * k
    x = 10.0 + 6.0 * t
    lag = 1.5 * (4 - k) / 4.0 if k < 4 else 0.0
    return np.array([[x, 2.0, 6.0, 0.0]]), np.array([[x - 0.2 * lag, 2.0, 6.0 - lag, 0.0]])


def _d2(a: np.void, b: np.void) -> float:
    e = a["x"] - b["x"]
    return float(e @ np.linalg.solve(a["P"] + b["P"], e))


@pytest.mark.parametrize("merge_after", [1, 2, 3])
def test_a_biased_start_converges_to_one_fused_id_after_merge_after_agreeing_updates(merge_after: int) -> None:
    """The lagging roadside track fails the gate in the first lists and starts fused track 2.
    Each list, the fused tracks it touched count their agreeing updates (recomputed here from
    the exported states: distance within the gate, disjoint sources); the merge comes exactly
    at the update where that count reaches merge_after, and the older id 1 survives with both
    sources."""
    fu = TrackFuser(_cfg(merge_after))
    gate = fu.config.gate
    counts: dict[int, int] = {}
    merged_at = None
    u = 0
    for k in range(15):
        xa, xb = _braking_lists(k)
        for bit, (src, x, sid) in enumerate((("car", xa, 7), ("rsu", xb, 42))):
            before = dict(counts)
            fu.update(src, k * 100 * MS, [sid], None, x, _P(0.04, 0.04))
            tr = fu.tracks()
            if merged_at is None and len(tr) == 1 and u > 0:
                merged_at = u
                # the track this list touched had merge_after - 1 agreeing updates before it
                touched = 1 if src == "car" else 2
                assert before.get(touched, 0) == merge_after - 1
            if len(tr) == 2:
                assert list(tr["id"]) == [1, 2]
                agree = _d2(tr[0], tr[1]) <= gate and (int(tr[0]["sources"]) & int(tr[1]["sources"])) == 0
                for r in tr:
                    if int(r["sources"]) >> bit & 1:  # the track this list touched
                        counts[int(r["id"])] = counts.get(int(r["id"]), 0) + 1 if agree else 0
                assert max(counts.values()) < merge_after  # else the fuser should have merged
            u += 1
    assert merged_at is not None and merged_at >= 2 * merge_after - 1
    tr = fu.tracks()
    assert list(tr["id"]) == [1] and int(tr[0]["sources"]) == 0b11 and bool(tr[0]["confirmed"])
    assert fu.fused_id_of("car", 7) == 1 and fu.fused_id_of("rsu", 42) == 1
    assert abs(tr[0]["x"][2] - 6.0) < 0.05
    st = fu.stats()
    assert st["merges"] == 1 and st["births"] == 2 and st["deletions"] == 0
    # the retired id 2 is never given again
    xa, _ = _braking_lists(15)
    fu.update("car", 15 * 100 * MS, [7, 8], None, np.vstack([xa, [[60.0, 60.0, 0.0, 0.0]]]), _P(0.04, 0.04, 2))
    assert fu.fused_id_of("car", 8) == 3


def test_merge_after_zero_keeps_the_duplicate() -> None:
    fu = TrackFuser(_cfg(0))
    for k in range(15):
        xa, xb = _braking_lists(k)
        fu.update("car", k * 100 * MS, [7], None, xa, _P(0.04, 0.04))
        fu.update("rsu", k * 100 * MS, [42], None, xb, _P(0.04, 0.04))
    assert list(fu.tracks()["id"]) == [1, 2] and fu.stats()["merges"] == 0


def test_without_duplicates_merging_changes_nothing() -> None:
    """Three targets seen by both sources from the start (no duplicate fused tracks): the
    fuser with merge_after = 2 gives exactly the output of merge_after = 0."""
    rng = np.random.default_rng(3)
    a, b = TrackFuser(_cfg(2)), TrackFuser(_cfg(0))
    for k in range(40):
        truth = np.array([[0.5 * k + 8.0 * i, 1.0, 5.0, 0.0] for i in range(3)])
        for src in ("car", "rsu"):
            x = truth + rng.normal(0.0, 0.3, truth.shape)
            for fu in (a, b):
                fu.update(src, k * 100 * MS, [1, 2, 3], None, x, _P(0.09, 0.09, 3))
        ta, tb = a.tracks(), b.tracks()
        assert list(ta["id"]) == list(tb["id"]) == [1, 2, 3]
        np.testing.assert_array_equal(ta["x"], tb["x"])
        np.testing.assert_array_equal(ta["P"], tb["P"])
    assert a.stats()["merges"] == 0


def test_two_close_objects_of_one_source_never_merge() -> None:
    """One source reports two objects 0.3 m apart (well within the gate of each other)."""
    fu = TrackFuser(_cfg(1))
    for k in range(30):
        x = np.array([[0.5 * k, 0.0, 5.0, 0.0], [0.5 * k, 0.3, 5.0, 0.0]])
        fu.update("car", k * 100 * MS, [1, 2], None, x, _P(0.25, 0.5, 2))
        assert list(fu.tracks()["id"]) == [1, 2]
    assert fu.stats()["merges"] == 0


def test_two_close_objects_fed_by_a_common_source_never_merge() -> None:
    """The car reports both objects; the roadside unit only the first: fused track 2 (car
    only) shares the car with fused track 1 (car + rsu), so they never merge, however close."""
    fu = TrackFuser(_cfg(1))
    for k in range(30):
        x = np.array([[0.5 * k, 0.0, 5.0, 0.0], [0.5 * k, 0.3, 5.0, 0.0]])
        fu.update("car", k * 100 * MS, [1, 2], None, x, _P(0.25, 0.5, 2))
        fu.update("rsu", k * 100 * MS, [9], None, x[:1] + [0.0, 0.1, 0.0, 0.0], _P(0.25, 0.5))
        tr = fu.tracks()
        assert list(tr["id"]) == [1, 2]
    assert [int(s) for s in fu.tracks()["sources"]] == [0b11, 0b01]
    assert fu.stats()["merges"] == 0


def test_merge_after_config_validation_and_toml(tmp_path: Path) -> None:
    for bad in (-1, 1.5, True, "2", 1_000_001):
        with pytest.raises(ConfigurationError, match="merge_after"):
            TrackFuser(_cfg(bad))  # type: ignore[arg-type]
    p = tmp_path / "t2t.toml"
    p.write_text(_cfg(0).to_toml())
    assert TrackFuserConfig.from_toml(p).merge_after == 0
    p.write_text(_cfg(0).to_toml().replace("merge_after = 0", "merge_after = -3"))
    with pytest.raises(ConfigurationError, match=r"t2t.toml: merge_after"):
        TrackFuserConfig.from_toml(p)
    assert TrackFuserConfig(sources=[SourceConfig("a")]).merge_after == 2
