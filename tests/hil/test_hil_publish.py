"""fusion.hil.publish: the project's track DBCs, TrackEncoder against cantools (decode and encode
parity, clamping, NaN, id wrap, dropped objects) and CanLogSink against python-can's readers."""

from __future__ import annotations

import importlib.resources
import math
import sys
import threading
from pathlib import Path

import can
import cantools
import numpy as np
import pytest
from _track_records import random_tracks, track_dtype

from fusion.errors import ConfigurationError, ShapeError, TimestampError
from fusion.hil.canfast import CompiledDbc
from fusion.hil.errors import DbcError, MissingExtraError
from fusion.hil.publish import HEADER, CanLogSink, TrackEncoder, package_dbc_path

# Signal -> (track role, scale, DBC min, DBC max) as documented in publish.py / ARCHITECTURE.md.
CLASSIC_RANGES = {"PosX": (0.01, -327.67, 327.67), "PosY": (0.01, -327.67, 327.67),
                  "VelX": (0.01, -327.67, 327.67), "VelY": (0.01, -327.67, 327.67),
                  "Length": (0.01, 0.0, 40.94), "Width": (0.01, 0.0, 10.22), "Heading": (0.1, -180.0, 180.0),
                  "Class": (1, 0, 14), "Existence": (0.01, 0.0, 1.0), "Status": (1, 0, 3)}
FD_RANGES = dict(CLASSIC_RANGES, PosX=(0.01, -5242.87, 5242.87), PosY=(0.01, -5242.87, 5242.87),
                 PosZ=(0.01, -327.67, 327.67), Height=(0.01, 0.0, 10.22))


def _physical(tracks: np.ndarray) -> dict[str, np.ndarray]:
    """The values the DBC carries, computed here from the records (vehicle frame)."""
    box, vel = tracks["box"], tracks["velocity"]
    yaw = np.degrees(np.arctan2(np.sin(box[:, 3]), np.cos(box[:, 3])))
    yaw = np.where(np.isclose(yaw, 180.0), -180.0, yaw)
    return {"PosX": box[:, 0], "PosY": box[:, 1], "PosZ": box[:, 2], "VelX": vel[:, 0], "VelY": vel[:, 1],
            "Length": box[:, 4], "Width": box[:, 5], "Height": box[:, 6], "Heading": yaw,
            "Class": tracks["class_id"].astype(float), "Existence": tracks["existence"],
            "Status": tracks["status"].astype(float)}


@pytest.mark.parametrize("fd", [False, True])
def test_dbc_parses_strict_and_round_trips_through_cantools_dump(fd: bool) -> None:
    path = package_dbc_path(fd)
    assert path == importlib.resources.files("fusion.hil").joinpath(
        "dbc_files", "fusion_tracks_fd.dbc" if fd else "fusion_tracks.dbc")
    db = cantools.database.load_file(str(path), strict=True)
    db2 = cantools.database.load_string(db.as_dbc_string(), database_format="dbc", strict=True)
    assert len(db2.messages) == len(db.messages) == (65 if fd else 129)
    for m, m2 in zip(db.messages, db2.messages):
        assert (m.name, m.frame_id, m.length, m.is_fd, m.is_extended_frame) == \
               (m2.name, m2.frame_id, m2.length, m2.is_fd, m2.is_extended_frame)
        assert m.is_fd == fd
        for s, s2 in zip(m.signals, m2.signals, strict=True):
            assert (s.name, s.start, s.length, s.byte_order, s.is_signed, s.scale, s.offset, s.minimum,
                    s.maximum, s.unit, dict(s.choices or {})) == \
                   (s2.name, s2.start, s2.length, s2.byte_order, s2.is_signed, s2.scale, s2.offset, s2.minimum,
                    s2.maximum, s2.unit, dict(s2.choices or {}))
    # the documented layout
    hdr = db.get_message_by_name(HEADER)
    assert hdr.frame_id == 0x600
    ranges = FD_RANGES if fd else CLASSIC_RANGES
    for k in range(64):
        objs = [db.get_message_by_name(f"FUSION_TRACK_{k:02d}")] if fd else \
            [db.get_message_by_name(f"FUSION_TRACK_A_{k:02d}"), db.get_message_by_name(f"FUSION_TRACK_B_{k:02d}")]
        assert [m.frame_id for m in objs] == ([0x610 + k] if fd else [0x610 + k, 0x650 + k])
        assert all(m.length == (64 if fd else 8) for m in objs)
        sigs = {s.name: s for m in objs for s in m.signals}
        assert set(sigs) == set(ranges) | {"TrackId"}
        for name, (scale, lo, hi) in ranges.items():
            assert (sigs[name].scale, sigs[name].minimum, sigs[name].maximum) == (scale, lo, hi), name


