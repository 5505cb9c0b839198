"""fusion.t2t.TrackFuser: frames, fusion accuracy, id stability under re-numbering, bad
input, configuration round trips and concurrent use."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest

from fusion.errors import ConfigurationError, NumericalError, ShapeError, TimestampError, TrackListError
from fusion.t2t import FUSED_TRACK_DTYPE, SourceConfig, TrackFuser, TrackFuserConfig

MS = 1_000_000


def _cfg(**kw: object) -> TrackFuserConfig:
    c = TrackFuserConfig(sources=[SourceConfig("radar"), SourceConfig("rsu", latency_s=0.1, pose=(-14.0, -14.0, 0.7))])
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def _truth(k: int, n: int = 3) -> np.ndarray:
    """n targets moving at (5, 1) m/s, 8 m apart, at step k of 100 ms."""
    t = 0.1 * k
    return np.array([[5.0 * t + 8.0 * i, 1.0 * t, 5.0, 1.0] for i in range(n)])


def _to_frame(x: np.ndarray, pose: tuple[float, float, float]) -> np.ndarray:
    """World states into a frame whose pose in the world is ``pose``."""
    c, s = math.cos(pose[2]), math.sin(pose[2])
    Rt = np.array([[c, s], [-s, c]])
    out = x.copy()
    out[:, :2] = (x[:, :2] - pose[:2]) @ Rt.T
    out[:, 2:] = x[:, 2:] @ Rt.T
    return out


def _noisy(rng: np.random.Generator, x: np.ndarray, pos_std: float, vel_std: float) -> tuple[np.ndarray, np.ndarray]:
    P = np.diag([pos_std**2, pos_std**2, vel_std**2, vel_std**2])
    return x + rng.standard_normal(x.shape) * np.sqrt(np.diag(P)), np.repeat(P[None], len(x), 0)


def test_two_sources_in_their_own_frames_fuse_into_one_track_per_target() -> None:
    """A car at the world origin and a roadside unit with a rotated, offset frame and 100 ms
    latency report the same three targets: three fused tracks, at the true positions, each fed
    by both sources, with a lower error than either source alone."""
    rng = np.random.default_rng(0)
    fu = TrackFuser(_cfg())
    rsu_pose = fu.config.sources[1].pose
    err_f, err_a, err_b = [], [], []
    for k in range(60):
        t = k * 100 * MS
        xa, Pa = _noisy(rng, _truth(k), 0.5, 0.5)
        assert fu.update("radar", t, [1, 2, 3], None, xa, Pa)
        # the RSU's list stamped t arrives at t + 100 ms: it carries the state at t
        xb, Pb = _noisy(rng, _to_frame(_truth(k), rsu_pose), 0.5, 0.5)
        assert fu.update("rsu", t, [70, 71, 72], None, xb, Pb)
        if k > 10:
            tr = fu.tracks(confirmed_only=True, at=t)
            assert len(tr) == 3
            err_f.append(np.abs(tr["x"][:, :2] - _truth(k)[:, :2]).mean())
            err_a.append(np.abs(xa[:, :2] - _truth(k)[:, :2]).mean())
            err_b.append(np.abs(xb[:, :2] - _to_frame(_truth(k), rsu_pose)[:, :2]).mean())
    tr = fu.tracks()
    assert tr.dtype == FUSED_TRACK_DTYPE and list(tr["id"]) == [1, 2, 3]
    assert np.all(tr["sources"] == 3) and np.all(tr["confirmed"])
    assert np.mean(err_f) < 0.9 * min(np.mean(err_a), np.mean(err_b))
    for i in range(3):
        assert fu.fused_id_of("radar", i + 1) == i + 1 and fu.fused_id_of("rsu", 70 + i) == i + 1
    assert fu.stats()["births"] == 3 and fu.stats()["time_ns"] == 59 * 100 * MS + 100 * MS
    assert np.all(np.linalg.eigvalsh(tr["P"]) > 0)


def test_renumbered_and_jumping_ids_keep_the_fused_id() -> None:
    rng = np.random.default_rng(1)
    fu = TrackFuser(_cfg())
    fused_ids = set()
    for k in range(60):
        t = k * 100 * MS
        x, P = _noisy(rng, _truth(k), 0.3, 0.3)
        ids = np.array([1, 2, 3]) + (0 if k < 20 else 1000 if k < 40 else 10**12 + 7 * k)  # jump, then each list
        fu.update("radar", t, ids, None, x, P)
        tr = fu.tracks()
        fused_ids.update(tr["id"].tolist())
        assert [fu.fused_id_of("radar", int(i)) for i in ids] == [1, 2, 3]
    assert fused_ids == {1, 2, 3}
    assert fu.stats()["id_changes"] == 3 + 3 + 3 * 19 and fu.stats()["births"] == 3


def test_a_swapped_id_is_broken_by_the_gate_and_re_made() -> None:
    """A source that swaps the ids of two targets 8 m apart: each id fails its gate, and the
    fused tracks follow the targets, not the ids."""
    rng = np.random.default_rng(2)
    fu = TrackFuser(_cfg())
    for k in range(30):
        x, P = _noisy(rng, _truth(k, 2), 0.3, 0.3)
        ids = [1, 2] if k < 15 else [2, 1]
        fu.update("radar", k * 100 * MS, ids, None, x, P)
    assert fu.fused_id_of("radar", 2) == 1 and fu.fused_id_of("radar", 1) == 2
    assert fu.stats()["gate_breaks"] == 2 and fu.stats()["births"] == 2


def test_repeated_ids_nan_and_non_spd_raise_and_change_nothing() -> None:
    fu = TrackFuser(_cfg())
    x, P = _truth(0), np.repeat(np.eye(4)[None], 3, 0)
    fu.update("radar", 0, [1, 2, 3], None, x, P)
    before = (fu.stats(), fu.tracks())
    with pytest.raises(TrackListError, match="source 'rsu': track id 5 appears more than once"):
        fu.update("rsu", 0, [5, 6, 5], None, x, P)
    bad = x.copy()
    bad[1, 2] = np.nan
    with pytest.raises(NumericalError, match="source 'radar' track id 2: state is not finite"):
        fu.update("radar", 100 * MS, [1, 2, 3], None, bad, P)
    Pb = P.copy()
    Pb[2] = np.diag([1.0, 1.0, -1.0, 1.0])
    with pytest.raises(NumericalError, match="source 'radar' track id 3: covariance is not symmetric positive"):
        fu.update("radar", 100 * MS, [1, 2, 3], None, x, Pb)
    Pb[2] = np.eye(4)
    Pb[2, 0, 1] = 0.5
    with pytest.raises(NumericalError, match="track id 3: covariance is not symmetric"):
        fu.update("radar", 100 * MS, [1, 2, 3], None, x, Pb)
    Pb[2, 0, 1] = np.nan
    with pytest.raises(NumericalError, match="track id 3: covariance is not finite"):
        fu.update("radar", 100 * MS, [1, 2, 3], None, x, Pb)
    with pytest.raises(NumericalError, match="source 'radar': pose is not finite"):
        fu.update("radar", 100 * MS, [1, 2, 3], None, x, P, pose=(0.0, math.inf, 0.0))
    with pytest.raises(ShapeError, match=r"x: expected shape \(3, 4\)"):
        fu.update("radar", 100 * MS, [1, 2, 3], None, x[:, :2], P)
    with pytest.raises(ShapeError, match="ids: expected int64"):
        fu.update("radar", 100 * MS, [1.5, 2, 3], None, x, P)
    with pytest.raises(TimestampError, match="t_ns"):
        fu.update("radar", 0.1, [1, 2, 3], None, x, P)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unknown source 'lidar'"):
        fu.update("lidar", 0, [1], None, x[:1], P[:1])
    with pytest.raises(ShapeError, match="more than max_source_tracks"):
        TrackFuser(_cfg(max_source_tracks=2)).update("radar", 0, [1, 2, 3], None, x, P)
    after = (fu.stats(), fu.tracks())
    assert before[0] == after[0] and np.array_equal(before[1], after[1])


def test_late_lists_fuse_after_predicting_or_drop_beyond_max_delay() -> None:
    fu = TrackFuser(_cfg(max_delay_s=0.3))
    P = np.repeat(np.eye(4)[None] * 0.1, 3, 0)
    fu.update("radar", 1000 * MS, [1, 2, 3], None, _truth(10), P)
    # the RSU's list stamped 0.8 s arrives at 0.9 s, 100 ms behind the fuser: predicted to 1 s and fused
    assert fu.update("rsu", 800 * MS, [7, 8, 9], None, _to_frame(_truth(8), (-14.0, -14.0, 0.7)), P)
    st = fu.stats()
    assert st["late_lists"] == 1 and st["births"] == 3 and fu.time_ns == 1000 * MS
    assert fu.fused_id_of("rsu", 7) == 1
    # stamped 0.5 s, arriving at 0.6 s: 400 ms late, dropped and counted, nothing else changes
    tr = fu.tracks()
    assert not fu.update("rsu", 500 * MS, [7, 8, 9], None, _to_frame(_truth(5), (-14.0, -14.0, 0.7)), P)
    assert fu.stats()["dropped_lists"] == 1 and fu.stats()["updates"] == 2
    assert np.array_equal(tr, fu.tracks())


def test_tracks_are_deleted_without_sources_and_ids_never_reused() -> None:
    fu = TrackFuser(_cfg(delete_after_s=0.5, confirm_updates=1))
    P = np.eye(4)[None]
    fu.update("radar", 0, [1], None, _truth(0, 1), P)
    assert fu.tracks(confirmed_only=True)["id"].tolist() == [1]
    for k in range(1, 7):
        fu.update("radar", k * 100 * MS, np.zeros(0, np.int64), None, np.zeros((0, 4)), np.zeros((0, 4, 4)))
    assert len(fu.tracks()) == 0 and fu.stats()["deletions"] == 1
    fu.update("radar", 800 * MS, [1], None, _truth(8, 1), P)
    assert fu.tracks()["id"].tolist() == [2]
    fu.reset()
    assert fu.time_ns is None and fu.stats()["births"] == 0
    fu.update("radar", 0, [1], None, _truth(0, 1), P)
    assert fu.tracks()["id"].tolist() == [1]


def test_config_toml_round_trip_and_errors(tmp_path: Path) -> None:
    cfg = _cfg(criterion="det", gate=9.0)
    cfg.sources[0].births = False
    p = tmp_path / "t2t.toml"
    p.write_text(cfg.to_toml())
    back = TrackFuserConfig.from_toml(p)
    assert back == cfg
    p.write_text('gate = 9.0\nwindow = 3\n[sources.car]\n')
    with pytest.raises(ConfigurationError, match=r"t2t.toml: track fuser: unknown key 'window'"):
        TrackFuserConfig.from_toml(p)
    p.write_text('[sources.car]\nlatency_s = -1\n')
    with pytest.raises(ConfigurationError, match=r"sources\[0\].latency_s"):
        TrackFuserConfig.from_toml(p)
    for kw, match in [({"gate": 0.0}, "gate"), ({"criterion": "min"}, "criterion"),
                      ({"max_fused_tracks": 0}, "max_fused_tracks"), ({"delete_after_s": math.nan}, "delete_after_s"),
                      ({"sources": []}, "sources"),
                      ({"sources": [SourceConfig("a"), SourceConfig("a")]}, "used twice"),
                      ({"sources": [SourceConfig("a", pose=(0.0, math.nan, 0.0))]}, "pose")]:
        with pytest.raises(ConfigurationError, match=match):
            TrackFuser(_cfg(**kw))


def test_stats_and_tracks_from_another_thread_while_updating() -> None:
    """One thread updates 400 lists; another reads stats() and tracks() meanwhile: every read
    is a consistent snapshot (counters never go back, tracks are finite), both finish."""
    fu = TrackFuser(_cfg(max_fused_tracks=64))
    rng = np.random.default_rng(3)
    lists = [_noisy(rng, _truth(k, 20), 0.3, 0.3) for k in range(400)]
    done = threading.Event()
    reading = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not done.is_set():
                s = fu.stats()
                assert s["updates"] is not None
                seen.append(int(s["updates"]))
                tr = fu.tracks()
                assert np.all(np.isfinite(tr["x"])) and len(tr) <= 64
                reading.set()
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            errors.append(e)
            reading.set()

    th = threading.Thread(target=reader)
    th.start()
    assert reading.wait(30)  # the reader is running before the updates start (else it may miss them all)
    for k, (x, P) in enumerate(lists):
        fu.update("radar", k * 100 * MS, np.arange(20), None, x, P)
    done.set()
    th.join()
    assert not errors
    assert len(seen) >= 2 and seen == sorted(seen) and fu.stats()["updates"] == 400
    assert len(fu.tracks()) == 20
