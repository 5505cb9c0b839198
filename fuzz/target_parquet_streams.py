"""Fuzz target: arbitrary bytes as a Parquet sensor stream (fusion.hil.streams.read_stream on a
``.parquet`` file, pyarrow: the ``parquet`` extra) for a lidar, a radar and a camera; the first
byte picks strict or lenient. The CSV form is the ``streams`` target.

Documented: StreamError (file, row, column), ConfigurationError; lenient mode warns StreamWarning.
Checks: frames come out in non-decreasing time, each z is (n, M) and finite."""

from __future__ import annotations

import importlib.util
from collections import Counter

import numpy as np
from target_streams import COMPONENTS

from fusion.hil.streams import StreamWarning, read_stream

from fuzz_harness import Target, write_input

HAVE_PYARROW = importlib.util.find_spec("pyarrow") is not None


def run(data: bytes) -> None:
    if not HAVE_PYARROW:
        return
    strict = bool(data[0] & 1) if data else False
    path = write_input("stream.parquet", data[1:])
    stats: Counter[str] = Counter()
    last = None
    for f in read_stream(path, components=COMPONENTS, strict=strict, stats=stats):
        assert last is None or f.t_ns >= last, (last, f.t_ns)
        last = f.t_ns
        m = len(COMPONENTS[f.sensor])
        assert f.z.ndim == 2 and f.z.shape[1] == m, f
        assert np.isfinite(f.z).all(), f


TARGET = Target("parquet_streams", run, allowed_warnings=(StreamWarning,))
