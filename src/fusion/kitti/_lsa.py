"""Matching for the KITTI evaluation: finite-cost assignment on top of fusion.assoc, and
maximum-weight matching split into connected components (no scipy at runtime)."""

from __future__ import annotations

import numpy as np

from fusion.assoc import linear_sum_assignment as _lsa_native
from fusion.errors import ShapeError

__all__ = ["linear_sum_assignment", "max_weight_matching"]


def linear_sum_assignment(cost: np.ndarray, maximize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Optimal rectangular assignment, same contract as ``scipy.optimize.linear_sum_assignment``.

    Args:
        cost: (n, m) finite cost (or weight, with ``maximize``) matrix.
        maximize: maximise the total instead of minimising it.
    Returns:
        ``(rows, cols)`` index arrays of the ``min(n, m)`` assigned pairs, sorted by row.
    """
    c = np.asarray(cost, np.float64)
    if c.ndim != 2:
        raise ShapeError(f"cost: expected a 2D matrix, got shape {c.shape}")
    if c.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not np.all(np.isfinite(c)):
        raise ValueError("cost: every entry must be finite")
    r, k = _lsa_native(c, maximize=maximize)
    return np.asarray(r, np.int64), np.asarray(k, np.int64)


def max_weight_matching(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-weight matching over the strictly positive entries of a non-negative matrix.

    Pairs with weight 0 are never useful, so the problem splits into the connected components of
    the bipartite graph of positive entries; each component is solved with
    :func:`linear_sum_assignment` and pairs of zero weight are dropped.  The optimum total equals
    that of ``linear_sum_assignment(weight, maximize=True)``.

    Returns:
        ``(rows, cols)`` of the matched pairs (all with positive weight), sorted by row.
    """
    w = np.asarray(weight, np.float64)
    n, m = w.shape
    pos = w > 0
    if not pos.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    row_deg = pos.sum(1)
    col_deg = pos.sum(0)
    r_idx, c_idx = np.nonzero(pos)
    if row_deg.max() <= 1 and col_deg.max() <= 1:
        return r_idx, c_idx
    # union-find over rows (0..n-1) and columns (n..n+m-1)
    parent = list(range(n + m))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for r, k in zip(r_idx.tolist(), c_idx.tolist()):
        ra, rb = find(r), find(n + k)
        if ra != rb:
            parent[ra] = rb
    comps: dict[int, tuple[list[int], list[int]]] = {}
    for r in np.nonzero(row_deg)[0].tolist():
        comps.setdefault(find(r), ([], []))[0].append(r)
    for k in np.nonzero(col_deg)[0].tolist():
        comps.setdefault(find(n + k), ([], []))[1].append(k)
    out_r: list[int] = []
    out_c: list[int] = []
    for rows, cols in comps.values():
        if len(rows) == 1 and len(cols) == 1:
            out_r.append(rows[0])
            out_c.append(cols[0])
            continue
        sub = w[np.ix_(rows, cols)]
        rr, cc = linear_sum_assignment(sub, maximize=True)
        for a, b in zip(rr.tolist(), cc.tolist()):
            if sub[a, b] > 0:
                out_r.append(rows[a])
                out_c.append(cols[b])
    rr = np.asarray(out_r, np.int64)
    cc = np.asarray(out_c, np.int64)
    order = np.argsort(rr)
    return rr[order], cc[order]
