"""fusion.datasets.sample_drive: the generated sample drive (CAN log with the project's sensor
DBCs, lidar stream, truth, rig) against the scenario it came from, decoded by cantools and by
the harness's own decoders; determinism; the GOSPA score on known inputs."""

from __future__ import annotations

import math
import threading
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import can
import cantools
import numpy as np
import pytest

from fusion.datasets import make_scenario
from fusion.datasets.driving import DrivingScenario
from fusion.datasets.sample_drive import (
    CAN_CHANNELS,
    DRIVE_EPOCH_NS,
    EVAL_PERIOD_NS,
    FRAME_GAP_NS,
    make_sample_drive,
    rig_toml,
    score,
)
from fusion.datasets.truth import to_vehicle
from fusion.engine import EngineConfig, FusionEngine
from fusion.errors import ConfigurationError, DecodeError
from fusion.hil.dbc import load_dbc
from fusion.hil.decoders import make_decoder
from fusion.hil.streams import read_stream

DURATION = 8.0
FILES = ("drive.blf", "lidar.csv", "truth.npz", "rig.toml")


def _dbc_path(name: str) -> Path:
    return Path(str(resources.files("fusion.hil") / "dbc_files" / f"fusion_{name}.dbc"))


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DrivingScenario]:
    out = tmp_path_factory.mktemp("sample") / "drive"
    make_sample_drive(out, seed=3, duration_s=DURATION)
    return out, make_scenario("highway", 3, DURATION)


def _messages(path: Path) -> list[can.Message]:
    with can.BLFReader(str(path)) as r:
        return list(r)


def _t_ns(msg: can.Message) -> int:
    return round(msg.timestamp * 1e9)


def test_same_arguments_give_byte_identical_files(tmp_path: Path) -> None:
    a = make_sample_drive(tmp_path / "a", seed=1, duration_s=3.0)
    b = make_sample_drive(tmp_path / "b", seed=1, duration_s=3.0)
    c = make_sample_drive(tmp_path / "c", seed=2, duration_s=3.0)
    for name in FILES:
        assert (a.dir / name).read_bytes() == (b.dir / name).read_bytes(), name
    assert (a.dir / "drive.blf").read_bytes() != (c.dir / "drive.blf").read_bytes()
    assert sorted(p.name for p in a.dir.iterdir()) == sorted(FILES)  # no temporaries left
    assert a.can_log == a.dir / "drive.blf" and a.streams == [a.dir / "lidar.csv"]
    assert a.rig == a.dir / "rig.toml" and a.truth == a.dir / "truth.npz"


def test_bad_arguments_write_nothing(tmp_path: Path) -> None:
    for kw in ({"scenario": "moon"}, {"duration_s": 0.0}, {"seed": -1}):
        with pytest.raises(ConfigurationError):
            make_sample_drive(tmp_path / "x", **kw)  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()


def test_blf_timestamps_come_from_the_drive(drive: tuple[Path, DrivingScenario]) -> None:
    out, _sc = drive
    msgs = _messages(out / "drive.blf")
    with can.BLFReader(str(out / "drive.blf")) as r:
        assert r.start_timestamp == DRIVE_EPOCH_NS * 1e-9  # the BLF header: not the wall clock
    t = np.array([_t_ns(m) for m in msgs])
    assert t[0] == DRIVE_EPOCH_NS and np.all(np.diff(t) >= 0)
    assert {m.channel for m in msgs} == set(CAN_CHANNELS.values())


