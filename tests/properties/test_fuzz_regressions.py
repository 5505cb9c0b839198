"""Inputs the fuzzer (scripts/fuzz.py) and the property tests found that broke a documented
contract, replayed through their fuzz target and checked directly. Each names what it found."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusion.errors import DecodeError
from fusion.kitti import io

from fuzz_harness import load_target, run_one


# kitti_io: a KITTI label / calibration / seqmap file with bytes that are not UTF-8 raised a bare
# UnicodeDecodeError (read_detections and read_camera_detections already gave DecodeError).
@pytest.mark.parametrize("reader,selector", [(io.read_labels, 0), (io.read_calib, 3), (io.read_seqmap, 4)])
def test_kitti_reader_non_utf8_is_a_decode_error(tmp_path: Path, reader: object, selector: int) -> None:
    p = tmp_path / "0000.txt"
    p.write_bytes(b"0 1 Car 0 0 -1.5 \xa3\xff 150.0\n")
    with pytest.raises(DecodeError, match=r"0000\.txt(:\d+)?: not UTF-8 text"):
        reader(p)
    assert run_one(load_target("kitti_io"), bytes([selector]) + p.read_bytes()) is None


# can_logs: a TRC header whose $STARTTIME is too large for a date made python-can raise a bare
# OverflowError out of read_log.
_TRC_HUGE_START = b";$FILEVERSION=1.1\n;$STARTTIME=4600077777777777.5\n     1)        10.0  Rx         0200  8  00 01\n"
# can_logs: a CSV log row with an arbitration id of hundreds of bits was delivered as a frame.
_CSV_HUGE_ID = (b"timestamp,arbitration_id,extended,remote,error,dlc,data\n"
                b"0.02,0x20888888888888888888888888888888888888881,0,0,0,8,ARAnAAAAAMg=\n")


@pytest.mark.parametrize("suffix,selector,data", [(".trc", 2, _TRC_HUGE_START), (".csv", 3, _CSV_HUGE_ID)],
                         ids=["trc_huge_starttime", "csv_huge_id"])
def test_can_log_damage_is_a_can_log_error(tmp_path: Path, suffix: str, selector: int, data: bytes) -> None:
    from fusion.hil.errors import CanLogError
    from fusion.hil.logs import read_log

    p = tmp_path / f"drive{suffix}"
    p.write_bytes(data)
    with pytest.raises(CanLogError, match=r"drive\.(trc|csv)") as info:
        list(read_log(p))
    assert info.value.path == p and info.value.frame_index == 0
    assert run_one(load_target("can_logs"), bytes([selector]) + data) is None


# kitti_io: a label row of an object type (here a misspelt "DontCare") with a negative box size
# was accepted; only DontCare rows may carry KITTI's negative placeholders, and other rows only
# h w l = -1 -1 -1 (KITTI's "no 3D box" of a 2D-only row; NaN refused too).
@pytest.mark.parametrize("row", [b"1 -1 DoutCare -1 -1 -10 50.0 60.0 70.0 80.0 -1 -2 -1 -1000 -1000 -1000 -10\n",
                                 b"0 1 Car 0 0 -1.5 100.0 150.0 300.0 250.0 nan 1.6 4.0 2.0 1.6 15.0 -1.5\n"],
                         ids=["negative_size", "nan_height"])
def test_kitti_label_bad_size_is_a_decode_error(tmp_path: Path, row: bytes) -> None:
    p = tmp_path / "0001.txt"
    if b"DoutCare" in row:
        p.write_bytes(row.replace(b"DoutCare", b"DontCare"))
        assert len(io.read_labels(p)) == 1  # DontCare rows keep their placeholders
    p.write_bytes(row)
    try:
        io.read_labels(p)
    except DecodeError as e:
        assert "0001.txt:1: h: " in str(e)
    else:
        raise AssertionError("read_labels accepted a bad box size")
    assert run_one(load_target("kitti_io"), b"\x00" + row) is None


# test_prop_filters (hypothesis, long profile): a UKF bank (CTRV, radar) predicted 3 x 2 s, then
# updated with a return at the radar's origin (range 0; any z: P's update does not depend on it),
# ended with an indefinite P (an eigenvalue of -1098) and status 0: P - K Pxz^T with the Merwe
# weights' negative centre weight. Now the update fails for that filter (NumericalError, or
# counted with on_invalid="skip"; status 2) and leaves it unchanged.
@pytest.mark.parametrize("on_invalid", ["raise", "skip"])
def test_ukf_bank_update_never_leaves_an_indefinite_covariance(on_invalid: str) -> None:
    import numpy as np

    from fusion.errors import NumericalError
    from fusion.filters import UnscentedKalmanFilterBank
    from fusion.models import CTRV, RadarPolar

    bank = UnscentedKalmanFilterBank(CTRV(4.0, 1.0), RadarPolar(), 2, on_invalid=on_invalid)
    bank.x = np.array([[10.0, 0, 0, 0, 0], [20.0, 0, 5.0, 0, 0]])
    P = np.eye(5)
    P[2:4, 2:4] = [[1.1176470588235299, -0.4705882352941176], [-0.4705882352941176, 2.8823529411764706]]
    bank.P = np.stack([P, 0.01 * np.eye(5)])  # filter 1: a well-known state, which updates fine
    bank.R = np.eye(3)
    for _ in range(3):
        bank.predict(2.0)
    x0, P0 = bank.x.copy(), bank.P.copy()
    z = np.array([[0.0, 0.0, 0.0], [50.0, 0.0, 5.0]])  # filter 0: at the radar (any z fails there)
    if on_invalid == "raise":
        with pytest.raises(NumericalError, match="filter 0"):
            bank.update(z)
    else:
        with pytest.warns(RuntimeWarning, match="1 skipped"):
            assert bank.update(z) == 1
        assert bank.skipped == 1
    assert list(bank.status) == [2, 0]
    np.testing.assert_array_equal(bank.x[0], x0[0])
    np.testing.assert_array_equal(bank.P[0], P0[0])
    assert not np.array_equal(bank.x[1], x0[1])  # the other filter's update is kept
    for M in bank.P:
        assert np.linalg.eigvalsh(M).min() > 0


# can_decode: an object-list decoder fed a frame time beyond int64 raised a bare OverflowError
# (storing it in its int64 time column) after it had counted the frame. The input: the radar DBC,
# a start time near 2**63 and frames 3 ms apart.
_CAN_DECODE_INT64 = bytes.fromhex(
    "000008ffffffffff7f0000c80000000000001c0000c8" + "58" * 103 + "0102fe0205060001c80010203040506070")


def test_object_list_decoder_time_outside_int64_is_a_timestamp_error() -> None:
    from fusion.errors import TimestampError
    from fusion.hil.dbc import load_dbc
    from fusion.hil.decoders import make_decoder
    from fusion.hil.rig import package_dbc

    target = load_target("can_decode")
    dec = make_decoder("dbc_object_list", load_dbc(package_dbc("radar")), target.run.__globals__["_RADAR"])
    header = bytes([1, 0, 2, 0, 0, 0, 0, 0])  # cycle 1, 2 detections
    assert dec.feed(10**9, 0x200, header) == []
    before = dict(dec.stats)
    with pytest.raises(TimestampError, match="outside int64"):
        dec.feed(2**63, 0x201, bytes(8))
    assert dict(dec.stats) == before  # the refused frame changed nothing
    assert run_one(target, _CAN_DECODE_INT64) is None