def _frames_by_slot(msgs: list[can.Message], fd: bool) -> list[list[can.Message]]:
    per = 1 if fd else 2
    body = msgs[1:]
    return [body[i:i + per] for i in range(0, len(body), per)]


@pytest.mark.parametrize("fd", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_round_trip_against_cantools(fd: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 65))
    tracks = random_tracks(rng, n, spread=400.0 if seed % 2 else 100.0)  # odd seeds: out-of-range positions
    if n > 3:
        tracks["box"][0, 0] = np.nan  # NaN -> INVALID
        tracks["velocity"][1, 1] = np.nan
        tracks["box"][2, 0:2] = -0.004  # rounds to -0.0
    enc = TrackEncoder(fd=fd)
    t_ns = int(rng.integers(0, 2**62))
    msgs = enc.encode(seed, t_ns, tracks)
    db = cantools.database.load_file(str(package_dbc_path(fd)))
    assert len(msgs) == 1 + n * (1 if fd else 2)
    assert all(m.is_fd == fd and m.timestamp == t_ns * 1e-9 and not m.is_extended_id for m in msgs)
    hdr = db.decode_message(msgs[0].arbitration_id, msgs[0].data)
    assert hdr["CycleCounter"] == seed and hdr["NumObjects"] == n
    assert (hdr["TimestampNs"] == t_ns) if fd else (hdr["TimestampUs"] == (t_ns // 1000) % 2**40)

    phys = _physical(tracks)
    ranges = FD_RANGES if fd else CLASSIC_RANGES
    decoded = enc.decode(msgs)
    assert len(decoded) == 1 and decoded[0]["complete"] and len(decoded[0]["tracks"]) == n
    expect_clamped: dict[str, int] = {}
    for k, frames in enumerate(_frames_by_slot(msgs, fd)):
        ref: dict[str, object] = {}
        for f in frames:
            ref.update(db.decode_message(f.arbitration_id, f.data, decode_choices=True))
            # cantools' own encode of the decoded values gives the same bytes (strict range check included
            # for frames without INVALID)
            raw = db.decode_message(f.arbitration_id, f.data, decode_choices=False, scaling=False)
            assert db.get_message_by_frame_id(f.arbitration_id).encode(raw, scaling=False) == bytes(f.data)
        assert ref["TrackId"] == int(tracks["id"][k])
        mine = decoded[0]["tracks"][k]
        for name, (scale, lo, hi) in ranges.items():
            v = phys[name][k]
            if np.isnan(v):
                assert str(ref[name]) == "INVALID"
                continue
            clipped = min(max(v, lo), hi)
            if clipped != v:
                expect_clamped[name] = expect_clamped.get(name, 0) + 1
            got = ref[name]
            got_v = float(getattr(got, "value", got))
            assert abs(got_v - clipped) <= scale / 2 + 1e-9, (name, k, v, got)
        # TrackEncoder.decode == cantools (physical values; heading in rad)
        for name, key in (("PosX", "x"), ("PosY", "y"), ("VelX", "vx"), ("VelY", "vy"), ("Length", "length"),
                          ("Width", "width"), ("Existence", "existence"), ("Class", "class_id"),
                          ("TrackId", "id")):
            if str(ref[name]) == "INVALID":
                assert math.isnan(mine[key])
            else:
                assert mine[key] == ref[name], name
        assert mine["yaw"] == math.radians(ref["Heading"])
        assert mine["status"] == int(getattr(ref["Status"], "value", ref["Status"]))
    s = enc.stats()
    assert s["clamped"] == expect_clamped
    assert s["invalid"] == ({"PosX": 1, "VelY": 1} if n > 3 else {})
    assert (s["cycles"], s["frames"], s["objects"], s["dropped_objects"]) == (1, len(msgs), n, 0)


def test_edge_values_negative_max_id_clamped_wrapped() -> None:
    t = np.zeros(5, track_dtype())
    t["id"] = [0, 65535, 65536, 70000, 2**40]
    t["box"][:, 0] = [-327.67, -327.675, -1000.0, 327.67, np.inf]
    t["box"][:, 1] = [-0.01, -12.345, 5.0, -5.0, 0.0]
    t["box"][:, 3] = [np.pi, -np.pi, 1.5 * np.pi, -0.00049, 3.0]
    t["box"][:, 4] = [0.0, 40.94, 41.0, -1.0, 4.5]
    t["class_id"] = [0, 14, 15, -1, 2]
    t["existence"] = [0.0, 1.0, 1.5, -0.5, 0.994]
    t["status"] = 1
    enc = TrackEncoder()
    msgs = enc.encode(65536 + 3, -5_000, t)
    db = cantools.database.load_file(str(package_dbc_path()))
    hdr = db.decode_message(0x600, msgs[0].data)
    assert hdr == {"CycleCounter": 3, "NumObjects": 5, "TimestampUs": 2**40 - 5}
    out = enc.decode(msgs)[0]
    assert out["t_ns"] == (2**40 - 5) * 1000 and out["cycle_counter"] == 3
    tr = out["tracks"]
    assert [x["id"] for x in tr] == [0, 65535, 0, 70000 - 65536, 0]
    assert [x["x"] for x in tr] == [-327.67, -327.67, -327.67, 327.67, 327.67]
    assert [x["y"] for x in tr] == [-0.01, -12.34, 5.0, -5.0, 0.0]  # -12.345 / 0.01 = -1234.4999...
    assert [round(math.degrees(x["yaw"]), 6) for x in tr] == [-180.0, -180.0, -90.0, -0.0, 171.9]
    assert [x["length"] for x in tr] == [0.0, 40.94, 40.94, 0.0, 4.5]
    assert [x["class_id"] for x in tr] == [0, 14, 14, 0, 2]
    assert [x["existence"] for x in tr] == [0.0, 1.0, 1.0, 0.0, 0.99]
    s = enc.stats()
    assert s["id_wrapped"] == 3
    assert s["clamped"] == {"PosX": 3, "Length": 2, "Class": 2, "Existence": 2}
    # what cantools decodes from the same bytes
    b1 = db.decode_message(0x651, msgs[4].data)
    assert b1["TrackId"] == 65535 and b1["Length"] == 40.94 and b1["Heading"] == -180.0


def test_max_id_fd_and_negative_timestamp() -> None:
    t = np.zeros(2, track_dtype())
    t["id"] = [2**32 - 1, 2**32]
    t["box"][:, 0] = [-5242.87, 5300.0]
    enc = TrackEncoder(fd=True)
    msgs = enc.encode(2**32 + 1, -123_456_789, t)
    db = cantools.database.load_file(str(package_dbc_path(True)))
    assert db.decode_message(0x600, msgs[0].data) == {"CycleCounter": 1, "NumObjects": 2, "NumDropped": 0,
                                                      "TimestampNs": -123_456_789}
    obj = [db.decode_message(m.arbitration_id, m.data) for m in msgs[1:]]
    assert [o["TrackId"] for o in obj] == [2**32 - 1, 0]
    assert [o["PosX"] for o in obj] == [-5242.87, 5242.87]
    assert enc.stats()["clamped"] == {"PosX": 1} and enc.stats()["id_wrapped"] == 1


@pytest.mark.parametrize("fd", [False, True])
def test_more_objects_than_max_objects_sends_the_nearest_and_counts_the_rest(fd: bool) -> None:
    rng = np.random.default_rng(3)
    t = random_tracks(rng, 70, spread=50.0)
    d = np.hypot(t["box"][:, 0], t["box"][:, 1])
    t["box"][5, 0] = np.nan  # unknown distance: dropped first
    enc = TrackEncoder(fd=fd)
    msgs = enc.encode(0, 0, t)
    out = enc.decode(msgs)[0]
    assert out["num_objects"] == 64 and len(out["tracks"]) == 64
    far = set(np.argsort(np.where(np.isnan(t["box"][:, 0]), np.inf, d))[64:].tolist())
    assert 5 in far
    kept = [int(t["id"][i]) for i in range(70) if i not in far]  # input order
    assert [x["id"] for x in out["tracks"]] == kept
    assert enc.stats()["dropped_objects"] == 6
    assert out["num_dropped"] == (6 if fd else None)
    small = TrackEncoder(fd=fd, max_objects=3)
    msgs = small.encode(1, 0, t[:5])
    assert small.decode(msgs)[0]["num_objects"] == 3 and small.stats()["dropped_objects"] == 2
    assert len(msgs) == 1 + 3 * (1 if fd else 2)


def test_empty_cycle_and_decode_of_cut_cycles() -> None:
    enc = TrackEncoder()
    empty = enc.encode(4, 10_000, np.zeros(0, track_dtype()))
    assert len(empty) == 1
    t = random_tracks(np.random.default_rng(1), 3)
    full = enc.encode(5, 20_000, t)
    cut = full[:4]  # header, A0, B0, A1: slot 1 half, slot 2 missing
    stray = can.Message(arbitration_id=0x123, data=b"\x00" * 8)
    out = enc.decode([full[2], *empty, stray, *cut, *enc.encode(6, 30_000, t)])
    assert [c["cycle_counter"] for c in out] == [4, 5, 6]
    assert [len(c["tracks"]) for c in out] == [0, 2, 3]
    assert [c["complete"] for c in out] == [True, False, True]
    # a frame of the wrong length (a 4-byte B frame) is skipped and counted; the slot is incomplete
    short = can.Message(arbitration_id=full[2].arbitration_id, data=bytes(full[2].data)[:4])
    out = enc.decode([full[0], full[1], short, *full[3:]])
    assert out[0]["bad_frames"] == 1 and not out[0]["complete"]
    assert [x["id"] for x in out[0]["tracks"][1:]] == t["id"][1:].tolist()


def test_bad_input_is_refused_and_counts_nothing() -> None:
    enc = TrackEncoder()
    good = random_tracks(np.random.default_rng(0), 2)
    before = enc.stats()
    with pytest.raises(ShapeError, match="tracks_vehicle"):
        enc.encode(0, 0, np.zeros((2, 7)))
    with pytest.raises(ShapeError, match="tracks_vehicle.*box"):
        enc.encode(0, 0, np.zeros(2, [("id", "i8"), ("box", "f8", (3,)), ("velocity", "f8", (3,)),
                                        ("class_id", "i4"), ("existence", "f8")]))
    with pytest.raises(ShapeError, match="tracks_vehicle.*'id'"):
        enc.encode(0, 0, np.zeros(2, [("id", "f8"), ("box", "f8", (7,)), ("velocity", "f8", (3,)),
                                        ("class_id", "i4"), ("existence", "f8")]))
    with pytest.raises(ShapeError, match="tracks_vehicle.*existence"):
        enc.encode(0, 0, good[["id", "box", "velocity", "class_id"]])
    with pytest.raises(ShapeError, match="tracks_vehicle"):
        enc.encode(0, 0, [1, 2])  # type: ignore[arg-type]
    with pytest.raises(TimestampError, match="t_ns"):
        enc.encode(0, 1.5e9, good)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="cycle_counter"):
        enc.encode(-1, 0, good)
    assert enc.stats() == before
    with pytest.raises(ConfigurationError, match="max_objects"):
        TrackEncoder(max_objects=65)
    with pytest.raises(ConfigurationError, match="max_objects"):
        TrackEncoder(max_objects=0)
    with pytest.raises(DbcError, match="CAN FD"):
        TrackEncoder(package_dbc_path(True), fd=False)


def test_compiled_fast_path_reads_the_track_dbc_like_cantools() -> None:
    """fusion's own decoder path (canfast, used by the replay's decoders) decodes our frames
    to cantools' values: a receiver built on this project can read its own tracks."""
    for fd in (False, True):
        db = cantools.database.load_file(str(package_dbc_path(fd)))
        fast = CompiledDbc(db)
        msgs = TrackEncoder(fd=fd).encode(9, 123_456_000, random_tracks(np.random.default_rng(5), 10))
        for m in msgs:
            ref = db.decode_message(m.arbitration_id, m.data, decode_choices=False)
            got = fast.decode(m.arbitration_id, bytes(m.data))
            assert got == pytest.approx({k: float(v) for k, v in ref.items()}, rel=0, abs=0), m


def test_encode_thread_safety() -> None:
    """Several threads encode at once: each gets the frames of a serial call, counters add up."""
    enc = TrackEncoder()
    sets = [random_tracks(np.random.default_rng(i), 20, spread=400.0) for i in range(8)]
    serial = [[bytes(m.data) for m in TrackEncoder().encode(i, i, s)] for i, s in enumerate(sets)]
    results: list[list[list[bytes]]] = [[] for _ in sets]

    def work(i: int) -> None:
        for _ in range(20):
            results[i].append([bytes(m.data) for m in enc.encode(i, i, sets[i])])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(sets))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for i in range(len(sets)):
        assert all(r == serial[i] for r in results[i])
    s = enc.stats()
    assert s["cycles"] == 20 * len(sets) and s["objects"] == 20 * 20 * len(sets)