def test_vehicle_frames_round_trip_through_cantools(drive: tuple[Path, DrivingScenario]) -> None:
    out, sc = drive
    db = cantools.database.load_file(str(_dbc_path("vehicle")))
    msgs = [m for m in _messages(out / "drive.blf") if m.channel == CAN_CHANNELS["vehicle"]]
    speed = [(m, db.decode_message(m.arbitration_id, m.data)) for m in msgs if m.arbitration_id == 0x100]
    yaw = [(m, db.decode_message(m.arbitration_id, m.data)) for m in msgs if m.arbitration_id == 0x101]
    steps = np.arange(0, len(sc.ego), 2)  # 50 Hz on the 10 ms grid
    assert len(speed) == len(yaw) == len(steps)
    for k, ((ms, ds), (my, dy)) in enumerate(zip(speed, yaw)):
        st = steps[k]
        assert abs(_t_ns(ms) - (DRIVE_EPOCH_NS + int(sc.ego.t_ns[st]))) < 1000
        assert abs(_t_ns(my) - _t_ns(ms)) < 1000
        assert abs(ds["SPEED"] - sc.ego.speed[st] * 3.6) <= 0.005 / 2 + 1e-9
        assert abs(dy["YAW_RATE"] - math.degrees(sc.ego.yaw_rate[st])) <= 0.002 / 2 + 1e-9
        assert ds["COUNTER"] == dy["COUNTER"] == k % 256


def _sensor_cycles(msgs: list[can.Message], db: cantools.database.Database, header_id: int
                   ) -> Iterator[tuple[can.Message, dict[str, float], list[tuple[can.Message, dict[str, float]]]]]:
    ids = {m.frame_id for m in db.messages}
    mine = [m for m in msgs if m.arbitration_id in ids]
    i = 0
    while i < len(mine):
        h = mine[i]
        assert h.arbitration_id == header_id
        dh = db.decode_message(h.arbitration_id, h.data)
        n = int(dh["NUM_DETECTIONS" if "NUM_DETECTIONS" in dh else "NUM_OBJECTS"])
        objs = [(m, db.decode_message(m.arbitration_id, m.data, decode_choices=False)) for m in mine[i + 1:i + 1 + n]]
        yield h, dh, objs
        i += 1 + n


@pytest.mark.parametrize("kind", ["radar", "camera"])
def test_sensor_frames_round_trip_through_cantools(drive: tuple[Path, DrivingScenario], kind: str) -> None:
    """Every simulated frame is on the bus at its arrival time with its detections, and cantools
    decodes the simulated values back within half the DBC resolution."""
    out, sc = drive
    db = cantools.database.load_file(str(_dbc_path(kind)))
    msgs = [m for m in _messages(out / "drive.blf") if m.channel == CAN_CHANNELS["sensors"]]
    data = sc.data[kind]
    off = data.frame_slices()
    cycles = list(_sensor_cycles(msgs, db, db.messages[0].frame_id))
    assert len(cycles) == data.num_frames > 0
    if kind == "radar":
        sigs, res = ["RANGE", "AZIMUTH", "RANGE_RATE"], np.array([0.005, 0.0001, 0.005])
    else:
        sigs, res = ["X1", "Y1", "X2", "Y2"], np.full(4, 0.125)
    checked = 0
    for f, (h, dh, objs) in enumerate(cycles):
        a, b = int(off[f]), int(off[f + 1])
        arr = DRIVE_EPOCH_NS + int(data.frame_arrival_ns[f])
        assert abs(_t_ns(h) - arr) < 1000
        assert dh["CYCLE_COUNTER"] == f
        assert abs(dh["MEASUREMENT_AGE"] - (data.frame_arrival_ns[f] - data.frame_t_ns[f]) * 1e-9) <= 0.00005 + 1e-12
        assert len(objs) == b - a
        for j, (m, d) in enumerate(objs):
            assert abs(_t_ns(m) - (arr + (j + 1) * FRAME_GAP_NS)) < 1000
            got = np.array([d[s] for s in sigs])
            np.testing.assert_array_less(np.abs(got - data.z[a + j]), res / 2 + 1e-9)
            assert abs(d["SCORE"] - data.score[a + j]) <= (0.005 if kind == "radar" else 0.01) / 2 + 1e-9
            if kind == "radar":
                assert d["DET_INDEX"] == j
            else:
                assert d["CLASS"] == data.class_id[a + j]
            checked += 1
    assert checked == len(data)


