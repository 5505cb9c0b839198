"""fusion.filters' module-level predict/update/batch_filter/rts_smoother (and the steady-state
pair) against filterpy.kalman's functions on the same inputs: values, shapes and types,
scalar handling, and the typed errors fusion raises where filterpy fails with numpy's."""

from __future__ import annotations

import numpy as np
import pytest
from filterpy import kalman as fp
from filterpy.common import Q_discrete_white_noise

from fusion import filters as ff
from fusion.errors import NumericalError, ShapeError

from _fhelpers import assert_close, assert_spd, random_spd


def assert_same(ours, ref, what="", rtol=1e-9):
    """Same type family (numpy scalar vs array), same shape, same values."""
    if ref is None:
        assert ours is None, what
        return
    assert np.ndim(ours) == np.ndim(ref), f"{what}: ndim {np.ndim(ours)} != {np.ndim(ref)}"
    assert isinstance(ours, np.ndarray) == isinstance(ref, np.ndarray), f"{what}: {type(ours)} vs {type(ref)}"
    assert_close(ours, ref, rtol=rtol, what=what)


# ------------------------------------------------------------------ predict
PREDICT_CASES = {
    "all scalars": {"x": 10.0, "P": 3.0, "u": 1.0, "Q": 2.0**2},
    "(1,) x, (1,1) P, scalar Q": {"x": np.array([10.0]), "P": np.array([[3.0]]), "Q": 4.0},
    "(2,) x, F, Q matrix": {"x": np.array([1.0, 2.0]), "P": np.diag([1.0, 2.0]),
                            "F": np.array([[1.0, 1.0], [0.0, 1.0]]), "Q": np.eye(2) * 0.1},
    "(2,1) x, scalar Q to every element": {"x": np.array([[1.0], [2.0]]), "P": np.eye(2),
                                           "F": np.array([[1.0, 1.0], [0.0, 1.0]]), "Q": 0.1},
    "default F with scalar u": {"x": np.array([1.0, 2.0]), "P": np.eye(2), "u": 0.5, "Q": 0.0},
    "B u with (2,) x": {"x": np.array([1.0, 2.0]), "P": np.eye(2), "F": np.array([[1.0, 0.1], [0.0, 1.0]]),
                        "B": np.array([[0.005], [0.1]]), "u": np.array([2.0])},
    "B u with (2,1) x and (1,1) u": {"x": np.array([[1.0], [2.0]]), "P": np.eye(2), "B": np.array([[0.005], [0.1]]),
                                     "u": np.array([[2.0]])},
    "fading memory": {"x": np.array([1.0, 2.0]), "P": random_spd(np.random.default_rng(1), 2),
                      "F": np.array([[1.0, 1.0], [0.0, 1.0]]), "Q": np.eye(2), "alpha": 1.02},
    "scalar P with matrix F": {"x": np.array([1.0, 2.0]), "P": 2.0, "F": np.array([[1.0, 1.0], [0.0, 1.0]]),
                               "Q": np.eye(2)},
}


@pytest.mark.parametrize("case", list(PREDICT_CASES))
def test_predict_matches_filterpy(case):
    kw = PREDICT_CASES[case]
    x, P = ff.predict(**kw)
    xr, Pr = fp.predict(**kw)
    assert_same(x, xr, f"{case}: x")
    assert_same(P, Pr, f"{case}: P")
    assert ff.predict_steadystate(kw["x"], F=kw.get("F", 1), u=kw.get("u", 0), B=kw.get("B", 1)) == pytest.approx(
        fp.predict_steadystate(kw["x"], F=kw.get("F", 1), u=kw.get("u", 0), B=kw.get("B", 1))
    )


def test_predict_scalar_Q_is_added_to_every_element():
    _, P = ff.predict(np.zeros(3), np.eye(3), Q=0.25)
    np.testing.assert_array_equal(P, np.eye(3) + 0.25)


