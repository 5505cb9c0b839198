"""fusion.hil.outputs: TrackWriter (CSV / Parquet) rows against the records, byte-identical
reruns, bad input; McapWriter read back with mcap's reader."""

from __future__ import annotations

import csv
import json
import math
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from _track_records import FakeCycle, cycles, random_tracks
from mcap.reader import make_reader

from fusion.errors import ConfigurationError, ShapeError, TimestampError
from fusion.hil.errors import MissingExtraError
from fusion.hil.outputs import TRACK_COLUMNS, McapWriter, TrackWriter, read_tracks


def _write(path: Path, fmt: str, cs: list[FakeCycle]) -> None:
    with TrackWriter(path, fmt) as w:
        for c in cs:
            w.write(c)


def _expected_rows(cs: list[FakeCycle]) -> list[tuple[object, ...]]:
    rows = []
    for c in cs:
        for r, v in zip(c.tracks, c.tracks_vehicle):
            rows.append((c.t_ns, int(r["id"]), *(float(r["box"][i]) for i in (0, 1)),
                         float(r["velocity"][0]), float(r["velocity"][1]), float(r["box"][3]),
                         float(r["box"][4]), float(r["box"][5]), int(r["class_id"]), float(r["existence"]),
                         float(v["box"][0]), float(v["box"][1])))
    return rows


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_track_writer_rows_equal_the_records(tmp_path: Path, fmt: str) -> None:
    cs = cycles(0, 30)
    with_tracks = next(c for c in cs if len(c.tracks) >= 2)
    with_tracks.tracks["box"][1, 0] = np.nan  # NaN survives as NaN
    path = tmp_path / f"tracks.{fmt}"
    _write(path, fmt, cs)
    cols = read_tracks(path)
    assert tuple(cols) == TRACK_COLUMNS
    got = list(zip(*(cols[c].tolist() for c in TRACK_COLUMNS)))
    want = _expected_rows(cs)
    assert len(got) == len(want) == sum(len(c.tracks) for c in cs) > 0

    def same(a: object, b: object) -> bool:
        return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or a == b

    for g, w in zip(got, want):
        assert all(same(a, b) for a, b in zip(g, w)), (g, w)  # exact: floats round-trip
    if fmt == "csv":
        with open(path, newline="") as f:
            header = next(csv.reader(f))
        assert header == list(TRACK_COLUMNS)
    else:
        schema = pq.read_schema(path)
        assert schema.names == list(TRACK_COLUMNS)
        assert [str(t) for t in schema.types] == ["int64", "int64"] + ["double"] * 7 + ["int32"] + ["double"] * 3


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_identical_inputs_give_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    _write(tmp_path / f"a.{fmt}", fmt, cycles(1, 20))
    _write(tmp_path / f"b.{fmt}", fmt, cycles(1, 20))
    _write(tmp_path / f"c.{fmt}", fmt, cycles(2, 20))
    a, b, c = ((tmp_path / f"{n}.{fmt}").read_bytes() for n in "abc")
    assert a == b and a != c


def test_csv_and_parquet_agree(tmp_path: Path) -> None:
    cs = cycles(4, 25)
    _write(tmp_path / "t.csv", "csv", cs)
    _write(tmp_path / "t.parquet", "parquet", cs)
    a, b = read_tracks(tmp_path / "t.csv"), read_tracks(tmp_path / "t.parquet")
    for col in TRACK_COLUMNS:
        assert a[col].dtype == b[col].dtype and np.array_equal(a[col], b[col], equal_nan=True), col


def test_track_writer_bad_input_names_the_argument_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    good = cycles(0, 3)
    w = TrackWriter(path)
    w.write(good[1])
    before = w.rows
    bad_dtype = FakeCycle(5, 10, np.zeros((3, 7)), np.zeros((3, 7)))
    with pytest.raises(ShapeError, match=r"cycle\.tracks"):
        w.write(bad_dtype)
    odo = random_tracks(np.random.default_rng(0), 3)
    with pytest.raises(ShapeError, match=r"cycle\.tracks_vehicle"):
        w.write(FakeCycle(5, 10, odo, odo[::-1]))
    with pytest.raises(ShapeError, match=r"cycle\.tracks_vehicle"):
        w.write(FakeCycle(5, 10, odo, None))
    with pytest.raises(TimestampError, match=r"cycle\.t_ns"):
        w.write(FakeCycle(5, 1.0, odo, odo))  # type: ignore[arg-type]
    assert w.rows == before
    w.close()
    assert len(read_tracks(path)["t_ns"]) == before
    with pytest.raises(ConfigurationError, match="after close"):
        w.write(good[0])
    with pytest.raises(ConfigurationError, match="fmt"):
        TrackWriter(tmp_path / "x.json", "json")
    (tmp_path / "bad.csv").write_text("t_ns,id\n1,2\n")
    with pytest.raises(ShapeError, match="bad.csv"):
        read_tracks(tmp_path / "bad.csv")


