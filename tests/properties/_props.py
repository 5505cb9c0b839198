"""Checks shared by the property tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


def assert_spd(P: np.ndarray, what: str = "P") -> None:
    """Every matrix of ``P`` (..., n, n) finite, symmetric and positive definite (up to rounding)."""
    P = np.asarray(P, np.float64)
    assert np.isfinite(P).all(), f"{what}: non-finite\n{P}"
    for k, M in enumerate(P.reshape(-1, P.shape[-1], P.shape[-1])):
        scale = max(1.0, float(np.abs(M).max()))
        assert np.allclose(M, M.T, rtol=1e-9, atol=1e-12 * scale), f"{what}[{k}] not symmetric\n{M}"
        eig = np.linalg.eigvalsh(M)
        # positive definite up to the rounding of the largest eigenvalue: a covariance with a
        # condition number beyond 1/eps (e.g. an IMM mixture whose modes lie 1e8 m apart after
        # a measurement 500 km away) is not resolvable in doubles
        assert eig.min() > -len(M) * np.finfo(float).eps * eig.max(), f"{what}[{k}] not positive definite: eig {eig}"


def reals(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def spd(draw: st.DrawFn, n: int, lo: float = 1e-3, hi: float = 10.0) -> np.ndarray:
    """A random symmetric positive definite n x n matrix with eigenvalues in [lo, hi]."""
    eig = np.array(draw(st.lists(reals(lo, hi), min_size=n, max_size=n)))
    A = np.array(draw(st.lists(reals(-1, 1), min_size=n * n, max_size=n * n))).reshape(n, n) + 2.0 * np.eye(n)
    Q, _ = np.linalg.qr(A)
    M = (Q * eig) @ Q.T
    return 0.5 * (M + M.T)
