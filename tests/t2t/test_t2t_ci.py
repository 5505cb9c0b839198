"""Covariance intersection against a numerical optimisation (scipy) on the same inputs, and
its defining property: the fused covariance bounds the true error for any correlation."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy.optimize import minimize

from fusion.errors import ConfigurationError, NumericalError, ShapeError
from fusion.t2t import covariance_intersection


def _spd(rng: np.random.Generator, d: int, scale: float = 1.0) -> np.ndarray:
    A = rng.standard_normal((d, d))
    return scale * (A @ A.T + 0.1 * np.eye(d))


def _objective(w: np.ndarray, Ps: np.ndarray, criterion: str) -> float:
    Y = sum(wi * np.linalg.inv(P) for wi, P in zip(w, Ps))
    P = np.linalg.inv(Y)
    return float(np.trace(P)) if criterion == "trace" else float(np.linalg.slogdet(P)[1])


def _scipy_best(Ps: np.ndarray, criterion: str) -> float:
    """Minimum over the simplex by SLSQP from several starts (softmax-free, bounded)."""
    n = len(Ps)
    best = np.inf
    starts = [np.full(n, 1.0 / n)] + [np.eye(n)[i] * 0.9 + 0.1 / n for i in range(n)]
    for w0 in starts:
        r = minimize(_objective, w0, args=(Ps, criterion), method="SLSQP", bounds=[(0.0, 1.0)] * n,
                     constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1.0}],
                     options={"ftol": 1e-14, "maxiter": 500})
        w = np.clip(r.x, 0.0, None)
        best = min(best, _objective(w / w.sum(), Ps, criterion))
    return best


@pytest.mark.parametrize("criterion", ["trace", "det"])
@pytest.mark.parametrize("n, d", [(2, 2), (2, 4), (3, 4), (4, 3), (5, 6)])
def test_weights_match_scipy_optimisation(criterion: str, n: int, d: int) -> None:
    rng = np.random.default_rng(100 * n + d)
    for _ in range(5):
        Ps = np.array([_spd(rng, d, scale=float(rng.uniform(0.2, 5.0))) for _ in range(n)])
        xs = rng.standard_normal((n, d))
        r = covariance_intersection(xs, Ps, criterion)
        assert r.weights.shape == (n,) and np.all(r.weights >= 0) and np.isclose(r.weights.sum(), 1.0)
        assert np.isclose(r.objective, _objective(r.weights, Ps, criterion), rtol=1e-9, atol=1e-12)
        ref = _scipy_best(Ps, criterion)
        assert r.objective <= ref + 1e-7 * (1 + abs(ref))           # at least as good as scipy
        assert r.objective >= ref - 1e-5 * (1 + abs(ref))           # and scipy agrees it is the minimum
        # x and P from the weights, by the definition
        Y = sum(w * np.linalg.inv(P) for w, P in zip(r.weights, Ps))
        np.testing.assert_allclose(r.P, np.linalg.inv(Y), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(r.x, r.P @ sum(w * np.linalg.solve(P, x) for w, P, x in zip(r.weights, Ps, xs)),
                                   rtol=1e-8, atol=1e-10)
        np.testing.assert_array_equal(r.P, r.P.T)
        assert np.all(np.linalg.eigvalsh(r.P) > 0)


def test_fused_covariance_bounds_the_true_error_for_any_correlation() -> None:
    """Monte Carlo: two estimates whose errors are correlated with cross-covariance
    rho L1 L2^T (rho from -0.95 to 0.95): the CI covariance minus the sample error covariance
    is positive semi-definite (up to sampling error); the naive Kalman (independence) fusion is
    not, for strong positive correlation: CI is what makes the bound hold."""
    rng = np.random.default_rng(5)
    d, N = 4, 200_000
    P1, P2 = _spd(rng, d), _spd(rng, d, 2.0)
    L1, L2 = np.linalg.cholesky(P1), np.linalg.cholesky(P2)
    r = covariance_intersection(np.zeros((2, d)), np.array([P1, P2]))
    K1 = r.P @ (r.weights[0] * np.linalg.inv(P1))
    K2 = r.P @ (r.weights[1] * np.linalg.inv(P2))
    Pk = np.linalg.inv(np.linalg.inv(P1) + np.linalg.inv(P2))
    G1, G2 = Pk @ np.linalg.inv(P1), Pk @ np.linalg.inv(P2)
    naive_fails = False
    for rho in (-0.95, -0.5, 0.0, 0.5, 0.9, 0.95):
        u = rng.standard_normal((N, d))
        v = rho * u + np.sqrt(1 - rho**2) * rng.standard_normal((N, d))
        e1, e2 = u @ L1.T, v @ L2.T
        e = e1 @ K1.T + e2 @ K2.T
        E = e.T @ e / N
        assert np.linalg.eigvalsh(r.P - E).min() > -0.02 * np.trace(r.P), rho
        en = e1 @ G1.T + e2 @ G2.T
        naive_fails |= bool(np.linalg.eigvalsh(Pk - en.T @ en / N).min() < -0.05 * np.trace(Pk))
    assert naive_fails


def test_one_estimate_and_a_dominated_one() -> None:
    P = np.diag([1.0, 2.0])
    r = covariance_intersection([[1.0, 2.0]], [P])
    np.testing.assert_allclose(r.x, [1.0, 2.0])
    np.testing.assert_allclose(r.P, P)
    r = covariance_intersection([[0.0, 0.0], [5.0, 5.0]], [P, 3 * P])   # 3P is worse in every direction
    np.testing.assert_allclose(r.weights, [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(r.x, [0.0, 0.0], atol=1e-12)


def test_bad_input() -> None:
    P = np.eye(2)
    with pytest.raises(ConfigurationError, match="criterion"):
        covariance_intersection([[0, 0]], [P], "max")
    with pytest.raises(ShapeError, match="Ps: expected shape"):
        covariance_intersection([[0, 0], [1, 1]], [P])
    with pytest.raises(ShapeError, match="xs"):
        covariance_intersection(np.zeros((0, 2)), np.zeros((0, 2, 2)))
    with pytest.raises(NumericalError, match=r"xs\[1\] is not finite"):
        covariance_intersection([[0, 0], [np.nan, 1]], [P, P])
    with pytest.raises(NumericalError, match=r"Ps\[0\] is not symmetric positive definite"):
        covariance_intersection([[0, 0], [1, 1]], [np.diag([1.0, -1.0]), P])
    with pytest.raises(NumericalError, match=r"Ps\[1\] is not finite"):
        covariance_intersection([[0, 0], [1, 1]], [P, np.full((2, 2), np.inf)])


def test_concurrent_calls_agree() -> None:
    rng = np.random.default_rng(1)
    Ps = np.array([_spd(rng, 6) for _ in range(4)])
    xs = rng.standard_normal((4, 6))
    ref = covariance_intersection(xs, Ps, "det")
    out: list[np.ndarray] = []
    ts = [threading.Thread(target=lambda: out.extend(covariance_intersection(xs, Ps, "det").weights
                                                     for _ in range(50))) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(out) == 200 and all(np.array_equal(w, ref.weights) for w in out)
