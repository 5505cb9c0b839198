"""fusion.hil.replay on small synthetic drives written with python-can writers: a radar with two
object slots sees a stationary object while the car drives past it at 10 m/s; the fused track
stays where the object is in the odometry frame.  Bad input (unknown ids, wrong lengths, error
and remote frames, CAN FD on a classic message, timestamps backwards or hours ahead, a truncated
log, an empty log) is counted and warned at a bounded rate, or raises in strict mode."""

from __future__ import annotations

import logging
import math
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import can
import cantools
import numpy as np
import pytest

from fusion.errors import ConfigurationError
from fusion.hil.errors import CanFrameError, CanLogError
from fusion.hil.logs import LogFrame, read_logs
from fusion.hil.replay import Cycle, Replayer, merge_detections, replay
from fusion.hil.report import REPORT_KEYS
from fusion.hil.rig import load_rig

DBC = """VERSION ""
BU_: R V
BO_ 256 OBJ_0: 8 R
 SG_ X : 0|16@1+ (0.01,0) [0|655.35] "m" R
 SG_ Y : 16|16@1- (0.01,0) [-327.68|327.67] "m" R
 SG_ RR : 32|16@1- (0.01,0) [-327.68|327.67] "m/s" R
 SG_ VALID : 48|1@1+ (1,0) [0|1] "" R
BO_ 257 OBJ_1: 8 R
 SG_ X : 0|16@1+ (0.01,0) [0|655.35] "m" R
 SG_ Y : 16|16@1- (0.01,0) [-327.68|327.67] "m" R
 SG_ RR : 32|16@1- (0.01,0) [-327.68|327.67] "m/s" R
 SG_ VALID : 48|1@1+ (1,0) [0|1] "" R
BO_ 512 MOTION: 4 V
 SG_ SPEED : 0|16@1+ (0.01,0) [0|655.35] "m/s" V
 SG_ YAW_RATE : 16|16@1- (0.001,0) [-32.768|32.767] "rad/s" V
"""

RIG = """
name = "synthetic"
[channels]
"0" = "radar"
"1" = "vehicle"
can0 = "radar"
can1 = "vehicle"
[engine]
motion = "cv_point2d"
[engine.lifecycle]
confirm_hits = 3
confirm_window = 5
[sensors.radar]
bus = "radar"
dbc = "sensors.dbc"
decoder = "dbc_object_list"
[sensors.radar.decoder_config]
slots = { messages = "OBJ_{i}", count = 2 }
valid = "VALID"
polar_from_xy = true
fields = { x = "X", y = "Y", range_rate = "RR" }
[sensors.radar.engine]
model = "radar"
mount_t = [2.0, 0.0, 0.5]
fov = { azimuth_half_rad = 0.6, min_range_m = 0.5, max_range_m = 150.0 }
R = [[0.04, 0.0, 0.0], [0.0, 1.0e-5, 0.0], [0.0, 0.0, 0.01]]
[ego]
bus = "vehicle"
dbc = "sensors.dbc"
decoder = "vehicle_motion"
[ego.decoder_config]
speed = { message = "MOTION", signal = "SPEED", unit = "m/s" }
yaw_rate = { message = "MOTION", signal = "YAW_RATE", unit = "rad/s" }
[output]
budget_ms = 50.0
bev = false
"""

OBJECT_ODOM = (60.0, 2.0)  # the stationary object in the odometry frame (vehicle frame at t = 0)
SPEED = 10.0


@pytest.fixture
def rig_dir(tmp_path: Path) -> Path:
    (tmp_path / "sensors.dbc").write_text(DBC)
    (tmp_path / "rig.toml").write_text(RIG)
    return tmp_path