def test_missing_extras_name_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingExtraError, match=r"fusion\[parquet\]"):
        TrackWriter(tmp_path / "t.parquet", "parquet")
    monkeypatch.setitem(sys.modules, "mcap", None)
    monkeypatch.setitem(sys.modules, "mcap.writer", None)
    with pytest.raises(MissingExtraError, match=r"fusion\[mcap\]"):
        McapWriter(tmp_path / "t.mcap")


def test_track_writer_thread_safety(tmp_path: Path) -> None:
    """Four threads write cycles at once: every row arrives, each cycle's rows together."""
    cs = cycles(7, 80, n_max=5)
    path = tmp_path / "t.csv"
    w = TrackWriter(path)

    def work(k: int) -> None:
        for c in cs[k::4]:
            w.write(c)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    w.close()
    t = read_tracks(path)["t_ns"]
    assert len(t) == sum(len(c.tracks) for c in cs)
    runs = [v for i, v in enumerate(t.tolist()) if i == 0 or t[i - 1] != v]
    assert len(runs) == len(set(runs))  # no cycle split by another's rows


def test_mcap_writer_reads_back(tmp_path: Path) -> None:
    cs = cycles(3, 12)
    cs[2].ego_pose = None
    with_tracks = next(c for c in cs[3:] if len(c.tracks) >= 2)
    with_tracks.tracks["box"][0, 1] = np.nan  # left out of the scene
    path = tmp_path / "tracks.mcap"
    with McapWriter(path) as w:
        for c in cs:
            w.write(c)
    assert w.messages == len(cs) + sum(c.ego_pose is not None for c in cs)
    with open(path, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        assert summary is not None
        schemas = {s.id: s for s in summary.schemas.values()}
        assert {s.name for s in schemas.values()} == {"foxglove.SceneUpdate", "foxglove.FrameTransform"}
        assert all(s.encoding == "jsonschema" for s in schemas.values())
        json.loads(next(s for s in schemas.values() if s.name == "foxglove.SceneUpdate").data)
        msgs = list(reader.iter_messages())
    scenes = [(ch, m) for s, ch, m in msgs if s is not None and s.name == "foxglove.SceneUpdate"]
    tfs = [(ch, m) for s, ch, m in msgs if s is not None and s.name == "foxglove.FrameTransform"]
    assert len(scenes) == len(cs) and len(tfs) == len(cs) - 1
    assert all(ch.topic == "/tracks" and ch.message_encoding == "json" for ch, _ in scenes)
    assert all(ch.topic == "/tf" for ch, _ in tfs)
    for c, (_, m) in zip(cs, scenes):
        assert m.log_time == m.publish_time == c.t_ns
        scene = json.loads(m.data)
        (entity,) = scene["entities"]
        assert entity["frame_id"] == "odom" and entity["id"] == "tracks"
        assert entity["timestamp"] == {"sec": c.t_ns // 10**9, "nsec": c.t_ns % 10**9}
        finite = [r for r in c.tracks if np.isfinite(r["box"][:2]).all()]
        assert [t["text"] for t in entity["texts"]] == [str(int(r["id"])) for r in finite]
        for cube, r in zip(entity["cubes"], finite):
            assert cube["pose"]["position"] == {"x": r["box"][0], "y": r["box"][1], "z": r["box"][2]}
            assert cube["size"] == {"x": r["box"][4], "y": r["box"][5], "z": r["box"][6]}
            q = cube["pose"]["orientation"]
            assert math.atan2(2 * q["w"] * q["z"], 1 - 2 * q["z"] ** 2) == pytest.approx(
                math.remainder(r["box"][3], 2 * math.pi), abs=1e-12)
    tf = json.loads(tfs[0][1].data)
    assert tf["parent_frame_id"] == "odom" and tf["child_frame_id"] == "base_link"
    assert (tf["translation"]["x"], tf["translation"]["y"]) == cs[0].ego_pose[:2]  # type: ignore[index]


def test_mcap_writer_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        with McapWriter(tmp_path / f"{name}.mcap") as w:
            for c in cycles(9, 15):
                w.write(c)
    assert (tmp_path / "a.mcap").read_bytes() == (tmp_path / "b.mcap").read_bytes()


def test_mcap_writer_thread_safety(tmp_path: Path) -> None:
    """Four threads write at once: every message arrives, sequence numbers unique."""
    cs = cycles(8, 60, n_max=4)
    w = McapWriter(tmp_path / "t.mcap")

    def work(k: int) -> None:
        for c in cs[k::4]:
            w.write(c)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    w.close()
    with open(tmp_path / "t.mcap", "rb") as f:
        msgs = [m for _, _, m in make_reader(f).iter_messages(log_time_order=False)]
    assert len(msgs) == 2 * len(cs) == w.messages
    assert sorted(m.sequence for m in msgs) == list(range(2 * len(cs)))
    assert sorted({m.log_time for m in msgs}) == sorted(c.t_ns for c in cs)


def test_mcap_writer_bad_input(tmp_path: Path) -> None:
    w = McapWriter(tmp_path / "t.mcap")
    odo = random_tracks(np.random.default_rng(0), 2)
    with pytest.raises(TimestampError, match=r"cycle\.t_ns"):
        w.write(FakeCycle(0, -1, odo, odo))
    with pytest.raises(ShapeError, match=r"cycle\.ego_pose"):
        w.write(FakeCycle(0, 1, odo, odo, ego_pose=(1.0,)))  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match=r"cycle\.tracks"):
        w.write(FakeCycle(0, 1, np.zeros(2), odo))
    assert w.messages == 0
    w.close()
    with pytest.raises(ConfigurationError, match="after close"):
        w.write(FakeCycle(0, 1, odo, odo))


def test_end_to_end_with_engine_tracks(tmp_path: Path) -> None:
    """Real engine records (odometry and vehicle frame, moving ego) through every writer: the CSV
    holds both frames' positions, the CAN frames carry the vehicle-frame ones (cantools decode)."""
    import cantools

    from fusion.engine import CONFIRMED, EngineConfig, FusionEngine
    from fusion.engine.config import SensorConfig
    from fusion.hil.publish import TrackEncoder, package_dbc_path

    engine = FusionEngine(EngineConfig(sensors=[SensorConfig(name="lidar", model="lidar_box3d")]))
    objects = np.array([[20.0, 3.0, 0.0, 0.0, 4.5, 1.8, 1.5], [-15.0, -4.0, 0.0, 0.5, 4.0, 1.9, 1.6]])
    encoder = TrackEncoder()
    db = cantools.database.load_file(str(package_dbc_path()))
    out: list[FakeCycle] = []
    for i in range(12):
        t = i * 100_000_000
        engine.ego_motion(t, 10.0, 0.05)
        engine.process("lidar", t, objects)
        odo = engine.tracks(confirmed_only=True, include_deleted=False)
        veh = engine.tracks(confirmed_only=True, include_deleted=False, frame="vehicle")
        pose = engine.ego_pose(t)
        out.append(FakeCycle(i, t, odo, veh, (pose["x_m"], pose["y_m"], pose["yaw_rad"])))
    assert len(out[-1].tracks) == 2 and (out[-1].tracks["status"] == CONFIRMED).all()
    with TrackWriter(tmp_path / "t.csv") as w, McapWriter(tmp_path / "t.mcap") as m:
        for c in out:
            w.write(c)
            m.write(c)
    cols = read_tracks(tmp_path / "t.csv")
    last = cols["t_ns"] == out[-1].t_ns
    assert np.array_equal(cols["x"][last], out[-1].tracks["box"][:, 0])
    assert np.array_equal(cols["x_vehicle"][last], out[-1].tracks_vehicle["box"][:, 0])
    assert not np.allclose(cols["x"][last], cols["x_vehicle"][last])  # the ego moved ~11 m
    frames = encoder.encode(out[-1].index, out[-1].t_ns, out[-1].tracks_vehicle)
    a = [db.decode_message(f.arbitration_id, f.data) for f in frames[1::2]]
    assert [v["PosX"] for v in a] == pytest.approx(out[-1].tracks_vehicle["box"][:, 0].tolist(), abs=0.005)
    assert [v["PosY"] for v in a] == pytest.approx(out[-1].tracks_vehicle["box"][:, 1].tolist(), abs=0.005)
