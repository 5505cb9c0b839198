"""Thread-safety rows of docs/threading.md that no other test proved (issue 10): concurrent
process calls on one FusionEngine, TrackFuser reset racing update and concurrent updates,
a second thread feeding one CAN decoder (refused with ConcurrentUseError, changes nothing),
and the metrics functions called from many threads at once. Each test joins its threads
with a timeout, so a deadlock fails the test instead of hanging CI."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import cantools
import numpy as np
import pytest

from fusion.engine import FusionEngine
from fusion.errors import ConcurrentUseError
from fusion.hil.decoders import make_decoder
from fusion.metrics import (
    SequenceData,
    clear_sequence,
    gospa,
    hota_sequence,
    identity_sequence,
    nees,
    ospa,
)
from fusion.t2t import SourceConfig, TrackFuser, TrackFuserConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from _engine_scene import config, frames

MS = 1_000_000


def _join(threads: list[threading.Thread], timeout: float = 60.0) -> None:
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread did not finish: deadlock"


# ---------------------------------------------------------------- FusionEngine


def test_engine_concurrent_process_calls_are_serialised_and_equal_the_time_ordered_run() -> None:
    """Two threads each feed one sensor's frames (lidar, camera) in time order into one engine,
    in lock step (a barrier per 100 ms period), so the two frames of a period race each other.
    The engine serialises the calls; a camera frame processed before the older lidar frame
    makes that lidar frame late by 50 ms, fused by out-of-sequence re-processing (0.3 s
    horizon). Every frame is fused, and the tracks are those of the time-ordered run of the
    same frames (the documented OOSM contract), whatever order the lock admitted."""
    fr = frames(4.5)
    by_sensor = {s: [f for f in fr if f["sensor"] == s] for s in ("lidar", "camera")}
    assert len(by_sensor["lidar"]) == len(by_sensor["camera"])
    eng = FusionEngine(config())
    errors: list[BaseException] = []
    step = threading.Barrier(2)

    def feed(sensor: str) -> None:
        try:
            for f in by_sensor[sensor]:
                step.wait(10)
                eng.process(f["sensor"], f["t_ns"], f["z"], score=f["score"], class_id=f["class_id"])
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)
            step.abort()

    threads = [threading.Thread(target=feed, args=(s,)) for s in by_sensor]
    for t in threads:
        t.start()
    _join(threads)
    assert errors == []
    s = eng.stats()
    assert s["frames"] == len(fr) and s["late_frames"] == 0, s
    tr = eng.tracks()
    assert len(np.unique(tr["id"])) == len(tr) and np.all(np.isfinite(tr["P"]))
    ref = FusionEngine(config())
    for f in sorted(fr, key=lambda f: f["t_ns"]):
        ref.process(f["sensor"], f["t_ns"], f["z"], score=f["score"], class_id=f["class_id"])
    assert np.array_equal(tr["id"], ref.tracks()["id"]) and len(tr) > 0
    np.testing.assert_allclose(tr["x"], ref.tracks()["x"], rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------- TrackFuser


def _fuser() -> TrackFuser:
    return TrackFuser(TrackFuserConfig(sources=[SourceConfig("radar"), SourceConfig("rsu")], max_fused_tracks=64))


def _list(k: int, n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    t = 0.1 * k
    x = np.array([[5.0 * t + 8.0 * i, 1.0 * t, 5.0, 1.0] for i in range(n)])
    return x, np.repeat(np.diag([0.1, 0.1, 0.1, 0.1])[None], n, 0)


def test_track_fuser_reset_racing_update_is_clean() -> None:
    """reset() from a second thread while the main thread updates: no deadlock, no exception in
    either thread, and every read is a whole state: unique fused ids, finite states, at most the
    5 targets (a reset lands between two updates, never inside one; fused ids restart at 1)."""
    fu = _fuser()
    errors: list[BaseException] = []
    bad: list[int] = []
    done = threading.Event()
    resets = [0]

    def meddle() -> None:
        try:
            while not done.is_set():
                fu.reset()
                resets[0] += 1
                tr = fu.tracks()
                if len(np.unique(tr["id"])) != len(tr) or len(tr) > 5 or not np.all(np.isfinite(tr["x"])):
                    bad.append(len(tr))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    th = threading.Thread(target=meddle)
    th.start()
    k = 0
    try:
        for k in range(2000):
            x, P = _list(k)
            fu.update("radar", k * 100 * MS, np.arange(5), None, x, P)
            tr = fu.tracks()
            if len(np.unique(tr["id"])) != len(tr) or len(tr) > 5 or not np.all(np.isfinite(tr["x"])):
                bad.append(len(tr))
            if resets[0] >= 20 and k >= 50:
                break
    except BaseException as e:  # noqa: BLE001
        errors.append(e)
    done.set()
    _join([th])
    assert errors == [] and bad == [] and resets[0] >= 1, (errors, bad, resets, k)
    x, P = _list(k + 1)
    fu.update("radar", (k + 1) * 100 * MS, np.arange(5), None, x, P)  # usable after the race
    assert len(fu.tracks()) == 5


def test_track_fuser_concurrent_updates_from_two_sources_equal_a_sequential_order() -> None:
    """Two threads update one fuser, one source each, in lock step (a barrier per time step so
    neither list becomes late): every list is fused, the fused tracks agree with the run that
    takes the radar list first at each step up to the order of equal-time lists."""
    fu = _fuser()
    errors: list[BaseException] = []
    steps = 40
    barrier = threading.Barrier(2)

    def feed(source: str) -> None:
        try:
            for k in range(steps):
                barrier.wait(10)
                x, P = _list(k)
                fu.update(source, k * 100 * MS, np.arange(5), None, x, P)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=feed, args=(s,)) for s in ("radar", "rsu")]
    for t in threads:
        t.start()
    _join(threads)
    assert errors == []
    assert fu.stats()["updates"] == 2 * steps
    tr = fu.tracks()
    assert len(tr) == 5 and len(np.unique(tr["id"])) == 5
    ref = _fuser()
    for k in range(steps):
        for s in ("radar", "rsu"):
            x, P = _list(k)
            ref.update(s, k * 100 * MS, np.arange(5), None, x, P)
    np.testing.assert_allclose(np.sort(tr["x"], axis=0), np.sort(ref.tracks()["x"], axis=0), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- CAN decoders

_DBC = """VERSION ""
BS_:
BU_: CAM
BO_ 1280 OBJ_HDR: 8 CAM
 SG_ NUM_OBJECTS : 0|8@1+ (1,0) [0|64] "" Vector__XXX
