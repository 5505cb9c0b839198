"""Maximum-weight bipartite matching, for evaluation-style matching where only positive
weights are worth a pair (CLEAR, HOTA, Identity, the KITTI protocols).

Unlike :func:`fusion.assoc.linear_sum_assignment`, which assigns every row of the smaller
side, :func:`max_weight_matching` leaves a row or column unmatched rather than pair it with
weight 0.  Pairs of weight 0 never help the total, so the problem splits into the connected
components of the bipartite graph of positive entries; each component runs the exact C++
assignment solver on its own small sub-matrix.  No scipy is needed at runtime.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fusion.assoc.linear_assignment import linear_sum_assignment
from fusion.errors import NumericalError, ShapeError

__all__ = ["max_weight_matching"]


def max_weight_matching(weight: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-weight matching over the strictly positive entries of a weight matrix.

    Entries ``<= 0`` are "no edge": such pairs are never returned.  The total weight of the
    returned pairs equals the optimum of ``linear_sum_assignment(weight, maximize=True)``
    restricted to positive entries (which pairs are returned may differ under ties).

    Args:
        weight: (n, m) finite real matrix (any unit; only order and sums matter).
    Returns:
        ``(rows, cols)`` int64 index arrays of the matched pairs, all of positive weight,
        sorted by row.
    Raises:
        ShapeError: ``weight`` is not a 2-D real matrix.
        NumericalError: ``weight`` has a NaN or infinite entry.
    """
    w = np.asarray(weight)
    if w.ndim != 2 or w.dtype.kind not in "biuf":
        raise ShapeError(f"weight: expected a 2-D matrix of real numbers, got shape {w.shape} dtype {w.dtype}")
    w = w.astype(np.float64, copy=False)
    if not np.all(np.isfinite(w)):
        raise NumericalError("weight: every entry must be finite (use 0 for pairs that may not match)")
    n, m = w.shape
    pos = w > 0
    if not pos.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    row_deg = pos.sum(1)
    col_deg = pos.sum(0)
    r_idx, c_idx = np.nonzero(pos)
    if row_deg.max() <= 1 and col_deg.max() <= 1:
        return r_idx.astype(np.int64), c_idx.astype(np.int64)
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
