"""Fuzz target: arbitrary bytes as an MF4 CAN log (fusion.hil.logs.read_log on a ``.mf4`` file,
python-can's MF4Reader over asammdf: the ``mf4`` extra; the target is skipped without it).

Documented: CanLogError (file, frame index), FusionError. Checks: frame indices 0, 1, ...; int64
times; ids < 2**29; payloads <= 64 bytes."""

from __future__ import annotations

import importlib.util

from fusion.errors import FusionError
from fusion.hil.logs import read_log

from fuzz_harness import Target, write_input

HAVE_MF4 = importlib.util.find_spec("asammdf") is not None


def run(data: bytes) -> None:
    if not HAVE_MF4:
        return
    path = write_input("log.mf4", data)
    for i, f in enumerate(read_log(path)):
        assert f.frame_index == i, (f.frame_index, i)
        assert isinstance(f.t_ns, int) and -(2**63) <= f.t_ns < 2**63, f
        assert 0 <= f.arbitration_id < 2**29, f
        assert len(f.data) <= 64, f


TARGET = Target("mf4_logs", run, documented=(FusionError,))
