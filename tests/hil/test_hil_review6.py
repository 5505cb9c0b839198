"""Review 6 regression tests (hil)."""

from __future__ import annotations

import cantools
import pytest

from fusion.errors import TimestampError
from fusion.hil.decoders import make_decoder

DBC = """VERSION ""
BU_: R
BO_ 256 A: 2 R
 SG_ X : 0|8@1+ (1,0) [0|255] "" R
BO_ 512 B: 1 R
 SG_ Z : 0|8@1+ (0.5,0) [0|127] "" R
"""


@pytest.mark.parametrize("t_ns", [2**63, -(2**63) - 1, 2**64])
def test_vehicle_motion_feed_outside_int64_is_a_timestamp_error_and_changes_nothing(t_ns: int) -> None:
    """The ObjectListDecoder refuses such a time (fuzz branch); the VehicleMotionDecoder emitted an
    EgoSample stamped 2**64 ns (or, before its emitting frame, kept the frame's values)."""
    db = cantools.database.load_string(DBC, database_format="dbc")
    dec = make_decoder("vehicle_motion", db, {"speed": {"message": "A", "signal": "X"},
                                              "yaw_rate": {"message": "B", "signal": "Z"}})
    assert dec.feed(0, 256, b"\x07\x00") == []
    with pytest.raises(TimestampError, match=rf"t_ns: {t_ns} is outside int64 \(CAN id 0x200\)"):
        dec.feed(t_ns, 512, b"\x04")
    with pytest.raises(TimestampError, match=r"CAN id 0x100"):
        dec.feed(t_ns, 256, b"\x09\x00")  # refused before decoding: the kept speed stays 7
    (sample,) = dec.feed(10, 512, b"\x04")
    assert (sample.t_ns, sample.speed_mps, sample.yaw_rate_rps) == (10, 7.0, 2.0)
