"""Fuzz target: arbitrary bytes read as each CAN log format python-can reads (fusion.hil.logs.read_log:
ASC, candump .log, TRC, CSV, BLF; the first input byte picks the format).

Documented: CanLogError (a DecodeError) naming file, line and frame, or ConfigurationError. Checks:
every frame delivered has an int64 time, an id that fits 29 bits, a dlc and payload of CAN (FD) size,
and indices 0, 1, 2, ... in file order."""

from __future__ import annotations

import logging

from fusion.hil.logs import read_log

from fuzz_harness import Bytes, Target, write_input

SUFFIXES = (".asc", ".log", ".trc", ".csv", ".blf")
logging.getLogger("can").setLevel(logging.CRITICAL)  # python-can logs each skipped line


def run(data: bytes) -> None:
    b = Bytes(data)
    suffix = SUFFIXES[b.u8() % len(SUFFIXES)]
    path = write_input("input" + suffix, data[1:])
    for i, f in enumerate(read_log(path, {"0": "radar", 1: "vehicle"})):
        assert f.frame_index == i
        assert -(2 ** 63) <= f.t_ns < 2 ** 63, f
        assert 0 <= f.arbitration_id < 2 ** 29, f
        assert len(f.data) <= 64, f


TARGET = Target("can_logs", run)
