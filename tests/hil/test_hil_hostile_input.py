"""Hostile input to the HIL harness (review of session 4): timestamps that do not fit int64
nanoseconds, frame ids and bytes outside their integer types, configuration numbers that are
not finite numbers, object counts that would allocate without bound. Each is a typed
fusion.errors error naming what and where, never a silent wrap or a bare built-in error."""

from __future__ import annotations

from pathlib import Path

import cantools
import numpy as np
import pytest

from fusion.errors import ConfigurationError, DecodeError
from fusion.hil.canfast import CompiledDbc
from fusion.hil.decoders import make_decoder
from fusion.hil.errors import CanFrameError, CanLogError
from fusion.hil.logs import read_log, read_logs

DBC = """VERSION ""
BU_: R
BO_ 256 A: 2 R
 SG_ X : 0|8@1+ (1,0) [0|255] "" R
 SG_ Y : 8|8@1+ (1,0) [0|255] "" R
BO_ 512 B: 1 R
 SG_ Z : 0|8@1+ (0.5,0) [0|127] "" R
"""
CSV_HEADER = "timestamp,arbitration_id,extended,remote,error,dlc,data\n"


@pytest.fixture
def compiled() -> CompiledDbc:
    return CompiledDbc(cantools.database.load_string(DBC, database_format="dbc"))


