"""Fuzz target: arbitrary bytes as a Parquet sensor stream (fusion.hil.streams.read_stream on a
``.parquet`` file, pyarrow: the ``parquet`` extra) for a lidar, a radar and a camera; the first
byte picks strict or lenient. The CSV form is the ``streams`` target.

Documented: StreamError (file, row, column), ConfigurationError; lenient mode warns StreamWarning.
Checks: frames come out in non-decreasing time, each z is (n, M) and finite."""

from __future__ import annotations

import importlib.util

from target_streams import check_stream

from fusion.hil.streams import StreamWarning

from fuzz_harness import Target

HAVE_PYARROW = importlib.util.find_spec("pyarrow") is not None


def run(data: bytes) -> None:
    if HAVE_PYARROW:
        check_stream(data, "stream.parquet")


TARGET = Target("parquet_streams", run, allowed_warnings=(StreamWarning,))
