"""Shared point-target sequences for the metric tests."""

from __future__ import annotations

import numpy as np


def random_sequence(seed: int, T: int = 30) -> tuple[list, list, list, list]:
    """Objects that come and go, tracks that follow them with noise, miss some frames,
    swap ids and add false tracks."""
    rng = np.random.default_rng(seed)
    n_obj = 6
    start = rng.uniform(0, 40, (n_obj, 2))
    vel = rng.normal(0, 1.5, (n_obj, 2))
    life = [(int(a), int(a + rng.integers(8, T))) for a in rng.integers(0, T // 2, n_obj)]
    tid = np.arange(n_obj) + 100
    ti, tp, ei, ep = [], [], [], []
    for t in range(T):
        if t == T // 2:  # two tracks swap objects
            tid[[0, 1]] = tid[[1, 0]]
        if t == T // 3:  # a track is replaced by a new id
            tid[2] = 500
        alive = np.array([a <= t < b for a, b in life])
        if not alive.any():
            alive[0] = True
        g = np.nonzero(alive)[0]
        pts = start[g] + vel[g] * t
        ti.append(g.astype(np.int64) + 1)
        tp.append(pts)
        seen = rng.random(len(g)) < 0.85
        est = pts[seen] + rng.normal(0, 0.8, (int(seen.sum()), 2))
        ids = tid[g[seen]]
        nf = rng.integers(0, 3)
        est = np.vstack([est, rng.uniform(0, 60, (nf, 2))])
        ids = np.concatenate([ids, 1000 + 10 * t + np.arange(nf)])
        ei.append(ids.astype(np.int64))
        ep.append(est)
    return ti, tp, ei, ep