def test_predict_Bu_is_reshaped_to_a_column_x():
    """filterpy adds a (2,) B u to a (2, 1) x and returns a (2, 2) 'state'; fusion keeps x's shape."""
    x, _ = ff.predict(np.array([[1.0], [2.0]]), np.eye(2), B=np.eye(2), u=np.array([1.0, 1.0]))
    assert x.shape == (2, 1)
    np.testing.assert_array_equal(x, [[2.0], [3.0]])


# ------------------------------------------------------------------ update
UPDATE_CASES = {
    "scalar x, P, z, R (H=None)": {"x": np.float64(11.0), "P": 7.0, "z": 12.0, "R": 3.5**2},
    "(1,) x, (1,1) P, H=None": {"x": np.array([11.0]), "P": np.array([[7.0]]), "z": 12.0, "R": 12.25},
    "(1,1) x, H=None, (1,1) R": {"x": np.array([[11.0]]), "P": np.array([[7.0]]), "z": 12.0, "R": np.array([[12.25]])},
    "scalar H": {"x": np.array([11.0]), "P": np.array([[7.0]]), "z": [24.0], "R": 2.0, "H": 2.0},
    "scalar x, 2-D H": {"x": np.float64(11.0), "P": 7.0, "z": 12.0, "R": 12.25, "H": np.array([[1.0]])},
    "(1,) x, 2-D H and R": {"x": np.array([10.0]), "P": np.array([[7.0]]), "z": 12.0, "H": np.array([[1.0]]),
                            "R": np.array([[3.5**2]])},
    "(2,) x, z list": {"x": np.array([1.0, 0.0]), "P": np.diag([1.0, 1.0]), "z": [1], "R": np.array([[1.0]]),
                       "H": np.array([[1.0, 0.0]])},
    "(2,1) x, scalar z": {"x": np.array([[1.0], [0.5]]), "P": np.diag([4.0, 1.0]), "z": 2.0, "R": np.array([[1.0]]),
                          "H": np.array([[1.0, 0.0]])},
    "(4,) x, (2,) z, scalar R to every element": {
        "x": np.array([1.0, 2.0, 0.0, -1.0]), "P": random_spd(np.random.default_rng(2), 4), "z": np.array([1.5, 0.2]),
        "R": 0.5, "H": np.eye(2, 4),
    },
    "(4,1) x, (2,1) z, full R": {
        "x": np.array([[1.0], [2.0], [0.0], [-1.0]]), "P": random_spd(np.random.default_rng(3), 4),
        "z": np.array([[1.5], [0.2]]),
        "R": random_spd(np.random.default_rng(4), 2), "H": np.array([[1.0, 0.0, 0.5, 0.0], [0.0, 1.0, 0.0, -0.3]]),
    },
    "(4,) x, (1, 2) z": {"x": np.zeros(4), "P": np.eye(4), "z": np.array([[1.0, 2.0]]), "R": np.eye(2),
                         "H": np.eye(2, 4)},
    "scalar P with (3,) x": {"x": np.zeros(3), "P": 2.0, "z": [1.0, 1.0], "R": np.eye(2), "H": np.eye(2, 3)},
}


@pytest.mark.parametrize("case", list(UPDATE_CASES))
def test_update_matches_filterpy(case):
    kw = UPDATE_CASES[case]
    ours = ff.update(**kw, return_all=True)
    ref = fp.update(**kw, return_all=True)
    for name, a, b in zip(("x", "P", "y", "K", "S", "log_likelihood"), ours, ref):
        assert_same(a, b, f"{case}: {name}")
    x, P = ff.update(**kw)
    assert_same(x, ref[0], f"{case}: x (two outputs)")
    assert_same(P, ref[1], f"{case}: P (two outputs)")


def test_update_none_returns_inputs_unchanged():
    x, P = np.array([1.0, 2.0]), np.eye(2)
    assert ff.update(x, P, None, R=1.0) == (x, P)
    out = ff.update(x, P, None, R=1.0, return_all=True)
    assert out[0] is x and out[1] is P and out[2:] == (None, None, None, None)
    assert ff.update_steadystate(x, None, np.ones((2, 1))) is x


