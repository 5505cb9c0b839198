"""Properties of fusion.assoc against scipy on the same matrices: random rectangular cost
matrices with forbidden (+inf / NaN) entries give the optimal total cost scipy finds, a valid
one-to-one assignment, or InfeasibleError exactly when scipy finds none; the gated and sparse
variants against scipy on the equivalent augmented problem."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse
from hypothesis import given
from hypothesis import strategies as st

from fusion.assoc import gated_assignment, linear_sum_assignment, sparse_assignment, sparse_gated_assignment
from fusion.errors import InfeasibleError

from _props import reals


@st.composite
def cost_matrix(draw: st.DrawFn, forbidden: bool = True) -> np.ndarray:
    n, m = draw(st.integers(0, 7)), draw(st.integers(0, 7))
    # integer-valued costs from a small range give many ties (several optimal assignments)
    small = draw(st.booleans())
    vals = st.integers(-5, 5).map(float) if small else reals(-1e6, 1e6)
    if forbidden:
        vals = st.one_of(vals, vals, vals, st.just(np.inf), st.just(np.nan))
    return np.array(draw(st.lists(vals, min_size=n * m, max_size=n * m)), np.float64).reshape(n, m)


def _scipy_total(c: np.ndarray, maximize: bool = False) -> float | None:
    """scipy's optimum with the forbidden entries as +inf (-inf maximising), None if infeasible."""
    bad = ~np.isfinite(c)
    cc = np.where(bad, -np.inf if maximize else np.inf, c)
    try:
        r, k = scipy.optimize.linear_sum_assignment(cc, maximize=maximize)
    except ValueError:  # "cost matrix is infeasible"
        return None
    return float(c[r, k].sum())


def _check_pairs(c: np.ndarray, r: np.ndarray, k: np.ndarray) -> None:
    assert len(r) == len(k) == min(c.shape)
    assert (np.diff(r) > 0).all() and len(set(k.tolist())) == len(k)
    assert np.isfinite(c[r, k]).all(), "a forbidden pair was assigned"


@pytest.mark.parametrize("maximize", [False, True])
@given(c=cost_matrix())
def test_linear_sum_assignment_total_equals_scipy(c: np.ndarray, maximize: bool) -> None:
    if maximize:  # forbidden pairs are -inf when maximising (NaN still forbidden)
        c = np.where(np.isinf(c), -np.inf, c)
    ref = _scipy_total(c, maximize)
    if ref is None:
        with pytest.raises(InfeasibleError):
            linear_sum_assignment(c, maximize=maximize)
        return
    r, k = linear_sum_assignment(c, maximize=maximize)
    _check_pairs(c, r, k)
    assert c[r, k].sum() == pytest.approx(ref, rel=1e-9, abs=1e-6)


def _gated_reference(c: np.ndarray, gate: float) -> float:
    """min sum(matched) + gate * unassigned rows, as a square scipy problem: row i may take a
    dummy column of cost gate, column j a dummy row of cost 0."""
    n, m = c.shape
    big = np.full((n + m, m + n), np.inf)
    big[:n, :m] = np.where(np.isfinite(c) & (c <= gate), c, np.inf)
    big[:n, m:][np.arange(n), np.arange(n)] = gate
    big[n:, :m][np.arange(m), np.arange(m)] = 0.0
    big[n:, m:] = 0.0
    r, k = scipy.optimize.linear_sum_assignment(big)
    return float(big[r, k].sum())


def _check_gated(c: np.ndarray, gate: float, res: object) -> None:
    n, m = c.shape
    r, k = res.row_ind, res.col_ind
    assert len(set(k.tolist())) == len(k) and (np.diff(r) > 0).all()
    assert (c[r, k] <= gate).all(), "a gated-out pair was assigned"
    assert sorted([*r.tolist(), *res.unassigned_rows.tolist()]) == list(range(n))
    assert sorted([*k.tolist(), *res.unassigned_cols.tolist()]) == list(range(m))
    assert res.total_cost == pytest.approx(float(c[r, k].sum()), rel=1e-9, abs=1e-6)
    total = res.total_cost + gate * len(res.unassigned_rows)
    assert total == pytest.approx(_gated_reference(c, gate), rel=1e-9, abs=1e-6)


@given(c=cost_matrix(), gate=reals(-10, 1e6))
def test_gated_assignment_is_optimal(c: np.ndarray, gate: float) -> None:
    _check_gated(c, gate, gated_assignment(c, gate))


@given(c=cost_matrix(), gate=reals(-10, 1e6), data=st.data())
def test_sparse_variants_equal_dense(c: np.ndarray, gate: float, data: st.DataObject) -> None:
    # stored entries: the finite ones, plus some stored +inf (must count as absent)
    stored = np.isfinite(c) | (np.isinf(c) & data.draw(st.booleans()))
    rows, cols = np.nonzero(stored)
    sp = scipy.sparse.csr_array((c[rows, cols], (rows, cols)), shape=c.shape)
    dense = np.where(stored, c, np.inf)
    _check_gated(dense, gate, sparse_gated_assignment(sp, gate))
    ref = _scipy_total(dense)
    if ref is None:
        with pytest.raises(InfeasibleError):
            sparse_assignment(sp)
        return
    r, k = sparse_assignment(sp)
    _check_pairs(dense, r, k)
    assert dense[r, k].sum() == pytest.approx(ref, rel=1e-9, abs=1e-6)