def test_rig_decoders_decode_the_log_as_simulated(drive: tuple[Path, DrivingScenario]) -> None:
    """The rig's decoder tables (what `fusion replay` uses) on the harness's own decoders give the
    simulated values (the cantools round trip above is the reference for the encoding)."""
    out, sc = drive
    rig = tomllib.loads((out / "rig.toml").read_text())
    chan = {int(k): v for k, v in rig["channels"].items()}
    decs = {}
    for name, tbl in rig["sensors"].items():
        if tbl["source"] == "can":
            decs[name] = (tbl["bus"], make_decoder(tbl["decoder"], load_dbc(_dbc_path(tbl["dbc"].split(":")[1])),
                                                   tbl["decoder_config"]))
    ego = make_decoder(rig["ego"]["decoder"], load_dbc(_dbc_path("vehicle")), rig["ego"]["decoder_config"])
    cycles: dict[str, list] = {n: [] for n in decs}
    samples = []
    for m in _messages(out / "drive.blf"):
        bus = chan[m.channel]
        if bus == rig["ego"]["bus"]:
            samples += ego.feed(_t_ns(m), m.arbitration_id, bytes(m.data))
        for n, (b, d) in decs.items():
            if b == bus and m.arbitration_id in d.frame_ids:
                cycles[n] += d.feed(_t_ns(m), m.arbitration_id, bytes(m.data))
    assert len(samples) == len(range(0, len(sc.ego), 2))
    np.testing.assert_allclose([s.speed_mps for s in samples], sc.ego.speed[::2], atol=0.005 / 3.6)
    np.testing.assert_allclose([s.yaw_rate_rps for s in samples], sc.ego.yaw_rate[::2], atol=math.radians(0.002))
    for name, comps, tol in (("radar", ["range", "azimuth", "range_rate"], [0.0025001, 0.0000501, 0.0025001]),
                             ("camera", ["x1", "y1", "x2", "y2"], [0.0625001] * 4)):
        data, cyc = sc.data[name], cycles[name]
        assert len(cyc) == data.num_frames and all(c.complete for c in cyc)
        off = data.frame_slices()
        for f, c in enumerate(cyc):
            a, b = int(off[f]), int(off[f + 1])
            # a cycle is complete at its last frame: arrival + n frame gaps
            assert abs(c.t_ns - (DRIVE_EPOCH_NS + int(data.frame_arrival_ns[f]) + (b - a) * FRAME_GAP_NS)) < 1000
            z = np.column_stack([c.fields[k] for k in comps]) if b > a else np.zeros((0, len(comps)))
            err = np.abs(z - data.z[a:b].reshape(-1, len(comps)))
            assert np.all(err <= np.asarray(tol)), (name, f, err.max(axis=0))
        if name == "camera":
            np.testing.assert_array_equal(np.concatenate([c.fields["class_id"] for c in cyc]), data.class_id)


def test_lidar_stream_holds_every_scan(drive: tuple[Path, DrivingScenario]) -> None:
    out, sc = drive
    data = sc.data["lidar"]
    comps = {"lidar": list(sc.sensor("lidar").config.model_info().components)}
    frames = list(read_stream(out / "lidar.csv", components=comps, strict=True))
    assert [f.t_ns for f in frames] == (DRIVE_EPOCH_NS + data.frame_t_ns).tolist()  # empty scans too
    off = data.frame_slices()
    for f, fr in enumerate(frames):
        np.testing.assert_array_equal(fr.z, data.z[off[f]:off[f + 1]])
        np.testing.assert_array_equal(fr.class_id, data.class_id[off[f]:off[f + 1]])


