"""CAN decoders by registry key: the object-list decoder on the real RAV4 radar against comma's
decoded oracle, the vehicle-motion decoder against comma's wheel speeds, the header+objects
layout on frames encoded here with cantools, and configuration / bad-frame errors."""

from __future__ import annotations

from pathlib import Path

import cantools
import numpy as np
import pytest

from fusion.errors import ConfigurationError
from fusion.hil.dbc import load_dbc
from fusion.hil.decoders import DECODERS, decoder_class, make_decoder
from fusion.hil.decoders.object_list import ObjectCycle
from fusion.hil.errors import CanFrameError, DbcError
from fusion.hil.logs import read_log

RAV4_LOG = ("comma2k19", "derived", "rav4_2018-08-02--08-34-47_seg40.log")
RADAR = {
    "slots": {"messages": "TRACK_A_{i}", "count": 16},
    "valid": "VALID",
    # sensor frame: x forward, y left (the Denso LAT_DIST is positive to the right)
    "fields": {"x": "LONG_DIST", "y": {"signal": "LAT_DIST", "scale": -1.0}, "range_rate": "REL_SPEED"},
    "polar_from_xy": True,
}
WHEELS = ["WHEEL_SPEED_FL", "WHEEL_SPEED_FR", "WHEEL_SPEED_RL", "WHEEL_SPEED_RR"]