def test_update_scalar_R_semantics_differ_from_r_identity():
    """The scalar rule is filterpy's (r in every element of S), not r I: pin it down."""
    x, P, H = np.zeros(2), np.eye(2), np.eye(2)
    _, _, _, _, S, _ = ff.update(x, P, [1.0, 1.0], 0.5, H, return_all=True)
    np.testing.assert_allclose(S, np.eye(2) + 0.5)
    _, _, _, _, S_eye, _ = ff.update(x, P, [1.0, 1.0], 0.5 * np.eye(2), H, return_all=True)
    np.testing.assert_allclose(S_eye, 1.5 * np.eye(2))


@pytest.mark.parametrize("H,K,x,z", [
    (None, np.array([0.3]), np.array([11.0]), 12.0),
    (np.array([[1.0, 0.0]]), np.array([[0.5], [0.1]]), np.array([1.0, 0.0]), [2.0]),
    (np.array([[1.0, 0.0]]), np.array([[0.5], [0.1]]), np.array([[1.0], [0.0]]), 2.0),
    (np.eye(2, 3), np.full((3, 2), 0.2), np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0])),
])
def test_update_steadystate_matches_filterpy(H, K, x, z):
    assert_same(ff.update_steadystate(x, z, K, H), fp.update_steadystate(x, z, K, H), "x")


@pytest.mark.parametrize("seed", range(40))
def test_update_random_parity_and_posterior_is_spd(seed):
    """Property sweep over random sizes, shapes and noise forms (seeded, reproducible)."""
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    # a scalar R is added to every element of S (rank one), so S is singular when m > n + 1
    column, scalar_R = bool(rng.integers(2)), bool(rng.integers(2)) and m <= n
    x = rng.normal(size=(n, 1) if column else n)
    P = random_spd(rng, n, scale=rng.uniform(0.1, 10.0))
    H = rng.normal(size=(m, n))
    R = float(rng.uniform(0.1, 2.0)) if scalar_R else random_spd(rng, m, scale=rng.uniform(0.1, 2.0))
    z = rng.normal(size=m)
    ours = ff.update(x, P, z, R, H, return_all=True)
    ref = fp.update(x, P, z, R, H, return_all=True)
    for name, a, b in zip(("x", "P", "y", "K", "S", "log_likelihood"), ours, ref):
        assert_same(a, b, name, rtol=1e-7)
    assert_spd(ours[1], "posterior P")
    if not scalar_R or m == 1:
        # the posterior is never more uncertain than the prior along any direction (with a
        # scalar R and m > 1 filterpy's S and Joseph term use different R, so it may be)
        assert np.min(np.linalg.eigvalsh(P - ours[1])) > -1e-9 * np.max(np.abs(P))