def test_truth_is_in_the_odometry_frame(tmp_path: Path) -> None:
    """Urban: the ego starts away from the world origin and turns, so the odometry frame (the
    vehicle frame at the first ego sample) differs from the world frame."""
    make_sample_drive(tmp_path, scenario="urban", seed=0, duration_s=26.0)
    sc = make_scenario("urban", 0, 26.0)
    with np.load(tmp_path / "truth.npz") as z:
        tr = {k: z[k] for k in z.files}
    E = len(range(0, len(sc.ego), EVAL_PERIOD_NS // sc.truth.dt_ns))
    assert tr["eval_t_ns"].shape == (E,) and tr["eval_ego_pose"].shape == (E, 3)
    n = len(tr["id"])
    assert n > 0 and tr["position"].shape == tr["velocity"].shape == tr["size"].shape == (n, 3)
    assert tr["frame"].shape == tr["yaw"].shape == tr["in_roi"].shape == (n,)
    assert np.all(np.diff(tr["frame"]) >= 0) and tr["frame"].max() < E
    np.testing.assert_array_equal(tr["ego_pose"][0], [0.0, 0.0, 0.0])
    assert abs(tr["ego_pose"][-1, 2]) > 1.0  # the left turn
    # odometry -> vehicle frame with the ego pose at each evaluation time == the scenario's own transform
    steps = (tr["eval_t_ns"][tr["frame"]] - DRIVE_EPOCH_NS) // sc.truth.dt_ns
    rows = sc.truth.lookup(steps, tr["id"])
    assert np.all(rows >= 0)
    vt = to_vehicle(sc.truth, sc.ego, rows)
    ex, ey, eyaw = tr["eval_ego_pose"][tr["frame"]].T
    dx, dy = tr["position"][:, 0] - ex, tr["position"][:, 1] - ey
    np.testing.assert_allclose(np.cos(eyaw) * dx + np.sin(eyaw) * dy, vt.position[:, 0], atol=1e-9)
    np.testing.assert_allclose(-np.sin(eyaw) * dx + np.cos(eyaw) * dy, vt.position[:, 1], atol=1e-9)
    np.testing.assert_array_equal(tr["in_roi"], np.hypot(vt.position[:, 0], vt.position[:, 1]) <= sc.roi_radius_m)


def test_rig_is_the_package_rig_and_matches_the_simulated_sensors(drive: tuple[Path, DrivingScenario]) -> None:
    out, sc = drive
    package_rig = Path(str(resources.files("fusion.hil") / "rigs" / "sample_drive.toml"))
    assert (out / "rig.toml").read_bytes() == package_rig.read_bytes()
    assert rig_toml(make_scenario("stop_and_go", 0, 2.0)) == package_rig.read_text()  # same car sensors
    rig = tomllib.loads(package_rig.read_text())
    assert list(rig["sensors"]) == [s.name for s in sc.sensors]
    cfg = EngineConfig.from_dict({**rig["engine"], "sensors": {n: t["engine"] for n, t in rig["sensors"].items()}})
    assert cfg.to_dict() == sc.engine_config(num_classes=3).to_dict()
    for s in sc.sensors:  # the simulated noise is the engine's R
        np.testing.assert_array_equal(np.sqrt(np.diag(np.asarray(cfg.sensors[[x.name for x in sc.sensors].index(
            s.name)].R))), s.noise_std)


def _replay(out: Path, tmp: Path, *, ego_motion: bool = True) -> dict[str, float | int]:
    """A minimal replay of the drive with its own rig (the CAN frames and the lidar stream merged
    by time into the engine; confirmed tracks written after every frame), scored against its truth."""
    rig = tomllib.loads((out / "rig.toml").read_text())
    cfg = EngineConfig.from_dict({**rig["engine"], "sensors": {n: t["engine"] for n, t in rig["sensors"].items()}})
    eng = FusionEngine(cfg)
    chan = {int(k): v for k, v in rig["channels"].items()}
    comps = {s.name: list(s.model_info().components) for s in cfg.sensors}
    decs = {n: make_decoder(t["decoder"], load_dbc(_dbc_path(t["dbc"].split(":")[1])), t["decoder_config"])
            for n, t in rig["sensors"].items() if t["source"] == "can"}
    ego = make_decoder(rig["ego"]["decoder"], load_dbc(_dbc_path("vehicle")), rig["ego"]["decoder_config"])
    events = [(_t_ns(m), 0, m) for m in _messages(out / "drive.blf")]
    events += [(f.t_ns, 1, f) for f in read_stream(out / "lidar.csv", components={"lidar": comps["lidar"]})]
    lines = ["t_ns,track_id,x,y,vx,vy"]

    def frame(sensor: str, t: int, z: np.ndarray, score: np.ndarray, cls: np.ndarray) -> None:
        eng.process(sensor, t, z, score=score, class_id=cls)
        for r in eng.tracks(confirmed_only=True, include_deleted=False):
            x, y, vx, vy = (float(v) for v in (r["x"][0], r["x"][1], r["velocity"][0], r["velocity"][1]))
            lines.append(f"{t},{r['id']},{x!r},{y!r},{vx!r},{vy!r}")

    for t, kind, m in sorted(events, key=lambda e: (e[0], e[1])):
        if kind == 1:
            frame("lidar", m.t_ns, m.z, m.score, m.class_id)
        elif chan[m.channel] == rig["ego"]["bus"]:
            for smp in ego.feed(t, m.arbitration_id, bytes(m.data)):
                if ego_motion:
                    eng.ego_motion(smp.t_ns, smp.speed_mps, smp.yaw_rate_rps)
        else:
            for n, d in decs.items():
                if m.arbitration_id in d.frame_ids:
                    for c in d.feed(t, m.arbitration_id, bytes(m.data)):
                        z = np.column_stack([c.fields[k] for k in comps[n]]).reshape(len(c), len(comps[n]))
                        frame(n, c.t_ns, z, c.fields["score"], c.fields.get("class_id", np.full(len(c), -1.0))
                              .astype(np.int32))
    (tmp / "tracks.csv").write_text("\n".join(lines) + "\n")
    return score(tmp / "tracks.csv", out / "truth.npz")


def test_the_drive_is_tracked_with_its_own_rig(drive: tuple[Path, DrivingScenario], tmp_path: Path) -> None:
    """End to end with known truth: the rig's decoders and engine tables on the drive's CAN and
    lidar stream track every car (measured: GOSPA 0.43 m over 8 s, most of it the confirmation
    delay at the start); without the vehicle bus's ego motion the tracks stay in the vehicle frame
    and miss the truth, which is in the odometry frame."""
    out, _sc = drive
    s = _replay(out, tmp_path)
    assert s["gospa"] < 1.0 and s["gospa_false"] < 0.5 and s["hota"] > 0.9
    assert s["num_tracks"] == s["num_truth"] > 5
    assert _replay(out, tmp_path, ego_motion=False)["gospa"] > 3.0


# ---------------------------------------------------------------- score

def _truth(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _write_tracks(path: Path, rows: list[tuple[int, int, float, float, float, float]]) -> None:
    lines = ["t_ns,track_id,x,y,vx,vy,yaw,length,width,class,existence,x_vehicle,y_vehicle"]
    lines += [f"{t},{i},{x!r},{y!r},{vx!r},{vy!r},0,4,2,0,1,0,0" for t, i, x, y, vx, vy in rows]
    path.write_text("\n".join(lines) + "\n")


def _truth_rows(tr: dict[str, np.ndarray], shift_ns: int = 0) -> list[tuple[int, int, float, float, float, float]]:
    dt = shift_ns * 1e-9
    return [(int(tr["eval_t_ns"][f]) - shift_ns, int(i), float(p[0] - v[0] * dt), float(p[1] - v[1] * dt),
             float(v[0]), float(v[1])) for f, i, p, v in zip(tr["frame"], tr["id"], tr["position"], tr["velocity"])]


def test_score_of_the_truth_itself_is_zero(drive: tuple[Path, DrivingScenario], tmp_path: Path) -> None:
    out, _sc = drive
    tr = _truth(out / "truth.npz")
    _write_tracks(tmp_path / "t.csv", _truth_rows(tr))
    s = score(tmp_path / "t.csv", out / "truth.npz")
    assert s["gospa"] == s["gospa_loc"] == s["gospa_missed"] == s["gospa_false"] == 0.0
    assert s["hota"] == pytest.approx(1.0, abs=1e-12)
    assert s["num_truth"] == len(np.unique(tr["id"][tr["in_roi"]])) > 3
    assert s["num_tracks"] == s["num_truth"] and s["num_eval"] == len(tr["eval_t_ns"])
    # tracks output 40 ms before each evaluation time are predicted with their velocity
    _write_tracks(tmp_path / "early.csv", _truth_rows(tr, 40_000_000))
    s = score(tmp_path / "early.csv", out / "truth.npz")
    assert s["gospa"] < 1e-6 and s["gospa_missed"] == s["gospa_false"] == 0.0
    # older than max_age_s: no estimate, everything missed
    s = score(tmp_path / "early.csv", out / "truth.npz", max_age_s=0.03)
    assert s["gospa_loc"] == 0.0 and s["gospa_missed"] > 0 and s["num_tracks"] == 0


def test_score_of_no_tracks_is_the_missed_part_only(drive: tuple[Path, DrivingScenario], tmp_path: Path) -> None:
    out, _sc = drive
    tr = _truth(out / "truth.npz")
    _write_tracks(tmp_path / "t.csv", [])
    c = 4.0
    s = score(tmp_path / "t.csv", out / "truth.npz", c=c)
    m = np.bincount(tr["frame"][tr["in_roi"]], minlength=len(tr["eval_t_ns"]))
    assert s["gospa"] == pytest.approx(np.mean(np.sqrt(c ** 2 / 2 * m)), rel=1e-12)
    assert s["gospa_missed"] == pytest.approx(np.mean(c ** 2 / 2 * m), rel=1e-12)
    assert s["gospa_loc"] == s["gospa_false"] == 0.0 and s["num_tracks"] == 0 and s["hota"] == 0.0


def test_score_counts_false_tracks_and_localisation(drive: tuple[Path, DrivingScenario], tmp_path: Path) -> None:
    out, _sc = drive
    tr = _truth(out / "truth.npz")
    rows = _truth_rows(tr)
    moved = [(t, i, x + 1.0, y, vx, vy) for t, i, x, y, vx, vy in rows]  # every track 1 m off
    # one false track per evaluation time, 30 m to the side of the ego (inside the ROI, far from every car)
    false = [(int(t), 999, float(p[0]), float(p[1]) + 30.0, 0.0, 0.0)
             for t, p in zip(tr["eval_t_ns"], tr["eval_ego_pose"])]
    _write_tracks(tmp_path / "t.csv", sorted(moved + false))
    s = score(tmp_path / "t.csv", out / "truth.npz", c=5.0)
    # the ROI applies to the tracks too: a car near its edge may be in while its track is out, or back
    ex, ey, eyaw = tr["eval_ego_pose"][tr["frame"]].T
    dx, dy = tr["position"][:, 0] + 1.0 - ex, tr["position"][:, 1] - ey
    moved_in = np.hypot(np.cos(eyaw) * dx + np.sin(eyaw) * dy, -np.sin(eyaw) * dx + np.cos(eyaw) * dy) <= 60.0
    E = len(tr["eval_t_ns"])
    both = int(np.sum(tr["in_roi"] & moved_in))
    assert both > 3 * E
    assert s["gospa_loc"] == pytest.approx(both / E, rel=1e-9)
    assert s["gospa_missed"] == pytest.approx(12.5 * np.sum(tr["in_roi"] & ~moved_in) / E, rel=1e-12)
    assert s["gospa_false"] == pytest.approx(12.5 * (E + np.sum(~tr["in_roi"] & moved_in)) / E, rel=1e-12)


def test_score_names_a_bad_track_file(drive: tuple[Path, DrivingScenario], tmp_path: Path) -> None:
    out, _sc = drive
    p = tmp_path / "t.csv"
    p.write_text("t_ns,track_id,x,y,vx,vy\n1,2,3,4,5,6\n1,3,x,4,5,6\n")
    with pytest.raises(DecodeError, match=r"t\.csv:3: column 'x'"):
        score(p, out / "truth.npz")
    p.write_text("t_ns,track_id,x,y\n")
    with pytest.raises(DecodeError, match=r"missing column\(s\) \['vx', 'vy'\]"):
        score(p, out / "truth.npz")


def test_concurrent_drives_are_identical(tmp_path: Path) -> None:
    """Thread safety (module docstring): concurrent calls with distinct folders."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            make_sample_drive(tmp_path / str(i), seed=5, duration_s=2.0)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for name in FILES:
        assert len({(tmp_path / str(i) / name).read_bytes() for i in range(3)}) == 1