def drive(duration_s: float = 3.0) -> list[can.Message]:
    """Motion at 50 Hz, radar at 20 Hz: slot 0 the stationary object, slot 1 empty (VALID 0)."""
    db = cantools.database.load_string(DBC, database_format="dbc")
    msgs: list[can.Message] = []
    for k in range(int(duration_s * 50) + 1):
        t = k * 0.02
        data = db.encode_message("MOTION", {"SPEED": SPEED, "YAW_RATE": 0.0})
        msgs.append(can.Message(timestamp=t, arbitration_id=512, data=data, channel=1, is_extended_id=False))
    for k in range(1, int(duration_s * 20) + 1):
        t = k * 0.05 + 0.001
        x = OBJECT_ODOM[0] - SPEED * t - 2.0  # sensor frame: the radar is 2 m ahead of the origin
        y = OBJECT_ODOM[1]
        rr = -SPEED * x / math.hypot(x, y)
        d0 = db.encode_message("OBJ_0", {"X": round(x, 2), "Y": y, "RR": round(rr, 2), "VALID": 1})
        d1 = db.encode_message("OBJ_1", {"X": 0.0, "Y": 0.0, "RR": 0.0, "VALID": 0})
        msgs.append(can.Message(timestamp=t, arbitration_id=256, data=d0, channel=0, is_extended_id=False))
        msgs.append(can.Message(timestamp=t + 0.0005, arbitration_id=257, data=d1, channel=0, is_extended_id=False))
    msgs.sort(key=lambda m: m.timestamp)
    return msgs


def write_log(path: Path, msgs: list[can.Message]) -> Path:
    with can.Logger(str(path)) as w:
        for m in msgs:
            w.on_message_received(m)
    return path


def frames_of(path: Path, rig_path: Path) -> list[LogFrame]:
    return list(read_logs([path], load_rig(rig_path).channels))


def test_stationary_object_stays_put_with_one_track(rig_dir: Path) -> None:
    log = write_log(rig_dir / "drive.blf", drive())
    cycles: list[Cycle] = []
    report = replay([log], rig_dir / "rig.toml", None, on_cycle=cycles.append)
    assert report["cycles"] == 60 and report["frames_read"] == 151 + 120
    assert report["frames_decoded"] == report["frames_read"]
    assert report["unknown_ids"] == {} and report["decode_errors"] == {}
    ids = {int(i) for c in cycles for i in c.tracks["id"]}
    assert len(ids) == 1  # one object, one track, never re-born
    last = cycles[-1]
    # odometry frame: the object stays at OBJECT_ODOM (the car moved 30 m)
    np.testing.assert_allclose(last.tracks["box"][0, :2], OBJECT_ODOM, atol=0.15)
    assert last.ego_pose is not None and abs(last.ego_pose[0] - SPEED * last.t_ns / 1e9) < 0.05
    # vehicle frame: the object is ahead by what is left of the distance
    x_vehicle = OBJECT_ODOM[0] - last.ego_pose[0]
    np.testing.assert_allclose(last.tracks_vehicle["box"][0, :2], (x_vehicle, OBJECT_ODOM[1]), atol=0.15)
    assert np.hypot(*last.tracks["velocity"][0, :2]) < 0.3  # stationary over ground
    assert [c.index for c in cycles] == list(range(60))
    assert all(c.latency_ns > 0 for c in cycles)


def test_report_has_exactly_the_contract_keys(rig_dir: Path) -> None:
    log = write_log(rig_dir / "drive.blf", drive(1.0))
    report = replay([log], rig_dir / "rig.toml", rig_dir / "out")
    assert tuple(report) == REPORT_KEYS
    assert set(report["latency_ms"]) == {"p50", "p99", "max", "mean"}
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p99"] <= report["latency_ms"]["max"]
    assert report["send_error_ms"] is None and report["budget_ms"] == 50.0
    assert 0 <= report["deadline_misses"] <= report["cycles"]
    assert report["log_s"] == pytest.approx(1.0, abs=0.01)
    assert report["realtime_factor"] == pytest.approx(report["log_s"] / report["wall_s"])
    assert report["engine"]["frames"] == report["cycles"]
    import json

    assert json.loads((rig_dir / "out" / "report.json").read_text()) == report


