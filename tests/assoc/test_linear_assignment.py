"""fusion.assoc against scipy: the total cost must equal scipy's on every instance (the
assignment itself may differ when there are ties), for dense, sparse and gated problems."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.optimize as scipy_opt
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from fusion import errors
from fusion.assoc import (
    gated_assignment,
    linear_sum_assignment,
    sparse_assignment,
    sparse_gated_assignment,
)

SHAPES = [(1, 1), (1, 6), (6, 1), (2, 2), (3, 5), (5, 3), (8, 8), (13, 20), (20, 13), (40, 40), (64, 37)]


def _kinds(rng: np.random.Generator, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    return {
        "uniform": rng.random(shape),
        "signed": rng.normal(size=shape) * 10.0,
        "int_ties": rng.integers(0, 4, size=shape).astype(float),
        "int_wide": rng.integers(-1000, 1000, size=shape).astype(float),
        "all_equal": np.full(shape, 7.0),
        "zeros": np.zeros(shape),
        "large": rng.random(shape) * 1e12 + 1e15,
        "tiny": rng.random(shape) * 1e-300,
    }


def _total(cost: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> float:
    return float(cost[rows, cols].sum())


def _check_valid(cost: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    n = min(cost.shape)
    assert rows.shape == cols.shape == (n,)
    assert np.all(np.diff(rows) > 0)  # sorted, no repeats
    assert len(np.unique(cols)) == n
    assert np.all(np.isfinite(cost[rows, cols]))


def _assert_same_total(a: float, b: float, exact: bool) -> None:
    if exact:
        assert a == b
    else:
        assert np.isclose(a, b, rtol=1e-12, atol=0.0), (a, b)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", range(6))
def test_dense_parity_with_scipy(shape: tuple[int, int], seed: int) -> None:
    rng = np.random.default_rng(1000 * seed + shape[0] * 31 + shape[1])
    for kind, cost in _kinds(rng, shape).items():
        for maximize in (False, True):
            r, c = linear_sum_assignment(cost, maximize=maximize)
            sr, sc = scipy_opt.linear_sum_assignment(cost, maximize=maximize)
            _check_valid(cost, r, c)
            exact = kind in ("int_ties", "int_wide", "all_equal", "zeros")
            _assert_same_total(_total(cost, r, c), _total(cost, sr, sc), exact)
            if kind in ("uniform", "signed"):  # unique optimum: identical output
                np.testing.assert_array_equal(r, sr)
                np.testing.assert_array_equal(c, sc)
            assert r.dtype == sr.dtype and c.dtype == sc.dtype


@pytest.mark.parametrize("seed", range(40))
def test_dense_forbidden_entries_parity(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 12, size=2)
    cost = rng.integers(0, 6, size=(n, m)).astype(float)
    cost[rng.random((n, m)) < rng.uniform(0.1, 0.7)] = np.inf
    try:
        sr, sc = scipy_opt.linear_sum_assignment(cost)
    except ValueError as e:
        assert "infeasible" in str(e)
        with pytest.raises(errors.InfeasibleError, match="cost matrix is infeasible"):
            linear_sum_assignment(cost)
        return
    r, c = linear_sum_assignment(cost)
    _check_valid(cost, r, c)
    assert _total(cost, r, c) == _total(cost, sr, sc)
    # NaN is forbidden like inf (scipy rejects NaN outright).
    nan_cost = np.where(np.isinf(cost), np.nan, cost)
    r2, c2 = linear_sum_assignment(nan_cost)
    assert _total(cost, r2, c2) == _total(cost, sr, sc)


def test_maximize_with_forbidden() -> None:
    cost = np.array([[5.0, -np.inf, 1.0], [2.0, 8.0, -np.inf]])
    r, c = linear_sum_assignment(cost, maximize=True)
    sr, sc = scipy_opt.linear_sum_assignment(cost, maximize=True)
    assert _total(cost, r, c) == _total(cost, sr, sc) == 13.0


def test_hand_checked_and_conventions() -> None:
    cost = np.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]])  # integer input is accepted
    r, c = linear_sum_assignment(cost)
    np.testing.assert_array_equal(r, [0, 1, 2])
    np.testing.assert_array_equal(c, [1, 0, 2])
    for shape in [(0, 0), (0, 5), (5, 0)]:
        r, c = linear_sum_assignment(np.zeros(shape))
        sr, sc = scipy_opt.linear_sum_assignment(np.zeros(shape))
        assert r.shape == c.shape == sr.shape == (0,)
    r, c = linear_sum_assignment([[True, False], [False, True]])
    np.testing.assert_array_equal(c, [1, 0])
    fortran = np.asfortranarray(np.arange(12.0).reshape(4, 3) ** 2 % 7)  # non-C-contiguous input
    r, c = linear_sum_assignment(fortran)
    assert _total(fortran, r, c) == _total(fortran, *scipy_opt.linear_sum_assignment(fortran))


def test_errors() -> None:
    with pytest.raises(errors.ShapeError, match="2-D"):
        linear_sum_assignment(np.zeros(3))
    with pytest.raises(ValueError, match="2-D"):
        linear_sum_assignment(np.zeros((2, 2, 2)))
    with pytest.raises(errors.ShapeError, match="real numbers"):
        linear_sum_assignment(np.ones((2, 2), dtype=complex))
    with pytest.raises(ValueError, match="^cost matrix is infeasible$"):
        linear_sum_assignment([[1.0, np.inf], [2.0, np.inf]])
    with pytest.raises(errors.InfeasibleError):
        linear_sum_assignment([[np.inf, np.inf, np.inf], [1.0, 2.0, 3.0]])
    with pytest.raises(errors.NumericalError, match="-inf"):
        linear_sum_assignment([[1.0, -np.inf], [2.0, 3.0]])
    with pytest.raises(errors.ConfigurationError, match="gate"):
        gated_assignment(np.ones((2, 2)), np.inf)
    with pytest.raises(errors.ShapeError, match="2-D"):
        gated_assignment(np.ones(4), 1.0)
    with pytest.raises(errors.InfeasibleError, match="cost matrix is infeasible"):
        sparse_assignment(sp.csr_matrix(np.array([[1.0, 0.0], [2.0, 0.0]])))
    with pytest.raises(errors.ShapeError, match="out of range"):
        sparse_assignment((np.ones(2), np.array([0, 7]), np.array([0, 1, 2])), shape=(2, 2))
    with pytest.raises(errors.ShapeError, match="indptr"):
        sparse_assignment((np.ones(2), np.array([0, 1]), np.array([0, 2])), shape=(2, 2))
    with pytest.raises(errors.ShapeError, match="shape"):
        sparse_assignment((np.ones(2), np.array([0, 1]), np.array([0, 1, 2])))


# ---------------------------------------------------------------- sparse


def _random_sparse(rng: np.random.Generator, n: int, m: int, density: float) -> np.ndarray:
    """Dense view (inf = absent) of a random sparse matrix that has a full matching."""
    dense = np.full((n, m), np.inf)
    mask = rng.random((n, m)) < density
    k = min(n, m)
    perm_r, perm_c = rng.permutation(n)[:k], rng.permutation(m)[:k]
    mask[perm_r, perm_c] = True
    dense[mask] = rng.integers(1, 20, size=mask.sum()).astype(float) if rng.random() < 0.5 else (
        rng.random(mask.sum()) * 100 + 1
    )
    return dense


def _csr(dense: np.ndarray) -> sp.csr_matrix:
    rows, cols = np.nonzero(np.isfinite(dense))
    return sp.csr_matrix((dense[rows, cols], (rows, cols)), shape=dense.shape)


@pytest.mark.parametrize("seed", range(60))
def test_sparse_parity(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = (int(x) for x in rng.integers(1, 60, size=2))
    dense = _random_sparse(rng, n, m, rng.uniform(0.02, 0.3))
    csr = _csr(dense)
    r, c = sparse_assignment(csr)
    _check_valid(dense, r, c)
    sr, sc = csgraph.min_weight_full_bipartite_matching(csr)
    dr, dc = linear_sum_assignment(dense)
    ours, theirs, dense_total = _total(dense, r, c), _total(dense, sr, sc), _total(dense, dr, dc)
    exact = bool(np.all(dense[np.isfinite(dense)] == np.round(dense[np.isfinite(dense)])))
    _assert_same_total(ours, theirs, exact)
    _assert_same_total(ours, dense_total, exact)
    # the (data, indices, indptr) triple gives the same answer
    r3, c3 = sparse_assignment((csr.data, csr.indices, csr.indptr), shape=csr.shape)
    assert _total(dense, r3, c3) == ours


@pytest.mark.parametrize("seed", range(20))
def test_sparse_infeasible_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(500 + seed)
    n, m = (int(x) for x in rng.integers(1, 10, size=2))
    dense = np.where(rng.random((n, m)) < 0.25, rng.random((n, m)) + 1, np.inf)
    csr = _csr(dense)
    try:
        sr, sc = csgraph.min_weight_full_bipartite_matching(csr)
    except ValueError:
        with pytest.raises(errors.InfeasibleError):
            sparse_assignment(csr)
        with pytest.raises(errors.InfeasibleError):
            linear_sum_assignment(dense)
        return
    r, c = sparse_assignment(csr)
    assert np.isclose(_total(dense, r, c), _total(dense, sr, sc), rtol=1e-12)


# ---------------------------------------------------------------- gated


def _gated_reference(cost: np.ndarray, gate: float) -> float:
    """scipy on the dummy-augmented matrix: each row may take its own dummy column at cost gate."""
    n, m = cost.shape
    aug = np.full((n, m + n), np.inf)
    aug[:, :m] = np.where(cost <= gate, cost, np.inf)
    aug[np.arange(n), m + np.arange(n)] = gate
    r, c = scipy_opt.linear_sum_assignment(aug)
    return float(aug[r, c].sum())


def _objective(res, gate: float, n_rows: int) -> float:
    return res.total_cost + gate * (n_rows - len(res.row_ind))


@pytest.mark.parametrize("seed", range(60))
def test_gated_parity(seed: int) -> None:
    rng = np.random.default_rng(2000 + seed)
    n, m = (int(x) for x in rng.integers(0, 40, size=2))
    ints = seed % 2 == 0
    cost = rng.integers(0, 10, size=(n, m)).astype(float) if ints else rng.random((n, m)) * 10
    if seed % 3 == 0 and cost.size:
        cost[rng.random((n, m)) < 0.2] = np.inf
    gate = float(rng.uniform(0.5, 6.0))
    res = gated_assignment(cost, gate)
    assert np.all(cost[res.row_ind, res.col_ind] <= gate)
    assert np.isclose(res.total_cost, cost[res.row_ind, res.col_ind].sum(), rtol=1e-12)
    assert sorted([*res.row_ind, *res.unassigned_rows]) == list(range(n))
    assert sorted([*res.col_ind, *res.unassigned_cols]) == list(range(m))
    ref = _gated_reference(cost, gate) if n else 0.0
    _assert_same_total(_objective(res, gate, n), ref, exact=False)
    # The sparse form on the gated CSR (and on the ungated one) gives the same objective.
    csr = _csr(np.where(cost <= gate, cost, np.inf))
    sres = sparse_gated_assignment(csr, gate)
    _assert_same_total(_objective(sres, gate, n), ref, exact=False)
    full = _csr(cost)
    _assert_same_total(_objective(sparse_gated_assignment(full, gate), gate, n), ref, exact=False)


def test_gated_hand_checked() -> None:
    cost = np.array([[1.0, 20.0], [30.0, 9.0], [2.0, 3.0]])
    res = gated_assignment(cost, 5.0)
    # rows 0 and 2 compete for col 0; 1 + 3 = 4 beats 2 + 5 (row 0 unassigned) = 7
    np.testing.assert_array_equal(res.row_ind, [0, 2])
    np.testing.assert_array_equal(res.col_ind, [0, 1])
    np.testing.assert_array_equal(res.unassigned_rows, [1])
    assert res.unassigned_cols.size == 0
    assert res.total_cost == 4.0
    rows, cols, urows, ucols, total = gated_assignment(cost, 0.5)
    assert rows.size == 0 and total == 0.0 and list(urows) == [0, 1, 2] and list(ucols) == [0, 1]


def test_threads_share_nothing() -> None:
    rng = np.random.default_rng(3)
    costs = [rng.random((120, 150)) for _ in range(8)]
    expected = [_total(c, *scipy_opt.linear_sum_assignment(c)) for c in costs]
    got: list[float] = [0.0] * len(costs)

    def work(k: int) -> None:
        got[k] = _total(costs[k], *linear_sum_assignment(costs[k]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(costs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected
