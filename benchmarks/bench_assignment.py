"""Linear assignment: fusion against scipy and lap.

Groups ``dense N=...``: uniform random N x N costs; fusion.assoc.linear_sum_assignment vs
scipy.optimize.linear_sum_assignment vs lap.lapjv(extend_cost=True).

Groups ``gated N=...``: a tracking-like problem. N targets at density 1 per unit area, one
measurement each with 0.3 position noise, cost = distance, gate 1.5 (about 7 candidates per
row), given as a CSR matrix of the in-gate pairs. Full matchings: fusion.assoc.sparse_assignment
vs scipy.sparse.csgraph.min_weight_full_bipartite_matching vs lap.lapmod. Gated (unassigned
allowed, gate cost per unassigned row): fusion.assoc.sparse_gated_assignment (CSR) and
gated_assignment (dense input) vs lap.lapjv(cost_limit=gate) on the dense matrix.

Every benchmark checks its total cost against the reference (scipy) to rtol 1e-12.
"""

from __future__ import annotations

import functools

import lap
import numpy as np
import pytest
import scipy.optimize as scipy_opt
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.spatial as spatial

from fusion.assoc import (
    gated_assignment,
    linear_sum_assignment,
    sparse_assignment,
    sparse_gated_assignment,
)

DENSE_N = [10, 100, 500, 1000, 2000]
GATED_N = [100, 1000, 2000]
GATE = 1.5
OUTSIDE = 1e6  # dense stand-in for "not a candidate" (far above the gate)


def _same(total: float, ref: float) -> None:
    assert np.isclose(total, ref, rtol=1e-12, atol=0.0), (total, ref)


@functools.cache
def dense_problem(n: int) -> tuple[np.ndarray, float]:
    cost = np.random.default_rng(n).random((n, n))
    r, c = scipy_opt.linear_sum_assignment(cost)
    return cost, float(cost[r, c].sum())


@pytest.mark.parametrize("solver", ["fusion", "scipy", "lap"])
@pytest.mark.parametrize("n", DENSE_N)
def test_dense(benchmark, n: int, solver: str) -> None:
    benchmark.group = f"dense N={n}"
    cost, ref = dense_problem(n)
    if solver == "fusion":
        r, c = benchmark(linear_sum_assignment, cost)
        total = float(cost[r, c].sum())
    elif solver == "scipy":
        r, c = benchmark(scipy_opt.linear_sum_assignment, cost)
        total = float(cost[r, c].sum())
    else:
        total, x, _ = benchmark(lap.lapjv, cost, extend_cost=True)
        total = float(cost[np.arange(n), x].sum())
    _same(total, ref)


@functools.cache
def gated_problem(n: int):
    rng = np.random.default_rng(10_000 + n)
    targets = rng.random((n, 2)) * np.sqrt(n)
    meas = targets + rng.normal(scale=0.3, size=targets.shape)
    csr = (
        spatial.cKDTree(targets)
        .sparse_distance_matrix(spatial.cKDTree(meas), GATE, output_type="coo_matrix")
        .tocsr()
    )
    csr.sort_indices()  # lap.lapmod wants sorted columns
    dense = np.full((n, n), OUTSIDE)
    rows, cols = csr.nonzero()
    dense[rows, cols] = np.asarray(csr[rows, cols]).ravel()
    # full-matching reference
    r, c = csgraph.min_weight_full_bipartite_matching(csr)
    full_ref = float(dense[r, c].sum())
    # gated reference: every row also has a private dummy column of cost GATE
    aug = sp.hstack([csr, sp.identity(n, format="csr") * GATE], format="csr")
    r, c = csgraph.min_weight_full_bipartite_matching(aug)
    gated_ref = float(np.asarray(aug[r, c]).sum())
    return csr, dense, full_ref, gated_ref


def _gated_objective(res, n: int) -> float:
    return res.total_cost + GATE * (n - len(res.row_ind))


@pytest.mark.parametrize(
    "solver",
    ["fusion_sparse", "scipy_sparse", "lap_lapmod", "fusion_sparse_gated", "fusion_dense_gated",
     "lap_lapjv_cost_limit"],
)
@pytest.mark.parametrize("n", GATED_N)
def test_gated(benchmark, n: int, solver: str) -> None:
    benchmark.group = f"gated N={n}"
    csr, dense, full_ref, gated_ref = gated_problem(n)
    if solver == "fusion_sparse":
        r, c = benchmark(sparse_assignment, csr)
        _same(float(dense[r, c].sum()), full_ref)
    elif solver == "scipy_sparse":
        r, c = benchmark(csgraph.min_weight_full_bipartite_matching, csr)
        _same(float(dense[r, c].sum()), full_ref)
    elif solver == "lap_lapmod":
        total, x, _ = benchmark(lap.lapmod, n, csr.data, csr.indptr, csr.indices)
        _same(float(dense[np.arange(n), x].sum()), full_ref)
    elif solver == "fusion_sparse_gated":
        res = benchmark(sparse_gated_assignment, csr, GATE)
        _same(_gated_objective(res, n), gated_ref)
    elif solver == "fusion_dense_gated":
        res = benchmark(gated_assignment, dense, GATE)
        _same(_gated_objective(res, n), gated_ref)
    else:
        total, x, _ = benchmark(lap.lapjv, dense, extend_cost=True, cost_limit=GATE)
        matched = x >= 0
        _same(float(dense[np.flatnonzero(matched), x[matched]].sum()) + GATE * (n - matched.sum()),
              gated_ref)
