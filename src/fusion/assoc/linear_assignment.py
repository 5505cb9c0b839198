"""Exact minimum-cost linear assignment.

All solvers run the C++ shortest augmenting path solver (Jonker-Volgenant in Crouse's 2016
formulation, the method behind :func:`scipy.optimize.linear_sum_assignment`) with the GIL
released.

- :func:`linear_sum_assignment`: drop-in for scipy's function (same arguments, same
  ``(row_ind, col_ind)`` output with ``row_ind`` sorted). ``+inf`` and ``NaN`` mark forbidden
  pairs (scipy rejects NaN); a matrix without a complete assignment raises
  :class:`fusion.errors.InfeasibleError` ("cost matrix is infeasible").
- :func:`gated_assignment`: the tracking form. Pairs with ``cost > gate`` are forbidden and
  rows or columns may stay unassigned; it minimises the assigned costs plus ``gate`` per
  unassigned row, so it never fails.
- :func:`sparse_assignment` / :func:`sparse_gated_assignment`: the same on a CSR matrix
  (a ``scipy.sparse`` matrix or a ``(data, indices, indptr)`` triple with ``shape``),
  without densifying. Absent entries are forbidden.

Costs of ``-inf`` raise :class:`fusion.errors.NumericalError`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from fusion import _core
from fusion.errors import ConfigurationError, InfeasibleError, ShapeError

__all__ = [
    "GatedAssignment",
    "gated_assignment",
    "linear_sum_assignment",
    "sparse_assignment",
    "sparse_gated_assignment",
]

_INFEASIBLE = "cost matrix is infeasible"


class GatedAssignment(NamedTuple):
    """Result of a gated assignment: ``cost[row_ind[k], col_ind[k]]`` are the matched pairs."""

    row_ind: np.ndarray  # matched rows, sorted
    col_ind: np.ndarray  # their columns
    unassigned_rows: np.ndarray  # rows left without a column, sorted
    unassigned_cols: np.ndarray  # columns left without a row, sorted
    total_cost: float  # sum of the matched costs


def _cost_matrix(cost: npt.ArrayLike) -> np.ndarray:
    a = np.asarray(cost)
    if a.ndim != 2:
        raise ShapeError(f"cost: expected a 2-D array (a matrix), but got shape {a.shape}")
    if a.dtype.kind not in "biuf":  # bool, int, uint, float
        raise ShapeError(f"cost: expected a matrix of real numbers, but got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float64)


def _pairs(row_to_col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if row_to_col.size and row_to_col.min() >= 0:  # every row assigned (rows <= cols)
        return np.arange(row_to_col.size), row_to_col
    rows = np.flatnonzero(row_to_col >= 0)
    return rows, row_to_col[rows]


def _gated(row_to_col: np.ndarray, col_to_row: np.ndarray, total: float) -> GatedAssignment:
    rows, cols = _pairs(row_to_col)
    return GatedAssignment(
        rows, cols, np.flatnonzero(row_to_col < 0), np.flatnonzero(col_to_row < 0), float(total)
    )


def linear_sum_assignment(
    cost: npt.ArrayLike, maximize: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Solve the linear sum assignment problem, like :func:`scipy.optimize.linear_sum_assignment`.

    Every row of the smaller side is assigned. Returns ``(row_ind, col_ind)`` (``row_ind``
    sorted) so that ``cost[row_ind, col_ind].sum()`` is minimal (maximal with ``maximize``).
    Forbidden pairs are ``+inf`` (``-inf`` when maximizing) or ``NaN``.

    Raises:
        ShapeError: ``cost`` is not a 2-D numeric array.
        InfeasibleError: no complete assignment avoids the forbidden pairs.
    """
    c = _cost_matrix(cost)
    if maximize:
        c = -c
    feasible, row_to_col, _, _ = _core.lsa_dense(c)
    if not feasible:
        raise InfeasibleError(_INFEASIBLE)
    return _pairs(row_to_col)


def gated_assignment(cost: npt.ArrayLike, gate: float) -> GatedAssignment:
    """Minimum-cost assignment where pairs with ``cost > gate`` (or NaN) are forbidden and rows
    or columns may stay unassigned.

    Minimises ``sum(matched costs) + gate * (number of unassigned rows)``: a pair is worth
    taking exactly when it beats leaving both of its ends unassigned. ``gate`` must be finite.
    """
    c = _cost_matrix(cost)
    if isinstance(gate, (bool, np.bool_)) or not isinstance(gate, (int, float, np.integer, np.floating)):
        raise ConfigurationError(f"gate: expected a number, got {gate!r}")
    _, row_to_col, col_to_row, total = _core.lsa_dense(c, float(gate))
    return _gated(row_to_col, col_to_row, total)


def _csr_parts(matrix: Any, shape: tuple[int, int] | None) -> tuple[int, int, Any, Any, Any]:
    if hasattr(matrix, "indptr"):  # scipy.sparse matrix or array
        if getattr(matrix, "format", "csr") != "csr":
            matrix = matrix.tocsr()
        n_rows, n_cols = (int(s) for s in (shape if shape is not None else matrix.shape))
        return n_rows, n_cols, matrix.indptr, matrix.indices, matrix.data
    if isinstance(matrix, tuple) and len(matrix) == 3:
        if shape is None:
            raise ShapeError("shape: required when the matrix is a (data, indices, indptr) triple")
        data, indices, indptr = matrix
        n_rows, n_cols = (int(s) for s in shape)
        return n_rows, n_cols, indptr, indices, data
    raise ShapeError(
        "matrix: expected a CSR matrix or a (data, indices, indptr) triple, "
        f"but got {type(matrix).__name__}"
    )


def sparse_assignment(
    matrix: Any, shape: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact assignment on a sparse CSR cost matrix: every row of the smaller side is
    assigned using only stored entries (as
    :func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching`, but with
    :func:`linear_sum_assignment`'s output convention). Stored ``+inf``/``NaN`` count as
    absent; explicit zeros are edges of cost 0.

    Raises:
        InfeasibleError: no complete assignment exists.
    """
    n_rows, n_cols, indptr, indices, data = _csr_parts(matrix, shape)
    feasible, row_to_col, _, _ = _core.lsa_sparse(n_rows, n_cols, indptr, indices, data)
    if not feasible:
        raise InfeasibleError(_INFEASIBLE)
    return _pairs(row_to_col)


def sparse_gated_assignment(
    matrix: Any, gate: float, shape: tuple[int, int] | None = None
) -> GatedAssignment:
    """:func:`gated_assignment` on a sparse CSR cost matrix (absent entries are forbidden)."""
    n_rows, n_cols, indptr, indices, data = _csr_parts(matrix, shape)
    _, row_to_col, col_to_row, total = _core.lsa_sparse(
        n_rows, n_cols, indptr, indices, data, float(gate)
    )
    return _gated(row_to_col, col_to_row, total)
