"""fusion.metrics.ospa: OSPA, GOSPA and match_ids against hand-computed values, a brute-force
oracle, Stone Soup's OSPAMetric / GOSPAMetric on the same inputs, and bad input."""

from __future__ import annotations

import datetime
import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment as scipy_lsa
from stonesoup.metricgenerator.ospametric import GOSPAMetric, OSPAMetric
from stonesoup.types.array import StateVector
from stonesoup.types.state import State

from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.metrics import GospaResult, gospa, match_ids, ospa

T0 = datetime.datetime(2025, 1, 1)


def _states(points: np.ndarray) -> list[State]:
    return [State(StateVector(list(p)), timestamp=T0) for p in points]


def _brute_force(x: np.ndarray, y: np.ndarray, c: float, p: float) -> tuple[float, float]:
    """(OSPA, GOSPA) by enumerating every injection of the smaller set into the larger one."""
    m, n = len(x), len(y)
    d = np.linalg.norm(x[:, None] - y[None], axis=2) if m and n else np.zeros((m, n))
    small, big = (m, n) if m <= n else (n, m)
    best_o = best_g = np.inf
    for perm in itertools.permutations(range(big), small):
        pairs = [(i, j) if m <= n else (j, i) for i, j in enumerate(perm)]
        dd = np.array([d[i, j] for i, j in pairs])
        best_o = min(best_o, np.sum(np.minimum(dd, c) ** p))
        inside = dd < c
        best_g = min(best_g, np.sum(dd[inside] ** p) + c ** p / 2 * (m + n - 2 * inside.sum()))
    o = 0.0 if max(m, n) == 0 else ((best_o + c ** p * abs(m - n)) / max(m, n)) ** (1 / p)
    return o, best_g ** (1 / p)


def test_hand_computed() -> None:
    assert ospa([[0.0, 0.0]], [[3.0, 4.0]], c=10.0, p=2.0) == pytest.approx(5.0)
    assert ospa([[0.0, 0.0]], [[3.0, 4.0]], c=4.0, p=2.0) == pytest.approx(4.0)      # cut off
    assert ospa([[0.0, 0.0], [10.0, 0.0]], [[0.0, 1.0]], c=5.0, p=1.0) == pytest.approx((1 + 5) / 2)
    assert ospa(np.zeros((0, 2)), np.zeros((0, 2))) == 0.0
    assert ospa(np.zeros((0, 2)), [[1.0, 2.0]], c=3.0) == 3.0
    g = gospa([[0.0, 0.0], [10.0, 0.0]], [[0.0, 1.0]], c=5.0, p=2.0)
    assert isinstance(g, GospaResult)
    assert (g.localisation, g.missed, g.false) == pytest.approx((1.0, 12.5, 0.0))
    assert (g.num_assigned, g.num_missed, g.num_false) == (1, 1, 0)
    assert g.distance == pytest.approx(np.sqrt(13.5))
    # a pair beyond the cut-off is one missed and one false target, not a localisation error
    g = gospa([[0.0, 0.0]], [[6.0, 0.0]], c=5.0, p=1.0)
    assert (g.distance, g.localisation, g.missed, g.false, g.num_assigned) == (5.0, 0.0, 2.5, 2.5, 0)
    g = gospa(np.zeros((0, 3)), [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], c=2.0, p=2.0)
    assert (g.distance, g.false, g.num_false) == (pytest.approx(2.0), 4.0, 2)