def test_rav4_radar_cycles_equal_comma_oracle(can_data: Path) -> None:
    db = load_dbc(can_data / "opendbc" / "toyota_adas.dbc")
    dec = make_decoder("dbc_object_list", db, RADAR)
    cycles: list[ObjectCycle] = []
    for f in read_log(can_data.joinpath(*RAV4_LOG), {"can1": "radar"}):
        if f.channel == "radar" and f.arbitration_id in dec.frame_ids:
            cycles += dec.feed(f.t_ns, f.arbitration_id, f.data)
    cycles += dec.flush()
    assert len(cycles) == 1200 and all(c.complete for c in cycles)  # 20 Hz for 60 s, no cut cycle
    assert dict(dec.stats) == {"frames": 19200, "decoded": 19200, "cycles": 1200}
    t = np.concatenate([c.frame_t_ns for c in cycles])
    can_id = np.concatenate([c.can_id for c in cycles])
    x, y, vr = (np.concatenate([c.fields[k] for c in cycles]) for k in ("x", "y", "range_rate"))
    oracle = can_data / "comma2k19" / "processed_log" / "CAN" / "radar"
    ot, ov = np.load(oracle / "t"), np.load(oracle / "value")
    assert len(t) == len(ot) == 10100  # every VALID TRACK_A frame, and only those
    # the same frames: pair them by (time in microseconds, the candump log's resolution; CAN id)
    ours = np.lexsort((can_id, np.round(t / 1e3)))
    theirs = np.lexsort((ov[:, 5], np.round(ot * 1e6)))
    t, can_id, x, y, vr, ot, ov = t[ours], can_id[ours], x[ours], y[ours], vr[ours], ot[theirs], ov[theirs]
    np.testing.assert_array_equal(can_id, ov[:, 5].astype(np.uint32))
    assert np.abs(t - ot * 1e9).max() <= 1_000
    # comma's frame (openpilot): dRel = LONG_DIST + 2.7 m, yRel = -LAT_DIST, vRel = REL_SPEED
    np.testing.assert_allclose(x + 2.7, ov[:, 0], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(y, ov[:, 1])
    np.testing.assert_array_equal(vr, ov[:, 2])
    c = cycles[600]
    np.testing.assert_allclose(c.fields["range"], np.hypot(c.fields["x"], c.fields["y"]))
    np.testing.assert_allclose(c.fields["azimuth"], np.arctan2(c.fields["y"], c.fields["x"]))
    assert all(c.t_ns >= c.frame_t_ns.max() for c in cycles if len(c))  # t_ns: the last frame, valid or not


def test_rav4_wheel_speeds_equal_comma_oracle(can_data: Path) -> None:
    pt = load_dbc(can_data / "opendbc" / "generated" / "toyota_new_mc_pt_generated.dbc")
    dec = make_decoder("vehicle_motion", pt, {
        "yaw_rate": {"message": "KINEMATICS", "signal": "YAW_RATE", "unit": "deg/s"},
        "wheel_speeds": {"message": "WHEEL_SPEEDS", "signals": WHEELS, "unit": "km/h"},
        "emit_on": "wheel_speeds"})
    samples = []
    for f in read_log(can_data.joinpath(*RAV4_LOG), {"can0": "vehicle"}):
        if f.channel == "vehicle" and f.arbitration_id in dec.frame_ids:
            samples += dec.feed(f.t_ns, f.arbitration_id, f.data)
    oracle = can_data / "comma2k19" / "processed_log" / "CAN"
    wheels, speed = np.load(oracle / "wheel_speed" / "value"), np.load(oracle / "speed" / "value")[:, 0]
    assert len(samples) == len(wheels) == 4974
    np.testing.assert_array_equal(np.array([s.wheel_speeds_mps for s in samples]), wheels)
    np.testing.assert_allclose([s.speed_mps for s in samples], speed, rtol=0, atol=1e-12)  # mean of the 4
    yaw = np.array([s.yaw_rate_rps for s in samples])
    assert np.isfinite(yaw).all() and np.radians(-2.3) <= yaw.min() and yaw.max() <= np.radians(0.5)
    assert all(a.t_ns < b.t_ns for a, b in zip(samples, samples[1:]))


def test_speed_message_and_sample_and_hold(can_data: Path) -> None:
    pt = load_dbc(can_data / "opendbc" / "generated" / "toyota_new_mc_pt_generated.dbc")
    dec = make_decoder("vehicle_motion", pt, {
        "speed": {"message": "SPEED", "signal": "SPEED", "unit": "km/h"},
        "yaw_rate": {"message": "KINEMATICS", "signal": "YAW_RATE", "unit": "deg/s"}})
    speed = pt.get_message_by_name("SPEED")
    kin = pt.get_message_by_name("KINEMATICS")
    kin_data = kin.encode({"YAW_RATE": 2.0, "ACCEL_X": 0.0, "ACCEL_Y": 0.0, "STEERING_TORQUE": 0}, strict=False)
    assert dec.feed(1, kin.frame_id, kin_data) == []  # no speed yet
    assert dec.feed(2, speed.frame_id, speed.encode({"SPEED": 36.0, "ENCODER": 0, "CHECKSUM": 0},
                                                    strict=False)) == []  # speed does not emit
    [s] = dec.feed(3, kin.frame_id, kin_data)
    ref = kin.decode(kin_data)["YAW_RATE"]
    assert s.t_ns == 3 and s.speed_mps == pytest.approx(10.0) and s.yaw_rate_rps == pytest.approx(np.radians(ref))
    assert s.wheel_speeds_mps is None


HEADER_DBC = """VERSION ""
BS_:
BU_: CAM
BO_ 1280 OBJ_HDR: 8 CAM
 SG_ NUM_OBJECTS : 0|8@1+ (1,0) [0|64] "" Vector__XXX
 SG_ CYCLE : 8|16@1+ (1,0) [0|65535] "" Vector__XXX
BO_ 1281 OBJ: 8 CAM
 SG_ ID : 0|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ POS_X : 8|16@1- (0.01,0) [-300|300] "m" Vector__XXX
 SG_ POS_Y : 24|16@1- (0.01,0) [-300|300] "m" Vector__XXX
 SG_ EXIST : 40|1@1+ (1,0) [0|1] "" Vector__XXX
"""


@pytest.fixture
def camera() -> tuple[object, cantools.database.can.Database]:
    db = cantools.database.load_string(HEADER_DBC, database_format="dbc")
    cfg = {"header": {"message": "OBJ_HDR", "count": "NUM_OBJECTS"}, "objects": {"message": "OBJ"},
           "valid": "EXIST", "fields": {"x": "POS_X", "y": "POS_Y", "id": "ID"}}
    return make_decoder("dbc_object_list", db, cfg), db


def _frames(db: cantools.database.can.Database, count: int, objects: list[tuple[float, float, int]]):
    hdr, obj = db.get_message_by_name("OBJ_HDR"), db.get_message_by_name("OBJ")
    yield hdr.frame_id, hdr.encode({"NUM_OBJECTS": count, "CYCLE": 7})
    for i, (x, y, e) in enumerate(objects):
        yield obj.frame_id, obj.encode({"ID": i, "POS_X": x, "POS_Y": y, "EXIST": e})


def test_header_plus_objects_layout(camera) -> None:
    dec, db = camera
    out = []
    t = 0
    # a full cycle (one object not existing), a cycle cut off by the next header, then one at the end
    for count, objs in ((3, [(10.5, -1.25, 1), (20.0, 3.0, 0), (-5.0, 0.5, 1)]), (4, [(1.0, 2.0, 1)]),
                        (2, [(7.0, 7.0, 1), (8.0, 8.0, 1), (9.0, 9.0, 1)])):
        for fid, data in _frames(db, count, objs):
            t += 1000
            out += dec.feed(t, fid, data)
    out += dec.flush()
    assert [(c.complete, c.expected, len(c)) for c in out] == [(True, 3, 2), (False, 4, 1), (True, 2, 2)]
    np.testing.assert_array_equal(out[0].fields["x"], [10.5, -5.0])
    np.testing.assert_array_equal(out[0].fields["y"], [-1.25, 0.5])
    np.testing.assert_array_equal(out[0].fields["id"], [0, 2])
    np.testing.assert_array_equal(out[0].slot, [0, 2])
    assert out[0].t_ns == 4000 and out[1].t_ns == 6000
    assert dec.stats["cut_cycles"] == 1 and dec.stats["orphan_objects"] == 1  # the 3rd object of a 2-object cycle


def test_wrong_length_is_counted_or_raised(camera) -> None:
    dec, db = camera
    hdr = db.get_message_by_name("OBJ_HDR")
    assert dec.feed(5, hdr.frame_id, b"\x01\x00\x00") == []
    assert dec.stats["wrong_length"] == 1 and dec.wrong_length[hdr.frame_id] == 1
    strict = decoder_class("dbc_object_list")(db, dict(dec.config), strict=True)
    with pytest.raises(CanFrameError, match=r"CAN id 0x500 at t_ns=5: OBJ_HDR: expected 8 data bytes, but got 3"):
        strict.feed(5, hdr.frame_id, b"\x01\x00\x00")
    with pytest.raises(CanFrameError, match="0x7FF"):
        strict.feed(6, 0x7FF, b"\x00" * 8)


def test_registry_and_configuration_errors(can_data: Path) -> None:
    db = load_dbc(can_data / "opendbc" / "toyota_adas.dbc")
    assert set(DECODERS) == {"dbc_object_list", "vehicle_motion"}
    with pytest.raises(ConfigurationError, match="unknown decoder 'radar'; available: dbc_object_list, vehicle_motion"):
        make_decoder("radar", db, {})
    with pytest.raises(ConfigurationError, match="exactly one of 'slots'"):
        make_decoder("dbc_object_list", db, {"fields": {"x": "LONG_DIST"}})
    with pytest.raises(DbcError, match="message 'TRACK_C_0' is not in the DBC"):
        make_decoder("dbc_object_list", db, {**RADAR, "slots": {"messages": "TRACK_C_{i}", "count": 2}})
    with pytest.raises(DbcError, match=r"signal 'RANGE' is not in message TRACK_A_0 \(signals: COUNTER, "):
        make_decoder("dbc_object_list", db, {**RADAR, "fields": {"x": "RANGE", "y": "LAT_DIST"}})
    with pytest.raises(ConfigurationError, match="unknown unit 'furlong'"):
        make_decoder("dbc_object_list", db, {**RADAR, "fields": {"x": {"signal": "LONG_DIST", "unit": "furlong"},
                                                                 "y": "LAT_DIST"}})
    with pytest.raises(ConfigurationError, match="vehicle_motion.yaw_rate: missing"):
        make_decoder("vehicle_motion", db, {"speed": {"message": "TRACK_A_0", "signal": "LONG_DIST"}})
    with pytest.raises(DbcError, match="does not parse"):
        bad = can_data.parent / "nonexistent-dir"
        load_dbc(can_data / "opendbc" / "toyota_radar_dsu_tssp.dbc")  # the stray CM_ line (see the data README)
    assert not bad.exists()


def _raw_obj(db: cantools.database.can.Database, pos_x_raw: int, exist: int) -> tuple[int, bytes]:
    # POS_X beyond the DBC's [-300|300] m: the 16-bit signal holds up to 327.67 m
    obj = db.get_message_by_name("OBJ")
    raw = obj.encode({"ID": 0, "POS_X": 0.0, "POS_Y": 0.0, "EXIST": exist}, scaling=False)
    data = bytearray(raw)
    data[1:3] = pos_x_raw.to_bytes(2, "little", signed=True)
    return obj.frame_id, bytes(data)


def test_signal_outside_its_dbc_range_is_counted_or_raised(camera) -> None:
    dec, db = camera
    hdr = db.get_message_by_name("OBJ_HDR")
    dec.feed(1, hdr.frame_id, hdr.encode({"NUM_OBJECTS": 2, "CYCLE": 1}))
    fid, data = _raw_obj(db, 32000, 1)  # 320 m, a valid object
    assert cantools.database.load_string(HEADER_DBC, database_format="dbc").decode_message(fid, data)["POS_X"] == 320.0
    dec.feed(2, fid, data)
    out = dec.feed(3, *_raw_obj(db, 31000, 0))  # 310 m in an invalid slot: a placeholder, not checked
    assert dec.stats["out_of_range"] == 1 and dec.out_of_range[fid] == 1
    np.testing.assert_array_equal(out[0].fields["x"], [320.0])  # lenient: counted, the value kept
    strict = decoder_class("dbc_object_list")(db, dict(dec.config), strict=True)
    strict.feed(1, hdr.frame_id, hdr.encode({"NUM_OBJECTS": 2, "CYCLE": 1}))
    with pytest.raises(CanFrameError, match=r"CAN id 0x501 at t_ns=2: OBJ.POS_X = 320.0 is outside its DBC "
                                            r"range \[-300, 300\]"):
        strict.feed(2, fid, data)
    assert strict.feed(3, *_raw_obj(db, 30000, 1)) == []  # 300 m: at the bound, inside
    assert strict.stats["out_of_range"] == 1
    off = decoder_class("dbc_object_list")(db, {**dec.config, "check_ranges": False}, strict=True)
    off.feed(1, hdr.frame_id, hdr.encode({"NUM_OBJECTS": 1, "CYCLE": 1}))
    assert len(off.feed(2, fid, data)) == 1 and off.stats["out_of_range"] == 0
    with pytest.raises(ConfigurationError, match="check_ranges: expected true or false"):
        decoder_class("dbc_object_list")(db, {**dec.config, "check_ranges": "no"})


def test_a_zero_zero_dbc_range_means_none() -> None:
    text = HEADER_DBC.replace('[-300|300] "m" Vector__XXX\n SG_ POS_Y', '[0|0] "m" Vector__XXX\n SG_ POS_Y')
    db = cantools.database.load_string(text, database_format="dbc")
    dec = make_decoder("dbc_object_list", db, {"header": {"message": "OBJ_HDR", "count": "NUM_OBJECTS"},
                                               "objects": {"message": "OBJ"}, "valid": "EXIST",
                                               "fields": {"x": "POS_X", "y": "POS_Y"}}, strict=True)
    hdr = db.get_message_by_name("OBJ_HDR")
    dec.feed(1, hdr.frame_id, hdr.encode({"NUM_OBJECTS": 1, "CYCLE": 1}))
    assert len(dec.feed(2, *_raw_obj(db, -32000, 1))) == 1 and dec.stats["out_of_range"] == 0