def test_frames_through_a_virtual_bus_decode_back() -> None:
    enc = TrackEncoder()
    t = random_tracks(np.random.default_rng(11), 7)
    msgs = enc.encode(1, 5_000_000, t)
    with can.Bus(interface="virtual", channel="fusion-publish-test", receive_own_messages=False) as tx, \
            can.Bus(interface="virtual", channel="fusion-publish-test") as rx:
        for m in msgs:
            tx.send(m)
        got = [rx.recv(timeout=1.0) for _ in msgs]
    assert all(g is not None for g in got)
    assert enc.decode(got)[0]["tracks"] == enc.decode(msgs)[0]["tracks"]  # type: ignore[arg-type]


READABLE = [".asc", ".blf", ".csv", ".db", ".log", ".mf4", ".trc"]
FD_FLAG_KEPT = {".asc", ".blf", ".log", ".mf4"}


@pytest.mark.parametrize("fd", [False, True])
@pytest.mark.parametrize("suffix", READABLE)
def test_can_log_sink_every_writer_format_reads_back(tmp_path: Path, suffix: str, fd: bool) -> None:
    enc = TrackEncoder(fd=fd)
    rng = np.random.default_rng(2)
    msgs = [m for i in range(3) for m in enc.encode(i, 1_700_000_000_000_000_000 + i * 50_000_000,
                                                        random_tracks(rng, 4))]
    path = tmp_path / f"tracks{suffix}"
    if fd and suffix == ".trc":
        with pytest.raises(ConfigurationError, match="TRC"), CanLogSink(path) as sink:
            sink.write(msgs)
        return
    with CanLogSink(path) as sink:
        sink.write(msgs[:5])
        sink.write(msgs[5:])
    assert sink.frames == len(msgs)
    with can.LogReader(str(path)) as reader:
        back = list(reader)
    assert len(back) == len(msgs)
    assert [m.arbitration_id for m in back] == [m.arbitration_id for m in msgs]
    assert [bytes(m.data) for m in back] == [bytes(m.data) for m in msgs]
    t0 = back[0].timestamp - msgs[0].timestamp if suffix == ".asc" else 0.0  # ASC: relative times
    assert all(abs(b.timestamp - t0 - m.timestamp) < 2e-6 for b, m in zip(back, msgs))
    if suffix in FD_FLAG_KEPT:
        assert all(b.is_fd == fd for b in back)
    cycles = enc.decode(back)
    assert [c["cycle_counter"] for c in cycles] == [0, 1, 2] and all(c["complete"] for c in cycles)


