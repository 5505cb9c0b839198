"""Fuzz target: arbitrary bytes as a sensor stream CSV (fusion.hil.streams.read_stream) for a lidar,
a radar and a camera; the first byte picks strict or lenient.

Documented: StreamError (file, line, column), ConfigurationError; lenient mode warns StreamWarning.
Checks: frames come out in non-decreasing time, each z is (n, M) and finite."""

from __future__ import annotations

from collections import Counter

import numpy as np

from fusion.hil.streams import StreamWarning, read_stream

from fuzz_harness import Target, write_input

COMPONENTS = {"lidar": ["x", "y", "z", "yaw", "l", "w", "h"], "radar": ["range", "azimuth", "range_rate"],
              "camera": ["x1", "y1", "x2", "y2"]}


def run(data: bytes) -> None:
    check_stream(data, "stream.csv")


def check_stream(data: bytes, name: str) -> None:
    """Write ``data[1:]`` as file ``name`` (its suffix picks the reader), read it strict or
    lenient (``data[0]``) and check the frames (shared with the Parquet target)."""
    strict = bool(data[0] & 1) if data else False
    path = write_input(name, data[1:])
    stats: Counter[str] = Counter()
    last = None
    for f in read_stream(path, components=COMPONENTS, strict=strict, stats=stats):
        assert last is None or f.t_ns >= last, (last, f.t_ns)
        last = f.t_ns
        m = len(COMPONENTS[f.sensor])
        assert f.z.ndim == 2 and f.z.shape[1] == m, f
        assert np.isfinite(f.z).all(), f


TARGET = Target("streams", run, allowed_warnings=(StreamWarning,))