BO_ 1281 OBJ: 8 CAM
 SG_ ID : 0|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ POS_X : 8|16@1- (0.01,0) [-300|300] "m" Vector__XXX
 SG_ POS_Y : 24|16@1- (0.01,0) [-300|300] "m" Vector__XXX
 SG_ EXIST : 40|1@1+ (1,0) [0|1] "" Vector__XXX
"""


def test_a_second_thread_feeding_one_decoder_is_refused_and_changes_nothing() -> None:
    db = cantools.database.load_string(_DBC, database_format="dbc")
    cfg = {"header": {"message": "OBJ_HDR", "count": "NUM_OBJECTS"}, "objects": {"message": "OBJ"},
           "valid": "EXIST", "fields": {"x": "POS_X", "y": "POS_Y", "id": "ID"}}
    dec = make_decoder("dbc_object_list", db, cfg)
    hdr, obj = db.get_message_by_name("OBJ_HDR"), db.get_message_by_name("OBJ")
    one = obj.encode({"ID": 0, "POS_X": 10.0, "POS_Y": 1.0, "EXIST": 1})
    inside, release = threading.Event(), threading.Event()
    real_decode = dec._decode

    def slow_decode(t_ns: int, frame_id: int, data: bytes) -> int:  # holds the first feed open
        inside.set()
        release.wait(10)
        return real_decode(t_ns, frame_id, data)

    dec._decode = slow_decode  # type: ignore[method-assign]
    th = threading.Thread(target=dec.feed, args=(1000, hdr.frame_id, hdr.encode({"NUM_OBJECTS": 1})))
    th.start()
    assert inside.wait(10)
    before = dict(dec.stats)
    for call in (lambda: dec.feed(2000, obj.frame_id, one), dec.flush):
        with pytest.raises(ConcurrentUseError, match=r"ObjectListDecoder\.(feed|flush): another thread is feeding"):
            call()
    assert dict(dec.stats) == before
    release.set()
    _join([th])
    dec._decode = real_decode  # type: ignore[method-assign]
    out = dec.feed(2000, obj.frame_id, one)  # free again, and the refused calls left no trace
    assert len(out) == 1 and out[0].fields["x"].tolist() == [10.0]


def test_distinct_decoders_run_in_parallel_threads_with_the_serial_result() -> None:
    db = cantools.database.load_string(_DBC, database_format="dbc")
    cfg = {"header": {"message": "OBJ_HDR", "count": "NUM_OBJECTS"}, "objects": {"message": "OBJ"},
           "valid": "EXIST", "fields": {"x": "POS_X", "y": "POS_Y", "id": "ID"}}
    hdr, obj = db.get_message_by_name("OBJ_HDR"), db.get_message_by_name("OBJ")
    stream = []
    for c in range(200):
        stream.append((c * 4 + 1, hdr.frame_id, hdr.encode({"NUM_OBJECTS": 2})))
        for i in range(2):
            stream.append((c * 4 + 2 + i, obj.frame_id,
                           obj.encode({"ID": i, "POS_X": 0.01 * c + i, "POS_Y": -1.0, "EXIST": 1})))

    def run() -> list[list[float]]:
        dec = make_decoder("dbc_object_list", db, cfg)
        out = []
        for t, fid, data in stream:
            out += dec.feed(t, fid, data)
        out += dec.flush()
        return [c.fields["x"].tolist() for c in out]

    ref = run()
    results: dict[int, list[list[float]]] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, run())) for i in range(4)]
    for t in threads:
        t.start()
    _join(threads)
    assert len(ref) == 200 and all(results[i] == ref for i in range(4))


# ---------------------------------------------------------------- metrics


def test_metrics_functions_called_from_many_threads_equal_the_serial_results() -> None:
    rng = np.random.default_rng(5)
    gt = [[1, 2, 3] for _ in range(30)]
    tr = [[10, 11] if k < 15 else [11, 12, 10] for k in range(30)]
    sims = [rng.uniform(0.2, 1.0, (len(g), len(t))) for g, t in zip(gt, tr)]
    seq = SequenceData.from_frames(gt, tr, sims, "threads")
    pts = [(rng.normal(size=(6, 2)), rng.normal(size=(5, 2))) for _ in range(10)]
    err, cov = rng.normal(size=(200, 4)), np.repeat(np.eye(4)[None] * 2.0, 200, 0)

    def all_metrics() -> list[object]:
        return [clear_sequence(seq), identity_sequence(seq), {k: v.tolist() for k, v in hota_sequence(seq).items()},
                [ospa(a, b) for a, b in pts], [tuple(gospa(a, b)) for a, b in pts], nees(err, cov).tolist()]

    ref = all_metrics()
    results: dict[int, list[object]] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, all_metrics())) for i in range(4)]
    for t in threads:
        t.start()
    _join(threads)
    assert all(results[i] == ref for i in range(4))


# ---------------------------------------------------------------- configurations and file readers


def test_one_config_shared_by_engines_built_in_many_threads_and_files_read_concurrently(tmp_path: Path) -> None:
    """Configurations are plain data: engines built from one EngineConfig in four threads at
    once are independent (each deep-copies it) and give the serial result; KITTI label files
    and TOML configurations read from four threads give the serial result."""
    from fusion.engine import EngineConfig
    from fusion.kitti.io import read_labels

    cfg = config()
    fr = frames(1.0)
    label = tmp_path / "0000.txt"
    label.write_text("".join(f"{k} {k % 3} Car 0 0 -1.5 100 120 200 220 1.5 1.6 3.9 {k} 1.5 20.0 0.1\n"
                             for k in range(500)), encoding="utf-8")
    toml = tmp_path / "engine.toml"
    toml.write_text(cfg.to_toml(), encoding="utf-8")

    def run() -> tuple[bytes, bytes, str]:
        eng = FusionEngine(cfg)
        for f in fr:
            eng.process(f["sensor"], f["t_ns"], f["z"], score=f["score"], class_id=f["class_id"])
        return eng.tracks().tobytes(), read_labels(label).loc.tobytes(), EngineConfig.from_toml(toml).to_toml()

    ref = run()
    results: dict[int, tuple[bytes, bytes, str]] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, run())) for i in range(4)]
    for t in threads:
        t.start()
    _join(threads)
    assert all(results[i] == ref for i in range(4)) and len(ref[0]) > 0