def test_update_errors_are_typed_and_name_the_argument():
    x, P = np.zeros(3), np.eye(3)
    with pytest.raises(ShapeError, match=r"H must have shape \(m, 3\) for x of shape \(3,\), but got shape \(2, 2\)"):
        ff.update(x, P, [1.0, 2.0], np.eye(2), H=np.eye(2))
    with pytest.raises(ShapeError, match=r"1-D H .* x has shape \(3,\)"):
        ff.update(x, P, 1.0, 1.0)  # H=None is [1]: a one-element state only (filterpy: a bare numpy ValueError)
    with pytest.raises(ShapeError,
                       match=r"P must be a scalar or of shape \(3, 3\) for x of shape \(3,\), but got shape \(2, 2\)"):
        ff.update(x, np.eye(2), [1.0], np.eye(1), H=np.eye(1, 3))
    with pytest.raises(ShapeError, match=r"z must have 2 elements .* but got shape \(3,\)"):
        ff.update(x, P, [1.0, 2.0, 3.0], np.eye(2), H=np.eye(2, 3))
    with pytest.raises(ShapeError, match=r"R must be a scalar or of shape \(2, 2\), but got \(3, 3\)"):
        ff.update(x, P, [1.0, 2.0], np.eye(3), H=np.eye(2, 3))
    with pytest.raises(ShapeError, match=r"x must be a scalar, \(n,\) or \(n, 1\), but got shape \(2, 2\)"):
        ff.update(np.zeros((2, 2)), P, [1.0], 1.0)
    with pytest.raises(NumericalError, match="non-finite measurement"):
        ff.update(x, P, [np.nan], np.eye(1), H=np.eye(1, 3))
    with pytest.raises(NumericalError, match="not positive definite"):
        ff.update(x, P, [1.0], -np.eye(1) * 5.0, H=np.eye(1, 3))
    with pytest.raises(ShapeError,
                       match=r"F must be a scalar or of shape \(3, 3\) for x of shape \(3,\), but got shape \(2, 2\)"):
        ff.predict(x, P, F=np.eye(2))
    with pytest.raises(ShapeError, match=r"Q must be a scalar or of shape \(3, 3\)"):
        ff.predict(x, P, Q=np.ones(3))
    with pytest.raises(ShapeError, match=r"B u has shape \(2,\), which does not match x of shape \(3,\)"):
        ff.predict(x, P, B=np.eye(2), u=np.ones(2))
    with pytest.raises(ShapeError, match=r"K must have shape \(3, 1\)"):
        ff.update_steadystate(x, [1.0], np.ones((2, 2)), H=np.eye(1, 3))


# ------------------------------------------------------------------ batch filter and smoother
def _cv_problem(n=40, seed=0, column=False):
    rng = np.random.default_rng(seed)
    F = np.array([[1.0, 1.0], [0.0, 1.0]])
    H = np.array([[1.0, 0.0]])
    Q = Q_discrete_white_noise(2, 1.0, 0.01)
    R = np.eye(1) * 5.0
    zs = [float(k + rng.normal(0, 2.0)) for k in range(n)]
    zs[3] = zs[17] = None
    x = np.array([[2.0], [0.0]]) if column else np.array([2.0, 0.0])
    return x, np.eye(2) * 1000.0, zs, F, Q, H, R


@pytest.mark.parametrize("column", [False, True])
@pytest.mark.parametrize("update_first", [False, True])
def test_batch_filter_matches_filterpy(column, update_first):
    x, P, zs, F, Q, H, R = _cv_problem(column=column)
    n = len(zs)
    args = (x, P, zs, [F] * n, [Q] * n, [H] * n, [R] * n)
    calls = []

    class CountingSaver:
        def save(self):
            calls.append(1)

    ours = ff.batch_filter(*args, update_first=update_first, saver=CountingSaver())
    ref = fp.batch_filter(*args, update_first=update_first)
    for name, a, b in zip(("means", "covariances", "means_p", "covariances_p"), ours, ref):
        assert_same(a, b, name)
    assert len(calls) == n
    assert ours[0].shape == ((n, 2, 1) if column else (n, 2))


def test_batch_filter_with_control_matches_filterpy():
    x, P, zs, F, Q, H, R = _cv_problem()
    n = len(zs)
    B = np.array([[0.5], [1.0]])
    us = [np.array([0.1 * np.sin(k)]) for k in range(n)]
    ours = ff.batch_filter(x, P, zs, [F] * n, [Q] * n, [H] * n, [R] * n, Bs=[B] * n, us=us)
    ref = fp.batch_filter(x, P, zs, [F] * n, [Q] * n, [H] * n, [R] * n, Bs=[B] * n, us=us)
    for name, a, b in zip(("means", "covariances", "means_p", "covariances_p"), ours, ref):
        assert_same(a, b, name)


