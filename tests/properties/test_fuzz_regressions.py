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
# counted with on_invalid="skip"; status 2) and leaves it unchanged (strict: every filter).
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
    # strict: all or nothing (session 7), the other filter unchanged too; lenient: its update kept
    assert np.array_equal(bank.x[1], x0[1]) == (on_invalid == "raise")
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


# ---- mf4_logs (session 7): damaged MF4 files that crashed, hung or exhausted memory in asammdf.
# Each test writes a good two-frame MF4 (python-can's writer, as CanLogSink does), damages one
# field where asammdf reads it, and checks that read_log answers CanLogError naming the file.

def _mf4_log(tmp_path: Path) -> bytes:
    pytest.importorskip("asammdf")
    import can

    from fusion.hil.publish import CanLogSink

    p = tmp_path / "good.mf4"
    sink = CanLogSink(p)
    sink.write([can.Message(timestamp=1.0, arbitration_id=0x123, data=b"\x01\x02\x03", channel=0),
                can.Message(timestamp=1.01, arbitration_id=0x1ABCDEF, is_extended_id=True, data=bytes(8), channel=1)])
    sink.close()
    return p.read_bytes()


def _link(d: bytes | bytearray, addr: int, k: int) -> int:
    import struct

    return int(struct.unpack_from("<Q", d, addr + 24 + 8 * k)[0])


def _mf4_blocks(d: bytes) -> tuple[list[int], list[int], dict[str, int]]:
    """Addresses of the channel groups and channels, and the channels by name (MDF 4 links as
    asammdf follows them: HD -> DG chain; DG -> CG chain; CG -> CN chain; CN -> composition)."""
    import struct

    cgs, cns, names = [], [], {}

    def text(addr: int) -> str:
        if not addr or d[addr:addr + 4] != b"##TX":
            return ""
        n = struct.unpack_from("<Q", d, addr + 8)[0]
        return d[addr + 24:addr + n].split(b"\0")[0].decode()

    def channels(addr: int, prefix: str) -> None:
        while addr:
            cns.append(addr)
            names[prefix + text(_link(d, addr, 2))] = addr
            if d[addr:addr + 4] == b"##CN" and _link(d, addr, 1) and d[_link(d, addr, 1):][:4] == b"##CN":
                channels(_link(d, addr, 1), prefix)
            addr = _link(d, addr, 0)

    dg = _link(d, 64, 0)
    while dg:
        cg = _link(d, dg, 1)
        while cg:
            cgs.append(cg)
            channels(_link(d, cg, 1), "")
            cg = _link(d, cg, 0)
        dg = _link(d, dg, 0)
    return cgs, cns, names


def _read_mf4(tmp_path: Path, data: bytes | bytearray) -> None:
    from fusion.hil.logs import read_log

    p = tmp_path / "damaged.mf4"
    p.write_bytes(bytes(data))
    list(read_log(p))


def test_mf4_channel_outside_its_record_is_a_can_log_error_not_a_segfault(tmp_path: Path) -> None:
    """A channel's byte offset far past its record: asammdf's C copy read outside the buffer
    (SIGSEGV)."""
    import struct

    from fusion.hil.errors import CanLogError

    d = bytearray(_mf4_log(tmp_path))
    _, _, names = _mf4_blocks(bytes(d))
    cn = names["CAN_DataFrame.BusChannel"]
    data_at = cn + 24 + 8 * struct.unpack_from("<Q", d, cn + 16)[0]
    struct.pack_into("<I", d, data_at + 4, 134217736)  # byte_offset
    with pytest.raises(CanLogError, match=r"damaged\.mf4.*damaged MF4: channel 'CAN_DataFrame\.BusChannel' .*ends at"):
        _read_mf4(tmp_path, d)
    assert run_one(load_target("mf4_logs"), bytes(d)) is None