def test_same_inputs_give_identical_tracks(rig_dir: Path) -> None:
    log = write_log(rig_dir / "drive.blf", drive())
    runs: list[list[bytes]] = []
    for _ in range(2):
        cycles: list[Cycle] = []
        replay([log], rig_dir / "rig.toml", None, on_cycle=cycles.append)
        runs.append([field_bytes(c.tracks) + field_bytes(c.tracks_vehicle) for c in cycles])
    assert runs[0] == runs[1] and len(runs[0]) == 60


def field_bytes(records: np.ndarray) -> bytes:
    """The records' values (every field), without the struct padding numpy leaves undefined."""
    return b"".join(records[name].tobytes() for name in records.dtype.names or ())


def _bad_drive() -> list[can.Message]:
    msgs = drive(1.0)
    t = 0.5003
    msgs += [
        can.Message(timestamp=t, arbitration_id=0x7FF, data=bytes(8), channel=0, is_extended_id=False),  # unknown
        can.Message(timestamp=t, arbitration_id=0x7FF, data=bytes(8), channel=0, is_extended_id=False),
        can.Message(timestamp=t, arbitration_id=256, data=bytes(5), channel=0, is_extended_id=False),  # short
        can.Message(timestamp=t, arbitration_id=257, is_remote_frame=True, dlc=8, channel=0, is_extended_id=False),
        can.Message(timestamp=t, arbitration_id=0, is_error_frame=True, channel=0),
        can.Message(timestamp=t, arbitration_id=256, data=bytes(12), is_fd=True, channel=0, is_extended_id=False),
    ]
    msgs.sort(key=lambda m: m.timestamp)
    return msgs


