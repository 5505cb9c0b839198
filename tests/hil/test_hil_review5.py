"""Review of the HIL harness (session 5): hostile input through the public entry points, each
found to misbehave and fixed; the tests assert the defined behaviour."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import can
import cantools
import numpy as np
import pytest
from _one_radar_rig import DBC, RIG
from _track_records import random_tracks

from fusion.cli import main
from fusion.errors import ConfigurationError
from fusion.hil.errors import CanLogError
from fusion.hil.logs import read_log
from fusion.hil.publish import TrackEncoder
from fusion.hil.replay import Replayer
from fusion.hil.rig import load_rig, package_dbc


def _frames(extra: dict[int, can.Message] | None = None, n: int = 40) -> list[can.Message]:
    db = cantools.database.load_string(DBC, database_format="dbc")
    out = []
    for k in range(n):
        if extra and k in extra:
            out.append(extra[k])
        data = db.encode_message("OBJ_0", {"X": 30.0 - 0.1 * k, "Y": 1.0, "RR": -2.0})
        out.append(can.Message(timestamp=k * 0.05, arbitration_id=256, data=data, channel=0, is_extended_id=False))
    return out


def _write(path: Path, msgs: list[can.Message]) -> Path:
    with can.Logger(str(path)) as w:
        for m in msgs:
            w.on_message_received(m)
    return path


@pytest.fixture
def rig(tmp_path: Path) -> Path:
    (tmp_path / "sensors.dbc").write_text(DBC)
    (tmp_path / "rig.toml").write_text(RIG)
    return tmp_path / "rig.toml"


def _report(tmp_path: Path, log: Path, rig: Path, *extra: str) -> tuple[int, dict[str, object]]:
    out = tmp_path / "out"
    code = main(["replay", str(log), "--rig", str(rig), "--out", str(out), "--no-progress", *extra])
    rep = json.loads((out / "report.json").read_text()) if code == 0 else {}
    return code, rep


# ---- a BLF that is not a BLF: python-can raises BLFParseError (an Exception, not a ValueError)


def test_garbage_blf_is_a_can_log_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.blf"
    path.write_bytes(bytes(range(256)) * 12)
    with pytest.raises(CanLogError, match="cannot open as .blf") as err:
        list(read_log(path))
    assert err.value.path == path and err.value.frame_index == 0


def test_garbage_blf_through_the_cli(tmp_path: Path, rig: Path, capsys: pytest.CaptureFixture[str],
                                     caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "garbage.blf"
    path.write_bytes(bytes(range(256)) * 12)
    with caplog.at_level(logging.WARNING):
        code, rep = _report(tmp_path, path, rig)  # lenient: the log is skipped and counted
    assert code == 0 and rep["frames_read"] == 0 and rep["warnings"] == 1
    assert any("garbage.blf" in r.getMessage() for r in caplog.records)
    capsys.readouterr()
    assert main(["replay", str(path), "--rig", str(rig), "--out", str(tmp_path / "o2"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "garbage.blf" in err and "Traceback" not in err


# ---- an extended id is not the standard id with the same number


def test_extended_id_does_not_decode_as_the_standard_message(tmp_path: Path, rig: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    # 0x100 extended, carrying a valid 8-byte payload, in the middle of the standard 0x100 list
    stray = {10 + k: can.Message(timestamp=0.5 + 0.05 * k + 0.01, arbitration_id=256, is_extended_id=True,
                                 data=bytes(8), channel=0) for k in range(3)}
    log = _write(tmp_path / "ext.blf", _frames(stray))
    with caplog.at_level(logging.WARNING):
        code, rep = _report(tmp_path, log, rig)
    assert code == 0
    assert rep["frames_read"] == 43 and rep["frames_decoded"] == 40
    assert rep["unknown_ids"] == {"0x00000100": 3} and rep["decode_errors"] == {}  # candump spelling


def test_extended_id_strict_names_the_unknown_id(tmp_path: Path, rig: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    stray = {10: can.Message(timestamp=0.51, arbitration_id=256, is_extended_id=True, data=bytes(8), channel=0)}
    log = _write(tmp_path / "ext.blf", _frames(stray))
    assert main(["replay", str(log), "--rig", str(rig), "--out", str(tmp_path / "s"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "CAN id 0x100 at t_ns=510000000" in err and "unknown id" in err


# ---- engine durations the harness counts in int64 nanoseconds


@pytest.mark.parametrize("key", ["oosm_horizon_s", "ego_max_gap_s", "ego_max_extrapolation_s"])
def test_rig_duration_beyond_int64_ns_is_a_configuration_error(tmp_path: Path, rig: Path, key: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "huge.toml"
    bad.write_text(RIG.replace('motion = "cv_point2d"', f'motion = "cv_point2d"\n{key} = 1e308'))
    log = _write(tmp_path / "d.blf", _frames())
    assert main(["replay", str(log), "--rig", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"[engine] {key}" in err and "huge.toml" in err
    # the largest accepted value replays (the out-of-sequence window then takes every late frame)
    ok = tmp_path / "edge.toml"
    ok.write_text(RIG.replace('motion = "cv_point2d"', f'motion = "cv_point2d"\n{key} = 9.2e9'))
    assert main(["replay", str(log), "--rig", str(ok), "--out", str(tmp_path / "o2"), "--no-progress"]) == 0


@pytest.mark.parametrize("value", [float("inf"), 1e308, float("nan"), 0.0])
def test_replayer_max_time_jump_outside_int64_ns(rig: Path, value: float) -> None:
    with pytest.raises(ConfigurationError, match="max_time_jump_s"):
        Replayer(load_rig(rig), max_time_jump_s=value)


# ---- the track encoder with positions the DBC cannot carry (a detection at 1e308 m makes such a track)


@pytest.mark.parametrize("fd", [False, True])
@pytest.mark.parametrize("value", [1e308, -1e308, float("inf"), float("-inf")])
def test_track_encoder_clamps_huge_values_without_warnings(fd: bool, value: float) -> None:
    tracks = random_tracks(np.random.default_rng(1), 3)
    tracks["box"][1, 0] = value
    tracks["box"][1, 3] = value  # yaw
    tracks["velocity"][2, 1] = value
    enc = TrackEncoder(fd=fd, max_objects=2)  # one track too many: the nearest two are kept
    msgs = enc.encode(7, 1_000_000, tracks)  # warnings are errors under the strict pytest config
    (cycle,) = enc.decode(msgs)
    assert cycle["num_objects"] == 2 and [t["id"] for t in cycle["tracks"]] == tracks["id"][[0, 2]].tolist()
    db = cantools.database.load_file(str(package_dbc("tracks_fd" if fd else "tracks")))
    vy = cycle["tracks"][1]["vy"]
    assert np.isfinite(vy) and np.sign(vy) == np.sign(value) and abs(vy) > 50.0  # clamped at the range end
    sig = next(s for m in db.messages for s in m.signals if s.name == "VelY")
    assert vy == pytest.approx(sig.maximum if value > 0 else sig.minimum, abs=sig.scale)
    # the huge track alone is sent, clamped, its heading invalid (NaN) or in range
    (one,) = enc.decode(enc.encode(8, 2_000_000, tracks[1:2]))
    x = one["tracks"][0]["x"]
    assert np.isfinite(x) and np.sign(x) == np.sign(value) and abs(x) >= 327.67 - 0.01  # PosX's range end
    yaw = one["tracks"][0]["yaw"]
    assert np.isnan(yaw) or abs(yaw) <= np.pi + 1e-3


# ---- the pacer never sleeps for hours: a wait beyond max_wait_s re-anchors


class _Clock:
    def __init__(self) -> None:
        self.now = 10**12
        self.slept: list[float] = []

    def clock(self) -> int:
        self.now += 1_000
        return self.now

    def sleep(self, seconds: float) -> None:
        assert 0 <= seconds <= 60.0  # never longer than max_wait_s
        self.slept.append(seconds)
        self.now += round(seconds * 1e9)


def test_pacer_reanchors_at_a_timestamp_hours_ahead(caplog: pytest.LogCaptureFixture) -> None:
    from fusion.hil.pacing import Pacer

    c = _Clock()
    p = Pacer(1.0, clock=c.clock, sleep=c.sleep)
    hour = 3600 * 10**9
    with caplog.at_level(logging.WARNING, logger="fusion.hil.pacing"):
        for t in (0, 10**8, 5 * hour, 5 * hour + 10**8, 10**8 + 5 * 10**7):  # jump ahead 5 h, then back 5 h
            p.wait_until(t)
    assert p.reanchors == 2 and sum(c.slept) < 0.3  # two 0.1 s waits, nothing for the jumps
    _t, err = p.samples()
    assert len(err) == 5 and int(err.max()) < 10**6  # every event on time (within the spin)
    assert sum("re-anchored" in r.getMessage() for r in caplog.records) == 1  # the 1st, 10th, 100th, ...
    # within max_wait_s nothing changes: a 30 s gap is slept
    p2 = Pacer(1.0, clock=c.clock, sleep=c.sleep)
    p2.wait_until(0)
    p2.wait_until(30 * 10**9)
    assert p2.reanchors == 0 and 29.9 < c.slept[-1] <= 30.0


@pytest.mark.parametrize("speed", [1e-300, 5e-324, 1e308])
def test_pacer_absurd_speed_is_defined(speed: float) -> None:
    from fusion.hil.pacing import Pacer

    c = _Clock()
    p = Pacer(speed, clock=c.clock, sleep=c.sleep)
    for t in (0, 10**6, 2 * 10**6, -(2**62), 2**62):
        assert p.wait_until(t) >= 0  # no OverflowError, no sleep beyond max_wait_s
    assert sum(c.slept) <= 60.0


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), 1e10, True])
def test_pacer_max_wait_is_validated(bad: float) -> None:
    from fusion.hil.pacing import Pacer

    with pytest.raises(ConfigurationError, match="max_wait_s"):
        Pacer(1.0, max_wait_s=bad)


def test_realtime_replay_of_a_log_that_jumps_hours_ahead_does_not_sleep(tmp_path: Path, rig: Path) -> None:
    import time

    late = {20: can.Message(timestamp=5 * 3600.0, arbitration_id=256, is_extended_id=False, data=bytes(8),
                            channel=0)}
    log = _write(tmp_path / "jump.blf", _frames(late, n=30))
    t0 = time.monotonic()
    code, rep = _report(tmp_path, log, rig, "--realtime", "--speed", "4")
    assert code == 0 and time.monotonic() - t0 < 30.0  # 1.5 s of log at 4x, not 5 hours
    assert rep["decode_errors"] == {"0x100": {"time_jump": 1}} and rep["frames_decoded"] == 30
    assert rep["send_error_ms"] is not None and rep["send_error_ms"]["max"] < 1000.0


def test_cli_speed_too_small_is_refused(tmp_path: Path, rig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _write(tmp_path / "d.blf", _frames())
    for bad in ("1e-300", "0.0001", "inf"):
        with pytest.raises(SystemExit) as exc:
            main(["replay", str(log), "--rig", str(rig), "--out", str(tmp_path / "o"), "--realtime", "--speed", bad])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--speed" in err


# ---- fusion live whose bus never opens: bounded back-off, prompt stop, and the summary says so


def test_live_bus_that_never_opens_is_reported(rig: Path) -> None:
    import threading
    import time

    from fusion.hil.live import run_live
    from fusion.hil.report import format_summary

    opens: list[float] = []

    def factory(spec: str) -> can.BusABC:
        opens.append(time.monotonic())
        raise can.CanError("no such interface")

    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    t0 = time.monotonic()
    rep = run_live(load_rig(rig), "virtual:x", to_bus=None, out=None, duration_s=None, stop=stop,
                   bus_factory=factory, backoff_s=0.01, backoff_max_s=0.2)
    took = time.monotonic() - t0
    timer.join()
    assert 0.9 < took < 1.6  # stop is honoured within the poll/back-off bound
    gaps = [b - a for a, b in zip(opens, opens[1:])]
    assert 5 <= len(opens) <= 15 and max(gaps) < 0.3  # doubling to the 0.2 s cap, not a busy loop
    assert rep["live"]["backoffs_s"][:5] == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.16])
    text = format_summary(rep)
    assert f"bus errors {len(opens)}" in text and "no such interface" in text and "frames received 0" in text


# ---- Replayer.report() from a second thread while one thread feeds (its "Thread safety:" promise)


@pytest.fixture
def preempt_often() -> object:
    import sys

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads every few bytecodes: races show up in a few runs
    yield None
    sys.setswitchinterval(old)


def test_report_while_another_thread_feeds(tmp_path: Path, preempt_often: object) -> None:
    import threading

    from fusion.hil.logs import LogFrame

    n = 48
    dbc = 'VERSION ""\nBU_: R\n' + "".join(
        f'BO_ {256 + i} OBJ_{i}: 8 R\n SG_ X : 0|16@1+ (0.01,0) [0|655.35] "m" R\n'
        f' SG_ Y : 16|16@1- (0.01,0) [-327.68|327.67] "m" R\n SG_ RR : 32|16@1- (0.01,0) [-327.68|327.67] "m/s" R\n'
        for i in range(n))
    (tmp_path / "sensors.dbc").write_text(dbc)
    msgs = ", ".join(f'"OBJ_{i}"' for i in range(n))
    (tmp_path / "rig.toml").write_text(RIG.replace('["OBJ_0"]', f"[{msgs}]"))
    rig = load_rig(tmp_path / "rig.toml")
    logging.disable(logging.WARNING)  # every frame is a counted wrong length
    try:
        for _trial in range(150):
            rep = Replayer(rig)
            done = threading.Event()
            failures: list[BaseException] = []

            def feed(rep: Replayer = rep, done: threading.Event = done) -> None:
                try:
                    for i in range(n):  # each frame too short: a new id in the decoder's wrong_length
                        rep.feed_frame(LogFrame(1000 * i, 0, i, "radar", 256 + i, False, False, False, False, 3,
                                                b"\0\0\0"))
                finally:
                    done.set()

            t = threading.Thread(target=feed)
            t.start()
            reports = []
            while not done.is_set():
                try:
                    reports.append(rep.report())
                except RuntimeError as exc:  # "dictionary changed size during iteration"
                    failures.append(exc)
                    break
            t.join()
            assert not failures, failures[0]
            final = rep.report()
            assert final["frames_read"] == n and len(final["decode_errors"]) == n
            counts = [sum(v.get("wrong_length", 0) for v in r["decode_errors"].values()) for r in reports]
            assert counts == sorted(counts) and all(c <= n for c in counts)  # monotonic snapshots
    finally:
        logging.disable(logging.NOTSET)


# ---- the bird's-eye view with coordinates matplotlib cannot scale


def test_draw_bev_with_huge_and_infinite_coordinates(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from fusion.hil.bev import draw_bev

    path = tmp_path / "bev.png"
    draw_bev(path, ego_xy=np.array([[0.0, 0.0], [10.0, 1.0], [1e308, -1e308], [np.inf, 0.0]]),
             detections=[(1, np.array([[5.0, 1.0], [1e308, -1e308]]))],
             tracks=[{"t_ns": 1, "track_id": 2**63 - 1, "x": 1e308, "y": 1.0},
                     {"t_ns": 1, "track_id": 3, "x": 4.0, "y": 2.0}])  # warnings are errors here
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- fusion replay --sample: fresh folder, a second run, a drive folder missing a file


def test_sample_twice_and_with_a_file_missing_is_deterministic(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sample"
    assert main(["replay", "--sample", "--out", str(out), "--no-progress"]) == 0
    first = {f: (out / f).read_bytes() for f in ("tracks.csv", "tracks.blf")}
    drive = {f: (out / "drive" / f).read_bytes() for f in ("drive.blf", "lidar.csv", "truth.npz", "rig.toml")}
    text1 = capsys.readouterr().out
    assert "GOSPA vs truth" in text1
    mtime = (out / "drive" / "drive.blf").stat().st_mtime_ns
    assert main(["replay", "--sample", "--out", str(out), "--no-progress"]) == 0  # reuses the drive
    assert (out / "drive" / "drive.blf").stat().st_mtime_ns == mtime
    assert {f: (out / f).read_bytes() for f in first} == first
    for missing in ("truth.npz", "lidar.csv"):
        (out / "drive" / missing).unlink()
        assert main(["replay", "--sample", "--out", str(out), "--no-progress"]) == 0, capsys.readouterr().err
        assert {f: (out / "drive" / f).read_bytes() for f in drive} == drive  # regenerated, identical
        assert {f: (out / f).read_bytes() for f in first} == first
    gospa = [line for line in capsys.readouterr().out.splitlines() if line.startswith("GOSPA")]
    assert gospa == [line for line in text1.splitlines() if line.startswith("GOSPA")] * 3


# ---- no matplotlib: bev.png is skipped with a note, the other outputs are written


def test_replay_without_matplotlib_skips_bev_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    import sys

    (tmp_path / "sensors.dbc").write_text(DBC)
    (tmp_path / "rig.toml").write_text(RIG.replace("bev = false", "bev = true"))
    log = _write(tmp_path / "d.blf", _frames())
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError; find_spec -> None
    with caplog.at_level(logging.WARNING):
        code, rep = _report(tmp_path, log, tmp_path / "rig.toml")
    out = tmp_path / "out"
    assert code == 0 and rep["cycles"] == 40
    assert (out / "tracks.csv").is_file() and (out / "tracks.blf").is_file() and not (out / "bev.png").exists()
    notes = [r.getMessage() for r in caplog.records if "bev.png" in r.getMessage()]
    assert len(notes) == 1 and "fusion[plot]" in notes[0]


# ---- a stream frame the engine rejects is named as a stream frame, not "CAN id 0x0 (input -1 frame -1)"

STREAM_RIG = """
[engine]
motion = "cv_box"
num_classes = 3
[sensors.lidar]
source = "stream"
[sensors.lidar.engine]
model = "lidar_box3d"
[output]
bev = false
"""


def test_rejected_stream_frame_is_named_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "rig.toml").write_text(STREAM_RIG)
    rows = [f"{10**9 + k * 10**8},lidar,{20 + k * 0.1},1.0,0.0,0.0,4.5,1.9,1.5,0.9,{7 if k == 5 else 1}"
            for k in range(20)]
    (tmp_path / "lidar.csv").write_text("t_ns,sensor,x,y,z,yaw,l,w,h,score,class_id\n" + "\n".join(rows) + "\n")
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        code = main(["replay", str(tmp_path / "lidar.csv"), "--rig", str(tmp_path / "rig.toml"), "--out", str(out),
                     "--no-progress"])
    assert code == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["cycles"] == 19 and sum(rep["decode_errors"]["0x0"].values()) == 1
    (msg,) = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert "t_ns=1500000000 (a stream frame" in msg and "sensor lidar" in msg and "class_id = 7" in msg
    assert "input -1" not in msg and "CAN id" not in msg
    capsys.readouterr()
    code = main(["replay", str(tmp_path / "lidar.csv"), "--rig", str(tmp_path / "rig.toml"), "--out",
                 str(tmp_path / "o2"), "--strict"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "sensor lidar frame at t_ns=1500000000" in err


@pytest.mark.parametrize("command", ["replay", "live"])
@pytest.mark.parametrize("which", ["--out", "--report"])
def test_out_or_report_of_the_wrong_kind_is_refused_up_front(tmp_path: Path, rig: Path, command: str, which: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    log = _write(tmp_path / "d.blf", _frames())
    (tmp_path / "a_file").write_text("keep me")
    (tmp_path / "a_dir").mkdir()
    bad = tmp_path / ("a_file" if which == "--out" else "a_dir")
    args = ([str(log), "--rig", str(rig)] if command == "replay" else ["--rig", str(rig), "--bus", "virtual:r5x",
                                                                       "--duration", "0.2"])
    if which == "--report":
        args += ["--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exc:
        main([command, *args, which, str(bad)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and f"{which} {bad}" in err
    assert (tmp_path / "a_file").read_text() == "keep me" and not (tmp_path / "o").exists()  # nothing was run


def test_the_same_log_twice_is_refused(tmp_path: Path, rig: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    log = _write(tmp_path / "d.blf", _frames())
    monkeypatch.chdir(tmp_path)
    assert main(["replay", str(log), "./d.blf", "--rig", str(rig), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "given twice" in err and "d.blf" in err and not (tmp_path / "o").exists()
    code, rep = _report(tmp_path, log, rig)  # once: 40 cycles, not 80
    assert code == 0 and rep["cycles"] == 40


def test_skipped_stream_rows_are_counted_in_the_report(tmp_path: Path) -> None:
    (tmp_path / "rig.toml").write_text(STREAM_RIG)
    rows = [f"{10**9 + k * 10**8},lidar,{20 + k * 0.1},1.0,0.0,0.0,4.5,1.9,1.5,0.9,1" for k in range(20)]
    rows[3] = rows[3].replace(",lidar,", ",lidar9,")  # unknown sensor
    rows[7] = rows[7].replace(",1.0,", ",nan,", 1)  # NaN component
    path = tmp_path / "lidar.csv"
    path.write_bytes(("t_ns,sensor,x,y,z,yaw,l,w,h,score,class_id\n" + "\n".join(rows) + "\n").encode()
                     + b"3000000000,l\xefdar,1,1,1,0,4,2,1.5,0.9,0\n")
    out = tmp_path / "out"
    with pytest.warns(Warning):  # read_stream's StreamWarning per skipped row (bounded)
        code = main(["replay", str(path), "--rig", str(tmp_path / "rig.toml"), "--out", str(out), "--no-progress"])
    assert code == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["cycles"] == 18
    assert set(rep["decode_errors"]) == {"stream:lidar.csv"}
    assert sum(rep["decode_errors"]["stream:lidar.csv"].values()) == 3
    assert rep["decode_errors"]["stream:lidar.csv"]["unknown_sensor"] == 1


def test_rig_that_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _write(tmp_path / "d.blf", _frames())
    (tmp_path / "rigs").mkdir()
    assert main(["replay", str(log), "--rig", str(tmp_path / "rigs"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rigs: is a folder, expected a rig file" in err


@pytest.mark.parametrize("mount", ["[1e308, 0, 0]", "[0, -1001, 0]"])
def test_rig_sensor_mount_far_away_is_refused(tmp_path: Path, rig: Path, mount: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "far.toml"
    bad.write_text(RIG.replace('model = "radar"', f'model = "radar"\nmount_t = {mount}'))
    log = _write(tmp_path / "d.blf", _frames())
    assert main(["replay", str(log), "--rig", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[sensors.radar.engine] mount_t" in err and "far.toml" in err
    ok = tmp_path / "near.toml"
    ok.write_text(RIG.replace('model = "radar"', 'model = "radar"\nmount_t = [3.7, -0.5, 0.5]'))
    code, rep = _report(tmp_path, log, ok)
    assert code == 0 and rep["tracks_published"] > 0


def test_dask_scheduler_address_with_an_unknown_scheme(tmp_path: Path, rig: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("distributed")
    (tmp_path / "logs").mkdir()
    _write(tmp_path / "logs" / "a.blf", _frames())
    code = main(["replay", str(tmp_path / "logs"), "--rig", str(rig), "--out", str(tmp_path / "o"),
                 "--dask", "garbage://x"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "dask: cannot connect to the scheduler 'garbage://x'" in err


def test_dask_local_cluster_has_at_most_one_worker_per_job(tmp_path: Path, rig: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed")
    from fusion.hil.batch import ReplayJob, replay_many

    seen: dict[str, object] = {}

    class Stop(Exception):
        pass

    def fake_cluster(**kwargs: object) -> None:
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(distributed, "LocalCluster", fake_cluster)
    log = _write(tmp_path / "a.blf", _frames())
    jobs = [ReplayJob(logs=(log,), rig=rig, out=tmp_path / f"o{k}") for k in range(3)]
    with pytest.raises(Stop):
        replay_many(jobs, workers=100_000, dask="local")
    assert seen["n_workers"] == 3


def test_replayer_frame_with_a_nan_timestamp_is_a_bad_frame(rig: Path) -> None:
    from fusion.hil.errors import CanFrameError
    from fusion.hil.logs import LogFrame

    frames = [LogFrame(k * 50_000_000, 0, k, "radar", 256, False, False, False, False, 8, bytes(8)) for k in range(4)]
    nan = LogFrame(float("nan"), 0, 9, "radar", 256, False, False, False, False, 8, bytes(8))  # type: ignore[arg-type]
    rep = Replayer(load_rig(rig))
    for f in frames[:2]:
        rep.feed_frame(f)
    assert rep.feed_frame(nan) == []  # was a bare ValueError from int(nan) in the decoder
    for f in frames[2:]:
        rep.feed_frame(f)
    r = rep.report()
    assert r["decode_errors"] == {"0x100": {"bad_timestamp": 1}} and r["frames_decoded"] == 4 and r["cycles"] == 4
    strict = Replayer(load_rig(rig), strict=True)
    strict.feed_frame(frames[0])
    with pytest.raises(CanFrameError, match="bad_timestamp"):
        strict.feed_frame(nan)
    first = Replayer(load_rig(rig))  # as the very first frame, too
    assert first.feed_frame(nan) == [] and first.report()["decode_errors"] == {"0x100": {"bad_timestamp": 1}}


@pytest.mark.parametrize("extra", [["x.blf"], ["--rig", "r.toml"], ["--realtime"], ["--to-bus", "virtual:t"]])
def test_sample_refuses_options_it_would_ignore(tmp_path: Path, extra: list[str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["replay", "--sample", "--out", str(tmp_path / "s"), *extra])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "--sample" in err and "drop" in err
    assert not (tmp_path / "s").exists()  # nothing generated


def test_streams_with_a_folder_of_logs_are_refused(tmp_path: Path, rig: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "logs").mkdir()
    _write(tmp_path / "logs" / "a.blf", _frames())
    (tmp_path / "lidar.csv").write_text("t_ns,sensor,x,y,z,yaw,l,w,h\n")
    with pytest.raises(SystemExit) as exc:
        main(["replay", str(tmp_path / "logs"), str(tmp_path / "lidar.csv"), "--rig", str(rig), "--out",
              str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "lidar.csv" in err and "not a folder" in err


def test_speed_without_realtime_is_refused(tmp_path: Path, rig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _write(tmp_path / "d.blf", _frames())
    with pytest.raises(SystemExit) as exc:
        main(["replay", str(log), "--rig", str(rig), "--out", str(tmp_path / "o"), "--speed", "10"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "add --realtime" in err
    code, _rep = _report(tmp_path, log, rig, "--speed", "1")  # the default, given explicitly: fine
    assert code == 0


# ---- two feeders of one Replayer (session 5 coordinator: refused, not a silent race)

def test_a_second_feeder_is_refused_and_changes_nothing(rig: Path) -> None:
    import threading

    from fusion.errors import ConcurrentUseError, ShapeError
    from fusion.hil.logs import LogFrame

    inside, release = threading.Event(), threading.Event()

    def on_cycle(_cycle: object) -> None:  # holds the feeding call open until the main thread has tried
        inside.set()
        release.wait(10)

    rep = Replayer(load_rig(rig), on_cycle=on_cycle)
    db = cantools.database.load_string(DBC, database_format="dbc")
    data = db.encode_message("OBJ_0", {"X": 30.0, "Y": 1.0, "RR": -2.0})
    frame = LogFrame(0, 0, 0, "radar", 256, False, False, False, False, 8, data)
    t = threading.Thread(target=rep.feed_frame, args=(frame,))
    t.start()
    assert inside.wait(10)
    before = rep.report()
    for call in (lambda: rep.feed_frame(frame._replace(t_ns=50_000_000)), rep.flush):
        with pytest.raises(ConcurrentUseError, match="another call is feeding this Replayer"):
            call()
    after = rep.report()
    assert after["frames_read"] == before["frames_read"] == 1 and after["cycles"] == before["cycles"]
    release.set()
    t.join(10)
    assert len(rep.feed_frame(frame._replace(t_ns=50_000_000))) == 1  # free again: fed normally
    with pytest.raises(ShapeError, match="frame: expected a fusion.hil.logs.LogFrame, got NoneType"):
        rep.feed_frame(None)  # type: ignore[arg-type]


def test_extended_and_standard_unknown_ids_of_one_number_are_counted_apart(tmp_path: Path, rig: Path) -> None:
    # the same number as a standard and as an extended id: two frames, two report keys (candump's
    # spelling: up to 3 hex digits for a standard id, 8 for an extended one)
    stray = {}
    for k in range(4):
        stray[10 + k] = can.Message(timestamp=0.5 + 0.05 * k + 0.01, arbitration_id=0x7FF, is_extended_id=k % 2 == 1,
                                    data=bytes(8), channel=0)
    log = _write(tmp_path / "both.blf", _frames(stray))
    code, rep = _report(tmp_path, log, rig)
    assert code == 0
    assert rep["unknown_ids"] == {"0x7FF": 2, "0x000007FF": 2}
