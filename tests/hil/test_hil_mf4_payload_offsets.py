"""A real CANedge MF4 drive with one record's payload offset damaged (session-7 review).

The bus-logging MF4 stores each frame's payload (``CAN_DataFrame.DataBytes``) as a variable-length
sample in a signal-data block; the 22-byte record holds its offset (bytes 14-21). asammdf copies
the samples out in C from each offset and the 4-byte length found there, without a bounds check:
changing one byte of one record's offset (312 -> 307, inside the previous payload) segfaulted
``read_log`` on this drive (found by flipping random bytes of it: 1 crash and 5 bare
MemoryErrors in 460 damaged copies). Now a ``CanLogError`` naming the file, the channel and the
record, before asammdf extracts anything; the undamaged drive still reads whole.

Cost: about a second (needs ../shared/data/can/css-electronics)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from fusion.hil.errors import CanLogError
from fusion.hil.logs import read_log

pytest.importorskip("asammdf", reason="MF4 logs need asammdf: pip install 'fusion[mf4]'")

DRIVE = "css-electronics/3BA199E2/00000164/00000005-60FEB5A8.MF4"
RECORD = 22  # bytes per CAN_DataFrame record of this drive
OFFSET_AT = 14  # where DataBytes' 8-byte offset sits in the record


@pytest.fixture(scope="module")
def drive(can_data: Path) -> bytes:
    path = can_data / DRIVE
    if not path.is_file():
        pytest.skip(f"CSS Electronics MF4 drive not found: {path}")
    return path.read_bytes()


def _records_start(data: bytes) -> int:
    """Where the frame records start: the data block (##DT) of group 0, the large one."""
    at = 0
    while True:
        at = data.index(b"##DT", at + 1)
        if struct.unpack_from("<Q", data, at + 8)[0] > 100_000:
            return at + 24


def _with_offset(data: bytes, record: int, offset: int) -> bytes:
    b = bytearray(data)
    at = _records_start(data) + record * RECORD + OFFSET_AT
    assert struct.unpack_from("<Q", b, at)[0] == 12 * record  # 8-byte payloads: 4 + 8 per sample
    struct.pack_into("<Q", b, at, offset)
    return bytes(b)


def test_the_undamaged_drive_reads_whole(drive: bytes, tmp_path: Path) -> None:
    p = tmp_path / "drive.mf4"
    p.write_bytes(drive)
    assert sum(1 for _ in read_log(p)) == 5477


@pytest.mark.parametrize("offset, match", [
    (307, r"record 25: the sample at offset 300 claims 8 bytes, past the next sample"),  # was a segfault
    (0, r"record 26: its offset 0 is before the previous record's \(300\)"),
    (2**40, r"record 27: its offset 324 is before the previous record's \(1099511627776\)"),
])
def test_a_damaged_payload_offset_is_a_can_log_error(drive: bytes, tmp_path: Path, offset: int, match: str) -> None:
    p = tmp_path / "damaged.mf4"
    p.write_bytes(_with_offset(drive, 26, offset))
    with pytest.raises(CanLogError, match=rf"damaged\.mf4.*damaged MF4: channel 'CAN_DataFrame\.DataBytes' of group 0, "
                                          rf"{match}"):
        for _ in read_log(p):
            pass