@pytest.mark.parametrize("what", ["channel groups", "channels"])
def test_mf4_block_list_that_loops_is_a_can_log_error_not_a_hang(tmp_path: Path, what: str) -> None:
    """A channel group's (or channel's) next link pointing back at itself: asammdf followed it
    for ever (two fuzz timeouts)."""
    import struct

    from fusion.hil.errors import CanLogError

    d = bytearray(_mf4_log(tmp_path))
    cgs, cns, _ = _mf4_blocks(bytes(d))
    block = cgs[-1] if what == "channel groups" else cns[-1]
    struct.pack_into("<Q", d, block + 24, block)
    with pytest.raises(CanLogError, match=rf"damaged MF4: the list of (composed )?{what} loops back to .* {block:#x}"):
        _read_mf4(tmp_path, d)


def test_mf4_record_larger_than_the_file_is_a_can_log_error_not_a_memory_error(tmp_path: Path) -> None:
    """A channel group declaring 4 GB records (with a sample): asammdf tried to allocate them."""
    import struct

    from fusion.hil.errors import CanLogError

    d = bytearray(_mf4_log(tmp_path))
    cgs, _, _ = _mf4_blocks(bytes(d))
    cg = next(c for c in cgs if struct.unpack_from("<Q", d, c + 24 + 6 * 8 + 8)[0] > 0)  # a group with records
    struct.pack_into("<I", d, cg + 24 + 6 * 8 + 24, 0xFFFFFFAB)  # samples_byte_nr
    with pytest.raises(CanLogError, match=r"group \d+ declares 2 records of 4294967211 bytes, more than a \d+-byte"):
        _read_mf4(tmp_path, d)


def test_mf4_compressed_block_with_a_bad_checksum_is_a_can_log_error(tmp_path: Path) -> None:
    """A damaged deflate stream in a ##DZ block: asammdf (with python-isal) raised IsalError,
    which read_log let out."""
    from fusion.hil.errors import CanLogError

    d = bytearray(_mf4_log(tmp_path))
    dz = d.find(b"##DZ")
    if dz < 0:
        pytest.skip("this python-can writes uncompressed MF4 data")
    d[len(d) - 5] ^= 0xFF  # inside the last block's deflate stream: its checksum fails
    with pytest.raises(CanLogError, match=r"damaged\.mf4"):
        _read_mf4(tmp_path, d)


# imm_bank (session 7): set_model_state took a state of 1e248, finite; the combined covariance
# adds the outer product of the models' state differences and became inf (non-finite P out of
# a call that raised nothing).
def test_imm_bank_state_whose_spread_overflows_is_refused_and_changes_nothing() -> None:
    import numpy as np

    from fusion.errors import NumericalError
    from fusion.filters import IMMBank
    from fusion.models import CA2D, CV2D, Position2D

    bank = IMMBank([CV2D(0.2), CA2D(1.0)], Position2D(), 3, M=[[0.9, 0.1], [0.1, 0.9]])
    before = [bank.x.copy(), bank.P.copy(), bank.mode_x(1).copy()]
    x = np.zeros((3, 6))
    x[2, 0] = 1.0650046941055621e248
    with pytest.raises(NumericalError, match=r"set_model_state: x\[1\] \(track 2\): \|value\| = 1.07e\+248 > 1e\+150"):
        bank.set_model_state(1, x=x)
    for a, b in zip([bank.x, bank.P, bank.mode_x(1)], before):
        np.testing.assert_array_equal(a, b)
    x[2, 0] = 1e150  # the largest magnitude taken, but not 1e150 m from the other model's state
    with pytest.raises(NumericalError, match=r"set_model_state: model 1: track 2's model states would lie "
                                             r"7.07e\+149 standard deviations apart"):
        bank.set_model_state(1, x=x)
    for a, b in zip([bank.x, bank.P, bank.mode_x(1)], before):
        np.testing.assert_array_equal(a, b)
    x0 = np.zeros((3, 4))
    x0[2, 0] = 1e150
    bank.set_model_states(x=[x0, x])  # both models there at once: the combined covariance stays finite
    assert np.isfinite(bank.P).all() and np.isfinite(bank.x).all()
    assert bank.x[2, 0] == 1e150