def test_can_log_sink_bad_suffix_missing_extra_and_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match=r"\.xyz"):
        CanLogSink(tmp_path / "t.xyz")
    monkeypatch.setitem(sys.modules, "asammdf", None)
    with pytest.raises(MissingExtraError, match=r"fusion\[mf4\]"):
        CanLogSink(tmp_path / "t.mf4")
    monkeypatch.undo()
    with CanLogSink(tmp_path / "t.txt") as printer:  # python-can's Printer: text only, no reader
        printer.write(TrackEncoder().encode(0, 0, random_tracks(np.random.default_rng(0), 1)))
    assert "610" in (tmp_path / "t.txt").read_text()
    enc = TrackEncoder()
    path = tmp_path / "threads.log"
    sink = CanLogSink(path)
    batches = [enc.encode(i, i * 1000, random_tracks(np.random.default_rng(i), 5)) for i in range(40)]

    def work(start: int) -> None:
        for b in batches[start::4]:
            sink.write(b)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    sink.close()
    sink.close()
    with pytest.raises(ConfigurationError, match="after close"):
        sink.write(batches[0])
    with can.LogReader(str(path)) as reader:
        back = list(reader)
    cycles = enc.decode(back)
    # every write stayed together: 40 complete cycles, each with its 5 tracks
    assert sorted(c["cycle_counter"] for c in cycles) == list(range(40))
    assert all(c["complete"] and len(c["tracks"]) == 5 for c in cycles)