def _random_case(rng: np.random.Generator, dim: int = 2) -> tuple[np.ndarray, np.ndarray]:
    m, n = rng.integers(0, 6, 2)
    x = rng.uniform(0, 10, (m, dim))
    y = np.vstack([x[: min(m, n)] + rng.normal(0, 2.0, (min(m, n), dim)), rng.uniform(0, 10, (n - min(m, n), dim))])
    return x, y[rng.permutation(n)] if n else np.zeros((0, dim))


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_against_brute_force(p: float) -> None:
    rng = np.random.default_rng(11)
    for _ in range(150):
        x, y = _random_case(rng)
        o, g = _brute_force(x, y, 4.0, p)
        assert ospa(x, y, c=4.0, p=p) == pytest.approx(o, rel=1e-12, abs=1e-12)
        assert gospa(x, y, c=4.0, p=p).distance == pytest.approx(g, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("c, p", [(4.0, 1.0), (4.0, 2.0), (1.5, 2.0), (10.0, 3.0)])
def test_gospa_parity_with_stonesoup(c: float, p: float) -> None:
    rng = np.random.default_rng(int(10 * c + p))
    metric = GOSPAMetric(c=c, p=p)
    compared = 0
    for _ in range(120):
        x, y = _random_case(rng, dim=3)
        if len(x) + len(y) == 0:  # Stone Soup needs a state to take the timestamp from
            continue
        ref = metric.compute_gospa_metric(_states(y), _states(x))[0].value
        ours = gospa(x, y, c=c, p=p)
        for key in ("distance", "localisation", "missed", "false"):
            assert getattr(ours, key) == pytest.approx(ref[key], rel=1e-10, abs=1e-12), key
        compared += 1
    assert compared > 100


def test_ospa_parity_with_stonesoup() -> None:
    # Stone Soup's OSPAMetric solves the assignment on the cut-off distances d and then takes
    # the p-th power, so for p != 1 it can pick an assignment that is not optimal for the OSPA
    # definition (sum of d^p).  For p = 1 the two must agree exactly; for p = 2 ours is never
    # larger than Stone Soup's and agrees whenever its assignment is also optimal.
    rng = np.random.default_rng(5)
    equal_p2 = cases = 0
    for _ in range(200):
        x, y = _random_case(rng)
        if len(x) + len(y) == 0:
            continue
        cases += 1
        ref1 = OSPAMetric(c=4.0, p=1.0).compute_OSPA_distance(_states(y), _states(x)).value
        assert ospa(x, y, c=4.0, p=1.0) == pytest.approx(ref1, rel=1e-12, abs=1e-12)
        ref2 = OSPAMetric(c=4.0, p=2.0).compute_OSPA_distance(_states(y), _states(x)).value
        ours2 = ospa(x, y, c=4.0, p=2.0)
        assert ours2 <= ref2 + 1e-12
        equal_p2 += ours2 == pytest.approx(ref2, rel=1e-12, abs=1e-12)
    assert equal_p2 >= 0.9 * cases


def _old_match_ids(truth, est, ids, max_dist):
    """The previous fusion.datasets.point_targets.match_ids (scipy), as the oracle."""
    out = np.full(len(truth), -1, np.int64)
    if len(truth) == 0 or len(est) == 0:
        return out
    d = np.linalg.norm(truth[:, None, :] - est[None, :, :], axis=2)
    r, col = scipy_lsa(np.where(d <= max_dist, d, 1e6))
    ok = d[r, col] <= max_dist
    out[r[ok]] = ids[col[ok]]
    return out


def test_match_ids() -> None:
    truth = np.array([[0.0, 0.0], [5.0, 0.0]])
    est = np.array([[0.5, 0.0], [5.2, 0.0], [100.0, 0.0]])
    ids = np.array([7, 8, 9])
    assert match_ids(truth, est, ids, 1.0).tolist() == [7, 8]
    assert match_ids(truth, est, ids, 0.3).tolist() == [-1, 8]
    assert match_ids(truth, np.zeros((0, 2)), np.zeros(0, np.int64), 1.0).tolist() == [-1, -1]
    # the number of in-gate pairs comes before their total distance: B-X alone (0.1) loses to
    # A-X + B-Y (1.3 + 1.4)
    two = match_ids([[0.0, 0.0], [1.4, 0.0]], [[1.3, 0.0], [2.8, 0.0]], [1, 2], 1.5)
    assert two.tolist() == [1, 2]
    rng = np.random.default_rng(2)
    for _ in range(200):
        x, y = _random_case(rng)
        ids = rng.permutation(100)[: len(y)]
        np.testing.assert_array_equal(match_ids(x, y, ids, 2.0), _old_match_ids(x, y, ids, 2.0))


@pytest.mark.parametrize("call, err, needle", [
    (lambda: ospa([1.0, 2.0], [[1.0, 2.0]]), ShapeError, r"truth: expected points of shape \(m, d\)"),
    (lambda: ospa([[1.0, 2.0]], [[1.0, 2.0, 3.0]]), ShapeError, "same dimension"),
    (lambda: gospa([[np.nan, 2.0]], [[1.0, 2.0]]), NumericalError, "truth: point 0 has a non-finite"),
    (lambda: gospa([[1.0, 2.0]], [[1.0, 2.0], [np.inf, 0.0]]), NumericalError, "estimates: point 1"),
    (lambda: ospa([[1.0, 2.0]], [[1.0, 2.0]], c=-1.0), ConfigurationError, "c: expected a positive"),
    (lambda: gospa([[1.0, 2.0]], [[1.0, 2.0]], c=0.0), ConfigurationError, "c: expected a positive"),
    (lambda: gospa([[1.0, 2.0]], [[1.0, 2.0]], c=float("nan")), ConfigurationError, "c: expected a positive"),
    (lambda: ospa([[1.0, 2.0]], [[1.0, 2.0]], p=0.5), ConfigurationError, "p: expected a finite order >= 1"),
    (lambda: match_ids([[1.0, 2.0]], [[1.0, 2.0]], [1, 2], 1.0), ShapeError, r"est_ids: expected shape \(1,\)"),
    (lambda: match_ids([[1.0, 2.0]], [[1.0, 2.0]], [1], -1.0), ConfigurationError, "max_dist"),
])
def test_bad_input(call, err, needle) -> None:
    with pytest.raises(err, match=needle):
        call()
