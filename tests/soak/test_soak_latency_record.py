"""The replay soak's memory growth (issue 10, benchmarks/RESULTS.md "Soak"): the Replayer's
per-cycle latency record kept the most recent 65,536 latencies in a deque of Python ints, which
grew the process by about 40 bytes a cycle (and about 140 with tracemalloc on: its own tables,
outside the traced heap) for the first 26 minutes of a replay at 42.5 cycles/s. The record is
now preallocated: adding latencies makes nothing that outlives the call.

Cost: about half a second.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

from fusion.hil.report import LatencyHistogram


def test_latency_record_does_not_grow_while_it_fills() -> None:
    rng = np.random.default_rng(3)
    ns = (rng.lognormal(0.0, 1.0, 70_000) * 2e6).astype(np.int64).tolist()  # more than the 65,536 kept
    tracemalloc.start()
    try:
        h = LatencyHistogram()  # the Replayer's default
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for v in ns:
            h.add(v)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # a deque of the ints grew 2.6 MB here; the int64 ring and bins: only the sum's int
    assert grown < 16_384, grown
    recent = h.recent_ns()
    assert len(recent) == 65_536 and recent == ns[-65_536:]
    c = h.copy()
    assert c.recent_ns() == recent and c.count == h.count == 70_000 and c.summary_ms() == h.summary_ms()
    c.add(5)  # the copy is independent
    assert h.recent_ns() == recent and c.recent_ns()[-1] == 5 and c.recent_ns()[0] == recent[1]


def test_latency_record_keep_zero_and_partly_filled() -> None:
    h = LatencyHistogram(keep=0)
    for v in (3, 1_000_000, 7):
        h.add(v)
    assert h.recent_ns() == [] and h.count == 3 and h.max_ns == 1_000_000
    p = LatencyHistogram(keep=5)
    for v in (10, 20, 30):
        p.add(v)
    assert p.recent_ns() == [10, 20, 30]
    for v in (40, 50, 60, 70):
        p.add(v)
    assert p.recent_ns() == [30, 40, 50, 60, 70]