@pytest.mark.parametrize("stamp", ["nan", "inf", "-inf", "1e300", "-9.3e9"])
def test_log_timestamp_outside_int64_ns_names_file_and_line(tmp_path: Path, stamp: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(CSV_HEADER + "1.5,0x100,0,0,0,2,AQI=\n" + f"{stamp},0x100,0,0,0,2,AQI=\n")
    frames = []
    with pytest.raises(CanLogError, match="timestamp") as err:
        for f in read_log(path):
            frames.append(f)
    assert err.value.path == path and err.value.line == 3 and err.value.frame_index == 1
    assert [f.t_ns for f in frames] == [1_500_000_000]  # the frame before the damage was delivered


def test_log_timestamp_at_the_range_edge_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "edge.csv"
    path.write_text(CSV_HEADER + "-9.1e9,0x100,0,0,0,2,AQI=\n9.1e9,0x100,0,0,0,2,AQI=\n")
    assert [f.t_ns for f in read_log(path)] == [-9_100_000_000_000_000_000, 9_100_000_000_000_000_000]


def test_read_logs_channel_map_length_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(CSV_HEADER)
    with pytest.raises(ConfigurationError, match="one mapping per log"):
        read_logs([path], [None, None])


@pytest.mark.parametrize("frame_id", [-1, 2**32 + 256, 2**64, "256", 1.0, None, True])
def test_decode_bad_frame_id_is_a_frame_error(compiled: CompiledDbc, frame_id: object) -> None:
    with pytest.raises(CanFrameError, match="frame id"):
        compiled.decode(frame_id, b"\x01\x02")  # type: ignore[arg-type]
    if not isinstance(frame_id, (bool, float)):  # the unchecked fast path takes what Cython converts
        with pytest.raises(CanFrameError, match="frame id"):
            compiled.decode_scratch(frame_id, b"\x01\x02")  # type: ignore[arg-type]


@pytest.mark.parametrize("data", ["ab", None, 12, [1, 2]])
def test_decode_bad_payload_type_is_a_frame_error(compiled: CompiledDbc, data: object) -> None:
    with pytest.raises(CanFrameError, match="data"):
        compiled.decode(256, data)  # type: ignore[arg-type]
    with pytest.raises(CanFrameError, match="data"):
        compiled.decode_scratch(256, data)  # type: ignore[arg-type]


def test_decode_scratch_takes_python_can_bytearray(compiled: CompiledDbc) -> None:
    # can.Message.data is a bytearray: the per-frame path decodes it as the bytes it holds
    assert compiled.decode_scratch(256, bytearray(b"\x07\x09")) == 0
    assert compiled.scratch[:2].tolist() == [7.0, 9.0]


def test_decode_into_checks_out(compiled: CompiledDbc) -> None:
    with pytest.raises(CanFrameError, match="out"):
        compiled.decode_into(256, b"\x01\x02", np.zeros(4, np.float32))
    with pytest.raises(CanFrameError, match="out"):
        compiled.decode_into(256, b"\x01\x02", np.zeros(1))
    out = np.zeros(2)
    assert compiled.decode_into(256, b"\x01\x02", out) == 0 and out.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(("ids", "data", "lengths", "what"), [
    ([2**32 + 256], [[1, 2]], None, "frame_ids"),       # would wrap to 256 and decode as message A
    (np.array([-1]), [[1, 2]], None, "frame_ids"),
    (["x"], [[1, 2]], None, "frame_ids"),
    ([256], [[300, 2]], None, "data"),                  # would wrap to 44
    ([256], [[1.7, 2.0]], None, "data"),                # would truncate to 1
    ([256], [[1, 2]], [2**40], "lengths"),
])
def test_decode_batch_refuses_values_outside_their_types(compiled: CompiledDbc, ids: object, data: object,
                                                        lengths: object, what: str) -> None:
    with pytest.raises(CanFrameError, match=what):
        compiled.decode_batch(ids, data, lengths)  # type: ignore[arg-type]


def test_decode_batch_exact_integers_of_other_dtypes_still_decode(compiled: CompiledDbc) -> None:
    r = compiled.decode_batch(np.array([256, 512, 7], np.int64), np.array([[1, 2], [4, 0], [0, 0]], np.int64),
                               np.array([2, 1, 2], np.int64))
    assert r.status.tolist() == [0, 1, -1]
    assert r.values[0, :2].tolist() == [1.0, 2.0] and r.values[1, 0] == 2.0


def test_decoder_feed_bad_frame_id_is_a_frame_error() -> None:
    db = cantools.database.load_string(DBC, database_format="dbc")
    dec = make_decoder("dbc_object_list", db, {"slots": {"messages": ["A"]}, "fields": {"x": "X"}})
    with pytest.raises(DecodeError, match="frame id"):
        dec.feed(0, -1, b"\x01\x02")
    out = dec.feed(0, 256, bytearray(b"\x01\x02"))  # type: ignore[arg-type]  # a python-can payload
    assert len(out) == 1 and out[0].fields["x"].tolist() == [1.0]


@pytest.mark.parametrize("cfg", [
    {"slots": {"messages": "A{i}", "count": 10**9}, "fields": {"x": "X"}},   # would build 10**9 names
    {"slots": {"messages": "A{i}", "count": True}, "fields": {"x": "X"}},
    {"header": {"message": "A", "count": "X"}, "objects": {"message": "B"}, "fields": {"z": "Z"},
     "max_objects": 10**12},                                                # would allocate 10**12 rows
    {"header": {"message": "A", "count": "X"}, "objects": {"message": "B"}, "fields": {"z": "Z"},
     "max_objects": "many"},
    {"slots": {"messages": ["A"]}, "fields": {"x": {"signal": "X", "scale": "two"}}},
    {"slots": {"messages": ["A"]}, "fields": {"x": {"signal": "X", "offset": float("nan")}}},
])
def test_object_list_configuration_errors(cfg: dict[str, object]) -> None:
    db = cantools.database.load_string(DBC, database_format="dbc")
    with pytest.raises(ConfigurationError, match="dbc_object_list"):
        make_decoder("dbc_object_list", db, cfg)


@pytest.mark.parametrize("bad", [{"scale": "x"}, {"scale": float("inf")}, {"offset": None}])
def test_vehicle_motion_configuration_numbers(bad: dict[str, object]) -> None:
    db = cantools.database.load_string(DBC, database_format="dbc")
    with pytest.raises(ConfigurationError, match="vehicle_motion.yaw_rate"):
        make_decoder("vehicle_motion", db, {"speed": {"message": "A", "signal": "X"},
                                            "yaw_rate": {"message": "B", "signal": "Z", **bad}})
