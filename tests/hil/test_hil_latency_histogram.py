"""The Replayer's latency record is a fixed-size histogram: percentiles within 1 us or 0.2 % of
numpy's nearest-rank percentiles on the same samples, exact count/mean/max, no growth."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.hil.report import LatencyHistogram, latency_summary


@pytest.mark.parametrize("scale_ns", [2e5, 3e6, 4e8])
def test_percentiles_match_numpy_nearest_rank(scale_ns: float) -> None:
    rng = np.random.default_rng(7)
    ns = rng.lognormal(0.0, 1.0, 20_000) * scale_ns
    ns = np.concatenate([ns, [0, 1, 999, 1000, 2_047_999, 2_048_000]]).astype(np.int64)
    h = LatencyHistogram(keep=100)
    for v in ns:
        h.add(int(v))
    for q in (1.0, 50.0, 90.0, 99.0, 99.9, 100.0):
        want = float(np.percentile(ns, q, method="inverted_cdf"))
        got = h.percentile_ns(q)
        assert got is not None
        assert abs(got - want) <= max(1000.0, 0.002 * want), (q, got, want)
    s = h.summary_ms()
    ref = latency_summary(ns)
    assert s is not None and ref is not None
    assert s["max"] == ref["max"] and s["mean"] == pytest.approx(ref["mean"], rel=1e-12)
    assert h.count == ns.size and h.recent_ns() == [int(v) for v in ns[-100:]]


def test_memory_is_fixed_and_extremes_are_kept() -> None:
    h = LatencyHistogram(keep=10)
    assert h.summary_ms() is None and h.percentile_ns(50.0) is None
    n_bins = len(h._bins)
    for v in (-5, 0, 10**18, 2**63 - 1):  # negative clamps to 0; beyond 4.8 h: the last bin, max exact
        h.add(v)
    for k in range(100_000):
        h.add(k * 997)
    assert len(h._bins) == n_bins and len(h.recent_ns()) == 10
    assert h.max_ns == 2**63 - 1 and h.count == 100_004
    assert h.percentile_ns(100.0) is not None and h.percentile_ns(100.0) <= h.max_ns