def test_bad_frames_are_counted_lenient(rig_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = write_log(rig_dir / "bad.blf", _bad_drive())
    with caplog.at_level(logging.WARNING, logger="fusion.hil.replay"):
        report = replay([log], rig_dir / "rig.toml", None)
    assert report["unknown_ids"] == {"0x7FF": 2}
    assert report["decode_errors"] == {"0x0": {"error_frame": 1}, "0x100": {"fd_on_classic": 1, "wrong_length": 1},
                                       "0x101": {"remote_frame": 1}}
    assert report["cycles"] == 20  # the good frames are all fused
    text = caplog.text
    assert "0x7FF" in text and "error frame" in text and "remote frame" in text and "CAN FD" in text
    assert report["warnings"] >= 4


@pytest.mark.parametrize("kind, make", [
    ("unknown id", lambda t: can.Message(timestamp=t, arbitration_id=0x7FF, data=bytes(8), channel=0,
                                         is_extended_id=False)),
    ("expected 8 data bytes", lambda t: can.Message(timestamp=t, arbitration_id=256, data=bytes(5), channel=0,
                                                    is_extended_id=False)),
    ("remote_frame", lambda t: can.Message(timestamp=t, arbitration_id=257, is_remote_frame=True, dlc=8, channel=0,
                                           is_extended_id=False)),
    ("error_frame", lambda t: can.Message(timestamp=t, arbitration_id=0, is_error_frame=True, channel=0)),
    ("fd_on_classic", lambda t: can.Message(timestamp=t, arbitration_id=256, data=bytes(12), is_fd=True, channel=0,
                                            is_extended_id=False)),
])
def test_bad_frame_strict_raises_naming_id_and_time(rig_dir: Path, kind: str, make: Any) -> None:
    msgs = drive(1.0)
    bad = make(0.5003)
    msgs = sorted([*msgs, bad], key=lambda m: m.timestamp)
    log = write_log(rig_dir / "bad.blf", msgs)
    frames = frames_of(log, rig_dir / "rig.toml")
    rep = Replayer(load_rig(rig_dir / "rig.toml"), strict=True, sources=[str(log)])
    with pytest.raises(CanFrameError) as ei:
        for f in frames:
            rep.feed_frame(f)
    err = ei.value
    assert err.can_id == bad.arbitration_id and kind in str(err)
    bad_frame = next(f for f in frames if f.arbitration_id == bad.arbitration_id and f.t_ns == err.t_ns)
    assert f"0x{bad.arbitration_id:X}" in str(err) and f"t_ns={bad_frame.t_ns}" in str(err)
    assert "bad.blf" in str(err)


def test_timestamps_backwards_or_hours_ahead(rig_dir: Path) -> None:
    msgs = drive(1.0)
    db = cantools.database.load_string(DBC, database_format="dbc")
    motion = db.encode_message("MOTION", {"SPEED": SPEED, "YAW_RATE": 0.0})
    # a candump log keeps the frames and their absolute times in file order: one 2 s back, one
    # 5 hours ahead, mid-drive
    jump = can.Message(timestamp=0.5 + 5 * 3600, arbitration_id=512, data=motion, channel=1, is_extended_id=False)
    back = can.Message(timestamp=0.5 - 2.0 + 10.0, arbitration_id=512, data=motion, channel=1, is_extended_id=False)
    for m in msgs:
        m.timestamp += 10.0
    idx = next(i for i, m in enumerate(msgs) if m.timestamp > 10.5)
    msgs[idx:idx] = [jump, back]
    log = write_log(rig_dir / "time.log", msgs)
    rig = load_rig(rig_dir / "rig.toml")
    frames = list(read_logs([log], rig.channels))
    rep = Replayer(rig)
    for f in frames:
        rep.feed_frame(f)
    rep.flush()
    report = rep.report()
    assert report["decode_errors"] == {"0x200": {"time_backwards": 1, "time_jump": 1}}
    assert report["cycles"] == 20 and report["log_s"] == pytest.approx(1.0, abs=0.01)
    strict = Replayer(rig, strict=True)
    with pytest.raises(CanFrameError, match=r"0x200 at t_ns=.*time_jump: the timestamp jumps 17990"):
        for f in frames:
            strict.feed_frame(f)


def test_warnings_are_bounded(rig_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    rig = load_rig(rig_dir / "rig.toml")
    rep = Replayer(rig)
    with caplog.at_level(logging.WARNING, logger="fusion.hil.replay"):
        for k in range(5000):  # 5000 remote frames of one id: warned at the 1st, 10th, 100th, 1000th
            rep.feed_frame(LogFrame(k * 1000, 0, k, "radar", 257, False, False, False, True, 8, b""))
        for k in range(300):  # 300 distinct unknown ids: the first 5 one by one, then one line
            rep.feed_frame(LogFrame(10**7 + k, 0, k, "radar", 0x300 + k, False, False, False, False, 8, bytes(8)))
        for k in range(30):  # 30 ids with error frames: the warnings stop at MAX_WARNINGS, then one "suppressed"
            rep.feed_frame(LogFrame(10**7 + 300 + k, 0, k, "radar", 0x500 + k, False, False, True, False, 0, b""))
    lines = [r for r in caplog.records if r.name == "fusion.hil.replay"]
    assert sum("remote frame" in r.getMessage() for r in lines) == 4
    assert sum("no decoder of the rig takes it" in r.getMessage() for r in lines) == 5
    assert sum("counted in the report (unknown_ids) only" in r.getMessage() for r in lines) == 1
    assert len(lines) == 21 and "suppressed" in lines[-1].getMessage()
    report = rep.report()
    assert report["decode_errors"]["0x101"]["remote_frame"] == 5000 and len(report["unknown_ids"]) == 300
    assert report["warnings"] == len(lines)


def test_truncated_log_keeps_the_frames_before_the_damage(rig_dir: Path) -> None:
    log = write_log(rig_dir / "drive.blf", drive(2.0))
    data = log.read_bytes()
    (rig_dir / "cut.blf").write_bytes(data[: len(data) * 3 // 4])
    whole = replay([log], rig_dir / "rig.toml", None)
    report = replay([rig_dir / "cut.blf"], rig_dir / "rig.toml", None)
    assert 0 < report["frames_read"] < whole["frames_read"] and 0 < report["cycles"] < whole["cycles"]
    assert report["warnings"] >= 1
    with pytest.raises(CanLogError, match=r"cut.blf.*truncated or corrupt"):
        replay([rig_dir / "cut.blf"], rig_dir / "rig.toml", None, strict=True)


def test_empty_log(rig_dir: Path) -> None:
    log = write_log(rig_dir / "empty.blf", [])
    report = replay([log], rig_dir / "rig.toml", rig_dir / "out")
    assert report["frames_read"] == 0 and report["cycles"] == 0 and report["latency_ms"] is None
    assert report["log_s"] == 0.0 and (rig_dir / "out" / "report.json").is_file()


def test_cycles_wait_for_the_first_ego_sample(rig_dir: Path) -> None:
    msgs = [m for m in drive(1.0) if not (m.arbitration_id == 512 and m.timestamp < 0.2)]
    log = write_log(rig_dir / "late_ego.blf", msgs)
    cycles: list[Cycle] = []
    report = replay([log], rig_dir / "rig.toml", None, on_cycle=cycles.append)
    assert report["cycles"] == 20 and report["decode_errors"] == {}
    assert all(c.ego_pose is not None for c in cycles)  # every cycle fused with ego motion
    assert [c.t_ns for c in cycles] == sorted(c.t_ns for c in cycles)


class FakeStreamFrame(NamedTuple):
    t_ns: int
    sensor: str
    z: np.ndarray
    score: np.ndarray
    class_id: np.ndarray


def test_stream_sensor(rig_dir: Path) -> None:
    no_ego = RIG[: RIG.index("[ego]")] + RIG[RIG.index("[output]"):]  # a static rig: no ego motion
    text = no_ego + """
[sensors.lidar]
source = "stream"
[sensors.lidar.engine]
model = "position2d"
"""
    (rig_dir / "rig2.toml").write_text(text)
    rig = load_rig(rig_dir / "rig2.toml")
    assert [s.name for s in rig.sensors] == ["radar", "lidar"] and rig.sensors[1].bus is None
    rep = Replayer(rig)
    out: list[Cycle] = []
    for k in range(5):
        out += rep.feed_stream(FakeStreamFrame(k * 100_000_000, "lidar", np.array([[20.0, -1.0]]), np.ones(1),
                                               np.zeros(1, np.int64)))
    assert [c.sensor for c in out] == ["lidar"] * 5 and len(out[-1].tracks) == 1
    np.testing.assert_allclose(out[-1].tracks["box"][0, :2], (20.0, -1.0), atol=1e-6)
    with pytest.raises(ConfigurationError, match="no sensor with source"):
        rep.feed_stream(FakeStreamFrame(10**9, "radar", np.zeros((0, 3)), np.ones(0), np.zeros(0, np.int64)))


def test_merge_detections() -> None:
    z = np.array([[50.0, 0.0, -1.0], [50.1, 0.002, -1.1], [30.0, 0.1, 2.0], [50.05, 0.001, 5.0]])
    out, score, cls = merge_detections("radar", z, np.array([0.2, 0.9, 0.5, 0.1]), np.array([1, 2, 3, 4]), 1.0, 0.5)
    # rows 0 and 1 are one object; row 3 is as close but 6 m/s apart in range rate: another
    np.testing.assert_allclose(out, [[50.05, 0.001, -1.05], [30.0, 0.1, 2.0], [50.05, 0.001, 5.0]])
    np.testing.assert_array_equal(score, [0.9, 0.5, 0.1])
    np.testing.assert_array_equal(cls, [1, 3, 4])
    same, s2, c2 = merge_detections("radar", z[[0, 2]], None, None, 1.0, 0.5)
    assert same is not None and same.shape == (2, 3) and s2 is None and c2 is None


def test_report_from_another_thread_while_feeding(rig_dir: Path) -> None:
    log = write_log(rig_dir / "drive.blf", drive())
    rig = load_rig(rig_dir / "rig.toml")
    frames = frames_of(log, rig_dir / "rig.toml") * 1
    rep = Replayer(rig)
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                r = rep.report()
                seen.append(r["cycles"])
                assert tuple(r) == REPORT_KEYS
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    th = threading.Thread(target=reader)
    th.start()
    try:
        for f in frames:
            rep.feed_frame(f)
        rep.flush()
    finally:
        stop.set()
        th.join()
    assert not errors and seen == sorted(seen) and rep.report()["cycles"] == 60


@pytest.fixture
def fake_realtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Stand-ins for helper D's fusion.hil.pacing / fusion.hil.live and helper B's publish (K4, K6)."""
    calls: dict[str, Any] = {"waits": [], "sent": [], "buses": []}

    class Pacer:
        def __init__(self, speed: float = 1.0, *, spin_ns: int = 1_000_000) -> None:
            calls["speed"] = speed

        def wait_until(self, t_log_ns: int) -> int:
            calls["waits"].append(t_log_ns)
            return 0

        def errors_ms(self) -> dict[str, float]:
            return {"p50": 0.01, "p99": 0.02, "max": 0.03}

    def open_bus(spec: str) -> can.BusABC:
        bus = can.Bus(interface="virtual", channel=spec.split(":", 1)[1])
        calls["buses"].append(spec)
        return bus

    class TrackEncoder:
        def __init__(self, dbc: Path | None = None, *, fd: bool = False, max_objects: int = 64) -> None:
            pass

        def encode(self, cycle_counter: int, t_ns: int, tracks: np.ndarray) -> list[can.Message]:
            return [can.Message(arbitration_id=0x600, data=bytes([cycle_counter & 0xFF, len(tracks)]),
                                is_extended_id=False, timestamp=t_ns / 1e9)]

    class CanLogSink:
        def __init__(self, path: Path) -> None:
            self.path = path

        def write(self, msgs: list[can.Message]) -> None:
            pass

        def close(self) -> None:
            pass

    mods = {"fusion.hil.pacing": {"Pacer": Pacer}, "fusion.hil.live": {"open_bus": open_bus},
            "fusion.hil.publish": {"TrackEncoder": TrackEncoder}}
    for name, attrs in mods.items():
        if name in sys.modules and all(hasattr(sys.modules[name], a) for a in attrs):
            continue  # the real module exists: keep it
        mod = types.ModuleType(name)
        for a, v in attrs.items():
            setattr(mod, a, v)
        monkeypatch.setitem(sys.modules, name, mod)
    yield calls


def test_realtime_paces_every_frame_and_publishes(rig_dir: Path, fake_realtime: dict[str, Any]) -> None:
    log = write_log(rig_dir / "drive.blf", drive(1.0))
    listener = can.Bus(interface="virtual", channel="tracks-test")
    try:
        report = replay([log], rig_dir / "rig.toml", None, realtime=True, speed=10.0, to_bus="virtual:tracks-test")
        got = []
        while (m := listener.recv(timeout=0.2)) is not None:
            got.append(m)
    finally:
        listener.shutdown()
    if fake_realtime["waits"]:  # the stand-in Pacer: every frame waited for, in time order
        assert fake_realtime["speed"] == 10.0 and len(fake_realtime["waits"]) == report["frames_read"]
        assert fake_realtime["waits"] == sorted(fake_realtime["waits"])
    assert set(report["send_error_ms"]) >= {"p50", "p99", "max"}
    assert len(got) >= report["cycles"] == 20  # at least one frame of tracks per cycle


def test_tracks_csv_is_byte_identical_run_to_run(rig_dir: Path) -> None:
    pytest.importorskip("fusion.hil.outputs", reason="the track writers (fusion.hil.outputs) are not merged yet")
    log = write_log(rig_dir / "drive.blf", drive())
    a = replay([log], rig_dir / "rig.toml", rig_dir / "a")
    b = replay([log], rig_dir / "rig.toml", rig_dir / "b")
    csv_a, csv_b = (rig_dir / "a" / "tracks.csv").read_bytes(), (rig_dir / "b" / "tracks.csv").read_bytes()
    assert csv_a == csv_b and csv_a.count(b"\n") == a["tracks_published"] + 1 == b["tracks_published"] + 1


def test_can_log_and_stream_file_merged_by_time(rig_dir: Path) -> None:
    pytest.importorskip("fusion.hil.streams", reason="the stream reader (fusion.hil.streams) is not merged yet")
    no_ego = RIG[: RIG.index("[ego]")] + RIG[RIG.index("[output]"):]
    (rig_dir / "rig2.toml").write_text(no_ego + '[sensors.lidar]\nsource = "stream"\n[sensors.lidar.engine]\n'
                                       'model = "position2d"\n')
    log = write_log(rig_dir / "drive.blf", [m for m in drive(1.0) if m.arbitration_id != 512])
    # a lidar-only object outside the radar's field of view (45 deg off its boresight > 0.6 rad)
    rows = "".join(f"{k * 100_000_000 + 25_000_000},lidar,10.0,-8.0,,\n" for k in range(10))
    (rig_dir / "lidar.csv").write_text("t_ns,sensor,x,y,score,class_id\n" + rows)
    cycles: list[Cycle] = []
    report = replay([log], rig_dir / "rig2.toml", None, streams=[rig_dir / "lidar.csv"], on_cycle=cycles.append)
    assert report["cycles"] == 30 and report["frames_read"] == 40 + 10
    assert [c.t_ns for c in cycles] == sorted(c.t_ns for c in cycles)  # one time line
    assert [c.sensor for c in cycles].count("lidar") == 10
    last = cycles[-1].tracks
    assert len(last) == 2  # the radar's approaching object and the lidar's
    assert np.sum(np.hypot(last["box"][:, 0] - 10.0, last["box"][:, 1] + 8.0) < 0.1) == 1


def test_latency_summary_and_deadline_misses(rig_dir: Path) -> None:
    from fusion.hil.report import latency_summary

    assert latency_summary([]) is None
    s = latency_summary([1_000_000, 2_000_000, 3_000_000, 10_000_000])
    assert s == {"p50": 2.5, "p99": pytest.approx(9.79), "max": 10.0, "mean": 4.0}
    (rig_dir / "tight.toml").write_text(RIG.replace("budget_ms = 50.0", "budget_ms = 1e-6"))
    log = write_log(rig_dir / "drive.blf", drive(1.0))
    tight = replay([log], rig_dir / "tight.toml", None)
    assert tight["budget_ms"] == 1e-6 and tight["deadline_misses"] == tight["cycles"] == 20  # 1 ns: every cycle
    cycles: list[Cycle] = []
    loose = replay([log], rig_dir / "rig.toml", None, on_cycle=cycles.append)
    assert loose["deadline_misses"] == sum(c.latency_ns > 50e6 for c in cycles)
    assert loose["latency_ms"]["max"] == max(c.latency_ns for c in cycles) / 1e6


def test_cycle_cut_off_half_way(rig_dir: Path) -> None:
    # OBJ_1 of the cycle at 0.5 s never comes: slot 0 repeats, the cycle before is cut off
    msgs = [m for m in drive(1.0) if not (m.arbitration_id == 257 and abs(m.timestamp - 0.5015) < 1e-6)]
    log = write_log(rig_dir / "cut.blf", msgs)
    cycles: list[Cycle] = []
    report = replay([log], rig_dir / "rig.toml", None, on_cycle=cycles.append)
    assert report["decode_errors"] == {"0x100": {"cut_cycle": 1}}
    assert report["cycles"] == 20  # the cut cycle is fused with the object that arrived
    assert len({int(i) for c in cycles for i in c.tracks["id"]}) == 1
    with pytest.raises(CanFrameError, match=r"0x100 at t_ns=\d+.*cut_cycle: sensor radar: the measurement cycle"):
        replay([log], rig_dir / "rig.toml", None, strict=True)


HEADER_DBC = """VERSION ""
BU_: R
BO_ 768 OBJ_HDR: 2 R
 SG_ COUNT : 0|8@1+ (1,0) [0|255] "" R
BO_ 769 OBJ: 6 R
 SG_ X : 0|16@1+ (0.01,0) [0|655.35] "m" R
 SG_ Y : 16|16@1- (0.01,0) [-327.68|327.67] "m" R
 SG_ RR : 32|16@1- (0.01,0) [-327.68|327.67] "m/s" R
"""


def test_object_list_header_count_disagrees(rig_dir: Path) -> None:
    (rig_dir / "hdr.dbc").write_text(HEADER_DBC)
    rig = RIG[: RIG.index("[sensors.radar]")] + """
[sensors.radar]
bus = "radar"
dbc = "hdr.dbc"
decoder = "dbc_object_list"
[sensors.radar.decoder_config]
header = { message = "OBJ_HDR", count = "COUNT" }
objects = { message = "OBJ" }
max_objects = 8
polar_from_xy = true
fields = { x = "X", y = "Y", range_rate = "RR" }
[sensors.radar.engine]
model = "radar"
"""
    (rig_dir / "hdr.toml").write_text(rig)
    db = cantools.database.load_string(HEADER_DBC, database_format="dbc")

    def msg(t: float, name: str, **values: float) -> can.Message:
        return can.Message(timestamp=t, arbitration_id=db.get_message_by_name(name).frame_id,
                           data=db.encode_message(name, values), channel=0, is_extended_id=False)

    obj = {"X": 30.0, "Y": 1.0, "RR": -1.0}
    msgs = [msg(0.00, "OBJ_HDR", COUNT=1), msg(0.001, "OBJ", **obj), msg(0.002, "OBJ", **obj),  # one too many
            msg(0.05, "OBJ_HDR", COUNT=2), msg(0.051, "OBJ", **obj),  # one too few: cut by the next header
            msg(0.10, "OBJ_HDR", COUNT=200),  # more than max_objects: not a count the decoder accepts
            msg(0.15, "OBJ_HDR", COUNT=1), msg(0.151, "OBJ", **obj)]
    log = write_log(rig_dir / "hdr.blf", msgs)
    report = replay([log], rig_dir / "hdr.toml", None)
    assert report["decode_errors"] == {"0x300": {"bad_header_count": 1}, "0x301": {"cut_cycle": 1, "orphan_objects": 1}}
    assert report["cycles"] == 3 and report["engine"]["detections"] == 3


def test_ego_only_rig_integrates_the_odometry(rig_dir: Path) -> None:
    ego_only = RIG[: RIG.index("[sensors.radar]")] + RIG[RIG.index("[ego]"):]
    (rig_dir / "ego.toml").write_text(ego_only)
    db = cantools.database.load_string(DBC, database_format="dbc")
    motion = db.encode_message("MOTION", {"SPEED": SPEED, "YAW_RATE": 0.0})
    msgs = [can.Message(timestamp=k * 0.02, arbitration_id=512, data=motion, channel=1, is_extended_id=False)
            for k in range(501)]  # 10 s at 50 Hz: the samples go to the engine in batches of 256, then at flush
    msgs += [m for m in drive(1.0) if m.arbitration_id != 512]  # 40 radar frames the ego-only rig does not take
    log = write_log(rig_dir / "drive.blf", sorted(msgs, key=lambda m: m.timestamp))
    rig = load_rig(rig_dir / "ego.toml")
    rep = Replayer(rig)
    for f in frames_of(log, rig_dir / "ego.toml"):
        rep.feed_frame(f)
    assert rep.flush() == []
    report = rep.report()
    assert report["cycles"] == 0 and report["frames_read"] == 541 and report["frames_decoded"] == 501
    assert report["unknown_ids"] == {"0x100": 20, "0x101": 20}
    pose = rep.engine.ego_pose(10 * 10**9)
    assert pose["x_m"] == pytest.approx(SPEED * 10.0, abs=1e-6) and abs(pose["y_m"]) < 1e-9
