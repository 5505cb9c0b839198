"""fusion.assoc.max_weight_matching: hand-made cases, optimality against scipy, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as so

from fusion.assoc import max_weight_matching
from fusion.errors import NumericalError, ShapeError


def test_hand_made_components_and_zero_weights() -> None:
    # two components: {r0, r1} x {c0, c1} and {r3} x {c3}; row 2 and column 2 have no positive entry
    w = np.array([[3.0, 2.0, 0.0, 0.0],
                  [2.0, 0.0, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 5.0]])
    r, c = max_weight_matching(w)
    # r0-c0 alone gives 3; r0-c1 + r1-c0 gives 4: the optimum swaps
    assert r.tolist() == [0, 1, 3] and c.tolist() == [1, 0, 3]
    assert r.dtype == np.int64 and c.dtype == np.int64


def test_never_returns_a_zero_or_negative_pair() -> None:
    # a full assignment would have to use a zero or negative entry; the matching leaves them out
    w = np.array([[1.0, -4.0], [0.0, -1.0], [0.0, 0.0]])
    r, c = max_weight_matching(w)
    assert r.tolist() == [0] and c.tolist() == [0]
    assert max_weight_matching(np.zeros((3, 2)))[0].size == 0
    assert max_weight_matching(np.zeros((0, 4)))[0].size == 0


def test_fast_path_of_disjoint_single_edges() -> None:
    w = np.zeros((5, 6))
    w[4, 0] = w[1, 5] = w[2, 2] = 0.5
    r, c = max_weight_matching(w)
    assert r.tolist() == [1, 2, 4] and c.tolist() == [5, 2, 0]


def test_optimal_total_against_scipy() -> None:
    rng = np.random.default_rng(3)
    for _ in range(300):
        n, m = rng.integers(1, 12, 2)
        w = np.where(rng.random((n, m)) < 0.35, rng.random((n, m)), 0.0)
        r, c = max_weight_matching(w)
        r2, c2 = so.linear_sum_assignment(w, maximize=True)
        assert w[r, c].sum() == pytest.approx(w[r2, c2].sum(), rel=1e-12, abs=1e-12)
        assert np.all(w[r, c] > 0) and np.all(np.diff(r) > 0) and len(set(c.tolist())) == len(c)


@pytest.mark.parametrize("bad, err", [(np.zeros(3), ShapeError), (np.zeros((2, 2, 2)), ShapeError),
                                      (np.array([["a", "b"]]), ShapeError),
                                      (np.array([[1.0, np.nan]]), NumericalError),
                                      (np.array([[np.inf, 1.0]]), NumericalError)])
def test_bad_input(bad: np.ndarray, err: type) -> None:
    with pytest.raises(err, match="weight"):
        max_weight_matching(bad)