def test_batch_filter_matches_filterpy_kalman_filter_object():
    """filterpy's test_procedural_batch_filter, with filterpy's KalmanFilter as the reference."""
    x, P, zs, F, Q, H, R = _cv_problem()
    kf = fp.KalmanFilter(dim_x=2, dim_z=1)
    kf.x, kf.F, kf.H, kf.P, kf.R, kf.Q = x.copy(), F, H, P.copy(), R, Q
    m, c, _, _ = kf.batch_filter(zs, update_first=False)
    n = len(zs)
    mp, cp, _, _ = ff.batch_filter(x, P, zs, [F] * n, [Q] * n, [H] * n, [R] * n)
    assert_close(mp, m)
    assert_close(cp, c)


def test_batch_filter_rejects_short_per_step_lists():
    """filterpy's zip silently stops at the shortest list; fusion says which one is short."""
    x, P, zs, F, Q, H, R = _cv_problem()
    n = len(zs)
    with pytest.raises(ShapeError, match=f"Hs has {n - 1} entries, expected {n}"):
        ff.batch_filter(x, P, zs, [F] * n, [Q] * n, [H] * (n - 1), [R] * n)
    with pytest.raises(ShapeError, match=r"x must have shape \(n,\) or \(n, 1\)"):
        ff.batch_filter(1.0, P, zs, [F] * n, [Q] * n, [H] * n, [R] * n)


@pytest.mark.parametrize("column", [False, True])
def test_rts_smoother_matches_filterpy(column):
    x, P, zs, F, Q, H, R = _cv_problem(column=column, seed=5)
    n = len(zs)
    Xs, Ps, _, _ = fp.batch_filter(x, P, zs, [F] * n, [Q] * n, [H] * n, [R] * n)
    Fs = [F @ np.array([[1.0, 0.01 * k], [0.0, 1.0]]) for k in range(n)]  # time-varying
    Qs = [Q * (1 + 0.1 * k) for k in range(n)]
    ours = ff.rts_smoother(Xs, Ps, Fs, Qs)
    ref = fp.rts_smoother(Xs, Ps, Fs, Qs)
    for name, a, b in zip(("x", "P", "K", "Pp"), ours, ref):
        assert_same(a, b, name, rtol=1e-8)
    # smoothing never increases the variance
    assert np.all(np.diagonal(ours[1], axis1=1, axis2=2) <= np.diagonal(Ps, axis1=1, axis2=2) + 1e-12)
    # n - 1 transition matrices are enough (the last one is never used)
    short = ff.rts_smoother(Xs, Ps, Fs[:-1], Qs[:-1])
    for a, b in zip(short, ours):
        np.testing.assert_array_equal(a, b)


def test_rts_smoother_scalar_Q_and_errors():
    x, P, zs, F, Q, H, R = _cv_problem(seed=6)
    n = len(zs)
    Xs, Ps, _, _ = fp.batch_filter(x, P, zs, [F] * n, [Q] * n, [H] * n, [R] * n)
    ours = ff.rts_smoother(Xs, Ps, [F] * n, [0.01] * n)
    ref = fp.rts_smoother(Xs, Ps, [F] * n, [0.01] * n)
    for name, a, b in zip(("x", "P", "K", "Pp"), ours, ref):
        assert_same(a, b, name, rtol=1e-8)
    with pytest.raises(ShapeError, match="Xs and Ps must have the same length"):
        ff.rts_smoother(Xs, Ps[:-1], [F] * n, [Q] * n)
    with pytest.raises(ShapeError, match=rf"Fs has 3 entries, expected at least {n - 1}"):
        ff.rts_smoother(Xs, Ps, [F] * 3, [Q] * n)
    with pytest.raises(ShapeError, match=r"Fs\[0\] must be a scalar or of shape \(2, 2\)"):
        ff.rts_smoother(Xs, Ps, [np.eye(3)] * n, [Q] * n)


def test_exported_like_filterpy_kalman():
    for name in ("predict", "update", "predict_steadystate", "update_steadystate", "batch_filter", "rts_smoother"):
        assert callable(getattr(ff, name)) and name in ff.__all__