# parquet_streams (session 7): damaged Parquet sensor streams let pyarrow's ArrowInvalid,
# ArrowNotImplementedError, OSError and UnicodeDecodeError out of read_stream. The four inputs
# are kept in fuzz/corpus/parquet_streams/finding_*.bin (first byte: strict or lenient).
@pytest.mark.parametrize("kind, where", [("ArrowInvalid", r":2: damaged Parquet data: ArrowInvalid"),
                                         ("ArrowNotImplementedError", r": not a readable Parquet file: ArrowNotImpl"),
                                         ("OSError", r":2: damaged Parquet data: OSError"),
                                         ("UnicodeDecodeError", r":2: damaged Parquet data: UnicodeDecodeError")])
def test_damaged_parquet_stream_is_a_stream_error(tmp_path: Path, kind: str, where: str) -> None:
    pytest.importorskip("pyarrow")
    from target_streams import COMPONENTS

    from fusion.hil.errors import StreamError
    from fusion.hil.streams import read_stream

    from fuzz_harness import CORPUS_DIR

    data = (CORPUS_DIR / "parquet_streams" / f"finding_{kind}.bin").read_bytes()
    p = tmp_path / "stream.parquet"
    p.write_bytes(data[1:])
    for strict in (True, False):
        with pytest.raises(StreamError, match=rf"stream\.parquet{where}"):
            list(read_stream(p, components=COMPONENTS, strict=strict))
    assert run_one(load_target("parquet_streams"), data) is None


# ego_motion (session 7): a finite but absurd ego speed (1e180 m/s) was integrated into a pose
# 4e181 m away; the next lidar frame's boxes, placed with it, overflowed the box cost
# (NumericalError) after the engine had already predicted its tracks: the failed call changed
# them. Speeds beyond MAX_EGO_SPEED_MPS (yaw rates beyond MAX_EGO_YAW_RATE_RPS) are refused.
def test_absurd_ego_speed_is_refused_and_the_next_frame_changes_nothing_on_failure() -> None:
    import numpy as np

    from fusion.engine import EngineConfig, FusionEngine
    from fusion.engine.engine import MAX_EGO_SPEED_MPS, MAX_EGO_YAW_RATE_RPS
    from fusion.errors import NumericalError

    from fuzz_harness import CORPUS_DIR

    eng = FusionEngine(EngineConfig.car(num_classes=3))
    box = np.array([[10.0, 2.0, 0.0, 0.1, 4.0, 2.0, 1.5]])
    eng.ego_motion(0, 10.0, 0.0)
    eng.process("lidar", 100_000_000, box)
    before = eng.tracks()
    with pytest.raises(NumericalError, match=r"ego_motion: speed_mps\[1\] = 1e\+180 is beyond 10000"):
        eng.ego_motion([200_000_000, 300_000_000], [10.0, 1e180], [0.0, 0.0])
    with pytest.raises(NumericalError, match=r"ego_motion: yaw_rate_rps\[0\] = -5000 is beyond 1000"):
        eng.ego_motion(200_000_000, 10.0, -5000.0)
    assert MAX_EGO_SPEED_MPS == 1e4 and MAX_EGO_YAW_RATE_RPS == 1e3
    assert eng.tracks().tobytes() == before.tobytes()
    eng.ego_motion(200_000_000, MAX_EGO_SPEED_MPS, 0.0)  # the bound itself is taken
    eng.process("lidar", 300_000_000, box)  # and the next frame goes through
    assert run_one(load_target("ego_motion"), (CORPUS_DIR / "ego_motion" / "finding_AssertionError.bin").read_bytes()) \
        is None