def test_custom_dbc_with_the_same_names(tmp_path: Path) -> None:
    """A rig's own DBC with the shipped names but another Heading scale: the encoder follows it
    (cantools decodes the frames with that DBC); a slot laid out unlike slot 0 is refused."""
    text = package_dbc_path().read_text()
    coarse = tmp_path / "coarse.dbc"
    fine = "SG_ Heading : 38|12@1- (0.1,0) [-180|180]"
    coarse.write_text(text.replace(fine, fine.replace("0.1", "0.5")))
    t = random_tracks(np.random.default_rng(4), 6)
    msgs = TrackEncoder(coarse).encode(0, 0, t)
    db = cantools.database.load_file(str(coarse))
    heading = [db.decode_message(m.arbitration_id, m.data)["Heading"] for m in msgs[2::2]]
    want = np.degrees(np.arctan2(np.sin(t["box"][:, 3]), np.cos(t["box"][:, 3])))
    assert np.abs(np.array(heading) - want).max() <= 0.25 + 1e-9
    assert all(h * 2 == round(h * 2) for h in heading)
    i = text.index("BO_ 1621 FUSION_TRACK_B_05")
    odd = tmp_path / "odd.dbc"
    odd.write_text(text[:i] + text[i:].replace("(0.1,0)", "(0.5,0)", 1))
    with pytest.raises(DbcError, match="FUSION_TRACK_B_05"):
        TrackEncoder(odd)
    with pytest.raises(DbcError, match="does not exist"):
        TrackEncoder(tmp_path / "missing.dbc")


@pytest.mark.parametrize("suffix", [".blf", ".log", ".csv", ".db"])
def test_can_log_sink_is_deterministic(tmp_path: Path, suffix: str) -> None:
    """Identical frames give byte-identical files in these formats (the replay's tracks.blf)."""
    enc = TrackEncoder()
    msgs = [m for i in range(4) for m in enc.encode(i, 10**9 + i * 5 * 10**7,
                                                    random_tracks(np.random.default_rng(i), 3))]
    for name in ("a", "b"):
        with CanLogSink(tmp_path / f"{name}{suffix}") as sink:
            sink.write(msgs)
    assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
