"""candump ids of 3 hex digits are standard 11-bit ids (session-7 review): ``FFF#...`` was read as
a standard frame with id 0xfff, which no classic CAN bus carries, while the C++ example
(csrc/examples/replay_candump.cpp) refuses it naming the line. read_log now refuses a
non-extended id above 0x7ff in any log format, naming the file and line; 3-digit ids up to 7FF
and 8-digit (extended) ids are read as before. Cost: milliseconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusion.hil.errors import CanLogError
from fusion.hil.logs import read_log


def test_standard_id_above_7ff_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "drive.log"
    p.write_text("(1.000000) can0 7FF#11\n(1.100000) can0 00000FFF#22\n(1.200000) can0 FFF#1122\n")
    frames = []
    with pytest.raises(CanLogError, match=r"drive\.log:3 .*standard \(11-bit\) frame id 0xfff is above 0x7ff"):
        for f in read_log(p):
            frames.append(f)
    assert [(f.arbitration_id, f.is_extended_id) for f in frames] == [(0x7FF, False), (0xFFF, True)]