# t2t (session 7): a source track with a variance of 4e110 next to variances of 10 (finite,
# symmetric, positive definite to numpy) was taken; a later list's covariance intersection with
# it failed its Cholesky factorisation ("estimate 1: covariance is not SPD") after the list had
# already changed the fused tracks. Covariances with a condition number beyond MAX_CONDITION are
# refused up front, naming the source and the track id.
def test_t2t_numerically_singular_covariance_is_refused_before_anything_changes() -> None:
    import numpy as np

    from fusion.errors import NumericalError
    from fusion.t2t import SourceConfig, TrackFuser, TrackFuserConfig
    from fusion.t2t.fuser import MAX_CONDITION

    from fuzz_harness import CORPUS_DIR

    f = TrackFuser(TrackFuserConfig(sources=[SourceConfig("car"), SourceConfig("rsu")]))
    x = np.array([[10.0, 5.0, 1.0, 0.0], [40.0, -3.0, 0.0, 1.0]])
    f.update("car", 10**9, [1, 2], None, x, np.array([np.eye(4)] * 2))
    before, stats = f.tracks().tobytes(), f.stats()
    P = np.array([np.eye(4)] * 2)
    P[1, 0, 0] = 4.2e110
    with pytest.raises(NumericalError, match=r"source 'rsu', track id 8: P is numerically singular \(condition"):
        f.update("rsu", 10**9 + 10**8, [7, 8], None, x, P)
    assert f.tracks().tobytes() == before and f.stats() == stats
    P[1, 0, 0] = 0.99 * MAX_CONDITION  # ill-conditioned but within the bound: fused
    f.update("rsu", 10**9 + 10**8, [7, 8], None, x, P)
    assert run_one(load_target("t2t"), (CORPUS_DIR / "t2t" / "finding_AssertionError.bin").read_bytes()) is None


# imm_bank (session 7): measurements of 1e58-1e70 m (NIS finite, so taken) moved some models'
# states to ~1e58 while others stayed near 20 m; the mixture's covariance (which adds the squared
# spread of the models' states) became indefinite or non-finite. Fixed by kImmMaxNis (imm.hpp): a
# model whose NIS exceeds 1e10 does not take the measurement. Session 8: finding_non_finite.bin
# still failed that way through set_model_state (a model state set 1e66 from the other's), now
# refused by the spread bound; finding_huge_P.bin (a model covariance set to 4e266 I, whose
# update's posterior drowned in rounding) by the rule that a model whose posterior covariance is
# not positive definite does not take the measurement; finding_denormal_R.bin (R = 1.3e-309 I after
# a 2.3e11 s prediction) by SmallCholesky refusing a denormal pivot (its NaN pivots had passed).
# The inputs are fuzz/corpus/imm_bank/finding_*.bin.
@pytest.mark.parametrize("name", ["finding_indefinite_P.bin", "finding_non_finite.bin", "finding_huge_P.bin",
                                  "finding_denormal_R.bin"])
def test_imm_bank_huge_measurement_keeps_covariances_positive_definite(name: str) -> None:
    from fuzz_harness import CORPUS_DIR

    f = run_one(load_target("imm_bank"), (CORPUS_DIR / "imm_bank" / name).read_bytes())
    assert f is None, f.key


# mf4_logs (session 7, second run): an unfinalised MF4 whose blocks are damaged made asammdf's
# _finalize raise a bare UnboundLocalError. The input is fuzz/corpus/mf4_logs/finding_UnboundLocalError.bin.
def test_mf4_unfinalised_damaged_file_is_a_can_log_error(tmp_path: Path) -> None:
    pytest.importorskip("asammdf")
    from fusion.hil.errors import CanLogError

    from fuzz_harness import CORPUS_DIR

    with pytest.raises(CanLogError, match=r"damaged\.mf4.*UnboundLocalError"):
        _read_mf4(tmp_path, (CORPUS_DIR / "mf4_logs" / "finding_UnboundLocalError.bin").read_bytes())
